//! A tensor's real values, whether stored plainly or as integers with a linked scale.

use std::ops::Range;

use mlprov_formats::{DecodeError, DequantView, TensorView, WeightFile};

/// The values a fingerprint sees: the stored tensor, or its dequantized form when the
/// file links it to a scale (quantized ONNX exports).
#[derive(Debug, Clone, Copy)]
pub enum Values<'a> {
    /// Stored values decoded as they are.
    Plain(TensorView<'a>),
    /// `(q - zero_point) * scale`.
    Dequantized(DequantView<'a>),
}

impl<'a> Values<'a> {
    /// The values of tensor `name` of `file`.
    pub fn of(file: &'a WeightFile, name: &str) -> Option<Self> {
        match file.dequantized(name) {
            Some(d) => Some(Values::Dequantized(d)),
            None => file.tensor(name).map(Values::Plain),
        }
    }

    /// The stored view (for names, dtype and shape).
    pub fn view(&self) -> &TensorView<'a> {
        match self {
            Values::Plain(v) => v,
            Values::Dequantized(d) => &d.values,
        }
    }

    /// Number of elements.
    pub fn elements(&self) -> usize {
        self.view().elements()
    }

    /// The value of element `i` (one block decoded for block-quantized types).
    pub fn value_at(&self, i: usize) -> Option<f32> {
        let mut one = [0f32; 1];
        self.decode_f32_into(i..i + 1, &mut one).ok()?;
        Some(one[0])
    }

    /// Decodes elements `range` into `out`.
    pub fn decode_f32_into(&self, range: Range<usize>, out: &mut [f32]) -> Result<(), DecodeError> {
        match self {
            Values::Plain(v) => v.decode_f32_into(range, out),
            Values::Dequantized(d) => d.decode_f32_into(range, out),
        }
    }
}
