//! The provenance sections of a manifest: the lineage (base models it derives from, data it
//! was trained on) and the licence (SPDX expression, agreed terms, digest of the licence
//! text). Every entry keeps fields this version does not know, so a manifest written by a
//! newer version survives a rewrite by this one.

use mlprov_hash::Digest;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::canonical::to_canonical_json;

/// Links to base models and training data.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Lineage {
    /// Models this one derives from.
    #[serde(default)]
    pub derived_from: Vec<BaseModel>,
    /// Datasets it was trained on.
    #[serde(default)]
    pub trained_on: Vec<TrainingData>,
    /// Fields of a newer version, kept as they were.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// How a model derives from a base model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Relation {
    /// Further training of all (or most) weights.
    Finetune,
    /// Added weights (LoRA and the like) over the frozen base.
    Adapter,
    /// Combined from several bases.
    Merge,
    /// The base at lower precision.
    Quantized,
    /// Trained to imitate the base's outputs.
    Distilled,
    /// The base with weights removed.
    Pruned,
    /// The base in another file format, same values.
    Converted,
}

impl Relation {
    /// Every relation.
    pub const ALL: [Relation; 7] = [
        Relation::Finetune,
        Relation::Adapter,
        Relation::Merge,
        Relation::Quantized,
        Relation::Distilled,
        Relation::Pruned,
        Relation::Converted,
    ];

    /// The name in manifests and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Relation::Finetune => "finetune",
            Relation::Adapter => "adapter",
            Relation::Merge => "merge",
            Relation::Quantized => "quantized",
            Relation::Distilled => "distilled",
            Relation::Pruned => "pruned",
            Relation::Converted => "converted",
        }
    }
}

impl std::str::FromStr for Relation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Relation::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Relation::ALL.iter().map(|r| r.name()).collect();
                format!("unknown relation {s:?} ({})", names.join(", "))
            })
    }
}

/// A base model, named by the digest of its manifest and by its content root.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaseModel {
    /// Its subject name.
    pub name: String,
    /// BLAKE3 of its manifest's canonical JSON ([`manifest_digest`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<Digest>,
    /// Its Merkle root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merkle_root: Option<Digest>,
    /// How this model derives from it.
    pub relation: Relation,
    /// What `mlprov compare` found, when it established the relation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lineage_test: Option<LineageEvidence>,
    /// Fields of a newer version, kept as they were.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The lineage test's result, as `mlprov compare` printed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineageEvidence {
    /// The verdict (`derived`, `re-encoded`, ...).
    pub verdict: String,
    /// log10 of the p-value, as a decimal string (manifests hold no floats).
    pub log10_p: String,
}

/// The role of data in training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Training data.
    Train,
    /// Validation data.
    Validation,
    /// Test data.
    Test,
}

impl Role {
    /// The name in manifests and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Role::Train => "train",
            Role::Validation => "validation",
            Role::Test => "test",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [Role::Train, Role::Validation, Role::Test]
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| format!("unknown role {s:?} (train, validation, test)"))
    }
}

/// A dataset the model was trained (or validated, or tested) on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingData {
    /// Its subject name.
    pub name: String,
    /// BLAKE3 of its manifest's canonical JSON ([`manifest_digest`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<Digest>,
    /// Its content digest, when its manifest records one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_root: Option<Digest>,
    /// What it was used for.
    pub role: Role,
    /// The share of it that was used, in parts per thousand, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_permille: Option<u16>,
    /// Fields of a newer version, kept as they were.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The licence of the asset and the terms agreed for it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Licence {
    /// SPDX licence expression (`LicenseRef-` ids for AI licences SPDX lacks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    /// The agreed terms (the terms-file model of `mlprov-terms`, as JSON); kept as
    /// written so clauses of a newer version survive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terms: Option<Map<String, Value>>,
    /// Digest of the full licence or agreement text (`sha256:<hex>` or `blake3:<hex>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_digest: Option<String>,
    /// Fields of a newer version, kept as they were.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Licence {
    /// True when nothing is recorded.
    pub fn is_empty(&self) -> bool {
        *self == Licence::default()
    }
}

/// The identity of a manifest: BLAKE3 of its canonical JSON (sorted keys, no whitespace),
/// so reformatting the file does not change it.
pub fn manifest_digest(manifest: &Value) -> Digest {
    Digest::from(blake3::hash(to_canonical_json(manifest).as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let v = json!({
            "derived_from": [{"name": "base", "relation": "finetune", "future": {"x": 1}}],
            "trained_on": [{"name": "d", "role": "train", "share_permille": 250, "weight": "high"}],
            "graph": "kept"
        });
        let l: Lineage = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(l.derived_from[0].relation, Relation::Finetune);
        assert_eq!(l.trained_on[0].share_permille, Some(250));
        assert_eq!(serde_json::to_value(&l).unwrap(), v);
        let lic = json!({"expression": "MIT", "terms": {"grant": {"new_clause": true}}, "signed_by": "x"});
        let parsed: Licence = serde_json::from_value(lic.clone()).unwrap();
        assert_eq!(serde_json::to_value(&parsed).unwrap(), lic);
    }

    #[test]
    fn the_digest_ignores_formatting() {
        let a: Value = serde_json::from_str(r#"{"b": 1, "a": [1, 2]}"#).unwrap();
        let b: Value = serde_json::from_str("{\"a\":[1,2],\n\"b\":1}").unwrap();
        assert_eq!(manifest_digest(&a), manifest_digest(&b));
    }
}
