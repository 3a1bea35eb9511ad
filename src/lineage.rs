//! Manifests as nodes of a lineage graph: read loosely (identity, kind, licence, lineage),
//! so a dataset manifest or one of a newer version still links, and found by the digest
//! of their canonical JSON or by their content root.

use std::path::{Path, PathBuf};

use mlprov_hash::Digest;
use mlprov_manifest::{manifest_digest, Licence, Lineage, SCHEMA_ID};
use serde_json::Value;

use crate::error::{Error, Result};
use mlprov_formats::read_regular_file;

use crate::verify::MAX_MANIFEST_BYTES;

/// A manifest read as a node of the lineage graph.
#[derive(Debug, Clone)]
pub struct LineageNode {
    /// Where it was read from.
    pub path: PathBuf,
    /// BLAKE3 of its canonical JSON: its identity.
    pub digest: Digest,
    /// Its subject name.
    pub name: String,
    /// Its subject kind (`model`, `dataset`).
    pub kind: String,
    /// Its content root.
    pub merkle_root: Option<Digest>,
    /// Its licence section.
    pub licence: Licence,
    /// Its lineage section.
    pub lineage: Lineage,
    /// The whole document.
    pub value: Value,
}

impl LineageNode {
    /// Reads a manifest file as a lineage node.
    pub fn read(path: &Path) -> Result<LineageNode> {
        let bytes = read_regular_file(path, MAX_MANIFEST_BYTES)?;
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|e| Error::input(path, format!("not a JSON manifest: {e}")))?;
        LineageNode::from_value(path, value)
    }

    /// A lineage node from a parsed manifest document.
    pub fn from_value(path: &Path, value: Value) -> Result<LineageNode> {
        match value.get("schema").and_then(Value::as_str) {
            Some(SCHEMA_ID) => {}
            Some(other) => {
                return Err(Error::input(
                    path,
                    format!(
                        "unsupported manifest schema `{other}` (this build reads `{SCHEMA_ID}`)"
                    ),
                ))
            }
            None => return Err(Error::input(path, "not an mlprov manifest (no `schema`)")),
        }
        let subject = value.get("subject");
        let text = |v: Option<&Value>, k: &str| {
            v.and_then(|s| s.get(k))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let name = text(subject, "name")
            .ok_or_else(|| Error::input(path, "the manifest has no subject name"))?;
        let kind = text(subject, "kind").unwrap_or_else(|| "model".into());
        let merkle_root = match value.get("merkle_root").and_then(Value::as_str) {
            Some(s) => Some(
                s.parse::<Digest>()
                    .map_err(|e| Error::input(path, format!("merkle_root: {e}")))?,
            ),
            None => None,
        };
        let section = |k: &str| {
            value
                .get(k)
                .cloned()
                .unwrap_or(Value::Object(Default::default()))
        };
        let licence: Licence = serde_json::from_value(section("licence"))
            .map_err(|e| Error::input(path, format!("licence: {e}")))?;
        let lineage: Lineage = serde_json::from_value(section("lineage"))
            .map_err(|e| Error::input(path, format!("lineage: {e}")))?;
        Ok(LineageNode {
            path: path.to_path_buf(),
            digest: manifest_digest(&value),
            name,
            kind,
            merkle_root,
            licence,
            lineage,
            value,
        })
    }

    /// True when this node is the one a lineage entry names (by manifest digest, else by
    /// content root).
    pub fn is(&self, manifest: Option<&Digest>, root: Option<&Digest>) -> bool {
        match (manifest, root) {
            (Some(m), _) => *m == self.digest,
            (None, Some(r)) => self.merkle_root.as_ref() == Some(r),
            (None, None) => false,
        }
    }
}
