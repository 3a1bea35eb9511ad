//! `mlprov manifest`: write the provenance manifest of a model.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use mlprov_fingerprint::ModelFingerprint;
use mlprov_manifest::{Manifest, Subject};
use serde_json::json;

use crate::output::print_json;
use crate::Outcome;

pub fn run(path: &Path, output: &Path, force: bool, json: bool) -> Result<Outcome> {
    crate::atomic::check_target(output, force)?;
    let model = super::open(path)?;
    let digests = super::hash_with_progress(&model, false);
    let subject = Subject {
        kind: "model".to_string(),
        name: model.name(),
        layout: model.layout.name().to_string(),
    };
    let mut manifest =
        Manifest::from_digests(subject, &digests, env!("CARGO_PKG_VERSION"), created_now()?);
    manifest.fingerprints = fingerprints(&model);
    crate::atomic::write_bytes(output, manifest.to_pretty_json().as_bytes())?;
    if json {
        print_json(&json!({
            "manifest": output.display().to_string(),
            "files": manifest.files.len(),
            "tensors": manifest.tensors.len(),
            "merkle_root": manifest.merkle_root,
        }))?;
    } else {
        println!(
            "wrote {} ({} files, {} tensors, root {})",
            output.display(),
            manifest.files.len(),
            manifest.tensors.len(),
            manifest.merkle_root
        );
    }
    Ok(Outcome::Fine)
}

/// The lookup fingerprint for the manifest: each tensor's SimHash key (hex and integers
/// only, so the manifest stays free of floats and byte-for-byte reproducible).
fn fingerprints(model: &mlprov_formats::Model) -> serde_json::Map<String, serde_json::Value> {
    let fp = ModelFingerprint::of(model);
    let mut tensors: Vec<_> = fp
        .tensors
        .iter()
        .map(|t| json!({"file": t.file, "name": t.name, "elements": t.elements, "simhash": t.simhash}))
        .collect();
    tensors.sort_by(|a, b| {
        (a["file"].as_str(), a["name"].as_str()).cmp(&(b["file"].as_str(), b["name"].as_str()))
    });
    let mut map = serde_json::Map::new();
    map.insert("sketch".into(), json!(mlprov_fingerprint::SKETCH_VERSION));
    map.insert("tensors".into(), json!(tensors));
    map
}

/// Now, or `SOURCE_DATE_EPOCH` when set (reproducible builds convention), as RFC 3339 UTC.
fn created_now() -> Result<String> {
    let time = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(s) => {
            let secs: u64 = s
                .trim()
                .parse()
                .with_context(|| format!("SOURCE_DATE_EPOCH is not a number of seconds: {s:?}"))?;
            UNIX_EPOCH + Duration::from_secs(secs)
        }
        Err(_) => SystemTime::now(),
    };
    Ok(humantime::format_rfc3339_seconds(time).to_string())
}
