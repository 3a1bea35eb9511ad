//! `key generate`, `sign`, `verify-signature`: a DSSE envelope over an in-toto Statement
//! v1 whose subject is the model (name, Merkle root) and whose predicate is its manifest,
//! signed with ed25519.

use std::path::{Path, PathBuf};

use mlprov_hash::Digest;
use mlprov_manifest::{to_canonical_json, Manifest};
use mlprov_sign::dsse::Envelope;
use mlprov_sign::ed25519::{self, MANIFEST_PREDICATE, STATEMENT_TYPE};
use mlprov_sign::oms;
use mlprov_sign::SignError;
use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::lineage::LineageNode;
use crate::output_file::{check_target, write_bytes};
use crate::progress::Progress;
use mlprov_formats::read_regular_file;

use crate::verify::{subject_beside, verify_against, Verification, MAX_MANIFEST_BYTES};

/// The files [`generate_key`] wrote.
#[derive(Debug, Clone, Serialize)]
pub struct KeyFiles {
    /// The private key (PKCS#8 PEM, readable by its owner only).
    pub private: PathBuf,
    /// The public key (SPKI PEM): `private` with `.pub` appended.
    pub public: PathBuf,
    /// The algorithm.
    pub algorithm: KeyAlgorithm,
    /// The key id (hex SHA-256 of the public key's DER).
    pub key_id: String,
}

/// `PATH.pub`.
pub fn public_key_path(private: &Path) -> PathBuf {
    let mut s = private.as_os_str().to_os_string();
    s.push(".pub");
    PathBuf::from(s)
}

/// A signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyAlgorithm {
    /// ed25519: mlprov's own DSSE signatures.
    Ed25519,
    /// ECDSA over P-256: OpenSSF model-signing bundles.
    EcdsaP256,
}

/// A signature format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignFormat {
    /// A DSSE envelope over an in-toto Statement carrying the manifest (ed25519 key).
    Dsse,
    /// An OpenSSF model-signing v1.0 bundle over the model's files (ECDSA P-256 key).
    Oms,
}

/// Writes a new key pair: the private key (PKCS#8 PEM) at `output`, the public key (SPKI
/// PEM) at `output.pub`; existing files are replaced only with `force`.
pub fn generate_key(output: &Path, algorithm: KeyAlgorithm, force: bool) -> Result<KeyFiles> {
    let public = public_key_path(output);
    check_target(output, force)?;
    check_target(&public, force)?;
    let (private_pem, public_pem) = match algorithm {
        KeyAlgorithm::Ed25519 => ed25519::generate(),
        KeyAlgorithm::EcdsaP256 => oms::generate(),
    }
    .map_err(|e| Error::input(output, e.to_string()))?;
    // The temporary file is created 0600 and renamed into place, so the key is never
    // readable by others, not even for a moment.
    write_bytes(output, private_pem.as_bytes())?;
    write_bytes(&public, public_pem.as_bytes())?;
    let key_id = match algorithm {
        KeyAlgorithm::Ed25519 => ed25519::read_public(&public_pem).map(|k| ed25519::key_id(&k)),
        KeyAlgorithm::EcdsaP256 => oms::read_public(&public_pem).map(|k| oms::key_hint(&k)),
    }
    .map_err(|e| Error::input(&public, e.to_string()))?;
    Ok(KeyFiles {
        private: output.to_path_buf(),
        public,
        algorithm,
        key_id,
    })
}

fn read_text(path: &Path, max: u64) -> Result<String> {
    let bytes = read_regular_file(path, max)?;
    String::from_utf8(bytes).map_err(|_| Error::input(path, "not UTF-8 text"))
}

/// What [`sign`] wrote.
#[derive(Debug, Clone, Serialize)]
pub struct Signed {
    /// The signature file (a DSSE envelope, JSON).
    pub path: PathBuf,
    /// The model's name in the statement.
    pub name: String,
    /// The model's Merkle root in the statement.
    pub root: String,
    /// The key id.
    pub key_id: String,
}

/// Signs the manifest at `manifest` with the ed25519 private key at `key`, writing the
/// envelope to `output`; or, as [`SignFormat::Oms`], signs the files of its model (`model`,
/// by default the manifest's subject beside it) with an ECDSA P-256 key.
pub fn sign(
    manifest: &Path,
    key: &Path,
    output: &Path,
    force: bool,
    format: SignFormat,
    model: Option<&Path>,
) -> Result<Signed> {
    check_target(output, force)?;
    let node = LineageNode::read(manifest)?;
    if format == SignFormat::Oms {
        return sign_oms(&node, key, output, model);
    }
    // Only a manifest that this version can read in full is signed.
    Manifest::parse(&node.value.to_string()).map_err(|source| Error::Manifest {
        path: manifest.to_path_buf(),
        source,
    })?;
    let root = node
        .merkle_root
        .ok_or_else(|| Error::input(manifest, "the manifest has no merkle_root"))?;
    let (text, key_id) = dsse_envelope(&node.name, &root, &node.value, key)?;
    write_bytes(output, format!("{text}\n").as_bytes())?;
    Ok(Signed {
        path: output.to_path_buf(),
        name: node.name,
        root: root.to_string(),
        key_id,
    })
}

