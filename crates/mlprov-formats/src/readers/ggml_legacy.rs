//! Legacy GGML containers (2022–2023, before GGUF): `ggml`, `ggmf`, `ggjt` v1–v3, `ggla`;
//! and whisper.cpp's Silero VAD models, which its tools still write with the `ggml` magic.
//!
//! A file is a u32 magic (and, except for `ggml`, a u32 version), a model-specific header,
//! then tensor records to the end of the file:
//! `i32 n_dims, i32 name_len, i32 ggml_type, i32 dims[n_dims] (innermost first), name,
//! [ggjt/ggla: zero padding to a 32-byte file offset], data`.
//!
//! The header is not self-describing, so we recognize the layouts that were common —
//! llama.cpp (7 u32 hyperparameters, then the vocabulary with scores except in `ggml`),
//! whisper.cpp (11 i32 hyperparameters, mel filters, vocabulary), whisper.cpp VAD (model
//! type, version, layer sizes; records may have no dimensions; the tensor count is implied)
//! and llama.cpp LoRA adapters (`ggla`: r and alpha) — and otherwise scan for the first
//! offset from which tensor records chain consistently to exactly the end of the file.
//!
//! Quantized blocks changed layout twice in 2023 without changing their type ids
//! (ggjt v2 reordered nibbles, ggjt v3 made Q4/Q8 scales f16). Only layouts known to
//! match today's are read as GGML dtypes; tensors in older layouts are reported as an
//! unsupported variant rather than listed under a type they are not.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use crate::error::ErrorKind;
use crate::format::{Format, GgmlVariant};
use crate::meta::MetaValue;
use crate::parsed::{ParsedFile, ParsedTensor, TensorData};
use crate::readers::cursor::{Cursor, Short};

mod blocks;
mod headers;
mod records;

use blocks::{type_label, Generation};
use headers::{llama_header, lora_header, vad_header, whisper_header, Header, LLAMA};
use records::{chain, plausible_record, ChainError, Record, Rules};

const FORMAT: &str = "GGML";
const MAGIC_GGML: u32 = 0x6767_6d6c;
const MAGIC_GGMF: u32 = 0x6767_6d66;
const MAGIC_GGJT: u32 = 0x6767_6a74;
const MAGIC_GGLA: u32 = 0x6767_6c61;
/// How far past the fixed header the scan looks for the first tensor record.
const SCAN_WINDOW: usize = 64 << 20;

fn invalid(detail: String) -> ErrorKind {
    ErrorKind::InvalidHeader {
        format: FORMAT,
        detail,
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
            headers.extend(vad_header(buf, after_magic));
            headers.extend(whisper_header(buf, after_magic));
            headers.extend(llama_header(buf, after_magic, false, Generation::Original));
        }
        _ => headers.extend(llama_header(buf, after_magic, true, generation)),
    }
    let mut first_error: Option<ChainError> = None;
    for h in headers {
        let mut dead = HashSet::new();
        for &sizes in h.generation.sizes() {
            let rules = Rules {
                padded: variant.padded(),
                sizes,
                scalars: h.scalars,
            };
            match chain(buf, h.tensors_start, rules, &mut dead) {
                Ok(records) => {
                    let h = recognized(h, &records, generation);
                    return finish(variant, h, records, buf.len());
                }
                // A header that declares its tensor count (whisper.cpp VAD) is not followed by
                // a scan: a scan could only find a tail of its records, which the count
                // refuses anyway.
                Err(e) if h.tensor_count.is_some() => {
                    return Err(header_failed(h.variant.unwrap_or(variant), &e))
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
    }
    if let Some(found) = scan(buf, variant, generation, after_magic) {
        return found;
    }
    Err(no_table(
        buf.len(),
        variant,
        generation,
        after_magic,
        first_error,
    ))
}

/// The header a chain of records was found with, unless it only looked like llama's:
/// other ggml-era models (gpt-2, gpt-j examples) can pass for llama's header; their
/// records are right, the hyperparameter names would not be.
fn recognized(h: Header, records: &[Record], generation: Generation) -> Header {
    if h.layout != LLAMA || records.iter().any(|r| r.name == "tok_embeddings.weight") {
        return h;
    }
    Header::unrecognized(h.tensors_start, generation)
}

/// No recognized header: finds the first offset whose records chain to the end.
fn scan(
    buf: &[u8],
    variant: GgmlVariant,
    generation: Generation,
    after_magic: usize,
) -> Option<Result<ParsedFile, ErrorKind>> {
    for &sizes in generation.sizes() {
        let mut dead = HashSet::new();
        let end = buf.len().min(after_magic.saturating_add(SCAN_WINDOW));
        let rules = Rules {
            padded: variant.padded(),
            sizes,
            scalars: false,
        };
        for start in after_magic..end {
            if !plausible_record(buf, start) {
                continue;
            }
            if let Ok(records) = chain(buf, start, rules, &mut dead) {
                if records.is_empty() {
                    continue;
                }
                let h = Header::unrecognized(start, generation);
                return Some(finish(variant, h, records, buf.len()));
            }
        }
    }
    None
}

/// Why the tensor records after a recognized header do not chain to the end of the file.
fn header_failed(variant: GgmlVariant, e: &ChainError) -> ErrorKind {
    if e.truncated() {
        ErrorKind::Truncated(format!("GGML {}: {}", variant.name(), e.describe()))
    } else {
        invalid(format!(
            "the tensor table after the {} header is inconsistent: {}",
            variant.name(),
            e.describe()
        ))
    }
}

/// Why no tensor table was found: the recognized header's chain failed, or nothing chains.
fn no_table(
    file_len: usize,
    variant: GgmlVariant,
    generation: Generation,
    after_magic: usize,
    first_error: Option<ChainError>,
) -> ErrorKind {
    let scanned = format!(
        "no consistent tensor table found in this {} file (scanned offsets {after_magic}..{} for records that chain to the end of the file)",
        variant.name(),
        file_len.min(after_magic.saturating_add(SCAN_WINDOW))
    );
    match first_error {
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
    }
}

/// Turns chained records into the parse result, refusing block layouts that are not today's.
fn finish(
    variant: GgmlVariant,
    header: Header,
    records: Vec<Record>,
    file_len: usize,
) -> Result<ParsedFile, ErrorKind> {
    let variant = header.variant.unwrap_or(variant);
    if let Some(want) = header.tensor_count {
        if records.len() < want {
            return Err(ErrorKind::Truncated(format!(
                "GGML {}: the header declares {want} tensors but the file holds {}",
                variant.name(),
                records.len()
            )));
        }
        if records.len() > want {
            return Err(invalid(format!(
                "the {} header declares {want} tensors but the file holds {}",
                variant.name(),
                records.len()
            )));
        }
    }
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
