//! `mlprov compare A B`: the lineage test, with its verdict, p-value and evidence.

use std::path::Path;

use anyhow::Result;
use mlprov::fingerprint::{Comparison, PairKind, Verdict};
use serde_json::json;

use crate::output::{print_json, shape, Terminal};
use crate::Outcome;

pub fn run(a: &Path, b: &Path, show_pairs: bool, json: bool) -> Result<Outcome> {
    let (ma, mb) = (super::open(a)?, super::open(b)?);
    let result = mlprov::compare(&ma, &mb, &Terminal::default())?;
    if json {
        print_json(&json!({
            "a": a.display().to_string(),
            "b": b.display().to_string(),
            "verdict": result.verdict,
            "p_value": 10f64.powf(result.log10_p),
            "log10_p_value": result.log10_p,
            "explained_share": result.explained_share,
            "covered_share": result.covered_share,
            "transforms": result.transforms,
            "layer_map": result.layer_map,
            "pairs": result.pairs,
            "unmatched": result.unmatched,
            "null_hypothesis": result.null_hypothesis,
        }))?;
    } else {
        print_human(&result, show_pairs);
    }
    // A relation found is a finding (exit 1), like a mismatch in verify.
    Ok(match result.verdict {
        Verdict::Unrelated | Verdict::Inconclusive => Outcome::Fine,
        _ => Outcome::Finding,
    })
}

fn print_human(r: &Comparison, show_pairs: bool) {
    say!("verdict: {}", r.verdict);
    say!("p-value: 1e{:.1} (null: independent training)", r.log10_p);
    say!(
        "B explained by A: {:.1}% of parameters; A found in B: {:.1}%",
        100.0 * r.explained_share,
        100.0 * r.covered_share
    );
    if !r.transforms.is_empty() {
        let words: Vec<String> = r.transforms.iter().map(|t| t.to_string()).collect();
        say!("transforms: {}", words.join(", "));
    }
    if !r.layer_map.is_empty() {
        let map: Vec<String> = r
            .layer_map
            .iter()
            .map(|(b, a)| format!("{b}<-{a}"))
            .collect();
        say!("layers (B<-A): {}", map.join(" "));
    }
    let counts = |k: PairKind| r.pairs.iter().filter(|p| p.kind == k).count();
    say!(
        "tensor pairs: {} same values, {} re-encoded, {} correlated, {} fixed buffers, {} unrelated; {} of B unmatched",
        counts(PairKind::SameValues),
        counts(PairKind::ReEncoded),
        counts(PairKind::Correlated),
        counts(PairKind::FixedBuffer),
        counts(PairKind::Unrelated),
        r.unmatched.len()
    );
    if show_pairs {
        for p in &r.pairs {
            say!(
                "  {:<12} {:<12} r={:.4} log10p={:<9.1} {} {} <- {} {}{}",
                format!("{:?}", p.kind),
                p.channel,
                p.correlation,
                p.log10_p,
                p.b.name,
                shape(&p.b.shape),
                p.a.name,
                shape(&p.a.shape),
                if p.transposed { " (transposed)" } else { "" }
            );
        }
    }
}
