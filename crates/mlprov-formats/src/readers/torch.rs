//! PyTorch zip checkpoints (`torch.save`) and TorchScript archives (`torch.jit.save`).
//!
//! Both are zip archives under one top folder: `data.pkl` (a pickle, read by
//! [`crate::readers::pickle`] under an allow-list), `data/<key>` (one member per storage, stored
//! uncompressed and 64-byte aligned), `byteorder` and `version`. TorchScript adds
//! `constants.pkl` with `constants/<key>` and `code/` (never read). A tensor is a window
//! onto a storage (offset, shape, strides): dense row-major windows are mapped in
//! place, strided ones are gathered into owned row-major bytes.

use std::collections::{BTreeMap, HashMap};

use crate::budget::Budget;
use crate::dtype::DType;
use crate::error::ErrorKind;
use crate::format::Format;
use crate::parsed::{ParsedFile, ParsedTensor, TensorData};
use crate::readers::pickle::{self, Obj, Policy, TensorRef, Unpickled, Value};
use crate::readers::strided;
use crate::readers::zip::{MemberBytes, ZipArchive};

const FORMAT: &str = "PyTorch";

/// Nesting deeper than this in a pickled structure is refused (walks recurse).
const MAX_DEPTH: usize = 256;
/// At most this many nodes visited while collecting tensors (shared objects are
/// visited once per path, so a DAG of repeated references could otherwise explode).
const MAX_VISITS: usize = 1 << 24;
/// A strided view may always be materialized up to this size; beyond it, only up to
/// the size of its storage (a broadcast view with stride 0 can address far more).
const GATHER_FLOOR: usize = 64 << 20;
/// Longest tensor name built from a pickle's nested keys.
const MAX_NAME: usize = 4096;
/// Names (and per-tensor records) may take this much, plus [`NAME_BYTES_PER_BYTE`] per
/// byte of the pickle: a real state dict's names are shorter than its pickle, but keys
/// that nest back to shared levels can spell far longer names from a few KB.
const NAME_BYTES_FLOOR: usize = 1 << 20;
/// See [`NAME_BYTES_FLOOR`].
const NAME_BYTES_PER_BYTE: usize = 64;
/// What one found tensor costs besides its name (its record), for the name cap.
const TENSOR_RECORD: usize = 64;

/// The opening of a pickle written by the legacy (pre-1.6) `torch.save`: protocol 2 and
/// the magic number 0x1950a86a20f9469cfc6c as a LONG1.
const LEGACY_MAGIC: &[u8] = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19";

/// The error for a legacy (non-zip) PyTorch file.
pub(crate) fn legacy_error() -> ErrorKind {
    invalid(
        "legacy non-zip PyTorch format is not supported; re-save with \
         torch.save(..., _use_new_zipfile_serialization=True)"
            .to_string(),
    )
}

/// Whether `head` starts like a legacy (non-zip) `torch.save` file.
pub(crate) fn is_legacy(head: &[u8]) -> bool {
    head.starts_with(LEGACY_MAGIC)
}

/// Which kind of PyTorch archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TorchKind {
    /// `torch.save` (a pickled state dict or other container).
    Save,
    /// `torch.jit.save` (a pickled module tree).
    Script,
}

/// Reads the PyTorch archive whose members live under `prefix` (e.g. `"archive/"`).
pub(crate) fn parse(
    zip: &ZipArchive<'_>,
    prefix: &str,
    kind: TorchKind,
    budget: &Budget,
) -> Result<ParsedFile, ErrorKind> {
    let mut metadata = BTreeMap::new();
    metadata.insert(
        "archive".to_string(),
        match kind {
            TorchKind::Save => "torch.save",
            TorchKind::Script => "torchscript",
        }
        .to_string(),
    );
    if let Some(order) = small_text(zip, &format!("{prefix}byteorder"), budget)? {
        if order != "little" {
            return Err(invalid(format!(
                "byte order `{order}` is not supported (only little-endian archives are read)"
            )));
        }
    }
    if let Some(v) = small_text(zip, &format!("{prefix}version"), budget)? {
        metadata.insert("version".to_string(), v);
    }
    let policy = Policy {
        torchscript_classes: kind == TorchKind::Script,
    };
    let mut reader = Reader {
        zip,
        prefix,
        budget,
        storages: HashMap::new(),
        buffers: Vec::new(),
        gathered: HashMap::new(),
        tensors: Vec::new(),
        names: HashMap::new(),
    };
    reader.archive("data", "", policy)?;
    if kind == TorchKind::Script && zip.find(&format!("{prefix}constants.pkl")).is_some() {
        reader.archive("constants", "constants", policy)?;
    }
    let format = match kind {
        TorchKind::Save => Format::PyTorch,
        TorchKind::Script => Format::TorchScript,
    };
    Ok(ParsedFile {
        tensors: reader.tensors,
        metadata,
        buffers: reader.buffers,
        ..ParsedFile::new(format)
    })
}

