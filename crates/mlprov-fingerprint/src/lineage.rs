//! The lineage test: is model B (or part of it) derived from model A?
//!
//! 1. Every tensor of B is compared with every shape-compatible tensor of A (same shape,
//!    transposed, or one dimension cut) through their sketches, Gram sketches and anchored
//!    kernels; names are never evidence.
//! 2. Where both models number their layers, B's layers are aligned to A's in order
//!    ([`crate::align`]) and each tensor's candidates restricted to its aligned layer.
//! 3. Tensors are paired greedily by strength of evidence, one-to-one (then repeats).
//! 4. Each pair is checked on exact values at the common sampled positions: same values,
//!    the same values through a lossy encoding, or merely correlated.
//! 5. Evidence: each pair's correlation gives a Fisher z; a Šidák correction for the
//!    candidates it was picked from turns it into a conservative p-value; pairs combine by
//!    Stouffer's method weighted by √(elements), so large learned tensors count most.
//!    Exact copies of fixed buffers (see [`crate::structure`]) are left out.

use std::collections::BTreeMap;

use mlprov_formats::{DType, Model};
use rayon::prelude::*;
use serde::Serialize;

use crate::align::{align_layers, LayerScores};
use crate::anchored::{compare_kernels, layer_of, residual_width};
use crate::gram::compare_gram;
use crate::model::{ModelFingerprint, TensorFingerprint};
use crate::sketch::{common_grid, compare_prepared, Exchangeable, PreparedSketch};
use crate::stats::{log10_normal_tail, log10_sidak, z_of_log10_tail};
use crate::structure::looks_fixed;
use crate::values::Values;

/// The stated null hypothesis behind every p-value the test reports.
pub const NULL_HYPOTHESIS: &str = "B was trained independently of A (its own random initialization). \
Under it, the labels of B's hidden units and residual dimensions say nothing about A's, so each tensor's \
value statistic is a permutation test along such an axis; basis-free invariants agree at most as far as \
convergent learning makes them (Gram cosines below 0.97, anchored kernels below 0.5). Each tensor of B is \
Šidák-corrected for the candidates and statistics its best evidence was chosen from, and the \
sqrt(elements)-weighted Stouffer combination over B's tensors is about standard normal.";

/// Largest correlation of Gram cosines the null allows: basis-free similarities of
/// independently trained models are not zero where an axis means the same thing in both
/// (tokens, input features), so Gram evidence must clear this margin.
pub const GRAM_NULL_CORRELATION: f64 = 0.97;
/// Largest correlation of anchored kernels the null allows. Whitening the anchors removes
/// the similarity convergent learning gives token embeddings: over 792 kernel pairs of
/// independently trained models (`benches/calibration.sh`) the correlation had standard
/// deviation 0.048 (Fisher's 1/√cells is 0.045) and never exceeded 0.28; the margin
/// guards against convergence in larger models that could not be trained here.
pub const ANCHORED_NULL_CORRELATION: f64 = 0.5;

/// p below this: the relation is established.
pub const SIGNIFICANT_LOG10_P: f64 = -6.0;
/// p above this: no evidence of a relation.
pub const UNRELATED_LOG10_P: f64 = -3.0;
/// A verdict of `unrelated` needs at least this many compared values; fewer is inconclusive.
const MIN_CELLS_FOR_UNRELATED: usize = 2_000;
/// Share of each model's parameters the other must account for to be a whole copy
/// (same weights or re-encoded) rather than a derivative.
const COMPLETE_SHARE: f64 = 0.98;
/// Share of B's parameters that must come from A for `derived` rather than `partial-reuse`.
const DERIVED_SHARE: f64 = 0.5;

/// The answer of the lineage test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The same bytes.
    Identical,
    /// The same values in another container, with other names or order.
    SameWeights,
    /// The same weights through a dtype change or quantization.
    ReEncoded,
    /// Fine-tuned, pruned, merged, layer subset, permuted, rotated or rescaled.
    Derived,
    /// Some components share ancestry, the rest does not.
    PartialReuse,
    /// No evidence of shared ancestry.
    Unrelated,
    /// Not enough comparable evidence either way.
    Inconclusive,
}

