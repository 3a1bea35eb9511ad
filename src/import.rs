//! `import`: a manifest draft from metadata people already publish: the front matter of a
//! Hugging Face model card (`license`, `license_name`, `base_model`, `base_model_relation`,
//! `datasets`) or Croissant dataset metadata (`name`, `license`, the files' SHA-256). A draft
//! names bases and datasets by their hub ids, not by digest: `mlprov manifest --draft` records
//! them as claimed (`source`), and `check` answers `review` for them until their manifests are
//! given.

use std::path::Path;

use mlprov_manifest::{BaseModel, Licence, Lineage, Relation, Role, TrainingData};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use mlprov_formats::read_regular_file;

/// The draft format's id.
pub const DRAFT_ID: &str = "mlprov.manifest-draft/v1";

/// A manifest draft.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Draft {
    /// Always [`DRAFT_ID`].
    pub draft: String,
    /// `hf-model-card` or `croissant`.
    pub source: String,
    /// `model` or `dataset`.
    pub kind: String,
    /// The asset's name, when the metadata gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The licence section (expression only).
    pub licence: Licence,
    /// Bases and datasets by name, `source` set.
    pub lineage: Lineage,
    /// Files with their SHA-256 (Croissant), to compare with what is hashed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<DraftFile>,
    /// What could not be mapped, for a person to settle.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// A file named by the metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DraftFile {
    /// Its name or URL.
    pub name: String,
    /// Its SHA-256 (hex), when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// Reads a model card (`---` front matter) or Croissant JSON-LD into a draft.
pub fn import(path: &Path) -> Result<Draft> {
    let bytes = read_regular_file(path, 16 << 20)?;
    let text = String::from_utf8(bytes).map_err(|_| Error::input(path, "not UTF-8 text"))?;
    if text.trim_start().starts_with("---") {
        return Ok(from_model_card(&text));
    }
    let value: Value = serde_json::from_str(&text).map_err(|e| {
        Error::input(
            path,
            format!("neither a model card (--- front matter) nor Croissant JSON: {e}"),
        )
    })?;
    if value.get("@context").is_none() {
        return Err(Error::input(
            path,
            "JSON without @context: not Croissant metadata",
        ));
    }
    Ok(from_croissant(&value))
}

/// A YAML scalar or list at the top level of the front matter (the subset model cards use).
#[derive(Debug, Clone, PartialEq)]
enum Yaml {
    Scalar(String),
    List(Vec<String>),
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    let s = s.split(" #").next().unwrap_or(s).trim();
    if s.len() >= 2
        && ((s.starts_with('"') && s.ends_with('"')) || (s.starts_with('\'') && s.ends_with('\'')))
    {
        s[1..s.len() - 1].to_string()
    } else {
        s.to_string()
    }
}

/// The top-level keys of YAML front matter: `key: value`, `key: [a, b]`, and `key:` followed
/// by `- item` lines; nested maps are passed over.
fn front_matter(text: &str) -> Vec<(String, Yaml)> {
    let mut lines = text.trim_start().lines();
    lines.next(); // the opening ---
    let mut out: Vec<(String, Yaml)> = Vec::new();
    for line in lines {
        if line.trim_end() == "---" {
            break;
        }
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let indented = line.starts_with(' ') || line.starts_with('\t');
        let trimmed = line.trim();
        if let Some(item) = trimmed.strip_prefix("- ") {
            if let Some((_, Yaml::List(items))) = out.last_mut() {
                if !item.contains(": ") {
                    items.push(unquote(item));
                }
            }
            continue;
        }
        if indented {
            continue;
        }
        let Some((key, value)) = trimmed.split_once(':') else {
            continue;
        };
        let value = value.trim();
        let parsed = if value.is_empty() {
            Yaml::List(Vec::new())
        } else if let Some(inner) = value.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
            Yaml::List(
                inner
                    .split(',')
                    .map(unquote)
                    .filter(|s| !s.is_empty())
                    .collect(),
            )
        } else {
            Yaml::Scalar(unquote(value))
        };
        out.push((key.trim().to_string(), parsed));
    }
    out
}

fn list(v: Option<&Yaml>) -> Vec<String> {
    match v {
        Some(Yaml::Scalar(s)) => vec![s.clone()],
        Some(Yaml::List(l)) => l.clone(),
        None => Vec::new(),
    }
}

