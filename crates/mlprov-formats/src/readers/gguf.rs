//! GGUF (versions 2 and 3), read from the mapped bytes.
//!
//! Layout (all little-endian): magic `GGUF`, u32 version, u64 tensor count, u64 key-value
//! count; the key-values (string key, u32 type, value); the tensor infos (string name,
//! u32 n_dims, u64 dims innermost first, u32 ggml type, u64 offset); padding to
//! `general.alignment` (default 32); the tensor data, each offset relative to its start.
//!
//! The file is untrusted: every count and length is checked against the bytes that are
//! actually left before anything is allocated for it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::dtype::DType;
use crate::error::ErrorKind;
use crate::format::Format;
use crate::meta::MetaValue;
use crate::parsed::{ParsedFile, ParsedTensor, TensorData};
use crate::readers::cursor::{Cursor, Short};

const FORMAT: &str = "GGUF";
/// Data alignment when `general.alignment` is absent.
const DEFAULT_ALIGNMENT: u64 = 32;
/// Dimensions we accept (ggml itself stops at 4).
const MAX_DIMS: u32 = 8;
/// How deep arrays of arrays may nest.
const MAX_ARRAY_DEPTH: usize = 4;
/// Metadata values (array items included) we decode in one file; real files hold a few
/// hundred thousand (vocabularies, merges). Each decoded value costs ~32 bytes, so this
/// bounds memory even when a hostile file is mostly one long `uint8` array.
const MAX_META_VALUES: u64 = 1 << 24;
/// Smallest key-value: empty key (u64 length), u32 type, a one-byte value.
const MIN_KV_BYTES: u64 = 8 + 4 + 1;
/// Smallest tensor info: empty name, u32 n_dims (0), u32 type, u64 offset.
const MIN_TENSOR_INFO_BYTES: u64 = 8 + 4 + 4 + 8;

/// GGUF metadata value types (`gguf_type`).
mod ty {
    pub const U8: u32 = 0;
    pub const I8: u32 = 1;
    pub const U16: u32 = 2;
    pub const I16: u32 = 3;
    pub const U32: u32 = 4;
    pub const I32: u32 = 5;
    pub const F32: u32 = 6;
    pub const BOOL: u32 = 7;
    pub const STRING: u32 = 8;
    pub const ARRAY: u32 = 9;
    pub const U64: u32 = 10;
    pub const I64: u32 = 11;
    pub const F64: u32 = 12;
}

/// Short name of a value type, for messages and array summaries.
fn type_name(t: u32) -> &'static str {
    match t {
        ty::U8 => "u8",
        ty::I8 => "i8",
        ty::U16 => "u16",
        ty::I16 => "i16",
        ty::U32 => "u32",
        ty::I32 => "i32",
        ty::F32 => "f32",
        ty::BOOL => "bool",
        ty::STRING => "str",
        ty::ARRAY => "array",
        ty::U64 => "u64",
        ty::I64 => "i64",
        ty::F64 => "f64",
        _ => "unknown",
    }
}

/// Fewest bytes one value of type `t` can occupy (strings and arrays: their headers).
fn min_size(t: u32) -> u64 {
    match t {
        ty::U8 | ty::I8 | ty::BOOL => 1,
        ty::U16 | ty::I16 => 2,
        ty::U32 | ty::I32 | ty::F32 => 4,
        ty::U64 | ty::I64 | ty::F64 | ty::STRING => 8,
        _ => 4 + 8, // array: item type and count
    }
}

fn invalid(detail: String) -> ErrorKind {
    ErrorKind::InvalidHeader {
        format: FORMAT,
        detail,
    }
}

fn truncated(what: &str, short: Short) -> ErrorKind {
    ErrorKind::Truncated(format!("GGUF {what} {}", short.describe()))
}

