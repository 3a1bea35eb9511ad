//! `mlprov dataset …`: fingerprint a dataset (or one shard), compare two, merge shards.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::{Args, Subcommand};
use mlprov::data::readers::{ReadOptions, Shard};
use mlprov::{DatasetComparison, DatasetOptions};

use crate::output::{human_bytes, print_json, Terminal};
use crate::Outcome;

/// How datasets are read (shared by the dataset commands).
#[derive(Args, Debug, Clone)]
pub struct ReadArgs {
    /// The content field: a JSON key, a CSV/TSV or Parquet column (default: the whole record).
    #[arg(long)]
    field: Option<String>,
    /// Read every file in this format: jsonl, json, csv, tsv, parquet, text, file
    /// (default: by extension).
    #[arg(long, value_parser = parse_format)]
    format: Option<mlprov::data::readers::Format>,
    /// One record per file, whatever the files are (image, audio and document folders).
    #[arg(long)]
    per_file: bool,
    /// Only this split of a Hugging Face-style folder (`train`, `test`, ...).
    #[arg(long)]
    split: Option<String>,
    /// Lower-case text in the canonical form.
    #[arg(long)]
    case_fold: bool,
    /// Keyed record digests (BLAKE3 keyed mode, key derived from this file's bytes): a
    /// published manifest then does not tell strangers whether a record is in the dataset.
    #[arg(long, value_name = "KEYFILE")]
    keyed: Option<PathBuf>,
}

fn parse_format(s: &str) -> Result<mlprov::data::readers::Format, String> {
    mlprov::dataset_format(s)
        .ok_or_else(|| "expected jsonl, json, csv, tsv, parquet, text or file".to_string())
}

impl ReadArgs {
    fn options(&self) -> DatasetOptions {
        DatasetOptions {
            read: ReadOptions {
                field: self.field.clone(),
                format: self.format,
                per_file: self.per_file,
                split: self.split.clone(),
            },
            case_fold: self.case_fold,
            key_file: self.keyed.clone(),
            ..DatasetOptions::default()
        }
    }
}

#[derive(Subcommand)]
pub enum DatasetCommand {
    /// Write a dataset's manifest: record digests, order-independent root, sketches, privacy counts.
    Fingerprint {
        /// A data file (JSONL, JSON, CSV, TSV, Parquet, text; .gz/.zst too) or a folder.
        path: PathBuf,
        /// Where to write the manifest (with --exact-only: the identity as JSON; optional).
        #[arg(
            short,
            long,
            value_name = "FILE",
            required_unless_present = "exact_only"
        )]
        output: Option<PathBuf>,
        /// Replace FILE if it already exists.
        #[arg(long)]
        force: bool,
        /// Sketch only slice K of N of the files (0 <= K < N); writes FILE.digests beside
        /// FILE for `mlprov dataset merge`.
        #[arg(long, value_name = "K/N", conflicts_with = "exact_only")]
        shard: Option<Shard>,
        /// Only the exact identity (root, record and byte counts, file digests, bottom-k),
        /// printed (with -o, also written as JSON): no MinHash, image hashes or privacy
        /// counts, so several times faster. Writes no manifest.
        #[arg(long, conflicts_with_all = ["license", "terms"])]
        exact_only: bool,
        #[command(flatten)]
        read: ReadArgs,
        #[command(flatten)]
        licence: super::manifest::LicenceArgs,
    },
    /// How much of A is in B and of B in A: exact and near-duplicate containment with 95% intervals.
    Compare {
        /// The reference dataset (for example the licensed one), or its manifest.
        a: PathBuf,
        /// The suspect dataset, or its manifest.
        b: PathBuf,
        /// Smallest estimated Jaccard similarity of near-duplicate text records.
        #[arg(long, default_value_t = 0.8)]
        threshold: f64,
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Merge shard manifests (`fingerprint --shard K/N`) into the one-machine manifest.
    Merge {
        /// The shard manifests, all N of them, in any order.
        #[arg(required = true)]
        shards: Vec<PathBuf>,
        /// Where to write the merged manifest.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Replace FILE if it already exists.
        #[arg(long)]
        force: bool,
    },
}

pub fn run(command: DatasetCommand, json: bool) -> Result<Outcome> {
    match command {
        DatasetCommand::Fingerprint {
            path,
            output,
            force,
            shard,
            exact_only,
            read,
            licence,
        } => {
            let options = DatasetOptions {
                licence: licence.options(),
                ..read.options()
            };
            match output {
                Some(output) if !exact_only => {
                    fingerprint(&path, &output, force, shard, &options, json)
                }
                output => identity(&path, output.as_deref(), force, &options, json),
            }
        }
        DatasetCommand::Compare {
            a,
            b,
            threshold,
            read,
        } => {
            if !(0.0..=1.0).contains(&threshold) {
                anyhow::bail!("--threshold must be between 0 and 1");
            }
            let opts = DatasetOptions {
                near_threshold: threshold,
                ..read.options()
            };
            let r = mlprov::dataset_compare(&a, &b, &opts, &Terminal::default())?;
            if json {
                print_json(&r)?;
            } else {
                print_comparison(&r);
            }
            Ok(if r.overlap_found {
                Outcome::Finding
            } else {
                Outcome::Fine
            })
        }
        DatasetCommand::Merge {
            shards,
            output,
            force,
        } => {
            let m = mlprov::dataset_merge(&shards, &output, force)?;
            if json {
                print_json(&m)?;
            } else {
                say!(
                    "wrote {} ({} shards, {} files, {} records, root {})",
                    m.manifest.display(),
                    m.shards,
                    m.files,
                    m.records,
                    m.root
                );
            }
            Ok(Outcome::Fine)
        }
    }
}

