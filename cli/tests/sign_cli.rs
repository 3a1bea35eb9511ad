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

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn oms_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/oms")
}

#[test]
fn a_bundle_made_by_model_signing_verifies_and_a_changed_file_fails() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("tiny-sharded");
    copy_dir(&fixtures().join("tiny-sharded"), &model);
    let sig = oms_fixture().join("tiny-sharded.oms.json");
    let key = oms_fixture().join("model-signing-key.pub");
    let run = || {
        let mut c = mlprov();
        c.arg("verify-signature")
            .arg(&sig)
            .arg("--key")
            .arg(&key)
            .arg("--model")
            .arg(&model);
        c.assert()
    };
    run()
        .code(0)
        .stdout(predicate::str::contains(
            "OpenSSF model-signing bundle: tiny-sharded (4 files signed)",
        ))
        .stdout(predicate::str::contains("verify-signature: OK"));
    let shard = model.join("model-00001-of-00002.safetensors");
    let mut b = fs::read(&shard).unwrap();
    let n = b.len();
    b[n - 1] ^= 1;
    fs::write(&shard, &b).unwrap();
    run().code(1).stdout(predicate::str::contains(
        "model-00001-of-00002.safetensors: changed since it was signed",
    ));
    b[n - 1] ^= 1;
    fs::write(&shard, &b).unwrap();
    fs::write(model.join("extra.txt"), b"x").unwrap();
    run().code(1).stdout(predicate::str::contains(
        "extra.txt: not covered by the signature",
    ));
}

#[test]
fn oms_sign_and_verify_round_trip_with_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("tiny-sharded");
    copy_dir(&fixtures().join("tiny-sharded"), &model);
    let manifest = dir.path().join("m.json");
    mlprov()
        .arg("manifest")
        .arg(&model)
        .arg("-o")
        .arg(&manifest)
        .assert()
        .success();
    let key = dir.path().join("ec");
    mlprov()
        .args(["key", "generate", "--algorithm", "ecdsa-p256", "-o"])
        .arg(&key)
        .assert()
        .success();
    assert!(fs::read_to_string(&key)
        .unwrap()
        .contains("BEGIN PRIVATE KEY"));
    let sig = dir.path().join("m.oms.json");
    mlprov()
        .arg("sign")
        .arg(&manifest)
        .args(["--format", "oms", "--key"])
        .arg(&key)
        .arg("-o")
        .arg(&sig)
        .assert()
        .success();
    let bundle: serde_json::Value = serde_json::from_slice(&fs::read(&sig).unwrap()).unwrap();
    assert_eq!(
        bundle["mediaType"],
        "application/vnd.dev.sigstore.bundle.v0.3+json"
    );
    // The same files give the subject digest model_signing computed for its own bundle.
    let reference: serde_json::Value =
        serde_json::from_slice(&fs::read(oms_fixture().join("tiny-sharded.oms.json")).unwrap())
            .unwrap();
    let statement = |b: &serde_json::Value| -> serde_json::Value {
        use base64::Engine;
        let p = base64::engine::general_purpose::STANDARD
            .decode(b["dsseEnvelope"]["payload"].as_str().unwrap())
            .unwrap();
        serde_json::from_slice(&p).unwrap()
    };
    assert_eq!(
        statement(&bundle)["subject"],
        statement(&reference)["subject"]
    );
    assert_eq!(
        statement(&bundle)["predicate"]["resources"],
        statement(&reference)["predicate"]["resources"]
    );
    let pubkey = format!("{}.pub", key.display());
    let verify = |s: &Path| {
        let mut c = mlprov();
        c.arg("verify-signature")
            .arg(s)
            .args(["--key", &pubkey, "--model"])
            .arg(&model);
        c.assert()
    };
    verify(&sig).code(0);
    // An ed25519 key cannot sign an OMS bundle (input error).
    let ed = dir.path().join("ed");
    mlprov()
        .args(["key", "generate", "-o"])
        .arg(&ed)
        .assert()
        .success();
    mlprov()
        .arg("sign")
        .arg(&manifest)
        .args(["--format", "oms", "--key"])
        .arg(&ed)
        .arg("-o")
        .arg(dir.path().join("x.json"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not an ECDSA P-256 private key"));
    // One bit of every 5th byte of the bundle.
    let bytes = fs::read(&sig).unwrap();
    let flipped = dir.path().join("flipped.json");
    for i in (0..bytes.len()).step_by(5) {
        let mut b = bytes.clone();
        b[i] ^= 1 << (i % 8);
        if bytes[i].is_ascii_whitespace() && b[i].is_ascii_whitespace() {
            continue;
        }
        fs::write(&flipped, &b).unwrap();
        let out = mlprov()
            .arg("verify-signature")
            .arg(&flipped)
            .args(["--key", &pubkey, "--model"])
            .arg(&model)
            .output()
            .unwrap();
        assert_ne!(
            out.status.code(),
            Some(0),
            "byte {i} ({:?})",
            bytes[i] as char
        );
    }
}
