//! The few statistics the lineage test needs, in log space so that p-values like 1e-300
//! (and far below) are exact enough to report.

use crate::thresholds::STOUFFER_FLOOR_Z;

/// log10 of the upper tail of the standard normal, P(Z > z).
pub fn log10_normal_tail(z: f64) -> f64 {
    const LN10: f64 = std::f64::consts::LN_10;
    if z < 5.0 {
        // erfc is accurate here and the tail is far from underflow.
        return (0.5 * libm::erfc(z / std::f64::consts::SQRT_2))
            .max(f64::MIN_POSITIVE)
            .log10();
    }
    // Asymptotic expansion: Q(z) = φ(z)/z · (1 − 1/z² + 3/z⁴ − 15/z⁶ …).
    let z2 = z * z;
    let series = 1.0 - 1.0 / z2 + 3.0 / (z2 * z2) - 15.0 / (z2 * z2 * z2);
    (-0.5 * z2 - z.ln() - 0.5 * (2.0 * std::f64::consts::PI).ln() + series.ln()) / LN10
}

/// log10 of the Šidák-corrected p-value of the best of `k` independent statistics whose
/// own tail probability is 10^log10_q: `1 − (1 − q)^k`. Uniform under the null when the
/// `k` statistics are independent (Bonferroni's `k·q` is its upper bound).
pub fn log10_sidak(log10_q: f64, k: f64) -> f64 {
    let k = k.max(1.0);
    let kq = log10_q + k.log10();
    if kq < -8.0 {
        // 1 − (1 − q)^k = k·q·(1 − O(k·q)): the first term is exact to 1e-8 here.
        return kq;
    }
    let q = 10f64.powf(log10_q);
    let p = -(k * (-q).ln_1p()).exp_m1();
    p.max(f64::MIN_POSITIVE).log10().min(0.0)
}

/// The z with P(Z > z) = 10^log10_p (inverse of [`log10_normal_tail`]), by bisection.
pub fn z_of_log10_tail(log10_p: f64) -> f64 {
    if log10_p >= 0.0 {
        return -8.0;
    }
    let (mut lo, mut hi) = (-8.0f64, 1.0e4f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if log10_normal_tail(mid) > log10_p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// Stouffer's weighted combination of per-test evidence `(weight, log10 p)` as a z, each
/// term's z floored at [`STOUFFER_FLOOR_Z`] (a term far weaker than chance must not hide
/// the rest); `None` when there are no terms.
pub fn stouffer_z(terms: impl IntoIterator<Item = (f64, f64)>) -> Option<f64> {
    let (mut num, mut den) = (0.0f64, 0.0f64);
    for (w, log10_p) in terms {
        num += w * z_of_log10_tail(log10_p).max(STOUFFER_FLOOR_Z);
        den += w * w;
    }
    (den > 0.0).then(|| num / den.sqrt())
}

/// Combines per-test evidence `(weight, log10 p)` into one log10 p-value: the smaller of
/// Stouffer's weighted sum ([`stouffer_z`]) and Bonferroni's min-p over `tests` tests, so
/// one strong term is not diluted by many weak ones. 0 when there are no terms.
pub fn combine_log10_p(terms: impl IntoIterator<Item = (f64, f64)>, tests: usize) -> f64 {
    let terms: Vec<(f64, f64)> = terms.into_iter().collect();
    let Some(z) = stouffer_z(terms.iter().copied()) else {
        return 0.0;
    };
    let min_term = terms.iter().map(|t| t.1).fold(0.0, f64::min);
    let bonferroni = min_term + (tests.max(1) as f64).log10();
    log10_normal_tail(z).min(bonferroni).min(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_matches_known_values() {
        let close = |a: f64, b: f64| (a - b).abs() < 1e-3 * b.abs().max(1.0);
        assert!(close(log10_normal_tail(0.0), 0.5f64.log10()));
        assert!(close(log10_normal_tail(1.959964), 0.025f64.log10()));
        assert!(close(log10_normal_tail(4.753424), 1e-6f64.log10()));
        // Both branches agree where they meet.
        assert!((log10_normal_tail(4.999_999) - log10_normal_tail(5.000_001)).abs() < 1e-4);
        // Reference values from mpmath at 50 digits: Q(37.5) ≈ 4.6e-308, Q(200) ≈ 2.6e-8689.
        assert!((log10_normal_tail(37.5) - -307.336_737).abs() < 1e-5);
        assert!((log10_normal_tail(200.0) - -8_688.589_769).abs() < 1e-5);
    }

    #[test]
    fn sidak_is_bonferroni_for_small_p_and_stays_below_one() {
        assert!((log10_sidak(-20.0, 100.0) - -18.0).abs() < 1e-9);
        let p = 10f64.powf(log10_sidak(0.5f64.log10(), 2.0));
        assert!((p - 0.75).abs() < 1e-12);
        assert!(log10_sidak(-0.01, 50.0) <= 0.0);
    }

    #[test]
    fn inverse_round_trips() {
        for z in [-2.0, 0.0, 1.0, 6.0, 40.0, 300.0] {
            assert!(
                (z_of_log10_tail(log10_normal_tail(z)) - z).abs() < 1e-6,
                "{z}"
            );
        }
    }
}
