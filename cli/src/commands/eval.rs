//! `mlprov eval PAIRS.tsv`: runs the lineage test over a list of (A, B, expected verdict)
//! and reports how often it is right: a confusion table, AUC, and TPR at fixed FPRs.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::json;

use crate::output::print_json;
use crate::Outcome;

const VERDICTS: [&str; 7] = [
    "identical",
    "same-weights",
    "re-encoded",
    "derived",
    "partial-reuse",
    "unrelated",
    "inconclusive",
];

struct Case {
    a: PathBuf,
    b: PathBuf,
    expected: String,
}

fn read_pairs(list: &Path, root: &Path) -> Result<Vec<Case>> {
    let text =
        fs::read_to_string(list).with_context(|| format!("{}: cannot read", list.display()))?;
    let mut cases = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        let [a, b, expected] = cols.as_slice() else {
            bail!(
                "{}:{}: expected three tab-separated columns: A, B, verdict",
                list.display(),
                n + 1
            );
        };
        if !VERDICTS.contains(expected) {
            bail!(
                "{}:{}: unknown verdict `{expected}` (one of {})",
                list.display(),
                n + 1,
                VERDICTS.join(", ")
            );
        }
        cases.push(Case {
            a: root.join(a),
            b: root.join(b),
            expected: expected.to_string(),
        });
    }
    Ok(cases)
}

/// Area under the ROC curve by the Mann-Whitney statistic (ties count half).
fn auc(positive: &[f64], negative: &[f64]) -> Option<f64> {
    if positive.is_empty() || negative.is_empty() {
        return None;
    }
    let mut wins = 0.0;
    for p in positive {
        for n in negative {
            wins += if p > n {
                1.0
            } else if p == n {
                0.5
            } else {
                0.0
            };
        }
    }
    Some(wins / (positive.len() * negative.len()) as f64)
}

pub fn run(list: &Path, root: Option<&Path>, json: bool) -> Result<Outcome> {
    let root = root
        .map(Path::to_path_buf)
        .unwrap_or_else(|| list.parent().unwrap_or(Path::new(".")).to_path_buf());
    let cases = read_pairs(list, &root)?;
    let mut rows = Vec::new();
    let mut confusion: BTreeMap<(String, String), usize> = BTreeMap::new();
    let (mut pos, mut neg) = (Vec::new(), Vec::new());
    for c in &cases {
        let r = super::compare::lineage(&c.a, &c.b)?;
        let got = r.verdict.word().to_string();
        *confusion
            .entry((c.expected.clone(), got.clone()))
            .or_default() += 1;
        // Score: evidence against independence; a related pair should score high.
        let score = -r.log10_p;
        if c.expected == "unrelated" {
            neg.push(score);
        } else {
            pos.push(score);
        }
        if !json {
            let mark = if got == c.expected { "ok  " } else { "MISS" };
            println!(
                "{mark} {:<14} expected {:<14} log10 p {:>12.1}  {} | {}",
                got,
                c.expected,
                r.log10_p,
                c.a.display(),
                c.b.display()
            );
        }
        rows.push(json!({"a": c.a, "b": c.b, "expected": c.expected, "verdict": got, "log10_p_value": r.log10_p}));
    }
    let correct = rows
        .iter()
        .filter(|r| r["expected"] == r["verdict"])
        .count();
    let rate = |scores: &[f64], log10_p: f64| {
        if scores.is_empty() {
            None
        } else {
            Some(scores.iter().filter(|&&s| s > -log10_p).count() as f64 / scores.len() as f64)
        }
    };
    let at = |t: f64| json!({"p_below": 10f64.powf(t), "tpr": rate(&pos, t), "fpr": rate(&neg, t)});
    let summary = json!({
        "pairs": cases.len(),
        "correct": correct,
        "auc": auc(&pos, &neg),
        "at_thresholds": [at(-3.0), at(-6.0)],
        "related_pairs": pos.len(),
        "unrelated_pairs": neg.len(),
    });
    if json {
        let table: Vec<_> = confusion
            .iter()
            .map(|((e, g), n)| json!({"expected": e, "verdict": g, "count": n}))
            .collect();
        print_json(&json!({"results": rows, "confusion": table, "summary": summary}))?;
    } else {
        println!("\nconfusion (rows: expected, columns: verdict)");
        let used: Vec<&str> = VERDICTS
            .iter()
            .copied()
            .filter(|v| confusion.keys().any(|(e, g)| e == v || g == v))
            .collect();
        print!("{:<14}", "");
        used.iter().for_each(|v| print!(" {v:>13}"));
        println!();
        for e in &used {
            print!("{e:<14}");
            for g in &used {
                print!(
                    " {:>13}",
                    confusion
                        .get(&(e.to_string(), g.to_string()))
                        .copied()
                        .unwrap_or(0)
                );
            }
            println!();
        }
        println!("\n{correct} of {} verdicts as expected", cases.len());
        match auc(&pos, &neg) {
            Some(a) => println!("AUC (related vs unrelated, score -log10 p): {a:.4}"),
            None => println!("AUC: needs both related and unrelated pairs"),
        }
        for t in [-3.0, -6.0] {
            let show = |x: Option<f64>| x.map_or("n/a".to_string(), |v| format!("{v:.3}"));
            println!(
                "at p < 1e{t}: TPR {}, FPR {}",
                show(rate(&pos, t)),
                show(rate(&neg, t))
            );
        }
    }
    Ok(if correct == cases.len() {
        Outcome::Fine
    } else {
        Outcome::Finding
    })
}
