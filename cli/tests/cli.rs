//! End-to-end tests of the `mlprov` binary on the committed fixtures and on damaged copies.
//! Run with `cargo test --workspace` (which builds the binary).

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

fn mlprov() -> Command {
    let mut cmd = Command::cargo_bin("mlprov")
        .expect("the mlprov binary is built by `cargo test --workspace`");
    cmd.env_remove("SOURCE_DATE_EPOCH");
    cmd
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/safetensors")
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn json_out(cmd: &mut Command) -> Value {
    let out = cmd.output().unwrap();
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// A sharded model copy in a temp dir plus its manifest next to it.
fn registered() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("tiny-sharded");
    copy_dir(&fixtures().join("tiny-sharded"), &model);
    let manifest = dir.path().join("tiny.manifest.json");
    mlprov()
        .arg("manifest")
        .arg(&model)
        .arg("-o")
        .arg(&manifest)
        .assert()
        .success();
    (dir, model, manifest)
}

/// Flips one byte in the middle of the named tensor of a safetensors file.
fn corrupt_tensor(file: &Path, tensor: &str) {
    let mut bytes = fs::read(file).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let offs = &header[tensor]["data_offsets"];
    let (s, e) = (
        offs[0].as_u64().unwrap() as usize,
        offs[1].as_u64().unwrap() as usize,
    );
    bytes[8 + n + (s + e) / 2] ^= 0x40;
    fs::write(file, bytes).unwrap();
}

#[test]
fn quick_start_manifest_then_verify() {
    let (_dir, _model, manifest) = registered();
    mlprov()
        .arg("verify")
        .arg(&manifest)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("verify: OK (2 files, 17 tensors"));
}

#[test]
fn manifest_is_deterministic_and_matches_its_schema() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.json");
    let b = dir.path().join("b.json");
    for out in [&a, &b] {
        mlprov()
            .env("SOURCE_DATE_EPOCH", "1767225600")
            .arg("manifest")
            .arg(fixtures().join("tiny-sharded"))
            .arg("-o")
            .arg(out)
            .assert()
            .success();
    }
    let (ta, tb) = (fs::read(&a).unwrap(), fs::read(&b).unwrap());
    assert_eq!(ta, tb, "same model, same epoch: same bytes");
    let doc: Value = serde_json::from_slice(&ta).unwrap();
    assert_eq!(doc["created"], "2026-01-01T00:00:00Z");
    assert_eq!(doc["schema"], "mlprov.manifest/v1");
    assert_eq!(doc["subject"]["layout"], "directory");
    assert_eq!(doc["files"].as_array().unwrap().len(), 2);
    assert_eq!(doc["tensors"].as_array().unwrap().len(), 17);
    assert_eq!(doc["fingerprints"]["sketch"], "mlprov.sketch/v1");
    assert_eq!(
        doc["fingerprints"]["tensors"].as_array().unwrap().len(),
        14,
        "tensors of 64+ elements"
    );
    // Top-level keys (the lines indented by exactly two spaces) are written sorted.
    let text = String::from_utf8(ta).unwrap();
    let top: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("  \"") && !l.starts_with("   "))
        .filter_map(|l| l.trim_start().split('"').nth(1))
        .collect();
    let mut sorted = top.clone();
    sorted.sort();
    assert_eq!(top, sorted);
    assert_eq!(top.len(), doc.as_object().unwrap().len());

    let validator = mlprov_testkit::manifest_validator();
    let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    // And the schema is not vacuous: a broken digest fails it.
    let mut bad = doc.clone();
    bad["merkle_root"] = Value::String("sha256:00".into());
    assert!(!validator.is_valid(&bad));
}

#[test]
fn manifest_never_replaces_a_file_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.json");
    fs::write(&out, "precious").unwrap();
    let model = fixtures().join("tiny-model.safetensors");
    mlprov()
        .arg("manifest")
        .arg(&model)
        .arg("-o")
        .arg(&out)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("already exists"));
    assert_eq!(fs::read_to_string(&out).unwrap(), "precious");
    mlprov()
        .arg("manifest")
        .arg(&model)
        .arg("-o")
        .arg(&out)
        .arg("--force")
        .assert()
        .success();
    assert!(fs::read_to_string(&out)
        .unwrap()
        .contains("mlprov.manifest/v1"));
}

