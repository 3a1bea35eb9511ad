//! One memory-mapped weight file and the tensors it declares.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::budget::Budget;
use crate::dequant::DequantView;
use crate::error::{Error, ErrorKind};
use crate::format::Format;
use crate::info::{Source, TensorInfo};
use crate::map::{map_file, FileMap};
use crate::meta::MetaValue;
use crate::parsed::{ParsedFile, QuantLink, TensorData};
use crate::readers::reader_for;
use crate::readers::sniff::sniff_path;
use crate::view::TensorView;

/// An external data file a tensor's bytes live in (ONNX `data_location = EXTERNAL`).
#[derive(Debug)]
pub struct ExternalFile {
    /// Path as resolved (confined to the model's folder by the parser).
    pub path: PathBuf,
    /// Its location as written in the model, relative to the model file's folder.
    pub location: String,
    map: FileMap,
}

impl ExternalFile {
    /// Every byte of the external file.
    pub fn bytes(&self) -> &[u8] {
        &self.map
    }
}

/// An opened weight file: the map, the header's byte range and the tensors, in source then
/// offset order.
#[derive(Debug)]
pub struct WeightFile {
    path: PathBuf,
    format: Format,
    map: FileMap,
    header: Range<usize>,
    tensors: Vec<TensorInfo>,
    metadata: BTreeMap<String, String>,
    meta: BTreeMap<String, MetaValue>,
    externals: Vec<ExternalFile>,
    decoded: Vec<Vec<u8>>,
    quant_links: Vec<QuantLink>,
}

/// Opens a weight file, recognizing its format by its first bytes, under the default
/// memory budget ([`crate::DEFAULT_MEMORY_BUDGET`]).
pub fn open(path: impl AsRef<Path>) -> Result<WeightFile, Error> {
    open_in(path.as_ref(), &Budget::default())
}

/// Opens a weight file, drawing its decoded and inflated bytes from `budget`.
pub(crate) fn open_in(path: &Path, budget: &Budget) -> Result<WeightFile, Error> {
    let (sniffed, len, head) = sniff_path(path)?;
    if len == 0 {
        return Err(Error::new(path, ErrorKind::Empty));
    }
    let read = reader_for(sniffed, &head).map_err(|k| Error::new(path, k))?;
    let map = map_file(path)?;
    let parsed = read(&map, path, budget).map_err(|k| Error::new(path, k))?;
    assemble(path, map, parsed)
}

/// Checks every tensor against its bytes, maps external files once each, and orders tensors.
fn assemble(path: &Path, map: FileMap, raw: ParsedFile) -> Result<WeightFile, Error> {
    let format = raw.format;
    let invalid = |detail: String| {
        Error::new(
            path,
            ErrorKind::InvalidHeader {
                format: format.label(),
                detail,
            },
        )
    };
    let mut externals: Vec<ExternalFile> = Vec::new();
    // Shared buffers first, so `TensorData::Shared { buffer }` is their index.
    let mut decoded: Vec<Vec<u8>> = raw.buffers;
    let shared = decoded.len();
    let mut tensors = Vec::with_capacity(raw.tensors.len());
    for t in raw.tensors {
        let elements = t.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        let want = elements.and_then(|n| t.dtype.byte_len(n));
        let (source, range) = match t.data {
            TensorData::Mapped(r) => {
                if r.start > r.end || r.end > map.len() {
                    return Err(invalid(format!(
                        "tensor `{}` lies outside the file",
                        t.name
                    )));
                }
                (Source::File, r)
            }
            TensorData::External { path: ext, range } => {
                let index = match externals.iter().position(|e| e.path == ext) {
                    Some(i) => i,
                    None => {
                        let location = external_location(path, &ext);
                        let emap = map_file(&ext)?;
                        externals.push(ExternalFile {
                            path: ext.clone(),
                            location,
                            map: emap,
                        });
                        externals.len() - 1
                    }
                };
                let len = externals[index].map.len() as u64;
                if range.start > range.end || range.end > len {
                    return Err(invalid(format!(
                        "tensor `{}`: external data bytes {}..{} lie past the end of {} ({len} bytes)",
                        t.name,
                        range.start,
                        range.end,
                        ext.display()
                    )));
                }
                (
                    Source::External(index),
                    range.start as usize..range.end as usize,
                )
            }
            TensorData::Owned(bytes) => {
                let len = bytes.len();
                decoded.push(bytes);
                (Source::Decoded(decoded.len() - 1), 0..len)
            }
            TensorData::Shared { buffer, range } => {
                let len = if buffer < shared {
                    decoded[buffer].len()
                } else {
                    0
                };
                if buffer >= shared || range.start > range.end || range.end > len {
                    return Err(invalid(format!(
                        "tensor `{}` lies outside its decoded buffer",
                        t.name
                    )));
                }
                (Source::Decoded(buffer), range)
            }
        };
        // Every reader's promise, checked once here: the bytes hold exactly the shape.
        if want != Some(range.len()) {
            return Err(invalid(format!(
                "tensor `{}`: {} bytes do not hold shape {:?} of {}",
                t.name,
                range.len(),
                t.shape,
                t.dtype.name()
            )));
        }
        tensors.push(TensorInfo {
            name: t.name,
            dtype: t.dtype,
            shape: t.shape,
            source,
            range,
        });
    }
    // Hashing walks tensors in source and offset order; ties (zero-length or overlapping
    // tensors) are broken by end and name so the order is deterministic.
    tensors.sort_by(|a, b| {
        (a.source, a.range.start, a.range.end, &a.name).cmp(&(
            b.source,
            b.range.start,
            b.range.end,
            &b.name,
        ))
    });
    let quant_links = raw
        .quant_links
        .into_iter()
        .filter(|l| link_is_consistent(&tensors, l))
        .collect();
    Ok(WeightFile {
        path: path.to_path_buf(),
        format,
        header: raw.header.unwrap_or(0..0),
        map,
        tensors,
        metadata: raw.metadata,
        meta: raw.meta,
        externals,
        decoded,
        quant_links,
    })
}

