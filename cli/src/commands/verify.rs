//! `mlprov verify`: re-hash a model and report every difference from its manifest.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use mlprov_formats::{open_model, Layout, OpenOptions};
use mlprov_manifest::{verify, Manifest, Status};
use serde_json::json;

use crate::output::print_json;
use crate::Outcome;

/// Largest manifest we read; real ones are a few megabytes at most.
const MAX_MANIFEST_BYTES: u64 = 512 << 20;

pub fn run(manifest_path: &Path, path: Option<&Path>, json: bool) -> Result<Outcome> {
    let manifest = read_manifest(manifest_path)?;
    let target: PathBuf = match path {
        Some(p) => p.to_path_buf(),
        None => manifest_path
            .parent()
            .unwrap_or(Path::new("."))
            .join(&manifest.subject.name),
    };
    if !target.exists() {
        bail!(
            "{}: model not found (give its path after the manifest)",
            target.display()
        );
    }
    let mut model = open_model(&target, OpenOptions { keep_going: true })?;
    crate::output::warn_skipped(&model);
    // A single file is compared with the manifest's single file whatever it is called now.
    if model.layout == Layout::File
        && manifest.subject.layout == "file"
        && manifest.files.len() == 1
    {
        let recorded = manifest.files[0].path.clone();
        model
            .files
            .iter_mut()
            .for_each(|f| f.rel_path = recorded.clone());
        model
            .unreadable
            .iter_mut()
            .for_each(|f| f.rel_path = recorded.clone());
    }
    let digests = super::hash_with_progress(&model, false);
    let unreadable: Vec<(String, String)> = model
        .unreadable
        .iter()
        .map(|u| (u.rel_path.clone(), u.error.kind.to_string()))
        .collect();
    let report = verify(&manifest, &digests, &unreadable);
    let ok = report.is_ok();

    if json {
        print_json(&json!({
            "manifest": manifest_path.display().to_string(),
            "path": target.display().to_string(),
            "ok": ok,
            "files": report.files,
            "tensors": report.tensors,
            "root": report.root,
        }))?;
    } else {
        for f in &report.files {
            let detail = f
                .problem
                .as_deref()
                .map(|p| format!("  ({p})"))
                .unwrap_or_default();
            println!("{:<8} {}{detail}", label(f.status), f.path);
            for t in report.tensors.iter().filter(|t| t.file == f.path) {
                match &t.renamed_from {
                    Some(from) => println!("  {:<8} {} (was {from})", label(t.status), t.name),
                    None => println!("  {:<8} {}", label(t.status), t.name),
                }
            }
        }
        let count = |s: Status| report.files.iter().filter(|f| f.status == s).count();
        if ok {
            println!(
                "verify: OK ({} files, {} tensors, root {})",
                report.files.len(),
                manifest.tensors.len(),
                report.root.actual
            );
        } else {
            println!(
                "verify: MISMATCH ({} changed, {} missing, {} extra files; {} tensor differences; root {})",
                count(Status::Changed),
                count(Status::Missing),
                count(Status::Extra),
                report.tensors.len(),
                if report.root.matches { "matches" } else { "differs" }
            );
        }
    }
    Ok(if ok { Outcome::Fine } else { Outcome::Finding })
}

fn read_manifest(path: &Path) -> Result<Manifest> {
    let meta = fs::metadata(path).with_context(|| format!("{}: cannot read", path.display()))?;
    if meta.len() > MAX_MANIFEST_BYTES {
        bail!(
            "{}: {} bytes is too large for a manifest",
            path.display(),
            meta.len()
        );
    }
    let text =
        fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))?;
    Manifest::parse(&text).with_context(|| path.display().to_string())
}

fn label(s: Status) -> &'static str {
    match s {
        Status::Ok => "OK",
        Status::Changed => "CHANGED",
        Status::Missing => "MISSING",
        Status::Extra => "EXTRA",
        Status::Renamed => "RENAMED",
    }
}
