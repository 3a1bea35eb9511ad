//! The multiply-adds of the anchored kernels: every unit's response to the anchors,
//! normalized and summed as outer products. Compiled for AVX2 where the CPU has it.

/// Fills row `r` of a matrix into the buffer (finite values only); false when it cannot
/// be decoded.
pub(super) type Rows<'a> = &'a dyn Fn(usize, &mut [f32]) -> bool;

/// The kernel of a matrix read (`writes == false`: its columns are the residual width)
/// or written side, compiled for AVX2 when the CPU has it: the multiply-adds are the
/// dominant cost of the invariants.
pub(super) fn kernel(
    row: Rows<'_>,
    (rows, cols): (usize, usize),
    anchors: &[f32],
    k: usize,
    writes: bool,
) -> Option<Vec<f32>> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports the feature the function is compiled for (checked above).
        return unsafe { kernel_avx2(row, (rows, cols), anchors, k, writes) };
    }
    kernel_portable(row, (rows, cols), anchors, k, writes)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn kernel_avx2(
    row: Rows<'_>,
    shape: (usize, usize),
    anchors: &[f32],
    k: usize,
    writes: bool,
) -> Option<Vec<f32>> {
    kernel_portable(row, shape, anchors, k, writes)
}

#[inline(always)]
fn kernel_portable(
    row: Rows<'_>,
    (rows, cols): (usize, usize),
    anchors: &[f32],
    k: usize,
    writes: bool,
) -> Option<Vec<f32>> {
    if writes {
        writing_kernel(row, rows, cols, anchors, k)
    } else {
        reading_kernel(row, rows, cols, anchors, k)
    }
}

/// `out[a] = anchors[a] · row` for every anchor (rows of `anchors`, each `row.len()` long).
/// Four anchors at a time share each load of `row`, with eight lanes each (vectorizes).
#[inline(always)]
fn responses(anchors: &[f32], row: &[f32], out: &mut [f32]) {
    let d = row.len();
    let mut a = 0;
    while a + 4 <= out.len() {
        let lanes = |i: usize| &anchors[(a + i) * d..(a + i + 1) * d];
        let (x0, x1, x2, x3) = (lanes(0), lanes(1), lanes(2), lanes(3));
        let mut acc = [[0f32; 8]; 4];
        let chunks = d / 8 * 8;
        let blocks = row
            .chunks_exact(8)
            .zip(x0.chunks_exact(8))
            .zip(x1.chunks_exact(8).zip(x2.chunks_exact(8)))
            .zip(x3.chunks_exact(8));
        for (((w, a0), (a1, a2)), a3) in blocks {
            let as8 = |v: &[f32]| -> [f32; 8] { v.try_into().unwrap_or([0.0; 8]) };
            let (w, a0, a1, a2, a3) = (as8(w), as8(a0), as8(a1), as8(a2), as8(a3));
            for l in 0..8 {
                acc[0][l] += a0[l] * w[l];
                acc[1][l] += a1[l] * w[l];
                acc[2][l] += a2[l] * w[l];
                acc[3][l] += a3[l] * w[l];
            }
        }
        for (i, xs) in [x0, x1, x2, x3].into_iter().enumerate() {
            let tail: f32 = (chunks..d).map(|c| xs[c] * row[c]).sum();
            out[a + i] = acc[i].iter().sum::<f32>() + tail;
        }
        a += 4;
    }
    for (i, o) in out.iter_mut().enumerate().skip(a) {
        *o = anchors[i * d..(i + 1) * d]
            .iter()
            .zip(row)
            .map(|(x, y)| x * y)
            .sum();
    }
}

/// Accumulates normalized responses into an upper-triangle sum and returns the cosines.
struct Accumulator {
    k: usize,
    sum: Vec<f64>,
}

impl Accumulator {
    fn new(k: usize) -> Self {
        Accumulator {
            k,
            sum: vec![0.0; k * (k + 1) / 2],
        }
    }

    #[inline(always)]
    fn add(&mut self, m: &[f32]) {
        let norm2: f64 = m.iter().map(|&v| v as f64 * v as f64).sum();
        if !norm2.is_finite() || norm2 <= 0.0 {
            return;
        }
        let inv = 1.0 / norm2;
        let mut p = 0;
        for i in 0..self.k {
            let mi = m[i] as f64 * inv;
            for &mj in &m[i..] {
                self.sum[p] += mi * mj as f64;
                p += 1;
            }
        }
    }

    /// Off-diagonal cosines, upper triangle row-major.
    fn cosines(&self) -> Option<Vec<f32>> {
        let k = self.k;
        // Position of (i, j), i ≤ j, in the packed upper triangle with diagonal.
        let pos = |i: usize, j: usize| i * (2 * k - i + 1) / 2 + (j - i);
        let diag: Vec<f64> = (0..k).map(|i| self.sum[pos(i, i)]).collect();
        if diag.iter().any(|&v| v.is_nan() || v <= 0.0) {
            return None;
        }
        let mut out = Vec::with_capacity(k * (k - 1) / 2);
        for i in 0..k {
            for j in i + 1..k {
                out.push((self.sum[pos(i, j)] / (diag[i] * diag[j]).sqrt()) as f32);
            }
        }
        Some(out)
    }
}

/// Kernel of a matrix whose columns are the residual width: unit `u` is row `u`.
#[inline(always)]
fn reading_kernel(
    row: Rows<'_>,
    rows: usize,
    cols: usize,
    anchors: &[f32],
    k: usize,
) -> Option<Vec<f32>> {
    let mut acc = Accumulator::new(k);
    let mut line = vec![0f32; cols];
    let mut m = vec![0f32; k];
    for r in 0..rows {
        if !row(r, &mut line) {
            return None;
        }
        responses(anchors, &line, &mut m);
        acc.add(&m);
    }
    acc.cosines()
}

/// Kernel of a matrix whose rows are the residual width: unit `u` is column `u`.
#[inline(always)]
fn writing_kernel(
    row: Rows<'_>,
    rows: usize,
    cols: usize,
    anchors: &[f32],
    k: usize,
) -> Option<Vec<f32>> {
    // Responses for every unit at once (k × cols), built one residual row at a time.
    let mut resp = vec![0f32; k * cols];
    let mut line = vec![0f32; cols];
    for r in 0..rows {
        if !row(r, &mut line) {
            return None;
        }
        for a in 0..k {
            let s = anchors[a * rows + r];
            for (o, &w) in resp[a * cols..(a + 1) * cols].iter_mut().zip(&line) {
                *o += s * w;
            }
        }
    }
    let mut acc = Accumulator::new(k);
    let mut m = vec![0f32; k];
    for u in 0..cols {
        for (a, out) in m.iter_mut().enumerate() {
            *out = resp[a * cols + u];
        }
        acc.add(&m);
    }
    acc.cosines()
}
