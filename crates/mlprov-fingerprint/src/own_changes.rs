//! The base-aware test: does B carry A's own changes (A minus its base P), or only P?
//!
//! Most licensed models are fine-tunes of a public base. B being related to A says little
//! when both descend from P; what the licensor owns is `Δ_A = A − P`. For every tensor of A
//! that A changed, the test reads full-precision values of P, A and B at the same sampled
//! positions in P's coordinates (B aligned to P first: transposed, rows or columns cut,
//! rows or columns permuted, rows or columns rescaled), and forms `d_A = A − P` and
//! `d_B = B − P`.
//!
//! * **Null**: B was built from P independently of A (a sibling, or P itself, however
//!   stored). Then `d_B` (B's own changes plus its rounding or quantization error, all
//!   functions of P and of B's own work) is independent of `d_A`, and every pairing of
//!   `d_A`'s sampled rows with `d_B`'s is as likely as the observed one.
//! * **Statistic**: `T = Σ_r ⟨d_A[r], d_B[r]⟩`, a linear permutation statistic over the
//!   sampled rows, standardized by its exact permutation mean and variance (Hoeffding), so
//!   structure shared within rows (a change that moves a whole row) is accounted for.
//! * **Share**: the regression coefficient `⟨d_A, d_B⟩ / ⟨d_A, d_A⟩`: 1 when B holds all of
//!   A's change (a child, however re-encoded), 0.5 for an even merge with a sibling, about 0
//!   for a sibling or P.
//! * **Rounding and quantization of B** add an error that depends on the stored value,
//!   not on A; for changes below the rounding step, P's varying position within a step
//!   dithers the rounding, so the average of `d_B` over many cells still follows `d_A`.
//!   Small changes are found by summing over many cells, not by seeing any one of them.
//!
//! * **Reference fine-tunes** (optional): other fine-tunes of P that anyone can obtain.
//!   In every sampled row, the directions their changes span are projected out of `d_A`
//!   and `d_B` first: what fine-tuning P commonly does is then not counted as A's own.
//!   The projection depends on P and the references only, so the null stands.
//!
//! What it cannot align: a matrix permuted along both axes at once, or rotated (QuaRot);
//! such tensors are counted as not aligned and left out. Vectors are left out too.

use mlprov_formats::Model;
use ndarray::{Array2, Axis};
use rayon::prelude::*;
use serde::Serialize;

use crate::index_hash::select_indices;
use crate::model::{ModelFingerprint, TensorFingerprint};
use crate::report::{Comparison, TensorPair, TensorRef};
use crate::sketch::{matrix_shape, permutation_z_cap};
use crate::stats::{log10_normal_tail, stouffer_z};
use crate::thresholds::{
    OWN_CHANGES_ALIGN_MAX_ERROR, OWN_CHANGES_COLUMNS, OWN_CHANGES_MATCH_COLUMNS,
    OWN_CHANGES_MIN_SHARE, OWN_CHANGES_MIN_SHARE_WITH_REFERENCES, OWN_CHANGES_REFERENCE_MARGIN,
    OWN_CHANGES_RESCALED, OWN_CHANGES_ROWS,
};
use crate::values::Values;

/// The null hypothesis of the base-aware test.
pub const OWN_CHANGES_NULL: &str =
    "B was built from A's base independently of A (a sibling of A, or the base itself)";

/// How B's tensor was put into the base's coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Alignment {
    /// Position for position (possibly transposed, cut or rescaled).
    Direct,
    /// B's rows are the base's in another order.
    RowsPermuted,
    /// B's columns are the base's in another order.
    ColumnsPermuted,
}

/// One tensor A changed, and what of that change B holds.
#[derive(Debug, Clone, Serialize)]
pub struct OwnChangeTensor {
    /// The tensor in A.
    pub a: TensorRef,
    /// B's tensor aligned to it, if B has one.
    pub b: Option<TensorRef>,
    /// How B's tensor was aligned (absent when it has none or could not be aligned).
    pub alignment: Option<Alignment>,
    /// Size of A's change: RMS of `A − P` over RMS of P, at the sampled cells.
    pub change: f64,
    /// Share of A's change found in B's tensor (regression coefficient; can leave 0..1).
    pub share: f64,
    /// log10 p of this tensor's statistic under the null.
    pub log10_p: f64,
    /// Cells compared.
    pub cells: usize,
    /// Reference fine-tunes whose changes were projected out of this tensor's.
    pub references: usize,
    /// Each reference's share of A's change here, the other references projected out
    /// (empty with fewer than two references, or when a reference lacks the tensor).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reference_shares: Vec<f64>,
}

