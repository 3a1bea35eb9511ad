//! One memory-mapped weight file and the tensors it declares.

use std::collections::BTreeMap;
use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::dequant::DequantView;
use crate::dtype::DType;
use crate::error::{Error, ErrorKind};
use crate::ggml_legacy::GgmlVariant;
use crate::meta::MetaValue;
use crate::raw::{QuantLink, RawFile, RawTensor, TensorData};
use crate::sniff::{hex_prefix, sniff_path, Sniffed};
use crate::view::TensorView;

/// A container format we can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    /// Hugging Face safetensors.
    Safetensors,
    /// GGUF (llama.cpp / ggml), versions 2 and 3.
    Gguf {
        /// The header's version field.
        version: u32,
    },
    /// A legacy GGML container (before GGUF): ggml, ggmf, ggjt or ggla.
    Ggml(GgmlVariant),
    /// An ONNX model (weights in initializers, Constant nodes and subgraphs; maybe external data).
    Onnx,
    /// A `torch.save` checkpoint (zip format).
    PyTorch,
    /// A TorchScript archive (`torch.jit.save`).
    TorchScript,
    /// A NumPy `.npy` array.
    Npy,
    /// A NumPy `.npz` archive.
    Npz,
}

impl Format {
    /// Lower-case name used in output and manifests.
    pub fn name(self) -> &'static str {
        match self {
            Format::Safetensors => "safetensors",
            Format::Gguf { .. } => "gguf",
            Format::Ggml(_) => "ggml",
            Format::Onnx => "onnx",
            Format::PyTorch => "pytorch",
            Format::TorchScript => "torchscript",
            Format::Npy => "npy",
            Format::Npz => "npz",
        }
    }

    /// The name with the version or variant, e.g. `gguf v3`, `ggml (ggjt v3)`.
    pub fn description(self) -> String {
        match self {
            Format::Gguf { version } => format!("gguf v{version}"),
            Format::Ggml(v) => format!("ggml ({})", v.name()),
            other => other.name().to_string(),
        }
    }
}

/// What a parser found in a file: its header, tensors (any order) and metadata.
pub(crate) struct Parsed {
    /// Byte range of the header (everything before the first tensor's data or record).
    pub header: Range<usize>,
    /// Tensors with absolute, checked byte ranges.
    pub tensors: Vec<TensorInfo>,
    /// Metadata as display strings.
    pub metadata: BTreeMap<String, String>,
    /// Metadata with types kept.
    pub meta: BTreeMap<String, MetaValue>,
}

/// Where a tensor's bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// In the file itself (the memory map).
    File,
    /// In the `n`-th external data file ([`WeightFile::externals`]).
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

/// An external data file a tensor's bytes live in (ONNX `data_location = EXTERNAL`).
#[derive(Debug)]
pub struct ExternalFile {
    /// Path as resolved (confined to the model's folder by the parser).
    pub path: PathBuf,
    /// Its location as written in the model, relative to the model file's folder.
    pub location: String,
    map: Mmap,
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
    map: Mmap,
    header: Range<usize>,
    tensors: Vec<TensorInfo>,
    metadata: BTreeMap<String, String>,
    meta: BTreeMap<String, MetaValue>,
    externals: Vec<ExternalFile>,
    decoded: Vec<Vec<u8>>,
    quant_links: Vec<QuantLink>,
}

/// Opens a weight file, recognizing its format by its first bytes.
pub fn open(path: impl AsRef<Path>) -> Result<WeightFile, Error> {
    let path = path.as_ref();
    let (sniffed, len, head) = sniff_path(path)?;
    if len == 0 {
        return Err(Error::new(path, ErrorKind::Empty));
    }
    match sniffed {
        Sniffed::KnownUnsupported(name) => {
            return Err(Error::new(path, ErrorKind::Unsupported(name)))
        }
        Sniffed::Unknown => {
            return Err(Error::new(
                path,
                ErrorKind::UnknownFormat(hex_prefix(&head)),
            ))
        }
        _ => {}
    }
    let map = map_file(path)?;
    let (format, raw) = parse_as(sniffed, &map, path).map_err(|k| Error::new(path, k))?;
    assemble(path, format, map, raw)
}

