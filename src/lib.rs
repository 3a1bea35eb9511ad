//! mlprov: provenance for machine-learning assets.
//!
//! This facade re-exports the workspace crates so that a user can depend on one package:
//! [`formats`] reads weight files, [`hash`] computes exact digests, [`manifest`] writes and
//! checks provenance manifests, [`fingerprint`] computes robust fingerprints. The `mlprov` binary lives in `cli/`.

pub use mlprov_fingerprint as fingerprint;
pub use mlprov_formats as formats;
pub use mlprov_hash as hash;
pub use mlprov_manifest as manifest;
