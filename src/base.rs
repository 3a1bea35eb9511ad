//! A's base for the base-aware test, when the user does not give one: the base A's manifest
//! records (`lineage.derived_from`), found as a manifest (given, or beside A's) whose subject's
//! weights lie beside it; and, when A's manifest records none, a registered model A looks
//! derived from, as a hint.

use std::path::{Path, PathBuf};

use mlprov_fingerprint::ModelFingerprint;
use mlprov_formats::{Model, OpenOptions};
use mlprov_registry::Store;
use serde::Serialize;

use crate::check::candidates;
use crate::error::Result;
use crate::lineage::LineageNode;
use crate::registry_ops::lookup;
use crate::verify::subject_beside;

/// What A's manifest says of A's base.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum RecordedBase {
    /// No manifest of A, or it records no base.
    NoneRecorded,
    /// The base's weights: its manifest's subject, beside that manifest.
    Found {
        /// The base's subject name.
        name: String,
        /// Its manifest.
        manifest: PathBuf,
        /// Its weights.
        weights: PathBuf,
    },
    /// A base is recorded, but its weights are not at hand.
    NotAtHand {
        /// The base's name as A's manifest records it.
        name: String,
        /// Why not.
        why: String,
    },
}

impl RecordedBase {
    /// The base's weights, when found.
    pub fn weights(&self) -> Option<&Path> {
        match self {
            RecordedBase::Found { weights, .. } => Some(weights),
            _ => None,
        }
    }
}

/// Model A as `compare` takes it: a model, or A's manifest (the model then is its subject,
/// beside it), with the base that manifest records.
pub struct Reference {
    /// The model.
    pub model: Model,
    /// A's manifest, when A was given as one.
    pub manifest: Option<LineageNode>,
    /// The base A's manifest records, and whether its weights are at hand.
    pub recorded_base: RecordedBase,
}

/// Opens A for `compare`: a model, or a manifest file (`*.json` of schema
/// `mlprov.manifest/v1`) whose subject is opened instead and whose recorded base is looked
/// up among `lineage` and the manifests beside it.
pub fn open_reference(path: &Path, lineage: &[PathBuf], options: OpenOptions) -> Result<Reference> {
    let is_manifest = path.is_file() && path.extension().is_some_and(|e| e == "json");
    if !is_manifest {
        return Ok(Reference {
            model: crate::open_with(path, options)?,
            manifest: None,
            recorded_base: RecordedBase::NoneRecorded,
        });
    }
    let node = LineageNode::read(path)?;
    let model = crate::open_with(&subject_beside(path, &node.name)?, options)?;
    let recorded_base = recorded_base(&node, lineage)?;
    Ok(Reference {
        model,
        manifest: Some(node),
        recorded_base,
    })
}

/// The first base `a` records whose weights are at hand; else why the first one's are not.
pub fn recorded_base(a: &LineageNode, lineage: &[PathBuf]) -> Result<RecordedBase> {
    let Some(first) = a.lineage.derived_from.first() else {
        return Ok(RecordedBase::NoneRecorded);
    };
    let pool = candidates(&a.path, lineage)?;
    let mut first_problem = None;
    for base in &a.lineage.derived_from {
        let found = pool
            .iter()
            .find(|n| n.is(base.manifest.as_ref(), base.merkle_root.as_ref()));
        let problem = match found {
            None => format!(
                "no manifest of it was given (--lineage) or found beside {}",
                a.path.display()
            ),
            Some(node) => match subject_beside(&node.path, &node.name) {
                Ok(weights) if weights.exists() => {
                    return Ok(RecordedBase::Found {
                        name: node.name.clone(),
                        manifest: node.path.clone(),
                        weights,
                    })
                }
                Ok(weights) => format!(
                    "its manifest {} was found, but not its weights {}",
                    node.path.display(),
                    weights.display()
                ),
                Err(e) => e.to_string(),
            },
        };
        first_problem.get_or_insert(problem);
    }
    Ok(RecordedBase::NotAtHand {
        name: first.name.clone(),
        why: first_problem.unwrap_or_default(),
    })
}

/// A registered model A looks derived from (its fingerprint shares LSH band keys with A's),
/// other than A itself (`a_root`): the hint that a base may be missing from A's manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegisteredBaseHint {
    /// The registered asset.
    pub asset: i64,
    /// Its name.
    pub name: String,
    /// LSH band keys shared with A.
    pub band_hits: u32,
}

/// The registered model sharing the most LSH band keys with A, if any (not A itself).
pub fn registered_base_hint(
    store: &mut dyn Store,
    a: &Model,
    a_root: Option<&mlprov_hash::Digest>,
) -> Result<Option<RegisteredBaseHint>> {
    let fingerprint = ModelFingerprint::of(a);
    for candidate in lookup(store, &fingerprint)? {
        let Some(asset) = store.asset(candidate.asset)? else {
            continue;
        };
        if Some(&asset.root) == a_root {
            continue;
        }
        return Ok(Some(RegisteredBaseHint {
            asset: asset.id.0,
            name: asset.name,
            band_hits: candidate.band_hits,
        }));
    }
    Ok(None)
}