/// A DSSE envelope (pretty JSON) over the in-toto statement of a manifest, signed with the
/// ed25519 key at `key`, and the key's id: what `sign` writes and `register --key` stores.
pub(crate) fn dsse_envelope(
    name: &str,
    root: &Digest,
    manifest: &serde_json::Value,
    key: &Path,
) -> Result<(String, String)> {
    let signing = ed25519::read_private(&read_text(key, 1 << 16)?)
        .map_err(|e| Error::input(key, e.to_string()))?;
    let statement = ed25519::statement(name, &root.hex(), manifest);
    let payload = to_canonical_json(&statement);
    let envelope = ed25519::sign(&signing, payload.as_bytes());
    let text =
        serde_json::to_string_pretty(&envelope).map_err(|e| Error::input(key, e.to_string()))?;
    Ok((text, ed25519::key_id(&signing.verifying_key())))
}

fn sign_oms(node: &LineageNode, key: &Path, output: &Path, model: Option<&Path>) -> Result<Signed> {
    let signing = oms::read_private(&read_text(key, 1 << 16)?)
        .map_err(|e| Error::input(key, e.to_string()))?;
    let target = match model {
        Some(p) => p.to_path_buf(),
        None => subject_beside(&node.path, &node.name)?,
    };
    let resources = oms::hash_model_files(&target, Some(output))
        .map_err(|e| Error::io(&target, "cannot read", e))?;
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| node.name.clone());
    let statement = oms::statement(&name, &resources);
    let bundle = oms::sign(&signing, &statement);
    let text =
        serde_json::to_string_pretty(&bundle).map_err(|e| Error::input(output, e.to_string()))?;
    write_bytes(output, format!("{text}\n").as_bytes())?;
    Ok(Signed {
        path: output.to_path_buf(),
        name,
        root: format!(
            "sha256:{}",
            statement["subject"][0]["digest"]["sha256"]
                .as_str()
                .unwrap_or("")
        ),
        key_id: oms::key_hint(signing.verifying_key()),
    })
}

/// The outcome of [`verify_signature`].
#[derive(Debug)]
pub struct SignatureCheck {
    /// True when the signature, the statement and every file checked agree.
    pub valid: bool,
    /// What failed, in words (empty when valid).
    pub problems: Vec<String>,
    /// The signed manifest, when the signature verified.
    pub manifest: Option<Manifest>,
    /// The re-hash of the model, when asked for and the signature verified.
    pub model: Option<Verification>,
    /// For an OpenSSF model-signing bundle: the model's name and the number of files signed.
    pub oms: Option<(String, usize)>,
}

impl SignatureCheck {
    fn failed(problem: String) -> SignatureCheck {
        SignatureCheck {
            valid: false,
            problems: vec![problem],
            manifest: None,
            model: None,
            oms: None,
        }
    }
}

/// Verifies the envelope at `signature` with the public key at `key`; with `manifest`, that
/// manifest file must be the signed one; with `model`, the model's files are re-hashed and
/// compared with the signed manifest. A signature, manifest or model that does not match is
/// a finding (`valid: false`); only unreadable files and keys are errors.
pub fn verify_signature(
    signature: &Path,
    key: &Path,
    manifest: Option<&Path>,
    model: Option<&Path>,
    progress: &dyn Progress,
) -> Result<SignatureCheck> {
    let key_text = read_text(key, 1 << 16)?;
    let bytes = read_regular_file(signature, MAX_MANIFEST_BYTES * 2)?;
    if let Ok(bundle) = serde_json::from_slice::<Value>(&bytes) {
        if bundle.get("mediaType").is_some() {
            return verify_oms(&bundle, signature, &key_text, key, model);
        }
    }
    let public = ed25519::read_public(&key_text).map_err(|e| Error::input(key, e.to_string()))?;
    let envelope: Envelope = match serde_json::from_slice(&bytes) {
        Ok(e) => e,
        Err(e) => {
            return Ok(SignatureCheck::failed(format!(
                "{}: not a DSSE envelope: {e}",
                signature.display()
            )))
        }
    };
    let statement = match ed25519::verify(&envelope, &public) {
        Ok(s) => s,
        Err(SignError::Invalid(m) | SignError::Key(m)) => {
            return Ok(SignatureCheck::failed(format!(
                "{}: {m}",
                signature.display()
            )))
        }
    };
    let signed = match read_statement(&statement) {
        Ok(m) => m,
        Err(m) => {
            return Ok(SignatureCheck::failed(format!(
                "{}: {m}",
                signature.display()
            )))
        }
    };
    let mut problems = Vec::new();
    if let Some(path) = manifest {
        let bytes = read_regular_file(path, MAX_MANIFEST_BYTES)?;
        let same = serde_json::from_slice::<Value>(&bytes)
            .map(|v| to_canonical_json(&v) == to_canonical_json(&statement["predicate"]))
            .unwrap_or(false);
        if !same {
            problems.push(format!(
                "{}: this manifest is not the one that was signed",
                path.display()
            ));
        }
    }
    let model = match model {
        Some(p) => {
            let v = verify_against(
                signed.clone(),
                p.to_path_buf(),
                mlprov_formats::OpenOptions::default(),
                progress,
            )?;
            if !v.is_ok() {
                let n = v
                    .report
                    .files
                    .iter()
                    .filter(|f| f.status != mlprov_manifest::Status::Ok)
                    .count();
                problems.push(format!(
                    "{}: the files differ from the signed manifest ({n} files, {} tensors differ)",
                    p.display(),
                    v.report.tensors.len()
                ));
            }
            Some(v)
        }
        None => None,
    };
    Ok(SignatureCheck {
        valid: problems.is_empty(),
        problems,
        manifest: Some(signed),
        model,
        oms: None,
    })
}

