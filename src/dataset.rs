//! The dataset operations: `dataset_fingerprint` (a dataset's manifest, or one shard's),
//! `dataset_merge` (shard manifests into the one-machine manifest) and, in
//! `dataset_compare.rs`, `dataset_compare`. The sketches come from `mlprov-data`; this
//! module turns them into the manifest's `dataset` section and back.

use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use mlprov_data::canonical::{CanonicalOptions, CANONICAL_VERSION};
use mlprov_data::identity::RecordHasher;
use mlprov_data::minhash::{self, MinHasher, MINHASH_VERSION, PERMUTATIONS};
use mlprov_data::phash::{NEAR_DISTANCE, PHASH_VERSION};
use mlprov_data::readers::{list_files, Format, ReadOptions, Shard};
use mlprov_data::record::RecordOptions;
use mlprov_data::scan::{scan, FileSummary, NearQuery, ScanOptions, ScanProgress, Scanned};
use mlprov_data::sketch::{DatasetSketch, Identity, DEFAULT_SAMPLE};
use mlprov_data::{bottomk::DEFAULT_K, privacy::PrivacyCounts};
use mlprov_hash::Digest;
use mlprov_manifest::{
    BottomKSection, DatasetSection, FileEntry, ImageSample, Manifest, NearSection, PrivacySection,
    ReaderSettings, ShardSection, Subject, TextSample,
};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::manifest_ops::created_now;
use crate::output_file::{check_target, replace_with, write_bytes};
use crate::progress::Progress;

/// How datasets are read, hashed and compared.
#[derive(Debug, Clone)]
pub struct DatasetOptions {
    /// Which files, which format, which field.
    pub read: ReadOptions,
    /// Lower-case text in the canonical form.
    pub case_fold: bool,
    /// A key file: record digests are then keyed (its bytes derive the key).
    pub key_file: Option<PathBuf>,
    /// Bottom-k sketch size.
    pub k: usize,
    /// Near-duplicate sample size.
    pub sample: usize,
    /// Smallest estimated Jaccard similarity of two near-duplicate text records.
    pub near_threshold: f64,
    /// Largest perceptual-hash distance of two near-duplicate images.
    pub near_distance: u32,
    /// The licence and agreed terms to record in the manifest (`--license`, `--terms`).
    pub licence: crate::provenance::LicenceOptions,
}

impl Default for DatasetOptions {
    fn default() -> Self {
        DatasetOptions {
            read: ReadOptions::default(),
            case_fold: false,
            key_file: None,
            k: DEFAULT_K,
            sample: DEFAULT_SAMPLE,
            near_threshold: 0.8,
            near_distance: NEAR_DISTANCE,
            licence: Default::default(),
        }
    }
}

/// Largest key file read.
const MAX_KEY_FILE: u64 = 1 << 20;

impl DatasetOptions {
    pub(crate) fn hasher(&self) -> Result<RecordHasher> {
        let Some(path) = &self.key_file else {
            return Ok(RecordHasher::unkeyed());
        };
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_KEY_FILE + 1).read_to_end(&mut bytes))
            .map_err(|e| Error::io(path, "cannot read", e))?;
        if bytes.is_empty() || bytes.len() as u64 > MAX_KEY_FILE {
            return Err(Error::input(path, "a key file must hold 1 byte to 1 MiB"));
        }
        Ok(RecordHasher::keyed(&bytes))
    }

    pub(crate) fn settings(&self, hasher: &RecordHasher) -> ReaderSettings {
        ReaderSettings {
            format: self.read.format.map(|f| f.name().to_string()),
            field: self.read.field.clone(),
            per_file: self.read.per_file,
            split: self.read.split.clone(),
            canonical: CANONICAL_VERSION.to_string(),
            case_fold: self.case_fold,
            keyed: hasher.is_keyed(),
            key_id: hasher.key_id(),
        }
    }

    pub(crate) fn scan_options(&self, hasher: RecordHasher) -> ScanOptions {
        ScanOptions {
            read: self.read.clone(),
            record: RecordOptions {
                field: self.read.field.clone(),
                canonical: CanonicalOptions {
                    case_fold: self.case_fold,
                },
                hasher,
                minhasher: MinHasher::new(PERMUTATIONS),
            },
            k: self.k,
            sample: self.sample,
        }
    }
}

