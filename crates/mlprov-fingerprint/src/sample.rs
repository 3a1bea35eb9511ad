//! What the lineage test reads of A's weights beyond A's fingerprint, kept with a
//! registered fingerprint so the test runs against it without the weights: the sketch's
//! grid in full precision (for the exact-value check: same bits, or the same weights
//! within an encoding's error) and whether the tensor looks like a fixed buffer.

use serde::{Deserialize, Serialize};

use crate::sketch::TensorSketch;
use crate::structure::looks_fixed;
use crate::values::Values;

/// A tensor's values at its sketch's grid, in full precision, and its fixed-buffer test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValueSample {
    /// The decoded values at `row_idx × col_idx`, row-major (serialized bit for bit in
    /// the narrowest float that holds them, so NaN and infinities survive JSON).
    #[serde(with = "crate::compact::grid")]
    pub grid: Vec<f32>,
    /// Whether the tensor looks like a fixed buffer rather than learned weights.
    pub looks_fixed: bool,
}

impl ValueSample {
    /// Decodes the grid of `sketch` from `view`; `None` when an element cannot be decoded.
    pub(crate) fn of(view: &Values<'_>, sketch: &TensorSketch) -> Option<Self> {
        let cols = sketch.cols as usize;
        let mut grid = Vec::with_capacity(sketch.row_idx.len() * sketch.col_idx.len());
        for &r in &sketch.row_idx {
            for &c in &sketch.col_idx {
                grid.push(view.value_at(r as usize * cols + c as usize)?);
            }
        }
        Some(ValueSample {
            grid,
            looks_fixed: looks_fixed(view),
        })
    }

    /// Element `i` of the tensor (row-major in the sketch's logical matrix), when it lies
    /// on the grid.
    pub(crate) fn value_at(&self, sketch: &TensorSketch, i: usize) -> Option<f32> {
        let cols = sketch.cols as usize;
        if cols == 0 {
            return None;
        }
        let (r, c) = (u32::try_from(i / cols).ok()?, u32::try_from(i % cols).ok()?);
        let ri = sketch.row_idx.binary_search(&r).ok()?;
        let ci = sketch.col_idx.binary_search(&c).ok()?;
        self.grid.get(ri * sketch.col_idx.len() + ci).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids_survive_json_bit_for_bit() {
        let sample = ValueSample {
            grid: vec![1.5, -0.0, f32::NAN, f32::INFINITY, f32::MIN_POSITIVE],
            looks_fixed: false,
        };
        let json = serde_json::to_string(&sample).unwrap();
        let back: ValueSample = serde_json::from_str(&json).unwrap();
        let bits = |s: &ValueSample| s.grid.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&back), bits(&sample));
        assert!(
            serde_json::from_str::<ValueSample>(r#"{"grid":"AAA=","looks_fixed":true}"#).is_err()
        );
    }
}
