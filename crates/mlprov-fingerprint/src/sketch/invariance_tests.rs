//! Property tests: the sketch must survive the cheap transforms a copier uses, and must not relate
//! independent tensors. Matrices are seeded pseudo-Gaussian, like freshly initialized weights.

use proptest::prelude::*;

use super::{compare, TensorSketch};
use crate::simhash::SimHash;

/// Seeded Gaussian matrices (the shared test stream), like freshly initialized weights.
struct Rng(mlprov_testkit::Rng);
impl Rng {
    fn new(seed: u64) -> Self {
        Rng(mlprov_testkit::Rng::new(seed))
    }
    fn gauss(&mut self) -> f32 {
        self.0.gauss()
    }
    fn matrix(&mut self, r: usize, c: usize) -> Vec<f32> {
        self.0.gaussians(r * c, 1.0)
    }
}

fn sketch(m: &[f32], r: usize, c: usize) -> TensorSketch {
    TensorSketch::from_fn(r, c, |i, j| m[i * c + j])
}

fn corr(a: &TensorSketch, b: &TensorSketch) -> f64 {
    compare(a, b).map(|m| m.correlation).unwrap_or(0.0)
}

fn to_bf16(v: f32) -> f32 {
    f32::from_bits(v.to_bits() & 0xffff_0000)
}

const R: usize = 96;
const C: usize = 64;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn identical_and_reencoded_copies_match(seed in any::<u64>()) {
        let m = Rng::new(seed).matrix(R, C);
        let a = sketch(&m, R, C);
        prop_assert!(corr(&a, &a) > 0.9999);
        let bf: Vec<f32> = m.iter().map(|&v| to_bf16(v)).collect();
        prop_assert!(corr(&a, &sketch(&bf, R, C)) > 0.999);
        prop_assert!(corr(&a, &sketch(&mlprov_testkit::q4_round_trip(&m), R, C)) > 0.95);
    }

    #[test]
    fn fine_tune_noise_keeps_correlation(seed in any::<u64>(), level in 0.05f32..0.3) {
        let mut rng = Rng::new(seed);
        let m = rng.matrix(R, C);
        let tuned: Vec<f32> = m.iter().map(|&v| v + level * rng.gauss()).collect();
        let expected = 1.0 / (1.0 + (level as f64).powi(2)).sqrt();
        prop_assert!(corr(&sketch(&m, R, C), &sketch(&tuned, R, C)) > expected - 0.08);
    }

    #[test]
    fn transposed_rescaled_and_truncated_copies_match(seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let m = rng.matrix(R, C);
        let a = sketch(&m, R, C);
        let t: Vec<f32> = (0..C * R).map(|k| m[(k % R) * C + k / R]).collect();
        let mt = compare(&a, &sketch(&t, C, R)).unwrap();
        prop_assert!(mt.transposed && mt.correlation > 0.999);
        let row_gain: Vec<f32> = (0..R).map(|_| 0.2 + rng.gauss().abs()).collect();
        let col_gain: Vec<f32> = (0..C).map(|_| 0.2 + rng.gauss().abs()).collect();
        let rows_scaled: Vec<f32> = m.iter().enumerate().map(|(k, v)| v * row_gain[k / C]).collect();
        let cols_scaled: Vec<f32> = m.iter().enumerate().map(|(k, v)| v * col_gain[k % C]).collect();
        prop_assert!(corr(&a, &sketch(&rows_scaled, R, C)) > 0.99);
        prop_assert!(corr(&a, &sketch(&cols_scaled, R, C)) > 0.99);
        let half = &m[..(R / 2) * C];
        let mh = compare(&a, &sketch(half, R / 2, C)).unwrap();
        prop_assert!(mh.correlation > 0.99 && mh.cells >= 48);
    }

    #[test]
    fn independent_tensors_do_not_match(seed in any::<u64>()) {
        let a = sketch(&Rng::new(seed).matrix(R, C), R, C);
        let b = sketch(&Rng::new(seed ^ 0xdead_beef).matrix(R, C), R, C);
        let m = compare(&a, &b).unwrap();
        // About N(0, 1/1024) per variant: far below any related pair.
        prop_assert!(m.correlation < 0.2, "{m:?}");
        prop_assert!(m.z < 6.0);
    }

    #[test]
    fn simhash_separates_related_from_independent(seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let m = rng.matrix(R, C);
        let noisy: Vec<f32> = m.iter().map(|&v| v + 0.1 * rng.gauss()).collect();
        let other = rng.matrix(R, C);
        let t: Vec<f32> = (0..C * R).map(|k| m[(k % R) * C + k / R]).collect();
        let h = SimHash::of(&sketch(&m, R, C));
        // Stored orientation changes the i8 rounding, so a bit near zero may flip.
        prop_assert!(h.hamming(&SimHash::of(&sketch(&t, C, R))) <= 8);
        prop_assert!(h.hamming(&SimHash::of(&sketch(&noisy, R, C))) < 40);
        let d = h.hamming(&SimHash::of(&sketch(&other, R, C)));
        prop_assert!((80..=176).contains(&d), "{d}");
    }
}

#[test]
fn vectors_and_sizes() {
    let v = Rng::new(1).matrix(1, 5000);
    let s = TensorSketch::from_fn(1, 5000, |_, j| v[j]);
    assert_eq!(s.values.len(), 256);
    assert!(corr(&s, &s) > 0.9999);
    let big = TensorSketch::from_fn(4096, 4096, |i, j| ((i * 31 + j * 17) % 97) as f32);
    assert_eq!(big.values.len(), 1024);
    assert!(big.byte_size() < 1500, "{}", big.byte_size());
}
