//! Open model weight files by their magic bytes and expose zero-copy tensor views.
//!
//! Formats: safetensors, GGUF (v2, v3), the legacy GGML containers (ggml, ggmf, ggjt,
//! ggla), ONNX (with external data), PyTorch `torch.save` zip checkpoints and TorchScript
//! archives (pickles parsed, never run), NumPy `.npy` and `.npz`. GGML block
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

mod archive;
mod convert;
mod cursor;
mod dequant;
mod dtype;
mod error;
mod file;
mod ggml_legacy;
mod ggml_type;
mod gguf;
mod meta;
mod model;
mod numpy_format;
mod onnx;
mod pickle;
mod quant;
mod quant_iq;
mod raw;
mod safetensors_format;
mod sniff;
mod strided;
mod torch_format;
mod view;
mod zip_archive;

pub use convert::{
    safetensors_dtype, write_safetensors, write_safetensors_with, ConvertDtype, ConvertOptions,
    ConvertReport,
};
pub use dequant::DequantView;
pub use dtype::{DType, DecodeError};
pub use error::{Error, ErrorKind};
#[doc(hidden)]
pub use file::fuzz_parse;
pub use file::{open, ExternalFile, Format, Source, TensorInfo, WeightFile};
pub use ggml_legacy::GgmlVariant;
pub use meta::MetaValue;
pub use model::{open_model, Layout, Model, ModelFile, OpenOptions, Skipped};
pub use raw::QuantLink;
pub use sniff::{sniff, Sniffed};
pub use view::TensorView;