impl Verdict {
    /// The word used in reports and `--json`.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Identical => "identical",
            Verdict::SameWeights => "same-weights",
            Verdict::ReEncoded => "re-encoded",
            Verdict::Derived => "derived",
            Verdict::PartialReuse => "partial-reuse",
            Verdict::Unrelated => "unrelated",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

/// What a matched pair of tensors is to each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PairKind {
    /// Bit-identical values at every compared position.
    SameValues,
    /// Equal within the error of the lossier of the two encodings.
    ReEncoded,
    /// Significantly correlated, but changed beyond encoding error.
    Correlated,
    /// An exact copy of a fixed (not learned) buffer: no evidence.
    FixedBuffer,
    /// No significant relation.
    Unrelated,
}

/// One tensor of a model, as reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TensorRef {
    /// File.
    pub file: String,
    /// Name.
    pub name: String,
    /// dtype.
    pub dtype: String,
    /// Shape.
    pub shape: Vec<usize>,
}

/// A tensor of B and the tensor of A it was matched to.
#[derive(Debug, Clone, Serialize)]
pub struct TensorPair {
    /// The tensor in A.
    pub a: TensorRef,
    /// The tensor in B.
    pub b: TensorRef,
    /// Elements of B's tensor.
    pub elements: u64,
    /// Correlation of the normalized sampled values.
    pub correlation: f64,
    /// Values compared.
    pub cells: usize,
    /// Whether B's tensor is A's transposed.
    pub transposed: bool,
    /// Which evidence matched them: `values`, or a Gram pairing such as `row-gram`.
    pub channel: &'static str,
    /// When B's rows are A's in blocks of another order (recurrent gate order differs
    /// between PyTorch and ONNX): B's block `i` is A's block `row_blocks[i]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row_blocks: Option<Vec<usize>>,
    /// Shape-compatible candidates in A the match was chosen from.
    pub candidates: usize,
    /// log10 of the pair's Šidák-corrected p-value.
    pub log10_p: f64,
    /// log10 of the Šidák-corrected p-value of the strongest evidence for B's tensor
    /// against any tensor of A (usually this pair): the term of the combined p-value.
    pub evidence_log10_p: f64,
    /// RMS difference after the best per-row (or per-column) scale, relative to RMS of B.
    pub relative_error: f64,
    /// Spread (coefficient of variation) of those fitted scales: > 0 means rescaled channels.
    pub scale_spread: f64,
    /// Classification.
    pub kind: PairKind,
}

/// The full result.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// The verdict.
    pub verdict: Verdict,
    /// log10 of the combined p-value under [`NULL_HYPOTHESIS`].
    pub log10_p: f64,
    /// Share of B's fingerprinted parameters whose tensors come from A (0 to 1).
    pub explained_share: f64,
    /// Share of A's fingerprinted parameters found again in B (0 to 1).
    pub covered_share: f64,
    /// Transforms seen between A and B.
    pub transforms: Vec<String>,
    /// Layer map: B's layer index to A's, where names carry layer numbers.
    pub layer_map: Vec<(u32, u32)>,
    /// Pairs, in B's tensor order.
    pub pairs: Vec<TensorPair>,
    /// B's tensors with no shape-compatible tensor in A.
    pub unmatched: Vec<String>,
    /// The null hypothesis of the p-value.
    pub null_hypothesis: &'static str,
}

fn tensor_ref(t: &TensorFingerprint) -> TensorRef {
    TensorRef {
        file: t.file.clone(),
        name: t.name.clone(),
        dtype: t.dtype.clone(),
        shape: t.shape.clone(),
    }
}

fn view<'m>(model: &'m Model, t: &TensorFingerprint) -> Option<Values<'m>> {
    model
        .files
        .iter()
        .find(|f| f.rel_path == t.file)
        .and_then(|f| Values::of(&f.file, &t.name))
}

