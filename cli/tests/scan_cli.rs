//! `mlprov scan` end to end: the README's main job on the bundled deployment fixture
//! (`fixtures/deployment`, made by its `make_deployment.py`), the three output formats
//! (SARIF checked against the official 2.1.0 schema), exit codes, and a deployment with a
//! FIFO and unreadable files.

use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;

fn mlprov() -> Command {
    let mut cmd = Command::cargo_bin("mlprov").unwrap();
    cmd.env_remove("MLPROV_REGISTRY");
    cmd.env_remove("MLPROV_SIGNING_KEY");
    cmd.timeout(Duration::from_secs(300));
    cmd
}

fn fixture(rel: &str) -> PathBuf {
    mlprov_testkit::fixtures().join(rel)
}

/// A fresh registry with the licensor's model (licensed to Initech) and dataset.
fn registry(dir: &Path) -> String {
    let reg = dir.join("registry.sqlite").to_str().unwrap().to_string();
    for (asset, licence) in [
        ("deployment/licensed/acme-chat.safetensors", "Apache-2.0"),
        ("deployment/licensed/acme-corpus.jsonl", "CC-BY-4.0"),
    ] {
        mlprov()
            .arg("register")
            .arg(fixture(asset))
            .args([
                "--registry",
                &reg,
                "--licensee",
                "Initech",
                "--license",
                licence,
            ])
            .assert()
            .success();
    }
    reg
}

