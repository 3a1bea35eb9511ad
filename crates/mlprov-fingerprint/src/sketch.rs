//! The tensor sketch: a small grid of a tensor's values at consistently hashed positions.

use mlprov_formats::DecodeError;

use crate::values::Values;
use serde::{Deserialize, Serialize};

use crate::index_hash::select_indices;

/// Rows and columns sampled from a matrix (a 32 × 32 grid: 1 KiB of values).
pub const GRID: usize = 32;
/// Positions sampled from a vector.
pub const VECTOR_SAMPLES: usize = 256;
/// Fewer common cells than this cannot support a correlation worth reporting.
const MIN_CELLS: usize = 48;

/// Values of one tensor at positions chosen from its indices alone.
///
/// The tensor is viewed as a matrix: size-1 dimensions are dropped, the first remaining
/// dimension is the rows and the product of the others the columns (a vector is one row).
/// Rows and columns are sampled with [`select_indices`]; the grid is stored row by row as
/// `i8` with one scale per row (`value ≈ q * row_scale`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorSketch {
    /// Rows of the logical matrix.
    pub rows: u64,
    /// Columns of the logical matrix.
    pub cols: u64,
    /// Sampled row indices, ascending.
    pub row_idx: Vec<u32>,
    /// Sampled column indices, ascending.
    pub col_idx: Vec<u32>,
    /// Per sampled row: the value of one quantization step.
    pub row_scale: Vec<f32>,
    /// The grid, `row_idx.len() × col_idx.len()`, row-major.
    pub values: Vec<i8>,
}

/// Why a tensor could not be sketched.
#[derive(Debug, thiserror::Error)]
pub enum SketchError {
    /// The tensor has no elements.
    #[error("tensor has no elements")]
    Empty,
    /// Its values could not be decoded.
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

/// How well two sketches agree on their common positions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SketchMatch {
    /// Pearson correlation of the normalized values at common positions, in [-1, 1].
    pub correlation: f64,
    /// Number of common positions compared.
    pub cells: usize,
    /// Whether the second tensor matched in transposed orientation.
    pub transposed: bool,
}

impl SketchMatch {
    /// Fisher z statistic of the correlation: about N(0, 1) for independent tensors.
    pub fn z_score(&self) -> f64 {
        let r = self.correlation.clamp(-0.999_999, 0.999_999);
        r.atanh() * ((self.cells as f64 - 3.0).max(1.0)).sqrt()
    }
}

/// Logical matrix shape: size-1 dims dropped, then (first, product of the rest).
pub(crate) fn matrix_shape(shape: &[usize]) -> (usize, usize) {
    let dims: Vec<usize> = shape.iter().copied().filter(|&d| d != 1).collect();
    match dims.as_slice() {
        [] => (1, 1),
        [n] => (1, *n),
        [r, rest @ ..] => (*r, rest.iter().product()),
    }
}

impl TensorSketch {
    /// Sketches a stored tensor, decoding only the sampled elements.
    pub fn from_view(view: &Values<'_>) -> Result<Self, SketchError> {
        if view.elements() == 0 {
            return Err(SketchError::Empty);
        }
        let (rows, cols) = matrix_shape(view.view().shape);
        let mut one = [0f32; 1];
        let mut err = None;
        let sketch = Self::from_fn(rows, cols, |r, c| {
            let i = r * cols + c;
            match view.decode_f32_into(i..i + 1, &mut one) {
                Ok(()) => one[0],
                Err(e) => {
                    err.get_or_insert(e);
                    0.0
                }
            }
        });
        match err {
            Some(e) => Err(e.into()),
            None => Ok(sketch),
        }
    }

    /// Sketches a `rows × cols` matrix given by a function of (row, column).
    pub fn from_fn(rows: usize, cols: usize, mut value: impl FnMut(usize, usize) -> f32) -> Self {
        let k = if rows == 1 { VECTOR_SAMPLES } else { GRID };
        let row_idx = select_indices(rows, GRID);
        let col_idx = select_indices(cols, k);
        let mut row_scale = Vec::with_capacity(row_idx.len());
        let mut values = Vec::with_capacity(row_idx.len() * col_idx.len());
        let mut row = Vec::with_capacity(col_idx.len());
        for &r in &row_idx {
            row.clear();
            row.extend(col_idx.iter().map(|&c| {
                let v = value(r as usize, c as usize);
                if v.is_finite() {
                    v
                } else {
                    0.0
                }
            }));
            let absmax = row.iter().fold(0f32, |m, v| m.max(v.abs()));
            let scale = if absmax > 0.0 { absmax / 127.0 } else { 1.0 };
            row_scale.push(scale);
            values.extend(
                row.iter()
                    .map(|v| (v / scale).round().clamp(-127.0, 127.0) as i8),
            );
        }
        TensorSketch {
            rows: rows as u64,
            cols: cols as u64,
            row_idx,
            col_idx,
            row_scale,
            values,
        }
    }

    /// The approximate value at grid position (`i`-th sampled row, `j`-th sampled column).
    pub fn value(&self, i: usize, j: usize) -> f32 {
        self.values[i * self.col_idx.len() + j] as f32 * self.row_scale[i]
    }

    /// Bytes this sketch occupies when stored (values, scales and indices).
    pub fn byte_size(&self) -> usize {
        16 + self.values.len()
            + 4 * (self.row_scale.len() + self.row_idx.len() + self.col_idx.len())
    }
}

