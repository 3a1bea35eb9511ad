//! Element types of stored tensors and their conversion to `f32`.

use half::{bf16, f16};

/// The element type of a stored tensor. Names follow safetensors (`F32`, `BF16`, `F8_E4M3`…),
/// which is also how they enter digests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    /// Boolean stored as one byte (0 = false, anything else = true).
    Bool,
    /// Unsigned 8-bit integer.
    U8,
    /// Signed 8-bit integer.
    I8,
    /// Signed 16-bit integer.
    I16,
    /// Unsigned 16-bit integer.
    U16,
    /// Signed 32-bit integer.
    I32,
    /// Unsigned 32-bit integer.
    U32,
    /// Signed 64-bit integer.
    I64,
    /// Unsigned 64-bit integer.
    U64,
    /// IEEE half precision.
    F16,
    /// bfloat16.
    BF16,
    /// IEEE single precision.
    F32,
    /// IEEE double precision.
    F64,
    /// FP8 E4M3, finite-only variant (`float8_e4m3fn`).
    F8E4M3,
    /// FP8 E5M2.
    F8E5M2,
    /// OCP MX scale type E8M0 (a power of two).
    F8E8M0,
    /// OCP MX FP4 (E2M1), two per byte. Hashed, not decoded.
    F4,
    /// OCP MX FP6 E2M3. Hashed, not decoded.
    F6E2M3,
    /// OCP MX FP6 E3M2. Hashed, not decoded.
    F6E3M2,
}

/// Why a range of a tensor could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The element range lies outside the tensor.
    #[error("element range {start}..{end} is outside a tensor of {len} elements")]
    OutOfRange {
        /// First requested element.
        start: usize,
        /// One past the last requested element.
        end: usize,
        /// Elements in the tensor.
        len: usize,
    },
    /// The output buffer length differs from the requested range.
    #[error("output holds {out} values but {want} were requested")]
    OutputLength {
        /// Output capacity.
        out: usize,
        /// Requested element count.
        want: usize,
    },
    /// The dtype has no `f32` decoder.
    #[error("decoding {0} to f32 is not supported")]
    Unsupported(&'static str),
}

impl DType {
    /// Every dtype, for tests and tables.
    pub const ALL: [DType; 19] = [
        DType::Bool,
        DType::U8,
        DType::I8,
        DType::I16,
        DType::U16,
        DType::I32,
        DType::U32,
        DType::I64,
        DType::U64,
        DType::F16,
        DType::BF16,
        DType::F32,
        DType::F64,
        DType::F8E4M3,
        DType::F8E5M2,
        DType::F8E8M0,
        DType::F4,
        DType::F6E2M3,
        DType::F6E3M2,
    ];

