//! Signing mlprov manifests: a DSSE envelope over an in-toto Statement v1 whose subject is
//! the model (name and Merkle root) and whose predicate is the manifest, signed with
//! ed25519.

#![forbid(unsafe_code)]

pub mod dsse;
pub mod ed25519;
pub mod oms;

/// Why signing or verifying failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// A key that cannot be read or made (an input error).
    #[error("{0}")]
    Key(String),
    /// A signature that does not verify, or a signed document that is not what it claims.
    #[error("{0}")]
    Invalid(String),
}
