//! Telling fixed buffers from learned weights.
//!
//! Independently trained models can carry byte-identical tensors that nobody learned: a
//! signal-processing basis, a sinusoidal table, an identity or a constant. Such a tensor is
//! a smooth or periodic function of its index, or takes only a few values; learned weights
//! look like noise along their stored rows. Only exact copies are checked with this, so a
//! false "fixed" costs one tensor's evidence, never a wrong relation.

use crate::values::Values;

/// Rows probed and elements per probed run.
const PROBE_ROWS: usize = 8;
const PROBE_LEN: usize = 256;
/// Largest lag whose autocorrelation is examined.
const MAX_LAG: usize = 8;
use crate::thresholds::{
    FIXED_MAX_DISTINCT, FIXED_REPEATING as REPEATING, FIXED_STRUCTURED as STRUCTURED,
    FIXED_STRUCTURED_IF_REPEATING as STRUCTURED_IF_REPEATING,
};

/// Whether the tensor looks like a fixed buffer rather than learned weights.
pub fn looks_fixed(view: &Values<'_>) -> bool {
    let n = view.elements();
    if n == 0 {
        return true;
    }
    let run = PROBE_LEN.min(n);
    let runs = PROBE_ROWS.min(n / run).max(1);
    let stride = n / runs;
    let mut buf = vec![0f32; run];
    let mut distinct = std::collections::BTreeSet::new();
    let mut score = 0.0;
    let mut seen = 0usize;
    for k in 0..runs {
        let start = k * stride;
        if view.decode_f32_into(start..start + run, &mut buf).is_err() {
            return false;
        }
        distinct.extend(buf.iter().map(|v| v.to_bits()));
        seen += buf.len();
        score += max_autocorrelation(&buf);
    }
    let score = score / runs as f64;
    let distinct_share = distinct.len() as f64 / seen.max(1) as f64;
    distinct.len() <= FIXED_MAX_DISTINCT
        || score > STRUCTURED
        || (distinct_share < REPEATING && score > STRUCTURED_IF_REPEATING)
}

fn max_autocorrelation(x: &[f32]) -> f64 {
    let n = x.len();
    if n <= MAX_LAG * 2 {
        return 0.0;
    }
    let mean = x.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
    let d: Vec<f64> = x.iter().map(|&v| v as f64 - mean).collect();
    let var: f64 = d.iter().map(|v| v * v).sum();
    if var == 0.0 {
        return 1.0;
    }
    (1..=MAX_LAG)
        .map(|lag| {
            (d[..n - lag]
                .iter()
                .zip(&d[lag..])
                .map(|(a, b)| a * b)
                .sum::<f64>()
                / var)
                .abs()
        })
        .fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlprov_formats::DType;

    fn view_of<'a>(bytes: &'a [u8], shape: &'a [usize]) -> Values<'a> {
        Values::Plain(mlprov_formats::TensorView {
            name: "t",
            dtype: DType::F32,
            shape,
            source: mlprov_formats::Source::File,
            offset: 0,
            bytes,
        })
    }

    fn bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn bases_tables_and_identities_are_fixed_noise_is_not() {
        let (rows, cols) = (64usize, 256usize);
        let stft: Vec<f32> = (0..rows * cols)
            .map(|i| {
                ((i / cols) as f32 * (i % cols) as f32 * std::f32::consts::TAU / cols as f32).cos()
            })
            .collect();
        let eye: Vec<f32> = (0..rows * rows)
            .map(|i| if i / rows == i % rows { 1.0 } else { 0.0 })
            .collect();
        let mut x: u64 = 42;
        let noise: Vec<f32> = (0..rows * cols)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (x >> 40) as f32 / (1u64 << 24) as f32 - 0.5
            })
            .collect();
        let (s, e, n) = (bytes(&stft), bytes(&eye), bytes(&noise));
        assert!(looks_fixed(&view_of(&s, &[rows, cols])));
        assert!(looks_fixed(&view_of(&e, &[rows, rows])));
        assert!(!looks_fixed(&view_of(&n, &[rows, cols])));
    }
}
