//! The exact-value check of a matched pair: the same bits, the same bits in another block
//! order, or the same weights within the error of the lossier encoding.

use ndarray::{Array2, ArrayView2, Axis, Zip};

use crate::model::TensorFingerprint;
use crate::sketch::common_grid;
use crate::thresholds::{
    dtype_tolerance, BIT_EXACT_LOG10_P_CAP, BIT_EXACT_LOG10_P_PER_VALUE, MIN_LINE,
};
use crate::values::{Source, Values};

/// Whether B's tensor holds A's values with its rows in k equal blocks reordered
/// (k = 3, 4, 2: the gate blocks of GRU and LSTM weights), checked bit for bit at B's
/// sampled positions. Returns the block order found.
pub(crate) fn equal_up_to_row_blocks(
    ta: &TensorFingerprint,
    va: &Source<'_>,
    tb: &TensorFingerprint,
    vb: &Source<'_>,
) -> Option<Vec<usize>> {
    let (ra, ca) = (ta.sketch.rows as usize, ta.sketch.cols as usize);
    let (rb, cb) = (tb.sketch.rows as usize, tb.sketch.cols as usize);
    if (ra, ca) != (rb, cb) || ra < 2 {
        return None;
    }
    let get = |v: &Source<'_>, i: usize| v.value_at(i).map(f32::to_bits);
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

/// What the exact check of a pair found at their common sampled positions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ExactCheck {
    /// Bit-equal at every compared position.
    pub equal: bool,
    /// RMS difference after the best per-line scale, relative to RMS of B.
    pub relative_error: f64,
    /// Coefficient of variation of those scales.
    pub scale_spread: f64,
    /// Positions compared.
    pub cells: usize,
    /// Of them, positions where B's value is finite and not zero.
    pub nonzero: usize,
}

impl ExactCheck {
    /// What a pair that could not be checked gets.
    pub const NONE: ExactCheck = ExactCheck {
        equal: false,
        relative_error: f64::INFINITY,
        scale_spread: 0.0,
        cells: 0,
        nonzero: 0,
    };
}

/// Decodes both tensors at their common sampled positions in full precision.
pub(crate) fn exact_check(
    ta: &TensorFingerprint,
    va: &Source<'_>,
    tb: &TensorFingerprint,
    vb: &Source<'_>,
    transposed: bool,
) -> Option<ExactCheck> {
    let grid = common_grid(&ta.sketch, &tb.sketch, transposed)?;
    let (cols_a, cols_b) = (ta.sketch.cols as usize, tb.sketch.cols as usize);
    let get = |v: &Source<'_>, cols: usize, (r, c): (usize, usize)| v.value_at(r * cols + c);
    let (nr, nc) = (grid.rows.len(), grid.cols.len());
    let mut x = Vec::with_capacity(nr * nc);
    let mut y = Vec::with_capacity(nr * nc);
    for (pa, pb) in grid.positions(&ta.sketch, &tb.sketch) {
        x.push(get(va, cols_a, pa)?);
        y.push(get(vb, cols_b, pb)?);
    }
    let x = Array2::from_shape_vec((nr, nc), x).ok()?;
    let y = Array2::from_shape_vec((nr, nc), y).ok()?;
    let equal = Zip::from(&x).and(&y).all(|p, q| p.to_bits() == q.to_bits());
    // A scale per line needs lines of several values: a vector gets one scale, never one
    // per value (short lines fit anything and would call noise rescaling).
    let by_row = scaled_error(x.view(), y.view(), Axis(1));
    let by_col = scaled_error(x.view(), y.view(), Axis(0));
    let (err, spread) = if nr < MIN_LINE || (nc >= MIN_LINE && by_row.0 <= by_col.0) {
        by_row
    } else {
        by_col
    };
    let nonzero = y.iter().filter(|v| v.is_finite() && **v != 0.0).count();
    Some(ExactCheck {
        equal,
        relative_error: err,
        scale_spread: spread,
        cells: y.len(),
        nonzero,
    })
}

/// How many of B's values are A's bit for bit, as far as the stored bytes can show it:
/// every element when both tensors store the same bytes, A's elements when B's bytes
/// begin with A's (rows appended), B's when A's begin with B's (rows cut); `None` when
/// the bytes cannot be compared (other dtypes, orders, or dequantized views).
pub(crate) fn equal_elements(va: &Source<'_>, vb: &Source<'_>) -> Option<usize> {
    let (Source::Weights(Values::Plain(a)), Source::Weights(Values::Plain(b))) = (va, vb) else {
        return None;
    };
    if a.dtype != b.dtype || a.bytes.is_empty() || b.bytes.is_empty() {
        return None;
    }
    let (short, long, elements) = if a.bytes.len() <= b.bytes.len() {
        (a.bytes, b.bytes, a.elements())
    } else {
        (b.bytes, a.bytes, b.elements())
    };
    long.starts_with(short).then_some(elements)
}

/// log10 of the chance, under the null, that `equal` values of B (a share `nonzero` of
/// them not zero) are A's bit for bit: each non-zero value is credited with at most one
/// bit ([`BIT_EXACT_LOG10_P_PER_VALUE`]), zeros with nothing (independently trained
/// models share zeros: pruned weights, padding rows), capped at [`BIT_EXACT_LOG10_P_CAP`].
pub(crate) fn bit_exact_log10_p(equal: usize, nonzero_share: f64) -> f64 {
    let values = equal as f64 * nonzero_share.clamp(0.0, 1.0);
    (values * BIT_EXACT_LOG10_P_PER_VALUE).max(BIT_EXACT_LOG10_P_CAP) + 0.0
}

/// Fits y ≈ s·x per line (rows: lanes along `Axis(1)`; columns: along `Axis(0)`), returns
/// (RMS residual / RMS y, CV of the scales).
fn scaled_error(x: ArrayView2<'_, f32>, y: ArrayView2<'_, f32>, lanes: Axis) -> (f64, f64) {
    let (mut resid, mut total) = (0.0, 0.0);
    let mut scales = Vec::new();
    for (xl, yl) in x.lanes(lanes).into_iter().zip(y.lanes(lanes)) {
        let (mut sxy, mut sxx, mut syy) = (0.0f64, 0.0f64, 0.0f64);
        for (&p, &q) in xl.iter().zip(&yl) {
            let (p, q) = (p as f64, q as f64);
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

/// Largest relative RMS error the lossier of two encodings introduces.
pub(crate) fn encoding_tolerance(a: &str, b: &str) -> f64 {
    dtype_tolerance(a).max(dtype_tolerance(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_exact_evidence_grows_with_the_values_and_stays_finite() {
        assert_eq!(bit_exact_log10_p(0, 1.0), 0.0);
        assert!((bit_exact_log10_p(1000, 1.0) - -301.03).abs() < 0.01);
        // Zeros count for nothing.
        assert!((bit_exact_log10_p(1000, 0.5) - -150.51).abs() < 0.01);
        assert_eq!(bit_exact_log10_p(10_000_000, 1.0), BIT_EXACT_LOG10_P_CAP);
    }
}
