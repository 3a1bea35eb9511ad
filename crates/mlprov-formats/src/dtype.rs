//! Element types of stored tensors: names, block layouts and sizes (their conversion to
//! `f32` is in [`crate::decode`]).

/// The element type of a stored tensor. Names follow safetensors (`F32`, `BF16`, `F8_E4M3`…)
/// and, for GGML block types, GGUF/gguf-py (`Q4_K`, `IQ4_XS`); that name is how a dtype
/// enters digests.
///
/// Block types store a fixed number of elements in a fixed number of bytes
/// ([`DType::block`]); a tensor of them holds whole blocks only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(non_camel_case_types)] // GGML block types keep the spelling every tool prints.
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
    /// GGML Q4_0: 32 4-bit values and an f16 scale.
    Q4_0,
    /// GGML Q4_1: 32 4-bit values, f16 scale and minimum.
    Q4_1,
    /// GGML Q5_0: 32 5-bit values and an f16 scale.
    Q5_0,
    /// GGML Q5_1: 32 5-bit values, f16 scale and minimum.
    Q5_1,
    /// GGML Q8_0: 32 8-bit values and an f16 scale.
    Q8_0,
    /// GGML Q8_1: Q8_0 plus a stored sum (a matmul intermediate). Hashed, not decoded.
    Q8_1,
    /// GGML K-quant Q2_K: 256 values in 16 groups, 2 bits each.
    Q2_K,
    /// GGML K-quant Q3_K: 256 values, 3 bits each.
    Q3_K,
    /// GGML K-quant Q4_K: 256 values in 8 groups, 4 bits each.
    Q4_K,
    /// GGML K-quant Q5_K: 256 values in 8 groups, 5 bits each.
    Q5_K,
    /// GGML K-quant Q6_K: 256 values in 16 groups, 6 bits each.
    Q6_K,
    /// GGML K-quant Q8_K: 256 8-bit values, f32 scale and group sums.
    Q8_K,
    /// GGML IQ2_XXS: 256 values as rows of an 8-wide lattice grid, with sign patterns (2.06 bpw).
    IQ2_XXS,
    /// GGML IQ2_XS: IQ2_XXS with a 512-row grid and 4-bit group scales (2.31 bpw).
    IQ2_XS,
    /// GGML IQ3_XXS: 256 values as rows of a 4-wide grid, with sign patterns (3.06 bpw).
    IQ3_XXS,
    /// GGML IQ1_S: 256 ternary-grid values with a shift (1.56 bpw).
    IQ1_S,
    /// GGML IQ4_NL: 32 values through a fixed non-linear 16-entry table.
    IQ4_NL,
    /// GGML IQ3_S: a 512-row 4-wide grid, explicit sign bits (3.44 bpw).
    IQ3_S,
    /// GGML IQ2_S: a 1024-row 8-wide grid, explicit sign bits (2.5 bpw).
    IQ2_S,
    /// GGML IQ4_XS: 256 values, IQ4_NL's table with 6-bit group scales.
    IQ4_XS,
    /// GGML IQ1_M: IQ1_S's grid with 3-bit scales per 16 values (1.75 bpw).
    IQ1_M,
    /// GGML TQ1_0: 256 ternary values packed five per byte in base 3.
    TQ1_0,
    /// GGML TQ2_0: 256 ternary values stored in 2 bits each.
    TQ2_0,
    /// GGML MXFP4: 32 E2M1 values and an E8M0 scale.
    MXFP4,
    /// GGML NVFP4: 64 E2M1 values and four unsigned E4M3 scales.
    NVFP4,
    /// GGML Q1_0. Hashed, not decoded.
    Q1_0,
    /// GGML Q2_0. Hashed, not decoded.
    Q2_0,
    /// GGML Q4_0 interleaved 4x4 (removed from ggml; old GGUF files have it). Hashed, not decoded.
    Q4_0_4_4,
    /// GGML Q4_0 interleaved 4x8 (removed). Hashed, not decoded.
    Q4_0_4_8,
    /// GGML Q4_0 interleaved 8x8 (removed). Hashed, not decoded.
    Q4_0_8_8,
    /// GGML IQ4_NL interleaved 4x4 (removed). Hashed, not decoded.
    IQ4_NL_4_4,
    /// GGML IQ4_NL interleaved 4x8 (removed). Hashed, not decoded.
    IQ4_NL_4_8,
    /// GGML IQ4_NL interleaved 8x8 (removed). Hashed, not decoded.
    IQ4_NL_8_8,
}

/// Elements in a K-quant super-block.
pub(crate) const QK_K: usize = 256;
/// The largest block of any dtype, in elements: partial-block decoding uses a scratch of this size.
pub(crate) const MAX_BLOCK_ELEMENTS: usize = QK_K;

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
    /// The stored bytes do not hold the tensor's elements (a view assembled by hand).
    #[error("{bytes} bytes do not hold {elements} elements of {dtype}")]
    ByteLength {
        /// Bytes in the view.
        bytes: usize,
        /// Elements in the view's shape.
        elements: usize,
        /// The view's dtype.
        dtype: &'static str,
    },
    /// The dtype has no `f32` decoder.
    #[error("decoding {0} to f32 is not supported")]
    Unsupported(&'static str),
}

