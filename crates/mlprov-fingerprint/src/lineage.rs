//! The lineage test: is model B (or part of it) derived from model A?
//!
//! 1. Every tensor of B is compared with every shape-compatible tensor of A (same shape,
//!    transposed, or one dimension cut or extended) through their sketches, Gram sketches
//!    and anchored kernels; names are never evidence.
//! 2. Where both models number their layers, B's layers are aligned to A's in order
//!    ([`crate::align`]) and each tensor's candidates restricted to its aligned layer,
//!    unless its values contradict that label (see [`NAME_OVERRULE_Z`]).
//! 3. Tensors are paired greedily by strength of evidence, one-to-one (then repeats).
//! 4. Each pair is checked on exact values at the common sampled positions
//!    ([`crate::exact`]): same values, the same values through a lossy encoding, or merely
//!    correlated.
//! 5. Evidence: each pair's correlation gives a Fisher z; a Šidák correction for the
//!    candidates it was picked from turns it into a conservative p-value; pairs combine by
//!    Stouffer's method weighted by √(elements), so large learned tensors count most, or
//!    by Bonferroni's min-p where one tensor's evidence is stronger than the sum (a copied
//!    embedding in a new model). A bit-exact copy is credited with what exact equality
//!    of its values means ([`crate::exact::bit_exact_log10_p`]). Integer index buffers are
//!    paired only with each other. Exact copies of fixed buffers (see
//!    [`crate::structure`]) are left out. The verdict,
//!    shares, transforms and layer map follow in [`crate::report`].

use std::collections::BTreeMap;

use mlprov_formats::Model;
use rayon::prelude::*;

use crate::align::{align_layers, LayerScores};
use crate::anchored::{compare_kernels, residual_width};
use crate::exact::{
    bit_exact_log10_p, encoding_tolerance, equal_elements, equal_up_to_row_blocks, exact_check,
    ExactCheck,
};
use crate::gram::compare_gram;
use crate::model::{ModelFingerprint, TensorFingerprint};
use crate::names::layer_of;
use crate::report::{summarize, Channel, Comparison, PairKind, TensorPair, TensorRef};
use crate::sketch::{compare_prepared, Exchangeable, PreparedSketch};
use crate::stats::{log10_normal_tail, log10_sidak};
use crate::thresholds::{
    is_index_dtype, ANCHORED_NULL_CORRELATION, FIXED_BUFFER_CORRELATION, GRAM_NULL_CORRELATION,
    NAME_OVERRULE_Z, RE_ENCODED_MIN_CORRELATION, SIGNIFICANT_LOG10_P, VALUES_AGREE_CORRELATION,
};
use crate::values::{Source, Values};

fn tensor_ref(t: &TensorFingerprint) -> TensorRef {
    TensorRef {
        file: t.file.clone(),
        name: t.name.clone(),
        dtype: t.dtype.clone(),
        shape: t.shape.clone(),
    }
}

fn view<'m>(model: &'m Model, t: &TensorFingerprint) -> Option<Source<'m>> {
    model
        .files
        .iter()
        .find(|f| f.rel_path == t.file)
        .and_then(|f| Values::of(&f.file, &t.name))
        .map(Source::Weights)
}

/// Compares B against A. Both models must be the ones their fingerprints were taken from.
pub fn compare_models(
    a: &Model,
    fa: &ModelFingerprint,
    b: &Model,
    fb: &ModelFingerprint,
) -> Comparison {
    compare_sources(&|t| view(a, t), fa, &|t| view(b, t), fb)
}

/// Compares B against a registered model known only by its fingerprint, taken with
/// samples ([`crate::FingerprintOptions::samples`]): the same test as [`compare_models`]
/// with A's weights, reading A's values from the samples. The verdict is the one the
/// weights give; a bit-exact copy is credited with the sampled values that agree rather
/// than every value of the tensor, so its p-value is less extreme. A tensor fingerprinted
/// without a sample is compared on its sketch and invariants only.
pub fn compare_registered(fa: &ModelFingerprint, b: &Model, fb: &ModelFingerprint) -> Comparison {
    compare_sources(&sampled, fa, &|t| view(b, t), fb)
}

