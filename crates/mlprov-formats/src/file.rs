//! One memory-mapped weight file and the tensors it declares.

use std::collections::BTreeMap;
use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::dtype::DType;
use crate::error::{Error, ErrorKind};
use crate::sniff::{hex_prefix, sniff_path, Sniffed};
use crate::view::TensorView;

/// A container format we can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    /// Hugging Face safetensors.
    Safetensors,
}

impl Format {
    /// Lower-case name used in output and manifests.
    pub fn name(self) -> &'static str {
        match self {
            Format::Safetensors => "safetensors",
        }
    }
}

/// Where one tensor lives in its file and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// Name as written in the file.
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// Absolute byte range within the file, checked against the file length.
    pub range: Range<usize>,
}

/// An opened weight file: the map, the header's byte range and the tensors, in offset order.
#[derive(Debug)]
pub struct WeightFile {
    path: PathBuf,
    format: Format,
    map: Mmap,
    header: Range<usize>,
    tensors: Vec<TensorInfo>,
    metadata: BTreeMap<String, String>,
}

/// Opens a weight file, recognizing its format by its first bytes.
pub fn open(path: impl AsRef<Path>) -> Result<WeightFile, Error> {
    let path = path.as_ref();
    let (sniffed, len, head) = sniff_path(path)?;
    if len == 0 {
        return Err(Error::new(path, ErrorKind::Empty));
    }
    match sniffed {
        Sniffed::Safetensors => {
            let map = map_file(path)?;
            let parsed = crate::safetensors_format::parse(&map).map_err(|k| Error::new(path, k))?;
            Ok(WeightFile {
                path: path.to_path_buf(),
                format: Format::Safetensors,
                map,
                header: parsed.header,
                tensors: parsed.tensors,
                metadata: parsed.metadata,
            })
        }
        Sniffed::KnownUnsupported(name) => Err(Error::new(path, ErrorKind::Unsupported(name))),
        Sniffed::Unknown => Err(Error::new(
            path,
            ErrorKind::UnknownFormat(hex_prefix(&head)),
        )),
    }
}

fn map_file(path: &Path) -> Result<Mmap, Error> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    // SAFETY: the map is read-only. Another process truncating or rewriting the file
    // while we hold the map is outside what any mmap-based reader can defend against;
    // like safetensors and llama.cpp, we accept that for zero-copy reads.
    unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, e))
}

impl WeightFile {
    /// The path the file was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The container format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Every byte of the file (the memory map).
    pub fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// File length in bytes.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the file has no bytes (never true for an opened file).
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Byte range of the format's header (lengths, JSON, padding).
    pub fn header_range(&self) -> Range<usize> {
        self.header.clone()
    }

    /// Free-form metadata from the header (safetensors `__metadata__`).
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// Tensor records in offset order.
    pub fn tensor_infos(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// Views of every tensor, in offset order.
    pub fn tensors(&self) -> impl ExactSizeIterator<Item = TensorView<'_>> + '_ {
        self.tensors.iter().map(|t| self.view(t))
    }

    /// The view of the tensor called `name`, if any.
    pub fn tensor(&self, name: &str) -> Option<TensorView<'_>> {
        self.tensors
            .iter()
            .find(|t| t.name == name)
            .map(|t| self.view(t))
    }

    fn view<'a>(&'a self, t: &'a TensorInfo) -> TensorView<'a> {
        TensorView {
            name: &t.name,
            dtype: t.dtype,
            shape: &t.shape,
            offset: t.range.start,
            // Ranges were checked against the map length when the file was parsed.
            bytes: &self.map[t.range.clone()],
        }
    }
}
