//! End-to-end tests of `mlprov dataset …` on generated datasets.

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use mlprov_testkit::Rng;
use predicates::prelude::*;
use serde_json::Value;

fn mlprov() -> Command {
    let mut cmd = Command::cargo_bin("mlprov")
        .expect("the mlprov binary is built by `cargo test --workspace`");
    cmd.env("SOURCE_DATE_EPOCH", "1700000000");
    cmd
}

fn json_out(cmd: &mut Command) -> Value {
    let out = cmd.output().unwrap();
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

fn texts(seed: u64, n: usize) -> Vec<String> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| {
            (0..40)
                .map(|_| format!("w{}", rng.below(4000)))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

fn write_jsonl(path: &Path, texts: &[String]) {
    let lines: Vec<String> = texts
        .iter()
        .map(|t| serde_json::json!({"text": t}).to_string())
        .collect();
    fs::write(path, lines.join("\n") + "\n").unwrap();
}

/// A (600 records, JSONL) and B (half of A in a TSV, plus 100 others).
fn pair(dir: &Path) -> (PathBuf, PathBuf) {
    let a = texts(1, 600);
    let mut b: Vec<String> = a[..300].to_vec();
    b.extend(texts(2, 100));
    let (pa, pb) = (dir.join("a.jsonl"), dir.join("b.tsv"));
    write_jsonl(&pa, &a);
    let mut tsv = String::from("id\ttext\n");
    for (i, t) in b.iter().rev().enumerate() {
        tsv.push_str(&format!("{i}\t{t}\n"));
    }
    fs::write(&pb, tsv).unwrap();
    (pa, pb)
}

#[test]
fn fingerprint_writes_a_schema_valid_manifest_and_honours_force() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = pair(dir.path());
    let out = dir.path().join("a.manifest.json");
    mlprov()
        .args(["dataset", "fingerprint"])
        .arg(&a)
        .args(["--field", "text", "-o"])
        .arg(&out)
        .assert()
        .success()
        .stdout(predicate::str::contains("600 records"));
    mlprov()
        .args(["dataset", "fingerprint"])
        .arg(&a)
        .args(["--field", "text", "-o"])
        .arg(&out)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--force"));
    let first = fs::read(&out).unwrap();
    mlprov()
        .args(["dataset", "fingerprint"])
        .arg(&a)
        .args(["--field", "text", "--force", "-o"])
        .arg(&out)
        .assert()
        .success();
    // Deterministic: the same bytes again.
    assert_eq!(first, fs::read(&out).unwrap());

    let doc: Value = serde_json::from_slice(&first).unwrap();
    let validator = mlprov_testkit::manifest_validator();
    let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(doc["subject"]["kind"], "dataset");
    assert_eq!(doc["dataset"]["records"], 600);
    assert_eq!(
        doc["dataset"]["near"]["text"].as_array().unwrap().len(),
        600
    );
    // Not vacuous: a float or a foreign field fails.
    let mut bad = doc.clone();
    bad["dataset"]["privacy"]["email"] = Value::from(0.5);
    assert!(!validator.is_valid(&bad));
    let mut bad = doc.clone();
    bad["dataset"]["reader"]["key"] = Value::from("secret");
    assert!(!validator.is_valid(&bad));
}

#[test]
fn compare_reports_containment_both_ways_in_json() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = pair(dir.path());
    let m = dir.path().join("a.json");
    mlprov()
        .args(["dataset", "fingerprint"])
        .arg(&a)
        .args(["--field", "text", "-o"])
        .arg(&m)
        .assert()
        .success();
    let out = mlprov()
        .args(["--json", "dataset", "compare"])
        .arg(&m)
        .arg(&b)
        .args(["--field", "text"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "an overlap is a finding");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    // Small datasets: the sketches hold everything, so the shares are exact.
    assert_eq!(v["exact_containment_b_in_a"], 0.75);
    assert_eq!(v["exact_containment_a_in_b"], 0.5);
    assert_eq!(v["near_containment_a_in_b"], 0.5);
    for f in [
        "exact_containment_b_in_a",
        "exact_containment_a_in_b",
        "near_containment_b_in_a",
        "near_containment_a_in_b",
    ] {
        let x = v[f].as_f64().unwrap();
        let i = v[format!("{f}_interval")].as_array().unwrap();
        let (lo, hi) = (i[0].as_f64().unwrap(), i[1].as_f64().unwrap());
        assert!(
            (0.0..=1.0).contains(&x) && lo <= x && x <= hi,
            "{f}: {x} {lo} {hi}"
        );
    }
    // Human output: one line per estimate.
    mlprov()
        .args(["dataset", "compare"])
        .arg(&a)
        .arg(&b)
        .args(["--field", "text"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("B in A: 75.0%"));
}

#[test]
fn shard_manifests_merge_byte_for_byte_into_the_whole() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ds");
    fs::create_dir_all(data.join("data")).unwrap();
    for i in 0..4 {
        write_jsonl(
            &data.join(format!("data/train-{i:05}-of-00004.jsonl")),
            &texts(10 + i, 150),
        );
    }
    fs::write(data.join("README.md"), "# card").unwrap();
    let whole = dir.path().join("whole.json");
    mlprov()
        .args(["dataset", "fingerprint"])
        .arg(&data)
        .arg("-o")
        .arg(&whole)
        .assert()
        .success();
    let mut shards = Vec::new();
    for k in 0..3 {
        let out = dir.path().join(format!("s{k}.json"));
        mlprov()
            .args(["dataset", "fingerprint"])
            .arg(&data)
            .args(["--shard", &format!("{k}/3"), "-o"])
            .arg(&out)
            .assert()
            .success();
        assert!(dir.path().join(format!("s{k}.json.digests")).exists());
        shards.push(out);
    }
    let merged = dir.path().join("merged.json");
    mlprov()
        .args(["dataset", "merge"])
        .args(&shards)
        .arg("-o")
        .arg(&merged)
        .assert()
        .success();
    assert_eq!(fs::read(&whole).unwrap(), fs::read(&merged).unwrap());
    let v = json_out(
        mlprov()
            .args(["--json", "dataset", "compare"])
            .arg(&whole)
            .arg(&data),
    );
    assert_eq!(v["identical"], true);
}

#[test]
fn bad_input_names_the_file_and_record() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.jsonl");
    fs::write(
        &broken,
        "{\"text\": \"ok\"}\n{\"text\": \"cut\n{\"text\": \"ok\"}\n",
    )
    .unwrap();
    let o = dir.path().join("o.json");
    mlprov()
        .args(["dataset", "fingerprint"])
        .arg(&broken)
        .arg("-o")
        .arg(&o)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("broken.jsonl: record 2: not JSON"));
    let good = dir.path().join("good.jsonl");
    write_jsonl(&good, &texts(3, 5));
    mlprov()
        .args(["dataset", "fingerprint"])
        .arg(&good)
        .args(["--field", "body", "-o"])
        .arg(&o)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "record 1: no field `body` (fields: text)",
        ));
    let csv = dir.path().join("ragged.csv");
    fs::write(&csv, "a,b\n1,2\n3\n").unwrap();
    mlprov()
        .args(["dataset", "fingerprint"])
        .arg(&csv)
        .arg("-o")
        .arg(&o)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("ragged.csv: record 3"));
    let pq = dir.path().join("corrupt.parquet");
    fs::write(&pq, b"PAR1 this is not really parquet PAR1").unwrap();
    mlprov()
        .args(["dataset", "fingerprint"])
        .arg(&pq)
        .arg("-o")
        .arg(&o)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "corrupt.parquet: not a readable Parquet file",
        ));
    let gz = dir.path().join("bad.jsonl.gz");
    fs::write(&gz, [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3]).unwrap();
    mlprov()
        .args(["dataset", "fingerprint"])
        .arg(&gz)
        .arg("-o")
        .arg(&o)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("bad.jsonl.gz"));
    assert!(!o.exists());
}

