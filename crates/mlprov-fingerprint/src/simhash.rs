//! A 256-bit SimHash of a sketch: similar tensors get keys at small Hamming distance,
//! unrelated ones about 128 bits apart, so a registry can find candidates by key.

use serde::{Deserialize, Serialize};

use crate::index_hash::index_hash;
use crate::sketch::TensorSketch;

/// Seed separating the projection signs from the index hash.
const PROJECTION_SEED: u64 = 0x7369_6d68_6173_6801; // "simhash", version 1
/// Seed of the projections of [`SimHash::of_values`] (another family than sketches').
const VALUES_SEED: u64 = 0x7669_6d68_6173_6801;

/// A 256-bit locality-sensitive key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SimHash(pub [u64; 4]);

impl SimHash {
    /// 64 hex digits, most significant word first.
    pub fn hex(&self) -> String {
        self.0.iter().rev().map(|w| format!("{w:016x}")).collect()
    }

    /// Parses [`SimHash::hex`].
    pub fn from_hex(s: &str) -> Option<Self> {
        if s.len() != 64 || !s.is_ascii() {
            return None;
        }
        let mut out = [0u64; 4];
        for (k, w) in out.iter_mut().rev().enumerate() {
            *w = u64::from_str_radix(&s[k * 16..k * 16 + 16], 16).ok()?;
        }
        Some(SimHash(out))
    }
}

impl Serialize for SimHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.hex())
    }
}

impl<'de> Deserialize<'de> for SimHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        SimHash::from_hex(&s).ok_or_else(|| serde::de::Error::custom("not a 64-hex-digit SimHash"))
    }
}

impl SimHash {
    /// The key of a sketch, taken in canonical orientation (more rows than columns, so a
    /// transposed copy of a non-square matrix gets the same key) on per-row z-scores.
    pub fn of(sketch: &TensorSketch) -> Self {
        let (nr, nc) = (sketch.row_idx.len(), sketch.col_idx.len());
        let flip = sketch.rows < sketch.cols && sketch.rows > 1;
        let (gr, gc) = if flip { (nc, nr) } else { (nr, nc) };
        let cell = |i: usize, j: usize| if flip { sketch.value(j, i) } else { sketch.value(i, j) } as f64;
        let mut acc = [0f64; 256];
        for i in 0..gr {
            let mean = (0..gc).map(|j| cell(i, j)).sum::<f64>() / gc as f64;
            let sd = ((0..gc).map(|j| (cell(i, j) - mean).powi(2)).sum::<f64>() / gc as f64).sqrt();
            if sd == 0.0 {
                continue;
            }
            for j in 0..gc {
                let z = (cell(i, j) - mean) / sd;
                project(&mut acc, PROJECTION_SEED ^ ((i as u64) << 32 | j as u64), z);
            }
        }
        signs(&acc)
    }

    /// The key of a vector of values (an anchored kernel's cosines), on its z-scores: two
    /// vectors correlated at r differ in about `256·acos(r)/π` bits.
    pub fn of_values(values: &[f32]) -> Self {
        let n = values.len().max(1) as f64;
        let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n;
        let sd = (values
            .iter()
            .map(|&v| (v as f64 - mean).powi(2))
            .sum::<f64>()
            / n)
            .sqrt();
        let mut acc = [0f64; 256];
        if sd > 0.0 {
            for (i, &v) in values.iter().enumerate() {
                let z = (v as f64 - mean) / sd;
                if z.is_finite() {
                    project(&mut acc, VALUES_SEED ^ i as u64, z);
                }
            }
        }
        signs(&acc)
    }

    /// Number of differing bits (0 to 256).
    #[must_use]
    pub fn hamming(&self, other: &SimHash) -> u32 {
        self.0
            .iter()
            .zip(&other.0)
            .map(|(a, b)| (a ^ b).count_ones())
            .sum()
    }
}

/// Adds `z` times 256 random ±1 signs (drawn from `base`, four 64-bit words) to `acc`.
fn project(acc: &mut [f64; 256], base: u64, z: f64) {
    for (w, chunk) in acc.chunks_mut(64).enumerate() {
        let signs = index_hash(base.wrapping_add(w as u64 * 0x1000_0000_0000));
        for (b, a) in chunk.iter_mut().enumerate() {
            *a += if signs >> b & 1 == 1 { z } else { -z };
        }
    }
}

/// The key: one bit per projection, set where the sum is positive.
fn signs(acc: &[f64; 256]) -> SimHash {
    let mut out = [0u64; 4];
    for (k, a) in acc.iter().enumerate() {
        if *a > 0.0 {
            out[k / 64] |= 1 << (k % 64);
        }
    }
    SimHash(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_keys_are_close_for_correlated_vectors_and_far_for_independent_ones() {
        let mut state = 1u64;
        let mut gauss = || {
            // Sum of uniforms: close enough to Gaussian for a test of angles.
            (0..12)
                .map(|_| {
                    state = index_hash(state);
                    (state >> 11) as f64 / (1u64 << 53) as f64
                })
                .sum::<f64>()
                - 6.0
        };
        let x: Vec<f32> = (0..496).map(|_| gauss() as f32).collect();
        let noisy: Vec<f32> = x.iter().map(|&v| v + 0.3 * gauss() as f32).collect();
        let other: Vec<f32> = (0..496).map(|_| gauss() as f32).collect();
        let (kx, kn, ko) = (
            SimHash::of_values(&x),
            SimHash::of_values(&noisy),
            SimHash::of_values(&other),
        );
        // r ≈ 0.96: about 256·acos(0.96)/π ≈ 23 bits apart; independent: about 128.
        assert!(kx.hamming(&kn) < 45, "{}", kx.hamming(&kn));
        assert!((90..166).contains(&kx.hamming(&ko)), "{}", kx.hamming(&ko));
        // Shifting and scaling the vector changes nothing (z-scores).
        let affine: Vec<f32> = x.iter().map(|&v| 3.0 * v + 1.0).collect();
        assert_eq!(SimHash::of_values(&affine), kx);
    }
}
