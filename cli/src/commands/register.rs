//! `mlprov register`: store a model (manifest, digests, fingerprint) or a dataset
//! (manifest, root, file digests) in the registry.

use std::path::Path;

use anyhow::Result;
use mlprov::RegisterOptions;

use crate::output::{human_bytes, print_json, Terminal};
use crate::Outcome;

pub fn run(
    path: &Path,
    registry: Option<&str>,
    options: &RegisterOptions,
    json: bool,
) -> Result<Outcome> {
    let mut store = mlprov::open_registry(registry)?;
    let r = mlprov::register(store.as_mut(), path, options, &Terminal::default())?;
    if json {
        print_json(&r)?;
    } else {
        match r.kind {
            mlprov::registry::AssetKind::Model => say!(
                "registered asset {}: {} ({} tensors, root {}, fingerprint {}{}) in {}",
                r.asset,
                r.name,
                r.tensors,
                r.root,
                human_bytes(r.fingerprint_bytes),
                if r.signed { ", manifest signed" } else { "" },
                r.registry
            ),
            mlprov::registry::AssetKind::Dataset => say!(
                "registered asset {}: dataset {} (root {}{}) in {}",
                r.asset,
                r.name,
                r.root,
                if r.signed { ", manifest signed" } else { "" },
                r.registry
            ),
        }
        if let Some(hint) = &r.base_hint {
            say!(
                "note: it records no base, and looks derived from registered asset {} ({}); \
                 if that is its base, register it again with `--base` and that model's manifest, \
                 so scans can tell its siblings from its children",
                hint.asset,
                mlprov::printable(&hint.name)
            );
        }
    }
    Ok(Outcome::Fine)
}