/// Runs the parser for `sniffed` over the whole file's bytes.
fn parse_as(sniffed: Sniffed, bytes: &[u8], path: &Path) -> Result<(Format, RawParts), ErrorKind> {
    Ok(match sniffed {
        Sniffed::Safetensors => (
            Format::Safetensors,
            crate::safetensors_format::parse(bytes)?.into(),
        ),
        Sniffed::Gguf => crate::gguf::parse(bytes).map(|(f, p)| (f, p.into()))?,
        Sniffed::Ggml => crate::ggml_legacy::parse(bytes).map(|(f, p)| (f, p.into()))?,
        Sniffed::Onnx => (Format::Onnx, crate::onnx::parse(bytes, path)?.into()),
        Sniffed::Npy => (Format::Npy, crate::archive::parse_npy(bytes)?.into()),
        Sniffed::Pickle => (
            Format::PyTorch,
            crate::archive::parse_legacy_torch(bytes)?.into(),
        ),
        Sniffed::Zip => {
            let raw = crate::archive::parse_zip(bytes)?;
            let format = match raw.metadata.get("archive").map(String::as_str) {
                Some("torchscript") => Format::TorchScript,
                Some("npz") => Format::Npz,
                _ => Format::PyTorch,
            };
            (format, raw.into())
        }
        Sniffed::KnownUnsupported(name) => return Err(ErrorKind::Unsupported(name)),
        Sniffed::Unknown => return Err(ErrorKind::UnknownFormat(hex_prefix(bytes))),
    })
}

/// Fuzzing entry point: parses `bytes` as the given kind (no file, no external data) and
/// decodes every tensor it can, checking each against the bytes present. Returns the
/// number of tensors. Not a stable API.
#[doc(hidden)]
pub fn fuzz_parse(kind: Sniffed, bytes: &[u8]) -> Result<usize, ErrorKind> {
    if kind == Sniffed::Pickle {
        // The restricted unpickler itself (inside archives it sits behind the zip layer).
        let policy = crate::pickle::Policy {
            torchscript_classes: true,
        };
        return crate::pickle::unpickle(bytes, policy)
            .map(|u| u.objs.len())
            .map_err(|e| ErrorKind::InvalidHeader {
                format: "pickle",
                detail: e.to_string(),
            });
    }
    let (_, raw) = parse_as(kind, bytes, Path::new("/nonexistent/fuzz.onnx"))?;
    for t in &raw.tensors {
        let data: &[u8] = match &t.data {
            TensorData::Mapped(r) => bytes
                .get(r.clone())
                .ok_or(ErrorKind::Truncated("mapped range".into()))?,
            TensorData::Owned(v) => v,
            TensorData::External { .. } => continue,
        };
        let view = TensorView {
            name: &t.name,
            dtype: t.dtype,
            shape: &t.shape,
            source: Source::File,
            offset: 0,
            bytes: data,
        };
        let Some(n) = t.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)) else {
            continue; // open() rejects such a tensor with an error
        };
        if t.dtype.decodable() && t.dtype.byte_len(n) == Some(data.len()) {
            let mut out = vec![0f32; n.min(1 << 20)];
            let _ = view.decode_f32_into(0..out.len(), &mut out);
        }
    }
    Ok(raw.tensors.len())
}

/// Either parser result, normalized.
struct RawParts {
    header: Option<Range<usize>>,
    tensors: Vec<RawTensor>,
    quant_links: Vec<QuantLink>,
    metadata: BTreeMap<String, String>,
    meta: BTreeMap<String, MetaValue>,
}

impl From<Parsed> for RawParts {
    fn from(p: Parsed) -> Self {
        RawParts {
            header: Some(p.header),
            tensors: p
                .tensors
                .into_iter()
                .map(|t| RawTensor {
                    name: t.name,
                    dtype: t.dtype,
                    shape: t.shape,
                    data: TensorData::Mapped(t.range),
                })
                .collect(),
            quant_links: Vec::new(),
            metadata: p.metadata,
            meta: p.meta,
        }
    }
}

impl From<RawFile> for RawParts {
    fn from(r: RawFile) -> Self {
        RawParts {
            header: r.header,
            tensors: r.tensors,
            quant_links: r.quant_links,
            metadata: r.metadata,
            meta: BTreeMap::new(),
        }
    }
}

/// Checks every tensor against its bytes, maps external files once each, and orders tensors.
fn assemble(path: &Path, format: Format, map: Mmap, raw: RawParts) -> Result<WeightFile, Error> {
    let invalid = |detail: String| {
        Error::new(
            path,
            ErrorKind::InvalidHeader {
                format: format_label(format),
                detail,
            },
        )
    };
    let mut externals: Vec<ExternalFile> = Vec::new();
    let mut decoded: Vec<Vec<u8>> = Vec::new();
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

fn format_label(format: Format) -> &'static str {
    match format {
        Format::Safetensors => "safetensors",
        Format::Gguf { .. } => "GGUF",
        Format::Ggml(_) => "GGML",
        Format::Onnx => "ONNX",
        Format::PyTorch | Format::TorchScript => "PyTorch",
        Format::Npy | Format::Npz => "NumPy",
    }
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
