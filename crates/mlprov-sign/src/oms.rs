//! OpenSSF model signing (OMS) v1.0 with a key: a Sigstore bundle v0.3 holding a DSSE
//! envelope over an in-toto Statement whose predicate lists every file of the model with
//! its SHA-256, signed with ECDSA P-256 (SHA-256, DER signature). Bundles made here verify
//! with `model_signing verify key`, and bundles made by `model_signing sign key` verify here.

use std::fs;
use std::io::Read;
use std::path::Path;

use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{DerSignature, Signature, SigningKey, VerifyingKey};
use p256::pkcs8::der::pem::LineEnding;
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use crate::dsse::{b64, pae, unb64, IN_TOTO_PAYLOAD_TYPE};
use crate::ed25519::{hex, STATEMENT_TYPE};
use crate::SignError;

/// The Sigstore bundle media type OMS writes.
pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// The OMS predicate type.
pub const PREDICATE_TYPE: &str = "https://model_signing/signature/v1.0";
/// The Sigstore bundle media types accepted.
const KNOWN_MEDIA_TYPES: [&str; 3] = [
    BUNDLE_MEDIA_TYPE,
    "application/vnd.dev.sigstore.bundle+json;version=0.2",
    "application/vnd.dev.sigstore.bundle+json;version=0.1",
];
/// Paths OMS leaves out of a model by default.
pub const IGNORED: [&str; 4] = [".github", ".git", ".gitignore", ".gitattributes"];

/// A new ECDSA P-256 key pair: private key PKCS#8 PEM, public key SPKI PEM.
pub fn generate() -> Result<(String, String), SignError> {
    loop {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| SignError::Key(format!("no randomness: {e}")))?;
        // A value outside the group order (probability about 2^-32) is drawn again.
        let Ok(key) = SigningKey::from_slice(&bytes) else {
            continue;
        };
        bytes.fill(0);
        let private = key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| SignError::Key(e.to_string()))?;
        let public = key
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| SignError::Key(e.to_string()))?;
        return Ok((private.to_string(), public));
    }
}

/// Reads an ECDSA P-256 private key (PKCS#8 PEM).
pub fn read_private(pem: &str) -> Result<SigningKey, SignError> {
    SigningKey::from_pkcs8_pem(pem)
        .map_err(|e| SignError::Key(format!("not an ECDSA P-256 private key (PKCS#8 PEM): {e}")))
}

/// Reads an ECDSA P-256 public key (SPKI PEM).
pub fn read_public(pem: &str) -> Result<VerifyingKey, SignError> {
    VerifyingKey::from_public_key_pem(pem)
        .map_err(|e| SignError::Key(format!("not an ECDSA P-256 public key (SPKI PEM): {e}")))
}

/// The OMS key hint: hex SHA-256 of the public key's SPKI PEM text.
pub fn key_hint(key: &VerifyingKey) -> String {
    match key.to_public_key_pem(LineEnding::LF) {
        Ok(pem) => hex(&Sha256::digest(pem.as_bytes())),
        Err(_) => String::new(),
    }
}

/// One file of a model and its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// POSIX path relative to the model root (a single-file model: its file name).
    pub name: String,
    /// SHA-256 of its bytes.
    pub sha256: [u8; 32],
}

