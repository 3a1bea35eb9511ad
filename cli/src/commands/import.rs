//! `mlprov import`: a manifest draft from a model card or Croissant metadata.

use std::io::Write;
use std::path::Path;

use anyhow::Result;

use crate::output::warn_line;
use crate::Outcome;

pub fn run(file: &Path, output: Option<&Path>, force: bool) -> Result<Outcome> {
    if let Some(out) = output {
        mlprov::check_target(out, force)?;
    }
    let draft = mlprov::import(file)?;
    let text = format!("{}\n", serde_json::to_string_pretty(&draft)?);
    for n in &draft.notes {
        warn_line(format_args!("mlprov: note: {n}"));
    }
    match output {
        Some(out) => {
            mlprov::write_bytes(out, text.as_bytes())?;
            say!("wrote {}", out.display());
        }
        // JSON, escaped by the serializer.
        None => std::io::stdout().lock().write_all(text.as_bytes())?,
    }
    Ok(Outcome::Fine)
}
