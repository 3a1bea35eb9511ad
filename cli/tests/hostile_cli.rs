//! Hostile files of every format through the binary: exit code 2 and one line on stderr
//! naming the file and the problem, never a panic. (The readers' own tests cover many more
//! cases at library level; these check the whole path a user runs.)

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn fixture(rel: &str) -> PathBuf {
    mlprov_testkit::fixtures().join(rel)
}

fn assert_rejected(path: &Path, want: &str) {
    for verb in ["inspect", "hash", "fingerprint"] {
        let out = Command::cargo_bin("mlprov")
            .unwrap()
            .arg(verb)
            .arg(path)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{verb} {}: {err}",
            path.display()
        );
        assert_eq!(err.lines().count(), 1, "{verb}: one line please: {err}");
        let name = path.file_name().unwrap().to_string_lossy();
        assert!(
            err.contains(&*name) && err.contains(want),
            "{verb} {}: expected `{want}` in: {err}",
            path.display()
        );
    }
}

#[test]
fn hostile_files_of_each_format_exit_2_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // GGUF claiming 2^62 tensors and key-values in a 24-byte file.
    let mut gguf = b"GGUF".to_vec();
    gguf.extend_from_slice(&3u32.to_le_bytes());
    gguf.extend_from_slice(&(1u64 << 62).to_le_bytes());
    gguf.extend_from_slice(&(1u64 << 62).to_le_bytes());
    fs::write(d.join("counts.gguf"), &gguf).unwrap();
    assert_rejected(&d.join("counts.gguf"), "GGUF");

    // NumPy header declaring a 2^40 x 2^40 array over a few bytes.
    let header =
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776), }";
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    let padded = format!("{header:<118}\n");
    npy.extend_from_slice(&(padded.len() as u16).to_le_bytes());
    npy.extend_from_slice(padded.as_bytes());
    npy.extend_from_slice(&[0; 16]);
    fs::write(d.join("huge.npy"), &npy).unwrap();
    assert_rejected(&d.join("huge.npy"), "NumPy");

    // An npz cut in half: the zip directory is gone.
    let npz = fs::read(fixture("numpy/dtypes.npz")).unwrap();
    fs::write(d.join("cut.npz"), &npz[..npz.len() / 2]).unwrap();
    assert_rejected(&d.join("cut.npz"), "zip");

    // ONNX whose external data path escapes the model's folder (same length, so the
    // protobuf stays well-formed): "weights.bin" -> "../evil.bin".
    let model = fs::read(fixture("onnx/external/model.onnx")).unwrap();
    let pos = model.windows(11).position(|w| w == b"weights.bin").unwrap();
    let mut evil = model.clone();
    evil[pos..pos + 11].copy_from_slice(b"../evil.bin");
    fs::create_dir(d.join("m")).unwrap();
    fs::write(d.join("m/escape.onnx"), &evil).unwrap();
    fs::write(d.join("evil.bin"), [0u8; 256]).unwrap(); // exists, and must still be refused
    assert_rejected(&d.join("m/escape.onnx"), "ONNX");

    // A TorchScript archive cut short.
    let jit = fs::read(fixture("torch/scripted.jit")).unwrap();
    fs::write(d.join("cut.pt"), &jit[..jit.len() - 200]).unwrap();
    assert_rejected(&d.join("cut.pt"), "zip");
}

