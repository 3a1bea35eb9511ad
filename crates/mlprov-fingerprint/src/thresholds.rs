//! Every number that decides a verdict, a pair's kind or a transform label, in one place.
//!
//! Each says what it was measured on, or that it was chosen and never measured. The
//! measurements are described in `docs/lineage.md` ("Calibration (measured)") and
//! `benches/RESULTS.md`; `benches/calibration.sh` reproduces the trained-model ones.

use mlprov_formats::DType;

// ---- p-value thresholds of the verdict -------------------------------------------------

/// Combined p below this (log10): the relation is established (`derived`, `partial-reuse`).
/// Chosen, with room measured on both sides: the smallest of 410 independent p-values
/// (210 trained pairs, 200 generated pairs) was 3e-3, the weakest real derivative 1e-380.
pub const SIGNIFICANT_LOG10_P: f64 = -6.0;
/// Combined p above this (log10): no evidence of a relation (`unrelated`). Chosen: 0.5% of
/// the 210 independent trained pairs fall below 1e-2 and none below 5.7e-3.
pub const UNRELATED_LOG10_P: f64 = -3.0;
/// A verdict of `unrelated` needs at least this many compared values; fewer is
/// `inconclusive`. Chosen, not measured.
pub const MIN_CELLS_FOR_UNRELATED: usize = 2_000;

// ---- margins of the invariant channels under the null ----------------------------------

/// Largest correlation of Gram cosines the null allows. Measured: the cosines among the
/// 256 byte tokens of two independently trained language models correlate at 0.964
/// (convergent learning where an axis means the same thing in both).
pub const GRAM_NULL_CORRELATION: f64 = 0.97;
/// Largest correlation of anchored kernels the null allows. Measured: over 792 kernel
/// pairs of independently trained models (`benches/calibration.sh`) the correlation had
/// standard deviation 0.048 and never exceeded 0.28; the margin guards against convergence
/// in larger models that could not be trained here (chosen above the measurement).
pub const ANCHORED_NULL_CORRELATION: f64 = 0.5;

// ---- shares of the verdict --------------------------------------------------------------

/// Share of each model's parameters the other must account for to be a whole copy
/// (`same-weights`, `re-encoded`) rather than a derivative. Chosen, not measured.
pub const COMPLETE_SHARE: f64 = 0.98;
/// Share of B's parameters (and of B's compared tensors) that must come from A for
/// `derived` rather than `partial-reuse`. Chosen, not measured (a majority).
pub const DERIVED_SHARE: f64 = 0.5;

// ---- combining the evidence -------------------------------------------------------------

/// Floor of a term's z in the Stouffer sum: a term far weaker than chance must not hide
/// the rest. Computed, not measured: with uniform terms it moves a term's null mean by 4e-4.
pub const STOUFFER_FLOOR_Z: f64 = -3.0;
/// log10 of the bound on the chance that one non-zero value of B equals A's bit for bit
/// under the null: one bit per value. Chosen, deliberately conservative: two independently
/// drawn F32 weights agree with a chance near 2^-23, BF16 ones near 2^-7.
pub const BIT_EXACT_LOG10_P_PER_VALUE: f64 = -std::f64::consts::LOG10_2;
/// Strongest log10 p a bit-exact copy is credited with, whatever its size, so the term
/// stays finite (its Stouffer z is about 214). Chosen, not measured.
pub const BIT_EXACT_LOG10_P_CAP: f64 = -10_000.0;

// ---- pair kinds: the exact check ---------------------------------------------------------

/// Correlation of two values sketches above which the values channel is kept even if an
/// invariant scores higher (only it gets the exact check that tells a copy from a
/// derivative). Chosen, not measured.
pub const VALUES_AGREE_CORRELATION: f64 = 0.99;
/// A pair re-encoded within tolerance needs p below [`SIGNIFICANT_LOG10_P`] or a
/// correlation above this (small tensors cannot reach the p-value). Chosen (commit
/// 31e4e34: re-encoded needs evidence), checked by the transform suites, not measured.
pub const RE_ENCODED_MIN_CORRELATION: f64 = 0.95;
/// A per-line scale fit needs lines of at least this many values: shorter lines fit
/// anything and would call noise rescaling. Chosen (commit a79d765: vectors no longer read
/// as rescaled or exactly re-encoded), not measured.
pub const MIN_LINE: usize = 8;

