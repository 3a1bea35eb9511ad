//! The tensor sketch: a small grid of a tensor's values at consistently hashed positions.

use mlprov_formats::DecodeError;
use ndarray::{Array2, ArrayBase, ArrayView1, ArrayView2, Axis, Data, Dimension, Zip};

use crate::values::Values;
use serde::{Deserialize, Serialize};

use crate::index_hash::select_indices;
use crate::thresholds::SKETCH_MIN_CELLS as MIN_CELLS;

/// Rows and columns sampled from a matrix (a 32 × 32 grid: 1 KiB of values).
pub const GRID: usize = 32;
/// Positions sampled from a vector.
pub const VECTOR_SAMPLES: usize = 256;

/// A sampled grid (or its z-scored form), rows by columns.
type Grid<'a> = ArrayView2<'a, f64>;

/// Values of one tensor at positions chosen from its indices alone.
///
/// The tensor is viewed as a matrix: size-1 dimensions are dropped, the first remaining
/// dimension is the rows and the product of the others the columns (a vector is one row).
/// Rows and columns are sampled by consistent index hashing (`docs/lineage.md`); the grid
/// is stored row by row as `i8` with one scale per row (`value ≈ q * row_scale`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorSketch {
    /// Rows of the logical matrix.
    pub rows: u64,
    /// Columns of the logical matrix.
    pub cols: u64,
    /// Sampled row indices, ascending.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub row_idx: Vec<u32>,
    /// Sampled column indices, ascending.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub col_idx: Vec<u32>,
    /// Per sampled row: the value of one quantization step.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub row_scale: Vec<f32>,
    /// The grid, `row_idx.len() × col_idx.len()`, row-major.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
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

/// Which axis of a tensor is exchangeable under the null of independent training: hidden
/// units and the residual stream are (their labels are arbitrary), tokens, input features
/// and classes are not. The permutation test shuffles an exchangeable axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exchangeable {
    /// The rows (e.g. the residual axis of an output projection).
    Rows,
    /// The columns (e.g. the residual axis of an embedding or input projection).
    Columns,
    /// Unknown: both are tested and the weaker result is kept (conservative).
    Either,
    /// A vector of fused blocks of this many units (the gates of a recurrent cell, the
    /// q|k|v of a fused projection): units are exchangeable within a block, the blocks
    /// are not, so positions are shuffled within their block only.
    BlocksOf(usize),
}

