#![forbid(unsafe_code)]
//! Robust identity of weights: fingerprints that survive re-encoding, quantization,
//! fine-tuning, renaming, transposition, rescaling and row truncation.
//!
//! Works on values only, never on names or byte layout.
//!
//! * [`TensorSketch`]: values of a tensor at positions chosen by consistent hashing of
//!   row and column indices, about 1 KiB, compared by correlation.
//! * [`GramSketch`]: cosines among sampled rows or columns, which survive permutation,
//!   rotation and rescaling of the other axis (the permutation-robust invariants).
//! * [`AnchoredKernel`]: similarities among a few token embeddings as every residual-stream
//!   matrix sees them, which survive rotation of the residual stream, hidden-unit
//!   permutation, rescaling and norm-gain folding together (architecture-level invariants).
//! * [`SimHash`]: a 256-bit key of a sketch, for index lookup by Hamming distance.
//! * [`ModelFingerprint`]: every tensor's sketch and key, and a compact lookup key.
//! * [`compare_models`]: the lineage test, with a p-value against a stated null and a verdict
//!   ([`Comparison`]); every threshold it applies is in [`thresholds`].
//! * [`own_changes`]: the base-aware test: does B carry A's own changes from its base P,
//!   or only what it shares with P ([`OwnChanges`])?

/// Identifier of the sketch definition (sampling, quantization, SimHash projections);
/// it changes whenever a sketch of the same tensor would.
pub const SKETCH_VERSION: &str = "mlprov.sketch/v1";

mod align;
mod anchored;
mod compact;
mod exact;
mod gram;
mod index_hash;
mod lineage;
mod model;
mod names;
mod own_changes;
mod report;
mod sample;
mod simhash;
mod sketch;
mod stats;
mod stored;
mod structure;
pub mod thresholds;
mod values;

pub use anchored::{AnchorSet, AnchoredKernel};
pub use gram::GramSketch;
pub use lineage::{compare_fingerprints, compare_models, compare_registered};
pub use model::{FingerprintOptions, LookupEntry, ModelFingerprint, TensorFingerprint, Unsketched};
pub use own_changes::{
    own_changes, own_changes_registered, share_floor, Alignment, OwnChangeTensor, OwnChanges,
    OWN_CHANGES_NULL,
};
pub use report::{
    Channel, Comparison, PairKind, TensorPair, TensorRef, Transform, UnknownVerdict, Verdict,
};
pub use sample::ValueSample;
pub use simhash::SimHash;
pub use sketch::TensorSketch;
pub use thresholds::NULL_HYPOTHESIS;

/// Internals the workspace's own integration tests and benches use; not a stable API.
#[doc(hidden)]
pub mod testing {
    pub use crate::index_hash::index_hash;
    pub use crate::values::Values;

    /// The anchored kernel of an in-memory `rows × cols` matrix over `k` anchor rows (for
    /// the bench).
    pub fn anchored_kernel(
        w: &[f32],
        (rows, cols): (usize, usize),
        anchors: &[f32],
        k: usize,
        writes: bool,
    ) -> Option<Vec<f32>> {
        use crate::anchored::kernel::kernel;
        let fill = |r: usize, out: &mut [f32]| match w.get(r * cols..(r + 1) * cols) {
            Some(line) => {
                out.copy_from_slice(line);
                true
            }
            None => false,
        };
        kernel(&fill, (rows, cols), anchors, k, writes)
    }
}
