//! A tensor's real values, whether stored plainly or as integers with a linked scale.

use std::ops::Range;

use mlprov_formats::{DecodeError, DequantView, TensorView, WeightFile};

use crate::sample::ValueSample;
use crate::sketch::TensorSketch;
use crate::structure::looks_fixed;

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

/// Where the lineage test reads a tensor's values: the weights, or (for a registered model)
/// the sample kept with its fingerprint, which holds the sketch's grid only.
// One per compared pair, on the stack for the pair's checks: no point boxing the view.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Copy)]
pub(crate) enum Source<'a> {
    /// The weights themselves.
    Weights(Values<'a>),
    /// A registered fingerprint's sample of the tensor with this sketch.
    Sample(&'a TensorSketch, &'a ValueSample),
}

impl Source<'_> {
    /// Element `i`, when this source holds it.
    pub fn value_at(&self, i: usize) -> Option<f32> {
        match self {
            Source::Weights(v) => v.value_at(i),
            Source::Sample(sketch, sample) => sample.value_at(sketch, i),
        }
    }

    /// Whether the tensor looks like a fixed buffer (decided when sampled, for a sample).
    pub fn looks_fixed(&self) -> bool {
        match self {
            Source::Weights(v) => looks_fixed(v),
            Source::Sample(_, sample) => sample.looks_fixed,
        }
    }
}
