//! `TensorProto`: element type, shape and where the bytes are (raw, typed fields, external).

use crate::dtype::DType;
use crate::error::ErrorKind;
use crate::parsed::{ParsedTensor, TensorData};

use super::external::ExternalFiles;
use super::fields::{invalid, len, text, varint, wire_error};
use super::wire::{Msg, Value};

/// Largest rank we accept; ONNX sets none, numpy stops at 64.
const MAX_RANK: usize = 64;
/// Most `external_data` entries a tensor may carry (the spec defines four keys).
const MAX_EXTERNAL_ENTRIES: usize = 16;

// TensorProto field numbers.
const DIMS: u32 = 1;
const DATA_TYPE: u32 = 2;
const SEGMENT: u32 = 3;
const FLOAT_DATA: u32 = 4;
const INT32_DATA: u32 = 5;
const INT64_DATA: u32 = 7;
const NAME: u32 = 8;
const RAW_DATA: u32 = 9;
const DOUBLE_DATA: u32 = 10;
const UINT64_DATA: u32 = 11;
const EXTERNAL_DATA: u32 = 13;
const DATA_LOCATION: u32 = 14;

/// What became of one `TensorProto`.
pub(super) enum Decoded {
    Tensor(ParsedTensor),
    /// Not a weight we can represent; the reason is kept as a note.
    Skipped {
        name: String,
        reason: String,
    },
}

/// The ONNX `DataType` as a [`DType`], or why tensors of it are skipped.
pub(super) fn map_dtype(code: u64) -> Result<DType, String> {
    Ok(match code {
        1 => DType::F32,
        2 => DType::U8,
        3 => DType::I8,
        4 => DType::U16,
        5 => DType::I16,
        6 => DType::I32,
        7 => DType::I64,
        9 => DType::Bool,
        10 => DType::F16,
        11 => DType::F64,
        12 => DType::U32,
        13 => DType::U64,
        16 => DType::BF16,
        17 => DType::F8E4M3,
        19 => DType::F8E5M2,
        23 => DType::F4,
        24 => DType::F8E8M0,
        27 => DType::F6E2M3,
        28 => DType::F6E3M2,
        0 => return Err("has no data type (UNDEFINED)".into()),
        8 => return Err("is a STRING tensor, not weights".into()),
        14 | 15 => return Err(format!("has complex type {}", type_name(code))),
        18 | 20 | 21 | 22 | 25 | 26 => {
            return Err(format!("has type {} with no dtype here", type_name(code)))
        }
        _ => return Err(format!("has unknown data type {code}")),
    })
}

/// The ONNX spelling of a `DataType`, for messages.
pub(super) fn type_name(code: u64) -> &'static str {
    const NAMES: [&str; 29] = [
        "UNDEFINED",
        "FLOAT",
        "UINT8",
        "INT8",
        "UINT16",
        "INT16",
        "INT32",
        "INT64",
        "STRING",
        "BOOL",
        "FLOAT16",
        "DOUBLE",
        "UINT32",
        "UINT64",
        "COMPLEX64",
        "COMPLEX128",
        "BFLOAT16",
        "FLOAT8E4M3FN",
        "FLOAT8E4M3FNUZ",
        "FLOAT8E5M2",
        "FLOAT8E5M2FNUZ",
        "UINT4",
        "INT4",
        "FLOAT4E2M1",
        "FLOAT8E8M0",
        "UINT2",
        "INT2",
        "FLOAT6E2M3",
        "FLOAT6E3M2",
    ];
    usize::try_from(code)
        .ok()
        .and_then(|i| NAMES.get(i))
        .copied()
        .unwrap_or("unknown")
}

/// The fields of a `TensorProto` that say what it is and where its bytes are.
struct Header<'a> {
    name: &'a str,
    dims: Vec<u64>,
    data_type: u64,
    raw: Option<Msg<'a>>,
    location: u64,
    external: Vec<(&'a str, &'a str)>,
    segment: bool,
}

