//! From the classified pairs to the conclusion: one function per part of it (shares,
//! combined p-value, verdict, layer map, transforms).

use std::collections::{BTreeMap, BTreeSet};

use super::result::{Comparison, PairKind, TensorPair};
use super::words::{Channel, Transform, Verdict};
use crate::model::ModelFingerprint;
use crate::names::layer_of;
use crate::stats::combine_log10_p;
use crate::thresholds::{
    is_index_dtype, COMPLETE_SHARE, DERIVED_SHARE, MIN_CELLS_FOR_UNRELATED, NULL_HYPOTHESIS,
    RESCALING_MIN_SPREAD, RESCALING_SPREAD_OVER_ERROR, SIGNIFICANT_LOG10_P, UNRELATED_LOG10_P,
};

/// Builds the comparison from B's pairs, its unmatched tensors and the layer alignment.
pub(crate) fn summarize(
    fa: &ModelFingerprint,
    fb: &ModelFingerprint,
    pairs: Vec<TensorPair>,
    unmatched: Vec<String>,
    alignment: Option<Vec<(u32, Option<u32>)>>,
) -> Comparison {
    let shares = Shares::of(fa, fb, &pairs);
    // Every fingerprinted tensor of B not set aside as a fixed buffer could have given
    // the smallest term: the Bonferroni factor of the min-p term.
    let fixed = pairs
        .iter()
        .filter(|p| p.kind == PairKind::FixedBuffer)
        .count();
    let tests = fb.tensors.len().saturating_sub(fixed).max(1);
    let (log10_p, cells) = combined_log10_p(&pairs, tests);
    let verdict = verdict(&pairs, &shares, log10_p, cells);
    let layer_map = layer_map(&pairs, alignment.as_deref());
    let transforms = transforms(fa, &pairs, &layer_map);
    Comparison {
        verdict,
        log10_p,
        explained_share: shares.explained,
        covered_share: shares.covered,
        transforms,
        layer_map,
        pairs,
        unmatched,
        null_hypothesis: NULL_HYPOTHESIS,
        own_changes: None,
    }
}

/// What share of each model the pairs account for.
struct Shares {
    /// B's parameters, fixed buffers left out.
    b_learned: f64,
    /// Share of B's learned parameters A explains.
    explained: f64,
    /// Share of A's learned parameters found again in B.
    covered: f64,
}

impl Shares {
    fn of(fa: &ModelFingerprint, fb: &ModelFingerprint, pairs: &[TensorPair]) -> Self {
        let total_b: f64 = fb.tensors.iter().map(|t| t.elements as f64).sum();
        let total_a: f64 = fa.tensors.iter().map(|t| t.elements as f64).sum();
        let fixed: f64 = pairs
            .iter()
            .filter(|p| p.kind == PairKind::FixedBuffer)
            .map(|p| p.elements as f64)
            .sum();
        let b_learned = total_b - fixed;
        let mut shares = Shares {
            b_learned,
            explained: 0.0,
            covered: 0.0,
        };
        // Rows B added are not A's: only the part of a grown tensor A has counts.
        shares.explained = shares.of_kinds(
            pairs,
            &[
                PairKind::SameValues,
                PairKind::ReEncoded,
                PairKind::Correlated,
            ],
        );
        // What of A reappears in B: a truncated tensor covers only the part B kept.
        // (At most 1: a tied embedding matched by both of B's untied copies counts once.)
        let covered: f64 = pairs
            .iter()
            .filter(|p| p.kind.related())
            .map(|p| p.explained_elements() as f64)
            .sum();
        shares.covered = if total_a > fixed {
            (covered / (total_a - fixed)).min(1.0) + 0.0
        } else {
            0.0
        };
        shares
    }

    /// Share of B's learned parameters that A explains through pairs of these kinds.
    /// (`+ 0.0` turns the -0.0 an empty f64 sum gives into 0.0.)
    fn of_kinds(&self, pairs: &[TensorPair], kinds: &[PairKind]) -> f64 {
        let n: f64 = pairs
            .iter()
            .filter(|p| kinds.contains(&p.kind))
            .map(|p| p.explained_elements() as f64)
            .sum();
        if self.b_learned > 0.0 {
            n / self.b_learned + 0.0
        } else {
            0.0
        }
    }
}

/// The combined p-value (log10) over the pairs that carry evidence, and the values they
/// compared: the smaller of Stouffer's weighted sum and Bonferroni's min-p term, so one
/// strong tensor (a copied embedding in a new model) is not diluted by the rest.
fn combined_log10_p(pairs: &[TensorPair], tests: usize) -> (f64, usize) {
    let evidence = pairs.iter().filter(|p| p.kind != PairKind::FixedBuffer);
    let cells = evidence.clone().map(|p| p.cells).sum();
    let terms = evidence.map(|p| ((p.elements as f64).sqrt(), p.evidence_log10_p));
    (combine_log10_p(terms, tests), cells)
}