#[test]
fn verify_names_the_changed_tensor() {
    let (_dir, model, manifest) = registered();
    let shard = model.join("model-00002-of-00002.safetensors");
    corrupt_tensor(&shard, "model.layers.1.mlp.up_proj.weight");
    let report = json_out(mlprov().arg("--json").arg("verify").arg(&manifest));
    assert_eq!(report["ok"], false);
    let files = report["files"].as_array().unwrap();
    assert_eq!(files[0]["status"], "ok");
    assert_eq!(files[1]["status"], "changed");
    let tensors = report["tensors"].as_array().unwrap();
    assert_eq!(tensors.len(), 1, "{tensors:?}");
    assert_eq!(tensors[0]["name"], "model.layers.1.mlp.up_proj.weight");
    assert_eq!(tensors[0]["status"], "changed");
    assert_eq!(report["root"]["matches"], false);
    mlprov()
        .arg("verify")
        .arg(&manifest)
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "CHANGED  model-00002-of-00002.safetensors",
        ))
        .stdout(predicate::str::contains(
            "CHANGED  model.layers.1.mlp.up_proj.weight",
        ));
}

#[test]
fn verify_reports_missing_extra_and_unreadable_files() {
    let (_dir, model, manifest) = registered();
    fs::remove_file(model.join("model-00001-of-00002.safetensors")).unwrap();
    fs::copy(
        fixtures().join("dtypes.safetensors"),
        model.join("extra.safetensors"),
    )
    .unwrap();
    let shard2 = model.join("model-00002-of-00002.safetensors");
    let bytes = fs::read(&shard2).unwrap();
    fs::write(&shard2, &bytes[..bytes.len() / 2]).unwrap();
    let report = json_out(mlprov().arg("--json").arg("verify").arg(&manifest));
    let status = |p: &str| {
        report["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["path"] == p)
            .unwrap()
            .clone()
    };
    assert_eq!(
        status("model-00001-of-00002.safetensors")["status"],
        "missing"
    );
    assert_eq!(status("extra.safetensors")["status"], "extra");
    let truncated = status("model-00002-of-00002.safetensors");
    assert_eq!(truncated["status"], "changed");
    assert!(
        truncated["problem"].as_str().unwrap().contains("truncated"),
        "{truncated}"
    );
    mlprov().arg("verify").arg(&manifest).assert().code(1);
}

#[test]
fn verify_recognizes_a_renamed_tensor() {
    let (_dir, model, manifest) = registered();
    let shard = model.join("model-00002-of-00002.safetensors");
    let bytes = fs::read(&shard).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let renamed: Vec<(String, safetensors::tensor::TensorView)> = st
        .tensors()
        .into_iter()
        .map(|(n, v)| {
            (
                if n == "lm_head.weight" {
                    "output.weight".to_string()
                } else {
                    n
                },
                v,
            )
        })
        .collect();
    let out = safetensors::serialize(renamed, None).unwrap();
    fs::write(&shard, out).unwrap();
    let report = json_out(mlprov().arg("--json").arg("verify").arg(&manifest));
    let t = &report["tensors"].as_array().unwrap()[0];
    assert_eq!(t["status"], "renamed");
    assert_eq!(t["name"], "output.weight");
    assert_eq!(t["renamed_from"], "lm_head.weight");
    // Content unchanged: the Merkle root still matches, but the file did change.
    assert_eq!(report["root"]["matches"], true);
    assert_eq!(report["ok"], false);
}

#[test]
fn verify_a_single_file_under_another_name() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("m.json");
    mlprov()
        .arg("manifest")
        .arg(fixtures().join("tiny-model.safetensors"))
        .arg("-o")
        .arg(&manifest)
        .assert()
        .success();
    let copy = dir.path().join("deployed-copy.bin");
    fs::copy(fixtures().join("tiny-model.safetensors"), &copy).unwrap();
    mlprov()
        .arg("verify")
        .arg(&manifest)
        .arg(&copy)
        .assert()
        .code(0);
    corrupt_tensor(&copy, "model.norm.weight");
    mlprov()
        .arg("verify")
        .arg(&manifest)
        .arg(&copy)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("model.norm.weight"));
}

#[test]
fn verify_input_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let not_manifest = dir.path().join("x.json");
    fs::write(&not_manifest, r#"{"schema": "other/v9"}"#).unwrap();
    mlprov()
        .arg("verify")
        .arg(&not_manifest)
        .arg(fixtures().join("tiny-model.safetensors"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "unsupported manifest schema `other/v9`",
        ));
    fs::write(&not_manifest, "garbage").unwrap();
    mlprov().arg("verify").arg(&not_manifest).assert().code(2);
    let (_d, model, manifest) = registered();
    fs::remove_dir_all(&model).unwrap();
    mlprov()
        .arg("verify")
        .arg(&manifest)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("model not found"));
}