/// A storage member's bytes: a range of the archive, or an inflated buffer shared by every
/// tensor that views it (inflated once).
#[derive(Clone)]
enum Storage {
    Mapped(std::ops::Range<usize>),
    Buffer(usize),
}

/// A strided view, as the pickle gives it: identical views are gathered once.
type ViewKey = (String, u64, Vec<u64>, Vec<u64>, DType);

struct Reader<'z, 'a> {
    zip: &'z ZipArchive<'a>,
    prefix: &'z str,
    budget: &'z Budget,
    storages: HashMap<String, Storage>,
    /// Inflated storages and gathered views, shared by the tensors over them.
    buffers: Vec<Vec<u8>>,
    gathered: HashMap<ViewKey, usize>,
    tensors: Vec<ParsedTensor>,
    names: HashMap<String, usize>,
}

impl Reader<'_, '_> {
    /// Reads `<stem>.pkl` and the tensors it names, under `name_prefix`.
    fn archive(&mut self, stem: &str, name_prefix: &str, policy: Policy) -> Result<(), ErrorKind> {
        let member = format!("{}{stem}.pkl", self.prefix);
        let entry = self
            .zip
            .find(&member)
            .ok_or_else(|| invalid(format!("member `{member}` is missing")))?;
        let bytes = self.zip.read_in(entry, self.budget)?;
        let pickled = bytes.bytes(self.zip.buf());
        let u = pickle::unpickle(pickled, policy)
            .map_err(|e| pickle::error_kind(e, FORMAT, &member))?;
        let mut found = Vec::new();
        let mut walk = Walk {
            u: &u,
            visits: 0,
            name_bytes: 0,
            max_name_bytes: pickled
                .len()
                .saturating_mul(NAME_BYTES_PER_BYTE)
                .saturating_add(NAME_BYTES_FLOOR),
            out: &mut found,
        };
        let mut path = Vec::new();
        if name_prefix.is_empty() {
            walk.value(&u.root, &mut path, 0)
        } else {
            // TorchScript code names constants `CONSTANTS.c0`, `CONSTANTS.c1`…
            match u.obj(&u.root) {
                Some(Obj::Tuple(items)) => items.iter().enumerate().try_for_each(|(i, v)| {
                    let mut path = vec![format!("{name_prefix}.c{i}")];
                    walk.value(v, &mut path, 1)
                }),
                _ => walk.value(&u.root, &mut vec![name_prefix.to_string()], 1),
            }
        }
        .map_err(|e| invalid(format!("{member}: {e}")))?;
        for (name, t) in found {
            let tensor = self.tensor(stem, &name, &t)?;
            self.push(tensor);
        }
        Ok(())
    }

    /// Keeps names unique: a repeated name gets `#2`, `#3`…
    fn push(&mut self, mut t: ParsedTensor) {
        let n = self.names.entry(t.name.clone()).or_insert(0);
        *n += 1;
        if *n > 1 {
            t.name = format!("{}#{}", t.name, *n);
        }
        self.tensors.push(t);
    }

