//! Open model weight files by their magic bytes and expose zero-copy tensor views.
//!
//! Every file is memory-mapped; a [`TensorView`] borrows its bytes straight from the
//! map, and [`TensorView::decode_f32_into`] converts any element range to `f32`
//! without materializing the tensor. Parsers validate every length and offset they
//! read against the mapped length before use.

mod dtype;
mod error;
mod file;
mod model;
#[allow(dead_code)] // wired into WeightFile as the new readers land
mod raw;
mod safetensors_format;
mod sniff;
mod view;

pub use dtype::{DType, DecodeError};
pub use error::{Error, ErrorKind};
pub use file::{open, Format, TensorInfo, WeightFile};
pub use model::{open_model, Layout, Model, ModelFile, OpenOptions, Skipped};
pub use sniff::{sniff, Sniffed};
pub use view::TensorView;