/// Compares two registered models known only by their fingerprints (both taken with
/// samples), as [`compare_registered`] does with B's weights: used to pair a registered
/// model's tensors with its registered base's.
pub fn compare_fingerprints(fa: &ModelFingerprint, fb: &ModelFingerprint) -> Comparison {
    compare_sources(&sampled, fa, &sampled, fb)
}

/// A tensor's values as its stored sample holds them.
fn sampled(t: &TensorFingerprint) -> Option<Source<'_>> {
    t.sample.as_ref().map(|s| Source::Sample(&t.sketch, s))
}

/// The lineage test, reading A's values through `a_values` and B's through `b_values`.
fn compare_sources<'a, 'b>(
    a_values: &(dyn Fn(&'a TensorFingerprint) -> Option<Source<'a>> + Sync),
    fa: &'a ModelFingerprint,
    b_values: &(dyn Fn(&'b TensorFingerprint) -> Option<Source<'b>> + Sync),
    fb: &'b ModelFingerprint,
) -> Comparison {
    // Anchored kernels compare only over the same anchor tokens and residual width.
    let anchored = match (&fa.anchors, &fb.anchors) {
        (Some(x), Some(y)) => x.ids == y.ids && x.width == y.width,
        _ => false,
    };
    // The residual width of A tells which axis of a tensor the value test may shuffle.
    let width = match &fa.anchors {
        Some(set) => Some(set.width as usize),
        None => residual_width(&fa.tensors),
    };
    // 1. Every channel of every shape-compatible candidate, per tensor of B.
    let prepare = |f: &ModelFingerprint| -> Vec<PreparedSketch> {
        f.tensors
            .par_iter()
            .map(|t| PreparedSketch::of(&t.sketch))
            .collect()
    };
    let (pa, pb) = (prepare(fa), prepare(fb));
    let scored: Vec<Vec<(usize, Hit)>> = fb
        .tensors
        .par_iter()
        .zip(&pb)
        .map(|(tb, pb)| {
            fa.tensors
                .iter()
                .zip(&pa)
                .enumerate()
                .filter_map(|(ia, (ta, pa))| {
                    best_hit((ta, pa), (tb, pb), anchored, width).map(|h| (ia, h))
                })
                .collect()
        })
        .collect();

    // 2. Order-preserving alignment of layers (where both models name them), which then
    //    restricts each tensor's candidates to its aligned layer.
    let alignment = layer_alignment(fa, fb, &scored);
    let la_of: Vec<Option<u32>> = fa.tensors.iter().map(|t| layer_of(&t.name)).collect();
    let lb_of: Vec<Option<u32>> = fb.tensors.iter().map(|t| layer_of(&t.name)).collect();
    let aligned: BTreeMap<u32, u32> = alignment
        .iter()
        .flatten()
        .filter_map(|&(lb, la)| la.map(|la| (lb, la)))
        .collect();
    let labelled = |ib: usize, ia: usize| match lb_of[ib].and_then(|lb| aligned.get(&lb)) {
        Some(&la) => la_of[ia] == Some(la),
        None => true,
    };
    let candidates: Vec<usize> = scored.iter().map(Vec::len).collect();
    // Labels only propose: a tensor whose values point clearly outside the layer its name
    // puts it in (a copy labelled one layer later) keeps all its candidates.
    let overruled: Vec<bool> = scored
        .iter()
        .enumerate()
        .map(|(ib, hits)| {
            let best = |keep: &dyn Fn(usize) -> bool| {
                hits.iter()
                    .filter(|&&(ia, _)| keep(ia))
                    .max_by(|x, y| x.1.z.total_cmp(&y.1.z))
                    .map(|&(_, h)| h)
            };
            let Some(any) = best(&|_| true) else {
                return false;
            };
            if pair_log10_p(&any, candidates[ib]) >= SIGNIFICANT_LOG10_P {
                return false;
            }
            match best(&|ia| labelled(ib, ia)) {
                None => true,
                Some(named) => values_contradict(&any, &named),
            }
        })
        .collect();
    let allowed = |ib: usize, ia: usize| overruled[ib] || labelled(ib, ia);

    // 3. Greedy one-to-one assignment, strongest evidence first.
    let mut all: Vec<(usize, usize, Hit)> = scored
        .iter()
        .enumerate()
        .flat_map(|(ib, hits)| hits.iter().map(move |&(ia, h)| (ib, ia, h)))
        .filter(|&(ib, ia, _)| allowed(ib, ia))
        .collect();
    all.sort_by(|x, y| {
        y.2.z
            .total_cmp(&x.2.z)
            .then(x.0.cmp(&y.0))
            .then(x.1.cmp(&y.1))
    });
    let (mut used_a, mut used_b) = (vec![false; fa.tensors.len()], vec![false; fb.tensors.len()]);
    let mut chosen: Vec<(usize, usize, Hit)> = Vec::new();
    for (ib, ia, h) in all {
        if !used_a[ia] && !used_b[ib] {
            used_a[ia] = true;
            used_b[ib] = true;
            chosen.push((ib, ia, h));
        }
    }
    // B's tensors left over may repeat an A tensor already used (depth upscaling copies
    // layers): take their best hit if it is significant on its own.
    for (ib, hits) in scored.iter().enumerate() {
        if used_b[ib] {
            continue;
        }
        let best = hits
            .iter()
            .filter(|&&(ia, _)| allowed(ib, ia))
            .max_by(|x, y| x.1.z.total_cmp(&y.1.z));
        if let Some(&(ia, h)) = best {
            if pair_log10_p(&h, candidates[ib]) < SIGNIFICANT_LOG10_P {
                used_b[ib] = true;
                chosen.push((ib, ia, h));
            }
        }
    }
    chosen.sort_by_key(|c| c.0);

    // 4. Exact-value check of every pair matched on values.
    let pairs: Vec<TensorPair> = chosen
        .par_iter()
        .map(|&(ib, ia, h)| {
            let (ta, tb) = (&fa.tensors[ia], &fb.tensors[ib]);
            let log10_p = pair_log10_p(&h, candidates[ib]);
            // What enters the combined p-value: the strongest evidence for this tensor of
            // B against any tensor of A, which is uniform under the null where the pair
            // left to it by the one-to-one assignment is not.
            let evidence_log10_p = scored[ib]
                .iter()
                .map(|(_, h)| pair_log10_p(h, candidates[ib]))
                .fold(0.0, f64::min);
            let views = (a_values(ta), b_values(tb));
            let check = match (&views, h.channel) {
                ((Some(va), Some(vb)), Channel::Values) => {
                    exact_check(ta, va, tb, vb, h.transposed)
                }
                _ => None,
            }
            .unwrap_or(ExactCheck::NONE);
            let mut equal = check.equal;
            let mut gates = None;
            if !equal {
                if let (Some(va), Some(vb)) = &views {
                    gates = equal_up_to_row_blocks(ta, va, tb, vb);
                    equal = gates.is_some();
                }
            }
            let structured = || match &views {
                (Some(va), Some(vb)) => va.looks_fixed() && vb.looks_fixed(),
                _ => false,
            };
            // A computed table (an STFT basis) recomputed elsewhere may differ in the last
            // bit; near-identical structured tensors are fixed buffers all the same.
            let kind = if (equal || h.correlation > FIXED_BUFFER_CORRELATION) && structured() {
                PairKind::FixedBuffer
            } else if equal {
                PairKind::SameValues
            } else if ta.dtype != tb.dtype
                && check.relative_error <= encoding_tolerance(&ta.dtype, &tb.dtype)
                && (log10_p < SIGNIFICANT_LOG10_P || h.correlation > RE_ENCODED_MIN_CORRELATION)
            {
                PairKind::ReEncoded
            } else if log10_p < SIGNIFICANT_LOG10_P {
                PairKind::Correlated
            } else {
                PairKind::Unrelated
            };
            // A bit-exact copy is evidence by the number of values that agree, not by the
            // sampled grid's correlation: all of them where the stored bytes show it.
            let (mut log10_p, mut evidence_log10_p) = (log10_p, evidence_log10_p);
            if kind == PairKind::SameValues && check.equal && check.cells > 0 {
                let n = match &views {
                    (Some(va), Some(vb)) => equal_elements(va, vb),
                    _ => None,
                }
                .unwrap_or(check.cells);
                let share = check.nonzero as f64 / check.cells as f64;
                let exact = log10_sidak(bit_exact_log10_p(n, share), candidates[ib] as f64);
                log10_p = log10_p.min(exact);
                evidence_log10_p = evidence_log10_p.min(exact);
            }
            TensorPair {
                a: tensor_ref(ta),
                b: tensor_ref(tb),
                elements: tb.elements,
                correlation: h.correlation,
                cells: h.cells,
                transposed: h.transposed,
                channel: h.channel,
                row_blocks: gates,
                candidates: candidates[ib],
                log10_p,
                evidence_log10_p,
                relative_error: check.relative_error,
                scale_spread: check.scale_spread,
                kind,
            }
        })
        .collect();

    let unmatched = fb
        .tensors
        .iter()
        .zip(&used_b)
        .filter(|(_, used)| !**used)
        .map(|(t, _)| t.name.clone())
        .collect();
    summarize(fa, fb, pairs, unmatched, alignment)
}

/// Whether the best pair anywhere is more correlated than the best pair a label allows by
/// more than sampling explains: their Fisher z's differ by over [`NAME_OVERRULE_Z`]
/// standard errors (on the fewer cells of the two).
fn values_contradict(any: &Hit, named: &Hit) -> bool {
    let z = |r: f64| r.clamp(-0.999_999, 0.999_999).atanh();
    let cells = any.cells.min(named.cells) as f64;
    (z(any.correlation) - z(named.correlation)) * (cells - 3.0).max(1.0).sqrt() > NAME_OVERRULE_Z
}

/// Whether a model names its layers: at least two layer numbers, two tensors or more each
/// on average (renamed tensors `w0`, `w1`… carry a number each, not a layer).
fn names_layers(f: &ModelFingerprint) -> bool {
    let mut per_layer: BTreeMap<u32, usize> = BTreeMap::new();
    for l in f.tensors.iter().filter_map(|t| layer_of(&t.name)) {
        *per_layer.entry(l).or_default() += 1;
    }
    let tensors: usize = per_layer.values().sum();
    per_layer.len() >= 2 && tensors >= 2 * per_layer.len()
}

/// B's layers aligned to A's from the candidate evidence, when both name their layers.
fn layer_alignment(
    fa: &ModelFingerprint,
    fb: &ModelFingerprint,
    scored: &[Vec<(usize, Hit)>],
) -> Option<Vec<(u32, Option<u32>)>> {
    if !names_layers(fa) || !names_layers(fb) {
        return None;
    }
    let mut scores = LayerScores::default();
    for (ib, hits) in scored.iter().enumerate() {
        let Some(lb) = layer_of(&fb.tensors[ib].name) else {
            continue;
        };
        for &(ia, h) in hits {
            if let Some(la) = layer_of(&fa.tensors[ia].name) {
                scores.add(lb, la, ib, h.z);
            }
        }
    }
    let layers = |f: &ModelFingerprint| {
        let set: std::collections::BTreeSet<u32> =
            f.tensors.iter().filter_map(|t| layer_of(&t.name)).collect();
        set.into_iter().collect::<Vec<u32>>()
    };
    Some(align_layers(&scores, &layers(fa), &layers(fb)))
}

/// The strongest evidence relating two tensors, over the value sketch and the Gram pairings.
#[derive(Debug, Clone, Copy)]
struct Hit {
    /// The channel's z statistic: permutation z for values, Fisher z against the margin
    /// for invariants.
    z: f64,
    /// Statistics this candidate's best was chosen from and must be charged for.
    charge: f64,
    correlation: f64,
    cells: usize,
    transposed: bool,
    channel: Channel,
}

/// A pair's p-value: Šidák-corrected for every statistic it was the best of. Under the
/// null the value channel wins (the invariants' margins are not reached: see
/// [`GRAM_NULL_CORRELATION`], [`ANCHORED_NULL_CORRELATION`]), and it is charged for its
/// orientations over all candidates; a pair an invariant won is charged for every channel.
fn pair_log10_p(h: &Hit, candidates: usize) -> f64 {
    log10_sidak(log10_normal_tail(h.z), candidates as f64 * h.charge)
}

fn fisher_z(r: f64, null: f64, cells: usize) -> f64 {
    let r = r.clamp(-0.999_999, 0.999_999);
    (r.atanh() - null.atanh()) * ((cells as f64 - 3.0).max(1.0)).sqrt()
}

/// Which axis of A's tensor the permutation test may shuffle: the residual axis (a square
/// residual matrix has two; either will do); without one, both are tried (conservative,
/// as one of them may be tokens, input features or classes). A vector several residual
/// widths long is fused blocks (gates, q|k|v), shuffled within blocks.
fn exchangeable(ta: &TensorFingerprint, width: Option<usize>) -> Exchangeable {
    let (rows, cols) = (ta.sketch.rows as usize, ta.sketch.cols as usize);
    match width {
        Some(w) if rows == 1 && cols % w == 0 && cols / w >= 2 => Exchangeable::BlocksOf(w),
        Some(w) if cols == w => Exchangeable::Columns,
        Some(w) if rows == w => Exchangeable::Rows,
        _ => Exchangeable::Either,
    }
}

fn best_hit(
    (ta, pa): (&TensorFingerprint, &PreparedSketch),
    (tb, pb): (&TensorFingerprint, &PreparedSketch),
    anchored: bool,
    width: Option<usize>,
) -> Option<Hit> {
    // Index buffers (position ids, masks) and weights are different things: never paired.
    if is_index_dtype(&ta.dtype) != is_index_dtype(&tb.dtype) {
        return None;
    }
    let axis = exchangeable(ta, width);
    let value = compare_prepared(&ta.sketch, Some(pa), &tb.sketch, Some(pb), axis);
    let value_tests = value.map_or(0.0, |m| m.orientations as f64);
    let mut best: Option<Hit> = value.map(|m| Hit {
        z: m.z,
        charge: value_tests,
        correlation: m.correlation,
        cells: m.cells,
        transposed: m.transposed,
        channel: Channel::Values,
    });
    let grams = [
        (&ta.row_gram, &tb.row_gram, false, Channel::RowGram),
        (&ta.col_gram, &tb.col_gram, false, Channel::ColumnGram),
        (&ta.row_gram, &tb.col_gram, true, Channel::RowGramTransposed),
        (
            &ta.col_gram,
            &tb.row_gram,
            true,
            Channel::ColumnGramTransposed,
        ),
    ];
    let gram_hits = grams
        .into_iter()
        .filter_map(|(ga, gb, transposed, channel)| {
            let (r, cells) = compare_gram(ga.as_ref()?, gb.as_ref()?)?;
            Some((r, cells, transposed, channel, GRAM_NULL_CORRELATION))
        });
    let (ka, kb) = match (&ta.anchored, &tb.anchored) {
        (Some(ka), Some(kb)) if anchored => (Some(ka), Some(kb)),
        _ => (None, None),
    };
    let kernels = [
        (
            ka.and_then(|k| k.reads.as_ref()),
            kb.and_then(|k| k.reads.as_ref()),
            false,
            Channel::AnchoredKernel,
        ),
        (
            ka.and_then(|k| k.writes.as_ref()),
            kb.and_then(|k| k.writes.as_ref()),
            false,
            Channel::AnchoredKernelOutput,
        ),
        (
            ka.and_then(|k| k.reads.as_ref()),
            kb.and_then(|k| k.writes.as_ref()),
            true,
            Channel::AnchoredKernelTransposed,
        ),
        (
            ka.and_then(|k| k.writes.as_ref()),
            kb.and_then(|k| k.reads.as_ref()),
            true,
            Channel::AnchoredKernelOutputTransposed,
        ),
    ];
    let kernel_hits = kernels
        .into_iter()
        .filter_map(|(x, y, transposed, channel)| {
            let (r, cells) = compare_kernels(x?, y?)?;
            Some((r, cells, transposed, channel, ANCHORED_NULL_CORRELATION))
        });
    let invariants: Vec<_> = gram_hits.chain(kernel_hits).collect();
    let all_tests = value_tests + invariants.len() as f64;
    for (r, cells, transposed, channel, null) in invariants {
        let z = fisher_z(r, null, cells);
        // When the values themselves agree, keep that channel: only it gets the
        // exact-value check that tells a copy from a derivative.
        if best.is_none_or(|b| {
            z > b.z && !(b.channel == Channel::Values && b.correlation > VALUES_AGREE_CORRELATION)
        }) {
            best = Some(Hit {
                z,
                charge: all_tests,
                correlation: r,
                cells,
                transposed,
                channel,
            });
        }
    }
    best
}