/// A licence id as the draft records it: through the knowledge base when it maps.
fn map_licence(id: &str, notes: &mut Vec<String>) -> Option<String> {
    match mlprov_terms::resolve_licence(id) {
        Ok(e) => {
            let known = mlprov_terms::Expr::parse(&e)
                .map(|x| x.ids().iter().all(|i| mlprov_terms::lookup(i).is_some()))
                .unwrap_or(false);
            if !known {
                notes.push(format!(
                    "licence `{e}` is not in the knowledge base: check reads it as unknown"
                ));
            }
            Some(e)
        }
        Err(err) => {
            notes.push(format!("licence {id:?} not mapped: {err}"));
            None
        }
    }
}

fn from_model_card(text: &str) -> Draft {
    let fm = front_matter(text);
    let get = |k: &str| fm.iter().find(|(key, _)| key == k).map(|(_, v)| v);
    let scalar = |k: &str| list(get(k)).into_iter().next();
    let mut notes = Vec::new();
    let mut licence = Licence::default();
    match scalar("license").as_deref() {
        Some("other") => {
            let name = scalar("license_name").unwrap_or_else(|| "other".into());
            let id: String = name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                        c
                    } else {
                        '-'
                    }
                })
                .collect();
            licence.expression = Some(format!("LicenseRef-{id}"));
            notes.push(format!(
                "licence `other` ({name}{}): recorded as LicenseRef-{id}; classify it with a terms file",
                scalar("license_link").map(|l| format!(", {l}")).unwrap_or_default()
            ));
        }
        Some(id) => licence.expression = map_licence(id, &mut notes),
        None => notes.push("no `license` in the model card".into()),
    }
    let mut lineage = Lineage::default();
    let bases = list(get("base_model"));
    let relation = match scalar("base_model_relation") {
        Some(r) => match r.parse::<Relation>() {
            Ok(r) => Some(r),
            Err(e) => {
                notes.push(format!("base_model_relation: {e}"));
                None
            }
        },
        None => None,
    };
    let relation = relation.unwrap_or_else(|| {
        if !bases.is_empty() {
            notes.push(if bases.len() > 1 {
                "base_model_relation not stated: `merge` assumed for several bases".into()
            } else {
                "base_model_relation not stated: `finetune` assumed".into()
            });
        }
        if bases.len() > 1 {
            Relation::Merge
        } else {
            Relation::Finetune
        }
    });
    for b in bases {
        lineage.derived_from.push(BaseModel {
            name: b,
            manifest: None,
            merkle_root: None,
            relation,
            lineage_test: None,
            extra: source_field("hf-model-card"),
        });
    }
    for d in list(get("datasets")) {
        lineage.trained_on.push(TrainingData {
            name: d,
            manifest: None,
            content_root: None,
            role: Role::Train,
            share_permille: None,
            extra: source_field("hf-model-card"),
        });
    }
    Draft {
        draft: DRAFT_ID.into(),
        source: "hf-model-card".into(),
        kind: "model".into(),
        name: None,
        licence,
        lineage,
        files: Vec::new(),
        notes,
    }
}

fn source_field(source: &str) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("source".into(), Value::String(source.into()));
    m
}

/// SPDX ids for the licence URLs Croissant files use.
const LICENCE_URLS: [(&str, &str); 14] = [
    ("creativecommons.org/licenses/by/4.0", "CC-BY-4.0"),
    ("creativecommons.org/licenses/by-sa/4.0", "CC-BY-SA-4.0"),
    ("creativecommons.org/licenses/by-nc/4.0", "CC-BY-NC-4.0"),
    (
        "creativecommons.org/licenses/by-nc-sa/4.0",
        "CC-BY-NC-SA-4.0",
    ),
    ("creativecommons.org/licenses/by-nd/4.0", "CC-BY-ND-4.0"),
    (
        "creativecommons.org/licenses/by-nc-nd/4.0",
        "CC-BY-NC-ND-4.0",
    ),
    ("creativecommons.org/publicdomain/zero/1.0", "CC0-1.0"),
    ("opensource.org/licenses/mit", "MIT"),
    ("apache.org/licenses/license-2.0", "Apache-2.0"),
    ("opendatacommons.org/licenses/odbl", "ODbL-1.0"),
    ("opendatacommons.org/licenses/by", "ODC-By-1.0"),
    ("opendatacommons.org/licenses/pddl", "PDDL-1.0"),
    ("cdla.dev/permissive-2-0", "CDLA-Permissive-2.0"),
    ("cdla.dev/sharing-1-0", "CDLA-Sharing-1.0"),
];