/// Reads a GGUF file held in `buf`.
pub(crate) fn read(buf: &[u8], _path: &Path) -> Result<ParsedFile, ErrorKind> {
    let mut c = Cursor::new(buf, 0);
    let magic: [u8; 4] = c.array().map_err(|s| truncated("magic", s))?;
    if &magic == b"FUGG" {
        return Err(invalid(
            "magic reads `FUGG`, a byte-swapped (big-endian) GGUF; only little-endian GGUF is supported"
                .into(),
        ));
    }
    if &magic != b"GGUF" {
        return Err(invalid(format!("magic is {magic:02x?}, not `GGUF`")));
    }
    let version = c.u32().map_err(|s| truncated("version", s))?;
    check_version(version)?;
    let n_tensors = c.u64().map_err(|s| truncated("tensor count", s))?;
    let n_kv = c.u64().map_err(|s| truncated("metadata count", s))?;

    let fits = |count: u64, min: u64, rem: usize| count <= rem as u64 / min;
    if !fits(n_kv, MIN_KV_BYTES, c.remaining()) {
        return Err(invalid(format!(
            "header declares {n_kv} metadata entries, but the {} bytes after it can hold at most {}",
            c.remaining(),
            c.remaining() as u64 / MIN_KV_BYTES
        )));
    }
    let mut budget = MAX_META_VALUES;
    let mut meta = BTreeMap::new();
    let mut metadata = BTreeMap::new();
    let mut alignment = DEFAULT_ALIGNMENT;
    for i in 0..n_kv {
        let key = read_string(&mut c).map_err(|s| truncated(&format!("metadata key #{i}"), s))?;
        let key = std::str::from_utf8(key)
            .map_err(|e| invalid(format!("metadata key #{i} is not valid UTF-8 ({e})")))?
            .to_string();
        let t = c
            .u32()
            .map_err(|s| truncated(&format!("type of metadata `{key}`"), s))?;
        let (value, shown) = read_value(&mut c, t, 0, &key, &mut budget)?;
        if key == "general.alignment" {
            alignment = check_alignment(t, &value)?;
        }
        if meta.contains_key(&key) {
            return Err(invalid(format!("metadata key `{key}` appears twice")));
        }
        metadata.insert(key.clone(), shown);
        meta.insert(key, value);
    }

    if !fits(n_tensors, MIN_TENSOR_INFO_BYTES, c.remaining()) {
        return Err(invalid(format!(
            "header declares {n_tensors} tensors, but the {} bytes after the metadata can hold at most {} tensor infos",
            c.remaining(),
            c.remaining() as u64 / MIN_TENSOR_INFO_BYTES
        )));
    }
    // Bounded by the check above: at most remaining / 24 entries.
    let mut infos = Vec::with_capacity(n_tensors as usize);
    let mut names = BTreeSet::new();
    for i in 0..n_tensors {
        let info = read_tensor_info(&mut c, i)?;
        if !names.insert(info.name.clone()) {
            return Err(invalid(format!(
                "tensor name `{}` appears twice",
                info.name
            )));
        }
        infos.push(info);
    }

    let infos_end = c.pos() as u64;
    let data_start = infos_end
        .checked_next_multiple_of(alignment)
        .and_then(|s| usize::try_from(s).ok())
        .ok_or_else(|| {
            invalid(format!(
                "data start ({infos_end} aligned to {alignment}) overflows"
            ))
        })?;
    let file_len = buf.len();
    let mut tensors = Vec::with_capacity(infos.len());
    for t in infos {
        let range = usize::try_from(t.offset)
            .ok()
            .and_then(|o| data_start.checked_add(o))
            .and_then(|s| Some(s..s.checked_add(t.bytes)?))
            .ok_or_else(|| {
                invalid(format!(
                    "tensor `{}` has data offset {} that overflows",
                    t.name, t.offset
                ))
            })?;
        if range.end > file_len {
            return Err(ErrorKind::Truncated(format!(
                "GGUF tensor `{}` ({}, shape {:?}, {} bytes at data offset {}) spans bytes {}..{} but the file has {file_len} bytes",
                t.name, t.dtype, t.shape, t.bytes, t.offset, range.start, range.end
            )));
        }
        tensors.push(ParsedTensor {
            name: t.name,
            dtype: t.dtype,
            shape: t.shape,
            data: TensorData::Mapped(range),
        });
    }
    Ok(ParsedFile {
        header: Some(0..data_start.min(file_len)),
        tensors,
        metadata,
        meta,
        ..ParsedFile::new(Format::Gguf { version })
    })
}