fn fingerprint(
    path: &Path,
    output: &Path,
    force: bool,
    shard: Option<Shard>,
    options: &DatasetOptions,
    json: bool,
) -> Result<Outcome> {
    mlprov::check_target(output, force)?;
    let w = mlprov::dataset_fingerprint(path, output, force, shard, options, &Terminal::default())?;
    if json {
        print_json(&w)?;
        return Ok(Outcome::Fine);
    }
    let what = match w.shard {
        Some(s) => format!(" (shard {}/{})", s.index, s.count),
        None => String::new(),
    };
    say!(
        "wrote {}{what}: {} files, {} records ({} distinct), {}",
        w.manifest.display(),
        w.files,
        w.records,
        w.distinct_records,
        human_bytes(w.bytes)
    );
    say!("root {}{}", w.root, if w.keyed { " (keyed)" } else { "" });
    let p = &w.privacy;
    say!(
        "records with personal data patterns: {} (e-mail {}, phone {}, IP {}, card {}, IBAN {})",
        p.any,
        p.email,
        p.phone,
        p.ip_address,
        p.payment_card,
        p.iban
    );
    if let Some(d) = &w.digests_file {
        say!("record digests for merging: {}", d.display());
    }
    Ok(Outcome::Fine)
}

fn identity(
    path: &Path,
    output: Option<&Path>,
    force: bool,
    options: &DatasetOptions,
    json: bool,
) -> Result<Outcome> {
    let id = mlprov::dataset_identity(path, output, force, options, &Terminal::default())?;
    if json {
        print_json(&id)?;
        return Ok(Outcome::Fine);
    }
    if let Some(o) = output {
        say!("wrote {}", o.display());
    }
    say!(
        "{}: {} files, {} records ({} distinct), {}",
        path.display(),
        id.files.len(),
        id.records,
        id.distinct_records,
        human_bytes(id.bytes)
    );
    say!(
        "root {}{}",
        id.root,
        if id.reader.keyed { " (keyed)" } else { "" }
    );
    Ok(Outcome::Fine)
}

fn pct(v: f64) -> String {
    format!("{:.1}%", 100.0 * v)
}

fn interval(i: [f64; 2]) -> String {
    format!("[{} .. {}]", pct(i[0]), pct(i[1]))
}

fn print_comparison(r: &DatasetComparison) {
    say!(
        "A: {} ({}, {} records, {} distinct)",
        r.a.path.display(),
        r.a.source,
        r.a.records,
        r.a.distinct_records
    );
    say!(
        "B: {} ({}, {} records, {} distinct)",
        r.b.path.display(),
        r.b.source,
        r.b.records,
        r.b.distinct_records
    );
    if r.identical {
        say!("identical: the same records (order aside)");
    }
    say!("exact overlap (95% intervals):");
    say!(
        "  B in A: {} {}",
        pct(r.exact_containment_b_in_a),
        interval(r.exact_containment_b_in_a_interval)
    );
    say!(
        "  A in B: {} {}",
        pct(r.exact_containment_a_in_b),
        interval(r.exact_containment_a_in_b_interval)
    );
    say!(
        "  Jaccard: {} {}",
        pct(r.exact_jaccard),
        interval(r.exact_jaccard_interval)
    );
    say!(
        "near duplicates (Jaccard >= {}, images within {} bits):",
        r.near_threshold,
        r.near_distance
    );
    let near = |v: Option<f64>, i: Option<[f64; 2]>, how: &str| match (v, i) {
        (Some(v), Some(i)) => format!("{} {} ({how})", pct(v), interval(i)),
        _ => how.to_string(),
    };
    say!(
        "  B in A: {}",
        near(
            r.near_containment_b_in_a,
            r.near_containment_b_in_a_interval,
            r.near_method.b_in_a
        )
    );
    say!(
        "  A in B: {}",
        near(
            r.near_containment_a_in_b,
            r.near_containment_a_in_b_interval,
            r.near_method.a_in_b
        )
    );
    if !r.examples.is_empty() {
        say!("examples (A <-> B, similarity):");
        for e in &r.examples {
            say!("  {} <-> {}  {:.2}", e.a, e.b, e.similarity);
        }
    }
}
