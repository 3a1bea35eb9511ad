//! Anchored kernels: architecture-level invariants of transformer blocks.
//!
//! A few token rows of the embedding (the *anchors*) are pushed through every matrix that
//! reads from or writes to the residual stream, and the similarities among the anchors'
//! responses, summed over all hidden units, are kept. With `X` the anchor rows, whitened
//! so that `X·Xᵀ = I` (the whitening depends only on `X·Xᵀ`), and `W` a matrix reading the
//! residual stream (`h × d`), unit `u` responds `m_u = X·diag(g)·w_u` where `g` is the norm
//! gain in front of `W`. The kernel is `Σ_u m̂_u·m̂_uᵀ` with `m̂_u = m_u / |m_u|`, as cosines.
//!
//! It does not change under
//! * a residual-stream rotation or permutation `R` (`X → X·R`, `W → W·R`: `X·Wᵀ` is kept),
//! * a permutation of hidden units or heads (the sum runs over all units),
//! * per-unit rescaling or sign flips (each response is normalized),
//! * norm-gain folding (`W·diag(g)` with gain 1 is what the unfolded pair computes),
//!
//! and only slowly under fine-tuning and quantization. Whitening removes the anchors' own
//! similarity, so a copied embedding in front of new layers does not make the layers alike.
//!
//! Cost: `anchors` multiply-adds per weight of every residual matrix (a ~1B model: about
//! 35 GMAC), reading each such matrix once.

use std::collections::BTreeMap;

use mlprov_formats::Model;
use ndarray::{Array1, Array2, ArrayView2, Axis, Slice};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::index_hash::select_indices;
use crate::model::TensorFingerprint;
use crate::names::{gain_for, is_gain};
use crate::sketch::matrix_shape;
use crate::thresholds::{GAIN_MIN_POSITIVE_SHARE, INVARIANT_MIN_CELLS as MIN_CELLS};
use crate::values::Values;

pub(crate) mod kernel;
use kernel::kernel;

/// Anchor tokens per model (fewer when the residual stream is narrow).
pub const ANCHORS: usize = 32;
/// Widest residual stream considered (real models stay under 32K): bounds the anchor
/// buffers whatever shapes a file declares.
const MAX_WIDTH: usize = 1 << 16;
/// Most units a writing matrix may have (its responses are held at once: 128 MiB).
const MAX_WRITE_UNITS: usize = 1 << 20;

/// The anchor tokens a model's kernels are expressed over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnchorSet {
    /// Width of the residual stream.
    pub width: u32,
    /// Rows of the embedding (vocabulary size).
    pub vocab: u64,
    /// The embedding tensor the anchors were taken from (for reports).
    pub embedding: String,
    /// Anchor token ids, ascending.
    pub ids: Vec<u32>,
}

/// Anchored kernels of one matrix: as a reader of the residual stream (its columns are
/// the residual width) and as a writer (its rows are).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnchoredKernel {
    /// Norm gain folded in front of the matrix when read as a reader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gain: Option<String>,
    /// Cosines among anchor responses, upper triangle row-major, reading side.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::compact::cosines::option"
    )]
    pub reads: Option<Vec<f32>>,
    /// Likewise, writing side.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::compact::cosines::option"
    )]
    pub writes: Option<Vec<f32>>,
}

/// Correlation of two kernels over the same anchors, with the number of cells.
pub fn compare_kernels(a: &[f32], b: &[f32]) -> Option<(f64, usize)> {
    if a.len() != b.len() || a.len() < MIN_CELLS {
        return None;
    }
    // One pass, no allocation: this runs for every candidate pair.
    let (mut sx, mut sy, mut sxx, mut syy, mut sxy) = (0f64, 0f64, 0f64, 0f64, 0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (x as f64, y as f64);
        sx += x;
        sy += y;
        sxx += x * x;
        syy += y * y;
        sxy += x * y;
    }
    let n = a.len() as f64;
    let (vx, vy) = (sxx - sx * sx / n, syy - sy * sy / n);
    let r = if vx > 0.0 && vy > 0.0 {
        (sxy - sx * sy / n) / (vx * vy).sqrt()
    } else {
        0.0
    };
    Some((r, a.len()))
}

