//! `fingerprint`, `compare` and `eval` end to end on committed fixtures in several formats.

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

fn mlprov() -> Command {
    Command::cargo_bin("mlprov").expect("the mlprov binary is built by `cargo test --workspace`")
}

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel)
}

fn compare_json(a: &Path, b: &Path) -> (Value, i32) {
    let out = mlprov()
        .arg("--json")
        .arg("compare")
        .arg(a)
        .arg(b)
        .output()
        .unwrap();
    (
        serde_json::from_slice(&out.stdout).unwrap(),
        out.status.code().unwrap(),
    )
}

#[test]
fn a_sharded_copy_is_the_same_weights_and_a_finding() {
    let (doc, code) = compare_json(
        &fixture("safetensors/tiny-model.safetensors"),
        &fixture("safetensors/tiny-sharded"),
    );
    assert_eq!(doc["verdict"], "same-weights");
    assert_eq!(code, 1, "a relation found is a finding");
    assert!(doc["log10_p_value"].as_f64().unwrap() < -6.0);
    assert!(doc["null_hypothesis"]
        .as_str()
        .unwrap()
        .contains("independently"));
}

#[test]
fn the_same_file_is_identical_and_unrelated_fixtures_are_not_related() {
    let f = fixture("safetensors/tiny-model.safetensors");
    assert_eq!(compare_json(&f, &f).0["verdict"], "identical");
    // Nothing shape-compatible to compare: no evidence either way.
    let (doc, code) = compare_json(&f, &fixture("torch/state_dict.pt"));
    assert!(
        ["unrelated", "inconclusive"].contains(&doc["verdict"].as_str().unwrap()),
        "{doc}"
    );
    assert_eq!(code, 0);
}

#[test]
fn fingerprint_lists_keys_and_stays_small() {
    let out = mlprov()
        .args(["--json", "fingerprint", "--invariants"])
        .arg(fixture("safetensors/tiny-sharded"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let tensors = doc["tensors"].as_array().unwrap();
    assert_eq!(tensors.len(), 14);
    assert_eq!(tensors[0]["simhash"].as_str().unwrap().len(), 64);
    assert!(tensors.iter().any(|t| t.get("row_gram").is_some()));
    assert!(doc["lookup_key_bytes"].as_u64().unwrap() < 64 * 1024);
}

#[test]
fn eval_reports_a_confusion_table_and_fails_on_a_miss() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("pairs.tsv");
    let st = fixture("safetensors");
    fs::write(
        &list,
        "# A\tB\texpected\ntiny-model.safetensors\ttiny-sharded\tsame-weights\ntiny-model.safetensors\ttiny-model.safetensors\tidentical\n",
    )
    .unwrap();
    let out = mlprov()
        .arg("eval")
        .arg(&list)
        .arg("--root")
        .arg(&st)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("2 of 2 verdicts as expected"), "{text}");
    fs::write(&list, "tiny-model.safetensors\ttiny-sharded\tunrelated\n").unwrap();
    let out = mlprov()
        .args(["--json", "eval"])
        .arg(&list)
        .arg("--root")
        .arg(&st)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["summary"]["correct"], 0);
    fs::write(&list, "a\tb\tcousins\n").unwrap();
    mlprov().arg("eval").arg(&list).assert().code(2);
}

/// Opt-in: the real development corpus. Fetch it with
/// `bash ../shared/corpus/fetch_dev_models.sh DIR`, then run
/// `MLPROV_CORPUS=DIR cargo test --test lineage_cli -- --ignored`.
#[test]
#[ignore = "needs the real corpus: set MLPROV_CORPUS and run with --ignored"]
fn real_corpus_relations_and_formats() {
    let dir = PathBuf::from(
        std::env::var("MLPROV_CORPUS").expect("MLPROV_CORPUS names the corpus folder"),
    );
    let out = mlprov()
        .arg("eval")
        .arg(fixture("corpus/pairs.tsv"))
        .arg("--root")
        .arg(&dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() || path.extension().is_some_and(|e| e == "part") {
            continue;
        }
        for verb in ["inspect", "hash"] {
            let out = mlprov().arg(verb).arg(&path).output().unwrap();
            assert!(
                out.status.success(),
                "{verb} {}: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}