/// The result of the base-aware test.
#[derive(Debug, Clone, Serialize)]
pub struct OwnChanges {
    /// log10 of the combined p-value under [`OWN_CHANGES_NULL`].
    pub log10_p: f64,
    /// Share of A's own changes found in B, over the tensors A changed that B's could be
    /// aligned for (0 to 1; tensors of A that B lacks count as not found).
    pub share: f64,
    /// Share of A's own changes found in B over the tensors tested only (those B lacks or
    /// that could not be aligned left out): what the verdict's share floor reads.
    pub tested_share: f64,
    /// Size of A's change from its base: RMS of `A − P` over RMS of P, all tested tensors.
    pub change: f64,
    /// Tensors A changed from its base.
    pub changed_tensors: usize,
    /// Of those, tensors B has no counterpart for (B left them out).
    pub missing_in_b: usize,
    /// Of those, tensors B has but that could not be aligned to the base (rotated, or
    /// permuted on both axes): left out of the test and the share.
    pub not_aligned: usize,
    /// Tensors tested.
    pub tested: usize,
    /// Cells compared over all tested tensors.
    pub cells: usize,
    /// Per tensor, in A's order.
    pub tensors: Vec<OwnChangeTensor>,
    /// Reference fine-tunes of the base given (their changes are projected out).
    pub references: usize,
    /// Each reference's share of A's change over the tested tensors, with the *other*
    /// references projected out (leave one out): what fine-tunes of the base independent
    /// of A hold of A's change after the projection, an empirical null of `tested_share`.
    /// Empty with fewer than two references.
    pub reference_shares: Vec<f64>,
    /// The share of A's change B must hold to carry A's own work
    /// ([`share_floor`]); below it, `shares-base`.
    pub share_floor: f64,
    /// The null hypothesis.
    pub null_hypothesis: &'static str,
}

impl OwnChanges {
    /// Whether any tensor could be tested.
    pub fn tested_any(&self) -> bool {
        self.tested > 0
    }
}

/// The share of A's change B must hold to carry A's own work: fine-tunes of one base move
/// the same way, so an innocent sibling's share is far from chance yet partial.
///
/// * No references: [`OWN_CHANGES_MIN_SHARE`].
/// * References: [`OWN_CHANGES_MIN_SHARE_WITH_REFERENCES`], raised to the largest
///   leave-one-out share of the references plus [`OWN_CHANGES_REFERENCE_MARGIN`]: the
///   references are fine-tunes of P independent of A, so what they hold of A's change
///   after the projection is what an innocent sibling holds (more with fewer cells or
///   references, as in the registry's 32-column samples).
pub fn share_floor(references: usize, reference_shares: &[f64]) -> f64 {
    if references == 0 {
        return OWN_CHANGES_MIN_SHARE;
    }
    let observed = reference_shares
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    OWN_CHANGES_MIN_SHARE_WITH_REFERENCES.max(observed + OWN_CHANGES_REFERENCE_MARGIN)
}

fn values<'m>(model: &'m Model, t: &TensorRef) -> Option<Values<'m>> {
    model
        .files
        .iter()
        .find(|f| f.rel_path == t.file)
        .and_then(|f| Values::of(&f.file, &t.name))
}

