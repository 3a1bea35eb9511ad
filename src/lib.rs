//! mlprov: provenance for machine-learning assets.
//!
//! This package is the application layer: one function per user-level operation, so the
//! `mlprov` command line (in `cli/`), the test suites and anyone embedding mlprov get the
//! same answer from the same code.
//!
//! | operation | function |
//! |---|---|
//! | open a model (any format, a file or a folder) | [`open`] |
//! | list what it holds | [`inspect`] |
//! | exact digests | [`hash`] |
//! | robust fingerprint | [`fingerprint`] |
//! | the lineage test (staged: sketches, then invariants, then the identical check) | [`compare`], [`compare_prepared`] |
//! | write a provenance manifest | [`write_manifest`], with licence, terms and lineage [`write_manifest_with`] (built by [`build_manifest`]) |
//! | may a use be made of a model, along its lineage? | [`check`] (graph: [`lineage_graph`]) |
//! | check a model against its manifest | [`verify`] |
//! | SPDX 3.0.1 / CycloneDX 1.6 export | [`export`] |
//! | the lineage as a picture (DOT, SVG, HTML) | [`graph`] |
//! | a manifest draft from a model card or Croissant | [`import`] |
//! | sign a manifest, check a signature | [`generate_key`], [`sign`], [`verify_signature`] |
//! | evaluate the lineage test on known pairs | [`eval`] |
//! | convert a model to safetensors | [`convert`] |
//! | register a model in the registry | [`register`] (in the registry [`open_registry`] names) |
//! | find registered models that may be related to a fingerprint | [`lookup`] |
//! | the lineage test against a registered model, without its weights | [`compare_registered`] |
//! | the same, base-aware, against its registered base | [`compare_registered_with_base`] |
//! | scan a deployment (folders, archives, images) for registered models and derivatives | [`scan`] |
//! | check and list the audit log | [`audit_verify`], [`audit_show`] |
//! | a dataset's manifest (or one shard's) | [`dataset_fingerprint`] |
//! | how much of dataset A is in B, and B in A (data or manifests) | [`dataset_compare`] |
//! | merge shard manifests into the one-machine manifest | [`dataset_merge`] |
//!
//! ```no_run
//! # fn main() -> mlprov::Result<()> {
//! let a = mlprov::open("licensed.safetensors".as_ref())?;
//! let b = mlprov::open("suspect.gguf".as_ref())?;
//! let result = mlprov::compare(&a, &b, &mlprov::Quiet)?;
//! println!("{} (p = 1e{:.1})", result.verdict, result.log10_p);
//! # Ok(())
//! # }
//! ```
//!
//! The crates below are re-exported: [`formats`] reads weight files, [`hash`](mod@hash)
//! computes exact digests, [`fingerprint`](mod@fingerprint) computes robust fingerprints and
//! the lineage evidence, [`manifest`](mod@manifest) writes and checks manifests,
//! [`registry`] stores registrations and the audit log (SQLite or PostgreSQL).

#![forbid(unsafe_code)]

mod base;
mod check;
mod compare;
mod convert;
mod dataset;
mod dataset_compare;
mod dataset_exact;
mod error;
mod eval;
mod export;
mod graph;
mod import;
mod inspect;
mod lineage;
mod manifest_ops;
mod output_file;
mod printable;
mod progress;
mod provenance;
mod registry_ops;
mod scan;
mod sign;
mod verify;

pub use mlprov_data as data;
pub use mlprov_fingerprint as fingerprint;
pub use mlprov_formats as formats;
pub use mlprov_hash as hash;
pub use mlprov_manifest as manifest;
pub use mlprov_registry as registry;
pub use mlprov_terms as terms;
pub use mlprov_walk as walk;

