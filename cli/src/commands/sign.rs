//! `mlprov key generate`, `mlprov sign`, `mlprov verify-signature`.

use std::path::Path;

use anyhow::Result;
use serde_json::json;

use crate::output::{print_json, Terminal};
use crate::Outcome;

pub fn key_generate(output: &Path, algorithm: &str, force: bool, json: bool) -> Result<Outcome> {
    let algorithm = if algorithm == "ecdsa-p256" {
        mlprov::KeyAlgorithm::EcdsaP256
    } else {
        mlprov::KeyAlgorithm::Ed25519
    };
    let keys = mlprov::generate_key(output, algorithm, force)?;
    if json {
        print_json(&keys)?;
    } else {
        say!("private key: {} (keep it secret)", keys.private.display());
        say!("public key:  {}", keys.public.display());
        say!("key id:      {}", keys.key_id);
    }
    Ok(Outcome::Fine)
}

pub fn sign(
    manifest: &Path,
    key: &Path,
    output: &Path,
    force: bool,
    format: &str,
    model: Option<&Path>,
    json: bool,
) -> Result<Outcome> {
    let format = if format == "oms" {
        mlprov::SignFormat::Oms
    } else {
        mlprov::SignFormat::Dsse
    };
    let signed = mlprov::sign(manifest, key, output, force, format, model)?;
    if json {
        print_json(&signed)?;
    } else {
        say!(
            "signed {} ({} {}) with key {}: {}",
            manifest.display(),
            signed.name,
            signed.root,
            signed.key_id,
            signed.path.display()
        );
    }
    Ok(Outcome::Fine)
}

pub fn verify(
    signature: &Path,
    key: &Path,
    manifest: Option<&Path>,
    model: Option<&Path>,
    json: bool,
) -> Result<Outcome> {
    let check = mlprov::verify_signature(signature, key, manifest, model, &Terminal::default())?;
    if json {
        print_json(&json!({
            "signature": signature.display().to_string(),
            "valid": check.valid,
            "problems": check.problems,
            "subject": check.manifest.as_ref().map(|m| json!({"name": m.subject.name, "merkle_root": m.merkle_root})),
            "model_checked": check.model.is_some() || (check.oms.is_some() && model.is_some()),
            "oms": check.oms.as_ref().map(|(n, f)| json!({"name": n, "files": f})),
        }))?;
    } else {
        if let Some(m) = &check.manifest {
            say!(
                "signed manifest: {} (root {})",
                m.subject.name,
                m.merkle_root
            );
        }
        if let Some((name, files)) = &check.oms {
            say!("OpenSSF model-signing bundle: {name} ({files} files signed)");
        }
        if let Some(v) = &check.model {
            say!("model re-hashed: {}", v.target.display());
        }
        for p in &check.problems {
            say!("FAILED: {p}");
        }
        if check.valid {
            say!("verify-signature: OK");
        } else {
            say!("verify-signature: FAILED");
        }
    }
    Ok(if check.valid {
        Outcome::Fine
    } else {
        Outcome::Finding
    })
}
