//! `mlprov compare A B`: the lineage test, with its verdict, p-value and evidence.

use std::path::{Path, PathBuf};

use anyhow::Result;
use mlprov::fingerprint::{Comparison, OwnChanges, PairKind, Verdict};
use mlprov::{Comparable, RecordedBase, RegisteredBaseHint};
use serde_json::json;

use crate::output::{print_json, shape, Terminal};
use crate::Outcome;

/// What `compare` was asked.
pub struct Args<'a> {
    pub a: &'a Path,
    pub b: &'a Path,
    pub base: Option<&'a Path>,
    pub lineage: &'a [PathBuf],
    pub registry: Option<&'a str>,
    pub show_pairs: bool,
    /// Other fine-tunes of the base, whose changes are projected out (`--reference`).
    pub references: &'a [PathBuf],
}

pub fn run(args: Args<'_>, json: bool) -> Result<Outcome> {
    let Args { a, b, .. } = args;
    let reference = mlprov::open_reference(a, args.lineage, super::options())?;
    super::warn_skipped(&reference.model.skipped);
    let mb = super::open(b)?;
    // The base: given, else the one A's manifest records (when its weights are at hand).
    let (base, base_source) = match args.base {
        Some(p) if p.as_os_str() == "none" => (None, None),
        Some(p) => (Some(p.to_path_buf()), Some("given")),
        None => match reference.recorded_base.weights() {
            Some(w) => (Some(w.to_path_buf()), Some("recorded")),
            None => (None, None),
        },
    };
    let hint = match (args.registry, &reference.manifest) {
        (Some(r), Some(m)) if m.lineage.derived_from.is_empty() && args.base.is_none() => {
            let mut store = mlprov::open_registry(Some(r))?;
            mlprov::registered_base_hint(store.as_mut(), &reference.model, m.merkle_root.as_ref())?
        }
        _ => None,
    };
    let (ma, mb) = (Comparable::new(reference.model), Comparable::new(mb));
    let result = match &base {
        Some(p) => {
            let references: Vec<Comparable<'static>> = args
                .references
                .iter()
                .map(|r| super::open(r).map(Comparable::new))
                .collect::<Result<_>>()?;
            mlprov::compare_with_base_and_references(
                &ma,
                &mb,
                &Comparable::new(super::open(p)?),
                &references.iter().collect::<Vec<_>>(),
                &Terminal::default(),
            )?
        }
        None => mlprov::compare_prepared(&ma, &mb, &Terminal::default())?,
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
            "base": base.as_ref().map(|p| p.display().to_string()),
            "base_source": base_source,
            "recorded_base": reference.recorded_base,
            "registered_base_hint": hint,
            "own_changes": result.own_changes,
        }))?;
    } else {
        print_base_notes(
            base.as_deref(),
            base_source,
            &reference.recorded_base,
            hint.as_ref(),
        );
        print_human(&result, args.show_pairs);
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
    if own.references > 0 {
        say!(
            "  what {} reference fine-tune(s) of the base changed was projected out first",
            own.references
        );
    }
}

/// Which base was used and why; what is missing when none could be.
fn print_base_notes(
    base: Option<&Path>,
    source: Option<&str>,
    recorded: &RecordedBase,
    hint: Option<&RegisteredBaseHint>,
) {
    match (base, source) {
        (Some(p), Some("recorded")) => {
            say!("base: {} (recorded in A's manifest)", p.display())
        }
        (Some(p), _) => say!("base: {}", p.display()),
        (None, _) => {}
    }
    if let (None, RecordedBase::NotAtHand { name, why }) = (base, recorded) {
        say!(
            "note: A's manifest records the base `{name}`, but {why}; give its weights with --base PATH to ask whether B carries A's own changes"
        );
    }
    if let Some(h) = hint {
        say!(
            "note: A's manifest records no base, yet A looks derived from registered asset {} `{}` ({} LSH band keys shared); if that is A's base, give its weights with --base PATH",
            h.asset,
            h.name,
            h.band_hits
        );
    }
}