pub use base::{
    open_reference, recorded_base, registered_base_hint, RecordedBase, Reference,
    RegisteredBaseHint,
};
pub use check::{
    check, check_in, lineage_graph, lineage_graph_in, GraphEdge, GraphNode, LineageGraph,
};
pub use compare::{
    compare, compare_prepared, compare_registered, compare_registered_with_base, compare_with_base,
    compare_with_base_and_references, registered_base, registered_references, Comparable,
    RegisteredBase, RegisteredModel, MAX_REGISTERED_REFERENCES,
};
pub use convert::{convert, ConvertOptions, Converted};
pub use dataset::{
    dataset_fingerprint, dataset_format, dataset_merge, DatasetFingerprinted, DatasetMerged,
    DatasetOptions,
};
pub use dataset_compare::{
    dataset_compare, DatasetComparison, DatasetSide, Estimates, ExamplePair, NearMethod,
};
pub use dataset_exact::{dataset_identity, DatasetIdentity};
pub use error::{Error, Result, SecurityFinding};
pub use eval::{
    eval, read_pairs, score, EvalCase, EvalReport, EvalRow, EvalShare, EvalSummary, RatesAt,
};
pub use export::{export, ExportFormat};
pub use graph::{graph, GraphFormat};
pub use import::{import, read_draft, Draft, DraftFile, DRAFT_ID};
pub use inspect::{
    inspect, FileInventory, Inventory, QuantizedPair, SkippedFile, TensorEntry, Totals,
};
pub use lineage::LineageNode;
pub use manifest_ops::{build_manifest, write_manifest, write_manifest_with, ManifestWritten};
/// Reads a whole regular file without blocking (one copy, in `mlprov-formats`).
pub use mlprov_formats::read_regular_file;
pub use output_file::{check_target, replace_with, write_bytes};
pub use printable::printable;
pub use progress::{Progress, Quiet};
pub use provenance::{read_terms, split_suffix, LicenceOptions, LineageOptions, ProvenanceOptions};
pub use registry_ops::{
    audit_show, audit_verify, default_actor, lookup, lookup_by_invariants, open_registry, register,
    registry_location, AuditVerification, Candidate, RegisterOptions, Registered, MIN_BAND_HITS,
    RECORD_KEYS, REGISTRY_ENV,
};
pub use scan::{
    scan, DatasetOverlap, Finding, FindingClass, FoundOwnChanges, ScanOptions, ScanProblem,
    ScanReport, MAX_CANDIDATES, PUBLIC_LICENSEE,
};
pub use sign::{
    generate_key, public_key_path, sign, verify_signature, KeyAlgorithm, KeyFiles, SignFormat,
    SignatureCheck, Signed,
};
pub use verify::{read_manifest, verify, Verification, MAX_MANIFEST_BYTES};

use std::path::Path;

use mlprov_fingerprint::{FingerprintOptions, ModelFingerprint};
use mlprov_formats::{open_model, Model, OpenOptions};
use mlprov_hash::{hash_model, HashOptions, ModelDigest};

/// Opens a model (a weight file, or a folder of them, by magic bytes): fails on any
/// unreadable weight file; files that are not weights are listed in `Model::skipped`.
/// Uses the default memory budget ([`formats::DEFAULT_MEMORY_BUDGET`]).
pub fn open(path: &Path) -> Result<Model> {
    open_with(path, OpenOptions::default())
}

/// [`open`] with options: the memory budget for decoded and inflated bytes (a model that
/// needs more is refused, naming what it needs).
pub fn open_with(path: &Path, options: OpenOptions) -> Result<Model> {
    Ok(open_model(path, options)?)
}

/// Parses a memory budget: bytes, or a number with a `K`, `M`, `G` or `T` suffix
/// (powers of 1024; `KiB`, `MB`, `GiB`… are read the same way), e.g. `8G`, `512M`.
pub fn parse_memory_budget(text: &str) -> std::result::Result<u64, String> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, suffix) = t.split_at(digits);
    let bad = || format!("`{text}` is not a size (bytes, or a number with K, M, G or T)");
    let n: u64 = number.parse().map_err(|_| bad())?;
    let unit = match suffix.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1u64,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        "T" | "TB" | "TIB" => 1 << 40,
        _ => return Err(bad()),
    };
    n.checked_mul(unit)
        .ok_or_else(|| format!("`{text}` is larger than 2^64 bytes"))
}

