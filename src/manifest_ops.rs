//! `manifest`: the provenance manifest of a model, built from its digests and fingerprint.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mlprov_fingerprint::{ModelFingerprint, SKETCH_VERSION};
use mlprov_formats::Model;
use mlprov_hash::ModelDigest;
use mlprov_manifest::{Fingerprints, Manifest, Subject, TensorKey};

use crate::error::{Error, Result};
use crate::output_file::{check_target, write_bytes};
use crate::progress::Progress;

/// What [`write_manifest`] wrote.
#[derive(Debug, Clone)]
pub struct ManifestWritten {
    /// The manifest file.
    pub path: PathBuf,
    /// The manifest.
    pub manifest: Manifest,
}

/// The manifest of a model from its digests and its (sketch) fingerprint, dated `created`
/// (RFC 3339).
pub fn build_manifest(
    model: &Model,
    digests: &ModelDigest,
    fingerprint: &ModelFingerprint,
    created: String,
) -> Manifest {
    let subject = Subject {
        kind: "model".to_string(),
        name: model.name(),
        layout: model.layout.name().to_string(),
    };
    let mut manifest = Manifest::from_digests(subject, digests, env!("CARGO_PKG_VERSION"), created);
    let keys = fingerprint
        .tensors
        .iter()
        .map(|t| TensorKey {
            file: t.file.clone(),
            name: t.name.clone(),
            elements: t.elements,
            simhash: t.simhash.hex(),
        })
        .collect();
    manifest.fingerprints = Fingerprints::new(SKETCH_VERSION, keys);
    manifest
}

/// Hashes and fingerprints `model` and writes its manifest to `output` atomically; an
/// existing `output` is replaced only with `force`. `created` is now, or
/// `SOURCE_DATE_EPOCH` when set (so a manifest can be reproduced byte for byte).
pub fn write_manifest(
    model: &Model,
    output: &Path,
    force: bool,
    progress: &dyn Progress,
) -> Result<ManifestWritten> {
    check_target(output, force)?;
    let created = created_now()?;
    let digests = crate::hash(model, false, progress);
    let fingerprint = ModelFingerprint::of(model);
    let manifest = build_manifest(model, &digests, &fingerprint, created);
    write_bytes(output, manifest.to_pretty_json().as_bytes())?;
    Ok(ManifestWritten {
        path: output.to_path_buf(),
        manifest,
    })
}

/// Now, or `SOURCE_DATE_EPOCH` when set (the reproducible-builds convention), as RFC 3339 UTC.
pub(crate) fn created_now() -> Result<String> {
    let time = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(s) => {
            let secs: u64 = s.trim().parse().map_err(|_| {
                Error::input(
                    "SOURCE_DATE_EPOCH",
                    format!("not a number of seconds: {s:?}"),
                )
            })?;
            UNIX_EPOCH + Duration::from_secs(secs)
        }
        Err(_) => SystemTime::now(),
    };
    Ok(humantime::format_rfc3339_seconds(time).to_string())
}
