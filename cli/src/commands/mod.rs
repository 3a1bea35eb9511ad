//! One module per verb: each parses nothing and decides nothing; it calls one library
//! function of the `mlprov` application layer and prints the result.

pub mod compare;
pub mod convert;
pub mod dataset;
pub mod eval;
pub mod fingerprint;
pub mod hash;
pub mod inspect;
pub mod manifest;
pub mod verify;

use std::path::Path;

use anyhow::Result;
use mlprov::formats::Model;

use crate::output::warn_skipped;

/// Opens a model, failing with the file's own error on any unreadable weight file, and
/// tells the user about files left out.
fn open(path: &Path) -> Result<Model> {
    let model = mlprov::open(path)?;
    warn_skipped(&model.skipped);
    Ok(model)
}
