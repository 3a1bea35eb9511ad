//! A tensor as stored: borrowed bytes plus what they mean.

use std::ops::Range;

use crate::dtype::{DType, DecodeError};

/// One stored tensor, its bytes borrowed from the file's memory map.
#[derive(Debug, Clone, Copy)]
pub struct TensorView<'a> {
    /// Name as written in the file.
    pub name: &'a str,
    /// Element type.
    pub dtype: DType,
    /// Dimensions, outermost first (row-major).
    pub shape: &'a [usize],
    /// Offset of the first byte within the file.
    pub offset: usize,
    /// The stored bytes, little-endian, row-major.
    pub bytes: &'a [u8],
}

impl TensorView<'_> {
    /// Number of elements (product of the shape; 1 for a scalar).
    pub fn elements(&self) -> usize {
        // The parser checked that this product fits and matches the byte length.
        self.shape.iter().product()
    }

    /// Decodes elements `range` into `out` (same length) without touching the rest.
    pub fn decode_f32_into(&self, range: Range<usize>, out: &mut [f32]) -> Result<(), DecodeError> {
        let len = self.elements();
        if range.start > range.end || range.end > len {
            return Err(DecodeError::OutOfRange {
                start: range.start,
                end: range.end,
                len,
            });
        }
        if !self.dtype.decodable() {
            return Err(DecodeError::Unsupported(self.dtype.name()));
        }
        let size = self.dtype.bits() / 8;
        let bytes = &self.bytes[range.start * size..range.end * size];
        self.dtype.decode_f32(bytes, out)
    }

    /// Decodes elements `range` into a new vector.
    pub fn decode_f32(&self, range: Range<usize>) -> Result<Vec<f32>, DecodeError> {
        let n = range.end.saturating_sub(range.start);
        // Bounds first, so a bad range never drives the allocation.
        if range.end > self.elements() || range.start > range.end {
            return Err(DecodeError::OutOfRange {
                start: range.start,
                end: range.end,
                len: self.elements(),
            });
        }
        let mut out = vec![0f32; n];
        self.decode_f32_into(range, &mut out)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_middle_range() {
        let bytes: Vec<u8> = (0..6).flat_map(|i| (i as f32).to_le_bytes()).collect();
        let view = TensorView {
            name: "t",
            dtype: DType::F32,
            shape: &[2, 3],
            offset: 0,
            bytes: &bytes,
        };
        assert_eq!(view.decode_f32(2..5).unwrap(), vec![2.0, 3.0, 4.0]);
        assert!(view.decode_f32(4..7).is_err());
        assert!(view.decode_f32(0..usize::MAX).is_err());
    }
}
