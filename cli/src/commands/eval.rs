//! `mlprov eval PAIRS.tsv`: the lineage test over pairs with known relations: a confusion
//! table, AUC, and TPR/FPR at the test's thresholds.

use std::path::Path;

use anyhow::Result;
use mlprov::fingerprint::Verdict;
use mlprov::{EvalReport, EvalRow};

use crate::output::{print_json, Terminal};
use crate::Outcome;

pub fn run(list: &Path, root: Option<&Path>, json: bool) -> Result<Outcome> {
    let mut print_row = |r: &EvalRow| {
        if !json {
            let mark = if r.verdict == r.expected {
                "ok  "
            } else {
                "MISS"
            };
            say!(
                "{mark} {:<14} expected {:<14} log10 p {:>12.1}  {} | {}",
                r.verdict.word(),
                r.expected.word(),
                r.log10_p_value,
                r.a.display(),
                r.b.display()
            );
        }
    };
    let report = mlprov::eval(
        list,
        root,
        super::options(),
        &Terminal::default(),
        &mut print_row,
    )?;
    if json {
        print_json(&report)?;
    } else {
        print_summary(&report);
    }
    Ok(if report.all_correct() {
        Outcome::Fine
    } else {
        Outcome::Finding
    })
}

fn print_summary(report: &EvalReport) {
    say!("");
    say!("confusion (rows: expected, columns: verdict)");
    let used: Vec<Verdict> = Verdict::ALL
        .into_iter()
        .filter(|&v| {
            report
                .confusion
                .iter()
                .any(|c| c.expected == v || c.verdict == v)
        })
        .collect();
    let mut header = format!("{:<14}", "");
    used.iter()
        .for_each(|v| header += &format!(" {:>13}", v.word()));
    say!("{header}");
    for &e in &used {
        let mut row = format!("{:<14}", e.word());
        used.iter()
            .for_each(|&g| row += &format!(" {:>13}", report.count(e, g)));
        say!("{row}");
    }
    let s = &report.summary;
    say!("");
    say!("{} of {} verdicts as expected", s.correct, s.pairs);
    if s.inconclusive_pairs > 0 {
        say!(
            "{} pairs expected inconclusive: counted in neither rate",
            s.inconclusive_pairs
        );
    }
    match s.auc {
        Some(a) => say!("AUC (related vs unrelated, score -log10 p): {a:.4}"),
        None => say!("AUC: needs both related and unrelated pairs"),
    }
    let show = |x: Option<f64>| x.map_or("n/a".to_string(), |v| format!("{v:.3}"));
    for t in &s.at_thresholds {
        say!(
            "at p < {:e}: TPR {}, FPR {}",
            t.p_below,
            show(t.tpr),
            show(t.fpr)
        );
    }
}
