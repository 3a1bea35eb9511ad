//! The exact-value check of a matched pair: the same bits, the same bits in another block
//! order, or the same weights within the error of the lossier encoding.

use mlprov_formats::DType;

use crate::model::TensorFingerprint;
use crate::sketch::common_grid;
use crate::values::Values;

/// Whether B's tensor holds A's values with its rows in k equal blocks reordered
/// (k = 3, 4, 2: the gate blocks of GRU and LSTM weights), checked bit for bit at B's
/// sampled positions. Returns the block order found.
pub(crate) fn equal_up_to_row_blocks(
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
pub(crate) fn exact_check(
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

pub(crate) fn encoding_tolerance(a: &str, b: &str) -> f64 {
    dtype_tolerance(a).max(dtype_tolerance(b))
}
