//! Where one tensor of an opened file lives and what it holds.

use std::ops::Range;

use crate::dtype::DType;

/// Where a tensor's bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// In the file itself (the memory map).
    File,
    /// In the `n`-th external data file ([`crate::WeightFile::externals`]).
    External(usize),
    /// In the `n`-th buffer the reader decoded into memory: the stored form was not the
    /// plain little-endian row-major bytes (varint-packed ONNX fields, deflated npz
    /// members, strided PyTorch views).
    Decoded(usize),
}

/// Where one tensor lives and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// Name as written in the file.
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// Which bytes hold it.
    pub source: Source,
    /// Byte range within its source, checked against the source's length.
    pub range: Range<usize>,
}
