//! The stored form of a fingerprint (what a registry keeps): everything a fingerprint can
//! recompute from the rest is left out, and checked when it is read back, since a stored
//! fingerprint is input like any file.
//!
//! Left out: the sampled row and column indices of sketches and Gram sketches (functions
//! of the shape, by consistent index hashing) and, for a tensor that keeps its sample, the
//! 8-bit grid and its row scales (functions of the sample).

use crate::gram::GramSketch;
use crate::index_hash::select_indices;
use crate::model::{ModelFingerprint, TensorFingerprint};
use crate::sketch::{TensorSketch, GRID};

/// Dimensions a stored sketch may claim (a hostile row must not cost hours of hashing).
const MAX_STORED_DIM: u64 = u32::MAX as u64;

impl ModelFingerprint {
    /// This fingerprint without what [`ModelFingerprint::restore_derivable`] recomputes.
    pub fn without_derivable(&self) -> ModelFingerprint {
        let mut fp = self.clone();
        for t in &mut fp.tensors {
            t.sketch.row_idx.clear();
            t.sketch.col_idx.clear();
            if t.sample.is_some() {
                t.sketch.values.clear();
                t.sketch.row_scale.clear();
            }
            for g in [&mut t.row_gram, &mut t.col_gram].into_iter().flatten() {
                g.idx.clear();
            }
        }
        fp
    }

    /// Recomputes what [`ModelFingerprint::without_derivable`] left out, and checks that
    /// every length agrees with the shape it belongs to. Errors name the tensor.
    pub fn restore_derivable(&mut self) -> Result<(), String> {
        let anchors = self.anchors.as_ref().map(|a| a.ids.len());
        for t in &mut self.tensors {
            restore_tensor(t, anchors).map_err(|e| format!("tensor {:?}: {e}", t.name))?;
        }
        Ok(())
    }
}

fn restore_tensor(t: &mut TensorFingerprint, anchors: Option<usize>) -> Result<(), String> {
    let s = &mut t.sketch;
    if s.rows == 0 || s.cols == 0 || s.rows > MAX_STORED_DIM || s.cols > MAX_STORED_DIM {
        return Err(format!("a sketch of {} × {} cannot be", s.rows, s.cols));
    }
    let (rows, cols) = (s.rows as usize, s.cols as usize);
    if s.row_idx.is_empty() && s.col_idx.is_empty() {
        (s.row_idx, s.col_idx) = TensorSketch::grid_indices(rows, cols);
    }
    let ascending_below = |idx: &[u32], n: usize| {
        idx.windows(2).all(|w| w[0] < w[1]) && idx.last().is_none_or(|&i| (i as usize) < n)
    };
    if s.row_idx.is_empty()
        || s.col_idx.is_empty()
        || !ascending_below(&s.row_idx, rows)
        || !ascending_below(&s.col_idx, cols)
    {
        return Err("its sampled indices do not fit its shape".into());
    }
    let cells = s.row_idx.len() * s.col_idx.len();
    if let Some(sample) = &t.sample {
        if sample.grid.len() != cells {
            return Err(format!(
                "its sample has {} values for {cells} cells",
                sample.grid.len()
            ));
        }
        if s.values.is_empty() && s.row_scale.is_empty() {
            let grid = &sample.grid;
            let (ri, ci) = (&s.row_idx, &s.col_idx);
            let at = |r: usize, c: usize| {
                let i = ri.binary_search(&(r as u32)).ok()?;
                let j = ci.binary_search(&(c as u32)).ok()?;
                grid.get(i * ci.len() + j).copied()
            };
            let rebuilt = TensorSketch::from_fn(rows, cols, |r, c| at(r, c).unwrap_or(0.0));
            if rebuilt.row_idx != s.row_idx || rebuilt.col_idx != s.col_idx {
                return Err("its sample is not on its sketch's grid".into());
            }
            *s = rebuilt;
        }
    }
    if s.values.len() != cells || s.row_scale.len() != s.row_idx.len() {
        return Err(format!(
            "its sketch has {} values and {} scales for {} × {} sampled cells",
            s.values.len(),
            s.row_scale.len(),
            s.row_idx.len(),
            s.col_idx.len()
        ));
    }
    for g in [&mut t.row_gram, &mut t.col_gram].into_iter().flatten() {
        restore_gram(g)?;
    }
    if let Some(k) = &t.anchored {
        let want = anchors.map(|n| n * n.saturating_sub(1) / 2);
        for side in [&k.reads, &k.writes].into_iter().flatten() {
            if Some(side.len()) != want {
                return Err(format!("its anchored kernel has {} cosines", side.len()));
            }
        }
    }
    Ok(())
}