/// How well two sketches agree on their common positions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SketchMatch {
    /// Pearson correlation of the normalized values at common positions, in [-1, 1].
    pub correlation: f64,
    /// Permutation z statistic: about N(0, 1) for independent tensors (see [`shuffled_columns_z`]).
    pub z: f64,
    /// Orientations tried (direct, transposed): the best of them is reported.
    pub orientations: usize,
    /// Number of common positions compared.
    pub cells: usize,
    /// Whether the second tensor matched in transposed orientation.
    pub transposed: bool,
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
    pub(crate) fn from_view(view: &Values<'_>) -> Result<Self, SketchError> {
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

    /// The sampled (row, column) indices of a `rows × cols` matrix: a function of the shape.
    pub(crate) fn grid_indices(rows: usize, cols: usize) -> (Vec<u32>, Vec<u32>) {
        let k = if rows == 1 { VECTOR_SAMPLES } else { GRID };
        (select_indices(rows, GRID), select_indices(cols, k))
    }

    /// Sketches a `rows × cols` matrix given by a function of (row, column).
    pub fn from_fn(rows: usize, cols: usize, mut value: impl FnMut(usize, usize) -> f32) -> Self {
        let (row_idx, col_idx) = Self::grid_indices(rows, cols);
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
#[cfg(test)]
pub(crate) fn compare(a: &TensorSketch, b: &TensorSketch) -> Option<SketchMatch> {
    compare_prepared(a, None, b, None, Exchangeable::Either)
}

/// A sketch's grid z-scored within rows and within columns, computed once per tensor for
/// the many comparisons of the lineage test (used when two grids coincide).
#[derive(Debug, Clone)]
pub struct PreparedSketch {
    by_row: Array2<f64>,
    by_col: Array2<f64>,
}

impl PreparedSketch {
    /// Prepares a sketch.
    pub fn of(s: &TensorSketch) -> Self {
        let (nr, nc) = (s.row_idx.len(), s.col_idx.len());
        let grid = Array2::from_shape_fn((nr, nc), |(i, j)| s.value(i, j) as f64);
        PreparedSketch {
            by_row: normalized(grid.view(), true),
            by_col: normalized(grid.view(), false),
        }
    }
}

/// Compares two sketches (see [`TensorSketch`]), with the permutation test shuffling
/// `axis` of `a` (see [`Exchangeable`]), using prepared grids where both sketches sampled
/// the same positions.
pub fn compare_prepared(
    a: &TensorSketch,
    pa: Option<&PreparedSketch>,
    b: &TensorSketch,
    pb: Option<&PreparedSketch>,
    axis: Exchangeable,
) -> Option<SketchMatch> {
    let mut best: Option<SketchMatch> = None;
    let tried = orientations(a, b).iter().filter(|&&o| o).count();
    for transposed in [false, true] {
        let Some(grid) = common_grid(a, b, transposed) else {
            continue;
        };
        let same_grid = !transposed && a.row_idx == b.row_idx && a.col_idx == b.col_idx;
        let m = match (pa, pb) {
            (Some(pa), Some(pb)) if same_grid && !matches!(axis, Exchangeable::BlocksOf(_)) => {
                grid_match(
                    (pa.by_row.view(), pb.by_row.view()),
                    (pa.by_col.view(), pb.by_col.view()),
                    axis,
                )
            }
            _ => {
                let (nr, nc) = (grid.rows.len(), grid.cols.len());
                let x = Array2::from_shape_fn((nr, nc), |(i, j)| {
                    a.value(grid.rows[i].0, grid.cols[j].0) as f64
                });
                let y = Array2::from_shape_fn((nr, nc), |(i, j)| {
                    let (rb, cb) = (grid.rows[i].1, grid.cols[j].1);
                    if transposed {
                        b.value(cb, rb) as f64
                    } else {
                        b.value(rb, cb) as f64
                    }
                });
                match (axis, nr) {
                    (Exchangeable::BlocksOf(len), 1) if len > 0 => {
                        let strata: Vec<usize> = grid
                            .cols
                            .iter()
                            .map(|&(ca, _)| a.col_idx[ca] as usize / len)
                            .collect();
                        let r = pearson(&normalized(x.view(), true), &normalized(y.view(), true));
                        (r, stratified_z(x.row(0), y.row(0), &strata))
                    }
                    _ => {
                        // Each grid z-scored within rows and within columns, once: the
                        // correlation and the permutation statistic share them.
                        let (xr, yr) = (normalized(x.view(), true), normalized(y.view(), true));
                        let (xc, yc) = (normalized(x.view(), false), normalized(y.view(), false));
                        grid_match((xr.view(), yr.view()), (xc.view(), yc.view()), axis)
                    }
                }
            }
        };
        let m = SketchMatch {
            correlation: m.0,
            z: m.1,
            orientations: tried,
            cells: grid.rows.len() * grid.cols.len(),
            transposed,
        };
        if best.is_none_or(|b| m.z > b.z) {
            best = Some(m);
        }
    }
    best
}

/// (correlation, permutation z) of two grids given z-scored within rows and within
/// columns: the permutation test shuffles columns of row-scored grids, rows of
/// column-scored ones.
fn grid_match(
    (xr, yr): (Grid<'_>, Grid<'_>),
    (xc, yc): (Grid<'_>, Grid<'_>),
    axis: Exchangeable,
) -> (f64, f64) {
    let r = pearson(&xr, &yr).max(pearson(&xc, &yc));
    let z = match (axis, xr.nrows()) {
        (_, 1) | (Exchangeable::Columns | Exchangeable::BlocksOf(_), _) => {
            shuffled_columns_z(xr, yr)
        }
        (Exchangeable::Rows, _) => shuffled_rows_z(xc, yc),
        (Exchangeable::Either, _) => shuffled_columns_z(xr, yr).min(shuffled_rows_z(xc, yc)),
    };
    (r, z)
}

/// The permutation test of two `nr × nc` grids along their columns, as a z statistic
/// (grids already z-scored within rows; [`shuffled_rows_z`] is the same along rows).
///
/// Under the null, B's labels along an exchangeable axis are arbitrary, so every ordering
/// of B's sampled lines is as likely as the observed one. With each line of both grids
/// z-scored along the other axis, the statistic `T = Σ_j ⟨x_j, y_j⟩` (x_j, y_j: line j)
/// has permutation mean 0 and variance `‖M‖² / (n − 1)` where `M_jk = ⟨x_j, y_k⟩` (the
/// variance of a linear permutation statistic, Hoeffding 1951). Structure shared along the
/// other axis (a token direction every column carries) enlarges `M` off the diagonal, so
/// the variance is honest where a per-cell count is not. The z is capped at the normal
/// quantile of `1/n!`, the smallest p-value a permutation test of n lines can give.
fn shuffled_columns_z(x: Grid<'_>, y: Grid<'_>) -> f64 {
    let (nr, nc) = x.dim();
    if nc < 3 {
        return 0.0;
    }
    if nr == 1 {
        // M = x·yᵀ: tr M = x·y and ‖M‖² = |x|²·|y|², no matrix needed.
        let (x, y) = (x.row(0), y.row(0));
        let (dot, xx, yy) = (x.dot(&y), x.dot(&x), y.dot(&y));
        if xx <= 0.0 || yy <= 0.0 {
            return 0.0;
        }
        return (dot / (xx * yy / (nc as f64 - 1.0)).sqrt()).min(permutation_z_cap(nc));
    }
    // M = Xᵀ·Y (single precision: the statistic needs no more).
    let (xf, yf) = (x.mapv(|v| v as f32), y.mapv(|v| v as f32));
    trace_z(xf.t().dot(&yf).view())
}

/// [`shuffled_columns_z`] over rows, of grids already z-scored within columns.
fn shuffled_rows_z(x: Grid<'_>, y: Grid<'_>) -> f64 {
    if x.nrows() < 3 {
        return 0.0;
    }
    // M = X·Yᵀ: dot products of rows.
    let (xf, yf) = (x.mapv(|v| v as f32), y.mapv(|v| v as f32));
    trace_z(xf.dot(&yf.t()).view())
}

/// `tr(M) / √(‖M‖² / (n − 1))`, capped at the quantile of `1/n!`.
fn trace_z(m: ArrayView2<'_, f32>) -> f64 {
    let n = m.nrows();
    let trace: f64 = m.diag().iter().map(|&v| v as f64).sum();
    let sumsq: f64 = m.iter().map(|&v| v as f64 * v as f64).sum();
    if sumsq <= 0.0 {
        return 0.0;
    }
    (trace / (sumsq / (n as f64 - 1.0)).sqrt()).min(permutation_z_cap(n))
}

/// The normal quantile of `1/n!` (tabulated once for the sizes sketches have).
pub(crate) fn permutation_z_cap(n: usize) -> f64 {
    static CAPS: std::sync::OnceLock<Vec<f64>> = std::sync::OnceLock::new();
    let cap = |n: usize| {
        let log10_factorial: f64 = (2..=n).map(|k| (k as f64).log10()).sum();
        crate::stats::z_of_log10_tail(-log10_factorial)
    };
    let table = CAPS.get_or_init(|| (0..=VECTOR_SAMPLES).map(cap).collect());
    table.get(n).copied().unwrap_or_else(|| cap(n))
}

/// The permutation test of two vectors whose positions are shuffled only within their
/// stratum, as a z statistic: `T = Σ x·y` has permutation mean `Σ_b n_b·x̄_b·ȳ_b` and
/// variance `Σ_b SSx_b·SSy_b / (n_b − 1)` (strata of one position carry nothing).
fn stratified_z(x: ArrayView1<'_, f64>, y: ArrayView1<'_, f64>, strata: &[usize]) -> f64 {
    let mut groups: std::collections::BTreeMap<usize, Vec<(f64, f64)>> = Default::default();
    for ((&a, &b), &s) in x.iter().zip(&y).zip(strata) {
        groups.entry(s).or_default().push((a, b));
    }
    let (mut num, mut var, mut log10_count) = (0.0f64, 0.0f64, 0.0f64);
    for g in groups.values().filter(|g| g.len() >= 2) {
        let n = g.len() as f64;
        let (mx, my) = (
            g.iter().map(|p| p.0).sum::<f64>() / n,
            g.iter().map(|p| p.1).sum::<f64>() / n,
        );
        let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
        for &(a, b) in g {
            sxy += (a - mx) * (b - my);
            sxx += (a - mx) * (a - mx);
            syy += (b - my) * (b - my);
        }
        num += sxy;
        var += sxx * syy / (n - 1.0);
        log10_count += (2..=g.len()).map(|k| (k as f64).log10()).sum::<f64>();
    }
    if var <= 0.0 {
        return 0.0;
    }
    let z = num / var.sqrt();
    // (The cap costs a bisection: only worth it where it can bind.)
    if z > 3.0 {
        z.min(crate::stats::z_of_log10_tail(-log10_count))
    } else {
        z
    }
}

/// Z-scores each row (`by_row`) or each column of a grid; constant lines become 0.
fn normalized(v: Grid<'_>, by_row: bool) -> Array2<f64> {
    let mut out = v.to_owned();
    let lanes = if by_row { Axis(1) } else { Axis(0) };
    for mut line in out.lanes_mut(lanes) {
        let n = line.len() as f64;
        let mean = line.sum() / n;
        let var = line.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
        let sd = var.sqrt();
        line.mapv_inplace(|x| if sd > 0.0 { (x - mean) / sd } else { 0.0 });
    }
    out
}

/// Pearson correlation of two arrays of one shape, cell by cell; 0 when either side is
/// constant (or the shapes differ).
pub(crate) fn pearson<D: Dimension>(
    x: &ArrayBase<impl Data<Elem = f64>, D>,
    y: &ArrayBase<impl Data<Elem = f64>, D>,
) -> f64 {
    if x.shape() != y.shape() || x.is_empty() {
        return 0.0;
    }
    let n = x.len() as f64;
    let (mx, my) = (x.sum() / n, y.sum() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    Zip::from(x).and(y).for_each(|a, b| {
        let (dx, dy) = (a - mx, b - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    });
    if sxx == 0.0 || syy == 0.0 {
        return 0.0;
    }
    sxy / (sxx * syy).sqrt()
}

#[cfg(test)]
mod invariance_tests;
