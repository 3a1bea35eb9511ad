//! One module per verb.

pub mod compare;
pub mod convert;
pub mod eval;
pub mod fingerprint;
pub mod hash;
pub mod inspect;
pub mod manifest;
pub mod verify;

use std::path::Path;

use anyhow::Result;
use mlprov_formats::{open_model, Model, OpenOptions};
use mlprov_hash::{hash_model, HashOptions, ModelDigest};

use crate::output::{byte_progress, warn_skipped};

/// Opens a model, failing with the file's own error on any unreadable weight file.
fn open(path: &Path) -> Result<Model> {
    let model = open_model(path, OpenOptions::default())?;
    warn_skipped(&model);
    Ok(model)
}

/// Hashes a model with a progress bar when stderr is a terminal.
fn hash_with_progress(model: &Model, plain: bool) -> ModelDigest {
    let bytes = mlprov_hash::bytes_to_hash(model);
    let total = if plain { bytes * 2 } else { bytes };
    let bar = byte_progress(total, "hashing");
    let tick = |n: u64| {
        if let Some(b) = &bar {
            b.inc(n);
        }
    };
    let digests = hash_model(
        model,
        HashOptions {
            plain,
            progress: bar.as_ref().map(|_| &tick as &(dyn Fn(u64) + Sync)),
        },
    );
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    digests
}
