//! Archives opened in place: zip, tar, tar.gz, tar.zst, nested; models inside them.

mod common;

use std::fs;
use std::path::PathBuf;

use common::*;
use mlprov_formats::Sniffed;
use mlprov_walk::{ProblemKind, WalkOptions};

#[test]
fn a_model_deep_in_a_zip_is_extracted_byte_for_byte() {
    let t = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let st = fixture("safetensors/tiny-model.safetensors");
    let z = t.path().join("x.zip");
    fs::write(
        &z,
        zip_of(&[("README", b"hello"), ("dir/m.safetensors", &st)]),
    )
    .unwrap();
    let (recs, summary) = run(std::slice::from_ref(&z), &options_in(tmp.path()));
    let u = units(&recs);
    assert_eq!(u.len(), 1, "{recs:#?}");
    assert_eq!(u[0].display, format!("{}!/dir/m.safetensors", z.display()));
    assert_eq!(u[0].files[0].1, st);
    assert!(u[0].within && u[0].local.starts_with(tmp.path()));
    assert_eq!(u[0].opened, Ok(1));
    assert_eq!(summary.archives, 1);
    assert_eq!(summary.extracted_bytes, st.len() as u64);
    assert!(
        leftovers(tmp.path()).is_empty(),
        "temp files left: {:?}",
        leftovers(tmp.path())
    );
}

#[test]
fn torch_and_npz_zips_are_units_not_archives() {
    let t = tempfile::tempdir().unwrap();
    let pt = fixture("torch/checkpoint.pt");
    let jit = fixture("torch/scripted.jit");
    let npz = fixture("numpy/dtypes.npz");
    fs::write(t.path().join("ckpt.bin"), &pt).unwrap();
    fs::write(t.path().join("arrays.npz"), &npz).unwrap();
    // The same inside an archive: one unit each, still not opened.
    fs::write(
        t.path().join("bundle.zip"),
        zip_of(&[("m/checkpoint.pt", &pt), ("m/scripted.jit", &jit)]),
    )
    .unwrap();
    let (recs, summary) = run(&[t.path().to_path_buf()], &Default::default());
    let u = units(&recs);
    assert_eq!(
        shown(&u, t.path()),
        [
            "arrays.npz",
            "bundle.zip!/m/checkpoint.pt",
            "bundle.zip!/m/scripted.jit",
            "ckpt.bin"
        ],
        "{recs:#?}"
    );
    assert!(u.iter().all(|u| u.format == Some(Sniffed::Zip)));
    assert!(u.iter().all(|u| u.opened == Ok(1)), "{u:#?}");
    assert_eq!(u[1].files[0].1, pt);
    assert_eq!(summary.archives, 1);
}

#[test]
fn tar_tar_gz_and_tar_zst_are_opened() {
    let t = tempfile::tempdir().unwrap();
    let g = fixture("gguf/quant.gguf");
    let tar = tar_of(&[("models/q.gguf", &g), ("etc/conf.yaml", b"a: 1")]);
    // Names do not matter: only bytes.
    fs::write(t.path().join("a.tar"), &tar).unwrap();
    fs::write(t.path().join("b.data"), gz(&tar)).unwrap();
    fs::write(t.path().join("c.tar.zst"), zst(&tar)).unwrap();
    let (recs, summary) = run(&[t.path().to_path_buf()], &Default::default());
    assert_eq!(
        shown(&units(&recs), t.path()),
        [
            "a.tar!/models/q.gguf",
            "b.data!/models/q.gguf",
            "c.tar.zst!/models/q.gguf"
        ],
        "{recs:#?}"
    );
    assert!(units(&recs)
        .iter()
        .all(|u| u.files[0].1 == g && u.opened == Ok(1)));
    assert!(problems(&recs).is_empty());
    assert_eq!(summary.archives, 3);
}

#[test]
fn nested_archives_show_the_whole_path() {
    let t = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let st = fixture("safetensors/tiny-model.safetensors");
    let inner = zip_of(&[("m.safetensors", &st)]);
    let mid = gz(&tar_of(&[("pkg/inner.zip", &inner)]));
    let outer = tar_of(&[("layer/mid.tgz", &mid)]);
    let p = t.path().join("a.tar");
    fs::write(&p, outer).unwrap();
    let (recs, summary) = run(std::slice::from_ref(&p), &options_in(tmp.path()));
    let u = units(&recs);
    assert_eq!(
        u.iter().map(|u| u.display.clone()).collect::<Vec<_>>(),
        [format!(
            "{}!/layer/mid.tgz!/pkg/inner.zip!/m.safetensors",
            p.display()
        )],
        "{recs:#?}"
    );
    assert_eq!(u[0].files[0].1, st);
    assert_eq!(summary.archives, 3);
    assert!(leftovers(tmp.path()).is_empty());
    // Two levels allowed: the zip inside is not opened.
    let opts = WalkOptions {
        max_depth_archives: 2,
        ..options_in(tmp.path())
    };
    let (recs, _) = run(std::slice::from_ref(&p), &opts);
    assert!(units(&recs).is_empty());
    let pr = problems(&recs);
    assert_eq!(pr.len(), 1, "{recs:#?}");
    assert_eq!(pr[0].kind, Some(ProblemKind::TooDeep));
    assert!(pr[0].display.ends_with("mid.tgz!/pkg/inner.zip"));
    let opts = WalkOptions {
        max_depth_archives: 1,
        ..options_in(tmp.path())
    };
    let (recs, _) = run(&[p], &opts);
    assert_eq!(problems(&recs)[0].kind, Some(ProblemKind::TooDeep));
    assert!(problems(&recs)[0].display.ends_with("a.tar!/layer/mid.tgz"));
}

