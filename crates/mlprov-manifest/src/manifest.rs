//! The manifest document and its construction from model digests.

use mlprov_hash::{Digest, ModelDigest};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::canonical::{to_canonical_json, to_pretty_json};
use crate::dataset::DatasetSection;
use crate::provenance::{Licence, Lineage};

/// The schema identifier every v1 manifest carries.
pub const SCHEMA_ID: &str = "mlprov.manifest/v1";

/// A provenance manifest for one model or dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`SCHEMA_ID`].
    pub schema: String,
    /// The tool that wrote it.
    pub tool: Tool,
    /// When it was written (RFC 3339, UTC). The only field that varies between runs.
    pub created: String,
    /// What the manifest describes.
    pub subject: Subject,
    /// Weight files (or a dataset's data files), sorted by path.
    pub files: Vec<FileEntry>,
    /// Tensors, sorted by file then offset.
    pub tensors: Vec<TensorEntry>,
    /// Merkle root over the sorted tensor digests (a dataset: over its sorted record digests).
    pub merkle_root: Digest,
    /// Base models and datasets.
    pub lineage: Lineage,
    /// Licence and agreed terms.
    pub licence: Licence,
    /// Robust lookup fingerprint: each tensor's SimHash key (empty when written without).
    pub fingerprints: Fingerprints,
    /// A dataset's identity and sketches (`subject.kind` = `dataset`); absent for models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<DatasetSection>,
    /// Top-level fields this version does not know (written by a newer one), kept as they
    /// were so that reading and writing a manifest never drops them.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The manifest's robust lookup fingerprint (see `docs/lineage.md`): hex and integers only,
/// so the manifest stays free of floats and byte-for-byte reproducible.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprints {
    /// The sketch definition the keys were computed with (`mlprov.sketch/v1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sketch: Option<String>,
    /// One key per sketched tensor, sorted by file then name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tensors: Vec<TensorKey>,
}

/// The lookup key of one tensor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorKey {
    /// Path of its file.
    pub file: String,
    /// Name in its file.
    pub name: String,
    /// Number of elements.
    pub elements: u64,
    /// 256-bit SimHash of the tensor's sketch, 64 lower-case hex digits.
    pub simhash: String,
}

impl Fingerprints {
    /// A section from the sketch id and the keys, in canonical (file, name) order.
    pub fn new(sketch: &str, mut tensors: Vec<TensorKey>) -> Self {
        tensors.sort_by(|a, b| (&a.file, &a.name).cmp(&(&b.file, &b.name)));
        Fingerprints {
            sketch: Some(sketch.to_string()),
            tensors,
        }
    }
}

/// The tool that wrote a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tool {
    /// `mlprov`.
    pub name: String,
    /// Its version.
    pub version: String,
}

/// The thing described.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// `model` or `dataset`.
    pub kind: String,
    /// Base name of the path the manifest was made from.
    pub name: String,
    /// `file` or `directory`.
    pub layout: String,
}

/// One weight file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path relative to the model root, `/`-separated.
    pub path: String,
    /// Container format.
    pub format: String,
    /// Size in bytes.
    pub size: u64,
    /// Composed digest over every byte.
    pub digest: Digest,
}

/// One tensor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorEntry {
    /// Name in its file.
    pub name: String,
    /// Path of its file.
    pub file: String,
    /// Canonical dtype name.
    pub dtype: String,
    /// Dimensions.
    pub shape: Vec<u64>,
    /// Byte offset in the file; absent when the stored form is not the plain bytes
    /// (the reader decoded it: varint-packed ONNX fields, deflated npz members).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// Byte length of the plain little-endian bytes the digest covers.
    pub length: u64,
    /// Content digest (dtype, shape, bytes; not the name).
    pub digest: Digest,
}

/// A manifest that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Not JSON, or not shaped like a manifest.
    #[error("not a valid mlprov manifest: {0}")]
    Invalid(String),
    /// A manifest of another schema or version.
    #[error("unsupported manifest schema `{0}` (this build reads `{SCHEMA_ID}`)")]
    Schema(String),
}