/// The base-aware test. `base_to_a` is the lineage comparison of A against its base P (P on
/// the A side), `base_to_b` that of B against P: their pairs say which tensor of A and of B
/// stands for which tensor of P.
///
/// `references` are other fine-tunes of the same base (public siblings), each with its
/// comparison against P: in every sampled row, the directions their changes span are
/// projected out of `A − P` and `B − P` before the statistic, so what fine-tuning P
/// commonly does (the same public data, the same recipe) is not counted as A's own.
pub fn own_changes(
    base: &Model,
    a: &Model,
    base_to_a: &Comparison,
    b: &Model,
    base_to_b: &Comparison,
    references: &[(&Model, &Comparison)],
) -> OwnChanges {
    let triples = triples(base_to_a, base_to_b);
    let tensors: Vec<OwnChangeTensor> = triples
        .par_iter()
        .filter_map(|&(pa, pb)| {
            // Each reference's tensor for this one of P's: same shape, in place.
            let refs: Vec<(&Model, &TensorPair)> = references
                .iter()
                .filter_map(|&(model, base_to_r)| Some((model, in_place(base_to_r, pa)?)))
                .collect();
            tensor_test(base, a, pa, b, pb, &refs)
        })
        .collect();
    summarize(tensors, references.len())
}

/// A's tensor for each of P's (related, same shape, not transposed: A was tuned in
/// place) with B's for the same tensor of P, if B has one.
fn triples<'c>(
    base_to_a: &'c Comparison,
    base_to_b: &'c Comparison,
) -> Vec<(&'c TensorPair, Option<&'c TensorPair>)> {
    base_to_a
        .pairs
        .iter()
        .filter(|p| p.kind.related() && !p.transposed && p.a.shape == p.b.shape)
        .map(|pa| {
            let pb = base_to_b
                .pairs
                .iter()
                .find(|pb| pb.kind.related() && pb.a == pa.a);
            (pa, pb)
        })
        .collect()
}

/// [`own_changes`] from registered fingerprints (taken with samples): P's and A's values
/// are their stored samples (the sketch's grid, 32 rows × 32 columns of every matrix)
/// rather than 256 rows of their weights, B's are read from its weights and aligned to P
/// as in [`own_changes`]. Fewer cells per tensor, so a smaller change needs more tensors
/// to show; the null, the statistic and the share are the same. `references` are
/// registered fine-tunes of P with their comparison against P
/// ([`compare_fingerprints`](crate::compare_fingerprints)), read at the same grid.
pub fn own_changes_registered(
    base: &ModelFingerprint,
    a: &ModelFingerprint,
    base_to_a: &Comparison,
    b: &Model,
    base_to_b: &Comparison,
    references: &[(&ModelFingerprint, &Comparison)],
) -> OwnChanges {
    fn find<'f>(fp: &'f ModelFingerprint, t: &TensorRef) -> Option<&'f TensorFingerprint> {
        fp.tensors
            .iter()
            .find(|x| x.file == t.file && x.name == t.name)
    }
    // The same grid as P's: same shape (so the same sampled indices), stored with samples.
    fn on_grid<'f>(
        fp: &'f ModelFingerprint,
        t: &TensorRef,
        like: &TensorFingerprint,
    ) -> Option<&'f [f32]> {
        let x = find(fp, t)?;
        let same =
            x.sketch.row_idx == like.sketch.row_idx && x.sketch.col_idx == like.sketch.col_idx;
        same.then_some(())?;
        x.sample.as_ref().map(|s| s.grid.as_slice())
    }
    let tensors: Vec<OwnChangeTensor> = triples(base_to_a, base_to_b)
        .par_iter()
        .filter_map(|&(pa, pb)| {
            let tp = find(base, &pa.a)?;
            let (rows, _) = matrix_shape(&pa.a.shape);
            let (sp, sa) = (tp.sample.as_ref()?, on_grid(a, &pa.b, tp)?);
            if rows < 3 {
                return None;
            }
            let shape = (tp.sketch.row_idx.len(), tp.sketch.col_idx.len());
            let grid = |s: &[f32]| {
                Array2::from_shape_vec(shape, s.iter().map(|&v| v as f64).collect()).ok()
            };
            let p = grid(&sp.grid)?;
            // Each reference's change at this grid (its tensor for P's, in place).
            let ref_changes: Vec<Array2<f64>> = references
                .iter()
                .filter_map(|&(fr, base_to_r)| {
                    let pr = in_place(base_to_r, pa)?;
                    let g = grid(on_grid(fr, &pr.b, tp)?)?;
                    g.iter().all(|v| v.is_finite()).then(|| &g - &p)
                })
                .collect();
            let grids = Grids {
                rows: tp.sketch.row_idx.iter().map(|&i| i as usize).collect(),
                cols: tp.sketch.col_idx.iter().map(|&i| i as usize).collect(),
                p,
                a: grid(sa)?,
            };
            test_grids(grids, ref_changes, pa, b, pb)
        })
        .collect();
    summarize(tensors, references.len())
}

