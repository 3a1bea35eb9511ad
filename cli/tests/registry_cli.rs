//! `mlprov register` and `mlprov audit` end to end: the registry's location, what register
//! prints, tamper detection by `audit verify`, many register processes at once against one
//! SQLite file and one PostgreSQL server, and processes killed at random moments.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use mlprov_testkit::postgres::PgServer;
use mlprov_testkit::{write_in, Rng, Tensor};
use serde_json::Value;

fn mlprov() -> Command {
    let mut cmd = Command::cargo_bin("mlprov").unwrap();
    cmd.env_remove("MLPROV_REGISTRY");
    cmd.env_remove("MLPROV_SIGNING_KEY");
    cmd
}

fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("mlprov")
}

/// A small model file (two 64 × 48 matrices), quick to register.
fn small_model(dir: &Path, seed: u64) -> PathBuf {
    let mut rng = Rng::new(seed);
    let tensors: Vec<Tensor> = (0..2)
        .map(|i| Tensor::f32(format!("w{i}"), &[64, 48], rng.gaussians(64 * 48, 0.1)))
        .collect();
    write_in(dir, &format!("m{seed}.safetensors"), &tensors)
}

fn json(cmd: &mut Command) -> Value {
    let out = cmd.output().unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The registry is consistent: the chain verifies, and assets and `register` entries match
/// one to one.
fn assert_consistent(location: &str) -> usize {
    let mut store = mlprov::registry::open(location).unwrap();
    let v = mlprov::audit_verify(store.as_mut()).unwrap();
    assert!(v.is_ok(), "{location}: {:?}", v.first_bad);
    let entries = store.audit_entries().unwrap();
    let mut assets: Vec<i64> = entries
        .iter()
        .filter(|e| e.kind == "register")
        .map(|e| {
            let p: Value = serde_json::from_str(&e.payload).unwrap();
            p["asset"].as_i64().unwrap()
        })
        .collect();
    assets.sort_unstable();
    assets.dedup();
    assert_eq!(
        assets.len() as u64,
        store.asset_count().unwrap(),
        "{location}"
    );
    for a in &assets {
        let asset = store.asset(mlprov::registry::AssetId(*a)).unwrap();
        assert!(
            asset.is_some(),
            "{location}: asset {a} of the log is missing"
        );
        assert!(store
            .fingerprint(mlprov::registry::AssetId(*a))
            .unwrap()
            .is_some());
    }
    assets.len()
}

#[test]
fn a_registration_signed_with_a_key_stores_an_envelope_that_verifies() {
    let dir = mlprov_testkit::tempdir();
    let model = small_model(dir.path(), 3);
    let reg = dir.path().join("registry.sqlite");
    let key = dir.path().join("acme.key");
    mlprov()
        .args(["key", "generate", "-o"])
        .arg(&key)
        .assert()
        .success();
    let out = json(
        mlprov()
            .args(["--json", "register"])
            .arg(&model)
            .arg("--registry")
            .arg(&reg)
            .arg("--key")
            .arg(&key),
    );
    assert_eq!(out["signed"], true);
    let mut store = mlprov::registry::open(reg.to_str().unwrap()).unwrap();
    let asset = store
        .asset(mlprov::registry::AssetId(out["asset"].as_i64().unwrap()))
        .unwrap()
        .unwrap();
    let (sig, manifest) = (dir.path().join("sig.json"), dir.path().join("m.json"));
    std::fs::write(&sig, &asset.signature).unwrap();
    std::fs::write(&manifest, &asset.manifest).unwrap();
    let verify = || {
        let mut cmd = mlprov();
        cmd.arg("verify-signature")
            .arg(&sig)
            .arg("--key")
            .arg(dir.path().join("acme.key.pub"))
            .arg("--manifest")
            .arg(&manifest);
        cmd
    };
    verify().arg("--model").arg(&model).assert().success();
    // Another manifest does not verify under it.
    std::fs::write(&manifest, asset.manifest.replace("m3", "m4")).unwrap();
    verify().assert().code(predicates::ord::ne(0));
    // Without a key nothing is signed; $MLPROV_SIGNING_KEY is a key too.
    let out = json(
        mlprov()
            .args(["--json", "register"])
            .arg(&model)
            .arg("--registry")
            .arg(&reg),
    );
    assert_eq!(out["signed"], false);
    let out = json(
        mlprov()
            .env("MLPROV_SIGNING_KEY", &key)
            .args(["--json", "register"])
            .arg(&model)
            .arg("--registry")
            .arg(&reg),
    );
    assert_eq!(out["signed"], true);
}

#[test]
fn register_then_audit_show_and_verify() {
    let dir = mlprov_testkit::tempdir();
    let model = small_model(dir.path(), 1);
    let reg = dir.path().join("sub/registry.sqlite");
    let out = json(
        mlprov()
            .args(["--json", "register"])
            .arg(&model)
            .arg("--registry")
            .arg(&reg)
            .args(["--licensee", "Acme", "--licensee", "Beta\u{1b}[2J"]),
    );
    assert_eq!(out["asset"], 1);
    assert_eq!(out["kind"], "model");
    assert!(out["root"].as_str().unwrap().starts_with("blake3:"));
    assert!(out["fingerprint_bytes"].as_u64().unwrap() > 0);

    // MLPROV_REGISTRY names it too; the human line has the asset and root.
    let text = mlprov()
        .arg("register")
        .arg(&model)
        .env("MLPROV_REGISTRY", &reg)
        .output()
        .unwrap();
    assert!(text.status.success());
    let line = String::from_utf8(text.stdout).unwrap();
    assert!(
        line.starts_with("registered asset 2: m1.safetensors"),
        "{line}"
    );
    assert!(line.contains(out["root"].as_str().unwrap()), "{line}");

    // audit show lists both, with escaped control characters in the table.
    let shown = json(
        mlprov()
            .args(["--json", "audit", "show", "--registry"])
            .arg(&reg),
    );
    let shown = shown.as_array().unwrap();
    assert_eq!(shown.len(), 2);
    assert_eq!(shown[0]["kind"], "register");
    assert_eq!(shown[0]["payload"]["licensees"][1], "Beta\u{1b}[2J");
    let table = mlprov()
        .args(["audit", "show", "--registry"])
        .arg(&reg)
        .output()
        .unwrap();
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(!table.contains('\u{1b}'), "{table}");
    assert!(table.contains("2 entries"), "{table}");

    mlprov()
        .args(["audit", "verify", "--registry"])
        .arg(&reg)
        .assert()
        .success()
        .stdout(predicates::str::contains("audit log intact: 2 entries"));

    // An edited entry: exit 1 naming it.
    let conn = rusqlite::Connection::open(&reg).unwrap();
    conn.execute(
        "UPDATE audit SET time = '2020-01-01T00:00:00Z' WHERE seq = 2",
        [],
    )
    .unwrap();
    mlprov()
        .args(["audit", "verify", "--registry"])
        .arg(&reg)
        .assert()
        .code(1)
        .stdout(predicates::str::contains("BROKEN at entry 2"));
    let v = json(
        mlprov()
            .args(["--json", "audit", "verify", "--registry"])
            .arg(&reg),
    );
    assert_eq!(v["ok"], false);
    assert_eq!(v["first_bad"]["seq"], 2);
}

#[test]
fn the_default_registry_is_under_xdg_data_home_and_bad_input_exits_2() {
    let dir = mlprov_testkit::tempdir();
    let model = small_model(dir.path(), 1);
    mlprov()
        .arg("register")
        .arg(&model)
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .assert()
        .success();
    assert!(dir.path().join("data/mlprov/registry.sqlite").is_file());
    // Without XDG_DATA_HOME: ~/.local/share.
    mlprov()
        .args(["audit", "verify"])
        .env_remove("XDG_DATA_HOME")
        .env("HOME", dir.path().join("home"))
        .assert()
        .success();
    assert!(dir
        .path()
        .join("home/.local/share/mlprov/registry.sqlite")
        .is_file());
    // A missing model, and a registry that cannot be reached: exit 2.
    mlprov()
        .arg("register")
        .arg(dir.path().join("nope.safetensors"))
        .arg("--registry")
        .arg(dir.path().join("r.sqlite"))
        .assert()
        .code(2);
    mlprov()
        .args([
            "audit",
            "show",
            "--registry",
            "postgres://nobody@127.0.0.1:1/none",
        ])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("127.0.0.1:1"));
}