/// Compares B against A. Both models must be the ones their fingerprints were taken from.
pub fn compare_models(
    a: &Model,
    fa: &ModelFingerprint,
    b: &Model,
    fb: &ModelFingerprint,
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
    let allowed = |ib: usize, ia: usize| match lb_of[ib].and_then(|lb| aligned.get(&lb)) {
        Some(&la) => la_of[ia] == Some(la),
        None => true,
    };

    // 3. Greedy one-to-one assignment, strongest evidence first.
    let candidates: Vec<usize> = scored.iter().map(Vec::len).collect();
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
            let views = (view(a, ta), view(b, tb));
            let check = match (&views, h.channel) {
                ((Some(va), Some(vb)), "values") => exact_check(ta, va, tb, vb, h.transposed),
                _ => None,
            };
            let (mut equal, relative_error, scale_spread) =
                check.unwrap_or((false, f64::INFINITY, 0.0));
            let mut gates = None;
            if !equal {
                if let (Some(va), Some(vb)) = &views {
                    gates = equal_up_to_row_blocks(ta, va, tb, vb);
                    equal = gates.is_some();
                }
            }
            let structured = || match &views {
                (Some(va), Some(vb)) => looks_fixed(va) && looks_fixed(vb),
                _ => false,
            };
            // A computed table (an STFT basis) recomputed elsewhere may differ in the last
            // bit; near-identical structured tensors are fixed buffers all the same.
            let kind = if (equal || h.correlation > 0.999) && structured() {
                PairKind::FixedBuffer
            } else if equal {
                PairKind::SameValues
            } else if ta.dtype != tb.dtype
                && relative_error <= encoding_tolerance(&ta.dtype, &tb.dtype)
                && (log10_p < SIGNIFICANT_LOG10_P || h.correlation > 0.95)
            {
                PairKind::ReEncoded
            } else if log10_p < SIGNIFICANT_LOG10_P {
                PairKind::Correlated
            } else {
                PairKind::Unrelated
            };
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
                relative_error,
                scale_spread,
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
    channel: &'static str,
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
    let axis = exchangeable(ta, width);
    let value = compare_prepared(&ta.sketch, Some(pa), &tb.sketch, Some(pb), axis);
    let value_tests = value.map_or(0.0, |m| m.orientations as f64);
    let mut best: Option<Hit> = value.map(|m| Hit {
        z: m.z,
        charge: value_tests,
        correlation: m.correlation,
        cells: m.cells,
        transposed: m.transposed,
        channel: "values",
    });
    let grams = [
        (&ta.row_gram, &tb.row_gram, false, "row-gram"),
        (&ta.col_gram, &tb.col_gram, false, "column-gram"),
        (&ta.row_gram, &tb.col_gram, true, "row-gram (transposed)"),
        (&ta.col_gram, &tb.row_gram, true, "column-gram (transposed)"),
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
            "anchored kernel",
        ),
        (
            ka.and_then(|k| k.writes.as_ref()),
            kb.and_then(|k| k.writes.as_ref()),
            false,
            "anchored kernel (output side)",
        ),
        (
            ka.and_then(|k| k.reads.as_ref()),
            kb.and_then(|k| k.writes.as_ref()),
            true,
            "anchored kernel (transposed)",
        ),
        (
            ka.and_then(|k| k.writes.as_ref()),
            kb.and_then(|k| k.reads.as_ref()),
            true,
            "anchored kernel (output side, transposed)",
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
        if best.is_none_or(|b| z > b.z && !(b.channel == "values" && b.correlation > 0.99)) {
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

/// Whether B's tensor holds A's values with its rows in k equal blocks reordered
/// (k = 3, 4, 2: the gate blocks of GRU and LSTM weights), checked bit for bit at B's
/// sampled positions. Returns the block order found.
fn equal_up_to_row_blocks(
    ta: &TensorFingerprint,
    va: &Values<'_>,
    tb: &TensorFingerprint,
    vb: &Values<'_>,
) -> Option<Vec<usize>> {
    let (ra, ca) = (ta.sketch.rows as usize, ta.sketch.cols as usize);
    let (rb, cb) = (tb.sketch.rows as usize, tb.sketch.cols as usize);
    if (ra, ca) != (rb, cb) || ra < 2 {
        return None;
    }
    let get = |v: &Values<'_>, i: usize| v.value_at(i).map(f32::to_bits);
    let positions: Vec<(usize, usize)> = tb
        .sketch
        .row_idx
        .iter()
        .flat_map(|&r| {
            tb.sketch
                .col_idx
                .iter()
                .take(8)
                .map(move |&c| (r as usize, c as usize))
        })
        .collect();
    let want: Vec<u32> = positions
        .iter()
        .map(|&(r, c)| get(vb, r * cb + c))
        .collect::<Option<_>>()?;
    for k in [3usize, 4, 2] {
        if ra % k != 0 {
            continue;
        }
        let block = ra / k;
        for order in permutations(k) {
            if order.iter().enumerate().all(|(i, &j)| i == j) {
                continue; // the identity was checked already
            }
            let same = positions.iter().zip(&want).all(|(&(r, c), &w)| {
                let src = order[r / block] * block + r % block;
                get(va, src * ca + c) == Some(w)
            });
            if same {
                return Some(order);
            }
        }
    }
    None
}

/// All orderings of 0..k (k ≤ 4, so at most 24).
fn permutations(k: usize) -> Vec<Vec<usize>> {
    if k == 0 {
        return vec![Vec::new()];
    }
    let mut out = Vec::new();
    for p in permutations(k - 1) {
        for pos in 0..=p.len() {
            let mut q = p.clone();
            q.insert(pos, k - 1);
            out.push(q);
        }
    }
    out
}

/// Decodes both tensors at their common sampled positions in full precision.
/// Returns (bit-equal everywhere, relative error after the best per-line scale, scale spread).
fn exact_check(
    ta: &TensorFingerprint,
    va: &Values<'_>,
    tb: &TensorFingerprint,
    vb: &Values<'_>,
    transposed: bool,
) -> Option<(bool, f64, f64)> {
    let grid = common_grid(&ta.sketch, &tb.sketch, transposed)?;
    let (cols_a, cols_b) = (ta.sketch.cols as usize, tb.sketch.cols as usize);
    let get = |v: &Values<'_>, cols: usize, (r, c): (usize, usize)| v.value_at(r * cols + c);
    let nc = grid.cols.len();
    let mut x = Vec::new();
    let mut y = Vec::new();
    for (pa, pb) in grid.positions(&ta.sketch, &tb.sketch) {
        x.push(get(va, cols_a, pa)?);
        y.push(get(vb, cols_b, pb)?);
    }
    let equal = x.iter().zip(&y).all(|(p, q)| p.to_bits() == q.to_bits());
    // A scale per line needs lines of several values: a vector gets one scale, never one
    // per value (short lines fit anything and would call noise rescaling).
    const MIN_LINE: usize = 8;
    let nr = grid.rows.len();
    let by_row = scaled_error(&x, &y, nr, nc, true);
    let by_col = scaled_error(&x, &y, nr, nc, false);
    let (err, spread) = if nr < MIN_LINE || (nc >= MIN_LINE && by_row.0 <= by_col.0) {
        by_row
    } else {
        by_col
    };
    Some((equal, err, spread))
}

/// Fits y ≈ s·x per row (or column), returns (RMS residual / RMS y, CV of the scales).
fn scaled_error(x: &[f32], y: &[f32], nr: usize, nc: usize, by_row: bool) -> (f64, f64) {
    let (lines, len) = if by_row { (nr, nc) } else { (nc, nr) };
    let at = |line: usize, k: usize| if by_row { line * nc + k } else { k * nc + line };
    let (mut resid, mut total) = (0.0, 0.0);
    let mut scales = Vec::with_capacity(lines);
    for line in 0..lines {
        let (mut sxy, mut sxx, mut syy) = (0.0f64, 0.0f64, 0.0f64);
        for k in 0..len {
            let (p, q) = (x[at(line, k)] as f64, y[at(line, k)] as f64);
            if p.is_finite() && q.is_finite() {
                sxy += p * q;
                sxx += p * p;
                syy += q * q;
            }
        }
        let s = if sxx > 0.0 { sxy / sxx } else { 0.0 };
        if sxx > 0.0 {
            scales.push(s);
        }
        resid += (syy - 2.0 * s * sxy + s * s * sxx).max(0.0);
        total += syy;
    }
    let err = if total > 0.0 {
        (resid / total).sqrt()
    } else {
        0.0
    };
    let mean = scales.iter().sum::<f64>() / scales.len().max(1) as f64;
    let var = scales.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / scales.len().max(1) as f64;
    let spread = if mean.abs() > 0.0 {
        var.sqrt() / mean.abs()
    } else {
        0.0
    };
    (err, spread)
}

/// Largest relative RMS error an encoding into `dtype` introduces (generous bounds).
fn dtype_tolerance(dtype: &str) -> f64 {
    match DType::from_name(dtype) {
        Some(DType::F64) | Some(DType::F32) => 1e-6,
        Some(DType::F16) => 2e-3,
        Some(DType::BF16) => 1e-2,
        Some(DType::F8E4M3) | Some(DType::F8E5M2) => 0.12,
        Some(DType::I8) | Some(DType::U8) | Some(DType::I16) | Some(DType::U16) => 0.05,
        _ => match dtype {
            "Q8_0" | "Q8_1" | "Q8_K" => 0.03,
            "Q6_K" | "Q5_0" | "Q5_1" | "Q5_K" => 0.08,
            "Q4_0" | "Q4_1" | "Q4_K" | "IQ4_NL" | "IQ4_XS" => 0.2,
            "Q3_K" => 0.3,
            "Q2_K" => 0.45,
            _ => 0.2,
        },
    }
}

fn encoding_tolerance(a: &str, b: &str) -> f64 {
    dtype_tolerance(a).max(dtype_tolerance(b))
}

fn summarize(
    fa: &ModelFingerprint,
    fb: &ModelFingerprint,
    pairs: Vec<TensorPair>,
    unmatched: Vec<String>,
    alignment: Option<Vec<(u32, Option<u32>)>>,
) -> Comparison {
    let total_b: f64 = fb.tensors.iter().map(|t| t.elements as f64).sum();
    let total_a: f64 = fa.tensors.iter().map(|t| t.elements as f64).sum();
    let related = |k: PairKind| {
        matches!(
            k,
            PairKind::SameValues | PairKind::ReEncoded | PairKind::Correlated
        )
    };
    let explained: f64 = pairs
        .iter()
        .filter(|p| related(p.kind))
        .map(|p| p.elements as f64)
        .sum();
    // What of A reappears in B: a truncated tensor covers only the part B kept.
    let covered: f64 = pairs
        .iter()
        .filter(|p| related(p.kind))
        .map(|p| {
            let a_elems: usize = p.a.shape.iter().product();
            (a_elems as u64).min(p.elements) as f64
        })
        .sum();
    let fixed: f64 = pairs
        .iter()
        .filter(|p| p.kind == PairKind::FixedBuffer)
        .map(|p| p.elements as f64)
        .sum();
    // (`+ 0.0` turns the -0.0 an empty f64 sum gives into 0.0.)
    let explained_share = if total_b > fixed {
        explained / (total_b - fixed) + 0.0
    } else {
        0.0
    };
    // (At most 1: a tied embedding matched by both of B's untied copies counts once.)
    let covered_share = if total_a > fixed {
        (covered / (total_a - fixed)).min(1.0) + 0.0
    } else {
        0.0
    };

    // Weighted Stouffer over the pairs that carry evidence.
    let (mut num, mut den, mut cells) = (0.0f64, 0.0f64, 0usize);
    for p in pairs.iter().filter(|p| p.kind != PairKind::FixedBuffer) {
        let w = (p.elements as f64).sqrt();
        // Floored at -3: a term far weaker than chance (a p near 1 after the Šidák
        // correction) must not hide the rest; with uniform terms the floor moves the
        // null mean of a term by 4e-4.
        num += w * z_of_log10_tail(p.evidence_log10_p).max(-3.0);
        den += w * w;
        cells += p.cells;
    }
    let log10_p = if den > 0.0 {
        log10_normal_tail(num / den.sqrt()).min(0.0)
    } else {
        0.0
    };

    let evidence: Vec<&TensorPair> = pairs
        .iter()
        .filter(|p| p.kind != PairKind::FixedBuffer)
        .collect();
    let share_of = |kinds: &[PairKind]| {
        let n: f64 = pairs
            .iter()
            .filter(|p| kinds.contains(&p.kind))
            .map(|p| p.elements as f64)
            .sum();
        if total_b > fixed {
            n / (total_b - fixed)
        } else {
            0.0
        }
    };
    // A whole copy is one-to-one: B holding some of A's tensors twice (depth upscaling)
    // is a derivative even when every value is A's.
    let mut uses: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for p in pairs.iter().filter(|p| related(p.kind)) {
        *uses
            .entry((p.a.file.as_str(), p.a.name.as_str()))
            .or_default() += 1;
    }
    let one_to_one = uses.values().all(|&n| n == 1);
    let whole_a = covered_share >= COMPLETE_SHARE && one_to_one;
    let all_exact = whole_a && share_of(&[PairKind::SameValues]) >= COMPLETE_SHARE;
    let all_encoded =
        whole_a && share_of(&[PairKind::SameValues, PairKind::ReEncoded]) >= COMPLETE_SHARE;
    let verdict = if evidence.is_empty() {
        Verdict::Inconclusive
    } else if all_exact {
        Verdict::SameWeights
    } else if all_encoded {
        Verdict::ReEncoded
    } else if log10_p < SIGNIFICANT_LOG10_P {
        // Derived means most of B comes from A, by parameters and by tensors alike: large
        // embeddings alone carried over into an otherwise new network are partial reuse.
        let tensors = evidence.len().max(1) as f64;
        let related_tensors = evidence.iter().filter(|p| related(p.kind)).count() as f64;
        if explained_share >= DERIVED_SHARE && related_tensors / tensors >= DERIVED_SHARE {
            Verdict::Derived
        } else {
            Verdict::PartialReuse
        }
    } else if log10_p > UNRELATED_LOG10_P && cells >= MIN_CELLS_FOR_UNRELATED {
        Verdict::Unrelated
    } else {
        Verdict::Inconclusive
    };

    let mut transforms = std::collections::BTreeSet::new();
    let mut a_order = Vec::new();
    for p in pairs.iter().filter(|p| related(p.kind)) {
        if p.a.dtype != p.b.dtype {
            transforms.insert(format!("dtype {} -> {}", p.a.dtype, p.b.dtype));
        }
        if p.transposed {
            transforms.insert("transposed".to_string());
        }
        if p.a.name != p.b.name {
            transforms.insert("renamed".to_string());
        }
        if p.a.shape != p.b.shape && !p.transposed {
            transforms.insert("rows truncated".to_string());
        }
        if p.row_blocks.is_some() {
            transforms.insert("row blocks reordered (heads or recurrent gates)".to_string());
        }
        // Fitted scales spread by more than the residual error explains: real rescaling,
        // not noise or quantization error moving the fit.
        if p.scale_spread > 0.02 && p.scale_spread > 2.0 * p.relative_error {
            transforms.insert("per-channel rescaling".to_string());
        }
        if p.kind == PairKind::Correlated && p.channel == "values" {
            transforms.insert("values changed (fine-tuning or noise)".to_string());
        }
        if p.channel != "values" {
            transforms.insert("permuted, rotated or rescaled (matched by invariants)".to_string());
        }
        a_order.push(
            fa.tensors
                .iter()
                .position(|t| t.name == p.a.name && t.file == p.a.file),
        );
    }
    if a_order.windows(2).any(|w| w[0] > w[1]) {
        transforms.insert("reordered".to_string());
    }
    if pairs.iter().any(|p| p.kind == PairKind::FixedBuffer) {
        transforms.insert("shared fixed buffers ignored".to_string());
    }

    // Layer map: B's layers aligned to A's, kept where a related pair joins them; without
    // an alignment, for each B layer the A layer most of its related tensors came from.
    let mut votes: BTreeMap<u32, BTreeMap<u32, usize>> = BTreeMap::new();
    for p in pairs.iter().filter(|p| related(p.kind)) {
        if let (Some(la), Some(lb)) = (layer_of(&p.a.name), layer_of(&p.b.name)) {
            *votes.entry(lb).or_default().entry(la).or_default() += 1;
        }
    }
    let layer_map: Vec<(u32, u32)> = match &alignment {
        Some(map) => map
            .iter()
            .filter_map(|&(lb, la)| la.map(|la| (lb, la)))
            .filter(|(lb, la)| votes.get(lb).is_some_and(|v| v.contains_key(la)))
            .collect(),
        None => votes
            .iter()
            .filter_map(|(&lb, v)| v.iter().max_by_key(|(_, &n)| n).map(|(&la, _)| (lb, la)))
            .collect(),
    };
    let a_layers: std::collections::BTreeSet<u32> = fa
        .tensors
        .iter()
        .filter_map(|t| layer_of(&t.name))
        .collect();
    let kept: std::collections::BTreeSet<u32> = layer_map.iter().map(|&(_, la)| la).collect();
    if !kept.is_empty() && kept.len() < a_layers.len() {
        transforms.insert(format!(
            "layers dropped ({} of {} kept)",
            kept.len(),
            a_layers.len()
        ));
    }
    let mut sources: Vec<u32> = layer_map.iter().map(|&(_, la)| la).collect();
    sources.sort_unstable();
    if sources.windows(2).any(|w| w[0] == w[1]) {
        transforms.insert("layers repeated (depth upscaling)".to_string());
    }
    if layer_map.iter().any(|(lb, la)| lb != la) {
        transforms.insert("layers re-indexed".to_string());
    }

    Comparison {
        verdict,
        log10_p,
        explained_share,
        covered_share,
        transforms: transforms.into_iter().collect(),
        layer_map,
        pairs,
        unmatched,
        null_hypothesis: NULL_HYPOTHESIS,
    }
}