/// A reference's tensor for the tensor of P in `pa`: related, not transposed, same shape
/// (a fine-tune changes a tensor in place).
fn in_place<'c>(base_to_r: &'c Comparison, pa: &TensorPair) -> Option<&'c TensorPair> {
    base_to_r
        .pairs
        .iter()
        .find(|pr| pr.kind.related() && pr.a == pa.a && !pr.transposed && pr.b.shape == pa.a.shape)
}

fn summarize(tensors: Vec<OwnChangeTensor>, references: usize) -> OwnChanges {
    let tested: Vec<&OwnChangeTensor> = tensors.iter().filter(|t| t.alignment.is_some()).collect();
    let missing_in_b = tensors.iter().filter(|t| t.b.is_none()).count();
    let not_aligned = tensors
        .iter()
        .filter(|t| t.b.is_some() && t.alignment.is_none())
        .count();
    // Weights: each tensor's change energy, scaled from its cells to its elements.
    let energy = |t: &OwnChangeTensor| {
        let elements: usize = t.a.shape.iter().product();
        t.change * t.change * elements as f64
    };
    let counted = tensors
        .iter()
        .filter(|t| t.b.is_none() || t.alignment.is_some());
    let (mut found, mut total, mut tested_total, mut base_energy) = (0.0, 0.0, 0.0, 0.0);
    for t in counted {
        let e = energy(t);
        total += e;
        base_energy += t.a.shape.iter().product::<usize>() as f64;
        if t.alignment.is_some() {
            found += e * t.share;
            tested_total += e;
        }
    }
    let ratio = |found: f64, total: f64| {
        if total > 0.0 {
            (found / total).clamp(0.0, 1.0)
        } else {
            0.0
        }
    };
    let (share, tested_share) = (ratio(found, total), ratio(found, tested_total));
    let change = if base_energy > 0.0 {
        (total / base_energy).sqrt()
    } else {
        0.0
    };
    // Each reference's share, weighted as `tested_share` is, over the tensors every
    // reference has.
    let full: Vec<&OwnChangeTensor> = tested
        .iter()
        .copied()
        .filter(|t| t.reference_shares.len() == references && references >= 2)
        .collect();
    let full_energy: f64 = full.iter().map(|t| energy(t)).sum();
    let reference_shares: Vec<f64> = if full.is_empty() || full_energy <= 0.0 {
        Vec::new()
    } else {
        (0..references)
            .map(|i| {
                let found: f64 = full.iter().map(|t| energy(t) * t.reference_shares[i]).sum();
                found / full_energy
            })
            .collect()
    };
    // Stouffer alone (no min-p term): uniform under the null, which the calibration asks
    // for; a few strong tensors among many weak ones are diluted, not lost.
    let log10_p = stouffer_z(tested.iter().map(|t| ((t.cells as f64).sqrt(), t.log10_p)))
        .map_or(0.0, |z| log10_normal_tail(z).min(0.0));
    OwnChanges {
        log10_p,
        share,
        tested_share,
        change,
        changed_tensors: tensors.len(),
        missing_in_b,
        not_aligned,
        tested: tested.len(),
        cells: tested.iter().map(|t| t.cells).sum(),
        tensors,
        references,
        share_floor: share_floor(references, &reference_shares),
        reference_shares,
        null_hypothesis: OWN_CHANGES_NULL,
    }
}

/// P's and A's sampled rows, as `rows × cols` grids.
struct Grids {
    rows: Vec<usize>,
    cols: Vec<usize>,
    p: Array2<f64>,
    a: Array2<f64>,
}

