//! `mlprov verify`: re-hash a model and report every difference from its manifest.

use std::path::Path;

use anyhow::Result;
use mlprov::manifest::Status;
use serde_json::json;

use crate::output::{print_json, warn_skipped, Terminal};
use crate::Outcome;

pub fn run(manifest_path: &Path, path: Option<&Path>, json: bool) -> Result<Outcome> {
    let v = mlprov::verify(manifest_path, path, super::options(), &Terminal::default())?;
    warn_skipped(&v.skipped);
    let report = &v.report;
    if !json {
        say!("checked: {}", v.target.display());
    }
    if json {
        print_json(&json!({
            "manifest": manifest_path.display().to_string(),
            "path": v.target.display().to_string(),
            "ok": v.is_ok(),
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
            say!("{:<8} {}{detail}", label(f.status), f.path);
            for t in report.tensors.iter().filter(|t| t.file == f.path) {
                match &t.renamed_from {
                    Some(from) => say!("  {:<8} {} (was {from})", label(t.status), t.name),
                    None => say!("  {:<8} {}", label(t.status), t.name),
                }
            }
        }
        let count = |s: Status| report.files.iter().filter(|f| f.status == s).count();
        if v.is_ok() {
            say!(
                "verify: OK ({} files, {} tensors, root {})",
                report.files.len(),
                v.manifest.tensors.len(),
                report.root.actual
            );
        } else {
            say!(
                "verify: MISMATCH ({} changed, {} missing, {} extra files; {} tensor differences; root {})",
                count(Status::Changed),
                count(Status::Missing),
                count(Status::Extra),
                report.tensors.len(),
                if report.root.matches { "matches" } else { "differs" }
            );
        }
    }
    Ok(if v.is_ok() {
        Outcome::Fine
    } else {
        Outcome::Finding
    })
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
