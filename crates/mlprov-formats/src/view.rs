//! A tensor as stored: borrowed bytes plus what they mean.

use std::ops::Range;

use crate::dtype::{DType, DecodeError, MAX_BLOCK_ELEMENTS};
use crate::info::Source;

/// One stored tensor, its bytes borrowed from the file's memory map.
#[derive(Debug, Clone, Copy)]
pub struct TensorView<'a> {
    /// Name as written in the file.
    pub name: &'a str,
    /// Element type.
    pub dtype: DType,
    /// Dimensions, outermost first (row-major).
    pub shape: &'a [usize],
    /// Where the bytes are: the file, an external data file, or decoded into memory.
    pub source: Source,
    /// Offset of the first byte within its source.
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
    ///
    /// For block types the range may start and end inside a block: whole blocks are
    /// decoded straight into `out`, and the (at most two) partial ones through a
    /// one-block scratch buffer.
    pub fn decode_f32_into(&self, range: Range<usize>, out: &mut [f32]) -> Result<(), DecodeError> {
        let len = self.elements();
        if range.start > range.end || range.end > len {
            return Err(DecodeError::OutOfRange {
                start: range.start,
                end: range.end,
                len,
            });
        }
        if out.len() != range.len() {
            return Err(DecodeError::OutputLength {
                out: out.len(),
                want: range.len(),
            });
        }
        if !self.dtype.decodable() {
            return Err(DecodeError::Unsupported(self.dtype.name()));
        }
        // A view built by a parser always matches; one assembled by hand may not.
        if self.dtype.byte_len(len) != Some(self.bytes.len()) {
            return Err(DecodeError::ByteLength {
                bytes: self.bytes.len(),
                elements: len,
                dtype: self.dtype.name(),
            });
        }
        let (per_block, block_bytes) = self.dtype.block();
        let mut scratch = [0f32; MAX_BLOCK_ELEMENTS];
        let (mut pos, mut done) = (range.start, 0);
        while pos < range.end {
            let block = pos / per_block;
            let within = pos % per_block;
            let byte_start = block * block_bytes;
            if within == 0 && range.end - pos >= per_block {
                let blocks = (range.end - pos) / per_block;
                let n = blocks * per_block;
                let bytes = self.block_bytes(byte_start, blocks * block_bytes)?;
                let dst = out
                    .get_mut(done..done + n)
                    .ok_or(DecodeError::OutputLength { out: done, want: n })?;
                self.dtype.decode_f32(bytes, dst)?;
                pos += n;
                done += n;
            } else {
                let take = (per_block - within).min(range.end - pos);
                let bytes = self.block_bytes(byte_start, block_bytes)?;
                let one = scratch
                    .get_mut(..per_block)
                    .ok_or(DecodeError::Unsupported(self.dtype.name()))?;
                self.dtype.decode_f32(bytes, one)?;
                let (src, dst) = one
                    .get(within..within + take)
                    .zip(out.get_mut(done..done + take))
                    .ok_or(DecodeError::OutputLength {
                        out: done,
                        want: take,
                    })?;
                dst.copy_from_slice(src);
                pos += take;
                done += take;
            }
        }
        Ok(())
    }

    /// `len` stored bytes from `start`, checked (the caller already matched the byte length).
    fn block_bytes(&self, start: usize, len: usize) -> Result<&[u8], DecodeError> {
        start
            .checked_add(len)
            .and_then(|end| self.bytes.get(start..end))
            .ok_or(DecodeError::ByteLength {
                bytes: self.bytes.len(),
                elements: self.elements(),
                dtype: self.dtype.name(),
            })
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
            source: Source::File,
            name: "t",
            dtype: DType::F32,
            shape: &[2, 3],
            offset: 0,
            bytes: &bytes,
        };
        assert_eq!(view.decode_f32(2..5).unwrap(), vec![2.0, 3.0, 4.0]);
        assert!(view.decode_f32(4..7).is_err());
        assert!(view.decode_f32(0..usize::MAX).is_err());
        assert!(view.decode_f32(3..3).unwrap().is_empty());
    }

    #[test]
    fn decodes_block_types_from_mid_block() {
        // Three Q8_0 blocks with scales 1, 2, 4 and values 0..32.
        let mut bytes = Vec::new();
        let mut want = Vec::new();
        for (d, h) in [
            (1.0f32, [0x00, 0x3c]),
            (2.0, [0x00, 0x40]),
            (4.0, [0x00, 0x44]),
        ] {
            bytes.extend(h);
            bytes.extend(0..32u8);
            want.extend((0..32).map(|q| q as f32 * d));
        }
        let view = TensorView {
            source: Source::File,
            name: "q",
            dtype: DType::Q8_0,
            shape: &[3, 32],
            offset: 0,
            bytes: &bytes,
        };
        for (s, e) in [
            (0, 96),
            (5, 9),
            (5, 40),
            (31, 65),
            (32, 64),
            (33, 96),
            (0, 1),
            (95, 96),
            (7, 7),
        ] {
            assert_eq!(view.decode_f32(s..e).unwrap(), want[s..e], "{s}..{e}");
        }
        let short = TensorView {
            source: Source::File,
            bytes: &bytes[..60],
            ..view
        };
        assert!(matches!(
            short.decode_f32(0..3),
            Err(DecodeError::ByteLength { .. })
        ));
    }
}