fn tensor_test(
    base: &Model,
    a: &Model,
    pa: &TensorPair,
    b: &Model,
    pb: Option<&TensorPair>,
    refs: &[(&Model, &TensorPair)],
) -> Option<OwnChangeTensor> {
    let (vp, va) = (values(base, &pa.a)?, values(a, &pa.b)?);
    let (rows, cols) = matrix_shape(&pa.a.shape);
    if rows < 3 {
        return None; // vectors: see the module docs
    }
    let row_idx: Vec<usize> = select_indices(rows, OWN_CHANGES_ROWS)
        .into_iter()
        .map(|i| i as usize)
        .collect();
    let col_idx: Vec<usize> = select_indices(cols, OWN_CHANGES_COLUMNS)
        .into_iter()
        .map(|i| i as usize)
        .collect();
    let p = read_grid(&vp, cols, &row_idx, &col_idx)?;
    let av = read_grid(&va, cols, &row_idx, &col_idx)?;
    // The references' changes at the same cells (unreadable or non-finite ones dropped).
    let ref_changes: Vec<Array2<f64>> = refs
        .iter()
        .filter_map(|&(model, pr)| {
            let g = read_grid(&values(model, &pr.b)?, cols, &row_idx, &col_idx)?;
            g.iter().all(|v| v.is_finite()).then(|| &g - &p)
        })
        .collect();
    let grids = Grids {
        rows: row_idx,
        cols: col_idx,
        p,
        a: av,
    };
    test_grids(grids, ref_changes, pa, b, pb)
}

/// The test of one tensor given P's and A's values at its grid (and the references'
/// changes there): B's tensor is read from its weights and aligned to P's grid.
fn test_grids(
    grids: Grids,
    ref_changes: Vec<Array2<f64>>,
    pa: &TensorPair,
    b: &Model,
    pb: Option<&TensorPair>,
) -> Option<OwnChangeTensor> {
    let (p, av) = (&grids.p, &grids.a);
    if !p.iter().chain(av.iter()).all(|v| v.is_finite()) {
        return None; // NaN or infinite weights: no statistic is meaningful on them
    }
    let d_a = av - p;
    let p_energy: f64 = p.iter().map(|v| v * v).sum();
    let a_energy: f64 = d_a.iter().map(|v| v * v).sum();
    if a_energy == 0.0 || p_energy == 0.0 {
        return None; // A left this tensor as its base had it: nothing of A's own here
    }
    let change = (a_energy / p_energy).sqrt();
    let mut out = OwnChangeTensor {
        a: pa.b.clone(),
        b: pb.map(|pb| pb.b.clone()),
        alignment: None,
        change,
        share: 0.0,
        log10_p: 0.0,
        cells: 0,
        references: ref_changes.len(),
        reference_shares: Vec::new(),
    };
    let Some(pb) = pb else {
        return Some(out);
    };
    let Some(vb) = values(b, &pb.b) else {
        return Some(out);
    };
    if let Some(aligned) = align(&grids, &vb, pb) {
        let pick = |g: &Array2<f64>| {
            g.select(Axis(0), &aligned.rows)
                .select(Axis(1), &aligned.cols)
        };
        let (p, a) = (pick(&grids.p), pick(&grids.a));
        let (mut d_a, mut d_b) = (&a - &p, &aligned.b - &p);
        let basis: Vec<Array2<f64>> = ref_changes.iter().map(pick).collect();
        project_out(&mut d_a, &basis);
        project_out(&mut d_b, &basis);
        let (z, share) = permutation_test(&d_a, &d_b);
        out.reference_shares = reference_shares(&(av - p), &ref_changes);
        out.alignment = Some(aligned.how);
        out.share = share;
        out.log10_p = log10_normal_tail(z);
        out.cells = d_a.len();
    }
    Some(out)
}

/// Reads `rows × cols` (indices into a row-major `_ × width` matrix) as f64.
fn read_grid(v: &Values<'_>, width: usize, rows: &[usize], cols: &[usize]) -> Option<Array2<f64>> {
    let mut line = vec![0f32; width];
    let mut grid = Array2::zeros((rows.len(), cols.len()));
    for (i, &r) in rows.iter().enumerate() {
        v.decode_f32_into(r * width..(r + 1) * width, &mut line)
            .ok()?;
        for (j, &c) in cols.iter().enumerate() {
            grid[[i, j]] = line[c] as f64;
        }
    }
    Some(grid)
}

