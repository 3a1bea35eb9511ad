//! safetensors through the `safetensors` crate, with its errors turned into messages
//! that say which tensor and which numbers are wrong.

use std::collections::BTreeMap;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensorError, SafeTensors};

use crate::dtype::DType;
use crate::error::ErrorKind;
use crate::format::Format;
use crate::meta::MetaValue;
use crate::parsed::{ParsedFile, ParsedTensor, TensorData};

const FORMAT: &str = "safetensors";
const LEN_BYTES: usize = 8;
/// Largest JSON header read. Parsing takes about 25 times the header's size in memory;
/// a 7B model's header is under 100 KB and a huge-vocabulary one a few MB, so 16 MiB is
/// generous (the safetensors crate's own limit is 100 MB).
pub(crate) const MAX_HEADER: u64 = 16 << 20;

/// Reads a safetensors file held in `buf`.
pub(crate) fn read(buf: &[u8], _path: &Path) -> Result<ParsedFile, ErrorKind> {
    let declared = buf
        .get(..LEN_BYTES)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])));
    if let Some(n) = declared.filter(|&n| n > MAX_HEADER) {
        return Err(invalid(format!(
            "header of {n} bytes is larger than the {MAX_HEADER} bytes read (real headers \
             are at most a few MB)"
        )));
    }
    let (n, meta) = SafeTensors::read_metadata(buf).map_err(|e| explain(buf, e))?;
    // The crate checked that 8 + n + data length == file length; keep our own checks
    // anyway so a change in the crate cannot hand us an out-of-range slice.
    let data_start = LEN_BYTES
        .checked_add(n)
        .filter(|&s| s <= buf.len())
        .ok_or_else(|| invalid(format!("header length {n} is larger than the file")))?;
    let mut tensors = Vec::new();
    for name in meta.offset_keys() {
        let info = meta
            .info(&name)
            .ok_or_else(|| invalid(format!("tensor `{name}` vanished from its own header")))?;
        let dtype = map_dtype(info.dtype).ok_or_else(|| {
            invalid(format!(
                "tensor `{name}` has unsupported dtype {}",
                info.dtype
            ))
        })?;
        let (s, e) = info.data_offsets;
        let range = data_start
            .checked_add(s)
            .zip(data_start.checked_add(e))
            .filter(|(a, b)| a <= b && *b <= buf.len())
            .map(|(a, b)| a..b)
            .ok_or_else(|| invalid(format!("tensor `{name}` lies outside the file")))?;
        tensors.push(ParsedTensor {
            name,
            dtype,
            shape: info.shape.clone(),
            data: TensorData::Mapped(range),
        });
    }
    let metadata: BTreeMap<String, String> = meta
        .metadata()
        .as_ref()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let typed = metadata
        .iter()
        .map(|(k, v)| (k.clone(), MetaValue::Str(v.clone())))
        .collect();
    Ok(ParsedFile {
        header: Some(0..data_start),
        tensors,
        metadata,
        meta: typed,
        ..ParsedFile::new(Format::Safetensors)
    })
}

fn map_dtype(d: Dtype) -> Option<DType> {
    Some(match d {
        Dtype::BOOL => DType::Bool,
        Dtype::U8 => DType::U8,
        Dtype::I8 => DType::I8,
        Dtype::I16 => DType::I16,
        Dtype::U16 => DType::U16,
        Dtype::I32 => DType::I32,
        Dtype::U32 => DType::U32,
        Dtype::I64 => DType::I64,
        Dtype::U64 => DType::U64,
        Dtype::F16 => DType::F16,
        Dtype::BF16 => DType::BF16,
        Dtype::F32 => DType::F32,
        Dtype::F64 => DType::F64,
        Dtype::F8_E4M3 => DType::F8E4M3,
        Dtype::F8_E5M2 => DType::F8E5M2,
        Dtype::F8_E8M0 => DType::F8E8M0,
        Dtype::F4 => DType::F4,
        Dtype::F6_E2M3 => DType::F6E2M3,
        Dtype::F6_E3M2 => DType::F6E3M2,
        _ => return None,
    })
}

fn invalid(detail: String) -> ErrorKind {
    ErrorKind::InvalidHeader {
        format: FORMAT,
        detail,
    }
}

