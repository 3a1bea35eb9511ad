//! What every reader hands back, before it becomes a [`crate::WeightFile`]: the format,
//! the header's byte range, and tensors whose bytes live in the file's own map, in another
//! file (ONNX external data), or in memory the reader had to produce (varint-packed ONNX
//! fields, deflated npz members, strided PyTorch views gathered into row-major order).
//!
//! Readers depend on this module; it depends on no reader.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;

use crate::dtype::DType;
use crate::format::Format;
use crate::meta::MetaValue;

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
    /// A byte range of one of [`ParsedFile::buffers`]: decoded bytes several tensors share
    /// (an inflated PyTorch storage and the views over it), decoded once.
    Shared { buffer: usize, range: Range<usize> },
}

/// One tensor as a reader found it. `bytes` must hold exactly
/// `dtype.byte_len(product(shape))` bytes, little-endian, row-major (outermost dim first).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ParsedTensor {
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

/// A reader's result: the one parsed-file type every reader returns.
#[derive(Debug)]
pub(crate) struct ParsedFile {
    /// The container format, with its version or variant.
    pub format: Format,
    /// Byte range of the format's header (everything before the first tensor's data or
    /// record), when the format has one.
    pub header: Option<Range<usize>>,
    /// Tensors in any order.
    pub tensors: Vec<ParsedTensor>,
    /// Quantized tensors and the scale (and zero-point) tensors that give their values.
    pub quant_links: Vec<QuantLink>,
    /// Free-form text metadata for display (producer, opset, archive kind…).
    pub metadata: BTreeMap<String, String>,
    /// Metadata with types kept (GGUF key-values, legacy GGML hyperparameters).
    pub meta: BTreeMap<String, MetaValue>,
    /// Decoded bytes shared by tensors ([`TensorData::Shared`]), each charged to the
    /// memory budget once.
    pub buffers: Vec<Vec<u8>>,
}

impl ParsedFile {
    /// An empty result for `format`, to be filled in by the reader.
    pub fn new(format: Format) -> Self {
        ParsedFile {
            format,
            header: None,
            tensors: Vec::new(),
            quant_links: Vec::new(),
            metadata: BTreeMap::new(),
            meta: BTreeMap::new(),
            buffers: Vec::new(),
        }
    }
}
