//! `mlprov convert INPUT -o OUTPUT.safetensors`: any readable model as safetensors.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Result};
use clap::ValueEnum;
use mlprov_formats::{write_safetensors, ConvertDtype};
use serde_json::json;

use crate::output::print_json;
use crate::Outcome;

/// `--dtype` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DtypeArg {
    /// The original dtype where safetensors has it; F32 for block-quantized types.
    Keep,
    /// Everything as F32; quantized tensors with a linked scale as their real values.
    F32,
}

pub fn run(
    input: &Path,
    output: &Path,
    dtype: DtypeArg,
    force: bool,
    json: bool,
) -> Result<Outcome> {
    crate::atomic::check_target(output, force)?;
    let model = super::open(input)?;
    let inputs: Vec<_> = model
        .files
        .iter()
        .filter_map(|f| f.file.path().canonicalize().ok())
        .collect();
    if output.canonicalize().is_ok_and(|o| inputs.contains(&o)) {
        bail!(
            "{}: is the model being converted; choose another output",
            output.display()
        );
    }
    let digests = super::hash_with_progress(&model, false);
    let formats: Vec<String> = model
        .files
        .iter()
        .map(|f| f.file.format().description())
        .collect();
    let metadata = BTreeMap::from([
        ("mlprov.source_name".to_string(), model.name()),
        ("mlprov.source_format".to_string(), formats.join(", ")),
        (
            "mlprov.source_merkle_root".to_string(),
            digests.root.to_string(),
        ),
        (
            "mlprov.tool".to_string(),
            format!("mlprov {}", env!("CARGO_PKG_VERSION")),
        ),
    ]);
    let mode = match dtype {
        DtypeArg::Keep => ConvertDtype::Keep,
        DtypeArg::F32 => ConvertDtype::F32,
    };
    let report = crate::atomic::replace_with(output, |tmp| {
        Ok(write_safetensors(&model, tmp, mode, metadata.clone())?)
    })?;
    for s in &report.skipped {
        eprintln!("mlprov: warning: not converted (no decoder, no safetensors dtype): {s}");
    }
    if json {
        print_json(&json!({
            "input": input.display().to_string(),
            "output": output.display().to_string(),
            "tensors": report.tensors,
            "decoded_to_f32": report.decoded,
            "renamed": report.renamed,
            "skipped": report.skipped,
            "source_merkle_root": digests.root,
        }))?;
    } else {
        println!(
            "wrote {} ({} tensors, {} decoded to F32, {} renamed, {} skipped; source root {})",
            output.display(),
            report.tensors,
            report.decoded,
            report.renamed.len(),
            report.skipped.len(),
            digests.root
        );
    }
    Ok(Outcome::Fine)
}