/// Forwards a scan's progress to the caller's.
pub(crate) struct Forward<'a>(pub(crate) &'a dyn Progress);

impl ScanProgress for Forward<'_> {
    fn bytes(&self, n: u64) {
        self.0.advance(n);
    }
    fn records(&self, n: u64) {
        self.0.records(n);
    }
}

/// A dataset scanned from its files.
pub(crate) struct ScannedDataset {
    pub(crate) subject: Subject,
    pub(crate) scanned: Scanned,
}

/// Reads the dataset at `path` (one shard of it with `shard`), checking each record
/// against `query` when given.
pub(crate) fn scan_dataset(
    path: &Path,
    opts: &DatasetOptions,
    hasher: RecordHasher,
    shard: Option<Shard>,
    query: Option<&NearQuery>,
    what: &str,
    progress: &dyn Progress,
) -> Result<ScannedDataset> {
    let files = list_files(path, &opts.read, shard)?;
    let total: u64 = files.iter().map(|f| f.size).sum();
    progress.bytes(what, total);
    let scanned = scan(
        &files,
        &opts.scan_options(hasher),
        query,
        &Forward(progress),
    );
    progress.done();
    let layout = if path.is_dir() { "directory" } else { "file" };
    Ok(ScannedDataset {
        subject: Subject {
            kind: "dataset".to_string(),
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| path.display().to_string()),
            layout: layout.to_string(),
        },
        scanned: scanned?,
    })
}

/// The manifest's dataset section from a sketch.
pub(crate) fn section_of(
    sketch: &DatasetSketch,
    identity: &Identity,
    reader: ReaderSettings,
    shard: Option<ShardSection>,
) -> DatasetSection {
    let p = sketch.privacy;
    DatasetSection {
        reader,
        records: sketch.records,
        distinct_records: identity.distinct,
        bytes: sketch.bytes,
        bottom_k: BottomKSection {
            k: sketch.bottom_k.k() as u64,
            digests: sketch.bottom_k.digests().map(Digest::hex).collect(),
        },
        near: NearSection {
            minhash: MINHASH_VERSION.to_string(),
            permutations: PERMUTATIONS as u64,
            phash: PHASH_VERSION.to_string(),
            sample_size: sketch.text_sample.size() as u64,
            text_records: sketch.text_records,
            image_records: sketch.image_records,
            text: sketch
                .text_sample
                .entries()
                .map(|(d, e)| TextSample {
                    digest: d.hex(),
                    record: e.record.clone(),
                    minhash: minhash::to_hex(&e.value),
                })
                .collect(),
            images: sketch
                .image_sample
                .entries()
                .map(|(d, e)| ImageSample {
                    digest: d.hex(),
                    record: e.record.clone(),
                    phash: format!("{:016x}", e.value),
                })
                .collect(),
        },
        privacy: PrivacySection {
            email: p.email,
            phone: p.phone,
            ip_address: p.ip_address,
            payment_card: p.payment_card,
            iban: p.iban,
            any: p.any,
        },
        shard,
    }
}

fn parse_hex_digest(s: &str) -> Option<Digest> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(Digest(out))
}

