//! How a fingerprint is stored: its JSON without what it can recompute
//! (`ModelFingerprint::without_derivable`), deflated. JSON keeps the stored form readable
//! by any tool and independent of Rust's memory layout; the numbers in it are compact
//! (8-bit cosines, sample grids in their narrowest exact float, byte planes grouped).

use mlprov_fingerprint::ModelFingerprint;

use crate::{Error, Result};

/// A stored fingerprint never inflates past this (a cap against a hostile database row).
const MAX_INFLATED: usize = 512 << 20;

/// The stored bytes of a fingerprint.
pub fn encode_fingerprint(fp: &ModelFingerprint) -> Vec<u8> {
    // Serializing plain structs of numbers and strings cannot fail.
    let json = serde_json::to_vec(&fp.without_derivable()).unwrap_or_default();
    miniz_oxide::deflate::compress_to_vec(&json, 6)
}

/// A fingerprint from its stored bytes.
pub fn decode_fingerprint(bytes: &[u8]) -> Result<ModelFingerprint> {
    let json = miniz_oxide::inflate::decompress_to_vec_with_limit(bytes, MAX_INFLATED)
        .map_err(|e| Error::Corrupt(format!("stored fingerprint does not inflate: {e:?}")))?;
    let mut fp: ModelFingerprint = serde_json::from_slice(&json)
        .map_err(|e| Error::Corrupt(format!("stored fingerprint is not valid: {e}")))?;
    fp.restore_derivable()
        .map_err(|e| Error::Corrupt(format!("stored fingerprint is not valid: {e}")))?;
    Ok(fp)
}