/// Decodes the `TensorProto` `t`. `name` overrides its own name (a `Constant` node's output).
pub(super) fn decode(
    t: Msg<'_>,
    file_len: usize,
    name: Option<&str>,
    external: &mut ExternalFiles,
) -> Result<Decoded, ErrorKind> {
    let h = header(t, file_len)?;
    let name = name.unwrap_or(h.name).to_string();
    let skip = |reason: String| {
        Ok(Decoded::Skipped {
            name: name.clone(),
            reason,
        })
    };
    if name.is_empty() {
        return skip(format!("the tensor at byte {} has no name", t.start));
    }
    let dtype = match map_dtype(h.data_type) {
        Ok(d) => d,
        Err(reason) => return skip(reason),
    };
    if h.segment {
        return skip("is a segment of a larger tensor (TensorProto.segment)".into());
    }
    let mut shape = Vec::with_capacity(h.dims.len());
    let mut elements = 1usize;
    for &d in &h.dims {
        let d = usize::try_from(d)
            .ok()
            .filter(|_| d as i64 >= 0)
            .ok_or_else(|| {
                invalid(format!(
                    "tensor `{name}` has dimension {} in dims {:?}",
                    d as i64,
                    signed(&h.dims)
                ))
            })?;
        elements = elements.checked_mul(d).ok_or_else(|| {
            invalid(format!(
                "tensor `{name}`: the element count of dims {:?} overflows",
                signed(&h.dims)
            ))
        })?;
        shape.push(d);
    }
    let per_block = per_byte_group(dtype);
    if !elements.is_multiple_of(per_block) {
        // ONNX pads packed 4- and 6-bit tensors to whole bytes; a DType holds whole blocks.
        return skip(format!(
            "has {elements} {} elements, not a multiple of {per_block}",
            type_name(h.data_type)
        ));
    }
    let nbytes = dtype.byte_len(elements).ok_or_else(|| {
        invalid(format!(
            "tensor `{name}`: {elements} {} elements overflow a byte length",
            type_name(h.data_type)
        ))
    })?;
    let what = || {
        format!(
            "tensor `{name}` ({} {:?})",
            type_name(h.data_type),
            signed(&h.dims)
        )
    };
    let data = match h.location {
        1 => external.resolve(&what(), &h.external, nbytes)?,
        0 => match h.raw {
            Some(raw) if raw.bytes.len() == nbytes => TensorData::Mapped(raw.range()),
            Some(raw) => {
                return Err(invalid(format!(
                    "{} holds {} bytes of raw_data but its dims need {nbytes}",
                    what(),
                    raw.bytes.len()
                )))
            }
            None => typed(t, file_len, dtype, elements, nbytes, &what)?,
        },
        other => {
            return Err(invalid(format!(
                "{} has data_location {other} (0 = inside, 1 = external)",
                what()
            )))
        }
    };
    Ok(Decoded::Tensor(ParsedTensor {
        name,
        dtype,
        shape,
        data,
    }))
}

/// Dims as the file wrote them (int64), for messages.
fn signed(dims: &[u64]) -> Vec<i64> {
    dims.iter().map(|&d| d as i64).collect()
}

/// One pass over the tensor's fields for everything but the typed data.
fn header<'a>(t: Msg<'a>, file_len: usize) -> Result<Header<'a>, ErrorKind> {
    let ctx = || format!("the TensorProto at byte {}", t.start);
    let mut h = Header {
        name: "",
        dims: Vec::new(),
        data_type: 0,
        raw: None,
        location: 0,
        external: Vec::new(),
        segment: false,
    };
    for f in t.fields() {
        let f = f.map_err(|e| wire_error(e, file_len, &ctx()))?;
        match f.number {
            DIMS => {
                let mut push = |v: u64| {
                    if h.dims.len() == MAX_RANK {
                        return Err(invalid(format!("{} has more than {MAX_RANK} dims", ctx())));
                    }
                    h.dims.push(v);
                    Ok(())
                };
                match f.value {
                    Value::Varint(v) => push(v)?,
                    Value::Len(m) => {
                        for v in m.packed_varints() {
                            push(v.map_err(|e| wire_error(e, file_len, &ctx()))?)?;
                        }
                    }
                    _ => return Err(invalid(format!("{}: dims has the wrong wire type", ctx()))),
                }
            }
            DATA_TYPE => h.data_type = varint(&f, "TensorProto.data_type")?,
            SEGMENT => h.segment = true,
            NAME => h.name = text(&f, "TensorProto.name")?,
            RAW_DATA => h.raw = Some(len(&f, "TensorProto.raw_data")?),
            DATA_LOCATION => h.location = varint(&f, "TensorProto.data_location")?,
            EXTERNAL_DATA => {
                if h.external.len() == MAX_EXTERNAL_ENTRIES {
                    return Err(invalid(format!(
                        "{} has more than {MAX_EXTERNAL_ENTRIES} external_data entries",
                        ctx()
                    )));
                }
                h.external
                    .push(entry(len(&f, "TensorProto.external_data")?, file_len)?);
            }
            _ => {}
        }
    }
    Ok(h)
}