/// A sketch (without record digests) back from a manifest's dataset section.
pub(crate) fn sketch_of(section: &DatasetSection, path: &Path) -> Result<DatasetSketch> {
    let bad = |what: &str| Error::input(path, format!("bad dataset section: {what}"));
    if section.near.permutations != PERMUTATIONS as u64 || section.near.minhash != MINHASH_VERSION {
        return Err(bad("MinHash of another construction"));
    }
    let k = usize::try_from(section.bottom_k.k).map_err(|_| bad("k"))?;
    let sample = usize::try_from(section.near.sample_size).map_err(|_| bad("sample size"))?;
    if k == 0 || sample == 0 || section.bottom_k.digests.len() > k {
        return Err(bad("sketch sizes"));
    }
    let mut sketch = DatasetSketch::new(k, sample);
    sketch.records = section.records;
    sketch.bytes = section.bytes;
    for d in &section.bottom_k.digests {
        sketch
            .bottom_k
            .insert(parse_hex_digest(d).ok_or_else(|| bad("bottom-k digest"))?);
    }
    sketch.text_records = section.near.text_records;
    sketch.image_records = section.near.image_records;
    for t in &section.near.text {
        let d = parse_hex_digest(&t.digest).ok_or_else(|| bad("sample digest"))?;
        let sig = minhash::from_hex(&t.minhash, PERMUTATIONS).ok_or_else(|| bad("minhash"))?;
        sketch.text_sample.offer(d, || t.record.clone(), sig);
    }
    for i in &section.near.images {
        let d = parse_hex_digest(&i.digest).ok_or_else(|| bad("sample digest"))?;
        let h = u64::from_str_radix(&i.phash, 16).map_err(|_| bad("phash"))?;
        sketch.image_sample.offer(d, || i.record.clone(), h);
    }
    let p = section.privacy;
    sketch.privacy = PrivacyCounts {
        email: p.email,
        phone: p.phone,
        ip_address: p.ip_address,
        payment_card: p.payment_card,
        iban: p.iban,
        any: p.any,
    };
    Ok(sketch)
}

pub(crate) fn file_entries(files: &[FileSummary]) -> Vec<FileEntry> {
    files
        .iter()
        .map(|f| FileEntry {
            path: f.rel.clone(),
            format: f.format.name().to_string(),
            size: f.size,
            digest: f.digest,
        })
        .collect()
}

/// What [`dataset_fingerprint`] wrote.
#[derive(Debug, Clone, Serialize)]
pub struct DatasetFingerprinted {
    /// The manifest file.
    pub manifest: PathBuf,
    /// The shard's digest list (shards only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digests_file: Option<PathBuf>,
    /// The shard written, if one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    /// Data files read.
    pub files: u64,
    /// Records read.
    pub records: u64,
    /// Distinct records.
    pub distinct_records: u64,
    /// Bytes of the canonical records.
    pub bytes: u64,
    /// Merkle root over the sorted record digests (of this shard's records, for a shard).
    pub root: Digest,
    /// Privacy pattern counts.
    pub privacy: PrivacyCounts,
    /// Whether record digests are keyed.
    pub keyed: bool,
}

/// The name of a shard's digest list beside its manifest.
fn digests_name(output: &Path) -> Result<String> {
    let name = output
        .file_name()
        .ok_or_else(|| Error::input(output, "not a file path"))?;
    Ok(format!("{}.digests", name.to_string_lossy()))
}