fn verify_oms(
    bundle: &Value,
    signature: &Path,
    key_text: &str,
    key: &Path,
    model: Option<&Path>,
) -> Result<SignatureCheck> {
    let public = oms::read_public(key_text).map_err(|e| Error::input(key, e.to_string()))?;
    let statement = match oms::verify(bundle, &public) {
        Ok(s) => s,
        Err(SignError::Invalid(m) | SignError::Key(m)) => {
            return Ok(SignatureCheck::failed(format!(
                "{}: {m}",
                signature.display()
            )))
        }
    };
    let name = statement["subject"][0]["name"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let count = statement["predicate"]["resources"]
        .as_array()
        .map_or(0, Vec::len);
    let mut problems = Vec::new();
    if let Some(m) = model {
        let now = oms::hash_model_files(m, Some(signature))
            .map_err(|e| Error::io(m, "cannot read", e))?;
        problems.extend(
            oms::check_files(&statement, &now)
                .into_iter()
                .map(|p| format!("{}: {p}", m.display())),
        );
    }
    Ok(SignatureCheck {
        valid: problems.is_empty(),
        problems,
        manifest: None,
        model: None,
        oms: Some((name, count)),
    })
}

/// The manifest a verified statement carries, checked against its subject.
fn read_statement(statement: &Value) -> std::result::Result<Manifest, String> {
    if statement["_type"] != STATEMENT_TYPE {
        return Err(format!(
            "not an in-toto Statement v1 (_type {})",
            statement["_type"]
        ));
    }
    if statement["predicateType"] != MANIFEST_PREDICATE {
        return Err(format!(
            "the predicate is {}, not an mlprov manifest",
            statement["predicateType"]
        ));
    }
    let manifest = Manifest::parse(&statement["predicate"].to_string())
        .map_err(|e| format!("the signed predicate: {e}"))?;
    let subject = &statement["subject"][0];
    if subject["name"] != manifest.subject.name.as_str()
        || subject["digest"]["blake3"] != manifest.merkle_root.hex().as_str()
    {
        return Err("the statement's subject is not the manifest's model".into());
    }
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Quiet;

    #[test]
    fn every_bit_flip_of_the_envelope_fails() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let model = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/safetensors/tiny-model.safetensors");
        let manifest = d.join("m.json");
        let opened = crate::open(&model).unwrap();
        crate::write_manifest(&opened, &manifest, false, &Quiet).unwrap();
        let keys = generate_key(&d.join("key"), KeyAlgorithm::Ed25519, false).unwrap();
        let sig = d.join("sig.json");
        sign(
            &manifest,
            &keys.private,
            &sig,
            false,
            SignFormat::Dsse,
            None,
        )
        .unwrap();
        let ok =
            verify_signature(&sig, &keys.public, Some(&manifest), Some(&model), &Quiet).unwrap();
        assert!(ok.valid, "{:?}", ok.problems);
        let bytes = std::fs::read(&sig).unwrap();
        let flipped = d.join("flipped.json");
        // Every byte outside the base64 payload, every 13th inside it (each bit of a
        // payload is covered by `mlprov_sign`'s own test).
        let text = String::from_utf8(bytes.clone()).unwrap();
        let start = text.find("\"payload\": \"").unwrap() + 12;
        let end = start + text[start..].find('"').unwrap();
        for i in
            (0..bytes.len()).filter(|&i| i < start || i >= end || (i - start).is_multiple_of(13))
        {
            let mut b = bytes.clone();
            b[i] ^= 1 << (i % 8);
            if bytes[i].is_ascii_whitespace() && b[i].is_ascii_whitespace() {
                continue; // insignificant JSON whitespace: nothing signed changed
            }
            std::fs::write(&flipped, &b).unwrap();
            let r = verify_signature(&flipped, &keys.public, None, None, &Quiet).unwrap();
            assert!(
                !r.valid,
                "byte {i} ({:?}) flipped still verifies",
                bytes[i] as char
            );
        }
    }
}
