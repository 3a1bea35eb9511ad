//! `mlprov scan`: find registered models and their derivatives in a deployment.

use std::path::PathBuf;

use anyhow::Result;
use mlprov::{Finding, FindingClass, ScanOptions, ScanReport};
use serde_json::json;

use crate::output::{human_bytes, print_json, Terminal};
use crate::Outcome;

/// How the findings are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Sarif,
}

pub fn run(
    roots: &[PathBuf],
    registry: Option<&str>,
    options: &ScanOptions,
    format: Format,
) -> Result<Outcome> {
    let mut store = mlprov::open_registry(registry)?;
    let report = mlprov::scan(store.as_mut(), roots, options, &Terminal::default())?;
    match format {
        Format::Json => print_json(&report)?,
        Format::Sarif => print_json(&sarif(&report))?,
        Format::Table => table(&report),
    }
    Ok(if report.has_violations() {
        Outcome::Finding
    } else {
        Outcome::Fine
    })
}

fn table(report: &ScanReport) {
    if report.findings.is_empty() {
        say!("no registered model or derivative found");
    } else {
        say!(
            "{:<13} {:>9} {:<9} {:<28} PATH",
            "VERDICT",
            "LOG10 P",
            "LICENSED",
            "ASSET"
        );
    }
    for f in &report.findings {
        match f.class {
            FindingClass::Lineage => {
                asset_row(f, &format!("{:.1}", f.log10_p.unwrap_or(0.0)));
                if !f.transforms.is_empty() {
                    say!("{:>34}{}", "", f.transforms.join(", "));
                }
                if let Some(own) = &f.own_changes {
                    let refs = match own.references {
                        0 => String::new(),
                        n => format!(", {n} public fine-tunes of it as references"),
                    };
                    say!(
                        "{:>34}its own changes from registered base {}: {:.1}% found (p 1e{:.0}; \
                         needed {:.0}%{})",
                        "",
                        own.base_asset,
                        100.0 * own.share,
                        own.log10_p,
                        100.0 * own.share_floor,
                        refs
                    );
                }
            }
            FindingClass::CodeExecution => say!(
                "{:<13} {:>9} {:<9} {:<28} {}",
                "UNSAFE",
                "",
                "no",
                format!("runs `{}`", f.global.as_deref().unwrap_or("?")),
                f.path
            ),
            FindingClass::Dataset => {
                asset_row(f, "");
                if let Some(d) = &f.dataset {
                    say!("{:>34}{}", "", dataset_summary(d));
                }
            }
        }
    }
    for p in &report.problems {
        say!("not scanned: {}: {} ({})", p.path, p.message, p.kind);
    }
    let violations = report.findings.iter().filter(|f| f.is_violation()).count();
    say!(
        "{} files ({}), {} archives, {} models, {} data files: {} findings, {} unlicensed or unsafe, {} not scanned; audit entry {} in {}",
        report.files,
        human_bytes(report.bytes),
        report.archives,
        report.models,
        report.data_files,
        report.findings.len(),
        violations,
        report.problems.len(),
        report.audit_seq,
        report.registry
    );
}

fn licensed_word(f: &Finding) -> String {
    match (&f.check, f.licensed) {
        (Some(c), _) => format!("{} ({c})", if f.licensed { "yes" } else { "no" }),
        (None, true) => "yes".into(),
        (None, false) => "no".into(),
    }
}

/// A finding's row: verdict, log10 p (as given), licensed, asset, path.
fn asset_row(f: &Finding, log10_p: &str) {
    say!(
        "{:<13} {:>9} {:<9} {:<28} {}",
        f.verdict.as_deref().unwrap_or(""),
        log10_p,
        licensed_word(f),
        format!(
            "{} {}",
            f.asset.unwrap_or_default(),
            f.asset_name.as_deref().unwrap_or("")
        ),
        f.path
    );
}

