//! GGML's numeric tensor type ids (`enum ggml_type`), as stored in GGUF and legacy GGML files.

use crate::dtype::DType;

/// `(ggml_type id, dtype)`; ids 4 and 5 (Q4_2, Q4_3) were removed in 2023 and never reached GGUF.
const IDS: &[(u32, DType)] = &[
    (0, DType::F32),
    (1, DType::F16),
    (2, DType::Q4_0),
    (3, DType::Q4_1),
    (6, DType::Q5_0),
    (7, DType::Q5_1),
    (8, DType::Q8_0),
    (9, DType::Q8_1),
    (10, DType::Q2_K),
    (11, DType::Q3_K),
    (12, DType::Q4_K),
    (13, DType::Q5_K),
    (14, DType::Q6_K),
    (15, DType::Q8_K),
    (16, DType::IQ2_XXS),
    (17, DType::IQ2_XS),
    (18, DType::IQ3_XXS),
    (19, DType::IQ1_S),
    (20, DType::IQ4_NL),
    (21, DType::IQ3_S),
    (22, DType::IQ2_S),
    (23, DType::IQ4_XS),
    (24, DType::I8),
    (25, DType::I16),
    (26, DType::I32),
    (27, DType::I64),
    (28, DType::F64),
    (29, DType::IQ1_M),
    (30, DType::BF16),
    (31, DType::Q4_0_4_4),
    (32, DType::Q4_0_4_8),
    (33, DType::Q4_0_8_8),
    (34, DType::TQ1_0),
    (35, DType::TQ2_0),
    (36, DType::IQ4_NL_4_4),
    (37, DType::IQ4_NL_4_8),
    (38, DType::IQ4_NL_8_8),
    (39, DType::MXFP4),
    (40, DType::NVFP4),
    (41, DType::Q1_0),
    (42, DType::Q2_0),
];

impl DType {
    /// The dtype of a GGML type id (`enum ggml_type`), if it is one this crate knows.
    pub fn from_ggml_type(id: u32) -> Option<DType> {
        IDS.iter().find(|(i, _)| *i == id).map(|&(_, d)| d)
    }

    /// The GGML type id of this dtype, if GGML has one.
    pub fn ggml_type(self) -> Option<u32> {
        IDS.iter().find(|(_, d)| *d == self).map(|&(i, _)| i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_match_ggml() {
        for &(id, d) in IDS {
            assert_eq!(DType::from_ggml_type(id), Some(d));
            assert_eq!(d.ggml_type(), Some(id));
        }
        assert_eq!(DType::from_ggml_type(12), Some(DType::Q4_K));
        assert_eq!(DType::from_ggml_type(23), Some(DType::IQ4_XS));
        assert_eq!(DType::from_ggml_type(4), None);
        assert_eq!(DType::from_ggml_type(43), None);
        assert_eq!(DType::U8.ggml_type(), None);
    }
}