#[test]
fn privacy_counts_hold_no_values_and_names_are_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("pii.txt");
    fs::write(
        &data,
        "write to jane@example.org\ncard 4111-1111-1111-1111\nserver 10.0.0.1\nplain\n",
    )
    .unwrap();
    let o = dir.path().join("o.json");
    let v = json_out(
        mlprov()
            .args(["--json", "dataset", "fingerprint"])
            .arg(&data)
            .arg("-o")
            .arg(&o),
    );
    assert_eq!(v["privacy"]["any"], 3);
    assert_eq!(v["privacy"]["email"], 1);
    let manifest = fs::read_to_string(&o).unwrap();
    assert!(!manifest.contains("jane@example.org") && !manifest.contains("4111"));
    // A forged file name in a folder of files cannot forge an output line.
    let folder = dir.path().join("files");
    fs::create_dir_all(&folder).unwrap();
    fs::write(folder.join("x\nverify: OK"), "hello").unwrap();
    mlprov()
        .args(["dataset", "fingerprint"])
        .arg(&folder)
        .arg("-o")
        .arg(dir.path().join("f.json"))
        .assert()
        .success();
    mlprov()
        .args(["dataset", "compare"])
        .arg(dir.path().join("f.json"))
        .arg(&folder)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("x\\nverify: OK"));
}

#[test]
fn reference_writers_fixtures_have_the_pinned_roots() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/datasets");
    let tmp = tempfile::tempdir().unwrap();
    let root = |file: &str, field: bool| {
        let mut cmd = mlprov();
        cmd.args(["--json", "dataset", "fingerprint"])
            .arg(dir.join(file));
        if field {
            cmd.args(["--field", "text"]);
        }
        let v = json_out(cmd.arg("-o").arg(tmp.path().join("m.json")).arg("--force"));
        // The non-NFC spelling is a duplicate of its text, not of its whole record (own id).
        let distinct = if field { 11 } else { 12 };
        assert_eq!(v["records"], 12);
        assert_eq!(v["distinct_records"], distinct);
        assert_eq!(v["privacy"]["any"], 2);
        v["root"].as_str().unwrap().to_string()
    };
    let by_field = "blake3:82444aa4148e8cedb4cd8747f93644fc279b9a79b7822d8b8617e253d67663d1";
    for f in [
        "tiny.jsonl",
        "tiny.csv",
        "tiny-snappy.parquet",
        "tiny-zstd.parquet",
    ] {
        assert_eq!(root(f, true), by_field, "{f}");
    }
    let whole = "blake3:4082ec7b93f3a854b0372025dadbc85b3d50ef9e5227d71b39ce45a985f40a7b";
    assert_eq!(root("tiny.jsonl", false), whole);
    assert_eq!(root("tiny-snappy.parquet", false), whole);
}