fn check_version(version: u32) -> Result<(), ErrorKind> {
    match version {
        2 | 3 => Ok(()),
        // A big-endian writer stores small versions with the low bytes zero.
        v if v & 0xffff == 0 && v != 0 => Err(invalid(format!(
            "version field reads {v:#010x}, i.e. version {} byte-swapped: this is a big-endian GGUF file; only little-endian GGUF is supported",
            v.swap_bytes()
        ))),
        1 => Err(invalid(
            "GGUF version 1 (32-bit counts, from before September 2023) is not supported; re-convert the model with a current llama.cpp"
                .into(),
        )),
        v => Err(invalid(format!(
            "unsupported GGUF version {v} (this reader knows versions 2 and 3)"
        ))),
    }
}

/// `general.alignment` must be a uint32, nonzero power of two (as llama.cpp and gguf-py require).
fn check_alignment(t: u32, value: &MetaValue) -> Result<u64, ErrorKind> {
    if t != ty::U32 {
        return Err(invalid(format!(
            "`general.alignment` has type {}; GGUF requires u32",
            type_name(t)
        )));
    }
    match value.as_u64() {
        Some(a) if a.is_power_of_two() => Ok(a),
        Some(a) => Err(invalid(format!(
            "`general.alignment` is {a}; it must be a nonzero power of two"
        ))),
        None => Err(invalid("`general.alignment` is not an integer".into())),
    }
}

/// A GGUF string: u64 length, then that many bytes.
fn read_string<'a>(c: &mut Cursor<'a>) -> Result<&'a [u8], Short> {
    let len = c.u64()?;
    c.take(len)
}

/// Reads one value of type `t`; returns it and its display string.
fn read_value(
    c: &mut Cursor<'_>,
    t: u32,
    depth: usize,
    key: &str,
    budget: &mut u64,
) -> Result<(MetaValue, String), ErrorKind> {
    if *budget == 0 {
        return Err(invalid(format!(
            "metadata `{key}`: more than {MAX_META_VALUES} values in the file"
        )));
    }
    *budget -= 1;
    let short = |s: Short| truncated(&format!("metadata `{key}` ({})", type_name(t)), s);
    let value = match t {
        ty::U8 => MetaValue::U64(c.u8().map_err(short)? as u64),
        ty::I8 => MetaValue::I64(c.u8().map_err(short)? as i8 as i64),
        ty::U16 => MetaValue::U64(c.u16().map_err(short)? as u64),
        ty::I16 => MetaValue::I64(c.u16().map_err(short)? as i16 as i64),
        ty::U32 => MetaValue::U64(c.u32().map_err(short)? as u64),
        ty::I32 => MetaValue::I64(c.u32().map_err(short)? as i32 as i64),
        ty::U64 => MetaValue::U64(c.u64().map_err(short)?),
        ty::I64 => MetaValue::I64(c.u64().map_err(short)? as i64),
        ty::F32 => {
            // Shown as the f32 it is ("1e-5"), not as its f64 widening.
            let v = f32::from_bits(c.u32().map_err(short)?);
            return Ok((MetaValue::F64(v as f64), v.to_string()));
        }
        ty::F64 => MetaValue::F64(f64::from_bits(c.u64().map_err(short)?)),
        // Any nonzero byte is true, as a C reader would take it.
        ty::BOOL => MetaValue::Bool(c.u8().map_err(short)? != 0),
        ty::STRING => {
            let bytes = read_string(c).map_err(short)?;
            MetaValue::Str(String::from_utf8_lossy(bytes).into_owned())
        }
        ty::ARRAY => return read_array(c, depth, key, budget),
        other => {
            return Err(invalid(format!(
                "metadata `{key}` has unknown value type {other}"
            )))
        }
    };
    let shown = value.to_string();
    Ok((value, shown))
}