/// An external file's path relative to the model file's folder, `/`-separated (the
/// reader resolves and confines it, so it lies inside that folder).
fn external_location(model: &Path, external: &Path) -> String {
    let folder = match model.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let folder = std::fs::canonicalize(folder).unwrap_or_else(|_| folder.to_path_buf());
    let external = std::fs::canonicalize(external).unwrap_or_else(|_| external.to_path_buf());
    let rel = external.strip_prefix(&folder).unwrap_or(&external);
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts.join("/")
}

/// A link is used only if its tensors exist and the scale fits the quantized tensor.
fn link_is_consistent(tensors: &[TensorInfo], l: &QuantLink) -> bool {
    let find = |n: &str| tensors.iter().find(|t| t.name == n);
    let (Some(q), Some(s)) = (find(&l.quantized), find(&l.scale)) else {
        return false;
    };
    let scales: usize = s.shape.iter().product();
    let fits = match l.axis {
        None => scales == 1,
        Some(axis) => q.shape.get(axis) == Some(&scales),
    };
    let zero_fits = match &l.zero_point {
        None => true,
        Some(z) => find(z).is_some_and(|z| z.shape.iter().product::<usize>() == scales),
    };
    fits && zero_fits && s.dtype.decodable()
}

impl WeightFile {
    /// `Ok` unless the file (or one of its external data files) was truncated, grown or
    /// rewritten since it was opened: then an error "PATH changed while being read". Call it
    /// after reading tensor bytes, to refuse a result computed from a file in flux.
    pub fn check_unchanged(&self) -> Result<(), Error> {
        self.map.check_unchanged()?;
        self.externals
            .iter()
            .try_for_each(|e| e.map.check_unchanged())
    }

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

    /// Byte range of the format's header (lengths, JSON, padding); empty for formats
    /// without one (ONNX, zip archives).
    pub fn header_range(&self) -> Range<usize> {
        self.header.clone()
    }

    /// External data files some tensors live in.
    pub fn externals(&self) -> &[ExternalFile] {
        &self.externals
    }

    /// Quantized tensors stored with separate scale (and zero-point) tensors.
    pub fn quant_links(&self) -> &[QuantLink] {
        &self.quant_links
    }

    /// Whether `name` is the scale or zero point of a linked quantized tensor: part of that
    /// tensor's values, not a tensor of its own.
    pub fn is_quant_aux(&self, name: &str) -> bool {
        self.quant_links
            .iter()
            .any(|l| l.scale == name || l.zero_point.as_deref() == Some(name))
    }

    /// The real values of a quantized tensor, when the file links it to its scale.
    pub fn dequantized(&self, name: &str) -> Option<DequantView<'_>> {
        let link = self.quant_links.iter().find(|l| l.quantized == name)?;
        Some(DequantView {
            values: self.tensor(&link.quantized)?,
            scale: self.tensor(&link.scale)?,
            zero_point: match &link.zero_point {
                Some(z) => Some(self.tensor(z)?),
                None => None,
            },
            axis: link.axis,
        })
    }

    /// The bytes of a source.
    pub fn source_bytes(&self, source: Source) -> &[u8] {
        match source {
            Source::File => &self.map,
            Source::External(i) => self.externals.get(i).map_or(&[], |e| e.bytes()),
            Source::Decoded(i) => self.decoded.get(i).map_or(&[], Vec::as_slice),
        }
    }

    /// Metadata from the header as display strings (safetensors `__metadata__`, GGUF
    /// key-values with arrays summarized as `[array of 49152 str]`, legacy GGML hyperparameters).
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// One metadata value with its type (e.g. `general.architecture`, `tokenizer.ggml.tokens`).
    pub fn meta_value(&self, key: &str) -> Option<&MetaValue> {
        self.meta.get(key)
    }

    /// Every metadata value with its type, by key.
    pub fn meta_values(&self) -> &BTreeMap<String, MetaValue> {
        &self.meta
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
        // Ranges were checked against their source's length when the file was opened.
        let (offset, bytes) = match t.source {
            Source::File => (t.range.start, &self.map[t.range.clone()]),
            Source::External(i) => (t.range.start, &self.externals[i].map[t.range.clone()]),
            Source::Decoded(i) => (t.range.start, &self.decoded[i][t.range.clone()]),
        };
        TensorView {
            name: &t.name,
            dtype: t.dtype,
            shape: &t.shape,
            source: t.source,
            offset,
            bytes,
        }
    }
}
