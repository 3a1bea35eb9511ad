//! `mlprov manifest`: write the provenance manifest of a model.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};
use serde_json::json;

use crate::output::{print_json, Terminal};
use crate::Outcome;

/// `--license` and `--terms`: every command that writes a manifest takes them.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct LicenceArgs {
    /// Licence: an SPDX expression, or a Hugging Face licence id (llama3.1, gemma, openrail++, ...).
    #[arg(long = "license", visible_alias = "licence", value_name = "EXPR")]
    pub license: Option<String>,
    /// The agreed terms: a TOML terms file (`mlprov terms init` writes one).
    #[arg(long, value_name = "TERMS.toml")]
    pub terms: Option<PathBuf>,
}

impl LicenceArgs {
    /// The library options.
    pub fn options(&self) -> mlprov::LicenceOptions {
        mlprov::LicenceOptions {
            licence: self.license.clone(),
            terms: self.terms.clone(),
        }
    }
}

/// `--base` and `--dataset`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct LineageArgs {
    /// A base model's manifest, and how this model derives from it (finetune, adapter,
    /// merge, quantized, distilled, pruned, converted; default finetune). Repeatable.
    #[arg(long = "base", value_name = "MANIFEST[:RELATION]")]
    pub bases: Vec<String>,
    /// A dataset's manifest, and its role (train, validation, test; default train). Repeatable.
    #[arg(long = "dataset", value_name = "MANIFEST[:ROLE]")]
    pub datasets: Vec<String>,
    /// A draft from `mlprov import` (model card or Croissant): its licence when --license is
    /// not given, its bases and datasets by hub id (claimed, not linked by digest).
    #[arg(long, value_name = "DRAFT.json")]
    pub draft: Option<PathBuf>,
    /// Run the lineage test between each --base model (found beside its manifest) and this
    /// model, and record the verdict and p-value.
    #[arg(long)]
    pub compare_bases: bool,
}

impl LineageArgs {
    /// The library options.
    pub fn options(&self) -> Result<mlprov::LineageOptions> {
        use mlprov::manifest::{Relation, Role};
        let bases = self
            .bases
            .iter()
            .map(|b| {
                mlprov::split_suffix(b, Relation::Finetune).map_err(|e| anyhow!("--base {b}: {e}"))
            })
            .collect::<Result<_>>()?;
        let datasets = self
            .datasets
            .iter()
            .map(|d| {
                mlprov::split_suffix(d, Role::Train).map_err(|e| anyhow!("--dataset {d}: {e}"))
            })
            .collect::<Result<_>>()?;
        Ok(mlprov::LineageOptions {
            bases,
            datasets,
            compare_bases: self.compare_bases,
        })
    }
}

pub fn run(
    path: &Path,
    output: &Path,
    force: bool,
    licence: &LicenceArgs,
    lineage: &LineageArgs,
    json: bool,
) -> Result<Outcome> {
    let provenance = mlprov::ProvenanceOptions {
        licence: licence.options(),
        lineage: lineage.options()?,
        draft: lineage.draft.clone(),
    };
    // Refuse an existing output before reading the model.
    mlprov::check_target(output, force)?;
    let model = super::open(path)?;
    let written =
        mlprov::write_manifest_with(&model, output, force, &provenance, &Terminal::default())?;
    let m = &written.manifest;
    if json {
        print_json(&json!({
            "manifest": output.display().to_string(),
            "files": m.files.len(),
            "tensors": m.tensors.len(),
            "merkle_root": m.merkle_root,
            "licence": m.licence,
            "lineage": m.lineage,
        }))?;
    } else {
        say!(
            "wrote {} ({} files, {} tensors, root {})",
            output.display(),
            m.files.len(),
            m.tensors.len(),
            m.merkle_root
        );
        if let Some(e) = &m.licence.expression {
            say!("licence: {e}");
        }
        if m.licence.terms.is_some() {
            say!("terms: recorded");
        }
        for b in &m.lineage.derived_from {
            match &b.lineage_test {
                Some(t) => say!(
                    "derived from: {} ({}; lineage test: {}, log10 p = {})",
                    b.name,
                    b.relation.name(),
                    t.verdict,
                    t.log10_p
                ),
                None => say!("derived from: {} ({})", b.name, b.relation.name()),
            }
        }
        for d in &m.lineage.trained_on {
            say!("trained on: {} ({})", d.name, d.role.name());
        }
    }
    Ok(Outcome::Fine)
}
