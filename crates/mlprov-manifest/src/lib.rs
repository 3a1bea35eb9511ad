//! The mlprov provenance manifest (`mlprov.manifest/v1`): building one from digests,
//! canonical JSON, parsing, and checking a model against one.
//!
//! The JSON Schema is published at `schemas/manifest.v1.schema.json` in the repository.

#![forbid(unsafe_code)]

mod canonical;
mod dataset;
pub mod export;
mod manifest;
mod provenance;
mod verify;

pub use canonical::{to_canonical_json, to_pretty_json};
pub use dataset::{
    BottomKSection, DatasetSection, ImageSample, NearSection, PrivacySection, ReaderSettings,
    ShardSection, TextSample,
};
pub use manifest::{
    FileEntry, Fingerprints, Manifest, ManifestError, Subject, TensorEntry, TensorKey, Tool,
    SCHEMA_ID,
};
pub use provenance::{
    manifest_digest, BaseModel, Licence, Lineage, LineageEvidence, Relation, Role, TrainingData,
};
pub use verify::{verify, FileCheck, RootCheck, Status, TensorCheck, VerifyReport};
