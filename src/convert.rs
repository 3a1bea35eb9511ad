//! `convert`: any readable model as one safetensors file, its provenance in the metadata.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mlprov_formats::{write_safetensors_with, ConvertDtype, ConvertReport, Model};
use mlprov_hash::Digest;

use crate::error::{Error, Result};
use crate::output_file::{check_target, replace_with};
use crate::progress::Progress;

/// How to convert.
#[derive(Debug, Clone, Copy)]
pub struct ConvertOptions {
    /// Keep each tensor's dtype where safetensors has it, or write everything as F32.
    pub dtype: ConvertDtype,
    /// Leave out tensors that can be neither decoded nor stored (listed in the report);
    /// without it such a tensor fails the conversion, naming it.
    pub skip_undecodable: bool,
    /// Replace an existing output file.
    pub force: bool,
}

/// What [`convert`] wrote.
#[derive(Debug, Clone)]
pub struct Converted {
    /// The safetensors file written.
    pub output: PathBuf,
    /// Tensors written, decoded, renamed and left out.
    pub report: ConvertReport,
    /// Merkle root of the source model (also in the output's metadata).
    pub source_root: Digest,
}

/// Writes `model` as one safetensors file at `output`, atomically; the source's name,
/// format and Merkle root go into the file's metadata.
pub fn convert(
    model: &Model,
    output: &Path,
    options: ConvertOptions,
    progress: &dyn Progress,
) -> Result<Converted> {
    check_target(output, options.force)?;
    let inputs: Vec<_> = model
        .files
        .iter()
        .filter_map(|f| f.file.path().canonicalize().ok())
        .collect();
    if output.canonicalize().is_ok_and(|o| inputs.contains(&o)) {
        return Err(Error::input(
            output,
            "is the model being converted; choose another output",
        ));
    }
    let digests = crate::hash(model, false, progress)?;
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
    let report = replace_with(output, |tmp| {
        let format_options = mlprov_formats::ConvertOptions {
            dtype: options.dtype,
            skip_undecodable: options.skip_undecodable,
        };
        Ok(write_safetensors_with(
            model,
            tmp,
            format_options,
            metadata,
        )?)
    })?;
    Ok(Converted {
        output: output.to_path_buf(),
        report,
        source_root: digests.root,
    })
}