/// A `StringStringEntryProto` whose key and value must be exact UTF-8.
fn entry<'a>(m: Msg<'a>, file_len: usize) -> Result<(&'a str, &'a str), ErrorKind> {
    let (mut k, mut v) = ("", "");
    for f in m.fields() {
        let f = f.map_err(|e| wire_error(e, file_len, "an external_data entry"))?;
        match f.number {
            1 => k = text(&f, "external_data key")?,
            2 => v = text(&f, "external_data value")?,
            _ => {}
        }
    }
    Ok((k, v))
}

/// The tensor's values from the typed field its dtype uses, as canonical bytes.
fn typed(
    t: Msg<'_>,
    file_len: usize,
    dtype: DType,
    elements: usize,
    nbytes: usize,
    what: &dyn Fn() -> String,
) -> Result<TensorData, ErrorKind> {
    let field = match dtype {
        DType::F32 => FLOAT_DATA,
        DType::F64 => DOUBLE_DATA,
        DType::I64 => INT64_DATA,
        DType::U32 | DType::U64 => UINT64_DATA,
        _ => INT32_DATA,
    };
    let present = t
        .fields()
        .filter_map(Result::ok)
        .filter(|f| f.number == field)
        .count();
    if present == 0 {
        if elements == 0 {
            return Ok(TensorData::Owned(Vec::new()));
        }
        return Err(invalid(format!(
            "{} has no raw_data, no external data and no values in its typed field {field}",
            what()
        )));
    }
    let mut out = Out {
        bytes: Vec::new(),
        entries: 0,
        want_entries: match dtype {
            // Two 4-bit values per int32_data entry.
            DType::F4 => elements / 2,
            _ => elements,
        },
        what,
    };
    match field {
        FLOAT_DATA | DOUBLE_DATA => {
            let width = if field == FLOAT_DATA { 4 } else { 8 };
            // One packed run of exactly the right length is the tensor, in place.
            let only = t
                .fields()
                .filter_map(Result::ok)
                .find(|f| f.number == field);
            if let (
                1,
                Some(super::wire::Field {
                    value: Value::Len(m),
                    ..
                }),
            ) = (present, only)
            {
                if m.bytes.len() == nbytes {
                    return Ok(TensorData::Mapped(m.range()));
                }
            }
            for f in t.fields() {
                let f = f.map_err(|e| wire_error(e, file_len, &what()))?;
                if f.number != field {
                    continue;
                }
                match (f.value, width) {
                    (Value::Len(m), _) if m.bytes.len() % width == 0 => {
                        out.reserve(m.bytes.len() / width, width);
                        for c in m.bytes.chunks_exact(width) {
                            out.push(c)?;
                        }
                    }
                    (Value::Fixed32(v), 4) => out.push(&v.to_le_bytes())?,
                    (Value::Fixed64(v), 8) => out.push(&v.to_le_bytes())?,
                    (v, _) => {
                        return Err(invalid(format!(
                        "{}: typed field {field} at byte {} is {}, expected {width}-byte values",
                        what(),
                        f.at,
                        v.wire_name(),
                    )))
                    }
                }
            }
        }
        _ => {
            let mut f6 = F6Packer::default();
            for f in t.fields() {
                let f = f.map_err(|e| wire_error(e, file_len, &what()))?;
                if f.number != field {
                    continue;
                }
                match f.value {
                    Value::Varint(v) => put_int(&mut out, &mut f6, field, dtype, v)?,
                    Value::Len(m) => {
                        // At most one value per payload byte.
                        out.reserve(m.bytes.len(), int_width(field, dtype));
                        for v in m.packed_varints() {
                            let v = v.map_err(|e| wire_error(e, file_len, &what()))?;
                            put_int(&mut out, &mut f6, field, dtype, v)?;
                        }
                    }
                    v => {
                        return Err(invalid(format!(
                            "{}: typed field {field} at byte {} is {}, expected varints",
                            what(),
                            f.at,
                            v.wire_name()
                        )))
                    }
                }
            }
        }
    }
    if out.entries != out.want_entries || out.bytes.len() != nbytes {
        return Err(invalid(format!(
            "{} holds {} values in typed field {field} but its dims need {}",
            what(),
            out.entries,
            out.want_entries
        )));
    }
    Ok(TensorData::Owned(out.bytes))
}