fn from_croissant(v: &Value) -> Draft {
    let mut notes = Vec::new();
    let licences: Vec<String> = match &v["license"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    let mut ids = Vec::new();
    for l in &licences {
        let lower = l.to_ascii_lowercase();
        if let Some((_, id)) = LICENCE_URLS.iter().find(|(u, _)| lower.contains(u)) {
            ids.push(id.to_string());
        } else if let Some(e) = map_licence(l, &mut notes) {
            ids.push(e);
        }
    }
    if licences.is_empty() {
        notes.push("no `license` in the Croissant metadata".into());
    }
    let mut licence = Licence::default();
    if !ids.is_empty() {
        licence.expression = Some(ids.join(" AND "));
    }
    let files = v["distribution"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|f| {
                    f["@type"]
                        .as_str()
                        .is_some_and(|t| t.ends_with("FileObject"))
                })
                .map(|f| DraftFile {
                    name: f["name"]
                        .as_str()
                        .or_else(|| f["contentUrl"].as_str())
                        .unwrap_or("")
                        .to_string(),
                    sha256: f["sha256"].as_str().map(str::to_string),
                })
                .collect()
        })
        .unwrap_or_default();
    Draft {
        draft: DRAFT_ID.into(),
        source: "croissant".into(),
        kind: "dataset".into(),
        name: v["name"].as_str().map(str::to_string),
        licence,
        lineage: Lineage::default(),
        files,
        notes,
    }
}

/// Reads a draft written by [`import`].
pub fn read_draft(path: &Path) -> Result<Draft> {
    let bytes = read_regular_file(path, 16 << 20)?;
    let d: Draft = serde_json::from_slice(&bytes)
        .map_err(|e| Error::input(path, format!("not a manifest draft: {e}")))?;
    if d.draft != DRAFT_ID {
        return Err(Error::input(path, format!("not a {DRAFT_ID} draft")));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_card_front_matter() {
        let card = "---\nlicense: llama3.1\nbase_model: meta-llama/Llama-3.1-8B\nbase_model_relation: adapter\ndatasets:\n  - HuggingFaceFW/fineweb\n  - \"allenai/c4\"\ntags: [a, b]\nmodel-index:\n  - name: x\n    results: []\n---\n# Card\n";
        let d = from_model_card(card);
        assert_eq!(
            d.licence.expression.as_deref(),
            Some("LicenseRef-Llama-3.1-Community")
        );
        assert_eq!(d.lineage.derived_from[0].name, "meta-llama/Llama-3.1-8B");
        assert_eq!(d.lineage.derived_from[0].relation, Relation::Adapter);
        let names: Vec<&str> = d
            .lineage
            .trained_on
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(names, ["HuggingFaceFW/fineweb", "allenai/c4"]);
        assert!(d.notes.is_empty(), "{:?}", d.notes);
        let d = from_model_card(
            "---\nlicense: other\nlicense_name: acme-model-license\nbase_model: [a/b, c/d]\n---\n",
        );
        assert_eq!(
            d.licence.expression.as_deref(),
            Some("LicenseRef-acme-model-license")
        );
        assert_eq!(d.lineage.derived_from.len(), 2);
        assert_eq!(d.lineage.derived_from[1].relation, Relation::Merge);
        assert_eq!(d.notes.len(), 2, "{:?}", d.notes);
    }

    #[test]
    fn croissant_metadata() {
        let v = serde_json::json!({
            "@context": {"@vocab": "https://schema.org/"},
            "@type": "sc:Dataset",
            "name": "faces",
            "license": "https://creativecommons.org/licenses/by-nc/4.0/",
            "distribution": [
                {"@type": "cr:FileObject", "name": "data.csv", "sha256": "ab"},
                {"@type": "cr:FileSet", "name": "images"}
            ]
        });
        let d = from_croissant(&v);
        assert_eq!(d.licence.expression.as_deref(), Some("CC-BY-NC-4.0"));
        assert_eq!(d.kind, "dataset");
        assert_eq!(
            d.files,
            [DraftFile {
                name: "data.csv".into(),
                sha256: Some("ab".into())
            }]
        );
    }
}