/// The verdict from the pairs, the shares and the combined p-value.
fn verdict(pairs: &[TensorPair], shares: &Shares, log10_p: f64, cells: usize) -> Verdict {
    let evidence: Vec<&TensorPair> = pairs
        .iter()
        .filter(|p| p.kind != PairKind::FixedBuffer)
        .collect();
    if evidence.is_empty() {
        return Verdict::Inconclusive;
    }
    // A whole copy is one-to-one (B holding some of A's tensors twice, depth upscaling, is
    // a derivative even when every value is A's) and adds nothing (a tensor that gained
    // rows, an extended vocabulary, is a modification).
    let mut uses: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for p in pairs.iter().filter(|p| p.kind.related()) {
        *uses
            .entry((p.a.file.as_str(), p.a.name.as_str()))
            .or_default() += 1;
    }
    let one_to_one = uses.values().all(|&n| n == 1);
    let grew = pairs.iter().any(|p| p.kind.related() && p.grew());
    let whole_a = shares.covered >= COMPLETE_SHARE && one_to_one && !grew;
    let exact = shares.of_kinds(pairs, &[PairKind::SameValues]);
    let encoded = shares.of_kinds(pairs, &[PairKind::SameValues, PairKind::ReEncoded]);
    if whole_a && exact >= COMPLETE_SHARE {
        Verdict::SameWeights
    } else if whole_a && encoded >= COMPLETE_SHARE {
        Verdict::ReEncoded
    } else if log10_p < SIGNIFICANT_LOG10_P {
        // Derived means most of B comes from A, by parameters and by tensors alike: large
        // embeddings alone carried over into an otherwise new network are partial reuse.
        let tensors = evidence.len() as f64;
        let related = evidence.iter().filter(|p| p.kind.related()).count() as f64;
        if shares.explained >= DERIVED_SHARE && related / tensors >= DERIVED_SHARE {
            Verdict::Derived
        } else {
            Verdict::PartialReuse
        }
    } else if log10_p > UNRELATED_LOG10_P && cells >= MIN_CELLS_FOR_UNRELATED {
        Verdict::Unrelated
    } else {
        Verdict::Inconclusive
    }
}

/// B's layers aligned to A's, kept where a related pair joins them; without an
/// alignment, for each B layer the A layer most of its related tensors came from.
fn layer_map(pairs: &[TensorPair], alignment: Option<&[(u32, Option<u32>)]>) -> Vec<(u32, u32)> {
    let mut votes: BTreeMap<u32, BTreeMap<u32, usize>> = BTreeMap::new();
    for p in pairs.iter().filter(|p| p.kind.related()) {
        if let (Some(la), Some(lb)) = (layer_of(&p.a.name), layer_of(&p.b.name)) {
            *votes.entry(lb).or_default().entry(la).or_default() += 1;
        }
    }
    match alignment {
        Some(map) => map
            .iter()
            .filter_map(|&(lb, la)| la.map(|la| (lb, la)))
            .filter(|(lb, la)| votes.get(lb).is_some_and(|v| v.contains_key(la)))
            .collect(),
        None => votes
            .iter()
            .filter_map(|(&lb, v)| v.iter().max_by_key(|(_, &n)| n).map(|(&la, _)| (lb, la)))
            .collect(),
    }
}

/// The transforms seen in the related pairs and the layer map, sorted by their words.
fn transforms(
    fa: &ModelFingerprint,
    pairs: &[TensorPair],
    layer_map: &[(u32, u32)],
) -> Vec<Transform> {
    let mut seen: Vec<Transform> = Vec::new();
    let mut a_order = Vec::new();
    for p in pairs.iter().filter(|p| p.kind.related()) {
        seen.extend(pair_transforms(p));
        a_order.push(
            fa.tensors
                .iter()
                .position(|t| t.name == p.a.name && t.file == p.a.file),
        );
    }
    if a_order.windows(2).any(|w| w[0] > w[1]) {
        seen.push(Transform::Reordered);
    }
    if pairs.iter().any(|p| p.kind == PairKind::FixedBuffer) {
        seen.push(Transform::FixedBuffersIgnored);
    }
    seen.extend(layer_transforms(fa, layer_map));
    let mut by_word: BTreeMap<String, Transform> = BTreeMap::new();
    for t in seen {
        by_word.entry(t.to_string()).or_insert(t);
    }
    by_word.into_values().collect()
}