#[test]
fn a_sharded_checkpoint_in_a_tar_is_one_unit() {
    let t = tempfile::tempdir().unwrap();
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/safetensors/tiny-sharded");
    let names = [
        "model-00002-of-00002.safetensors",
        "config.json",
        "model.safetensors.index.json",
        "model-00001-of-00002.safetensors",
    ];
    let files: Vec<(String, Vec<u8>)> = names
        .iter()
        .map(|n| (format!("tiny/{n}"), fs::read(dir.join(n)).unwrap()))
        .collect();
    let entries: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    let p = t.path().join("s.tar.gz");
    fs::write(&p, gz(&tar_of(&entries))).unwrap();
    let (recs, _) = run(std::slice::from_ref(&p), &Default::default());
    let u = units(&recs);
    assert_eq!(u.len(), 1, "{recs:#?}");
    assert_eq!(u[0].display, format!("{}!/tiny", p.display()));
    assert_eq!(u[0].format, Some(Sniffed::Safetensors));
    let shown: Vec<&str> = u[0]
        .files
        .iter()
        .map(|(d, _)| d.rsplit('!').next().unwrap())
        .collect();
    assert_eq!(
        shown,
        [
            "/tiny/model.safetensors.index.json",
            "/tiny/model-00001-of-00002.safetensors",
            "/tiny/model-00002-of-00002.safetensors"
        ]
    );
    assert_eq!(u[0].files[1].1, fs::read(dir.join(names[3])).unwrap());
    // The folder opens as the sharded model, index checked.
    assert_eq!(u[0].opened, Ok(2));
}

#[test]
fn an_onnx_model_in_a_zip_keeps_its_external_data() {
    let t = tempfile::tempdir().unwrap();
    let m = fixture("onnx/external/model.onnx");
    let w = fixture("onnx/external/weights.bin");
    let p = t.path().join("o.zip");
    fs::write(
        &p,
        zip_of(&[
            ("net/model.onnx", &m),
            ("net/weights.bin", &w),
            ("other.bin", b"x"),
        ]),
    )
    .unwrap();
    let (recs, _) = run(&[p], &Default::default());
    let u = units(&recs);
    assert_eq!(u.len(), 1, "{recs:#?}");
    assert_eq!(u[0].files.len(), 2);
    assert_eq!(u[0].files[1].1, w);
    assert_eq!(u[0].opened, Ok(1));
}

#[test]
fn a_wheel_is_a_zip_archive() {
    let t = tempfile::tempdir().unwrap();
    let g = fixture("gguf/quant.gguf");
    let p = t.path().join("pkg-1.0-py3-none-any.whl");
    fs::write(
        &p,
        zip_of(&[
            ("pkg/__init__.py", b""),
            ("pkg/data/q.gguf", &g),
            ("pkg-1.0.dist-info/RECORD", b""),
        ]),
    )
    .unwrap();
    let (recs, _) = run(std::slice::from_ref(&p), &Default::default());
    assert_eq!(
        units(&recs)
            .iter()
            .map(|u| u.display.clone())
            .collect::<Vec<_>>(),
        [format!("{}!/pkg/data/q.gguf", p.display())]
    );
}

#[test]
fn temp_files_exist_while_visited_and_are_gone_after() {
    let t = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let g = fixture("gguf/quant.gguf");
    let p = t.path().join("a.tar");
    fs::write(&p, tar_of(&[("1.gguf", &g), ("2.gguf", &g)])).unwrap();
    let mut locals = Vec::new();
    mlprov_walk::walk(&[p], &options_in(tmp.path()), &mut |f| {
        if let mlprov_walk::Found::Unit(u) = f {
            assert!(u.local.is_file());
            // Only the unit being visited is on disk.
            assert_eq!(
                leftovers(tmp.path()).iter().filter(|p| p.is_file()).count(),
                1
            );
            locals.push(u.local);
        }
        std::ops::ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(locals.len(), 2);
    assert!(locals.iter().all(|l| !l.exists()));
    assert!(leftovers(tmp.path()).is_empty());
}
