//! mlprov: provenance for machine-learning assets.
//!
//! This package is the application layer: one function per user-level operation, so the
//! `mlprov` command line (in `cli/`), the test suites and anyone embedding mlprov get the
//! same answer from the same code.
//!
//! | operation | function |
//! |---|---|
//! | open a model (any format, a file or a folder) | [`open`] |
//! | exact digests | [`hash`] |
//! | robust fingerprint | [`fingerprint`] |
//! | the lineage test (staged: sketches, then invariants, then the identical check) | [`compare`], [`compare_prepared`] |
//! | write a provenance manifest | [`write_manifest`] (built by [`build_manifest`]) |
//! | check a model against its manifest | [`verify`] |
//! | evaluate the lineage test on known pairs | [`eval`] |
//! | convert a model to safetensors | [`convert`] |
//! | a dataset's manifest (or one shard's) | [`dataset_fingerprint`] |
//! | how much of dataset A is in B, and B in A (data or manifests) | [`dataset_compare`] |
//! | merge shard manifests into the one-machine manifest | [`dataset_merge`] |
//!
//! The crates below are re-exported: [`formats`] reads weight files, [`hash`](mod@hash)
//! computes exact digests, [`fingerprint`](mod@fingerprint) computes robust fingerprints and
//! the lineage evidence, [`manifest`](mod@manifest) writes and checks manifests.

#![forbid(unsafe_code)]

mod compare;
mod convert;
mod dataset;
mod dataset_compare;
mod error;
mod eval;
mod manifest_ops;
mod output_file;
mod printable;
mod progress;
mod verify;

pub use mlprov_data as data;
pub use mlprov_fingerprint as fingerprint;
pub use mlprov_formats as formats;
pub use mlprov_hash as hash;
pub use mlprov_manifest as manifest;

pub use compare::{compare, compare_prepared, Comparable};
pub use convert::{convert, ConvertOptions, Converted};
pub use dataset::{
    dataset_fingerprint, dataset_format, dataset_merge, DatasetFingerprinted, DatasetMerged,
    DatasetOptions,
};
pub use dataset_compare::{
    dataset_compare, DatasetComparison, DatasetSide, Estimates, ExamplePair, NearMethod,
};
pub use error::{Error, Result};
pub use eval::{eval, read_pairs, score, EvalCase, EvalReport, EvalRow, EvalSummary, RatesAt};
pub use manifest_ops::{build_manifest, write_manifest, ManifestWritten};
pub use output_file::{check_target, replace_with, write_bytes};
pub use printable::printable;
pub use progress::{Progress, Quiet};
pub use verify::{verify, Verification};

use std::path::Path;

use mlprov_fingerprint::{FingerprintOptions, ModelFingerprint};
use mlprov_formats::{open_model, Model, OpenOptions};
use mlprov_hash::{hash_model, HashOptions, ModelDigest};

/// Opens a model (a weight file, or a folder of them, by magic bytes): fails on any
/// unreadable weight file; files that are not weights are listed in `Model::skipped`.
pub fn open(path: &Path) -> Result<Model> {
    Ok(open_model(path, OpenOptions::default())?)
}

/// Exact digests of a model: per file, per tensor and the Merkle root; `plain` adds each
/// file's plain BLAKE3 (what `b3sum` prints), which reads the files a second time.
pub fn hash(model: &Model, plain: bool, progress: &dyn Progress) -> ModelDigest {
    let bytes = mlprov_hash::bytes_to_hash(model);
    progress.bytes("hashing", if plain { bytes * 2 } else { bytes });
    let tick = |n: u64| progress.advance(n);
    let digests = hash_model(
        model,
        HashOptions {
            plain,
            progress: Some(&tick),
        },
    );
    progress.done();
    digests
}

/// The robust fingerprint of a model: every tensor's sketch and SimHash key (reads samples
/// only); with `invariants`, also the permutation- and rotation-robust invariants.
pub fn fingerprint(model: &Model, invariants: bool, progress: &dyn Progress) -> ModelFingerprint {
    if invariants {
        progress.stage("computing the invariants");
    }
    let fp = ModelFingerprint::with_options(model, FingerprintOptions { invariants });
    if invariants {
        progress.done();
    }
    fp
}