    fn storage(&mut self, stem: &str, name: &str, key: &str) -> Result<Storage, ErrorKind> {
        let member = format!("{}{stem}/{key}", self.prefix);
        if let Some(s) = self.storages.get(&member) {
            return Ok(s.clone());
        }
        let entry = self.zip.find(&member).ok_or_else(|| {
            invalid(format!(
                "tensor `{name}`: storage member `{member}` is not in the archive"
            ))
        })?;
        let s = match self.zip.read_in(entry, self.budget)? {
            MemberBytes::Stored(r) => Storage::Mapped(r),
            MemberBytes::Inflated(v) => {
                self.buffers.push(v);
                Storage::Buffer(self.buffers.len() - 1)
            }
        };
        self.storages.insert(member, s.clone());
        Ok(s)
    }

    fn tensor(&mut self, stem: &str, name: &str, t: &TensorRef) -> Result<ParsedTensor, ErrorKind> {
        let dtype = t.storage.dtype;
        let storage = self.storage(stem, name, &t.storage.key)?;
        let key: ViewKey = (
            format!("{stem}/{}", t.storage.key),
            t.offset,
            t.shape.clone(),
            t.stride.clone(),
            dtype,
        );
        let shape = to_usizes(&t.shape).unwrap_or_default();
        if let Some(&i) = self.gathered.get(&key) {
            let len = self.buffers.get(i).map_or(0, Vec::len);
            return Ok(ParsedTensor {
                name: name.to_string(),
                dtype,
                shape,
                data: TensorData::Shared {
                    buffer: i,
                    range: 0..len,
                },
            });
        }
        let buf = self.zip.buf();
        let (base, bytes): (usize, &[u8]) = match &storage {
            Storage::Mapped(r) => (r.start, buf.get(r.clone()).unwrap_or(&[])),
            Storage::Buffer(i) => (0, self.buffers.get(*i).map_or(&[][..], Vec::as_slice)),
        };
        let data = window(name, dtype, t, bytes, self.budget)?;
        let data = match (data, &storage) {
            (Window::Range(r), Storage::Mapped(_)) => {
                TensorData::Mapped(base + r.start..base + r.end)
            }
            (Window::Range(r), Storage::Buffer(i)) => TensorData::Shared {
                buffer: *i,
                range: r,
            },
            (Window::Gathered(v), _) => {
                let len = v.len();
                self.buffers.push(v);
                let i = self.buffers.len() - 1;
                self.gathered.insert(key, i);
                TensorData::Shared {
                    buffer: i,
                    range: 0..len,
                }
            }
        };
        Ok(ParsedTensor {
            name: name.to_string(),
            dtype,
            shape,
            data,
        })
    }
}

/// Where a tensor's row-major bytes are, relative to its storage.
enum Window {
    Range(std::ops::Range<usize>),
    Gathered(Vec<u8>),
}

/// Checks a tensor against its storage bytes and locates or gathers its elements.
fn window(
    name: &str,
    dtype: DType,
    t: &TensorRef,
    storage: &[u8],
    budget: &Budget,
) -> Result<Window, ErrorKind> {
    let esize = dtype.block().1;
    let too_big = || invalid(format!("tensor `{name}`: shape {:?} is too large", t.shape));
    let shape = to_usizes(&t.shape).ok_or_else(too_big)?;
    let stride = to_usizes(&t.stride).ok_or_else(too_big)?;
    let offset = usize::try_from(t.offset).map_err(|_| too_big())?;
    let numel = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(too_big)?;
    let nbytes = numel.checked_mul(esize).ok_or_else(too_big)?;
    let elements = storage.len() / esize;
    let declared = t.storage.numel;
    if !storage.len().is_multiple_of(esize) || declared > elements as u64 {
        return Err(invalid(format!(
            "tensor `{name}`: storage `{}` declares {declared} {dtype} elements but holds {} bytes",
            t.storage.key,
            storage.len()
        )));
    }
    if numel == 0 {
        return Ok(Window::Gathered(Vec::new()));
    }
    let last = strided::max_index(offset, &shape, &stride);
    if last.is_none_or(|l| l >= elements) {
        return Err(invalid(format!(
            "tensor `{name}`: offset {offset}, shape {shape:?} and strides {stride:?} reach \
             element {} of a storage of {elements} {dtype} elements",
            last.map_or_else(|| "past 2^64".to_string(), |l| l.to_string())
        )));
    }
    if strided::is_row_major(&shape, &stride) {
        // max_index < elements, so this range lies inside the storage.
        let start = offset * esize;
        return Ok(Window::Range(start..start + nbytes));
    }
    if nbytes > storage.len().max(GATHER_FLOOR) {
        return Err(invalid(format!(
            "tensor `{name}`: a strided view of {nbytes} bytes over a storage of {} bytes \
             is too large to materialize",
            storage.len()
        )));
    }
    budget.charge(nbytes as u64)?;
    Ok(Window::Gathered(strided::gather(
        storage, esize, offset, &shape, &stride, false,
    )))
}

