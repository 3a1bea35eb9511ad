//! Open model weight files by their magic bytes and expose zero-copy tensor views.
//!
//! Formats: safetensors, GGUF (v2, v3), the legacy GGML containers (ggml, ggmf, ggjt,
//! ggla, and whisper.cpp's Silero VAD models), ONNX (with external data), PyTorch
//! `torch.save` zip checkpoints and TorchScript archives (pickles parsed, never run),
//! NumPy `.npy` and `.npz`. GGML block
//! quantizations are listed and hashed whatever their type; every type gguf-py can
//! dequantize also decodes to `f32`, bit-identical to it: Q4_0 … Q8_0, the K-quants
//! (Q2_K … Q8_K), the IQ types (IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S,
//! IQ4_NL, IQ4_XS), the ternary TQ1_0 and TQ2_0, MXFP4 and NVFP4. Types without a
//! reference dequantizer (Q1_0, Q2_0, Q8_1, the removed interleaved layouts) do not.
//!
//! Every file is memory-mapped; a [`TensorView`] borrows its bytes straight from the
//! map, and [`TensorView::decode_f32_into`] converts any element range to `f32`
//! without materializing the tensor. Parsers validate every length and offset they
//! read against the mapped length before use.
//!
//! Memory is bounded by the work, not by what a file claims: bytes a reader must decode
//! into memory (inflated zip members, gathered strided views, byte-swapped arrays, unpacked
//! ONNX fields) are charged to one budget per opened model, [`OpenOptions::memory_budget`]
//! (default [`DEFAULT_MEMORY_BUDGET`], 4 GiB), before they are allocated; a model that
//! needs more fails with [`ErrorKind::OverBudget`]. A deflated storage shared by several
//! tensors is inflated once. Pickled tensor names are capped (4 KiB each; in total 1 MiB
//! plus 64 bytes per pickle byte) and safetensors headers at 16 MiB.
//!
//! Inputs are opened without blocking and must be regular files: a FIFO or a device given
//! as a model, a shard or an index is refused ([`ErrorKind::NotRegularFile`]). A pickle that
//! would run code when loaded is a security finding ([`ErrorKind::CodeExecution`], see
//! [`Error::is_security_finding`]), not a damaged file.
//!
//! The crate's only `unsafe` is the memory map itself (`map.rs`, with what it relies on).

// Maps need `unsafe`, so `forbid(unsafe_code)` cannot apply; any unsafe fn must still spell
// out its unsafe operations.
#![deny(unsafe_op_in_unsafe_fn)]

mod budget;
mod convert;
mod decode;
mod dequant;
mod dtype;
mod error;
mod file;
mod format;
mod ggml_type;
mod info;
mod map;
mod meta;
mod model;
mod parsed;
mod quant;
mod quant_iq;
mod readers;
mod regular;
mod view;
mod walk;

pub use budget::DEFAULT_MEMORY_BUDGET;
pub use convert::{
    safetensors_dtype, write_safetensors, write_safetensors_with, ConvertDtype, ConvertOptions,
    ConvertReport,
};
pub use dequant::DequantView;
pub use dtype::{DType, DecodeError};
pub use error::{Error, ErrorKind};
pub use file::{open, ExternalFile, WeightFile};
pub use format::{Format, GgmlVariant};
pub use info::{Source, TensorInfo};
pub use map::{map_file, FileMap};
pub use meta::MetaValue;
pub use model::{open_model, Layout, Model, ModelFile, OpenOptions, Skipped};
pub use parsed::QuantLink;
#[doc(hidden)]
pub use readers::fuzz_parse;
pub use readers::sniff::{sniff, Sniffed};
pub use regular::read_regular_file;
pub use view::TensorView;
