//! The provenance options of a manifest (licence, terms, base models, datasets), as one
//! library struct that every manifest-writing operation (model or dataset) takes.

use std::path::{Path, PathBuf};

use mlprov_manifest::{BaseModel, Licence, Lineage, Manifest, Relation, Role, TrainingData};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::lineage::LineageNode;

/// What a person states about an asset's licence: `--license` and `--terms`.
#[derive(Debug, Clone, Default)]
pub struct LicenceOptions {
    /// An SPDX expression or a Hugging Face licence id (`llama3.1`, `gemma`, `openrail++`).
    pub licence: Option<String>,
    /// A terms file (TOML, `docs/terms.md`).
    pub terms: Option<PathBuf>,
}

/// What a person states about an asset's lineage: `--base` and `--dataset`.
#[derive(Debug, Clone, Default)]
pub struct LineageOptions {
    /// Manifests of base models, with the relation.
    pub bases: Vec<(PathBuf, Relation)>,
    /// Manifests of datasets, with their role.
    pub datasets: Vec<(PathBuf, Role)>,
    /// Run the lineage test between each base (found beside its manifest) and the model, and
    /// record its verdict and p-value.
    pub compare_bases: bool,
}

/// Everything a manifest records beyond what is computed from the files.
#[derive(Debug, Clone, Default)]
pub struct ProvenanceOptions {
    /// Licence and terms.
    pub licence: LicenceOptions,
    /// Base models and datasets.
    pub lineage: LineageOptions,
    /// A draft from `mlprov import`: its licence when none is given, its bases and datasets
    /// (by name, marked with their source) when no manifest of the same name is given.
    pub draft: Option<PathBuf>,
}

/// Reads a terms file: validated, errors name the file and line.
pub fn read_terms(path: &Path) -> Result<mlprov_terms::Terms> {
    // A terms file is a page of TOML; 1 MiB is far more than any agreement needs.
    let bytes = mlprov_formats::read_regular_file(path, 1 << 20)?;
    let text = String::from_utf8(bytes).map_err(|_| Error::input(path, "not UTF-8 text"))?;
    mlprov_terms::parse_terms(&text).map_err(|e| match e.line {
        Some(line) => Error::input(format!("{}:{line}", path.display()), e.message),
        None => Error::input(path, e.message),
    })
}

impl LicenceOptions {
    /// The manifest's licence section: the expression resolved through the knowledge base,
    /// the terms file read and validated.
    pub fn resolve(&self) -> Result<Licence> {
        let mut licence = Licence::default();
        if let Some(l) = &self.licence {
            let expr =
                mlprov_terms::resolve_licence(l).map_err(|e| Error::input("--license", e))?;
            licence.expression = Some(expr);
        }
        if let Some(path) = &self.terms {
            let terms = read_terms(path)?;
            licence.text_digest.clone_from(&terms.text_digest);
            let value =
                serde_json::to_value(&terms).map_err(|e| Error::input(path, e.to_string()))?;
            if let Value::Object(map) = value {
                licence.terms = Some(map);
            }
        }
        Ok(licence)
    }
}

impl LineageOptions {
    /// The manifest's lineage section: each manifest named by its digest and root.
    pub fn resolve(&self) -> Result<Lineage> {
        let mut lineage = Lineage::default();
        for (path, relation) in &self.bases {
            let node = LineageNode::read(path)?;
            lineage.derived_from.push(BaseModel {
                name: node.name,
                manifest: Some(node.digest),
                merkle_root: node.merkle_root,
                relation: *relation,
                lineage_test: None,
                extra: Default::default(),
            });
        }
        for (path, role) in &self.datasets {
            let node = LineageNode::read(path)?;
            lineage.trained_on.push(TrainingData {
                name: node.name,
                manifest: Some(node.digest),
                content_root: node.merkle_root,
                role: *role,
                share_permille: None,
                extra: Default::default(),
            });
        }
        Ok(lineage)
    }
}

impl ProvenanceOptions {
    /// Resolves every option (reading the files named) without writing anything.
    pub fn resolve(&self) -> Result<(Licence, Lineage)> {
        let mut licence = self.licence.resolve()?;
        let mut lineage = self.lineage.resolve()?;
        if let Some(path) = &self.draft {
            let draft = crate::import::read_draft(path)?;
            if licence.expression.is_none() {
                licence.expression = draft.licence.expression;
            }
            for b in draft.lineage.derived_from {
                if !lineage.derived_from.iter().any(|x| x.name == b.name) {
                    lineage.derived_from.push(b);
                }
            }
            for d in draft.lineage.trained_on {
                if !lineage.trained_on.iter().any(|x| x.name == d.name) {
                    lineage.trained_on.push(d);
                }
            }
        }
        Ok((licence, lineage))
    }

    /// Records the resolved sections in `manifest`.
    pub fn apply(&self, manifest: &mut Manifest) -> Result<()> {
        let (licence, lineage) = self.resolve()?;
        manifest.licence = licence;
        manifest.lineage = lineage;
        Ok(())
    }
}

/// Parses `PATH[:SUFFIX]` where SUFFIX parses as `T` (the last `:` wins only when what
/// follows it parses, so paths holding `:` still work); `default` without a suffix.
pub fn split_suffix<T: std::str::FromStr<Err = String>>(
    arg: &str,
    default: T,
) -> Result<(PathBuf, T), String> {
    if let Some((path, suffix)) = arg.rsplit_once(':') {
        if !suffix.contains('/') && !suffix.is_empty() {
            return match suffix.parse::<T>() {
                Ok(t) => Ok((PathBuf::from(path), t)),
                Err(e) if !Path::new(arg).exists() => Err(e),
                Err(_) => Ok((PathBuf::from(arg), default)),
            };
        }
    }
    Ok((PathBuf::from(arg), default))
}