/// Largest relative RMS error (after the per-line scale fit) an encoding into `dtype`
/// introduces. Chosen as generous bounds of each format's rounding error (F16 has 11
/// significant bits, BF16 8, FP8 E4M3 4); the quantized ones cover the errors seen on
/// the real transform suite (int8, Q4 blocks). Not measured as distributions.
pub fn dtype_tolerance(dtype: &str) -> f64 {
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

/// Whether a dtype holds indices or counts (position ids, token type ids, masks), never
/// quantized weights: wide integers. Such tensors are paired only with each other.
/// (8- and 16-bit integers are quantized weights in ONNX and int8 exports.)
pub fn is_index_dtype(dtype: &str) -> bool {
    matches!(
        DType::from_name(dtype),
        Some(DType::I32 | DType::U32 | DType::I64 | DType::U64 | DType::Bool)
    )
}

// ---- transform labels --------------------------------------------------------------------

/// Fitted per-line scales must spread (coefficient of variation) by more than this to read
/// as per-channel rescaling. Chosen (commit 31e4e34: rescaling label separated from
/// noise), checked by the transform suites' rescaled and noisy cases, not measured as a
/// distribution.
pub const RESCALING_MIN_SPREAD: f64 = 0.02;
/// ... and by more than this many times the residual error of the fit (noise and
/// quantization move the fitted scales in proportion to that error). Chosen, not measured.
pub const RESCALING_SPREAD_OVER_ERROR: f64 = 2.0;

// ---- fixed buffers -----------------------------------------------------------------------

/// A pair that correlates above this (or is bit-equal) and looks computed in both models
/// is a fixed buffer: a recomputed table (an STFT basis) may differ in the last bit.
/// Chosen, not measured.
pub const FIXED_BUFFER_CORRELATION: f64 = 0.999;
/// At most this many distinct values in the probed runs: a constant, a mask, an identity.
/// Chosen, not measured.
pub const FIXED_MAX_DISTINCT: usize = 3;
/// Mean of the per-run maximum |autocorrelation| above which a tensor counts as
/// structured. Chosen between measured scores (docs/lineage.md, step 8): white noise of
/// 256 samples stays near 0.15, learned filters over a smooth input axis (a first convolution over
/// spectrogram bins) reach 0.75, an STFT basis scores 0.99.
pub const FIXED_STRUCTURED: f64 = 0.9;
/// Below this share of distinct values (a computed table repeats values through the
/// symmetries of cos and sin; learned weights almost never do) ...
pub const FIXED_REPEATING: f64 = 0.6;
/// ... a weaker autocorrelation suffices. Chosen, not measured.
pub const FIXED_STRUCTURED_IF_REPEATING: f64 = 0.5;

// ---- least evidence a comparison needs -----------------------------------------------------

/// Fewer common sketch cells than this cannot support a correlation. Chosen, not measured.
pub const SKETCH_MIN_CELLS: usize = 48;
/// Fewer common off-diagonal Gram or kernel cells than this cannot support a correlation
/// (10 common lines). Chosen, not measured.
pub const INVARIANT_MIN_CELLS: usize = 45;
/// Gram sketches of matrices whose line counts differ by more than this factor are not
/// compared (neither equal nor a plausible cut or extension). Chosen, not measured.
pub const GRAM_MAX_LINE_RATIO: u64 = 2;

// ---- layer alignment (decides the layer map and the layer labels) ---------------------------

/// Evidence one tensor can contribute to a layer's score (z units): stops a single exact
/// copy from outweighing the rest of a layer. Chosen, not measured.
pub const ALIGN_TENSOR_CAP: f64 = 40.0;
/// Evidence a tensor needs before it counts for a layer (z ≈ 3: p ≈ 1e-3). Chosen.
pub const ALIGN_TENSOR_FLOOR: f64 = 3.0;
/// Penalty per A layer skipped between consecutive B layers. Chosen, not measured; the
/// transform suites' layer cuts and repeats check the alignment it gives.
pub const ALIGN_SKIP: f64 = 1.0;
/// Penalty for mapping two consecutive B layers to the same A layer. Chosen, not measured.
pub const ALIGN_REPEAT: f64 = 5.0;
/// Penalty for going back in A's order. Chosen, not measured.
pub const ALIGN_BACK: f64 = 10.0;
/// A tensor's layer label is overruled when its best pair anywhere is significant and
/// more correlated than the best pair the label allows by more than this many standard
/// errors of the difference of their Fisher z's: names propose a layer, values decide.
/// (A copy filed one layer later: exact pair r = 1 against a neighbouring layer's
/// LayerNorm gain at r = 0.87, a difference of about 115 standard errors. A fine-tune's
/// labelled pair is its best pair, so it is never overruled.) About p = 3e-7 one-sided.
/// Chosen; the lying-name suite (`tests/lying_names.rs`) and the real relabelled copies
/// (`tests/real_model_transforms.rs`) check it.
pub const NAME_OVERRULE_Z: f64 = 5.0;

/// A vector named as a norm is folded into the anchored kernels as a gain only when at
/// least this share of its entries is positive (trained RMSNorm/LayerNorm gains are; a
/// bias is about half positive). Chosen, not measured.
pub const GAIN_MIN_POSITIVE_SHARE: f64 = 0.9;

/// The stated null hypothesis behind every p-value the test reports.
pub const NULL_HYPOTHESIS: &str = "B was trained independently of A (its own random initialization). \
Under it, the labels of B's hidden units and residual dimensions say nothing about A's, so each tensor's \
value statistic is a permutation test along such an axis; basis-free invariants agree at most as far as \
convergent learning makes them (Gram cosines below 0.97, anchored kernels below 0.5). Each tensor of B is \
Šidák-corrected for the candidates and statistics its best evidence was chosen from, and the \
sqrt(elements)-weighted Stouffer combination over B's tensors is about standard normal.";

// ---- the base-aware test (own changes) ----------------------------------------------------

/// Rows of the base sampled per tensor (by the index hash). Chosen: more rows give more
/// cells for small changes; 256 rows of every matrix of a 7B model read about 3 GB of values.
pub const OWN_CHANGES_ROWS: usize = 256;
/// Columns of the base sampled per row (all of them up to this many). Chosen, not measured.
pub const OWN_CHANGES_COLUMNS: usize = 4096;
/// Columns used to match permuted rows of B to the base's rows. Chosen: 64 values tell a
/// row from thousands of others by its cosine even under 4-bit quantization.
pub const OWN_CHANGES_MATCH_COLUMNS: usize = 64;
/// Largest RMS difference of B from the base, relative to the base, for B's tensor to count
/// as aligned to it. Chosen between measurements: a 4-bit copy differs by about 0.1–0.2, an
/// unaligned (permuted or rotated) tensor by about 1.4.
pub const OWN_CHANGES_ALIGN_MAX_ERROR: f64 = 0.5;
/// Per-row or per-column rescaling of B is undone only when it lowers the relative error by
/// more than this fraction (so fitted scales do not chase noise). Chosen, not measured.
pub const OWN_CHANGES_RESCALED: f64 = 0.1;
/// With reference fine-tunes given, B carries A's own work only if it holds at least this
/// share of A's change beyond what the references explain; below it, `shares-base`.
/// Chosen on the trained set (`docs/lineage.md`, "Limits"): siblings fine-tuned on A's own
/// data keep 5.4–8.0% with five references, A's children 76.6–78.2%, an even merge 50%.
/// A merge holding less than a quarter of A reads `shares-base` with references: the
/// price of clearing same-data siblings, stated in the docs.
pub const OWN_CHANGES_MIN_SHARE_WITH_REFERENCES: f64 = 0.25;
/// With two or more references, B carries A's own work only if its share also exceeds
/// every reference's leave-one-out share (each reference tested as B, the others
/// projected out) by this much: the references are innocent fine-tunes of the base, so
/// their shares show what an innocent sibling holds where the projection leaves more
/// (the registry's 32-column samples). Chosen on the trained set (`docs/lineage.md`).
pub const OWN_CHANGES_REFERENCE_MARGIN: f64 = 0.15;
/// Without references, B carries A's own work only if it holds at least this share of A's
/// change where B could be located (tensors B lacks are not counted, so a layer subset of
/// a child keeps its share); below it, `shares-base`. Real fine-tunes of one base move the
/// same way, so a sibling's share is far from chance yet partial. Chosen on the trained set
/// (`docs/lineage.md`, "Limits"): siblings fine-tuned on other text hold 19.1–19.3% of A's
/// change at p about 1e-290, A's children 72%, an even merge 50%. The price: a child that
/// keeps under a third of A's change (A's change tiny next to the child's own and B's
/// rounding) reads `shares-base`; `benches/own_changes.sh` measures where that starts.
pub const OWN_CHANGES_MIN_SHARE: f64 = 0.35;

#[cfg(test)]
mod tests {
    use super::*;

    /// The null hypothesis states the invariants' margins in words: they must be these.
    #[test]
    fn null_hypothesis_text_names_the_margins() {
        let text = crate::NULL_HYPOTHESIS;
        assert!(text.contains(&format!("Gram cosines below {GRAM_NULL_CORRELATION}")));
        assert!(text.contains(&format!(
            "anchored kernels below {ANCHORED_NULL_CORRELATION}"
        )));
    }
}