/// Computes the anchor set and every residual matrix's kernels (`None` where a tensor has
/// none). `None` overall when the model has no recognizable embedding.
pub(crate) fn anchored_kernels(
    model: &Model,
    tensors: &[TensorFingerprint],
) -> Option<(AnchorSet, Vec<Option<AnchoredKernel>>)> {
    let view = |t: &TensorFingerprint| {
        model
            .files
            .iter()
            .find(|f| f.rel_path == t.file)
            .and_then(|f| Values::of(&f.file, &t.name))
    };
    let width = residual_width(tensors).filter(|&w| w <= MAX_WIDTH)?;
    let emb = embedding(tensors, width)?;
    let (vocab, _) = matrix_shape(&tensors[emb].shape);
    let k = ANCHORS.min(width * 3 / 4).min(vocab / 2);
    if k < 8 {
        return None;
    }
    let ids = select_indices(vocab, k);
    let emb_view = view(&tensors[emb])?;
    let mut x = vec![0f32; k * width];
    for (a, &id) in ids.iter().enumerate() {
        let row = &mut x[a * width..(a + 1) * width];
        emb_view
            .decode_f32_into(id as usize * width..(id as usize + 1) * width, row)
            .ok()?;
        row.iter_mut()
            .filter(|v| !v.is_finite())
            .for_each(|v| *v = 0.0);
    }
    let anchors = whiten(&x, k, width)?;

    // A vector named as a norm is a gain only if its values look like one: a bias renamed
    // `norm` (signs either way) is not folded into the kernels.
    let gains: Vec<(&str, Vec<f32>)> = tensors
        .iter()
        .filter(|t| is_gain(t, width))
        .filter_map(|t| {
            let v = view(t)?;
            let mut g = vec![0f32; width];
            v.decode_f32_into(0..width, &mut g).ok()?;
            let positive = g.iter().filter(|&&x| x > 0.0).count();
            (positive as f64 >= GAIN_MIN_POSITIVE_SHARE * width as f64)
                .then_some((t.name.as_str(), g))
        })
        .collect();

    let kernels = tensors
        .par_iter()
        .enumerate()
        .map(|(i, t)| {
            let (rows, cols) = matrix_shape(&t.shape);
            if i == emb || rows < 2 || (rows != width && cols != width) {
                return None;
            }
            let v = view(t)?;
            let fill = |r: usize, out: &mut [f32]| {
                let ok = v.decode_f32_into(r * cols..(r + 1) * cols, out).is_ok();
                out.iter_mut()
                    .filter(|x| !x.is_finite())
                    .for_each(|x| *x = 0.0);
                ok
            };
            let gain = (cols == width).then(|| gain_for(&t.name, &gains)).flatten();
            let reads = (cols == width)
                .then(|| {
                    let scaled = match gain {
                        Some(g) => scale_columns(&anchors, k, width, &gains[g].1),
                        None => anchors.clone(),
                    };
                    kernel(&fill, (rows, cols), &scaled, k, false)
                })
                .flatten()
                .map(stored_cosines);
            let writes = (rows == width && cols <= MAX_WRITE_UNITS)
                .then(|| kernel(&fill, (rows, cols), &anchors, k, true))
                .flatten()
                .map(stored_cosines);
            (reads.is_some() || writes.is_some()).then(|| AnchoredKernel {
                gain: gain.map(|g| gains[g].0.to_string()),
                reads,
                writes,
            })
        })
        .collect();
    let set = AnchorSet {
        width: width as u32,
        vocab: vocab as u64,
        embedding: tensors[emb].name.clone(),
        ids,
    };
    Some((set, kernels))
}

/// The residual width: the dimension most matrices share (ties: the larger).
pub(crate) fn residual_width(tensors: &[TensorFingerprint]) -> Option<usize> {
    let mut count: BTreeMap<usize, usize> = BTreeMap::new();
    for t in tensors {
        let (r, c) = matrix_shape(&t.shape);
        if r < 2 {
            continue;
        }
        *count.entry(r).or_default() += 1;
        if c != r {
            *count.entry(c).or_default() += 1;
        }
    }
    let (&d, &n) = count.iter().max_by_key(|(&d, &n)| (n, d))?;
    (n >= 3 && d >= 8).then_some(d)
}

