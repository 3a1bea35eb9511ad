//! `mlprov manifest`: write the provenance manifest of a model.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use mlprov_manifest::{Manifest, Subject};
use serde_json::json;

use crate::output::print_json;
use crate::Outcome;

pub fn run(path: &Path, output: &Path, force: bool, json: bool) -> Result<Outcome> {
    if output.exists() && !force {
        bail!(
            "{}: already exists (pass --force to replace it)",
            output.display()
        );
    }
    let model = super::open(path)?;
    let digests = super::hash_with_progress(&model, false);
    let subject = Subject {
        kind: "model".to_string(),
        name: model.name(),
        layout: model.layout.name().to_string(),
    };
    let manifest =
        Manifest::from_digests(subject, &digests, env!("CARGO_PKG_VERSION"), created_now()?);
    write_atomically(output, manifest.to_pretty_json().as_bytes())?;
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

/// Writes through a temporary file in the same directory, so an interrupted run never
/// leaves a half-written manifest in place of the user's file.
fn write_atomically(target: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = target
        .file_name()
        .with_context(|| format!("{}: not a file path", target.display()))?;
    let tmp = dir.join(format!(
        ".{}.{}.part",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, target)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("{}: cannot write", target.display()));
    }
    Ok(())
}