/// B's tensor in P's orientation: element (r, c) of P's matrix.
struct Oriented<'v, 'm> {
    values: &'v Values<'m>,
    /// Rows and columns in P's orientation.
    rows: usize,
    cols: usize,
    /// Stored row length.
    stored_cols: usize,
    transposed: bool,
}

impl Oriented<'_, '_> {
    /// Row `r` (P's orientation) at columns `cols`, or `None` when unreadable.
    fn line(&self, r: usize, cols: &[usize], scratch: &mut Vec<f32>) -> Option<Vec<f64>> {
        if self.transposed {
            let mut one = [0f32; 1];
            cols.iter()
                .map(|&c| {
                    let i = c * self.stored_cols + r;
                    self.values.decode_f32_into(i..i + 1, &mut one).ok()?;
                    Some(one[0] as f64)
                })
                .collect()
        } else {
            scratch.resize(self.stored_cols, 0.0);
            let start = r * self.stored_cols;
            self.values
                .decode_f32_into(start..start + self.stored_cols, scratch)
                .ok()?;
            cols.iter()
                .map(|&c| scratch.get(c).map(|&v| v as f64))
                .collect()
        }
    }

    fn grid(&self, rows: &[usize], cols: &[usize]) -> Option<Array2<f64>> {
        let mut scratch = Vec::new();
        let mut g = Array2::zeros((rows.len(), cols.len()));
        for (i, &r) in rows.iter().enumerate() {
            let line = self.line(r, cols, &mut scratch)?;
            g.row_mut(i).assign(&ndarray::Array1::from(line));
        }
        Some(g)
    }
}

/// B's tensor aligned to P's sampled grid.
struct Aligned {
    how: Alignment,
    /// P's sampled rows and columns B has (indices into the grid).
    rows: Vec<usize>,
    cols: Vec<usize>,
    /// B's values there, rescaling undone.
    b: Array2<f64>,
}

/// Aligns B's tensor to P's sampled grid, if it can be.
fn align(g: &Grids, vb: &Values<'_>, pb: &TensorPair) -> Option<Aligned> {
    let (stored_rows, stored_cols) = matrix_shape(&pb.b.shape);
    let (rows, cols) = if pb.transposed {
        (stored_cols, stored_rows)
    } else {
        (stored_rows, stored_cols)
    };
    let b = Oriented {
        values: vb,
        rows,
        cols,
        stored_cols,
        transposed: pb.transposed,
    };
    // P's sampled rows and columns that B still has (rows or columns cut at the end).
    let keep_rows: Vec<usize> = (0..g.rows.len()).filter(|&i| g.rows[i] < rows).collect();
    let keep_cols: Vec<usize> = (0..g.cols.len()).filter(|&j| g.cols[j] < cols).collect();
    if keep_rows.len() < 3 || keep_cols.is_empty() {
        return None;
    }
    let rows_at: Vec<usize> = keep_rows.iter().map(|&i| g.rows[i]).collect();
    let cols_at: Vec<usize> = keep_cols.iter().map(|&j| g.cols[j]).collect();
    let p = g.p.select(Axis(0), &keep_rows).select(Axis(1), &keep_cols);

    let direct = b.grid(&rows_at, &cols_at)?;
    if !direct.iter().all(|v| v.is_finite()) {
        return None;
    }
    let (how, fitted) = if let Some(f) = fit(&p, &direct) {
        (Alignment::Direct, f)
    } else if let Some(f) = rows_permuted(&b, &p, &cols_at).and_then(|m| fit(&p, &m)) {
        (Alignment::RowsPermuted, f)
    } else {
        let f = columns_permuted(&b, &p, &rows_at).and_then(|m| fit(&p, &m))?;
        (Alignment::ColumnsPermuted, f)
    };
    Some(Aligned {
        how,
        rows: keep_rows,
        cols: keep_cols,
        b: fitted,
    })
}

