//! `mlprov hash`: file digests, tensor digests, Merkle root, and proofs.

use std::path::Path;

use anyhow::{anyhow, Result};
use serde_json::json;

use crate::output::{print_json, Terminal};
use crate::Outcome;

pub fn run(path: &Path, plain: bool, proof: Option<&str>, json: bool) -> Result<Outcome> {
    let model = super::open(path)?;
    let digests = mlprov::hash(&model, plain, &Terminal::default())?;

    if let Some(name) = proof {
        let p = digests
            .proof(None, name)
            .ok_or_else(|| anyhow!("{}: no tensor named `{name}`", path.display()))?;
        if json {
            print_json(&json!({"root": digests.root, "proof": p}))?;
        } else {
            say!("tensor  {name}");
            say!("leaf    {}", p.leaf);
            say!("index   {} of {}", p.index, p.size);
            for (i, step) in p.path.iter().enumerate() {
                say!("path[{i}] {step}");
            }
            say!("root    {}", digests.root);
        }
        return Ok(Outcome::Fine);
    }

    if json {
        print_json(&json!({
            "path": path.display().to_string(),
            "layout": model.layout.name(),
            "files": digests.files,
            "root": digests.root,
        }))?;
        return Ok(Outcome::Fine);
    }
    for f in &digests.files {
        say!("{}  {}  ({} bytes, {})", f.digest, f.path, f.size, f.format);
        for t in &f.tensors {
            say!("  {}  {}", t.digest, t.name);
        }
    }
    say!("root {}", digests.root);
    if plain {
        say!("plain BLAKE3 (as b3sum prints it):");
        for f in &digests.files {
            if let Some(p) = f.plain {
                say!("{}  {}", p.hex(), f.path);
            }
        }
    }
    Ok(Outcome::Fine)
}
