//! Live files: a model truncated while a command reads it through its memory map must give
//! "PATH changed while being read" (exit 2; a finding in `verify`), never a SIGBUS death.

#![cfg(target_os = "linux")]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mlprov_testkit::Tensor;

/// Writes a one-tensor safetensors model of about `mib` MiB.
fn big_model(path: &Path, mib: usize) {
    let n = mib << 18; // f32 values
                       // Cheap to make in a debug build; the values do not matter here.
    let values = (0..n).map(|i| (i % 1009) as f32).collect();
    mlprov_testkit::write_safetensors(path, &[Tensor::f32("w", &[n / 1024, 1024], values)]);
}

/// Waits until `child` has `path` mapped (it is about to read it), then cuts the file to
/// its first 4 KiB. `false` if the child finished first.
fn truncate_once_mapped(child: &mut Child, path: &Path) -> bool {
    let maps = format!("/proc/{}/maps", child.id());
    let name = path.to_string_lossy().into_owned();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        if std::fs::read_to_string(&maps).is_ok_and(|m| m.contains(&name)) {
            std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .unwrap()
                .set_len(4096)
                .unwrap();
            return true;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    panic!("the command never mapped {name}");
}

/// What a run under truncation left: exit code, stdout, stderr, files left in its folder.
struct Run {
    code: i32,
    out: String,
    err: String,
    files: Vec<String>,
}

/// Runs `mlprov ARGS MODEL` in a fresh folder holding a big model (after `prepare` ran with
/// the folder and the model) and truncates the model under the running command; tries
/// larger models until the cut lands while the command is still reading (or fails).
fn run_with_truncation(args: &[&str], prepare: impl Fn(&Path, &Path)) -> Run {
    let bin = assert_cmd::cargo::cargo_bin("mlprov");
    for mib in [64, 256, 768] {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("live.safetensors");
        big_model(&model, mib);
        prepare(dir.path(), &model);
        let mut child = Command::new(&bin)
            .args(args)
            .arg(&model)
            .current_dir(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let cut = truncate_once_mapped(&mut child, &model);
        let out = child.wait_with_output().unwrap();
        if cut && !(out.status.success() && mib < 768) {
            let mut files: Vec<String> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            files.sort();
            return Run {
                code: out.status.code().unwrap_or(-1),
                out: String::from_utf8_lossy(&out.stdout).into_owned(),
                err: String::from_utf8_lossy(&out.stderr).into_owned(),
                files,
            };
        }
    }
    panic!("the command always finished before the file could be cut");
}

fn nothing(_: &Path, _: &Path) {}

#[test]
fn hash_and_fingerprint_of_a_file_truncated_while_read_are_errors_naming_it() {
    for verb in ["hash", "fingerprint"] {
        let r = run_with_truncation(&[verb], nothing);
        assert_eq!(r.code, 2, "{verb}: stdout: {}\nstderr: {}", r.out, r.err);
        assert_eq!(r.err.lines().count(), 1, "{}", r.err);
        assert!(
            r.err.contains("live.safetensors") && r.err.contains("changed while being read"),
            "{verb}: {}",
            r.err
        );
    }
}

#[test]
fn manifest_and_convert_of_a_file_truncated_while_read_write_nothing() {
    for args in [
        ["manifest", "-o", "m.json"],
        ["convert", "-o", "c.safetensors"],
    ] {
        let r = run_with_truncation(&args, nothing);
        assert_eq!(r.code, 2, "{args:?}: {}", r.err);
        assert!(r.err.contains("changed while being read"), "{}", r.err);
        assert_eq!(
            r.files,
            ["live.safetensors"],
            "{args:?}: no output, no temporary file"
        );
    }
}

#[test]
fn verify_reports_a_file_truncated_while_read_as_changed() {
    let bin = assert_cmd::cargo::cargo_bin("mlprov");
    let r = run_with_truncation(&["verify", "m.json"], |dir, model| {
        let ok = Command::new(&bin)
            .stdout(Stdio::null())
            .arg("manifest")
            .arg(model)
            .arg("-o")
            .arg(dir.join("m.json"))
            .status()
            .unwrap();
        assert!(ok.success());
    });
    assert_eq!(r.code, 1, "a finding: {}{}", r.out, r.err);
    assert!(
        r.out
            .lines()
            .any(|l| l.starts_with("CHANGED") && l.contains("changed while being read")),
        "{}",
        r.out
    );
}

#[test]
fn scan_reports_a_model_truncated_while_read_and_is_not_killed() {
    let bin = assert_cmd::cargo::cargo_bin("mlprov");
    // The model is registered first, so the scan also reads it in full (the identical
    // check) and the cut lands while it is mapped.
    let r = run_with_truncation(
        &["--json", "scan", "--registry", "r.sqlite"],
        |dir, model| {
            let ok = Command::new(&bin)
                .env_remove("MLPROV_SIGNING_KEY")
                .stdout(Stdio::null())
                .arg("register")
                .arg(model)
                .arg("--registry")
                .arg(dir.join("r.sqlite"))
                .status()
                .unwrap();
            assert!(ok.success());
        },
    );
    assert!(
        matches!(r.code, 0 | 1),
        "the scan ends by itself (exit {}): {}",
        r.code,
        r.err
    );
    let report: serde_json::Value = serde_json::from_str(&r.out)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", r.out, r.err));
    let problems = report["problems"].as_array().unwrap();
    let findings = report["findings"].as_array().unwrap();
    eprintln!("scan under truncation: {problems:?} {findings:?}");
    assert_eq!(
        problems.len() + findings.len(),
        1,
        "the model is either a problem or a finding: {report}"
    );
    for p in problems {
        let text = format!("{} {}", p["path"], p["message"]);
        assert!(
            text.contains("live.safetensors") && text.contains("changed while being read"),
            "{text}"
        );
    }
}
