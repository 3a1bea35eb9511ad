//! End-to-end tests of `key generate`, `sign` and `verify-signature`, with tampering.

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;

fn mlprov() -> Command {
    let mut cmd = Command::cargo_bin("mlprov")
        .expect("the mlprov binary is built by `cargo test --workspace`");
    cmd.env("SOURCE_DATE_EPOCH", "1767225600");
    cmd
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/safetensors")
}

struct Signed {
    _dir: tempfile::TempDir,
    key: PathBuf,
    manifest: PathBuf,
    model: PathBuf,
    sig: PathBuf,
}

fn signed() -> Signed {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("tiny-model.safetensors");
    fs::copy(fixtures().join("tiny-model.safetensors"), &model).unwrap();
    let manifest = dir.path().join("m.json");
    mlprov()
        .arg("manifest")
        .arg(&model)
        .arg("-o")
        .arg(&manifest)
        .args(["--license", "apache-2.0"])
        .assert()
        .success();
    let key = dir.path().join("key");
    mlprov()
        .args(["key", "generate", "-o"])
        .arg(&key)
        .assert()
        .success()
        .stdout(predicate::str::contains("key id:"));
    let sig = dir.path().join("m.sig.json");
    mlprov()
        .arg("sign")
        .arg(&manifest)
        .arg("--key")
        .arg(&key)
        .arg("-o")
        .arg(&sig)
        .assert()
        .success();
    Signed {
        _dir: dir,
        key,
        manifest,
        model,
        sig,
    }
}

fn verify(s: &Signed, sig: &Path, extra: &[&Path], with: &[&str]) -> assert_cmd::assert::Assert {
    let mut c = mlprov();
    c.arg("verify-signature")
        .arg(sig)
        .arg("--key")
        .arg(format!("{}.pub", s.key.display()));
    for (flag, p) in with.iter().zip(extra) {
        c.arg(flag).arg(p);
    }
    c.assert()
}

#[test]
fn a_signed_manifest_verifies_with_its_model() {
    let s = signed();
    let env: serde_json::Value = serde_json::from_slice(&fs::read(&s.sig).unwrap()).unwrap();
    assert_eq!(env["payloadType"], "application/vnd.in-toto+json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&s.key).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o077,
            0,
            "the private key is readable by its owner only"
        );
    }
    assert!(fs::read_to_string(&s.key)
        .unwrap()
        .contains("BEGIN PRIVATE KEY"));
    verify(
        &s,
        &s.sig,
        &[&s.manifest, &s.model],
        &["--manifest", "--model"],
    )
    .code(0)
    .stdout(predicate::str::contains("verify-signature: OK"));
    // Another key does not verify it.
    let other = s.key.with_file_name("other");
    mlprov()
        .args(["key", "generate", "-o"])
        .arg(&other)
        .assert()
        .success();
    mlprov()
        .arg("verify-signature")
        .arg(&s.sig)
        .arg("--key")
        .arg(format!("{}.pub", other.display()))
        .assert()
        .code(1)
        .stdout(predicate::str::contains("not this key"));
    // A missing key is an input error.
    mlprov()
        .arg("verify-signature")
        .arg(&s.sig)
        .args(["--key", "/nonexistent.pub"])
        .assert()
        .code(2);
}

#[test]
fn any_bit_flip_in_the_signature_fails() {
    let s = signed();
    let bytes = fs::read(&s.sig).unwrap();
    let flipped = s.sig.with_file_name("flipped.json");
    // One bit of every 11th byte through the binary (every byte is flipped in process by
    // the library's own test, `sign::tests`).
    for i in (0..bytes.len()).step_by(11) {
        let mut b = bytes.clone();
        b[i] ^= 1 << (i % 8);
        fs::write(&flipped, &b).unwrap();
        let out = mlprov()
            .arg("verify-signature")
            .arg(&flipped)
            .arg("--key")
            .arg(format!("{}.pub", s.key.display()))
            .output()
            .unwrap();
        // A flip inside insignificant JSON whitespace changes nothing signed.
        let ws = bytes[i].is_ascii_whitespace() && b[i].is_ascii_whitespace();
        if !ws {
            assert_eq!(out.status.code(), Some(1), "byte {i}: {:?}", out);
            assert!(String::from_utf8_lossy(&out.stdout).contains("FAILED"));
        }
    }
}

#[test]
fn a_changed_manifest_or_model_fails() {
    let s = signed();
    let mut m = fs::read(&s.manifest).unwrap();
    let pos = String::from_utf8_lossy(&m).find("Apache-2.0").unwrap();
    m[pos] ^= 1;
    fs::write(&s.manifest, &m).unwrap();
    verify(&s, &s.sig, &[&s.manifest], &["--manifest"])
        .code(1)
        .stdout(predicate::str::contains("is not the one that was signed"));
    let mut w = fs::read(&s.model).unwrap();
    let n = w.len();
    w[n - 3] ^= 0x10;
    fs::write(&s.model, &w).unwrap();
    verify(&s, &s.sig, &[&s.model], &["--model"])
        .code(1)
        .stdout(predicate::str::contains("differ from the signed manifest"));
}