/// What one related pair shows.
fn pair_transforms(p: &TensorPair) -> Vec<Transform> {
    let mut out = Vec::new();
    // Index buffers are never paired with weights; a dtype change between them and a
    // float tensor would be no transform of the weights.
    if p.a.dtype != p.b.dtype && !is_index_dtype(&p.a.dtype) && !is_index_dtype(&p.b.dtype) {
        out.push(Transform::Dtype {
            from: p.a.dtype.clone(),
            to: p.b.dtype.clone(),
        });
    }
    if p.transposed {
        out.push(Transform::Transposed);
    }
    if p.a.name != p.b.name {
        out.push(Transform::Renamed);
    }
    match p.elements.cmp(&p.a_elements()) {
        std::cmp::Ordering::Less => out.push(Transform::RowsTruncated),
        std::cmp::Ordering::Greater => out.push(Transform::RowsAdded),
        std::cmp::Ordering::Equal => {}
    }
    if p.row_blocks.is_some() {
        out.push(Transform::RowBlocksReordered);
    }
    // Fitted scales spread by more than the residual error explains: real rescaling,
    // not noise or quantization error moving the fit.
    if p.scale_spread > RESCALING_MIN_SPREAD
        && p.scale_spread > RESCALING_SPREAD_OVER_ERROR * p.relative_error
    {
        out.push(Transform::PerChannelRescaling);
    }
    if p.kind == PairKind::Correlated && p.channel == Channel::Values {
        out.push(Transform::ValuesChanged);
    }
    if p.channel != Channel::Values {
        out.push(Transform::MatchedByInvariants);
    }
    out
}

/// What the layer map shows: layers dropped, repeated or re-indexed.
fn layer_transforms(fa: &ModelFingerprint, layer_map: &[(u32, u32)]) -> Vec<Transform> {
    let mut out = Vec::new();
    let a_layers: BTreeSet<u32> = fa
        .tensors
        .iter()
        .filter_map(|t| layer_of(&t.name))
        .collect();
    let kept: BTreeSet<u32> = layer_map.iter().map(|&(_, la)| la).collect();
    if !kept.is_empty() && kept.len() < a_layers.len() {
        out.push(Transform::LayersDropped {
            kept: kept.len(),
            of: a_layers.len(),
        });
    }
    let mut sources: Vec<u32> = layer_map.iter().map(|&(_, la)| la).collect();
    sources.sort_unstable();
    if sources.windows(2).any(|w| w[0] == w[1]) {
        out.push(Transform::LayersRepeated);
    }
    if layer_map.iter().any(|(lb, la)| lb != la) {
        out.push(Transform::LayersReindexed);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::result::TensorRef;

    fn pair(
        name: &str,
        a_shape: &[usize],
        b_shape: &[usize],
        kind: PairKind,
        ev: f64,
    ) -> TensorPair {
        let r = |shape: &[usize]| TensorRef {
            file: "m.safetensors".into(),
            name: name.into(),
            dtype: "F32".into(),
            shape: shape.to_vec(),
        };
        TensorPair {
            a: r(a_shape),
            b: r(b_shape),
            elements: b_shape.iter().product::<usize>() as u64,
            correlation: 0.0,
            cells: 1024,
            transposed: false,
            channel: Channel::Values,
            row_blocks: None,
            candidates: 1,
            log10_p: ev,
            evidence_log10_p: ev,
            relative_error: 0.0,
            scale_spread: 0.0,
            kind,
        }
    }

    #[test]
    fn one_strong_term_is_not_diluted() {
        let mut pairs = vec![pair(
            "emb",
            &[100, 10],
            &[100, 10],
            PairKind::SameValues,
            -300.0,
        )];
        for i in 0..20 {
            let name = format!("w{i}");
            pairs.push(pair(
                &name,
                &[100, 100],
                &[100, 100],
                PairKind::Unrelated,
                -0.3,
            ));
        }
        let (log10_p, cells) = combined_log10_p(&pairs, 21);
        assert_eq!(cells, 21 * 1024);
        assert!(
            (log10_p - (-300.0 + 21f64.log10())).abs() < 1e-9,
            "{log10_p}"
        );
    }

    #[test]
    fn added_rows_are_not_explained_and_make_a_derivative() {
        let pairs = vec![
            pair("emb", &[100, 10], &[110, 10], PairKind::SameValues, -300.0),
            pair("w", &[100, 10], &[100, 10], PairKind::SameValues, -300.0),
        ];
        let p = &pairs[0];
        assert!(p.grew() && p.explained_elements() == 1000);
        assert_eq!(pair_transforms(p), vec![Transform::RowsAdded]);
        let shares = Shares {
            b_learned: 2100.0,
            explained: 2000.0 / 2100.0,
            covered: 1.0,
        };
        assert!((shares.of_kinds(&pairs, &[PairKind::SameValues]) - 2000.0 / 2100.0).abs() < 1e-12);
        assert_eq!(verdict(&pairs, &shares, -300.0, 2048), Verdict::Derived);
    }
}