#[test]
fn hash_plain_matches_blake3_and_proofs_verify() {
    let file = fixtures().join("tiny-model.safetensors");
    let doc = json_out(mlprov().args(["--json", "hash", "--plain"]).arg(&file));
    let want = blake3::hash(&fs::read(&file).unwrap()).to_hex().to_string();
    assert_eq!(doc["files"][0]["plain"], format!("blake3:{want}"));
    mlprov()
        .args(["hash", "--plain"])
        .arg(&file)
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "{want}  tiny-model.safetensors"
        )));
    let proof = json_out(
        mlprov()
            .args(["--json", "hash", "--proof", "model.norm.weight"])
            .arg(&file),
    );
    assert_eq!(proof["root"], doc["root"]);
    assert_eq!(proof["proof"]["size"], 17);
    mlprov()
        .args(["hash", "--proof", "nope"])
        .arg(&file)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no tensor named `nope`"));
}

#[test]
fn inspect_lists_tensors_and_totals() {
    let doc = json_out(
        mlprov()
            .args(["--json", "inspect"])
            .arg(fixtures().join("tiny-sharded")),
    );
    assert_eq!(doc["layout"], "directory");
    assert_eq!(doc["totals"]["tensors"], 17);
    assert_eq!(doc["totals"]["parameters"], 20576);
    let t = &doc["files"][0]["tensors"][0];
    assert!(t["name"].is_string() && t["dtype"] == "F32" && t["shape"].is_array());
    mlprov()
        .arg("inspect")
        .arg(fixtures().join("dtypes.safetensors"))
        .assert()
        .success()
        .stdout(predicate::str::contains("F8_E4M3"))
        .stdout(predicate::str::contains(
            "total: 1 files, 14 tensors, 580 parameters",
        ));
}

#[test]
fn bad_input_gets_one_line_naming_the_file_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let mut good = fs::read(fixtures().join("tiny-model.safetensors")).unwrap();
    let truncated = dir.path().join("truncated.safetensors");
    fs::write(&truncated, &good[..good.len() - 100]).unwrap();
    let huge = dir.path().join("huge-header.safetensors");
    good[..8].copy_from_slice(&(u64::MAX - 3).to_le_bytes());
    fs::write(&huge, &good).unwrap();
    let empty_dir = dir.path().join("nothing-here");
    fs::create_dir(&empty_dir).unwrap();
    fs::write(empty_dir.join("README.md"), "no weights").unwrap();
    let cases: [(&Path, &str); 4] = [
        (&truncated, "truncated"),
        (&huge, "huge-header.safetensors"),
        (&empty_dir, "no weight files found"),
        (Path::new("/definitely/not/here.safetensors"), "cannot read"),
    ];
    for (path, want) in cases {
        for verb in ["inspect", "hash"] {
            let out = mlprov().arg(verb).arg(path).output().unwrap();
            assert_eq!(out.status.code(), Some(2), "{verb} {}", path.display());
            let err = String::from_utf8(out.stderr).unwrap();
            assert_eq!(err.lines().count(), 1, "{err}");
            assert!(
                err.contains(want) && err.contains(&*path.file_name().unwrap().to_string_lossy()),
                "{err}"
            );
        }
    }
}

#[test]
fn usage_errors_exit_2() {
    mlprov().arg("frobnicate").assert().code(2);
    mlprov().arg("manifest").arg("x").assert().code(2);
}

#[test]
fn verify_checks_the_subject_beside_the_manifest_and_says_which_tree() {
    let (dir, model, manifest) = registered();
    let out = mlprov().arg("verify").arg(&manifest).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l == format!("checked: {}", model.display())),
        "{text}"
    );
    // A manifest whose subject leaves its folder is refused unless PATH is given.
    let doc = fs::read_to_string(&manifest).unwrap();
    let outside = dir.path().join("outside");
    copy_dir(&model, &outside);
    for subject in ["../outside", "/etc", "a/b", ".."] {
        let forged = doc.replace(
            "\"name\": \"tiny-sharded\"",
            &format!("\"name\": {}", serde_json::to_string(subject).unwrap()),
        );
        assert_ne!(forged, doc);
        let path = dir.path().join("forged.json");
        fs::write(&path, &forged).unwrap();
        let out = mlprov().arg("verify").arg(&path).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{subject}: {err}");
        assert!(err.contains("not a name in the manifest's folder"), "{err}");
        // With PATH the user says which tree: then it is checked.
        mlprov()
            .arg("verify")
            .arg(&path)
            .arg(&model)
            .assert()
            .code(0)
            .stdout(predicate::str::contains("verify: OK"));
    }
}

#[cfg(unix)]
#[test]
fn a_fifo_as_manifest_is_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("m.json");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    mlprov()
        .arg("verify")
        .arg(&fifo)
        .arg(fixtures().join("tiny-model.safetensors"))
        .timeout(std::time::Duration::from_secs(20))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a regular file"));
}