/// Every file of the model at `root` (a folder, or one file) with its SHA-256, sorted by
/// name, leaving out OMS's ignored paths and `skip` (the signature file, when inside).
/// Symbolic links are refused, as OMS refuses them by default.
pub fn hash_model_files(root: &Path, skip: Option<&Path>) -> Result<Vec<Resource>, std::io::Error> {
    let mut out = Vec::new();
    let meta = fs::symlink_metadata(root)?;
    if meta.is_file() {
        let name = root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.push(Resource {
            name,
            sha256: sha256_file(root)?,
        });
        return Ok(out);
    }
    let skip = skip.and_then(|s| fs::canonicalize(s).ok());
    walk(root, root, skip.as_deref(), &mut out)?;
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn walk(
    root: &Path,
    dir: &Path,
    skip: Option<&Path>,
    out: &mut Vec<Resource>,
) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let rel = path
            .strip_prefix(root)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let name: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if name.first().is_some_and(|n| IGNORED.contains(&n.as_str())) {
            continue;
        }
        if skip.is_some_and(|s| fs::canonicalize(&path).ok().as_deref() == Some(s)) {
            continue;
        }
        let ft = entry.file_type()?;
        if ft.is_symlink() {
            return Err(std::io::Error::other(format!(
                "{}: symbolic links are not signed",
                path.display()
            )));
        } else if ft.is_dir() {
            walk(root, &path, skip, out)?;
        } else if ft.is_file() {
            out.push(Resource {
                name: name.join("/"),
                sha256: sha256_file(&path)?,
            });
        }
    }
    Ok(())
}

fn sha256_file(path: &Path) -> std::io::Result<[u8; 32]> {
    let mut f = fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().into())
}

/// The OMS statement for a model: subject its name and the SHA-256 over the concatenated
/// file digests (in name order), predicate every file.
pub fn statement(model_name: &str, resources: &[Resource]) -> Value {
    let mut all = Sha256::new();
    for r in resources {
        all.update(r.sha256);
    }
    let items: Vec<Value> = resources
        .iter()
        .map(|r| json!({"name": r.name, "algorithm": "sha256", "digest": hex(&r.sha256)}))
        .collect();
    json!({
        "_type": STATEMENT_TYPE,
        "subject": [{"name": model_name, "digest": {"sha256": hex(&all.finalize())}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "serialization": {
                "method": "files",
                "hash_type": "sha256",
                "allow_symlinks": false,
                "ignore_paths": IGNORED,
            },
            "resources": items,
        }
    })
}

/// Signs a statement into an OMS bundle.
pub fn sign(key: &SigningKey, statement: &Value) -> Value {
    let payload = serde_json::to_vec_pretty(statement).unwrap_or_default();
    let sig: Signature = key.sign(&pae(IN_TOTO_PAYLOAD_TYPE, &payload));
    let der: DerSignature = sig.to_der();
    json!({
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": {
            "publicKey": {"hint": key_hint(key.verifying_key())},
            "tlogEntries": [],
        },
        "dsseEnvelope": {
            "payload": b64(&payload),
            "payloadType": IN_TOTO_PAYLOAD_TYPE,
            "signatures": [{"sig": b64(der.as_bytes()), "keyid": ""}],
        }
    })
}

