//! Legacy GGML containers (2022–2023, before GGUF): `ggml`, `ggmf`, `ggjt` v1–v3, `ggla`.
//!
//! A file is a u32 magic (and, except for `ggml`, a u32 version), a model-specific header,
//! then tensor records to the end of the file:
//! `i32 n_dims, i32 name_len, i32 ggml_type, i32 dims[n_dims] (innermost first), name,
//! [ggjt/ggla: zero padding to a 32-byte file offset], data`.
//!
//! The header is not self-describing, so we recognize the layouts that were common —
//! llama.cpp (7 u32 hyperparameters, then the vocabulary with scores except in `ggml`),
//! whisper.cpp (11 i32 hyperparameters, mel filters, vocabulary) and llama.cpp LoRA
//! adapters (`ggla`: r and alpha) — and otherwise scan for the first offset from which
//! tensor records chain consistently to exactly the end of the file.
//!
//! Quantized blocks changed layout twice in 2023 without changing their type ids
//! (ggjt v2 reordered nibbles, ggjt v3 made Q4/Q8 scales f16). Only layouts known to
//! match today's are read as GGML dtypes; tensors in older layouts are reported as an
//! unsupported variant rather than listed under a type they are not.

use std::collections::{BTreeMap, HashSet};
use std::ops::Range;
use std::path::Path;

use crate::dtype::DType;
use crate::error::ErrorKind;
use crate::format::{Format, GgmlVariant};
use crate::meta::MetaValue;
use crate::parsed::{ParsedFile, ParsedTensor, TensorData};
use crate::readers::cursor::{Cursor, Short};

mod headers;

use headers::{llama_header, lora_header, whisper_header, Header, LLAMA};

const FORMAT: &str = "GGML";
const MAGIC_GGML: u32 = 0x6767_6d6c;
const MAGIC_GGMF: u32 = 0x6767_6d66;
const MAGIC_GGJT: u32 = 0x6767_6a74;
const MAGIC_GGLA: u32 = 0x6767_6c61;
/// ggjt and ggla align tensor data to this file offset.
const DATA_ALIGNMENT: usize = 32;
/// Legacy ggml tensors have at most 4 dimensions.
const MAX_DIMS: i32 = 4;
/// Longest tensor name accepted (ggml used 32–64; converters asserted < 4096).
const MAX_NAME_LEN: i32 = 512;
/// How far past the fixed header the scan looks for the first tensor record.
const SCAN_WINDOW: usize = 64 << 20;
/// Header label when the tensor records were found without understanding the header.
const UNRECOGNIZED: &str = "unrecognized";

/// Which quantized block layouts a file's writer used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Generation {
    /// Today's layouts (ggjt v3, ggla, whisper.cpp quantization version 2).
    Current,
    /// ggjt v2 / quantization version 1: Q5_0 and Q5_1 as today, Q4/Q8 with f32 scales.
    Ggjt2,
    /// Before ggjt v2 (nibble order differs): only f32/f16 are today's.
    Original,
    /// Unversioned file with an unrecognized header: the quantization version is unknown.
    Unknown,
}

/// Block sizes to assume while chaining records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sizes {
    Current,
    /// Q4_0/Q4_1/Q8_0/Q8_1 with f32 scales, and the short-lived Q4_2/Q4_3.
    PreV3,
}

impl Generation {
    fn sizes(self) -> &'static [Sizes] {
        match self {
            Generation::Current => &[Sizes::Current],
            Generation::Ggjt2 | Generation::Original => &[Sizes::PreV3],
            Generation::Unknown => &[Sizes::Current, Sizes::PreV3],
        }
    }

    /// The dtype of type `id` in this generation, if its layout is today's.
    fn dtype(self, id: u32) -> Option<DType> {
        let allowed = match self {
            Generation::Current => id <= 15,
            Generation::Ggjt2 => matches!(id, 0 | 1 | 6 | 7),
            Generation::Original | Generation::Unknown => id <= 1,
        };
        allowed.then(|| DType::from_ggml_type(id)).flatten()
    }
}