/// The token embedding: the `vocab × width` matrix with the most rows (more than columns).
/// Names only break a tie between matrices of that many rows (an untied output head has
/// the embedding's shape), then the first; so renaming another matrix `embed` moves nothing.
fn embedding(tensors: &[TensorFingerprint], width: usize) -> Option<usize> {
    const NAMES: [&str; 5] = ["embed", "wte", "tok_embeddings", "token_embd", "word_emb"];
    tensors
        .iter()
        .enumerate()
        .filter(|(_, t)| {
            let (r, c) = matrix_shape(&t.shape);
            t.shape.len() == 2 && c == width && r > width && r >= 2 * 8
        })
        .max_by_key(|(i, t)| {
            let named = NAMES.iter().any(|n| t.name.to_lowercase().contains(n));
            (t.shape[0], named, std::cmp::Reverse(*i))
        })
        .map(|(i, _)| i)
}

/// Orthonormalizes the anchor rows (`k × d`) by the Cholesky factor of their Gram matrix:
/// `L⁻¹·X` with `X·Xᵀ = L·Lᵀ` (plus a small ridge). Depends on `X` only through `X·Xᵀ`,
/// so a rotated copy of the embedding gives the rotated whitened anchors.
/// (The k ≤ 32 Cholesky itself is a few loops: no LAPACK dependency for it.)
fn whiten(x: &[f32], k: usize, d: usize) -> Option<Vec<f32>> {
    let x = ArrayView2::from_shape((k, d), x).ok()?.mapv(f64::from);
    let mut gram = x.dot(&x.t());
    let trace = gram.diag().sum();
    if trace.is_nan() || trace <= 0.0 {
        return None;
    }
    gram.diag_mut()
        .iter_mut()
        .for_each(|v| *v += 1e-6 * trace / k as f64);
    // Cholesky, lower triangle.
    let mut l = Array2::<f64>::zeros((k, k));
    for i in 0..k {
        for j in 0..=i {
            let s = gram[[i, j]]
                - l.row(i)
                    .slice_axis(Axis(0), Slice::from(..j))
                    .dot(&l.row(j).slice_axis(Axis(0), Slice::from(..j)));
            if i == j {
                if s <= 0.0 {
                    return None;
                }
                l[[i, i]] = s.sqrt();
            } else {
                l[[i, j]] = s / l[[j, j]];
            }
        }
    }
    // Forward substitution, one anchor row at a time: Y_i = (X_i − L_i,<i · Y_<i) / L_ii.
    let mut y = Array2::<f64>::zeros((k, d));
    for i in 0..k {
        let row = (&x.row(i)
            - &l.row(i)
                .slice_axis(Axis(0), Slice::from(..i))
                .dot(&y.slice_axis(Axis(0), Slice::from(..i))))
            / l[[i, i]];
        y.row_mut(i).assign(&row);
    }
    Some(y.iter().map(|&v| v as f32).collect())
}

/// A kernel's cosines as the fingerprint keeps them (255 steps, `compact`).
fn stored_cosines(mut cosines: Vec<f32>) -> Vec<f32> {
    crate::compact::quantize_cosines(&mut cosines);
    cosines
}

/// The anchor rows (`k × d`) with column `c` scaled by the gain `g[c]` (non-finite: 0).
fn scale_columns(x: &[f32], k: usize, d: usize, g: &[f32]) -> Vec<f32> {
    let gain = Array1::from_iter(g.iter().map(|&s| if s.is_finite() { s } else { 0.0 }));
    match ArrayView2::from_shape((k, d), x) {
        Ok(x) => (&x * &gain).iter().copied().collect(),
        Err(_) => x.to_vec(),
    }
}