/// Turns the crate's error into one that names the tensor and the numbers involved.
fn explain(buf: &[u8], err: SafeTensorError) -> ErrorKind {
    let file_len = buf.len();
    let declared = buf
        .get(..LEN_BYTES)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])));
    match err {
        SafeTensorError::HeaderTooSmall => ErrorKind::Truncated(format!(
            "{file_len} bytes is shorter than the 8-byte header length field"
        )),
        SafeTensorError::InvalidHeaderLength => ErrorKind::Truncated(format!(
            "header length {} is larger than the file ({file_len} bytes)",
            declared.unwrap_or(0)
        )),
        SafeTensorError::HeaderTooLarge => invalid(format!(
            "header length {} exceeds the crate's 100 MB limit",
            declared.unwrap_or(0)
        )),
        SafeTensorError::InvalidHeader(e) => invalid(format!("header is not valid UTF-8 ({e})")),
        SafeTensorError::InvalidHeaderStart => invalid("header does not start with `{`".into()),
        SafeTensorError::InvalidHeaderDeserialization(e) | SafeTensorError::JsonError(e) => {
            invalid(format!("header is not a valid tensor table: {e}"))
        }
        SafeTensorError::MetadataIncompleteBuffer => match diagnose(buf) {
            Some(Problem::DataEnd { end, expected }) if end < expected => {
                ErrorKind::Truncated(format!(
                    "tensor data should end at byte {expected} but the file is {file_len} bytes"
                ))
            }
            Some(Problem::DataEnd { expected, .. }) => invalid(format!(
                "{} unexplained bytes after the last tensor (data ends at byte {expected}, file is {file_len} bytes)",
                file_len - expected
            )),
            Some(Problem::Tensor(detail)) => invalid(detail),
            None => invalid("tensor data does not cover the file exactly".into()),
        },
        SafeTensorError::InvalidOffset(name) => match diagnose(buf) {
            Some(Problem::Tensor(detail)) => invalid(detail),
            _ => invalid(format!(
                "tensor `{name}` has data offsets that overlap another tensor, leave a gap or run backwards"
            )),
        },
        SafeTensorError::TensorInvalidInfo
        | SafeTensorError::ValidationOverflow
        | SafeTensorError::MisalignedSlice => match diagnose(buf) {
            Some(Problem::Tensor(detail)) => invalid(detail),
            _ => invalid(format!("{err}")),
        },
        other => invalid(other.to_string()),
    }
}

enum Problem {
    /// A tensor entry is inconsistent; the text names it.
    Tensor(String),
    /// All entries are fine but the data ends at `expected` while the buffer has `end`.
    DataEnd { end: usize, expected: usize },
}

/// Error path only: re-reads the header loosely to find which entry is wrong.
fn diagnose(buf: &[u8]) -> Option<Problem> {
    let n = usize::try_from(u64::from_le_bytes(buf.get(..LEN_BYTES)?.try_into().ok()?)).ok()?;
    let header = buf.get(LEN_BYTES..LEN_BYTES.checked_add(n)?)?;
    let table: BTreeMap<String, serde_json::Value> = serde_json::from_slice(header).ok()?;
    let mut entries = Vec::new();
    for (name, v) in &table {
        if name == "__metadata__" {
            continue;
        }
        let dtype = v.get("dtype")?.as_str()?;
        let shape: Vec<u64> = v
            .get("shape")?
            .as_array()?
            .iter()
            .map(|x| x.as_u64())
            .collect::<Option<_>>()?;
        let offs = v.get("data_offsets")?.as_array()?;
        let (s, e) = (offs.first()?.as_u64()?, offs.get(1)?.as_u64()?);
        let elements = shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
        let block = DType::from_name(dtype).map(DType::block);
        let Some(elements) = elements else {
            return Some(Problem::Tensor(format!(
                "tensor `{name}` has shape {shape:?} whose element count overflows"
            )));
        };
        let Some((per_block, block_bytes)) = block else {
            return Some(Problem::Tensor(format!(
                "tensor `{name}` has unknown dtype `{dtype}`"
            )));
        };
        if e < s {
            return Some(Problem::Tensor(format!(
                "tensor `{name}` has data offsets [{s}, {e}] that run backwards"
            )));
        }
        let (per_block, block_bytes) = (per_block as u64, block_bytes as u64);
        if elements % per_block != 0 {
            return Some(Problem::Tensor(format!(
                "tensor `{name}`: {elements} elements of {dtype} do not fill whole bytes"
            )));
        }
        if (elements / per_block).checked_mul(block_bytes) != Some(e - s) {
            return Some(Problem::Tensor(format!(
                "tensor `{name}`: {} bytes at offsets [{s}, {e}] do not hold shape {shape:?} of {dtype} ({} bits each)",
                e - s,
                block_bytes * 8 / per_block
            )));
        }
        entries.push((s, e, name));
    }
    entries.sort();
    let mut cursor = 0u64;
    for (s, e, name) in &entries {
        if *s < cursor {
            return Some(Problem::Tensor(format!(
                "tensor `{name}` at offsets [{s}, {e}] overlaps the tensor before it (which ends at {cursor})"
            )));
        }
        if *s > cursor {
            return Some(Problem::Tensor(format!(
                "gap of {} bytes before tensor `{name}` (offsets [{s}, {e}])",
                s - cursor
            )));
        }
        cursor = *e;
    }
    let expected = usize::try_from(cursor).ok()?.checked_add(LEN_BYTES + n)?;
    Some(Problem::DataEnd {
        end: buf.len(),
        expected,
    })
}
