//! Real values of a tensor stored as integers with separate scale (and zero-point)
//! tensors, the way quantized ONNX exports ship them.

use std::ops::Range;

use crate::dtype::DecodeError;
use crate::view::TensorView;

/// A quantized tensor with its scale and zero point: `real = (q - zero_point) * scale`.
#[derive(Debug, Clone, Copy)]
pub struct DequantView<'a> {
    /// The stored integers.
    pub values: TensorView<'a>,
    /// One scale, or one per index along `axis`.
    pub scale: TensorView<'a>,
    /// Zero points, same count as the scale.
    pub zero_point: Option<TensorView<'a>>,
    /// The axis scales run along, if per-axis.
    pub axis: Option<usize>,
}

impl DequantView<'_> {
    /// Number of elements.
    pub fn elements(&self) -> usize {
        self.values.elements()
    }

    /// Decodes elements `range` to real values.
    pub fn decode_f32_into(&self, range: Range<usize>, out: &mut [f32]) -> Result<(), DecodeError> {
        self.values.decode_f32_into(range.clone(), out)?;
        // Scales and zero points are small vectors (one per channel at most).
        let scales = self.scale.decode_f32(0..self.scale.elements())?;
        let zeros = match &self.zero_point {
            Some(z) => z.decode_f32(0..z.elements())?,
            None => vec![0.0; scales.len()],
        };
        let (dim, stride) = match self.axis {
            Some(axis) => (
                self.values.shape.get(axis).copied().unwrap_or(1),
                self.values
                    .shape
                    .get(axis + 1..)
                    .map_or(1, |s| s.iter().product()),
            ),
            None => (1, 1),
        };
        for (k, v) in out.iter_mut().enumerate() {
            let channel = ((range.start + k) / stride.max(1)) % dim.max(1);
            let (s, z) = (
                scales.get(channel).copied().unwrap_or(0.0),
                zeros.get(channel).copied().unwrap_or(0.0),
            );
            *v = (*v - z) * s;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DType, Source};

    fn view<'a>(dtype: DType, shape: &'a [usize], bytes: &'a [u8]) -> TensorView<'a> {
        TensorView {
            name: "t",
            dtype,
            shape,
            source: Source::File,
            offset: 0,
            bytes,
        }
    }

    #[test]
    fn per_tensor_and_per_axis() {
        let q = [10u8, 20, 30, 40, 50, 60];
        let scale = 0.5f32.to_le_bytes();
        let zero = [10u8];
        let d = DequantView {
            values: view(DType::U8, &[2, 3], &q),
            scale: view(DType::F32, &[], &scale),
            zero_point: Some(view(DType::U8, &[], &zero)),
            axis: None,
        };
        let mut out = [0f32; 6];
        d.decode_f32_into(0..6, &mut out).unwrap();
        assert_eq!(out, [0.0, 5.0, 10.0, 15.0, 20.0, 25.0]);

        let scales: Vec<u8> = [1.0f32, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let per_row = DequantView {
            values: view(DType::U8, &[2, 3], &q),
            scale: view(DType::F32, &[2], &scales),
            zero_point: None,
            axis: Some(0),
        };
        let mut out = [0f32; 2];
        per_row.decode_f32_into(2..4, &mut out).unwrap();
        assert_eq!(out, [30.0, 80.0]);
    }
}
