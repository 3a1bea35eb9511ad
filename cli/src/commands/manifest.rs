//! `mlprov manifest`: write the provenance manifest of a model.

use std::path::Path;

use anyhow::Result;
use serde_json::json;

use crate::output::{print_json, Terminal};
use crate::Outcome;

pub fn run(path: &Path, output: &Path, force: bool, json: bool) -> Result<Outcome> {
    // Refuse an existing output before reading the model.
    mlprov::check_target(output, force)?;
    let model = super::open(path)?;
    let written = mlprov::write_manifest(&model, output, force, &Terminal::default())?;
    let m = &written.manifest;
    if json {
        print_json(&json!({
            "manifest": output.display().to_string(),
            "files": m.files.len(),
            "tensors": m.tensors.len(),
            "merkle_root": m.merkle_root,
        }))?;
    } else {
        say!(
            "wrote {} ({} files, {} tensors, root {})",
            output.display(),
            m.files.len(),
            m.tensors.len(),
            m.merkle_root
        );
    }
    Ok(Outcome::Fine)
}
