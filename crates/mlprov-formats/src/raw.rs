//! What a format parser hands back, before it becomes a [`crate::WeightFile`]: tensors whose
//! bytes live in the file's own map, in another file (ONNX external data), or in memory
//! the parser had to produce (varint-packed ONNX fields, deflated npz members, strided
//! PyTorch views gathered into row-major order).

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;

use crate::dtype::DType;

/// Where a tensor's bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TensorData {
    /// An absolute byte range of the parsed file's own map, checked against its length.
    Mapped(Range<usize>),
    /// A byte range of another file (already resolved and confined to the model's folder);
    /// the range is checked when that file is mapped.
    External { path: PathBuf, range: Range<u64> },
    /// Canonical little-endian, row-major bytes produced by the parser. Its length is
    /// bounded by bytes actually present in the input, never by a count read from it.
    Owned(Vec<u8>),
}

/// One tensor as a parser found it. `bytes` must hold exactly
/// `dtype.byte_len(product(shape))` bytes, little-endian, row-major (outermost dim first).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawTensor {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub data: TensorData,
}

/// A stored-quantized tensor and the tensors that turn it into real values:
/// `real = (q - zero_point) * scale`, per tensor or along `axis`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuantLink {
    /// The tensor holding quantized values.
    pub quantized: String,
    /// Its scale tensor (one value, or one per index along `axis`).
    pub scale: String,
    /// Its zero-point tensor, if any (same count as the scale).
    pub zero_point: Option<String>,
    /// The axis the scales run along; `None` for one scale for the whole tensor.
    pub axis: Option<usize>,
}

/// A parser's result.
#[derive(Debug, Default)]
pub(crate) struct RawFile {
    /// Byte range of the format's header, when the format has one.
    pub header: Option<Range<usize>>,
    pub tensors: Vec<RawTensor>,
    pub quant_links: Vec<QuantLink>,
    /// Free-form text metadata for display (producer, opset, archive kind…).
    pub metadata: BTreeMap<String, String>,
}
