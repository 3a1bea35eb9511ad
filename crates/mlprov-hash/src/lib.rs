//! Exact content identity for model weights, every byte read once.
//!
//! * [`tensor_digest`]: a tensor's content (dtype, shape, bytes), not its name.
//! * [`FileDigest::digest`]: every byte of a file, composed from the plain BLAKE3 of
//!   its segments (header, each tensor, any gap), so tensor bytes are hashed once.
//! * [`MerkleTree`]: a model's root over its sorted tensor digests, with inclusion proofs.
//!
//! The exact constructions are documented in `docs/digests.md` so others can reimplement them.

#![forbid(unsafe_code)]

mod digest;
mod merkle;
mod model;

pub use digest::{file_digest, tensor_digest, Digest, ParseDigestError, Segment};
pub use merkle::{subtree_root, InclusionProof, MerkleStream, MerkleTree};
pub use model::{
    bytes_to_hash, hash_file, hash_model, FileDigest, HashOptions, ModelDigest, TensorDigest,
};