/// `workers` processes at once, each running `each` operations in turn: even workers
/// `mlprov register`, odd ones `mlprov scan` of a folder holding their model (which looks
/// it up, compares it with what the registers stored and appends a `scan` entry).
fn concurrent_registers(location: &str, workers: u64, each: u64) {
    let dir = mlprov_testkit::tempdir();
    let models: Vec<PathBuf> = (0..workers)
        .map(|w| {
            let folder = dir.path().join(format!("w{w}"));
            std::fs::create_dir_all(&folder).unwrap();
            small_model(&folder, w % 2)
        })
        .collect();
    std::thread::scope(|s| {
        for (w, model) in models.iter().enumerate() {
            s.spawn(move || {
                for _ in 0..each {
                    let mut cmd = std::process::Command::new(bin());
                    if w % 2 == 0 {
                        cmd.arg("register").arg(model);
                    } else {
                        cmd.arg("scan").arg(model.parent().unwrap());
                    }
                    let out = cmd.arg("--registry").arg(location).output().unwrap();
                    // A scan that finds a registered model exits 1 (nobody holds a licence).
                    assert!(
                        matches!(out.status.code(), Some(0 | 1)),
                        "{}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            });
        }
    });
    let registers = workers.div_ceil(2) * each;
    assert_eq!(assert_consistent(location) as u64, registers);
    let mut store = mlprov::registry::open(location).unwrap();
    let scans = store
        .audit_entries()
        .unwrap()
        .iter()
        .filter(|e| e.kind == "scan")
        .count() as u64;
    assert_eq!(
        scans,
        (workers / 2) * each,
        "every scan is in the audit log"
    );
}

/// Register and scan processes killed with SIGKILL at random moments leave a consistent
/// registry whose chain verifies; the survivors' registrations are all there.
fn killed_registers(location: &str, rounds: u64) {
    let dir = mlprov_testkit::tempdir();
    let model = small_model(dir.path(), 42);
    let mut rng = Rng::new(2026);
    let mut finished = 0;
    for _ in 0..rounds {
        // Registers and scans alternate; the last (a register) is never killed.
        let mut children: Vec<Child> = (0..5)
            .map(|i| {
                let mut cmd = std::process::Command::new(bin());
                if i % 2 == 0 {
                    cmd.arg("register").arg(&model);
                } else {
                    cmd.arg("scan").arg(&model);
                }
                cmd.arg("--registry")
                    .arg(location)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        std::thread::sleep(Duration::from_millis(rng.below(500) as u64));
        for c in &mut children[..4] {
            let _ = c.kill(); // SIGKILL
        }
        for (i, c) in children.iter_mut().enumerate() {
            if c.wait().unwrap().success() && i % 2 == 0 {
                finished += 1;
            }
        }
    }
    let registered = assert_consistent(location);
    eprintln!("{location}: {finished} registers finished, {registered} assets registered");
    assert!(registered >= finished, "{registered} < {finished}");
    assert!(
        finished < 3 * rounds as usize,
        "no process was killed while working"
    );
    // The registry still takes writes after the kills.
    mlprov()
        .arg("register")
        .arg(&model)
        .arg("--registry")
        .arg(location)
        .assert()
        .success();
    assert_eq!(assert_consistent(location), registered + 1);
}

#[test]
fn concurrent_registers_into_one_sqlite_file_lose_nothing() {
    let dir = mlprov_testkit::tempdir();
    let reg = dir.path().join("registry.sqlite");
    let start = Instant::now();
    concurrent_registers(reg.to_str().unwrap(), 8, 25);
    eprintln!("8 x 25 registers into SQLite: {:?}", start.elapsed());
}

#[test]
fn concurrent_registers_into_one_postgres_server_lose_nothing() {
    let server = PgServer::start();
    let start = Instant::now();
    concurrent_registers(&server.url(), 8, 25);
    eprintln!("8 x 25 registers into PostgreSQL: {:?}", start.elapsed());
}

#[test]
#[ignore = "the issue's full load: 8 processes x 200 registers each (minutes in a debug build)"]
fn concurrent_registers_full_load() {
    let dir = mlprov_testkit::tempdir();
    let reg = dir.path().join("registry.sqlite");
    concurrent_registers(reg.to_str().unwrap(), 8, 200);
    let server = PgServer::start();
    concurrent_registers(&server.url(), 8, 200);
}

#[test]
fn registers_killed_at_random_moments_leave_sqlite_consistent() {
    let dir = mlprov_testkit::tempdir();
    let reg = dir.path().join("registry.sqlite");
    killed_registers(reg.to_str().unwrap(), 12);
}

#[test]
fn registers_killed_at_random_moments_leave_postgres_consistent() {
    let server = PgServer::start();
    killed_registers(&server.url(), 12);
}
