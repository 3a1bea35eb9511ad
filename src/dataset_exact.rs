//! `dataset_identity`: a dataset's exact identity only (`dataset fingerprint --exact-only`),
//! the identity fields of its manifest without the near-duplicate sketches and privacy
//! counts, computed by `mlprov_data::exact` at close to the speed of reading the files.

use std::path::{Path, PathBuf};

use mlprov_data::canonical::CanonicalOptions;
use mlprov_data::exact::{exact_scan, ExactOptions};
use mlprov_data::minhash::MinHasher;
use mlprov_data::readers::list_files;
use mlprov_data::record::RecordOptions;
use mlprov_hash::Digest;
use mlprov_manifest::{BottomKSection, FileEntry, ReaderSettings};
use serde::Serialize;

use crate::dataset::{file_entries, DatasetOptions, Forward};
use crate::error::Result;
use crate::output_file::{check_target, write_bytes};
use crate::progress::Progress;

/// A dataset's exact identity: the fields of its manifest that say which records it holds.
/// Each equals the same field of the manifest `dataset_fingerprint` writes with the same
/// options (`root` is the manifest's `merkle_root`; the others are in its `dataset` section
/// and `files`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DatasetIdentity {
    /// What was read.
    pub path: PathBuf,
    /// How records were read and hashed.
    pub reader: ReaderSettings,
    /// Records read.
    pub records: u64,
    /// Distinct records.
    pub distinct_records: u64,
    /// Bytes of the canonical records.
    pub bytes: u64,
    /// Merkle root over the sorted record digests.
    pub root: Digest,
    /// The bottom-k sketch of the distinct record digests.
    pub bottom_k: BottomKSection,
    /// Each data file: path, reader, size, plain BLAKE3 (as `b3sum`).
    pub files: Vec<FileEntry>,
}

/// Computes the exact identity of the dataset at `path` (no MinHash, perceptual hashes or
/// privacy counts); with `output`, also writes it there as JSON (an existing file only
/// with `force`).
pub fn dataset_identity(
    path: &Path,
    output: Option<&Path>,
    force: bool,
    opts: &DatasetOptions,
    progress: &dyn Progress,
) -> Result<DatasetIdentity> {
    if let Some(o) = output {
        check_target(o, force)?;
    }
    let hasher = opts.hasher()?;
    let reader = opts.settings(&hasher);
    let files = list_files(path, &opts.read, None)?;
    let total: u64 = files.iter().map(|f| f.size).sum();
    progress.bytes("reading", total);
    let exact = ExactOptions {
        read: opts.read.clone(),
        record: RecordOptions {
            field: opts.read.field.clone(),
            canonical: CanonicalOptions {
                case_fold: opts.case_fold,
            },
            hasher,
            // Not used: no signatures are computed.
            minhasher: MinHasher::new(0),
        },
        k: opts.k,
    };
    let scanned = exact_scan(&files, &exact, &Forward(progress));
    progress.done();
    let scanned = scanned?;
    let identity = DatasetIdentity {
        path: path.to_path_buf(),
        reader,
        records: scanned.records,
        distinct_records: scanned.identity.distinct,
        bytes: scanned.bytes,
        root: scanned.identity.root,
        bottom_k: BottomKSection {
            k: scanned.bottom_k.k() as u64,
            digests: scanned.bottom_k.digests().map(Digest::hex).collect(),
        },
        files: file_entries(&scanned.files),
    };
    if let Some(o) = output {
        let mut json = serde_json::to_string_pretty(&identity)
            .map_err(|e| crate::error::Error::input(o, format!("cannot serialize: {e}")))?;
        json.push('\n');
        write_bytes(o, json.as_bytes())?;
    }
    Ok(identity)
}
