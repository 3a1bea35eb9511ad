//! One module per verb: each parses nothing and decides nothing; it calls one library
//! function of the `mlprov` application layer and prints the result.

pub mod audit;
pub mod check;
pub mod compare;
pub mod convert;
pub mod dataset;
pub mod eval;
pub mod export;
pub mod fingerprint;
pub mod graph;
pub mod hash;
pub mod import;
pub mod inspect;
pub mod manifest;
pub mod register;
pub mod scan;
pub mod sign;
pub mod terms;
pub mod verify;

use std::path::Path;
use std::sync::OnceLock;

use anyhow::Result;
use mlprov::formats::{Model, OpenOptions};

use crate::output::warn_skipped;

/// How every command opens models (the memory budget), set once from the global flags.
static OPTIONS: OnceLock<OpenOptions> = OnceLock::new();

/// Sets the options every command opens models with.
pub fn set_open_options(options: OpenOptions) {
    let _ = OPTIONS.set(options);
}

/// The options models are opened with.
pub fn options() -> OpenOptions {
    OPTIONS.get().copied().unwrap_or_default()
}

/// Opens a model, failing with the file's own error on any unreadable weight file, and
/// tells the user about files left out.
fn open(path: &Path) -> Result<Model> {
    let model = mlprov::open_with(path, options())?;
    warn_skipped(&model.skipped);
    Ok(model)
}