/// `(elements, bytes)` per block of type `id`. Ids past 15 meant different types over
/// 2023 (I8/I16/I32 moved when the K-quants arrived), so legacy files may not use them.
fn block_of(id: u32, sizes: Sizes) -> Option<(usize, usize)> {
    if sizes == Sizes::PreV3 {
        match id {
            2 => return Some((32, 4 + 16)),
            3 => return Some((32, 4 + 4 + 16)),
            4 => return Some((16, 2 + 8)),
            5 => return Some((16, 2 + 2 + 8)),
            8 => return Some((32, 4 + 32)),
            9 => return Some((32, 4 + 4 + 32)),
            _ => {}
        }
    }
    if id > 15 {
        return None;
    }
    DType::from_ggml_type(id).map(DType::block)
}

fn type_label(id: u32) -> &'static str {
    match id {
        4 => "Q4_2",
        5 => "Q4_3",
        _ => DType::from_ggml_type(id).map_or("unknown", DType::name),
    }
}

fn invalid(detail: String) -> ErrorKind {
    ErrorKind::InvalidHeader {
        format: FORMAT,
        detail,
    }
}

/// One tensor record as chained.
struct Record {
    name: String,
    type_id: u32,
    /// Innermost first, as stored.
    dims: Vec<usize>,
    data: Range<usize>,
}

/// Why a chain of records failed. The scan meets one at almost every offset it tries,
/// so the common cases carry numbers and are only put into words when reported.
enum ChainError {
    /// A field before the name is implausible.
    Field {
        pos: usize,
        what: &'static str,
        value: i64,
    },
    /// The file ends inside the record at `pos`.
    Cut { pos: usize, short: Short },
    /// The chain reached a record already found to lead nowhere.
    Seen { pos: usize },
    /// A record with a readable name is inconsistent.
    Detail { detail: String, truncated: bool },
}

impl ChainError {
    /// The file ended inside a record (rather than a field being implausible).
    fn truncated(&self) -> bool {
        matches!(
            self,
            ChainError::Cut { .. }
                | ChainError::Detail {
                    truncated: true,
                    ..
                }
        )
    }

    fn describe(&self) -> String {
        match self {
            ChainError::Field { pos, what, value } => {
                format!("tensor record at offset {pos}: {what} is {value}")
            }
            ChainError::Cut { pos, short } => {
                format!("tensor record at offset {pos} {}", short.describe())
            }
            ChainError::Seen { pos } => {
                format!("records from offset {pos} were already found inconsistent")
            }
            ChainError::Detail { detail, .. } => detail.clone(),
        }
    }
}