/// Positions of `a`'s indices that also occur in `b`'s (both ascending): pairs (ia, ib).
fn common(a: &[u32], b: &[u32]) -> Vec<(usize, usize)> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push((i, j));
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// Which orientations two sketches can be compared in: (direct, transposed).
fn orientations(a: &TensorSketch, b: &TensorSketch) -> [bool; 2] {
    let same = (a.rows, a.cols) == (b.rows, b.cols);
    let swapped = (a.rows, a.cols) == (b.cols, b.rows);
    let square = a.rows == a.cols;
    // A truncation keeps one dimension whole; anything else is a different tensor.
    let direct = (same || !swapped || square) && (a.rows == b.rows || a.cols == b.cols);
    let transposed = a.rows > 1 && b.rows > 1 && (swapped || a.rows == b.cols || a.cols == b.rows);
    [direct, transposed]
}

/// Grid positions both sketches sampled, in one orientation: `(rows, cols)` as pairs of
/// (index into `a`'s grid, index into `b`'s grid); with `transposed`, `b`'s grid is read
/// column for row. `None` if the orientation does not apply or too few cells are shared.
pub fn common_grid(a: &TensorSketch, b: &TensorSketch, transposed: bool) -> Option<CommonGrid> {
    if !orientations(a, b)[usize::from(transposed)] {
        return None;
    }
    let (rows, cols) = if transposed {
        (
            common(&a.row_idx, &b.col_idx),
            common(&a.col_idx, &b.row_idx),
        )
    } else {
        (
            common(&a.row_idx, &b.row_idx),
            common(&a.col_idx, &b.col_idx),
        )
    };
    (rows.len() * cols.len() >= MIN_CELLS).then_some(CommonGrid {
        rows,
        cols,
        transposed,
    })
}

/// Positions shared by two sketches (see [`common_grid`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommonGrid {
    /// Shared rows: (position in `a.row_idx`, position in `b`'s row or column indices).
    pub rows: Vec<(usize, usize)>,
    /// Shared columns, likewise.
    pub cols: Vec<(usize, usize)>,
    /// Whether `b` is read transposed.
    pub transposed: bool,
}

impl CommonGrid {
    /// Logical (row, column) positions in `a` and in `b` for every shared cell, row-major in `a`.
    pub fn positions(
        &self,
        a: &TensorSketch,
        b: &TensorSketch,
    ) -> Vec<((usize, usize), (usize, usize))> {
        let mut out = Vec::with_capacity(self.rows.len() * self.cols.len());
        for &(ra, rb) in &self.rows {
            for &(ca, cb) in &self.cols {
                let pa = (a.row_idx[ra] as usize, a.col_idx[ca] as usize);
                let pb = if self.transposed {
                    (b.row_idx[cb] as usize, b.col_idx[rb] as usize)
                } else {
                    (b.row_idx[rb] as usize, b.col_idx[cb] as usize)
                };
                out.push((pa, pb));
            }
        }
        out
    }
}

/// Compares two sketches on their common positions, trying the transposed orientation
/// where the shapes allow it. `None` when they share too few positions.
pub fn compare(a: &TensorSketch, b: &TensorSketch) -> Option<SketchMatch> {
    let mut best: Option<SketchMatch> = None;
    for transposed in [false, true] {
        let Some(grid) = common_grid(a, b, transposed) else {
            continue;
        };
        let (nr, nc) = (grid.rows.len(), grid.cols.len());
        let mut x = Vec::with_capacity(nr * nc);
        let mut y = Vec::with_capacity(nr * nc);
        for &(ra, rb) in &grid.rows {
            for &(ca, cb) in &grid.cols {
                x.push(a.value(ra, ca) as f64);
                y.push(if transposed {
                    b.value(cb, rb)
                } else {
                    b.value(rb, cb)
                } as f64);
            }
        }
        let r = normalized_correlation(&x, &y, nr, nc);
        let m = SketchMatch {
            correlation: r,
            cells: x.len(),
            transposed,
        };
        if best.is_none_or(|b| m.correlation > b.correlation) {
            best = Some(m);
        }
    }
    best
}

/// Correlation of an `nr × nc` grid pair after per-row and after per-column z-scoring,
/// the larger of the two: each survives rescaling along its own axis.
pub fn normalized_correlation(x: &[f64], y: &[f64], nr: usize, nc: usize) -> f64 {
    let by_row = pearson(&normalized(x, nr, nc, true), &normalized(y, nr, nc, true));
    let by_col = pearson(&normalized(x, nr, nc, false), &normalized(y, nr, nc, false));
    by_row.max(by_col)
}

/// Z-scores each row (`by_row`) or each column of an `nr × nc` grid; constant lines become 0.
fn normalized(v: &[f64], nr: usize, nc: usize, by_row: bool) -> Vec<f64> {
    let mut out = v.to_vec();
    let (lines, len) = if by_row { (nr, nc) } else { (nc, nr) };
    let at = |line: usize, k: usize| if by_row { line * nc + k } else { k * nc + line };
    for line in 0..lines {
        let mean = (0..len).map(|k| v[at(line, k)]).sum::<f64>() / len as f64;
        let var = (0..len)
            .map(|k| (v[at(line, k)] - mean).powi(2))
            .sum::<f64>()
            / len as f64;
        let sd = var.sqrt();
        for k in 0..len {
            out[at(line, k)] = if sd > 0.0 {
                (v[at(line, k)] - mean) / sd
            } else {
                0.0
            };
        }
    }
    out
}

/// Pearson correlation; 0 when either side is constant.
pub(crate) fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        let (dx, dy) = (a - mx, b - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if sxx == 0.0 || syy == 0.0 {
        return 0.0;
    }
    sxy / (sxx * syy).sqrt()
}