#[test]
fn dataset_manifests_record_licence_and_terms_through_shards() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ds");
    fs::create_dir_all(&data).unwrap();
    for i in 0..2 {
        write_jsonl(&data.join(format!("part-{i}.jsonl")), &texts(30 + i, 50));
    }
    let terms = dir.path().join("terms.toml");
    mlprov()
        .args(["terms", "init", "--template", "research", "-o"])
        .arg(&terms)
        .assert()
        .success();
    let licence = ["--license", "cc-by-4.0", "--terms"];
    let whole = dir.path().join("whole.json");
    mlprov()
        .args(["dataset", "fingerprint"])
        .arg(&data)
        .args(licence)
        .arg(&terms)
        .arg("-o")
        .arg(&whole)
        .assert()
        .success();
    let doc: Value = serde_json::from_slice(&fs::read(&whole).unwrap()).unwrap();
    assert_eq!(
        doc["licence"]["expression"], "CC-BY-4.0",
        "{}",
        doc["licence"]
    );
    assert!(doc["licence"]["terms"].is_object(), "{}", doc["licence"]);
    let errors: Vec<String> = mlprov_testkit::manifest_validator()
        .iter_errors(&doc)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    // Shards carry it, and the merge equals the whole, licence included.
    let mut shards = Vec::new();
    for k in 0..2 {
        let out = dir.path().join(format!("s{k}.json"));
        mlprov()
            .args(["dataset", "fingerprint"])
            .arg(&data)
            .args(licence)
            .arg(&terms)
            .args(["--shard", &format!("{k}/2"), "-o"])
            .arg(&out)
            .assert()
            .success();
        shards.push(out);
    }
    let merged = dir.path().join("merged.json");
    mlprov()
        .args(["dataset", "merge"])
        .args(&shards)
        .arg("-o")
        .arg(&merged)
        .assert()
        .success();
    assert_eq!(fs::read(&whole).unwrap(), fs::read(&merged).unwrap());
    // A malformed licence expression is an input error, before any data is read.
    mlprov()
        .args(["dataset", "fingerprint"])
        .arg(&data)
        .args(["--license", "MIT AND (", "-o"])
        .arg(dir.path().join("x.json"))
        .assert()
        .code(2);
}

#[test]
fn exact_only_prints_the_manifests_identity_and_writes_no_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = pair(dir.path());
    let manifest = dir.path().join("a.manifest.json");
    mlprov()
        .args(["dataset", "fingerprint"])
        .arg(&a)
        .args(["--field", "text", "-o"])
        .arg(&manifest)
        .assert()
        .success();
    let m: Value = serde_json::from_slice(&fs::read(&manifest).unwrap()).unwrap();
    let id = json_out(
        mlprov()
            .args(["--json", "dataset", "fingerprint"])
            .arg(&a)
            .args(["--field", "text", "--exact-only"]),
    );
    assert_eq!(id["root"], m["merkle_root"]);
    assert_eq!(id["bottom_k"], m["dataset"]["bottom_k"]);
    assert_eq!(id["files"], m["files"]);
    for f in ["records", "distinct_records", "bytes", "reader"] {
        assert_eq!(id[f], m["dataset"][f], "{f}");
    }
    // The table names the root; -o writes the identity (not a manifest), refusing to replace.
    let root = m["merkle_root"].as_str().unwrap().to_string();
    mlprov()
        .args(["dataset", "fingerprint"])
        .arg(&a)
        .args(["--field", "text", "--exact-only"])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!("root {root}")));
    let out = dir.path().join("a.identity.json");
    for expect_ok in [true, false] {
        let assert = mlprov()
            .args(["dataset", "fingerprint"])
            .arg(&a)
            .args(["--field", "text", "--exact-only", "-o"])
            .arg(&out)
            .assert();
        if expect_ok {
            assert.success();
        } else {
            assert.code(2);
        }
    }
    let written: Value = serde_json::from_slice(&fs::read(&out).unwrap()).unwrap();
    assert_eq!(written["root"], m["merkle_root"]);
    assert!(written.get("near").is_none() && written.get("privacy").is_none());
    // Settings that only a manifest records are refused with it.
    mlprov()
        .args(["dataset", "fingerprint"])
        .arg(&a)
        .args(["--exact-only", "--shard", "0/2"])
        .assert()
        .code(2);
    mlprov()
        .args(["dataset", "fingerprint"])
        .arg(&a)
        .args(["--exact-only", "--license", "MIT"])
        .assert()
        .code(2);
    // Without --exact-only, -o is still required.
    mlprov()
        .args(["dataset", "fingerprint"])
        .arg(&a)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--output"));
}
