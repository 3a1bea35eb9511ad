//! `mlprov compare A B`: the lineage test, with its verdict, p-value and evidence.

use std::path::Path;

use anyhow::Result;
use mlprov_fingerprint::{
    compare_models, Comparison, FingerprintOptions, ModelFingerprint, PairKind, Verdict,
};
use mlprov_hash::HashOptions;
use serde_json::json;

use crate::output::{print_json, shape};
use crate::Outcome;

/// Runs the lineage test of B against A (what `compare` and `eval` share).
pub fn lineage(a: &Path, b: &Path) -> Result<Comparison> {
    let ma = super::open(a)?;
    let mb = super::open(b)?;
    // Sketches first: a whole copy (same or re-encoded weights) is settled by values alone.
    // Anything else also needs the invariants, which read far more of both models.
    let (fa, fb) = (ModelFingerprint::of(&ma), ModelFingerprint::of(&mb));
    let mut result = compare_models(&ma, &fa, &mb, &fb);
    if !matches!(result.verdict, Verdict::SameWeights | Verdict::ReEncoded) {
        let spin =
            crate::output::spinner("not a whole copy: computing the invariants of both models");
        let options = FingerprintOptions { invariants: true };
        let (fa, fb) = (
            ModelFingerprint::with_options(&ma, options),
            ModelFingerprint::with_options(&mb, options),
        );
        result = compare_models(&ma, &fa, &mb, &fb);
        if let Some(spin) = spin {
            spin.finish_and_clear();
        }
    }
    if same_bytes(&ma, &mb) {
        result.verdict = Verdict::Identical;
    }
    Ok(result)
}

pub fn run(a: &Path, b: &Path, show_pairs: bool, json: bool) -> Result<Outcome> {
    let result = lineage(a, b)?;
    if json {
        print_json(&json!({
            "a": a.display().to_string(),
            "b": b.display().to_string(),
            "verdict": result.verdict.word(),
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

/// Same files with the same bytes (sizes first, then plain digests).
fn same_bytes(a: &mlprov_formats::Model, b: &mlprov_formats::Model) -> bool {
    if a.files.len() != b.files.len() {
        return false;
    }
    let mut sizes_a: Vec<usize> = a.files.iter().map(|f| f.file.len()).collect();
    let mut sizes_b: Vec<usize> = b.files.iter().map(|f| f.file.len()).collect();
    sizes_a.sort_unstable();
    sizes_b.sort_unstable();
    if sizes_a != sizes_b {
        return false;
    }
    let plain = HashOptions {
        plain: true,
        progress: None,
    };
    let digests = |m: &mlprov_formats::Model| {
        let mut d: Vec<_> = mlprov_hash::hash_model(m, plain)
            .files
            .iter()
            .filter_map(|f| f.plain)
            .collect();
        d.sort();
        d
    };
    digests(a) == digests(b)
}

fn print_human(r: &Comparison, show_pairs: bool) {
    println!("verdict: {}", r.verdict.word());
    println!("p-value: 1e{:.1} (null: independent training)", r.log10_p);
    println!(
        "B explained by A: {:.1}% of parameters; A found in B: {:.1}%",
        100.0 * r.explained_share,
        100.0 * r.covered_share
    );
    if !r.transforms.is_empty() {
        let words: Vec<String> = r.transforms.iter().map(ToString::to_string).collect();
        println!("transforms: {}", words.join(", "));
    }
    if !r.layer_map.is_empty() {
        let map: Vec<String> = r
            .layer_map
            .iter()
            .map(|(b, a)| format!("{b}<-{a}"))
            .collect();
        println!("layers (B<-A): {}", map.join(" "));
    }
    let counts = |k: PairKind| r.pairs.iter().filter(|p| p.kind == k).count();
    println!(
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
            println!(
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
