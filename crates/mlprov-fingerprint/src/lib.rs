//! Robust identity of weights: fingerprints that survive re-encoding, quantization,
//! fine-tuning, renaming, transposition, rescaling and row truncation.
//!
//! Works on values only, never on names or byte layout.
//!
//! * [`TensorSketch`]: values of a tensor at positions chosen by consistent hashing of
//!   row and column indices, about 1 KiB, compared by correlation ([`compare`]).
//! * [`SimHash`]: a 256-bit key of a sketch, for index lookup by Hamming distance.
//! * [`ModelFingerprint`]: every tensor's sketch and key, and a compact lookup key.

mod index_hash;
mod model;
mod simhash;
mod sketch;

pub use index_hash::{index_hash, select_indices};
pub use model::{
    LookupEntry, ModelFingerprint, TensorFingerprint, Unsketched, LOOKUP_TENSORS, MIN_ELEMENTS,
};
pub use simhash::SimHash;
pub use sketch::{compare, SketchError, SketchMatch, TensorSketch, GRID, VECTOR_SAMPLES};