/// B's grid with per-row or per-column rescaling undone, if it then lies close to P.
fn fit(p: &Array2<f64>, b: &Array2<f64>) -> Option<Array2<f64>> {
    let candidates = [
        b.clone(),
        unscale(p, b, Axis(1)), // one scale per row
        unscale(p, b, Axis(0)), // one scale per column
    ];
    let p_norm: f64 = p.iter().map(|v| v * v).sum::<f64>().sqrt();
    let error = |m: &Array2<f64>| (m - p).iter().map(|v| v * v).sum::<f64>().sqrt() / p_norm;
    let (best, err) = candidates
        .into_iter()
        .map(|m| {
            let e = error(&m);
            (m, e)
        })
        .min_by(|x, y| x.1.total_cmp(&y.1))?;
    // Rescaling is undone only when it clearly explains more than it fits noise.
    let plain_err = error(b);
    let chosen = if plain_err <= err * (1.0 + OWN_CHANGES_RESCALED) {
        (b.clone(), plain_err)
    } else {
        (best, err)
    };
    (chosen.1 < OWN_CHANGES_ALIGN_MAX_ERROR).then_some(chosen.0)
}

/// `b` with one least-squares scale per lane (lanes along `axis`) divided out.
fn unscale(p: &Array2<f64>, b: &Array2<f64>, axis: Axis) -> Array2<f64> {
    let mut out = b.clone();
    for (mut ol, pl) in out.lanes_mut(axis).into_iter().zip(p.lanes(axis)) {
        let (sxy, sxx) = ol
            .iter()
            .zip(&pl)
            .fold((0.0, 0.0), |(xy, xx), (&y, &x)| (xy + x * y, xx + x * x));
        if sxx > 0.0 && sxy != 0.0 {
            let s = sxy / sxx;
            ol.mapv_inplace(|v| v / s);
        }
    }
    out
}

/// B's rows matched to P's sampled rows by their values at a few of P's columns (B's
/// columns in place): the B row with the largest |cosine| to each.
fn rows_permuted(b: &Oriented<'_, '_>, p: &Array2<f64>, cols_at: &[usize]) -> Option<Array2<f64>> {
    let k = cols_at.len().min(OWN_CHANGES_MATCH_COLUMNS);
    let probe = &cols_at[..k];
    let all_rows: Vec<usize> = (0..b.rows).collect();
    let b_sig = b.grid(&all_rows, probe)?;
    let p_sig = p.select(Axis(1), &(0..k).collect::<Vec<_>>());
    let best = nearest(&p_sig, &b_sig);
    let matched: Vec<usize> = best.into_iter().collect::<Option<_>>()?;
    b.grid(&matched, cols_at)
}

/// B's columns matched to P's sampled columns by their values at P's sampled rows (B's
/// rows in place).
fn columns_permuted(
    b: &Oriented<'_, '_>,
    p: &Array2<f64>,
    rows_at: &[usize],
) -> Option<Array2<f64>> {
    let all_cols: Vec<usize> = (0..b.cols).collect();
    let b_rows = b.grid(rows_at, &all_cols)?; // rows_at × all of B's columns
    let best = nearest(&p.t().to_owned(), &b_rows.t().to_owned());
    let matched: Vec<usize> = best.into_iter().collect::<Option<_>>()?;
    Some(b_rows.select(Axis(1), &matched))
}

/// For each row of `queries`, the row of `pool` with the largest |cosine|.
fn nearest(queries: &Array2<f64>, pool: &Array2<f64>) -> Vec<Option<usize>> {
    let normalize = |m: &Array2<f64>| {
        let mut m = m.mapv(|v| v as f32);
        for mut row in m.rows_mut() {
            let n = row.dot(&row).sqrt();
            if n > 0.0 {
                row.mapv_inplace(|v| v / n);
            }
        }
        m
    };
    let (q, pl) = (normalize(queries), normalize(pool));
    let sims = q.dot(&pl.t());
    sims.rows()
        .into_iter()
        .map(|row| {
            row.iter()
                .enumerate()
                .filter(|(_, v)| v.is_finite())
                .max_by(|x, y| x.1.abs().total_cmp(&y.1.abs()))
                .map(|(i, _)| i)
        })
        .collect()
}

