//! Every format reader, behind one table from what the magic bytes say ([`Sniffed`]) to
//! the function that reads such a file.
//!
//! A reader takes the bytes of a whole file (and its path, which only ONNX uses to find
//! external data beside it) and returns the one parsed-file type, [`ParsedFile`]. Readers
//! depend on the shared modules below them (`parsed`, `format`, `error`, `dtype`, `meta`);
//! nothing here depends on `file.rs`, which looks readers up in [`READERS`]. Adding a
//! format: the reader module, its row in [`READERS`], and the variants the public enums
//! need ([`Sniffed`] with its magic test in `sniff.rs`, `Format` in `format.rs`).

use std::path::Path;

use crate::budget::Budget;
use crate::error::ErrorKind;
use crate::info::Source;
use crate::parsed::{ParsedFile, TensorData};
use crate::view::TensorView;

pub(crate) mod sniff;

mod archive;
mod cursor;
mod ggml_legacy;
mod gguf;
mod numpy;
mod onnx;
mod pickle;
mod safetensors;
mod strided;
mod torch;
mod zip;

use sniff::{hex_prefix, Sniffed};

/// A reader: a whole file's bytes, its path and the model's memory budget, to what the
/// file holds. Decoded and inflated bytes are charged to the budget before allocation.
pub(crate) type Reader = fn(&[u8], &Path, &Budget) -> Result<ParsedFile, ErrorKind>;

/// What the magic bytes say, and the reader for such a file.
const READERS: &[(Sniffed, Reader)] = &[
    (Sniffed::Safetensors, |b, p, _| safetensors::read(b, p)),
    (Sniffed::Gguf, |b, p, _| gguf::read(b, p)),
    (Sniffed::Ggml, |b, p, _| ggml_legacy::read(b, p)),
    // ONNX unpacks varint fields (at most 8 bytes per byte of the file) and NumPy swaps
    // or reorders arrays (at most the file's size): charged once parsed.
    (Sniffed::Onnx, |b, p, budget| {
        charge_owned(onnx::read(b, p)?, budget)
    }),
    (Sniffed::Npy, |b, p, budget| {
        charge_owned(numpy::read_npy(b, p)?, budget)
    }),
    // A bare pickle (protocol 2-5): parsed by the restricted machine for code it would
    // run; the legacy torch.save format is then refused with advice.
    (Sniffed::Pickle, |b, p, _| archive::read_pickle(b, p)),
    // torch.save, TorchScript or .npz, told apart by the archive's members; inflating and
    // gathering draw on the budget as they go.
    (Sniffed::Zip, archive::read_zip_in),
];

/// Charges the bytes a reader decoded into memory to the budget.
fn charge_owned(parsed: ParsedFile, budget: &Budget) -> Result<ParsedFile, ErrorKind> {
    let owned: u64 = parsed
        .tensors
        .iter()
        .map(|t| match &t.data {
            TensorData::Owned(v) => v.len() as u64,
            _ => 0,
        })
        .sum::<u64>()
        + parsed.buffers.iter().map(|b| b.len() as u64).sum::<u64>();
    budget.charge(owned)?;
    Ok(parsed)
}

/// The reader for files that sniff as `sniffed`, or why there is none. `head` (the first
/// bytes) is only used to describe an unknown file.
pub(crate) fn reader_for(sniffed: Sniffed, head: &[u8]) -> Result<Reader, ErrorKind> {
    match READERS.iter().find(|(s, _)| *s == sniffed) {
        Some((_, reader)) => Ok(*reader),
        None => Err(match sniffed {
            Sniffed::KnownUnsupported(name) => ErrorKind::Unsupported(name),
            _ => ErrorKind::UnknownFormat(hex_prefix(head)),
        }),
    }
}

/// Fuzzing entry point: parses `bytes` as the given kind (no file, no external data) and
/// decodes every tensor it can, checking each against the bytes present. Returns the
/// number of tensors. Not a stable API.
#[doc(hidden)]
pub fn fuzz_parse(kind: Sniffed, bytes: &[u8]) -> Result<usize, ErrorKind> {
    if kind == Sniffed::Pickle {
        // The restricted unpickler itself (inside archives it sits behind the zip layer).
        let policy = pickle::Policy {
            torchscript_classes: true,
        };
        return pickle::unpickle(bytes, policy)
            .map(|u| u.objs.len())
            .map_err(|e| pickle::error_kind(e, "pickle", ""));
    }
    let read = reader_for(kind, bytes)?;
    let parsed = read(
        bytes,
        Path::new("/nonexistent/fuzz.onnx"),
        &Budget::default(),
    )?;
    for t in &parsed.tensors {
        let data: &[u8] = match &t.data {
            TensorData::Mapped(r) => bytes
                .get(r.clone())
                .ok_or(ErrorKind::Truncated("mapped range".into()))?,
            TensorData::Owned(v) => v,
            TensorData::Shared { buffer, range } => parsed
                .buffers
                .get(*buffer)
                .and_then(|b| b.get(range.clone()))
                .ok_or(ErrorKind::Truncated("shared range".into()))?,
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
    Ok(parsed.tensors.len())
}