fn scan_json(reg: &str, licensee: &str, code: i32) -> Value {
    let out = mlprov()
        .args(["--json", "scan"])
        .arg(fixture("deployment/deploy"))
        .args(["--registry", reg, "--licensee", licensee])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_main_job_finds_every_copy_and_derivative_in_the_deployment() {
    let dir = mlprov_testkit::tempdir();
    let reg = registry(dir.path());
    let report = scan_json(&reg, "Globex", 1);
    let findings = report["findings"].as_array().unwrap();
    let mut got: Vec<(String, String, bool)> = findings
        .iter()
        .map(|f| {
            let path = f["path"].as_str().unwrap();
            let rel = path.split("deployment/deploy/").nth(1).unwrap().to_string();
            let (asset, name) = if rel.ends_with(".jsonl") {
                (2, "acme-corpus.jsonl")
            } else {
                (1, "acme-chat.safetensors")
            };
            assert_eq!(f["asset"], asset, "{path}");
            assert_eq!(f["asset_name"], name);
            (
                rel,
                f["verdict"].as_str().unwrap().to_string(),
                f["licensed"].as_bool().unwrap(),
            )
        })
        .collect();
    got.sort();
    let want: Vec<(String, String, bool)> = [
        (
            "releases/bundle-1.2.zip!/weights/model.safetensors",
            "same-weights",
        ),
        ("srv/data/train-mix.jsonl", "overlaps"),
        ("srv/finetunes/support-bot/model.safetensors", "derived"),
        ("srv/models/chat-q8_0.gguf", "re-encoded"),
        ("srv/models/chat-v2.bin", "identical"),
        ("srv/small/model.safetensors", "derived"),
    ]
    .iter()
    .map(|(p, v)| (p.to_string(), v.to_string(), false))
    .collect();
    assert_eq!(got, want);
    // The training mix holds 40 of the corpus's 64 records among 40 others (exact: the
    // sketch holds every record of so small a dataset).
    let mix = findings
        .iter()
        .find(|f| f["class"] == "dataset")
        .expect("the dataset finding");
    let overlap = &mix["dataset"];
    assert_eq!(overlap["identical"], false);
    assert_eq!(overlap["exact_containment_a_in_b"], 40.0 / 64.0);
    assert_eq!(overlap["exact_containment_b_in_a"], 0.5);
    // The unrelated models were looked at and not reported.
    assert_eq!(report["models"], 7);
    assert_eq!(report["data_files"], 1);
    assert_eq!(report["archives"], 1);
    assert_eq!(report["problems"].as_array().unwrap().len(), 0);

    // The licensee the model is licensed to: the same findings, licensed, exit 0.
    let report = scan_json(&reg, "Initech", 0);
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 6);
    assert!(findings.iter().all(|f| f["licensed"] == true));

    // With an intended use, `check` of the registered terms decides too.
    let out = mlprov()
        .args(["--json", "scan"])
        .arg(fixture("deployment/deploy"))
        .args(["--registry", &reg, "--licensee", "Initech"])
        .args([
            "--use",
            "commercial",
            "--territory",
            "DE",
            "--date",
            "2026-06-01",
        ])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    for f in report["findings"].as_array().unwrap() {
        assert_eq!(f["check"], "allow", "Apache-2.0 allows commercial use: {f}");
    }
    assert_eq!(out.status.code(), Some(0));

    // The table names every finding; the audit log holds the three scans.
    let out = mlprov()
        .arg("scan")
        .arg(fixture("deployment/deploy"))
        .args(["--registry", &reg, "--licensee", "Globex"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let table = String::from_utf8(out.stdout).unwrap();
    for (path, verdict, _) in &want {
        let line = table
            .lines()
            .find(|l| l.ends_with(path.as_str()))
            .unwrap_or_else(|| panic!("{path} not in\n{table}"));
        assert!(line.starts_with(verdict.as_str()), "{line}");
    }
    assert!(
        table.contains("7 models, 1 data files: 6 findings, 6 unlicensed or unsafe"),
        "{table}"
    );
    // `--no-datasets` leaves the data file alone; `--base none` changes nothing here (no
    // registered base); other values of `--base` are usage errors.
    let out = mlprov()
        .args(["--json", "scan"])
        .arg(fixture("deployment/deploy"))
        .args(["--registry", &reg, "--no-datasets", "--base", "none"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["data_files"], 0);
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 5);
    assert!(findings.iter().all(|f| f["class"] == "lineage"));
    mlprov()
        .arg("scan")
        .arg(fixture("deployment/deploy"))
        .args(["--registry", &reg, "--base", "p.safetensors"])
        .assert()
        .code(2);
    let out = mlprov()
        .args(["--json", "audit", "show", "--registry", &reg])
        .output()
        .unwrap();
    let entries: Value = serde_json::from_slice(&out.stdout).unwrap();
    let scans = entries
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "scan")
        .count();
    assert_eq!(scans, 5);
    mlprov()
        .args(["audit", "verify", "--registry", &reg])
        .assert()
        .success();
}

#[test]
fn sarif_output_is_valid_sarif_2_1_0() {
    let dir = mlprov_testkit::tempdir();
    let reg = registry(dir.path());
    let evil = dir.path().join("deploy");
    std::fs::create_dir_all(&evil).unwrap();
    let (global, _, pickle) = mlprov_testkit::hostile::malicious_pickles().remove(0);
    std::fs::write(evil.join("model.pkl"), pickle).unwrap();
    std::fs::copy(
        fixture("deployment/deploy/srv/models/chat-v2.bin"),
        evil.join("copy.bin"),
    )
    .unwrap();
    std::fs::copy(
        fixture("deployment/deploy/srv/data/train-mix.jsonl"),
        evil.join("mix.jsonl"),
    )
    .unwrap();
    let out = mlprov()
        .arg("scan")
        .arg(&evil)
        .args(["--registry", &reg, "--sarif"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let sarif: Value = serde_json::from_slice(&out.stdout).unwrap();
    let schema = mlprov_testkit::schema("external/sarif/sarif-schema-2.1.0.json");
    let validator = jsonschema::draft4::new(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&sarif)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let rule_of = |suffix: &str| {
        results
            .iter()
            .find(|r| {
                r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                    .as_str()
                    .unwrap()
                    .ends_with(suffix)
            })
            .map(|r| r["ruleId"].as_str().unwrap().to_string())
    };
    assert_eq!(
        rule_of("model.pkl").as_deref(),
        Some("mlprov/code-execution")
    );
    assert_eq!(
        rule_of("copy.bin").as_deref(),
        Some("mlprov/unlicensed-derivative")
    );
    assert_eq!(
        rule_of("mix.jsonl").as_deref(),
        Some("mlprov/unlicensed-dataset")
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(&global));
}

#[test]
fn input_errors_exit_2_and_hostile_files_do_not_stop_the_scan() {
    let dir = mlprov_testkit::tempdir();
    let reg = registry(dir.path());
    mlprov()
        .arg("scan")
        .arg(dir.path().join("missing"))
        .args(["--registry", &reg])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("missing"));
    mlprov()
        .arg("scan")
        .arg(fixture("deployment/deploy"))
        .args(["--registry", "postgres://nobody@127.0.0.1:1/none"])
        .assert()
        .code(2);

    // A FIFO, an unreadable file and a name with control characters, beside a copy.
    let deploy = dir.path().join("deploy");
    std::fs::create_dir_all(&deploy).unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(deploy.join("pipe"))
        .status()
        .unwrap();
    assert!(status.success());
    let locked = deploy.join("locked.safetensors");
    std::fs::copy(
        fixture("deployment/licensed/acme-chat.safetensors"),
        &locked,
    )
    .unwrap();
    std::process::Command::new("chmod")
        .arg("000")
        .arg(&locked)
        .status()
        .unwrap();
    std::fs::copy(
        fixture("deployment/licensed/acme-chat.safetensors"),
        deploy.join("evil\x1b[2Jname.bin"),
    )
    .unwrap();
    let out = mlprov()
        .arg("scan")
        .arg(&deploy)
        .args(["--registry", &reg])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{table}");
    assert!(
        table.contains("not scanned:") && table.contains("pipe"),
        "{table}"
    );
    assert!(
        !table.contains('\x1b'),
        "control characters are escaped: {table}"
    );
    assert!(
        table.contains("evil\\x1b[2Jname.bin") || table.contains("evil\\u{1b}"),
        "{table}"
    );
}