/// Exact digests of a model: per file, per tensor and the Merkle root; `plain` adds each
/// file's plain BLAKE3 (what `b3sum` prints), which reads the files a second time. Fails
/// when a file changed while it was read.
pub fn hash(model: &Model, plain: bool, progress: &dyn Progress) -> Result<ModelDigest> {
    let digests = hash_unchecked(model, plain, progress);
    model.check_unchanged()?;
    Ok(digests)
}

/// [`hash`] without the final check that the files did not change (verify reports such a
/// file as a difference instead).
pub(crate) fn hash_unchecked(model: &Model, plain: bool, progress: &dyn Progress) -> ModelDigest {
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
/// only); with `invariants`, also the permutation- and rotation-robust invariants. Fails
/// when a file changed while it was read.
pub fn fingerprint(
    model: &Model,
    invariants: bool,
    progress: &dyn Progress,
) -> Result<ModelFingerprint> {
    let options = FingerprintOptions {
        invariants,
        ..Default::default()
    };
    fingerprint_with(model, options, progress)
}

/// [`fingerprint`] with every option (samples too: what a registration stores).
pub fn fingerprint_with(
    model: &Model,
    options: FingerprintOptions,
    progress: &dyn Progress,
) -> Result<ModelFingerprint> {
    if options.invariants {
        progress.stage("computing the invariants");
    }
    let fp = ModelFingerprint::with_options(model, options);
    if options.invariants {
        progress.done();
    }
    model.check_unchanged()?;
    Ok(fp)
}

#[cfg(test)]
mod tests {
    #[test]
    fn memory_budgets_parse_with_suffixes() {
        use super::parse_memory_budget as p;
        assert_eq!(p("4096"), Ok(4096));
        assert_eq!(p("8G"), Ok(8 << 30));
        assert_eq!(p("512m"), Ok(512 << 20));
        assert_eq!(p("1GiB"), Ok(1 << 30));
        assert_eq!(p("2 T"), Ok(2 << 40));
        for bad in ["", "G", "-1", "1.5G", "8X", "99999999999999999999"] {
            assert!(p(bad).is_err(), "{bad}");
        }
        assert!(p("16777216T").is_err());
    }

    #[test]
    fn a_pickle_that_runs_code_is_a_security_finding_and_a_budget_is_honoured() {
        let dir = mlprov_testkit::tempdir();
        let (_, _, pickle) = mlprov_testkit::hostile::malicious_pickles().remove(0);
        let path = dir.path().join("evil.pkl");
        std::fs::write(&path, &pickle).unwrap();
        let e = super::open(&path).unwrap_err();
        assert!(e.is_security_finding(), "{e}");
        let f = e.security_finding().unwrap();
        assert_eq!(
            (f.path, f.global, f.opcode),
            (path.as_path(), "os.system", "REDUCE")
        );
        // A damaged file is not one.
        std::fs::write(&path, b"\x80\x02K").unwrap();
        assert!(!super::open(&path).unwrap_err().is_security_finding());
        // The budget reaches the readers through open_with.
        let zeros = vec![0u8; 1 << 20];
        let npz = dir.path().join("z.npz");
        let mut npy = b"\x93NUMPY\x01\x00".to_vec();
        let header = format!(
            "{:<117}\n",
            "{'descr': '|u1', 'fortran_order': False, 'shape': (1048576,), }"
        );
        npy.extend_from_slice(&(header.len() as u16).to_le_bytes());
        npy.extend_from_slice(header.as_bytes());
        npy.extend_from_slice(&zeros);
        std::fs::write(&npz, mlprov_testkit::hostile::zip(&[("a.npy", &npy, true)])).unwrap();
        let small = super::formats::OpenOptions {
            memory_budget: 1 << 19,
            ..Default::default()
        };
        let e = super::open_with(&npz, small).unwrap_err();
        assert!(
            e.to_string()
                .contains("more than the memory budget of 524288"),
            "{e}"
        );
        assert!(super::open(&npz).is_ok());
    }
}