/// Fingerprints the dataset at `path` (or, with `shard`, one slice of its files) and writes
/// its manifest to `output` atomically (an existing `output` only with `force`). A shard
/// also writes its sorted record digests to `OUTPUT.digests` for `dataset_merge`.
pub fn dataset_fingerprint(
    path: &Path,
    output: &Path,
    force: bool,
    shard: Option<Shard>,
    opts: &DatasetOptions,
    progress: &dyn Progress,
) -> Result<DatasetFingerprinted> {
    check_target(output, force)?;
    let created = created_now()?;
    let hasher = opts.hasher()?;
    let settings = opts.settings(&hasher);
    let keyed = hasher.is_keyed();
    // Read and check the licence and terms before the (long) scan.
    let licence = opts.licence.resolve()?;
    let ScannedDataset {
        subject,
        mut scanned,
    } = scan_dataset(path, opts, hasher, shard, None, "reading", progress)?;
    let mut digests_file = None;
    let (identity, shard_section) = match shard {
        Some(s) => {
            let name = digests_name(output)?;
            let side = output.with_file_name(&name);
            let (identity, digest) = write_digests(&side, force, &mut scanned.sketch)?;
            digests_file = Some(side);
            let section = ShardSection {
                index: u64::from(s.index),
                count: u64::from(s.count),
                digests_file: name,
                digests_digest: digest,
            };
            (identity, Some(section))
        }
        None => (finish(&mut scanned.sketch, path)?, None),
    };
    let section = section_of(&scanned.sketch, &identity, settings, shard_section);
    let mut manifest = Manifest::for_dataset(
        subject,
        file_entries(&scanned.files),
        identity.root,
        section,
        env!("CARGO_PKG_VERSION"),
        created,
    );
    manifest.licence = licence;
    write_bytes(output, manifest.to_pretty_json().as_bytes())?;
    Ok(DatasetFingerprinted {
        manifest: output.to_path_buf(),
        digests_file,
        shard,
        files: scanned.files.len() as u64,
        records: scanned.sketch.records,
        distinct_records: identity.distinct,
        bytes: scanned.sketch.bytes,
        root: identity.root,
        privacy: scanned.sketch.privacy,
        keyed,
    })
}

/// The sketch's identity (sorted digests streamed into the Merkle root).
pub(crate) fn finish(sketch: &mut DatasetSketch, path: &Path) -> Result<Identity> {
    sketch
        .finish(|_| Ok(()))
        .map_err(|e| Error::io(path, "cannot sort the record digests", e))
}

/// Streams the sketch's sorted digests (32 raw bytes each) into `path` atomically while
/// computing its identity; returns the identity and the file's BLAKE3.
fn write_digests(
    path: &Path,
    force: bool,
    sketch: &mut DatasetSketch,
) -> Result<(Identity, Digest)> {
    check_target(path, force)?;
    replace_with(path, |tmp| {
        let io = |e| Error::io(path, "cannot write", e);
        let f = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(tmp)
            .map_err(io)?;
        let mut w = BufWriter::new(f);
        let mut h = blake3::Hasher::new();
        let identity = sketch
            .finish(|d| {
                h.update(d.as_bytes());
                w.write_all(d.as_bytes())
            })
            .map_err(io)?;
        let f = w.into_inner().map_err(|e| io(e.into_error()))?;
        f.sync_all().map_err(io)?;
        Ok((identity, h.finalize().into()))
    })
}

/// Opens a shard's digest list, checking it against its manifest's digest of it.
fn open_digests(path: &Path, expected: &Digest) -> Result<std::fs::File> {
    let io = |e| Error::io(path, "cannot read", e);
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut h = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        len += n as u64;
    }
    if !len.is_multiple_of(32) {
        return Err(Error::input(path, "not a list of 32-byte digests"));
    }
    if Digest::from(h.finalize()) != *expected {
        return Err(Error::input(
            path,
            "does not match the digest its shard manifest records",
        ));
    }
    Ok(f)
}

/// What [`dataset_merge`] wrote.
#[derive(Debug, Clone, Serialize)]
pub struct DatasetMerged {
    /// The merged manifest.
    pub manifest: PathBuf,
    /// Shards merged.
    pub shards: u64,
    /// Data files.
    pub files: u64,
    /// Records.
    pub records: u64,
    /// Merkle root over all sorted record digests.
    pub root: Digest,
}