/// Output of `mlprov ARGS...` (stdout, stderr, exit code).
fn run(args: &[&std::ffi::OsStr]) -> (String, String, i32) {
    let out = Command::cargo_bin("mlprov")
        .unwrap()
        .args(args)
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

#[test]
fn names_with_control_characters_cannot_forge_lines_or_drive_the_terminal() {
    use mlprov_testkit::{Rng, Tensor};
    let dir = tempfile::tempdir().unwrap();
    let forged = "w\nverify: OK (1 files, 1 tensors)\x1b[2J\u{202e}";
    let values = Rng::new(4).gaussians(64 * 64, 1.0);
    let model = dir.path().join("m.safetensors");
    mlprov_testkit::write_safetensors(&model, &[Tensor::f32(forged, &[64, 64], values)]);
    let manifest = dir.path().join("m.json");
    let (m, p) = (manifest.as_os_str(), model.as_os_str());
    let ok = |(out, err, code): (String, String, i32), verb: &str| {
        assert!(code == 0 || code == 1, "{verb}: exit {code}: {err}");
        for text in [&out, &err] {
            assert!(
                !text.contains(['\x1b', '\u{202e}']),
                "{verb}: raw control character in {text:?}"
            );
            assert!(
                !text
                    .lines()
                    .any(|l| l.starts_with("verify: OK (1 files, 1 tensors)")),
                "{verb}: a forged line: {text}"
            );
        }
        assert!(
            out.contains("w\\nverify: OK"),
            "{verb}: escaped name shown: {out}"
        );
    };
    ok(run(&["inspect".as_ref(), p]), "inspect");
    ok(run(&["hash".as_ref(), p]), "hash");
    ok(run(&["fingerprint".as_ref(), p]), "fingerprint");
    ok(
        run(&["compare".as_ref(), "--pairs".as_ref(), p, p]),
        "compare",
    );
    let (_, err, code) = run(&["manifest".as_ref(), p, "-o".as_ref(), m]);
    assert_eq!(code, 0, "{err}");
    // Change the tensor: verify lists it by its (escaped) name, and the verdict line is real.
    let values = Rng::new(5).gaussians(64 * 64, 1.0);
    mlprov_testkit::write_safetensors(&model, &[Tensor::f32(forged, &[64, 64], values)]);
    let (out, err, code) = run(&["verify".as_ref(), m, p]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.lines().any(|l| l.starts_with("verify: MISMATCH")),
        "{out}"
    );
    assert!(
        !out.contains('\x1b') && out.contains("w\\nverify: OK"),
        "{out}"
    );

    // An error about a file whose name holds a newline stays one line.
    let bad = dir.path().join("bad\nverify: OK.safetensors");
    fs::write(&bad, b"\x08\x00\x00\x00\x00\x00\x00\x00{\"a\":1}").unwrap();
    let (_, err, code) = run(&["inspect".as_ref(), bad.as_os_str()]);
    assert_eq!(code, 2);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("bad\\nverify: OK"), "{err}");
}

/// Runs `mlprov ARGS` with a deadline: a command that blocks fails the test instead of
/// hanging it.
fn run_timed(args: &[&std::ffi::OsStr]) -> (String, String, i32) {
    let out = Command::cargo_bin("mlprov")
        .unwrap()
        .args(args)
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

#[cfg(unix)]
#[test]
fn fifos_and_devices_are_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fifo = d.join("model.safetensors");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    // As a model, and a device as a model.
    for p in [fifo.as_os_str(), "/dev/zero".as_ref()] {
        for verb in ["inspect", "hash"] {
            let (_, err, code) = run_timed(&[verb.as_ref(), p]);
            assert_eq!(code, 2, "{verb}: {err}");
            assert!(err.contains("not a regular file"), "{err}");
        }
    }
    // As a shard in a folder: a folder walk lists regular files only, so the FIFO is not
    // opened; the real shard beside it is read.
    let model = d.join("m");
    fs::create_dir(&model).unwrap();
    fs::copy(
        fixture("safetensors/tiny-model.safetensors"),
        model.join("a.safetensors"),
    )
    .unwrap();
    assert!(std::process::Command::new("mkfifo")
        .arg(model.join("b.safetensors"))
        .status()
        .unwrap()
        .success());
    assert!(std::process::Command::new("mkfifo")
        .arg(model.join("model.safetensors.index.json"))
        .status()
        .unwrap()
        .success());
    let (_, err, code) = run_timed(&["inspect".as_ref(), model.as_os_str()]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("index") && err.contains("not a regular file"),
        "{err}"
    );
    fs::remove_file(model.join("model.safetensors.index.json")).unwrap();
    let (out, err, code) = run_timed(&["inspect".as_ref(), model.as_os_str()]);
    assert_eq!(code, 0, "{out}{err}");
    // As a manifest's subject (the manifest names `m.safetensors` beside it).
    let manifest = d.join("m.json");
    let (_, err, code) = run_timed(&[
        "manifest".as_ref(),
        fixture("safetensors/tiny-model.safetensors").as_os_str(),
        "-o".as_ref(),
        manifest.as_os_str(),
    ]);
    assert_eq!(code, 0, "{err}");
    let text = fs::read_to_string(&manifest).unwrap();
    let subject = d.join("tiny-model.safetensors");
    assert!(std::process::Command::new("mkfifo")
        .arg(&subject)
        .status()
        .unwrap()
        .success());
    assert!(text.contains("tiny-model.safetensors"));
    let (out, err, code) = run_timed(&["verify".as_ref(), manifest.as_os_str()]);
    assert!(code == 1 || code == 2, "{out}{err}");
    assert!(
        out.contains("not a regular file") || err.contains("not a regular file"),
        "{out}{err}"
    );
}

