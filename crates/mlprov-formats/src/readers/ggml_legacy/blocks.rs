//! Which quantized block layouts a legacy GGML file's writer used, and the size of a
//! block of each type id under those layouts.

use crate::dtype::DType;

/// Which quantized block layouts a file's writer used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Generation {
    /// Today's layouts (ggjt v3, ggla, whisper.cpp quantization version 2).
    Current,
    /// ggjt v2 / quantization version 1: Q5_0 and Q5_1 as today, Q4/Q8 with f32 scales.
    Ggjt2,
    /// Before ggjt v2 (nibble order differs): only f32/f16 are today's.
    Original,
    /// Unversioned file with an unrecognized header: the quantization version is unknown.
    Unknown,
}

/// Block sizes to assume while chaining records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sizes {
    /// Today's block sizes.
    Current,
    /// Q4_0/Q4_1/Q8_0/Q8_1 with f32 scales, and the short-lived Q4_2/Q4_3.
    PreV3,
}

impl Generation {
    /// The block sizes to try, in order.
    pub(super) fn sizes(self) -> &'static [Sizes] {
        match self {
            Generation::Current => &[Sizes::Current],
            Generation::Ggjt2 | Generation::Original => &[Sizes::PreV3],
            Generation::Unknown => &[Sizes::Current, Sizes::PreV3],
        }
    }

    /// The dtype of type `id` in this generation, if its layout is today's.
    pub(super) fn dtype(self, id: u32) -> Option<DType> {
        let allowed = match self {
            Generation::Current => id <= 15,
            Generation::Ggjt2 => matches!(id, 0 | 1 | 6 | 7),
            Generation::Original | Generation::Unknown => id <= 1,
        };
        allowed.then(|| DType::from_ggml_type(id)).flatten()
    }
}

/// `(elements, bytes)` per block of type `id`. Ids past 15 meant different types over
/// 2023 (I8/I16/I32 moved when the K-quants arrived), so legacy files may not use them.
pub(super) fn block_of(id: u32, sizes: Sizes) -> Option<(usize, usize)> {
    if sizes == Sizes::PreV3 {
        match id {
            2 => return Some((32, 4 + 16)),
            3 => return Some((32, 4 + 4 + 16)),
            4 => return Some((16, 2 + 8)),
            5 => return Some((16, 2 + 2 + 8)),
            8 => return Some((32, 4 + 32)),
            9 => return Some((32, 4 + 4 + 32)),
            _ => {}
        }
    }
    if id > 15 {
        return None;
    }
    DType::from_ggml_type(id).map(DType::block)
}

/// The name of type `id`, including the withdrawn Q4_2 and Q4_3.
pub(super) fn type_label(id: u32) -> &'static str {
    match id {
        4 => "Q4_2",
        5 => "Q4_3",
        _ => DType::from_ggml_type(id).map_or("unknown", DType::name),
    }
}