/// "holds 31% (28–34%) of the dataset's records; 50% of its own records are the
/// dataset's; near duplicates of 40% (36–44%)" (an interval only where it is not exact).
fn dataset_summary(d: &mlprov::DatasetOverlap) -> String {
    let share = |x: f64, [lo, hi]: [f64; 2]| {
        let pct = |v: f64| format!("{:.0}%", 100.0 * v);
        if pct(lo) == pct(hi) {
            pct(x)
        } else {
            format!("{} ({}–{})", pct(x), pct(lo), pct(hi))
        }
    };
    let mut text = format!(
        "holds {} of the dataset's records; {} of its own records are the dataset's",
        share(
            d.exact_containment_a_in_b,
            d.exact_containment_a_in_b_interval
        ),
        share(
            d.exact_containment_b_in_a,
            d.exact_containment_b_in_a_interval
        )
    );
    if let (Some(n), Some(i)) = (
        d.near_containment_a_in_b,
        d.near_containment_a_in_b_interval,
    ) {
        text.push_str(&format!("; near duplicates of {}", share(n, i)));
    }
    text
}

/// SARIF 2.1.0: one rule per finding class, one result per finding, problems as
/// tool notifications.
fn sarif(report: &ScanReport) -> serde_json::Value {
    let results: Vec<serde_json::Value> = report
        .findings
        .iter()
        .map(|f| {
            let (rule, text) = match f.class {
                FindingClass::Lineage => (
                    if f.licensed {
                        "mlprov/licensed-derivative"
                    } else {
                        "mlprov/unlicensed-derivative"
                    },
                    format!(
                        "{} of registered asset {} ({}), log10 p {:.1}{}",
                        f.verdict.as_deref().unwrap_or(""),
                        f.asset.unwrap_or_default(),
                        f.asset_name.as_deref().unwrap_or(""),
                        f.log10_p.unwrap_or(0.0),
                        if f.licensed {
                            "; licensed"
                        } else {
                            "; not licensed"
                        }
                    ),
                ),
                FindingClass::Dataset => (
                    if f.licensed {
                        "mlprov/licensed-dataset"
                    } else {
                        "mlprov/unlicensed-dataset"
                    },
                    format!(
                        "records of registered dataset {} ({}): {}{}",
                        f.asset.unwrap_or_default(),
                        f.asset_name.as_deref().unwrap_or(""),
                        f.dataset.as_ref().map(dataset_summary).unwrap_or_default(),
                        if f.licensed {
                            "; licensed"
                        } else {
                            "; not licensed"
                        }
                    ),
                ),
                FindingClass::CodeExecution => (
                    "mlprov/code-execution",
                    format!(
                        "would run `{}` when loaded",
                        f.global.as_deref().unwrap_or("?")
                    ),
                ),
            };
            json!({
                "ruleId": rule,
                "level": if f.is_violation() { "error" } else { "note" },
                "message": { "text": text },
                "locations": [{
                    "physicalLocation": { "artifactLocation": { "uri": uri(&f.path) } }
                }],
                "properties": {
                    "asset": f.asset,
                    "verdict": f.verdict,
                    "log10_p": f.log10_p,
                    "licensed": f.licensed,
                    "check": f.check,
                },
            })
        })
        .collect();
    let notifications: Vec<serde_json::Value> = report
        .problems
        .iter()
        .map(|p| {
            json!({
                "level": "warning",
                "message": { "text": format!("{}: {} ({})", p.path, p.message, p.kind) },
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "mlprov",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://example.invalid/mlprov",
                "rules": [
                    rule("mlprov/unlicensed-derivative", "A copy or derivative of a registered model the scanning party holds no licence for"),
                    rule("mlprov/licensed-derivative", "A copy or derivative of a registered model the scanning party is licensed for"),
                    rule("mlprov/code-execution", "A model file that would run code when loaded"),
                    rule("mlprov/unlicensed-dataset", "A data file holding records of a registered dataset the scanning party holds no licence for"),
                    rule("mlprov/licensed-dataset", "A data file holding records of a registered dataset the scanning party is licensed for"),
                ],
            }},
            "invocations": [{
                "executionSuccessful": true,
                "toolExecutionNotifications": notifications,
            }],
            "results": results,
        }],
    })
}

fn rule(id: &str, text: &str) -> serde_json::Value {
    json!({ "id": id, "shortDescription": { "text": text } })
}

/// A relative URI reference for a path (`%`-escaping what a URI may not hold; the `!`
/// of archive members stays).
fn uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' | b'!' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