impl Manifest {
    /// Builds a manifest from a model's digests.
    pub fn from_digests(
        subject: Subject,
        digests: &ModelDigest,
        tool_version: &str,
        created: String,
    ) -> Self {
        let files = digests
            .files
            .iter()
            .map(|f| FileEntry {
                path: f.path.clone(),
                format: f.format.clone(),
                size: f.size,
                digest: f.digest,
            })
            .collect();
        let tensors = digests
            .files
            .iter()
            .flat_map(|f| {
                f.tensors.iter().map(|t| TensorEntry {
                    name: t.name.clone(),
                    file: f.path.clone(),
                    dtype: t.dtype.clone(),
                    shape: t.shape.iter().map(|&d| d as u64).collect(),
                    offset: t.offset,
                    length: t.length,
                    digest: t.digest,
                })
            })
            .collect();
        Manifest {
            schema: SCHEMA_ID.to_string(),
            tool: Tool {
                name: "mlprov".to_string(),
                version: tool_version.to_string(),
            },
            created,
            subject,
            files,
            tensors,
            merkle_root: digests.root,
            lineage: Lineage::default(),
            licence: Licence::default(),
            fingerprints: Fingerprints::default(),
            dataset: None,
            extra: Map::new(),
        }
    }

    /// A dataset's manifest: its files (plain BLAKE3 digests), the Merkle root over its
    /// sorted record digests, and its dataset section.
    pub fn for_dataset(
        subject: Subject,
        files: Vec<FileEntry>,
        root: Digest,
        section: DatasetSection,
        tool_version: &str,
        created: String,
    ) -> Self {
        Manifest {
            schema: SCHEMA_ID.to_string(),
            tool: Tool {
                name: "mlprov".to_string(),
                version: tool_version.to_string(),
            },
            created,
            subject,
            files,
            tensors: Vec::new(),
            merkle_root: root,
            lineage: Lineage::default(),
            licence: Licence::default(),
            fingerprints: Fingerprints::default(),
            dataset: Some(section),
            extra: Map::new(),
        }
    }

    fn to_value(&self) -> Value {
        // Serializing plain structs of strings, integers and maps cannot fail.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The file form: canonical key order, indented, newline-terminated.
    pub fn to_pretty_json(&self) -> String {
        to_pretty_json(&self.to_value())
    }

    /// The compact canonical form, for signing.
    pub fn to_canonical_json(&self) -> String {
        to_canonical_json(&self.to_value())
    }

    /// Parses a manifest, checking its schema id first so other documents get a clear error.
    /// Deserializes straight into the typed manifest (no intermediate JSON tree), so memory
    /// stays close to the size of the manifest itself.
    pub fn parse(text: &str) -> Result<Self, ManifestError> {
        /// Only the schema id; serde skips every other field without building it.
        #[derive(Deserialize)]
        struct Head {
            schema: Option<String>,
        }
        let head: Head =
            serde_json::from_str(text).map_err(|e| ManifestError::Invalid(e.to_string()))?;
        match head.schema.as_deref() {
            Some(SCHEMA_ID) => {}
            Some(other) => return Err(ManifestError::Schema(other.to_string())),
            None => return Err(ManifestError::Invalid("no `schema` field".into())),
        }
        serde_json::from_str(text).map_err(|e| ManifestError::Invalid(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_top_level_fields_survive_a_rewrite() {
        let subject = Subject {
            kind: "model".into(),
            name: "m".into(),
            layout: "file".into(),
        };
        let digests = ModelDigest::from_files(Vec::new());
        let manifest =
            Manifest::from_digests(subject, &digests, "0", "2026-01-01T00:00:00Z".into());
        let mut doc: Value = serde_json::from_str(&manifest.to_pretty_json()).unwrap();
        doc["attestations"] = serde_json::json!({"by": "a newer mlprov", "n": 3});
        let read = Manifest::parse(&doc.to_string()).unwrap();
        assert_eq!(read.extra["attestations"]["n"], 3);
        let again: Value = serde_json::from_str(&read.to_pretty_json()).unwrap();
        assert_eq!(again["attestations"], doc["attestations"]);
        assert_eq!(again, doc, "nothing else changes either");
    }
}
