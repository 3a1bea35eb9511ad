//! Gram sketches: cosine similarities among a few sampled rows (or columns) of a matrix.
//!
//! The cosines among rows of `W` do not change when `W`'s columns are permuted, sign-
//! flipped, rotated or rescaled (`W·Q` for orthogonal `Q`, cosines are unchanged by
//! per-row scale), and those among columns do not change under the same transforms of
//! its rows. So the row Gram of an up-projection survives a residual-stream rotation and
//! its column Gram a hidden-unit permutation, where the value sketch sees noise. Only
//! off-diagonal cosines are kept: the diagonal is 1 for every matrix and would make
//! unrelated ones look alike.

use crate::values::Values;
use ndarray::{Array1, Array2, ArrayView1, Axis, Slice};
use serde::{Deserialize, Serialize};

use crate::index_hash::select_indices;
use crate::sketch::{pearson, GRID};
use crate::thresholds::{GRAM_MAX_LINE_RATIO as MAX_LINE_RATIO, INVARIANT_MIN_CELLS as MIN_CELLS};

/// Cap on the vectors summed over for a column Gram: beyond it, a consistent sample of
/// rows is used (bounded reads; the cosines are then estimates).
pub const GRAM_MAX_LEN: usize = 4096;

/// Off-diagonal cosines among `GRID` sampled lines (rows or columns) of a matrix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GramSketch {
    /// Number of lines the samples were drawn from.
    pub lines: u64,
    /// Sampled line indices, ascending.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub idx: Vec<u32>,
    /// Cosines for i < j over `idx`, row-major upper triangle, in 255 steps of the largest
    /// (`compact::quantize_cosines`).
    #[serde(with = "crate::compact::cosines")]
    pub cosines: Vec<f32>,
}

impl GramSketch {
    /// Builds from `lines` vectors given as a function filling line `i` into a buffer of `len`.
    pub(crate) fn from_lines(
        lines: usize,
        len: usize,
        mut fill: impl FnMut(usize, &mut [f32]) -> bool,
    ) -> Option<Self> {
        if lines < 8 || len < 8 {
            return None;
        }
        let idx = select_indices(lines, GRID);
        // The sampled lines, each scaled to unit length, as the rows of one matrix: the
        // cosines are its Gram matrix, one product.
        let mut vecs = Array2::<f64>::zeros((idx.len(), len));
        let mut buf = vec![0f32; len];
        for (mut line, &i) in vecs.rows_mut().into_iter().zip(&idx) {
            if !fill(i as usize, &mut buf) {
                return None;
            }
            line.zip_mut_with(&ArrayView1::from(&buf[..]), |o, &x| {
                *o = if x.is_finite() { x as f64 } else { 0.0 };
            });
            let norm = line.dot(&line).sqrt();
            if norm > 0.0 {
                line /= norm;
            }
        }
        let gram = vecs.dot(&vecs.t());
        let n = idx.len();
        let mut cosines = Vec::with_capacity(n * (n - 1) / 2);
        for i in 0..n {
            cosines.extend(
                gram.row(i)
                    .slice_axis(Axis(0), Slice::from(i + 1..))
                    .iter()
                    .map(|&c| c as f32),
            );
        }
        crate::compact::quantize_cosines(&mut cosines);
        Some(GramSketch {
            lines: lines as u64,
            idx,
            cosines,
        })
    }

    /// Row Gram (cosines among sampled rows, over all columns) and column Gram (among
    /// sampled columns, over all rows or a consistent sample of them) of a 2-D tensor.
    pub(crate) fn of_view(
        view: &Values<'_>,
        rows: usize,
        cols: usize,
    ) -> (Option<Self>, Option<Self>) {
        let row_gram = Self::from_lines(rows, cols, |r, out| {
            view.decode_f32_into(r * cols..(r + 1) * cols, out).is_ok()
        });
        let sample_rows: Vec<u32> = if rows <= GRAM_MAX_LEN {
            (0..rows as u32).collect()
        } else {
            select_indices(rows, GRAM_MAX_LEN)
        };
        // Column Gram: decode each sampled row once, scatter the sampled columns.
        let col_idx = select_indices(cols, GRID);
        let mut columns: Vec<Vec<f32>> = vec![Vec::with_capacity(sample_rows.len()); col_idx.len()];
        let mut row = vec![0f32; cols];
        let mut ok = cols >= 8 && rows >= 8;
        for &r in &sample_rows {
            if !ok {
                break;
            }
            let r = r as usize;
            ok = view
                .decode_f32_into(r * cols..(r + 1) * cols, &mut row)
                .is_ok();
            for (k, &c) in col_idx.iter().enumerate() {
                columns[k].push(row[c as usize]);
            }
        }
        let col_gram = if ok {
            let len = sample_rows.len();
            let by_index: std::collections::BTreeMap<u32, usize> =
                col_idx.iter().enumerate().map(|(k, &c)| (c, k)).collect();
            Self::from_lines(cols, len, |c, out| match by_index.get(&(c as u32)) {
                Some(&k) => {
                    out.copy_from_slice(&columns[k]);
                    true
                }
                None => false,
            })
        } else {
            None
        };
        (row_gram, col_gram)
    }

    fn cosine(&self, i: usize, j: usize) -> f32 {
        let (i, j) = if i < j { (i, j) } else { (j, i) };
        let n = self.idx.len();
        // Offset of row i in the packed upper triangle, then column j.
        self.cosines[i * (2 * n - i - 1) / 2 + (j - i - 1)]
    }
}

/// Correlation of two Gram sketches over the off-diagonal cells both sampled, with the
/// number of cells; `None` if they share too few.
pub fn compare_gram(a: &GramSketch, b: &GramSketch) -> Option<(f64, usize)> {
    if a.lines != b.lines && a.lines.min(b.lines) * MAX_LINE_RATIO < a.lines.max(b.lines) {
        return None; // neither equal nor a plausible truncation
    }
    if a.idx == b.idx {
        // The usual case (same shape): the packed cosines line up, no copy needed.
        return crate::anchored::compare_kernels(&a.cosines, &b.cosines);
    }
    let mut common = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.idx.len() && j < b.idx.len() {
        match a.idx[i].cmp(&b.idx[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                common.push((i, j));
                i += 1;
                j += 1;
            }
        }
    }
    let mut x = Vec::new();
    let mut y = Vec::new();
    for p in 0..common.len() {
        for q in p + 1..common.len() {
            x.push(a.cosine(common[p].0, common[q].0) as f64);
            y.push(b.cosine(common[p].1, common[q].1) as f64);
        }
    }
    if x.len() < MIN_CELLS {
        return None;
    }
    let n = x.len();
    Some((pearson(&Array1::from(x), &Array1::from(y)), n))
}