fn to_usizes(v: &[u64]) -> Option<Vec<usize>> {
    v.iter().map(|&x| usize::try_from(x).ok()).collect()
}

/// Collects `(dotted name, tensor)` pairs from an unpickled structure.
struct Walk<'u, 'o> {
    u: &'u Unpickled,
    visits: usize,
    /// Bytes of names (and tensor records) found so far, and the most allowed.
    name_bytes: usize,
    max_name_bytes: usize,
    out: &'o mut Vec<(String, TensorRef)>,
}

impl Walk<'_, '_> {
    fn value(&mut self, v: &Value, path: &mut Vec<String>, depth: usize) -> Result<(), String> {
        self.visits += 1;
        if self.visits > MAX_VISITS {
            return Err(format!("more than {MAX_VISITS} nodes to visit"));
        }
        if depth > MAX_DEPTH {
            return Err(format!("containers nested deeper than {MAX_DEPTH} levels"));
        }
        let Some(obj) = self.u.obj(v) else {
            return Ok(());
        };
        match obj {
            Obj::Tensor(t) => {
                // Sizes first: a name is built only once it is known to be acceptable.
                let len = path.iter().map(|p| p.len() + 1).sum::<usize>();
                if len > MAX_NAME {
                    return Err(format!(
                        "a tensor name of {len} bytes is longer than {MAX_NAME} bytes"
                    ));
                }
                self.name_bytes = self.name_bytes.saturating_add(len + TENSOR_RECORD);
                if self.name_bytes > self.max_name_bytes {
                    return Err(format!(
                        "tensor names take more than {} bytes, far more than this pickle \
                         can honestly name",
                        self.max_name_bytes
                    ));
                }
                let name = if path.is_empty() {
                    "tensor".to_string()
                } else {
                    path.join(".")
                };
                self.out.push((name, t.clone()));
            }
            Obj::Dict(pairs) => {
                for (k, v) in pairs {
                    path.push(key_text(k));
                    self.value(v, path, depth + 1)?;
                    path.pop();
                }
            }
            Obj::List(items) | Obj::Tuple(items) => {
                for (i, v) in items.iter().enumerate() {
                    path.push(i.to_string());
                    self.value(v, path, depth + 1)?;
                    path.pop();
                }
            }
            // A module's attributes are its BUILD state; constructor arguments of
            // TorchScript objects are empty.
            Obj::Object { state, .. } => self.value(state, path, depth + 1)?,
            Obj::Storage(_) => {}
        }
        Ok(())
    }
}

/// A dict key as one component of a dotted name.
fn key_text(k: &Value) -> String {
    match k {
        Value::Str(s) => s.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Bool(b) => if *b { "True" } else { "False" }.to_string(),
        Value::None => "None".to_string(),
        Value::Float(f) => f.to_string(),
        _ => "?".to_string(),
    }
}

/// A small text member (`byteorder`, `version`), trimmed; `None` if absent.
fn small_text(
    zip: &ZipArchive<'_>,
    name: &str,
    budget: &Budget,
) -> Result<Option<String>, ErrorKind> {
    let Some(e) = zip.find(name) else {
        return Ok(None);
    };
    if e.size > 64 {
        return Err(invalid(format!("member `{name}` is {} bytes long", e.size)));
    }
    let b = zip.read_in(e, budget)?;
    Ok(Some(
        String::from_utf8_lossy(b.bytes(zip.buf()))
            .trim()
            .to_string(),
    ))
}

fn invalid(detail: String) -> ErrorKind {
    ErrorKind::InvalidHeader {
        format: FORMAT,
        detail,
    }
}

#[cfg(test)]
mod tests;
