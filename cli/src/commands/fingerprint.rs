//! `mlprov fingerprint`: per-tensor sketches and SimHash keys, and the model's lookup key size.

use std::path::Path;

use anyhow::Result;
use mlprov::fingerprint::SKETCH_VERSION;
use serde_json::json;

use crate::output::{print_json, shape, Terminal};
use crate::Outcome;

pub fn run(path: &Path, invariants: bool, json: bool) -> Result<Outcome> {
    let model = super::open(path)?;
    let fp = mlprov::fingerprint(&model, invariants, &Terminal::default())?;
    if json {
        print_json(&json!({
            "path": path.display().to_string(),
            "sketch": SKETCH_VERSION,
            "tensors": fp.tensors,
            "skipped": fp.skipped,
            "anchors": fp.anchors,
            "lookup_key_bytes": fp.lookup_key_bytes(),
        }))?;
        return Ok(Outcome::Fine);
    }
    let name_w = fp
        .tensors
        .iter()
        .map(|t| t.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    say!(
        "{:<name_w$}  {:<7}  {:<16}  SIMHASH",
        "NAME",
        "DTYPE",
        "SHAPE"
    );
    for t in &fp.tensors {
        say!(
            "{:<name_w$}  {:<7}  {:<16}  {}",
            t.name,
            t.dtype,
            shape(&t.shape),
            t.simhash.hex()
        );
    }
    for s in &fp.skipped {
        say!("{:<name_w$}  skipped: {}", s.name, s.reason);
    }
    if let Some(a) = &fp.anchors {
        let n = fp.tensors.iter().filter(|t| t.anchored.is_some()).count();
        say!(
            "anchored kernels: {n} residual-stream matrices over {} anchor tokens of {} (width {})",
            a.ids.len(),
            a.embedding,
            a.width
        );
    }
    say!(
        "fingerprint: {} tensors sketched, {} skipped, lookup key {} bytes",
        fp.tensors.len(),
        fp.skipped.len(),
        fp.lookup_key_bytes()
    );
    Ok(Outcome::Fine)
}
