//! Order-preserving alignment of B's layers to A's (a Viterbi path over A's layers).
//!
//! B's layers are taken in order; each is assigned one of A's layers, or none (a layer of
//! its own). Keeping A's order costs nothing, skipping A's layers (a layer subset) a little,
//! using an A layer again (a repeated layer) more, and going back in A (depth upscaling
//! splices A's stack twice) most. So `B 0..4 = A 0,2,4,6` and `B 0..47 = A 0..23, 8..31`
//! map as they were made, and a tensor matched by chance into a far layer is outvoted by
//! the rest of its layer. Layer numbers come from names (the first number in a name), so
//! the alignment is used only when both models name their layers; it then restricts each
//! tensor's candidates to the aligned layer, never widens them.

use std::collections::BTreeMap;

use crate::thresholds::{
    ALIGN_BACK as BACK, ALIGN_REPEAT as REPEAT, ALIGN_SKIP as SKIP, ALIGN_TENSOR_CAP as TENSOR_CAP,
    ALIGN_TENSOR_FLOOR as TENSOR_FLOOR,
};

/// The score of mapping B's layer to A's: the sum over B's tensors in that layer of the
/// best evidence (Fisher z) for any tensor of A's layer, floored and capped.
#[derive(Debug, Default)]
pub(crate) struct LayerScores {
    best: BTreeMap<(u32, u32), BTreeMap<usize, f64>>,
}

impl LayerScores {
    /// Records evidence `z` that tensor `tb` of B's layer `lb` matches a tensor of A's `la`.
    pub fn add(&mut self, lb: u32, la: u32, tb: usize, z: f64) {
        let e = self
            .best
            .entry((lb, la))
            .or_default()
            .entry(tb)
            .or_insert(z);
        *e = e.max(z);
    }

    fn score(&self, lb: u32, la: u32) -> f64 {
        self.best.get(&(lb, la)).map_or(0.0, |tensors| {
            tensors
                .values()
                .map(|&z| z.min(TENSOR_CAP) - TENSOR_FLOOR)
                .filter(|&s| s > 0.0)
                .sum()
        })
    }
}

/// For each of B's layers (ascending), the A layer it aligns to, or `None`.
pub(crate) fn align_layers(
    scores: &LayerScores,
    a_layers: &[u32],
    b_layers: &[u32],
) -> Vec<(u32, Option<u32>)> {
    let n = a_layers.len();
    let none = n; // state index of "no A layer"
    let step = |from: usize, to: usize| -> f64 {
        if from == none || to == none || to == from + 1 {
            0.0
        } else if to > from {
            SKIP * (to - from - 1) as f64
        } else if to == from {
            REPEAT
        } else {
            BACK
        }
    };
    let emit = |lb: u32, s: usize| {
        if s == none {
            0.0
        } else {
            scores.score(lb, a_layers[s])
        }
    };
    let mut value: Vec<f64> = (0..=n).map(|s| emit(b_layers[0], s)).collect();
    let mut back: Vec<Vec<usize>> = Vec::with_capacity(b_layers.len());
    for &lb in &b_layers[1..] {
        let mut next = vec![f64::NEG_INFINITY; n + 1];
        let mut from = vec![none; n + 1];
        for to in 0..=n {
            for (prev, &before) in value.iter().enumerate() {
                let v = before - step(prev, to);
                if v > next[to] {
                    next[to] = v;
                    from[to] = prev;
                }
            }
            next[to] += emit(lb, to);
        }
        back.push(from);
        value = next;
    }
    let mut state = (0..=n)
        .max_by(|&x, &y| value[x].total_cmp(&value[y]).then(y.cmp(&x)))
        .unwrap_or(none);
    let mut path = vec![state; b_layers.len()];
    for (i, from) in back.iter().enumerate().rev() {
        state = from[state];
        path[i] = state;
    }
    b_layers
        .iter()
        .zip(path)
        .map(|(&lb, s)| (lb, (s != none && emit(lb, s) > 0.0).then(|| a_layers[s])))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scores(pairs: &[(u32, u32, f64)]) -> LayerScores {
        let mut s = LayerScores::default();
        for (i, &(lb, la, z)) in pairs.iter().enumerate() {
            s.add(lb, la, i, z);
        }
        s
    }

    #[test]
    fn a_layer_subset_keeps_order_and_outvotes_a_stray_match() {
        // B = A's even layers; B layer 1 also matches A layer 5 weakly (one stray tensor).
        let s = scores(&[
            (0, 0, 30.0),
            (0, 0, 30.0),
            (1, 2, 30.0),
            (1, 2, 25.0),
            (1, 5, 32.0),
            (2, 4, 30.0),
            (2, 4, 30.0),
        ]);
        let map = align_layers(&s, &[0, 1, 2, 3, 4, 5], &[0, 1, 2]);
        assert_eq!(map, vec![(0, Some(0)), (1, Some(2)), (2, Some(4))]);
    }

    #[test]
    fn depth_upscaling_goes_back_and_new_layers_map_to_none() {
        let mut p = Vec::new();
        for (lb, la) in [(0, 0), (1, 1), (2, 2), (3, 1), (4, 2), (5, 3)] {
            p.push((lb, la, 20.0));
            p.push((lb, la, 20.0));
        }
        let s = scores(&p);
        let map = align_layers(&s, &[0, 1, 2, 3], &[0, 1, 2, 3, 4, 5, 6]);
        let want: Vec<(u32, Option<u32>)> = vec![
            (0, Some(0)),
            (1, Some(1)),
            (2, Some(2)),
            (3, Some(1)),
            (4, Some(2)),
            (5, Some(3)),
            (6, None),
        ];
        assert_eq!(map, want);
    }

    #[test]
    fn chance_evidence_maps_nothing() {
        let s = scores(&[(0, 1, 2.5), (1, 0, 1.0)]);
        let map = align_layers(&s, &[0, 1], &[0, 1]);
        assert_eq!(map, vec![(0, None), (1, None)]);
    }
}
