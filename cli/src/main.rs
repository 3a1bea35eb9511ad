//! `mlprov`: a thin command line over the mlprov crates. Only this crate prints.

/// `println!` for human-readable output: one line, control characters escaped.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::output::say_line(format_args!($($arg)*))
    };
}

mod commands;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc rather than the system allocator: dataset reading allocates per record on
/// every core, and glibc's allocator made the threads wait on each other's arena locks
/// (measured: 50,000 futex waits and a third of the wall time on a 248 MB JSON Lines file).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Provenance for machine-learning assets: exact identity of model weights and datasets.
#[derive(Parser)]
#[command(name = "mlprov", version, about, propagate_version = true)]
struct Cli {
    /// Print machine-readable JSON on stdout instead of tables.
    #[arg(long, global = true)]
    json: bool,
    /// The memory budget: most bytes a model may decode or inflate into memory (deflated
    /// members, gathered views), e.g. 8G or 512M. Default 4G, or $MLPROV_MEMORY_BUDGET.
    #[arg(long, global = true, value_name = "BYTES", value_parser = mlprov::parse_memory_budget)]
    memory_budget: Option<u64>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the tensors of a weight file or model directory.
    Inspect {
        /// A weight file, or a directory of them.
        path: PathBuf,
    },
    /// Print exact digests: per file, per tensor, and the model's Merkle root.
    Hash {
        /// A weight file, or a directory of them.
        path: PathBuf,
        /// Also print each file's plain BLAKE3 (the hex `b3sum` prints); reads the files again.
        #[arg(long)]
        plain: bool,
        /// Print the Merkle inclusion proof of this tensor instead of the digest listing.
        #[arg(long, value_name = "TENSOR")]
        proof: Option<String>,
    },
    /// Write a provenance manifest (mlprov.manifest/v1) for a model.
    Manifest {
        /// A weight file, or a directory of them.
        path: PathBuf,
        /// Where to write the manifest.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Replace FILE if it already exists.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        licence: commands::manifest::LicenceArgs,
        #[command(flatten)]
        lineage: commands::manifest::LineageArgs,
    },
    /// Robust fingerprint: a sampled sketch and SimHash key per tensor (reads only samples).
    Fingerprint {
        /// A weight file, or a directory of them.
        path: PathBuf,
        /// Also compute the permutation- and rotation-robust invariants: Gram sketches and
        /// anchored kernels (reads every weight of the residual-stream matrices).
        #[arg(long)]
        invariants: bool,
    },
    /// Lineage test: is model B the same as, re-encoded from, or derived from model A?
    Compare {
        /// The reference model (for example the licensed one), or its manifest: the model
        /// is then the manifest's subject beside it, and the base it records is used.
        a: PathBuf,
        /// The suspect model.
        b: PathBuf,
        /// List every matched tensor pair, not only the summary.
        #[arg(long)]
        pairs: bool,
        /// A's base model (weights): ask whether B carries A's own changes from it, not only
        /// whether it is related to A (`shares-base` when it carries none). `none`: no base,
        /// not even the one A's manifest records.
        #[arg(long, value_name = "PATH|none")]
        base: Option<PathBuf>,
        /// Manifests where the base A's manifest records may be found (those beside A's
        /// manifest are searched too).
        #[arg(long, value_name = "FILE")]
        lineage: Vec<PathBuf>,
        /// When A's manifest records no base: look in this registry for a registered model A
        /// seems derived from, and say so.
        #[arg(long, value_name = "R")]
        registry: Option<String>,
        /// Another fine-tune of A's base (repeatable): what its changes share with A's is
        /// not counted as A's own in the base-aware test.
        #[arg(long = "reference", value_name = "PATH")]
        references: Vec<PathBuf>,
    },
    /// Evaluate the lineage test on a list of pairs with known relations (exit 1 on any miss).
    Eval {
        /// Tab-separated lines: model A, model B, expected verdict (`#` starts a comment).
        pairs: PathBuf,
        /// Folder the model paths are relative to (default: the list's folder).
        #[arg(long)]
        root: Option<PathBuf>,
    },
    /// Write any readable model as one safetensors file (source format and digest in its metadata).
    Convert {
        /// A weight file, or a directory of them, in any supported format.
        input: PathBuf,
        /// The safetensors file to write.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// How to store tensors.
        #[arg(long, value_enum, default_value = "keep")]
        dtype: commands::convert::DtypeArg,
        /// Leave out tensors that can be neither decoded nor stored as a safetensors dtype
        /// (they are listed); without it, such tensors fail the conversion (exit 2).
        #[arg(long)]
        skip_undecodable: bool,
        /// Replace FILE if it already exists.
        #[arg(long)]
        force: bool,
    },
    /// Register a model in the registry: manifest, digests, fingerprint with invariants, an
    /// audit entry.
    Register {
        /// A weight file, or a directory of them.
        path: PathBuf,
        /// The registry: a SQLite file (created on first use) or a postgres:// URL (default:
        /// $MLPROV_REGISTRY, else $XDG_DATA_HOME/mlprov/registry.sqlite or
        /// ~/.local/share/mlprov/registry.sqlite).
        #[arg(long, value_name = "R")]
        registry: Option<String>,
        /// Who the model is licensed to (repeat for several).
        #[arg(long = "licensee", value_name = "NAME")]
        licensees: Vec<String>,
        /// Store this manifest (it must describe the model) instead of building one.
        #[arg(long, value_name = "MANIFEST")]
        manifest: Option<PathBuf>,
        /// Sign the manifest with this ed25519 key (`mlprov key generate`) and store the
        /// DSSE envelope with it (default: $MLPROV_SIGNING_KEY, if set).
        #[arg(long, value_name = "KEY")]
        key: Option<PathBuf>,
        #[command(flatten)]
        licence: commands::manifest::LicenceArgs,
        #[command(flatten)]
        lineage: commands::manifest::LineageArgs,
    },
    /// Scan folders, archives and container images for registered models and their
    /// derivatives (exit 1 on an unlicensed one or a file that would run code).
    Scan {
        /// Files or folders to scan (archives and images inside are opened).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The registry (as for `register`).
        #[arg(long, value_name = "R")]
        registry: Option<String>,
        /// The scanning party: findings of assets licensed to NAME are licensed.
        #[arg(long, value_name = "NAME")]
        licensee: Option<String>,
        /// Also check this intended use against each found asset's terms (needs --territory).
        #[arg(long = "use", value_name = "USE", value_parser = parse_use, requires = "territory")]
        use_: Option<mlprov::terms::Use>,
        /// Where the use happens (ISO 3166-1 alpha-2), with --use.
        #[arg(long, value_parser = parse_country)]
        territory: Option<String>,
        /// When (YYYY-MM-DD; default today, UTC), with --use.
        #[arg(long, value_parser = parse_date)]
        date: Option<mlprov::terms::Date>,
        /// Print SARIF 2.1.0 on stdout (for code-scanning systems) instead of a table.
        #[arg(long, conflicts_with = "json")]
        sarif: bool,
        /// Archives nested deeper than this are not opened.
        #[arg(long, value_name = "N", default_value_t = mlprov::walk::DEFAULT_MAX_DEPTH_ARCHIVES)]
        max_archive_depth: usize,
        /// Models sharing no value key with a registered one are also read in full for
        /// their invariants and looked up by them: finds rotated and permuted derivatives.
        #[arg(long)]
        deep: bool,
        /// `none`: do not use registered bases. By default, a registered model whose
        /// manifest records a registered base is judged by the base-aware test, so a model
        /// that only shares that base (a sibling, or the base) is not reported.
        #[arg(long, value_name = "none", value_parser = ["none"])]
        base: Option<String>,
        /// Do not read data files (`.jsonl`, `.csv`, `.tsv`, `.parquet`, also `.gz`/`.zst`):
        /// registered datasets are then not looked for.
        #[arg(long)]
        no_datasets: bool,
    },
    /// The registry's hash-chained audit log: `verify` its chain or `show` it.
    Audit {
        #[command(subcommand)]
        action: commands::audit::Action,
    },
    /// Licence terms files: write one from a template, validate one, list known licences.
    Terms {
        #[command(subcommand)]
        command: TermsCommand,
    },
    /// May we do X with this model? allow, deny or review per asset of its lineage, with
    /// reasons and obligations (exit 0 allow, 1 deny or review).
    Check {
        /// The model's manifest.
        manifest: PathBuf,
        /// The intended use.
        #[arg(long = "use", value_name = "USE", value_parser = parse_use)]
        use_: mlprov::terms::Use,
        /// Where: an ISO 3166-1 alpha-2 country code.
        #[arg(long, value_parser = parse_country)]
        territory: String,
        /// When (YYYY-MM-DD; default today, UTC).
        #[arg(long, value_parser = parse_date)]
        date: Option<mlprov::terms::Date>,
        /// The model will be modified (fine-tuned, merged, quantized, ...).
        #[arg(long)]
        modify: bool,
        /// It (or a derivative) will be given to others.
        #[arg(long)]
        redistribute: bool,
        /// It will be run as a service for others.
        #[arg(long)]
        host: bool,
        /// Monthly active users of the licensee's products.
        #[arg(long, value_name = "N")]
        mau: Option<u64>,
        /// Its outputs will be used to train other models.
        #[arg(long)]
        train_on_outputs: bool,
        /// Manifests of its bases and datasets (those beside the manifest are found too).
        #[arg(long, value_name = "FILE")]
        lineage: Vec<PathBuf>,
        /// Also find bases and datasets in this registry (a SQLite file or a postgres:// URL),
        /// by their content root.
        #[arg(long, value_name = "R")]
        registry: Option<String>,
    },
    /// Export a manifest as SPDX 3.0.1 JSON-LD or CycloneDX 1.6 JSON (stdout, or -o FILE).
    Export {
        /// The manifest.
        manifest: PathBuf,
        /// spdx or cyclonedx.
        #[arg(long, value_parser = ["spdx", "cyclonedx"])]
        to: String,
        /// Where to write it (default stdout).
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Replace FILE if it already exists.
        #[arg(long)]
        force: bool,
        /// Manifests of its bases and datasets, for their licences (those beside it are found too).
        #[arg(long, value_name = "FILE")]
        lineage: Vec<PathBuf>,
    },
    /// Draw the lineage: models, datasets and terms, edges labelled with the relation and
    /// verdict, assets coloured by their check answer when --use is given.
    Graph {
        /// The manifest.
        manifest: PathBuf,
        /// dot, svg or html (SVG and HTML are self-contained).
        #[arg(long, default_value = "dot", value_parser = ["dot", "svg", "html"])]
        format: String,
        /// Where to write it (default stdout).
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Replace FILE if it already exists.
        #[arg(long)]
        force: bool,
        /// Manifests of its bases and datasets (those beside it are found too).
        #[arg(long, value_name = "FILE")]
        lineage: Vec<PathBuf>,
        /// Colour each asset by its answer for this use.
        #[arg(long = "use", value_name = "USE", value_parser = parse_use, requires = "territory")]
        use_: Option<mlprov::terms::Use>,
        /// Where (with --use).
        #[arg(long, value_parser = parse_country)]
        territory: Option<String>,
        /// When (with --use; default today, UTC).
        #[arg(long, value_parser = parse_date)]
        date: Option<mlprov::terms::Date>,
        /// Monthly active users (with --use).
        #[arg(long, value_name = "N")]
        mau: Option<u64>,
    },
    /// A manifest draft from a Hugging Face model card (front matter) or Croissant metadata.
    Import {
        /// README.md with `---` front matter, or Croissant JSON-LD.
        file: PathBuf,
        /// Where to write the draft (default stdout); `mlprov manifest --draft` reads it.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Replace FILE if it already exists.
        #[arg(long)]
        force: bool,
    },
    /// Signing keys.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Sign a manifest: a DSSE envelope over an in-toto Statement v1 (subject the model's
    /// name and Merkle root, predicate the manifest), ed25519.
    Sign {
        /// The manifest to sign.
        manifest: PathBuf,
        /// The private key (`mlprov key generate`).
        #[arg(long, value_name = "PATH")]
        key: PathBuf,
        /// The signature file to write.
        #[arg(short, long, value_name = "SIGNATURE")]
        output: PathBuf,
        /// Replace SIGNATURE if it already exists.
        #[arg(long)]
        force: bool,
        /// dsse: mlprov's envelope over the manifest (ed25519 key); oms: an OpenSSF
        /// model-signing v1.0 bundle over the model's files (ecdsa-p256 key).
        #[arg(long, default_value = "dsse", value_parser = ["dsse", "oms"])]
        format: String,
        /// With --format oms: the model folder or file (default: the manifest's subject beside it).
        #[arg(long, value_name = "PATH")]
        model: Option<PathBuf>,
    },
    /// Verify a signature (exit 1 when it, the manifest or the model does not match).
    VerifySignature {
        /// The signature file.
        signature: PathBuf,
        /// The public key (PATH.pub).
        #[arg(long, value_name = "PATH.pub")]
        key: PathBuf,
        /// Also check that this manifest file is the one signed.
        #[arg(long, value_name = "FILE")]
        manifest: Option<PathBuf>,
        /// Also re-hash the model's files and compare them with the signed manifest.
        #[arg(long, value_name = "PATH")]
        model: Option<PathBuf>,
    },
    /// Datasets: fingerprint (manifest), compare (overlap and near-duplicate containment), merge shards.
    Dataset {
        #[command(subcommand)]
        command: commands::dataset::DatasetCommand,
    },
    /// Re-hash a model and report what differs from its manifest (exit 1 on any difference).
    Verify {
        /// The manifest to check against.
        manifest: PathBuf,
        /// The model; defaults to the manifest's subject name next to the manifest.
        path: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Write a new key pair: the private key at PATH, the public key at PATH.pub.
    Generate {
        /// Where to write the private key.
        #[arg(short, long, value_name = "PATH")]
        output: PathBuf,
        /// ed25519 (mlprov signatures) or ecdsa-p256 (OpenSSF model-signing bundles).
        #[arg(long, default_value = "ed25519", value_parser = ["ed25519", "ecdsa-p256"])]
        algorithm: String,
        /// Replace existing key files.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
enum TermsCommand {
    /// Write a terms file from a standard deal shape.
    Init {
        /// evaluation, research, commercial or oem.
        #[arg(long, default_value = "commercial")]
        template: String,
        /// The terms file to write.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Replace FILE if it already exists.
        #[arg(long)]
        force: bool,
    },
    /// Validate a terms file (errors name the line; exit 2 on any).
    Check {
        /// The terms file.
        file: PathBuf,
    },
    /// List the licence knowledge base (SPDX and LicenseRef- ids, Hugging Face ids).
    Licences,
}

fn parse_use(s: &str) -> Result<mlprov::terms::Use, String> {
    s.parse()
}

fn parse_date(s: &str) -> Result<mlprov::terms::Date, String> {
    s.parse()
}

fn parse_country(s: &str) -> Result<String, String> {
    if mlprov::terms::territory::is_country(s) {
        Ok(s.to_string())
    } else {
        Err(format!(
            "{s:?} is not an ISO 3166-1 alpha-2 country code (upper case)"
        ))
    }
}

/// What a command found: the exit code says it.
pub enum Outcome {
    /// Nothing to report (exit 0).
    Fine,
    /// A finding such as a mismatch (exit 1).
    Finding,
}

fn main() -> ExitCode {
    // Like other Unix tools, stop quietly when the reader of our output goes away
    // (`mlprov inspect big.gguf | head`) instead of panicking on a broken pipe.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let budget = match (cli.memory_budget, std::env::var("MLPROV_MEMORY_BUDGET")) {
        (Some(b), _) => b,
        (None, Ok(text)) => match mlprov::parse_memory_budget(&text) {
            Ok(b) => b,
            Err(e) => {
                output::warn_line(format_args!("mlprov: error: MLPROV_MEMORY_BUDGET: {e}"));
                return ExitCode::from(2);
            }
        },
        (None, Err(_)) => mlprov::formats::DEFAULT_MEMORY_BUDGET,
    };
    commands::set_open_options(mlprov::formats::OpenOptions {
        memory_budget: budget,
        ..Default::default()
    });
    let result = match cli.command {
        Command::Inspect { path } => commands::inspect::run(&path, cli.json),
        Command::Hash { path, plain, proof } => {
            commands::hash::run(&path, plain, proof.as_deref(), cli.json)
        }
        Command::Manifest {
            path,
            output,
            force,
            licence,
            lineage,
        } => commands::manifest::run(&path, &output, force, &licence, &lineage, cli.json),
        Command::Terms { command } => match command {
            TermsCommand::Init {
                template,
                output,
                force,
            } => commands::terms::init(&template, &output, force, cli.json),
            TermsCommand::Check { file } => commands::terms::check(&file, cli.json),
            TermsCommand::Licences => commands::terms::licences(cli.json),
        },
        Command::Check {
            manifest,
            use_,
            territory,
            date,
            modify,
            redistribute,
            host,
            mau,
            train_on_outputs,
            lineage,
            registry,
        } => (|| {
            let date = commands::check::date_or_today(date)?;
            let query = mlprov::terms::Query {
                use_,
                territory,
                date,
                modify,
                redistribute,
                host,
                mau,
                train_on_outputs,
            };
            commands::check::run(&manifest, &lineage, registry.as_deref(), &query, cli.json)
        })(),
        Command::Scan {
            paths,
            registry,
            licensee,
            use_,
            territory,
            date,
            sarif,
            max_archive_depth,
            deep,
            base,
            no_datasets,
        } => (|| {
            let intended_use = commands::check::intended_use(use_, territory, date, None)?;
            let options = mlprov::ScanOptions {
                licensee,
                intended_use,
                walk: mlprov::walk::WalkOptions {
                    max_depth_archives: max_archive_depth,
                    ..Default::default()
                },
                open: commands::options(),
                actor: None,
                deep,
                ignore_bases: base.is_some(),
                skip_datasets: no_datasets,
            };
            let format = if sarif {
                commands::scan::Format::Sarif
            } else if cli.json {
                commands::scan::Format::Json
            } else {
                commands::scan::Format::Table
            };
            commands::scan::run(&paths, registry.as_deref(), &options, format)
        })(),
        Command::Fingerprint { path, invariants } => {
            commands::fingerprint::run(&path, invariants, cli.json)
        }
        Command::Compare {
            a,
            b,
            pairs,
            base,
            lineage,
            registry,
            references,
        } => commands::compare::run(
            commands::compare::Args {
                a: &a,
                b: &b,
                base: base.as_deref(),
                lineage: &lineage,
                registry: registry.as_deref(),
                show_pairs: pairs,
                references: &references,
            },
            cli.json,
        ),
        Command::Eval { pairs, root } => commands::eval::run(&pairs, root.as_deref(), cli.json),
        Command::Convert {
            input,
            output,
            dtype,
            skip_undecodable,
            force,
        } => commands::convert::run(&input, &output, dtype, skip_undecodable, force, cli.json),
        Command::Register {
            path,
            registry,
            licensees,
            manifest,
            key,
            licence,
            lineage,
        } => (|| {
            if lineage.compare_bases {
                anyhow::bail!(
                    "register does not run --compare-bases: write the manifest with \
                     `mlprov manifest --compare-bases` and register it with --manifest"
                );
            }
            let options = mlprov::RegisterOptions {
                licensees,
                manifest,
                actor: None,
                provenance: mlprov::ProvenanceOptions {
                    licence: licence.options(),
                    lineage: lineage.options()?,
                    draft: lineage.draft.clone(),
                },
                key,
            };
            commands::register::run(&path, registry.as_deref(), &options, cli.json)
        })(),
        Command::Audit { action } => commands::audit::run(&action, cli.json),
        Command::Export {
            manifest,
            to,
            output,
            force,
            lineage,
        } => commands::export::run(&manifest, &to, output.as_deref(), force, &lineage),
        Command::Graph {
            manifest,
            format,
            output,
            force,
            lineage,
            use_,
            territory,
            date,
            mau,
        } => (|| {
            let query = commands::check::intended_use(use_, territory, date, mau)?;
            commands::graph::run(
                &manifest,
                &lineage,
                &format,
                query.as_ref(),
                output.as_deref(),
                force,
            )
        })(),
        Command::Import {
            file,
            output,
            force,
        } => commands::import::run(&file, output.as_deref(), force),
        Command::Key {
            command:
                KeyCommand::Generate {
                    output,
                    algorithm,
                    force,
                },
        } => commands::sign::key_generate(&output, &algorithm, force, cli.json),
        Command::Sign {
            manifest,
            key,
            output,
            force,
            format,
            model,
        } => commands::sign::sign(
            &manifest,
            &key,
            &output,
            force,
            &format,
            model.as_deref(),
            cli.json,
        ),
        Command::VerifySignature {
            signature,
            key,
            manifest,
            model,
        } => commands::sign::verify(
            &signature,
            &key,
            manifest.as_deref(),
            model.as_deref(),
            cli.json,
        ),
        Command::Dataset { command } => commands::dataset::run(command, cli.json),
        Command::Verify { manifest, path } => {
            commands::verify::run(&manifest, path.as_deref(), cli.json)
        }
    };
    match result {
        Ok(Outcome::Fine) => ExitCode::SUCCESS,
        Ok(Outcome::Finding) => ExitCode::from(1),
        Err(err) if security_finding(&err).is_some() => {
            if let Some(f) = security_finding(&err) {
                report_security_finding(f, cli.json);
            }
            ExitCode::from(1)
        }
        Err(err) => {
            // One line naming the file, whatever the file's names hold.
            output::warn_line(format_args!("mlprov: error: {err:#}"));
            ExitCode::from(2)
        }
    }
}

/// The security finding behind an error, if it is one.
fn security_finding(err: &anyhow::Error) -> Option<mlprov::SecurityFinding<'_>> {
    err.chain()
        .find_map(|e| e.downcast_ref::<mlprov::Error>())
        .and_then(mlprov::Error::security_finding)
}

/// A pickle that would run code: a finding (exit 1), told on stdout like other findings.
fn report_security_finding(f: mlprov::SecurityFinding<'_>, json: bool) {
    if json {
        let value = serde_json::json!({
            "security_finding": {
                "path": f.path.display().to_string(),
                "global": f.global,
                "opcode": f.opcode,
            }
        });
        if output::print_json(&value).is_err() {
            output::warn_line(format_args!("mlprov: error: cannot write the JSON output"));
        }
    } else {
        say!(
            "security finding: {} would run `{}` when loaded ({} opcode; nothing was run)",
            f.path.display(),
            f.global,
            f.opcode
        );
    }
}
