//! `mlprov graph`: the lineage as DOT, SVG or HTML.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;
use mlprov::terms::Query;
use mlprov::GraphFormat;

use crate::Outcome;

pub fn run(
    manifest: &Path,
    lineage: &[PathBuf],
    format: &str,
    query: Option<&Query>,
    output: Option<&Path>,
    force: bool,
) -> Result<Outcome> {
    let format = match format {
        "svg" => GraphFormat::Svg,
        "html" => GraphFormat::Html,
        _ => GraphFormat::Dot,
    };
    if let Some(out) = output {
        mlprov::check_target(out, force)?;
    }
    let text = mlprov::graph(manifest, lineage, query, format)?;
    match output {
        Some(out) => {
            mlprov::write_bytes(out, text.as_bytes())?;
            say!("wrote {}", out.display());
        }
        // Every name in the text is escaped for its format (DOT, SVG, HTML).
        None => std::io::stdout().lock().write_all(text.as_bytes())?,
    }
    Ok(Outcome::Fine)
}