/// Reads a legacy GGML file held in `buf`.
pub(crate) fn read(buf: &[u8], _path: &Path) -> Result<ParsedFile, ErrorKind> {
    let mut c = Cursor::new(buf, 0);
    let short = |s: Short| ErrorKind::Truncated(format!("GGML magic/version {}", s.describe()));
    let magic = c.u32().map_err(short)?;
    let variant = match magic {
        MAGIC_GGML => GgmlVariant::Ggml,
        MAGIC_GGMF => GgmlVariant::Ggmf(c.u32().map_err(short)?),
        MAGIC_GGJT => GgmlVariant::Ggjt(c.u32().map_err(short)?),
        MAGIC_GGLA => GgmlVariant::Ggla(c.u32().map_err(short)?),
        other => return Err(invalid(format!("magic {other:#010x} is not a GGML magic"))),
    };
    let generation = match variant {
        GgmlVariant::Ggjt(3) | GgmlVariant::Ggla(1) => Generation::Current,
        GgmlVariant::Ggjt(2) => Generation::Ggjt2,
        GgmlVariant::Ggjt(1) | GgmlVariant::Ggmf(1) => Generation::Original,
        GgmlVariant::Ggml => Generation::Unknown,
        other => {
            return Err(invalid(format!(
                "unsupported variant {} (known: ggmf v1, ggjt v1-v3, ggla v1)",
                other.name()
            )))
        }
    };
    let after_magic = c.pos();

    let mut headers = Vec::new();
    match variant {
        GgmlVariant::Ggla(_) => headers.extend(lora_header(buf, after_magic)),
        GgmlVariant::Ggml => {
            headers.extend(whisper_header(buf, after_magic));
            headers.extend(llama_header(buf, after_magic, false, Generation::Original));
        }
        _ => headers.extend(llama_header(buf, after_magic, true, generation)),
    }
    let mut first_error: Option<ChainError> = None;
    for h in headers {
        let mut dead = HashSet::new();
        let mut result = None;
        for &sizes in h.generation.sizes() {
            match chain(buf, h.tensors_start, variant.padded(), sizes, &mut dead) {
                Ok(records) => {
                    result = Some(records);
                    break;
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(records) = result {
            // Other ggml-era models (gpt-2, gpt-j examples) can pass for llama's header;
            // their records are right, the hyperparameter names would not be.
            let keep =
                h.layout != LLAMA || records.iter().any(|r| r.name == "tok_embeddings.weight");
            let h = if keep {
                h
            } else {
                Header {
                    layout: UNRECOGNIZED,
                    tensors_start: h.tensors_start,
                    generation,
                    meta: Vec::new(),
                }
            };
            return finish(variant, h, records, buf.len());
        }
    }

    // No recognized header: find the first offset whose records chain to the end.
    for &sizes in generation.sizes() {
        let mut dead = HashSet::new();
        let end = buf.len().min(after_magic.saturating_add(SCAN_WINDOW));
        for start in after_magic..end {
            if !plausible_record(buf, start) {
                continue;
            }
            if let Ok(records) = chain(buf, start, variant.padded(), sizes, &mut dead) {
                if records.is_empty() {
                    continue;
                }
                let h = Header {
                    layout: UNRECOGNIZED,
                    tensors_start: start,
                    generation,
                    meta: Vec::new(),
                };
                return finish(variant, h, records, buf.len());
            }
        }
    }
    let scanned = format!(
        "no consistent tensor table found in this {} file (scanned offsets {after_magic}..{} for records that chain to the end of the file)",
        variant.name(),
        buf.len().min(after_magic.saturating_add(SCAN_WINDOW))
    );
    Err(match first_error {
        Some(e) if e.truncated() => ErrorKind::Truncated(format!(
            "GGML {}: {}",
            variant.name(),
            e.describe()
        )),
        Some(e) => invalid(format!(
            "{scanned}; the recognized header's tensor table failed: {}",
            e.describe()
        )),
        None if matches!(generation, Generation::Original | Generation::Ggjt2) => invalid(format!(
            "{scanned}; if it holds Q4/Q8 tensors quantized before ggjt v3 (May 2023), their block layout is not supported"
        )),
        None => invalid(scanned),
    })
}

/// Whether the 12 bytes at `pos` could open a tensor record: the scan's cheap first test.
fn plausible_record(buf: &[u8], pos: usize) -> bool {
    let field = |i: usize| {
        buf.get(pos + 4 * i..pos + 4 * i + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(i32::from_le_bytes)
    };
    matches!(
        (field(0), field(1), field(2)),
        (Some(1..=MAX_DIMS), Some(1..=MAX_NAME_LEN), Some(0..=15))
    )
}

/// Follows records from `start` to the end of `buf`. Record starts of a failed chain go
/// into `dead`: a chain through them fails the same way, so the scan stays linear.
fn chain(
    buf: &[u8],
    start: usize,
    padded: bool,
    sizes: Sizes,
    dead: &mut HashSet<usize>,
) -> Result<Vec<Record>, ChainError> {
    let mut records = Vec::new();
    let mut visited = Vec::new();
    let mut pos = start;
    let result = loop {
        if pos == buf.len() {
            break Ok(());
        }
        // Parse first: most scanned offsets fail here, before any set lookup.
        let r = match record(buf, pos, padded, sizes) {
            Ok(r) => r,
            Err(e) => break Err(e),
        };
        if dead.contains(&pos) {
            break Err(ChainError::Seen { pos });
        }
        visited.push(pos);
        pos = r.data.end;
        records.push(r);
    };
    match result {
        Ok(()) => Ok(records),
        Err(e) => {
            dead.extend(visited);
            Err(e)
        }
    }
}

fn record(buf: &[u8], pos: usize, padded: bool, sizes: Sizes) -> Result<Record, ChainError> {
    let mut c = Cursor::new(buf, pos);
    let field = |what, value: i64| ChainError::Field { pos, what, value };
    let cut = |short| ChainError::Cut { pos, short };
    let n_dims = c.i32().map_err(cut)?;
    let name_len = c.i32().map_err(cut)?;
    let type_id = c.i32().map_err(cut)?;
    if !(1..=MAX_DIMS).contains(&n_dims) {
        return Err(field("n_dims (1 to 4 expected)", n_dims.into()));
    }
    if !(1..=MAX_NAME_LEN).contains(&name_len) {
        return Err(field(
            "the name length (1 to 512 expected)",
            name_len.into(),
        ));
    }
    let type_id = type_id as u32;
    let (per_block, block_bytes) = block_of(type_id, sizes).ok_or_else(|| {
        field(
            "the GGML type id (not one legacy files use)",
            type_id.into(),
        )
    })?;
    let mut dims = Vec::with_capacity(n_dims as usize);
    for _ in 0..n_dims {
        let d = c.i32().map_err(cut)?;
        let d = usize::try_from(d)
            .ok()
            .filter(|&d| d > 0)
            .ok_or_else(|| field("a dimension (positive expected)", d.into()))?;
        dims.push(d);
    }
    let name = c.take(name_len as u64).map_err(cut)?;
    let name = std::str::from_utf8(name)
        .ok()
        .filter(|n| !n.chars().any(char::is_control))
        .ok_or_else(|| {
            field(
                "the length of a name that is not printable UTF-8",
                name_len.into(),
            )
        })?
        .to_string();
    let bad = |detail: String| ChainError::Detail {
        detail,
        truncated: false,
    };
    let shape = |dims: &[usize]| dims.iter().rev().copied().collect::<Vec<_>>();
    let elements = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    let ne0 = dims.first().copied().unwrap_or(1);
    let bytes = elements
        .filter(|e| ne0 % per_block == 0 && e % per_block == 0)
        .and_then(|e| (e / per_block).checked_mul(block_bytes))
        .ok_or_else(|| {
            bad(format!(
                "tensor `{name}` has shape {:?} that does not hold whole {} blocks",
                shape(&dims),
                type_label(type_id)
            ))
        })?;
    let mut data_start = c.pos();
    if padded {
        data_start = data_start
            .checked_next_multiple_of(DATA_ALIGNMENT)
            .ok_or_else(|| bad(format!("tensor `{name}` data offset overflows")))?;
    }
    let data_end = data_start
        .checked_add(bytes)
        .ok_or_else(|| bad(format!("tensor `{name}` data size overflows")))?;
    if data_end > buf.len() {
        return Err(ChainError::Detail {
            detail: format!(
                "tensor `{name}` ({}, shape {:?}) needs bytes {data_start}..{data_end} but the file has {} bytes",
                type_label(type_id),
                shape(&dims),
                buf.len()
            ),
            truncated: true,
        });
    }
    Ok(Record {
        name,
        type_id,
        dims,
        data: data_start..data_end,
    })
}

/// Turns chained records into the parse result, refusing block layouts that are not today's.
fn finish(
    variant: GgmlVariant,
    header: Header,
    records: Vec<Record>,
    file_len: usize,
) -> Result<ParsedFile, ErrorKind> {
    let mut tensors = Vec::with_capacity(records.len());
    let mut names = HashSet::new();
    for r in records {
        let dtype = header.generation.dtype(r.type_id).ok_or_else(|| {
            let why = match header.generation {
                Generation::Unknown => "the header of this unversioned ggml file is not one this reader recognizes, so the quantization version that fixes the block layout is unknown",
                _ => "quantized blocks written before ggjt v3 / quantization version 2 (May 2023) have other layouts than today's, which this reader does not decode",
            };
            invalid(format!(
                "unsupported variant: tensor `{}` is {} in a {} file; {why}. Only its f32/f16 tensors could be read",
                r.name,
                type_label(r.type_id),
                variant.name()
            ))
        })?;
        if !names.insert(r.name.clone()) {
            return Err(invalid(format!("tensor name `{}` appears twice", r.name)));
        }
        tensors.push(ParsedTensor {
            name: r.name,
            dtype,
            shape: r.dims.into_iter().rev().collect(),
            data: TensorData::Mapped(r.data),
        });
    }
    let mut meta = BTreeMap::new();
    meta.insert("ggml.variant".to_string(), MetaValue::Str(variant.name()));
    meta.insert(
        "ggml.header".to_string(),
        MetaValue::Str(header.layout.to_string()),
    );
    meta.extend(header.meta);
    let metadata = meta.iter().map(|(k, v)| (k.clone(), v.summary())).collect();
    Ok(ParsedFile {
        header: Some(0..header.tensors_start.min(file_len)),
        tensors,
        metadata,
        meta,
        ..ParsedFile::new(Format::Ggml(variant))
    })
}