fn read_array(
    c: &mut Cursor<'_>,
    depth: usize,
    key: &str,
    budget: &mut u64,
) -> Result<(MetaValue, String), ErrorKind> {
    if depth >= MAX_ARRAY_DEPTH {
        return Err(invalid(format!(
            "metadata `{key}`: arrays nested more than {MAX_ARRAY_DEPTH} deep"
        )));
    }
    let short = |s: Short| truncated(&format!("metadata `{key}` array header"), s);
    let item = c.u32().map_err(short)?;
    let count = c.u64().map_err(short)?;
    if item > ty::F64 {
        return Err(invalid(format!(
            "metadata `{key}`: array item type {item} is not a GGUF type"
        )));
    }
    let need = count.checked_mul(min_size(item));
    if need.is_none_or(|n| n > c.remaining() as u64) {
        return Err(ErrorKind::Truncated(format!(
            "GGUF metadata `{key}`: array of {count} {} needs at least {} bytes at offset {} but only {} remain",
            type_name(item),
            need.map_or_else(|| "2^64".to_string(), |n| n.to_string()),
            c.pos(),
            c.remaining()
        )));
    }
    if count > *budget {
        return Err(invalid(format!(
            "metadata `{key}`: array of {count} values exceeds the limit of {MAX_META_VALUES} values per file"
        )));
    }
    // Bounded twice: by the bytes left (at least one per item) and by the value budget.
    let mut items = Vec::with_capacity(count as usize);
    for _ in 0..count {
        items.push(read_value(c, item, depth + 1, key, budget)?.0);
    }
    Ok((
        MetaValue::Array(items),
        format!("[array of {count} {}]", type_name(item)),
    ))
}

/// A tensor info before its offset is made absolute.
struct RawInfo {
    name: String,
    dtype: DType,
    shape: Vec<usize>,
    offset: u64,
    bytes: usize,
}

fn read_tensor_info(c: &mut Cursor<'_>, i: u64) -> Result<RawInfo, ErrorKind> {
    let name = read_string(c).map_err(|s| truncated(&format!("tensor #{i} name"), s))?;
    let name = std::str::from_utf8(name)
        .map_err(|e| invalid(format!("tensor #{i} name is not valid UTF-8 ({e})")))?
        .to_string();
    let short = |s: Short| truncated(&format!("tensor `{name}` info"), s);
    let n_dims = c.u32().map_err(short)?;
    if n_dims > MAX_DIMS {
        return Err(invalid(format!(
            "tensor `{name}` has {n_dims} dimensions; at most {MAX_DIMS} are supported"
        )));
    }
    // GGUF stores dims innermost first; numpy and gguf-py report them outermost first.
    let mut dims = Vec::with_capacity(n_dims as usize);
    for _ in 0..n_dims {
        dims.push(c.u64().map_err(short)?);
    }
    let ggml_type = c.u32().map_err(short)?;
    let offset = c.u64().map_err(short)?;
    let dtype = DType::from_ggml_type(ggml_type).ok_or_else(|| {
        invalid(format!(
            "tensor `{name}` has unknown GGML type id {ggml_type}"
        ))
    })?;
    let shape: Vec<usize> = dims
        .iter()
        .rev()
        .map(|&d| usize::try_from(d).ok())
        .collect::<Option<_>>()
        .ok_or_else(|| invalid(format!("tensor `{name}` has dims {dims:?} too large")))?;
    let elements = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| {
            invalid(format!(
                "tensor `{name}` has dims {dims:?} whose element count overflows"
            ))
        })?;
    let (per_block, _) = dtype.block();
    let ne0 = dims.first().copied().unwrap_or(1);
    if ne0 % per_block as u64 != 0 {
        return Err(invalid(format!(
            "tensor `{name}`: innermost dimension {ne0} is not a multiple of the {dtype} block size {per_block}"
        )));
    }
    let bytes = dtype.byte_len(elements).ok_or_else(|| {
        invalid(format!(
            "tensor `{name}`: {elements} elements of {dtype} overflow the byte size"
        ))
    })?;
    Ok(RawInfo {
        name,
        dtype,
        shape,
        offset,
        bytes,
    })
}