/// Merges the manifests of shards `0/N` … `N-1/N` of one dataset (each with its digest
/// list beside it) into the manifest one machine would have written, written to `output`.
pub fn dataset_merge(shards: &[PathBuf], output: &Path, force: bool) -> Result<DatasetMerged> {
    check_target(output, force)?;
    let created = created_now()?;
    let first = shards
        .first()
        .ok_or_else(|| Error::input(output, "no shard manifests to merge"))?;
    let mut seen: Vec<Option<PathBuf>> = Vec::new();
    let mut merged: Option<(Subject, ReaderSettings, DatasetSketch)> = None;
    let mut licence: Option<mlprov_manifest::Licence> = None;
    let mut files = Vec::new();
    let mut runs = Vec::new();
    for path in shards {
        let m = crate::verify::read_manifest(path)?;
        let section = m
            .dataset
            .as_ref()
            .ok_or_else(|| Error::input(path, "not a dataset manifest"))?;
        let shard = section
            .shard
            .as_ref()
            .ok_or_else(|| Error::input(path, "not a shard manifest (written without --shard)"))?;
        if seen.is_empty() {
            seen = vec![None; usize::try_from(shard.count).unwrap_or(0)];
        }
        if shard.count as usize != seen.len() || shard.index >= shard.count {
            return Err(Error::input(
                path,
                format!(
                    "shard {}/{} does not belong with {} (of {} shards)",
                    shard.index,
                    shard.count,
                    first.display(),
                    seen.len()
                ),
            ));
        }
        if let Some(other) = &seen[shard.index as usize] {
            return Err(Error::input(
                path,
                format!("shard {} again (also {})", shard.index, other.display()),
            ));
        }
        seen[shard.index as usize] = Some(path.clone());
        let side = path.with_file_name(&shard.digests_file);
        if shard.digests_file.contains(['/', '\\']) {
            return Err(Error::input(path, "digests_file must be a plain file name"));
        }
        match &licence {
            None => licence = Some(m.licence.clone()),
            Some(l) if *l != m.licence => {
                return Err(Error::input(
                    path,
                    format!("records another licence or terms than {}", first.display()),
                ))
            }
            Some(_) => {}
        }
        runs.push(open_digests(&side, &shard.digests_digest)?);
        let sketch = sketch_of(section, path)?;
        files.extend(m.files.iter().cloned());
        match &mut merged {
            None => merged = Some((m.subject.clone(), section.reader.clone(), sketch)),
            Some((subject, reader, acc)) => {
                if *subject != m.subject || *reader != section.reader {
                    return Err(Error::input(
                        path,
                        format!(
                            "made from another dataset or with other settings than {}",
                            first.display()
                        ),
                    ));
                }
                if acc.bottom_k.k() != sketch.bottom_k.k()
                    || acc.text_sample.size() != sketch.text_sample.size()
                {
                    return Err(Error::input(path, "sketch sizes differ between shards"));
                }
                acc.merge(sketch);
            }
        }
    }
    if let Some(missing) = seen.iter().position(Option::is_none) {
        return Err(Error::input(
            first,
            format!("shard {missing}/{} is missing", seen.len()),
        ));
    }
    let Some((subject, reader, mut sketch)) = merged else {
        return Err(Error::input(output, "no shard manifests to merge"));
    };
    files.sort_by(|a, b| a.path.cmp(&b.path));
    for run in runs {
        sketch.digests.add_sorted_run(run);
    }
    let identity = finish(&mut sketch, first)?;
    let section = section_of(&sketch, &identity, reader, None);
    let n_files = files.len() as u64;
    let mut manifest = Manifest::for_dataset(
        subject,
        files,
        identity.root,
        section,
        env!("CARGO_PKG_VERSION"),
        created,
    );
    manifest.licence = licence.unwrap_or_default();
    write_bytes(output, manifest.to_pretty_json().as_bytes())?;
    Ok(DatasetMerged {
        manifest: output.to_path_buf(),
        shards: seen.len() as u64,
        files: n_files,
        records: sketch.records,
        root: identity.root,
    })
}

/// The format names `--format` accepts.
pub fn dataset_format(name: &str) -> Option<Format> {
    Format::from_name(name)
}
