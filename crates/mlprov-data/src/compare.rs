//! Overlap estimates with 95% intervals (formulas in `docs/datasets.md`).
//!
//! - Exact overlap, from two bottom-k sketches alone. Below `t`, the smaller of the two
//!   sketches' thresholds, each sketch holds every distinct digest of its dataset, so B's
//!   digests below `t` are a uniform sample of B's distinct records whose membership in A
//!   is known exactly: containment of B in A is the share of them in A's sketch (Wilson
//!   interval). Jaccard: the share of the k smallest digests of the union that are in
//!   both sketches. When neither sketch is full, the sketches are the whole datasets and
//!   the answer is exact.
//! - Near-duplicate containment of X in Y, from X's sample and Y's data: the share of
//!   X's sampled records with a near duplicate in Y (Wilson interval; exact when the sample
//!   holds every distinct record of X).
//! - Near-duplicate containment of Y in X from the same pass (when only X's manifest is at
//!   hand): the matched records of Y, scaled from the sample to X's size (see the docs; it
//!   assumes a record of Y is near only one record of X, as in a deduplicated X).

use serde::Serialize;

use crate::bottomk::BottomK;

/// The normal quantile of a two-sided 95% interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// A share in 0..=1 with its 95% interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimate {
    /// The point estimate.
    pub value: f64,
    /// Lower end of the 95% interval.
    pub low: f64,
    /// Upper end of the 95% interval.
    pub high: f64,
    /// Number of sampled records the estimate rests on.
    pub sample: u64,
    /// Whether the whole population was seen (then `low = value = high`).
    pub exact: bool,
}

impl Estimate {
    fn exact(x: u64, n: u64) -> Self {
        let value = if n == 0 { 0.0 } else { x as f64 / n as f64 };
        Estimate {
            value,
            low: value,
            high: value,
            sample: n,
            exact: true,
        }
    }

    /// `x` successes out of `n` sampled: the share with its Wilson score interval.
    pub fn wilson(x: u64, n: u64) -> Self {
        if n == 0 {
            return Estimate {
                value: 0.0,
                low: 0.0,
                high: 1.0,
                sample: 0,
                exact: false,
            };
        }
        let (nf, p) = (n as f64, x as f64 / n as f64);
        let z2 = Z95 * Z95;
        let centre = (p + z2 / (2.0 * nf)) / (1.0 + z2 / nf);
        let half = Z95 / (1.0 + z2 / nf) * (p * (1.0 - p) / nf + z2 / (4.0 * nf * nf)).sqrt();
        Estimate {
            value: p,
            low: if x == 0 {
                0.0
            } else {
                (centre - half).max(0.0)
            },
            high: if x == n {
                1.0
            } else {
                (centre + half).min(1.0)
            },
            sample: n,
            exact: false,
        }
    }

    /// The estimate multiplied by `f` (clamped to 0..=1).
    fn scaled(self, f: f64) -> Self {
        let c = |v: f64| (v * f).clamp(0.0, 1.0);
        Estimate {
            value: c(self.value),
            low: c(self.low),
            high: c(self.high),
            ..self
        }
    }
}

/// Exact-overlap estimates between datasets A and B.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ExactOverlap {
    /// Jaccard similarity of the distinct record sets.
    pub jaccard: Estimate,
    /// Share of B's distinct records that are in A.
    pub b_in_a: Estimate,
    /// Share of A's distinct records that are in B.
    pub a_in_b: Estimate,
}

fn containment(x: &BottomK, y: &BottomK, t: Option<mlprov_hash::Digest>) -> Estimate {
    let below: Vec<_> = x.digests().filter(|d| t.is_none_or(|t| **d <= t)).collect();
    let hits = below.iter().filter(|d| y.contains(d)).count() as u64;
    let n = below.len() as u64;
    if t.is_none() {
        Estimate::exact(hits, n)
    } else {
        Estimate::wilson(hits, n)
    }
}

/// Exact overlap of A and B from their bottom-k sketches alone.
pub fn exact_overlap(a: &BottomK, b: &BottomK) -> ExactOverlap {
    let t = match (a.threshold(), b.threshold()) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    };
    let k = a.k().min(b.k());
    let mut union = BottomK::new(k);
    union.merge(a);
    union.merge(b);
    let both = union
        .digests()
        .filter(|d| a.contains(d) && b.contains(d))
        .count() as u64;
    let n = union.len() as u64;
    let jaccard = if t.is_none() {
        Estimate::exact(both, n)
    } else {
        Estimate::wilson(both, n)
    };
    ExactOverlap {
        jaccard,
        b_in_a: containment(b, a, t),
        a_in_b: containment(a, b, t),
    }
}

/// Near containment of X in Y: `hits[i]` is how many of Y's records are near duplicates
/// of X's sampled record `i`; `complete` says whether the sample holds all of X.
pub fn near_containment(hits: &[u64], complete: bool) -> Estimate {
    let x = hits.iter().filter(|&&h| h > 0).count() as u64;
    let n = hits.len() as u64;
    if complete {
        Estimate::exact(x, n)
    } else {
        Estimate::wilson(x, n)
    }
}

/// Near containment of Y in X from the same hits: the containment of X in Y times
/// `x_records * m / y_records`, where `m` is the mean number of Y's records matched per
/// matched sampled record (1 when none matched).
pub fn near_containment_reverse(
    hits: &[u64],
    complete: bool,
    x_records: u64,
    y_records: u64,
) -> Estimate {
    let forward = near_containment(hits, complete);
    if y_records == 0 {
        return Estimate::exact(0, 0);
    }
    let matched = hits.iter().filter(|&&h| h > 0).count();
    let m = if matched == 0 {
        1.0
    } else {
        hits.iter().sum::<u64>() as f64 / matched as f64
    };
    forward.scaled(x_records as f64 * m / y_records as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlprov_hash::Digest;

    fn d(i: u32) -> Digest {
        blake3::hash(&i.to_le_bytes()).into()
    }

    #[test]
    fn wilson_matches_known_values() {
        // 50 of 100: 0.4038 .. 0.5962.
        let e = Estimate::wilson(50, 100);
        assert!((e.low - 0.4038).abs() < 1e-3 && (e.high - 0.5962).abs() < 1e-3);
        let z = Estimate::wilson(0, 100);
        assert_eq!(z.low, 0.0);
        assert!((z.high - 0.037).abs() < 1e-3);
    }

    #[test]
    fn small_sets_are_exact_and_large_ones_estimated() {
        let mut a = BottomK::new(100);
        let mut b = BottomK::new(100);
        (0..60).for_each(|i| a.insert(d(i)));
        (30..90).for_each(|i| b.insert(d(i)));
        let o = exact_overlap(&a, &b);
        assert!(o.b_in_a.exact && (o.b_in_a.value - 0.5).abs() < 1e-12);
        assert!((o.jaccard.value - 30.0 / 90.0).abs() < 1e-12);

        let mut a = BottomK::new(1000);
        let mut b = BottomK::new(1000);
        // A: 0..20000; B: 14000..24000 -> B in A = 0.6, A in B = 0.3, J = 6000/24000.
        (0..20000).for_each(|i| a.insert(d(i)));
        (14000..24000).for_each(|i| b.insert(d(i)));
        let o = exact_overlap(&a, &b);
        for (e, truth) in [(o.b_in_a, 0.6), (o.a_in_b, 0.3), (o.jaccard, 0.25)] {
            assert!(
                !e.exact && e.low <= truth && truth <= e.high,
                "{e:?} {truth}"
            );
        }
    }
}