    /// The canonical name (safetensors spelling), used in output and digests.
    pub fn name(self) -> &'static str {
        match self {
            DType::Bool => "BOOL",
            DType::U8 => "U8",
            DType::I8 => "I8",
            DType::I16 => "I16",
            DType::U16 => "U16",
            DType::I32 => "I32",
            DType::U32 => "U32",
            DType::I64 => "I64",
            DType::U64 => "U64",
            DType::F16 => "F16",
            DType::BF16 => "BF16",
            DType::F32 => "F32",
            DType::F64 => "F64",
            DType::F8E4M3 => "F8_E4M3",
            DType::F8E5M2 => "F8_E5M2",
            DType::F8E8M0 => "F8_E8M0",
            DType::F4 => "F4",
            DType::F6E2M3 => "F6_E2M3",
            DType::F6E3M2 => "F6_E3M2",
        }
    }

    /// Parses a canonical name.
    pub fn from_name(name: &str) -> Option<DType> {
        DType::ALL.iter().copied().find(|d| d.name() == name)
    }

    /// Bits per element.
    pub fn bits(self) -> usize {
        match self {
            DType::F4 => 4,
            DType::F6E2M3 | DType::F6E3M2 => 6,
            DType::Bool | DType::U8 | DType::I8 => 8,
            DType::F8E4M3 | DType::F8E5M2 | DType::F8E8M0 => 8,
            DType::I16 | DType::U16 | DType::F16 | DType::BF16 => 16,
            DType::I32 | DType::U32 | DType::F32 => 32,
            DType::I64 | DType::U64 | DType::F64 => 64,
        }
    }

    /// Bytes of `elements` values, or `None` on overflow or a partial byte.
    pub fn byte_len(self, elements: usize) -> Option<usize> {
        let bits = elements.checked_mul(self.bits())?;
        (bits % 8 == 0).then_some(bits / 8)
    }

    /// Whether [`DType::decode_f32`] supports this type.
    pub fn decodable(self) -> bool {
        !matches!(self, DType::F4 | DType::F6E2M3 | DType::F6E3M2)
    }

    /// Decodes little-endian `bytes` holding exactly `out.len()` elements into `out`.
    pub fn decode_f32(self, bytes: &[u8], out: &mut [f32]) -> Result<(), DecodeError> {
        if !self.decodable() {
            return Err(DecodeError::Unsupported(self.name()));
        }
        let size = self.bits() / 8;
        let want = bytes.len() / size;
        if bytes.len() % size != 0 || want != out.len() {
            return Err(DecodeError::OutputLength {
                out: out.len(),
                want,
            });
        }
        match self {
            DType::Bool => out
                .iter_mut()
                .zip(bytes)
                .for_each(|(o, &b)| *o = if b != 0 { 1.0 } else { 0.0 }),
            DType::U8 => out.iter_mut().zip(bytes).for_each(|(o, &b)| *o = b as f32),
            DType::I8 => out
                .iter_mut()
                .zip(bytes)
                .for_each(|(o, &b)| *o = b as i8 as f32),
            DType::F8E4M3 => out
                .iter_mut()
                .zip(bytes)
                .for_each(|(o, &b)| *o = float8::F8E4M3::from_bits(b).to_f32()),
            DType::F8E5M2 => out
                .iter_mut()
                .zip(bytes)
                .for_each(|(o, &b)| *o = float8::F8E5M2::from_bits(b).to_f32()),
            DType::F8E8M0 => out.iter_mut().zip(bytes).for_each(|(o, &b)| *o = e8m0(b)),
            DType::I16 => each::<2>(bytes, out, |c| i16::from_le_bytes(c) as f32),
            DType::U16 => each::<2>(bytes, out, |c| u16::from_le_bytes(c) as f32),
            DType::F16 => each::<2>(bytes, out, |c| f16::from_le_bytes(c).to_f32()),
            DType::BF16 => each::<2>(bytes, out, |c| bf16::from_le_bytes(c).to_f32()),
            DType::I32 => each::<4>(bytes, out, |c| i32::from_le_bytes(c) as f32),
            DType::U32 => each::<4>(bytes, out, |c| u32::from_le_bytes(c) as f32),
            DType::F32 => each::<4>(bytes, out, f32::from_le_bytes),
            DType::I64 => each::<8>(bytes, out, |c| i64::from_le_bytes(c) as f32),
            DType::U64 => each::<8>(bytes, out, |c| u64::from_le_bytes(c) as f32),
            DType::F64 => each::<8>(bytes, out, |c| f64::from_le_bytes(c) as f32),
            DType::F4 | DType::F6E2M3 | DType::F6E3M2 => {
                return Err(DecodeError::Unsupported(self.name()))
            }
        }
        Ok(())
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Applies `f` to each `N`-byte little-endian element.
#[inline]
fn each<const N: usize>(bytes: &[u8], out: &mut [f32], f: impl Fn([u8; N]) -> f32) {
    for (o, c) in out.iter_mut().zip(bytes.chunks_exact(N)) {
        // chunks_exact guarantees the length, so the conversion cannot fail.
        let mut a = [0u8; N];
        a.copy_from_slice(c);
        *o = f(a);
    }
}

/// E8M0: an unsigned biased exponent, 2^(b-127); 0xFF is NaN.
fn e8m0(b: u8) -> f32 {
    if b == 0xff {
        f32::NAN
    } else {
        (2.0f32).powi(b as i32 - 127)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for d in DType::ALL {
            assert_eq!(DType::from_name(d.name()), Some(d));
        }
        assert_eq!(DType::from_name("Q4_K"), None);
    }

    #[test]
    fn byte_len_checks_overflow_and_partial_bytes() {
        assert_eq!(DType::F32.byte_len(3), Some(12));
        assert_eq!(DType::F4.byte_len(3), None);
        assert_eq!(DType::F4.byte_len(4), Some(2));
        assert_eq!(DType::F64.byte_len(usize::MAX / 2), None);
    }

    #[test]
    fn decodes_known_values() {
        let mut out = [0f32; 2];
        DType::BF16
            .decode_f32(&[0x80, 0x3f, 0x00, 0xc0], &mut out)
            .unwrap();
        assert_eq!(out, [1.0, -2.0]);
        DType::F16
            .decode_f32(&[0x00, 0x3c, 0x00, 0x7c], &mut out)
            .unwrap();
        assert_eq!(out, [1.0, f32::INFINITY]);
        DType::F8E4M3.decode_f32(&[0x38, 0x7e], &mut out).unwrap();
        assert_eq!(out, [1.0, 448.0]);
        DType::F8E5M2.decode_f32(&[0x3c, 0xc0], &mut out).unwrap();
        assert_eq!(out, [1.0, -2.0]);
        DType::F8E8M0.decode_f32(&[127, 128], &mut out).unwrap();
        assert_eq!(out, [1.0, 2.0]);
        DType::I64
            .decode_f32(&(-5i64).to_le_bytes().repeat(2), &mut out)
            .unwrap();
        assert_eq!(out, [-5.0, -5.0]);
    }

    #[test]
    fn rejects_wrong_lengths_and_subbyte_types() {
        let mut out = [0f32; 2];
        assert!(DType::F32.decode_f32(&[0; 7], &mut out).is_err());
        assert!(DType::F32.decode_f32(&[0; 4], &mut out).is_err());
        assert_eq!(
            DType::F4.decode_f32(&[0], &mut out),
            Err(DecodeError::Unsupported("F4"))
        );
    }
}