impl DType {
    /// Every dtype, for tests and tables.
    pub const ALL: [DType; 52] = [
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
        DType::Q4_0,
        DType::Q4_1,
        DType::Q5_0,
        DType::Q5_1,
        DType::Q8_0,
        DType::Q8_1,
        DType::Q2_K,
        DType::Q3_K,
        DType::Q4_K,
        DType::Q5_K,
        DType::Q6_K,
        DType::Q8_K,
        DType::IQ2_XXS,
        DType::IQ2_XS,
        DType::IQ3_XXS,
        DType::IQ1_S,
        DType::IQ4_NL,
        DType::IQ3_S,
        DType::IQ2_S,
        DType::IQ4_XS,
        DType::IQ1_M,
        DType::TQ1_0,
        DType::TQ2_0,
        DType::MXFP4,
        DType::NVFP4,
        DType::Q1_0,
        DType::Q2_0,
        DType::Q4_0_4_4,
        DType::Q4_0_4_8,
        DType::Q4_0_8_8,
        DType::IQ4_NL_4_4,
        DType::IQ4_NL_4_8,
        DType::IQ4_NL_8_8,
    ];

    /// The canonical name (safetensors or GGUF spelling), used in output and digests.
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
            DType::Q4_0 => "Q4_0",
            DType::Q4_1 => "Q4_1",
            DType::Q5_0 => "Q5_0",
            DType::Q5_1 => "Q5_1",
            DType::Q8_0 => "Q8_0",
            DType::Q8_1 => "Q8_1",
            DType::Q2_K => "Q2_K",
            DType::Q3_K => "Q3_K",
            DType::Q4_K => "Q4_K",
            DType::Q5_K => "Q5_K",
            DType::Q6_K => "Q6_K",
            DType::Q8_K => "Q8_K",
            DType::IQ2_XXS => "IQ2_XXS",
            DType::IQ2_XS => "IQ2_XS",
            DType::IQ3_XXS => "IQ3_XXS",
            DType::IQ1_S => "IQ1_S",
            DType::IQ4_NL => "IQ4_NL",
            DType::IQ3_S => "IQ3_S",
            DType::IQ2_S => "IQ2_S",
            DType::IQ4_XS => "IQ4_XS",
            DType::IQ1_M => "IQ1_M",
            DType::TQ1_0 => "TQ1_0",
            DType::TQ2_0 => "TQ2_0",
            DType::MXFP4 => "MXFP4",
            DType::NVFP4 => "NVFP4",
            DType::Q1_0 => "Q1_0",
            DType::Q2_0 => "Q2_0",
            DType::Q4_0_4_4 => "Q4_0_4_4",
            DType::Q4_0_4_8 => "Q4_0_4_8",
            DType::Q4_0_8_8 => "Q4_0_8_8",
            DType::IQ4_NL_4_4 => "IQ4_NL_4_4",
            DType::IQ4_NL_4_8 => "IQ4_NL_4_8",
            DType::IQ4_NL_8_8 => "IQ4_NL_8_8",
        }
    }

    /// Parses a canonical name.
    pub fn from_name(name: &str) -> Option<DType> {
        DType::ALL.iter().copied().find(|d| d.name() == name)
    }

    /// The storage block: `(elements per block, bytes per block)`. Plain types are
    /// `(1, size)`; packed sub-byte types and GGML quantizations store several elements
    /// per block (sizes as in ggml's `type_traits`).
    pub fn block(self) -> (usize, usize) {
        match self {
            DType::Bool | DType::U8 | DType::I8 => (1, 1),
            DType::F8E4M3 | DType::F8E5M2 | DType::F8E8M0 => (1, 1),
            DType::I16 | DType::U16 | DType::F16 | DType::BF16 => (1, 2),
            DType::I32 | DType::U32 | DType::F32 => (1, 4),
            DType::I64 | DType::U64 | DType::F64 => (1, 8),
            DType::F4 => (2, 1),
            DType::F6E2M3 | DType::F6E3M2 => (4, 3),
            DType::Q4_0 | DType::IQ4_NL => (32, 2 + 16),
            DType::Q4_1 => (32, 2 + 2 + 16),
            DType::Q5_0 => (32, 2 + 4 + 16),
            DType::Q5_1 => (32, 2 + 2 + 4 + 16),
            DType::Q8_0 => (32, 2 + 32),
            // ggml's block_q8_1 holds two f16 (d, s); gguf-py's table still says 4 + 4 + 32
            // from the f32 layout of early 2023. Files never store Q8_1 in practice.
            DType::Q8_1 => (32, 2 + 2 + 32),
            DType::Q2_K => (QK_K, QK_K / 16 + QK_K / 4 + 2 + 2),
            DType::Q3_K => (QK_K, QK_K / 8 + QK_K / 4 + 12 + 2),
            DType::Q4_K => (QK_K, 2 + 2 + 12 + QK_K / 2),
            DType::Q5_K => (QK_K, 2 + 2 + 12 + QK_K / 8 + QK_K / 2),
            DType::Q6_K => (QK_K, QK_K / 2 + QK_K / 4 + QK_K / 16 + 2),
            DType::Q8_K => (QK_K, 4 + QK_K + QK_K / 16 * 2),
            DType::IQ2_XXS => (QK_K, 2 + QK_K / 4),
            DType::IQ2_XS => (QK_K, 2 + QK_K / 4 + QK_K / 32),
            DType::IQ3_XXS => (QK_K, 2 + QK_K / 4 + QK_K / 8),
            DType::IQ1_S => (QK_K, 2 + QK_K / 8 + QK_K / 16),
            DType::IQ3_S => (QK_K, 2 + QK_K / 4 + QK_K / 8 + QK_K / 32 + 4),
            DType::IQ2_S => (QK_K, 2 + QK_K / 4 + QK_K / 16),
            DType::IQ4_XS => (QK_K, 2 + 2 + QK_K / 64 + QK_K / 2),
            DType::IQ1_M => (QK_K, QK_K / 8 + QK_K / 16 + QK_K / 32),
            DType::TQ1_0 => (QK_K, 2 + 4 * 13),
            DType::TQ2_0 => (QK_K, 2 + 64),
            DType::MXFP4 => (32, 1 + 16),
            DType::NVFP4 => (64, 4 + 32),
            DType::Q1_0 => (128, 2 + 16),
            DType::Q2_0 => (64, 2 + 16),
            // The removed interleaved types kept Q4_0's / IQ4_NL's block size per row.
            DType::Q4_0_4_4 | DType::Q4_0_4_8 | DType::Q4_0_8_8 => (32, 2 + 16),
            DType::IQ4_NL_4_4 | DType::IQ4_NL_4_8 | DType::IQ4_NL_8_8 => (32, 2 + 16),
        }
    }

    /// Whether several elements share a block (GGML quantizations, packed FP4/FP6).
    pub fn is_blocked(self) -> bool {
        self.block().0 > 1
    }

    /// Bytes of `elements` values, or `None` on overflow or a partial block.
    pub fn byte_len(self, elements: usize) -> Option<usize> {
        let (per_block, block_bytes) = self.block();
        if !elements.is_multiple_of(per_block) {
            return None;
        }
        (elements / per_block).checked_mul(block_bytes)
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
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
        assert_eq!(DType::from_name("Q4_K"), Some(DType::Q4_K));
        assert_eq!(DType::from_name("q4_k"), None);
        let mut names: Vec<_> = DType::ALL.iter().map(|d| d.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), DType::ALL.len(), "names are unique");
    }

    #[test]
    fn blocks_fit_the_scratch_buffer() {
        for d in DType::ALL {
            let (n, b) = d.block();
            assert!(n >= 1 && b >= 1 && n <= MAX_BLOCK_ELEMENTS, "{d}");
        }
        assert_eq!(DType::Q4_K.block(), (256, 144));
        assert_eq!(DType::Q6_K.block(), (256, 210));
        assert_eq!(DType::IQ4_XS.block(), (256, 136));
        assert_eq!(DType::Q8_K.block(), (256, 292));
    }

    #[test]
    fn only_types_without_a_reference_dequantizer_are_undecodable() {
        let undecodable: Vec<&str> = DType::ALL
            .iter()
            .filter(|d| !d.decodable())
            .map(|d| d.name())
            .collect();
        assert_eq!(
            undecodable,
            [
                "F4",
                "F6_E2M3",
                "F6_E3M2",
                "Q8_1",
                "Q1_0",
                "Q2_0",
                "Q4_0_4_4",
                "Q4_0_4_8",
                "Q4_0_8_8",
                "IQ4_NL_4_4",
                "IQ4_NL_4_8",
                "IQ4_NL_8_8"
            ]
        );
    }

    #[test]
    fn byte_len_checks_overflow_and_partial_bytes() {
        assert_eq!(DType::F32.byte_len(3), Some(12));
        assert_eq!(DType::F4.byte_len(3), None);
        assert_eq!(DType::F4.byte_len(4), Some(2));
        assert_eq!(DType::F64.byte_len(usize::MAX / 2), None);
        assert_eq!(DType::Q4_0.byte_len(64), Some(36));
        assert_eq!(DType::Q4_0.byte_len(33), None);
        assert_eq!(DType::Q4_K.byte_len(256 * 3), Some(144 * 3));
        assert_eq!(DType::Q8_K.byte_len(usize::MAX / 256 * 256), None);
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
        let mut block = [0f32; 32];
        assert!(DType::Q8_0.decode_f32(&[0; 33], &mut block).is_err());
        assert!(DType::Q8_0.decode_f32(&[0; 34], &mut block[..31]).is_err());
        assert!(DType::Q8_0.decode_f32(&[0; 34], &mut block).is_ok());
        assert_eq!(
            DType::Q1_0.decode_f32(&[0; 18], &mut [0f32; 128]),
            Err(DecodeError::Unsupported("Q1_0"))
        );
        assert!(DType::IQ2_XXS
            .decode_f32(&[0; 66], &mut [0f32; 256])
            .is_ok());
    }
}
