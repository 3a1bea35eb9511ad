//! `mlprov convert INPUT -o OUTPUT.safetensors`: any readable model as safetensors.

use std::path::Path;

use anyhow::Result;
use clap::ValueEnum;
use mlprov::formats::ConvertDtype;
use mlprov::ConvertOptions;
use serde_json::json;

use crate::output::{print_json, Terminal};
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
    skip_undecodable: bool,
    force: bool,
    json: bool,
) -> Result<Outcome> {
    // Refuse an existing output before reading the model.
    mlprov::check_target(output, force)?;
    let model = super::open(input)?;
    let options = ConvertOptions {
        dtype: match dtype {
            DtypeArg::Keep => ConvertDtype::Keep,
            DtypeArg::F32 => ConvertDtype::F32,
        },
        skip_undecodable,
        force,
    };
    let done = mlprov::convert(&model, output, options, &Terminal::default())?;
    let report = &done.report;
    for s in &report.skipped {
        crate::output::warn_line(format_args!(
            "mlprov: warning: not converted (no decoder, no safetensors dtype): {s}"
        ));
    }
    if json {
        print_json(&json!({
            "input": input.display().to_string(),
            "output": output.display().to_string(),
            "tensors": report.tensors,
            "decoded_to_f32": report.decoded,
            "renamed": report.renamed,
            "skipped": report.skipped,
            "source_merkle_root": done.source_root,
        }))?;
    } else {
        say!(
            "wrote {} ({} tensors, {} decoded to F32, {} renamed, {} skipped; source root {})",
            output.display(),
            report.tensors,
            report.decoded,
            report.renamed.len(),
            report.skipped.len(),
            done.source_root
        );
    }
    Ok(Outcome::Fine)
}