/// Removes from every row of `d` its projection on the span of the same row of each grid
/// in `basis` (Gram-Schmidt per row; directions with no energy left are skipped).
fn project_out(d: &mut Array2<f64>, basis: &[Array2<f64>]) {
    if basis.is_empty() {
        return;
    }
    for (r, mut row) in d.rows_mut().into_iter().enumerate() {
        let mut ortho: Vec<ndarray::Array1<f64>> = Vec::with_capacity(basis.len());
        for g in basis {
            let mut v = g.row(r).to_owned();
            let original: f64 = v.dot(&v);
            for u in &ortho {
                let c = v.dot(u);
                v.scaled_add(-c, u);
            }
            let norm = v.dot(&v).sqrt();
            // A direction the earlier ones already span adds nothing (and would be noise).
            if norm > 0.0 && norm * norm > 1e-12 * original {
                ortho.push(v / norm);
            }
        }
        for u in &ortho {
            let c = row.dot(u);
            row.scaled_add(-c, u);
        }
    }
}

/// Each reference's share of A's change with the other references projected out: what a
/// fine-tune of P independent of A holds of A's change after the projection (empty with
/// fewer than two references).
fn reference_shares(d_a: &Array2<f64>, refs: &[Array2<f64>]) -> Vec<f64> {
    if refs.len() < 2 {
        return Vec::new();
    }
    (0..refs.len())
        .map(|i| {
            let others: Vec<Array2<f64>> = refs
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(_, r)| r.clone())
                .collect();
            let (mut da, mut dr) = (d_a.clone(), refs[i].clone());
            project_out(&mut da, &others);
            project_out(&mut dr, &others);
            let aa: f64 = da.iter().map(|v| v * v).sum();
            if aa > 0.0 {
                da.iter().zip(dr.iter()).map(|(x, y)| x * y).sum::<f64>() / aa
            } else {
                0.0
            }
        })
        .collect()
}

/// The permutation test of `T = Σ_r ⟨d_A[r], d_B[r]⟩` over the pairings of rows, as a z
/// (exact permutation mean and variance of a linear statistic: Hoeffding 1951), and the
/// share `⟨d_A, d_B⟩ / ⟨d_A, d_A⟩`.
fn permutation_test(d_a: &Array2<f64>, d_b: &Array2<f64>) -> (f64, f64) {
    let n = d_a.nrows();
    let m = d_a.dot(&d_b.t()); // m[i][k] = ⟨d_A[i], d_B[k]⟩
    let trace: f64 = m.diag().sum();
    let aa: f64 = d_a.iter().map(|v| v * v).sum();
    let share = if aa > 0.0 { trace / aa } else { 0.0 };
    if n < 3 {
        return (0.0, share);
    }
    let nf = n as f64;
    let row_mean = m.mean_axis(Axis(1)).expect("n >= 3");
    let col_mean = m.mean_axis(Axis(0)).expect("n >= 3");
    let mean = m.mean().expect("n >= 3");
    let mut ss = 0.0;
    for ((i, k), &v) in m.indexed_iter() {
        let d = v - row_mean[i] - col_mean[k] + mean;
        ss += d * d;
    }
    let expected = nf * mean; // (1/n) Σ_ik m[i][k]
    let var = ss / (nf - 1.0);
    if var <= 0.0 || !var.is_finite() {
        return (0.0, share);
    }
    let z = ((trace - expected) / var.sqrt()).min(permutation_z_cap(n));
    (z, share)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutation_test_is_centered_and_finds_a_copy() {
        let mut rng = 7u64;
        let mut next = || {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((rng >> 11) as f64 / (1u64 << 53) as f64) - 0.5
        };
        let d_a = Array2::from_shape_fn((64, 128), |_| next());
        let noise = Array2::from_shape_fn((64, 128), |_| next());
        let (z0, s0) = permutation_test(&d_a, &noise);
        assert!(z0.abs() < 4.0 && s0.abs() < 0.1, "{z0} {s0}");
        let child = &d_a + &noise;
        let (z1, s1) = permutation_test(&d_a, &child);
        assert!(z1 > 10.0 && (s1 - 1.0).abs() < 0.1, "{z1} {s1}");
        let half = &d_a * 0.5 + &noise;
        let (_, s2) = permutation_test(&d_a, &half);
        assert!((s2 - 0.5).abs() < 0.1, "{s2}");
        // Nothing of B's own: no evidence at all.
        let (z3, _) = permutation_test(&d_a, &Array2::zeros((64, 128)));
        assert_eq!(z3, 0.0);
    }
}