/// One varint of `field` as the canonical little-endian bytes of `dtype`.
fn put_int(
    out: &mut Out<'_>,
    f6: &mut F6Packer,
    field: u32,
    dtype: DType,
    v: u64,
) -> Result<(), ErrorKind> {
    match (field, dtype) {
        (INT64_DATA, _) | (UINT64_DATA, DType::U64) => out.push(&v.to_le_bytes()),
        (UINT64_DATA, _) => out.push(&(v as u32).to_le_bytes()),
        // int32_data: protobuf keeps the low 32 bits of the varint; (b)float16 and float8
        // values are their bit patterns.
        (_, DType::I32) => out.push(&(v as u32).to_le_bytes()),
        (_, DType::I16 | DType::U16 | DType::F16 | DType::BF16) => {
            out.push(&(v as u16).to_le_bytes())
        }
        (_, DType::Bool) => out.push(&[u8::from(v as u32 != 0)]),
        (_, DType::F6E2M3 | DType::F6E3M2) => {
            out.count()?;
            if let Some(group) = f6.push(v as u8) {
                out.bytes.extend_from_slice(&group);
            }
            Ok(())
        }
        // 8-bit types; an F4 entry holds two nibbles in its low byte.
        _ => out.push(&[v as u8]),
    }
}

/// Output bytes per varint of `field` for `dtype` (6-bit types round up to one).
fn int_width(field: u32, dtype: DType) -> usize {
    match (field, dtype) {
        (INT64_DATA, _) | (UINT64_DATA, DType::U64) => 8,
        (UINT64_DATA, _) | (_, DType::I32) => 4,
        (_, DType::I16 | DType::U16 | DType::F16 | DType::BF16) => 2,
        _ => 1,
    }
}

/// Elements that share a byte group: ONNX packs 4-bit types two to a byte and 6-bit
/// types four to three bytes.
fn per_byte_group(dtype: DType) -> usize {
    match dtype {
        DType::F4 => 2,
        DType::F6E2M3 | DType::F6E3M2 => 4,
        _ => 1,
    }
}

/// Typed values converted so far; never more than the dims call for.
struct Out<'w> {
    bytes: Vec<u8>,
    entries: usize,
    want_entries: usize,
    what: &'w dyn Fn() -> String,
}

impl Out<'_> {
    fn count(&mut self) -> Result<(), ErrorKind> {
        self.entries += 1;
        if self.entries > self.want_entries {
            return Err(invalid(format!(
                "{} holds more values than its dims' {}",
                (self.what)(),
                self.want_entries
            )));
        }
        Ok(())
    }

    fn push(&mut self, bytes: &[u8]) -> Result<(), ErrorKind> {
        self.count()?;
        self.bytes.extend_from_slice(bytes);
        Ok(())
    }

    /// Room for up to `present` more values of `width` bytes: bounded by what the file holds
    /// (`present` comes from a payload length) and by what the dims still need.
    fn reserve(&mut self, present: usize, width: usize) {
        let left = self.want_entries.saturating_sub(self.entries);
        self.bytes.reserve(present.min(left).saturating_mul(width));
    }
}

/// Packs 6-bit values four to three bytes, LSB first, as ONNX's raw_data does.
#[derive(Default)]
struct F6Packer {
    acc: u32,
    n: u32,
}

impl F6Packer {
    fn push(&mut self, v: u8) -> Option<[u8; 3]> {
        self.acc |= u32::from(v & 0x3f) << (6 * self.n);
        self.n += 1;
        if self.n < 4 {
            return None;
        }
        let [a, b, c, _] = self.acc.to_le_bytes();
        *self = F6Packer::default();
        Some([a, b, c])
    }
}
