//! `mlprov compare A B`: the lineage test, with its verdict, p-value and evidence.

use std::path::Path;

use anyhow::Result;
use mlprov::fingerprint::{Comparison, OwnChanges, PairKind, Verdict};
use mlprov::Comparable;
use serde_json::json;

use crate::output::{print_json, shape, Terminal};
use crate::Outcome;

pub fn run(
    a: &Path,
    b: &Path,
    base: Option<&Path>,
    show_pairs: bool,
    json: bool,
) -> Result<Outcome> {
    let (ma, mb) = (super::open(a)?, super::open(b)?);
    let base = base.filter(|p| p.as_os_str() != "none");
    let result = match base {
        Some(p) => mlprov::compare_with_base(
            &Comparable::new(ma),
            &Comparable::new(mb),
            &Comparable::new(super::open(p)?),
            &Terminal::default(),
        )?,
        None => mlprov::compare(&ma, &mb, &Terminal::default())?,
    };
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
            "base": base.map(|p| p.display().to_string()),
            "own_changes": result.own_changes,
        }))?;
    } else {
        print_human(&result, show_pairs);
    }
    // A relation found is a finding (exit 1), like a mismatch in verify.
    Ok(match result.verdict {
        Verdict::Unrelated | Verdict::Inconclusive | Verdict::SharesBase => Outcome::Fine,
        _ => Outcome::Finding,
    })
}

fn print_human(r: &Comparison, show_pairs: bool) {
    say!("verdict: {}", r.verdict);
    let related = if r.own_changes.is_some() {
        " that B is related to A at all (base or A's own work)"
    } else {
        ""
    };
    say!(
        "p-value{related}: 1e{:.1} (null: independent training)",
        r.log10_p
    );
    say!(
        "B explained by A: {:.1}% of parameters; A found in B: {:.1}%",
        100.0 * r.explained_share,
        100.0 * r.covered_share
    );
    if let Some(own) = &r.own_changes {
        print_own_changes(own);
    }
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

fn print_own_changes(own: &OwnChanges) {
    if own.changed_tensors == 0 {
        say!("A's own changes: none (A's tensors are its base's)");
        return;
    }
    if !own.tested_any() {
        say!(
            "A's own changes: not located in B ({} of A's {} changed tensors not aligned to the base: rotated, or permuted on both axes); verdict from the plain test",
            own.not_aligned,
            own.changed_tensors
        );
        return;
    }
    say!(
        "A's own changes found in B: {:.1}% (p 1e{:.1}; null: B built from the base independently of A)",
        100.0 * own.share,
        own.log10_p
    );
    say!(
        "  A changed {} tensors by {:.2}% of their scale; tested {}, {} missing in B, {} not aligned; {} values",
        own.changed_tensors,
        100.0 * own.change,
        own.tested,
        own.missing_in_b,
        own.not_aligned,
        own.cells
    );
}