/// The shape of a key-signed bundle; any other field is refused, as the reference
/// tool's protobuf reader refuses it.
mod shape {
    use serde::Deserialize;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    pub struct Bundle {
        pub media_type: String,
        pub verification_material: Material,
        pub dsse_envelope: crate::dsse::Envelope,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    pub struct Material {
        pub public_key: Option<Hint>,
        #[serde(default)]
        pub tlog_entries: Vec<serde_json::Value>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Hint {
        #[serde(default)]
        pub hint: String,
    }
}

/// Checks an OMS bundle's signature with `key`; returns the statement it carries.
pub fn verify(bundle: &Value, key: &VerifyingKey) -> Result<Value, SignError> {
    let bad = |m: &str| SignError::Invalid(m.to_string());
    let shaped: shape::Bundle = serde_json::from_value(bundle.clone())
        .map_err(|e| SignError::Invalid(format!("not a key-signed Sigstore bundle: {e}")))?;
    if !shaped.verification_material.tlog_entries.is_empty() {
        return Err(bad(
            "transparency-log entries are not checked by this verifier",
        ));
    }
    if !KNOWN_MEDIA_TYPES.contains(&shaped.media_type.as_str()) {
        return Err(bad("not a Sigstore bundle of a known version"));
    }
    if let Some(h) = &shaped.verification_material.public_key {
        if !h.hint.is_empty() && h.hint != key_hint(key) {
            return Err(bad("the bundle names another public key (hint mismatch)"));
        }
    }
    let env = &shaped.dsse_envelope;
    if env.payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(bad("the envelope does not carry an in-toto statement"));
    }
    let payload = env.payload_bytes()?;
    let [one] = env.signatures.as_slice() else {
        return Err(bad("a bundle carries exactly one signature"));
    };
    if !one.keyid.is_empty() {
        return Err(bad("a key-signed bundle has an empty key id"));
    }
    let der = unb64(&one.sig, "the signature")?;
    let sig =
        Signature::from_der(&der).map_err(|_| bad("the signature is not a DER ECDSA signature"))?;
    key.verify(&pae(IN_TOTO_PAYLOAD_TYPE, &payload), &sig)
        .map_err(|_| bad("the signature does not verify with this key: the signed statement was changed, or another key signed it"))?;
    let statement: Value = serde_json::from_slice(&payload)
        .map_err(|e| SignError::Invalid(format!("the signed payload is not JSON: {e}")))?;
    if statement["predicateType"] != PREDICATE_TYPE {
        return Err(bad(
            "the statement is not an OpenSSF model-signing v1.0 statement",
        ));
    }
    Ok(statement)
}

/// Compares the files of a model with a verified statement: every file signed, with the
/// same digest, none missing, none added; and the subject digest over them.
pub fn check_files(statement: &Value, resources: &[Resource]) -> Vec<String> {
    let mut problems = Vec::new();
    let method = &statement["predicate"]["serialization"]["method"];
    if method != "files" {
        problems.push(format!(
            "serialization method {method} is not supported (files only)"
        ));
        return problems;
    }
    let signed: Vec<(String, String)> = statement["predicate"]["resources"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| {
                    (
                        r["name"].as_str().unwrap_or("").to_string(),
                        r["digest"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    for (name, digest) in &signed {
        match resources.iter().find(|r| &r.name == name) {
            None => problems.push(format!("{name}: signed, missing now")),
            Some(r) if &hex(&r.sha256) != digest => {
                problems.push(format!("{name}: changed since it was signed"))
            }
            Some(_) => {}
        }
    }
    for r in resources {
        if !signed.iter().any(|(n, _)| n == &r.name) {
            problems.push(format!("{}: not covered by the signature", r.name));
        }
    }
    if problems.is_empty() {
        let mut all = Sha256::new();
        for r in resources {
            all.update(r.sha256);
        }
        if statement["subject"][0]["digest"]["sha256"] != hex(&all.finalize()).as_str() {
            problems.push("the subject digest does not match the files".into());
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_tamper() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a.bin"), b"weights").unwrap();
        fs::create_dir(dir.path().join("sub")).unwrap();
        fs::write(dir.path().join("sub/config.json"), b"{}").unwrap();
        fs::create_dir(dir.path().join(".git")).unwrap();
        fs::write(dir.path().join(".git/HEAD"), b"x").unwrap();
        let res = hash_model_files(dir.path(), None).unwrap();
        assert_eq!(
            res.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
            ["a.bin", "sub/config.json"]
        );
        let (private, public) = generate().unwrap();
        let key = read_private(&private).unwrap();
        let pubkey = read_public(&public).unwrap();
        let bundle = sign(&key, &statement("m", &res));
        let st = verify(&bundle, &pubkey).unwrap();
        assert!(check_files(&st, &res).is_empty());
        fs::write(dir.path().join("a.bin"), b"weightz").unwrap();
        let now = hash_model_files(dir.path(), None).unwrap();
        assert_eq!(
            check_files(&st, &now),
            ["a.bin: changed since it was signed"]
        );
        let (_, other) = generate().unwrap();
        assert!(verify(&bundle, &read_public(&other).unwrap()).is_err());
        let mut b = bundle.clone();
        b["dsseEnvelope"]["payload"] = b64(b"{}").into();
        assert!(verify(&b, &pubkey).is_err());
    }
}