/// The kernels of an in-memory matrix over raw anchor rows (tests of the invariances).
#[cfg(test)]
fn kernel_of(
    anchor_rows: &[f32],
    (k, d): (usize, usize),
    w: &[f32],
    (rows, cols): (usize, usize),
    gain: Option<&[f32]>,
    writes: bool,
) -> Option<Vec<f32>> {
    let anchors = whiten(anchor_rows, k, d)?;
    let anchors = match gain {
        Some(g) => scale_columns(&anchors, k, d, g),
        None => anchors,
    };
    let fill = |r: usize, out: &mut [f32]| {
        out.copy_from_slice(&w[r * cols..(r + 1) * cols]);
        true
    };
    kernel(&fill, (rows, cols), &anchors, k, writes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The matrix-product kernel (blocks of rows, blocks of units) against the definition
    /// computed one unit at a time in double precision.
    #[test]
    fn kernels_match_their_definition_across_blocks() {
        let (k, d, h) = (8, 16, 600);
        let anchors: Vec<f32> = (0..k * d)
            .map(|i| ((i * 37 % 23) as f32 - 11.0) / 7.0)
            .collect();
        let w: Vec<f32> = (0..h * d)
            .map(|i| ((i * 101 % 53) as f32 - 26.0) / 19.0)
            .collect();
        for writes in [false, true] {
            let (rows, cols) = if writes { (d, h) } else { (h, d) };
            let fill = |r: usize, out: &mut [f32]| {
                out.copy_from_slice(&w[r * cols..(r + 1) * cols]);
                true
            };
            let got = kernel(&fill, (rows, cols), &anchors, k, writes).unwrap();
            let mut sum = vec![0f64; k * k];
            for u in 0..h {
                let m: Vec<f64> = (0..k)
                    .map(|a| {
                        (0..d)
                            .map(|c| {
                                let wv = if writes { w[c * h + u] } else { w[u * d + c] };
                                anchors[a * d + c] as f64 * wv as f64
                            })
                            .sum()
                    })
                    .collect();
                let n2: f64 = m.iter().map(|v| v * v).sum();
                for i in 0..k {
                    for j in 0..k {
                        sum[i * k + j] += m[i] * m[j] / n2;
                    }
                }
            }
            let mut want = Vec::new();
            for i in 0..k {
                for j in i + 1..k {
                    want.push(sum[i * k + j] / (sum[i * k + i] * sum[j * k + j]).sqrt());
                }
            }
            let worst = got
                .iter()
                .zip(&want)
                .map(|(&g, &w)| (g as f64 - w).abs())
                .fold(0f64, f64::max);
            assert!(worst < 1e-4, "writes {writes}: {worst}");
        }
    }

    #[test]
    fn whitened_anchors_are_orthonormal() {
        let (k, d) = (6, 10);
        let x: Vec<f32> = (0..k * d)
            .map(|i| ((i * 37 % 11) as f32 - 5.0) / 3.0)
            .collect();
        let w = whiten(&x, k, d).unwrap();
        for i in 0..k {
            for j in 0..k {
                let dot: f32 = (0..d).map(|c| w[i * d + c] * w[j * d + c]).sum();
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((dot - want).abs() < 1e-3, "{i} {j} {dot}");
            }
        }
    }

    /// A seeded stream of normal numbers.
    struct Normal(u64);
    impl Normal {
        /// Starts far from other seeds' streams (nearby seeds must not overlap).
        fn new(seed: u64) -> Self {
            Normal(crate::index_hash::index_hash(seed).rotate_left(17))
        }

        fn next(&mut self) -> f64 {
            // Index hashes of a counter: a well-mixed stream without another generator.
            let mut u = || {
                self.0 = self.0.wrapping_add(1);
                (crate::index_hash::index_hash(self.0) >> 11) as f64 / (1u64 << 53) as f64
            };
            let (a, b) = (u().max(1e-300), u());
            (-2.0 * a.ln()).sqrt() * (std::f64::consts::TAU * b).cos()
        }
    }

    /// A random orthogonal matrix (Gram–Schmidt of a Gaussian one), row-major.
    fn orthogonal(n: usize, rng: &mut Normal) -> Vec<f64> {
        let mut q: Vec<Vec<f64>> = Vec::new();
        while q.len() < n {
            let mut v: Vec<f64> = (0..n).map(|_| rng.next()).collect();
            for u in &q {
                let dot: f64 = v.iter().zip(u).map(|(a, b)| a * b).sum();
                v.iter_mut().zip(u).for_each(|(x, y)| *x -= dot * y);
            }
            let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
            if norm > 1e-6 {
                q.push(v.into_iter().map(|x| x / norm).collect());
            }
        }
        q.concat()
    }

    /// `a (r × n) · b (n × c)`.
    fn matmul(a: &[f64], b: &[f64], r: usize, n: usize, c: usize) -> Vec<f64> {
        let mut out = vec![0.0; r * c];
        for i in 0..r {
            for p in 0..n {
                for j in 0..c {
                    out[i * c + j] += a[i * n + p] * b[p * c + j];
                }
            }
        }
        out
    }

    fn f32s(v: &[f64]) -> Vec<f32> {
        v.iter().map(|&x| x as f32).collect()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

        /// Rotating the residual stream, permuting, rescaling and sign-flipping hidden
        /// units and folding the norm gain leave both kernels unchanged.
        #[test]
        fn kernels_survive_rotation_permutation_rescaling_and_folding(seed in proptest::prelude::any::<u64>()) {
            invariance_case(seed)?;
        }
    }

    fn invariance_case(seed: u64) -> Result<(), proptest::test_runner::TestCaseError> {
        let (k, d, h) = (12, 20, 36);
        let mut rng = Normal::new(seed);
        let mut gauss = |n: usize| (0..n).map(|_| rng.next()).collect::<Vec<f64>>();
        let (emb, w_in, w_out) = (gauss(k * d), gauss(h * d), gauss(d * h));
        let mut rng = Normal::new(seed ^ 0x5eed);
        let gain: Vec<f64> = (0..d).map(|_| 0.5 + rng.next().abs()).collect();
        let scale: Vec<f64> = (0..h)
            .map(|_| {
                let s = 0.3 + 2.0 * rng.next().abs();
                if rng.next() < 0.0 {
                    -s
                } else {
                    s
                }
            })
            .collect();
        let rot = orthogonal(d, &mut rng);
        let perm: Vec<usize> = {
            let mut p: Vec<usize> = (0..h).collect();
            for i in (1..h).rev() {
                let j = ((rng.next().abs() * 1e6) as usize) % (i + 1);
                p.swap(i, j);
            }
            p
        };
        // A: the reading matrix with its gain kept apart; the writing matrix as it is.
        let a_in = kernel_of(
            &f32s(&emb),
            (k, d),
            &f32s(&w_in),
            (h, d),
            Some(&f32s(&gain)),
            false,
        )
        .unwrap();
        let a_out = kernel_of(&f32s(&emb), (k, d), &f32s(&w_out), (d, h), None, true).unwrap();
        // B: gain folded, residual rotated (E·R, W·R, Rᵀ·W), units permuted and rescaled.
        let emb_b = matmul(&emb, &rot, k, d, d);
        let folded: Vec<f64> = (0..h * d).map(|i| w_in[i] * gain[i % d]).collect();
        let rotated = matmul(&folded, &rot, h, d, d);
        let b_in: Vec<f64> = (0..h * d)
            .map(|i| rotated[perm[i / d] * d + i % d] * scale[i / d])
            .collect();
        let mut rot_t = vec![0.0; d * d];
        for i in 0..d {
            for j in 0..d {
                rot_t[i * d + j] = rot[j * d + i];
            }
        }
        let out_rot = matmul(&rot_t, &w_out, d, d, h);
        let b_out: Vec<f64> = (0..d * h)
            .map(|i| out_rot[(i / h) * h + perm[i % h]] / scale[i % h])
            .collect();
        let b_in = kernel_of(&f32s(&emb_b), (k, d), &f32s(&b_in), (h, d), None, false).unwrap();
        let b_out = kernel_of(&f32s(&emb_b), (k, d), &f32s(&b_out), (d, h), None, true).unwrap();
        let worst = |x: &[f32], y: &[f32]| {
            x.iter()
                .zip(y)
                .map(|(p, q)| (p - q).abs())
                .fold(0f32, f32::max)
        };
        proptest::prop_assert!(
            worst(&a_in, &b_in) < 2e-3,
            "reading kernel moved by {}",
            worst(&a_in, &b_in)
        );
        proptest::prop_assert!(
            worst(&a_out, &b_out) < 2e-3,
            "writing kernel moved by {}",
            worst(&a_out, &b_out)
        );
        // And an unrelated matrix gives another kernel.
        let other = kernel_of(
            &f32s(&emb),
            (k, d),
            &f32s(&gauss_other(seed, h * d)),
            (h, d),
            Some(&f32s(&gain)),
            false,
        )
        .unwrap();
        proptest::prop_assert!(worst(&a_in, &other) > 0.05);
        Ok(())
    }

    fn gauss_other(seed: u64, n: usize) -> Vec<f64> {
        let mut rng = Normal::new(seed.wrapping_mul(31).wrapping_add(7));
        (0..n).map(|_| rng.next()).collect()
    }
}