/// Thousands of tensors over one 64 MiB region (a few KB of GGUF header): hashed once.
#[test]
fn many_views_of_one_region_do_not_take_hours() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("views.gguf");
    fs::write(&path, mlprov_testkit::hostile::gguf_views(4000, 16 << 20)).unwrap();
    let start = std::time::Instant::now();
    let (out, err, code) = run_timed(&["hash".as_ref(), path.as_os_str()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.matches("blake3:").count() >= 4000, "{out}");
    assert!(start.elapsed().as_secs() < 60, "{:?}", start.elapsed());
    // The same from a pickle: 4000 views of one stored 16 MiB storage.
    let views: Vec<View> = (0..4000)
        .map(|i| view(&format!("v{i}"), 4 << 20, 0, &[4 << 20], &[1]))
        .collect();
    let pt = dir.path().join("views.pt");
    let storage = vec![1u8; 16 << 20];
    fs::write(
        &pt,
        torch_zip(&state_dict_pickle(&views), &[("0", &storage, false)]),
    )
    .unwrap();
    let start = std::time::Instant::now();
    let (out, err, code) = run_timed(&["hash".as_ref(), pt.as_os_str()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.matches("blake3:").count() >= 4000, "{out}");
    assert!(start.elapsed().as_secs() < 60, "{:?}", start.elapsed());
}

/// A pickle that would run code is a security finding (exit 1), named by its global, in a
/// torch.save zip and as a bare pickle, in text and in JSON; never "invalid header".
#[test]
fn malicious_pickles_are_security_findings_naming_the_global() {
    let dir = tempfile::tempdir().unwrap();
    for (i, (global, opcode, p)) in mlprov_testkit::hostile::malicious_pickles()
        .into_iter()
        .enumerate()
    {
        let zip = dir.path().join(format!("evil{i}.pt"));
        fs::write(&zip, mlprov_testkit::hostile::torch_zip(&p, &[])).unwrap();
        let bare = dir.path().join(format!("evil{i}.pkl"));
        fs::write(&bare, &p).unwrap();
        for path in [&zip, &bare] {
            let (out, err, code) = run(&["inspect".as_ref(), path.as_os_str()]);
            assert_eq!(code, 1, "{global}: {out}{err}");
            let want = format!(
                "security finding: {} would run `{global}` when loaded",
                path.display()
            );
            assert!(out.contains(&want), "{global} {opcode}: {out}{err}");
            let (out, _, code) = run(&["--json".as_ref(), "hash".as_ref(), path.as_os_str()]);
            assert_eq!(code, 1);
            let v: serde_json::Value = serde_json::from_str(&out).unwrap();
            let f = &v["security_finding"];
            assert_eq!(f["global"], global.as_str(), "{out}");
            assert_eq!(f["opcode"], opcode, "{out}");
            assert_eq!(f["path"], path.display().to_string(), "{out}");
        }
    }
    // In a model folder, even without a weight extension, it is reported, not skipped.
    let folder = dir.path().join("model");
    fs::create_dir(&folder).unwrap();
    fs::copy(
        fixture("safetensors/tiny-model.safetensors"),
        folder.join("model.safetensors"),
    )
    .unwrap();
    fs::copy(dir.path().join("evil0.pkl"), folder.join("training_args")).unwrap();
    let (out, err, code) = run(&["inspect".as_ref(), folder.as_os_str()]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("would run `os.system`"), "{out}");
}

/// Runs `mlprov ARGS` with `MLPROV_MEMORY_BUDGET` set (or not).
fn run_env(budget: Option<&str>, args: &[&std::ffi::OsStr]) -> (String, String, i32) {
    let mut cmd = Command::cargo_bin("mlprov").unwrap();
    cmd.env_remove("MLPROV_MEMORY_BUDGET");
    if let Some(b) = budget {
        cmd.env("MLPROV_MEMORY_BUDGET", b);
    }
    let out = cmd
        .args(args)
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

fn view(name: &str, numel: u64, offset: u64, shape: &[u64], stride: &[u64]) -> View {
    View {
        name: name.into(),
        key: "0".into(),
        numel,
        offset,
        shape: shape.to_vec(),
        stride: stride.to_vec(),
    }
}

use mlprov_testkit::hostile::{state_dict_pickle, torch_zip, View};

/// What a small file claims is not what it gets: decoded and inflated bytes are charged to
/// one budget, refused beyond it with the number needed; shared storages and identical
/// views are decoded once.
#[test]
fn memory_is_bounded_by_the_budget_not_by_what_a_file_claims() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let over = |out: &str, err: &str, code: i32, path: &Path, budget: u64| {
        assert_eq!(code, 2, "{out}{err}");
        assert!(
            err.contains(&path.display().to_string())
                && err.contains("bytes of decoded data, more than the memory budget of")
                && err.contains(&budget.to_string())
                && err.contains("--memory-budget"),
            "{err}"
        );
    };
    let storage: Vec<u8> = (0..16u32).flat_map(|i| (i as f32).to_le_bytes()).collect();

    // Broadcast (stride-0) views of 16 MiB each over 64 bytes: 16 distinct views need
    // 256 MiB, refused under 64M (flag) and under 100M (environment)...
    let views: Vec<View> = (0..16)
        .map(|i| view(&format!("b{i}"), 16, i, &[2048, 2048], &[0, 0]))
        .collect();
    let broadcast = d.join("broadcast.pt");
    fs::write(
        &broadcast,
        torch_zip(&state_dict_pickle(&views), &[("0", &storage, false)]),
    )
    .unwrap();
    let (out, err, code) = run_env(
        None,
        &[
            "--memory-budget".as_ref(),
            "64M".as_ref(),
            "inspect".as_ref(),
            broadcast.as_os_str(),
        ],
    );
    over(&out, &err, code, &broadcast, 64 << 20);
    let (out, err, code) = run_env(Some("100M"), &["hash".as_ref(), broadcast.as_os_str()]);
    over(&out, &err, code, &broadcast, 100 << 20);
    // ...and read under the default budget.
    let (out, err, code) = run_env(None, &["inspect".as_ref(), broadcast.as_os_str()]);
    assert_eq!(code, 0, "{out}{err}");
    // A malformed budget is a usage error.
    let (_, err, code) = run_env(Some("lots"), &["inspect".as_ref(), broadcast.as_os_str()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("MLPROV_MEMORY_BUDGET"), "{err}");

    // 1000 identical broadcast views: gathered once (16 MiB), fine under 32M.
    let views: Vec<View> = (0..1000)
        .map(|i| view(&format!("s{i}"), 16, 0, &[2048, 2048], &[0, 0]))
        .collect();
    let same = d.join("same.pt");
    fs::write(
        &same,
        torch_zip(&state_dict_pickle(&views), &[("0", &storage, false)]),
    )
    .unwrap();
    let (out, err, code) = run_env(Some("32M"), &["hash".as_ref(), same.as_os_str()]);
    assert_eq!(code, 0, "{out}{err}");

    // 64 tensors over one deflated 16 MiB storage: inflated once (16 MiB, not 1 GiB).
    let zeros = vec![0u8; 16 << 20];
    let views: Vec<View> = (0..64)
        .map(|i| view(&format!("w{i}"), 4 << 20, 0, &[4 << 20], &[1]))
        .collect();
    let shared = d.join("shared.pt");
    fs::write(
        &shared,
        torch_zip(&state_dict_pickle(&views), &[("0", &zeros, true)]),
    )
    .unwrap();
    assert!(fs::metadata(&shared).unwrap().len() < 100_000);
    let (out, err, code) = run_env(Some("20M"), &["inspect".as_ref(), shared.as_os_str()]);
    assert_eq!(code, 0, "{out}{err}");

    // An npz of 8 deflated members of 16 MiB: 128 MiB in total, each member under the
    // per-member cap; refused under 64M as a whole.
    let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (4194304,), }";
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    let padded = format!("{header:<117}\n");
    npy.extend_from_slice(&(padded.len() as u16).to_le_bytes());
    npy.extend_from_slice(padded.as_bytes());
    npy.extend_from_slice(&zeros);
    let names: Vec<String> = (0..8).map(|i| format!("a{i}.npy")).collect();
    let members: Vec<(&str, &[u8], bool)> =
        names.iter().map(|n| (n.as_str(), &npy[..], true)).collect();
    let npz = d.join("bomb.npz");
    fs::write(&npz, mlprov_testkit::hostile::zip(&members)).unwrap();
    let (out, err, code) = run_env(Some("64M"), &["inspect".as_ref(), npz.as_os_str()]);
    over(&out, &err, code, &npz, 64 << 20);
    let (out, err, code) = run_env(Some("200M"), &["inspect".as_ref(), npz.as_os_str()]);
    assert_eq!(code, 0, "{out}{err}");

    // Nested keys that lead back to shared levels: 2^18 names of 18 * 101 bytes from a
    // few KB of pickle, refused by the cap on name bytes.
    let names = d.join("names.pt");
    let pickle = mlprov_testkit::hostile::nested_names_pickle(18, 100);
    fs::write(&names, torch_zip(&pickle, &[("0", &storage, false)])).unwrap();
    let (out, err, code) = run_env(None, &["inspect".as_ref(), names.as_os_str()]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("tensor names take more than"), "{err}");
    // A single name past 4 KiB.
    let long = d.join("long.pt");
    let pickle = mlprov_testkit::hostile::nested_names_pickle(3, 2000);
    fs::write(&long, torch_zip(&pickle, &[("0", &storage, false)])).unwrap();
    let (_, err, code) = run_env(None, &["inspect".as_ref(), long.as_os_str()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("longer than 4096 bytes"), "{err}");

    // A safetensors header of 20 MiB: refused before it is parsed.
    let mut st = (20u64 << 20).to_le_bytes().to_vec();
    st.push(b'{');
    st.resize(8 + (20 << 20), b' ');
    let header = d.join("header.safetensors");
    fs::write(&header, &st).unwrap();
    let (_, err, code) = run_env(None, &["inspect".as_ref(), header.as_os_str()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("larger than the 16777216 bytes read"), "{err}");
}

/// `verify`'s folder walk reports what it does not read: hidden and deep weight files are
/// checked, folder symlinks, links leaving the model and folders too deep are differences,
/// non-UTF-8 names neither stop the walk nor hide a weight file, and a link leaving the
/// model is never read (its bytes appear nowhere).
#[cfg(unix)]
#[test]
fn verify_walk_reports_hidden_deep_linked_and_non_utf8_entries() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let tiny = fixture("safetensors/tiny-model.safetensors");
    let model = d.join("model");
    fs::create_dir(&model).unwrap();
    fs::copy(&tiny, model.join("model.safetensors")).unwrap();
    // A README with a non-UTF-8 name is passed over by its content.
    fs::write(model.join(OsStr::from_bytes(b"README\xff.md")), "# hi\n").unwrap();
    let manifest = d.join("model.json");
    let (_, err, code) = run(&[
        "manifest".as_ref(),
        model.as_os_str(),
        "-o".as_ref(),
        manifest.as_os_str(),
    ]);
    assert_eq!(code, 0, "{err}");
    let (out, err, code) = run(&["verify".as_ref(), manifest.as_os_str()]);
    assert_eq!(code, 0, "{out}{err}");

    // Extra entries of every kind.
    fs::copy(&tiny, model.join(".hidden.safetensors")).unwrap();
    let deep = (0..10).fold(model.clone(), |p, i| p.join(format!("d{i}")));
    fs::create_dir_all(&deep).unwrap();
    fs::copy(&tiny, deep.join("deep.safetensors")).unwrap();
    let too_deep = (0..70).fold(model.join("z"), |p, _| p.join("z"));
    fs::create_dir_all(&too_deep).unwrap();
    fs::copy(&tiny, too_deep.join("buried.safetensors")).unwrap();
    let elsewhere = d.join("elsewhere");
    fs::create_dir(&elsewhere).unwrap();
    fs::copy(&tiny, elsewhere.join("more.safetensors")).unwrap();
    symlink(&elsewhere, model.join("linked")).unwrap();
    let secret = d.join("secret.txt");
    fs::write(&secret, "SECRETSECRETSECRET").unwrap();
    symlink(&secret, model.join("leak.safetensors")).unwrap();
    fs::copy(&tiny, model.join(OsStr::from_bytes(b"w\xff.safetensors"))).unwrap();

    let (out, err, code) = run(&["verify".as_ref(), manifest.as_os_str()]);
    assert_eq!(code, 1, "{out}{err}");
    let all = format!("{out}{err}");
    for want in [
        ".hidden.safetensors",
        "d0/d1/d2/d3/d4/d5/d6/d7/d8/d9/deep.safetensors",
        "linked",
        "symbolic link to a folder",
        "leak.safetensors",
        "leads outside the model folder",
        "not walked",
        "w\u{fffd}.safetensors",
    ] {
        assert!(all.contains(want), "`{want}` missing in: {all}");
    }
    assert!(
        !all.contains("SECRET") && !all.contains("53 45 43"),
        "{all}"
    );
    // The same walk for inspect: the extra files are read, the rest warned about.
    let (out, err, code) = run(&["inspect".as_ref(), model.as_os_str()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains("leak.safetensors") && !err.contains("SECRET"),
        "{err}"
    );
}