fn restore_gram(g: &mut GramSketch) -> Result<(), String> {
    if g.lines == 0 || g.lines > MAX_STORED_DIM {
        return Err(format!("a Gram sketch over {} lines cannot be", g.lines));
    }
    if g.idx.is_empty() {
        g.idx = select_indices(g.lines as usize, GRID);
    }
    let n = g.idx.len();
    let ascending = g.idx.windows(2).all(|w| w[0] < w[1]);
    if !ascending || g.idx.last().is_some_and(|&i| i as u64 >= g.lines) {
        return Err("its Gram sketch's indices do not fit its lines".into());
    }
    if g.cosines.len() != n * n.saturating_sub(1) / 2 {
        return Err(format!(
            "its Gram sketch has {} cosines for {n} lines",
            g.cosines.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use mlprov_testkit::{write_in, Dtype, Rng, Tensor};

    use super::*;
    use crate::model::FingerprintOptions;

    fn fingerprint(dtype: Dtype) -> ModelFingerprint {
        let dir = mlprov_testkit::tempdir();
        let mut rng = Rng::new(3);
        let (d, h, vocab) = (64, 96, 512);
        let mut t = |name: &str, shape: &[usize], scale: f32| {
            let n = shape.iter().product();
            Tensor::f32(name, shape, rng.gaussians(n, scale)).stored_as(dtype)
        };
        let tensors = vec![
            t("embed", &[vocab, d], 1.0),
            t("l0.up", &[h, d], 0.1),
            t("l0.down", &[d, h], 0.1),
            t("l0.norm", &[d], 1.0),
        ];
        let path = write_in(dir.path(), "m.safetensors", &tensors);
        let model = mlprov_formats::open_model(&path, Default::default()).unwrap();
        let options = FingerprintOptions {
            invariants: true,
            samples: true,
        };
        ModelFingerprint::with_options(&model, options)
    }

    fn round_trip(fp: &ModelFingerprint) -> Result<ModelFingerprint, String> {
        let json = serde_json::to_string(&fp.without_derivable()).unwrap();
        let mut back: ModelFingerprint = serde_json::from_str(&json).map_err(|e| e.to_string())?;
        back.restore_derivable()?;
        Ok(back)
    }

    #[test]
    fn the_stored_form_restores_the_fingerprint_exactly_and_is_smaller() {
        for dtype in [Dtype::F32, Dtype::BF16, Dtype::F16] {
            let fp = fingerprint(dtype);
            assert!(fp.anchors.is_some() && fp.tensors.iter().any(|t| t.anchored.is_some()));
            assert_eq!(round_trip(&fp).unwrap(), fp, "{dtype:?}");
            let full = serde_json::to_string(&fp).unwrap().len();
            let stored = serde_json::to_string(&fp.without_derivable())
                .unwrap()
                .len();
            assert!(stored * 10 < full * 8, "{dtype:?}: {stored} of {full}");
            // Without samples nothing of the grid is left out, and it restores too.
            let mut bare = fp.clone();
            bare.tensors.iter_mut().for_each(|t| t.sample = None);
            assert_eq!(round_trip(&bare).unwrap(), bare);
        }
    }

    #[test]
    fn a_stored_form_that_contradicts_its_shapes_is_refused() {
        let fp = fingerprint(Dtype::BF16).without_derivable();
        type Breaker = fn(&mut ModelFingerprint);
        let breakers: [(&str, Breaker); 6] = [
            ("sample", |f| {
                f.tensors[1].sample.as_mut().unwrap().grid.pop();
            }),
            ("rows", |f| f.tensors[1].sketch.rows = 0),
            ("huge", |f| f.tensors[1].sketch.cols = u64::MAX),
            ("gram", |f| {
                f.tensors[1].row_gram.as_mut().unwrap().cosines.pop();
            }),
            ("kernel", |f| {
                let k = f
                    .tensors
                    .iter_mut()
                    .find_map(|t| t.anchored.as_mut())
                    .unwrap();
                k.reads
                    .iter_mut()
                    .chain(k.writes.iter_mut())
                    .for_each(|v| v.push(0.0));
            }),
            ("no grid", |f| f.tensors[1].sample = None),
        ];
        for (what, brk) in breakers {
            let mut bad = fp.clone();
            brk(&mut bad);
            let err = bad.restore_derivable().unwrap_err();
            assert!(err.starts_with("tensor \""), "{what}: {err}");
        }
    }
}
