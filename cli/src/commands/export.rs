//! `mlprov export`: SPDX 3.0.1 or CycloneDX 1.6 from a manifest.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;
use mlprov::ExportFormat;

use crate::Outcome;

pub fn run(
    manifest: &Path,
    to: &str,
    output: Option<&Path>,
    force: bool,
    lineage: &[PathBuf],
) -> Result<Outcome> {
    let format = if to == "spdx" {
        ExportFormat::Spdx
    } else {
        ExportFormat::CycloneDx
    };
    if let Some(out) = output {
        mlprov::check_target(out, force)?;
    }
    let text = mlprov::export(manifest, lineage, format)?;
    match output {
        Some(out) => {
            mlprov::write_bytes(out, text.as_bytes())?;
            say!("wrote {}", out.display());
        }
        // JSON, escaped by the serializer: no control character reaches the terminal raw.
        None => std::io::stdout().lock().write_all(text.as_bytes())?,
    }
    Ok(Outcome::Fine)
}
