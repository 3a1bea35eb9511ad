//! Plain folders: files recognized by their bytes, special files, links, permissions.

mod common;

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use mlprov_formats::Sniffed;
use mlprov_walk::{ProblemKind, WalkOptions};

#[test]
fn files_are_recognized_by_their_bytes_not_their_names() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("deploy");
    fs::create_dir_all(root.join("a/b")).unwrap();
    fs::create_dir_all(root.join("sub")).unwrap();
    fs::create_dir_all(root.join(".git/lfs")).unwrap();
    let st = fixture("safetensors/tiny-model.safetensors");
    fs::write(root.join("a/b/weights.txt"), &st).unwrap();
    fs::write(
        root.join("fake.safetensors"),
        b"not weights at all, just text\n",
    )
    .unwrap();
    fs::write(root.join("sub/q.gguf"), fixture("gguf/quant.gguf")).unwrap();
    fs::write(root.join("notes.md"), b"# notes").unwrap();
    fs::write(root.join(".git/lfs/copy"), &st).unwrap();
    let (recs, summary) = run(std::slice::from_ref(&root), &Default::default());
    let u = units(&recs);
    assert_eq!(
        shown(&u, &root),
        ["a/b/weights.txt", "sub/q.gguf"],
        "{recs:#?}"
    );
    assert_eq!(u[0].format, Some(Sniffed::Safetensors));
    assert_eq!(u[1].format, Some(Sniffed::Gguf));
    assert_eq!(u[0].files[0].1, st);
    assert!(!u[0].within && u[0].opened.is_ok());
    assert!(problems(&recs).is_empty(), "{recs:#?}");
    assert_eq!(summary.files, 4);
    assert_eq!(summary.units, 2);
}

#[test]
fn data_files_are_reported_by_their_names_when_asked_and_only_outside_archives() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("deploy");
    fs::create_dir_all(root.join("data")).unwrap();
    for name in [
        "data/train.jsonl",
        "data/rows.CSV",
        "data/part-0.parquet",
        "data/more.tsv.gz",
        "data/config.json",
        "data/notes.txt",
        "data/.jsonl",
    ] {
        fs::write(root.join(name), b"{\"text\": \"a record\"}\n").unwrap();
    }
    // A weight file named like data stays a weight file.
    fs::write(
        root.join("data/w.jsonl"),
        fixture("safetensors/tiny-model.safetensors"),
    )
    .unwrap();
    fs::write(root.join("pack.tar"), tar_of(&[("inner.jsonl", b"{}\n")])).unwrap();
    let (recs, _) = run(std::slice::from_ref(&root), &Default::default());
    assert!(data_files(&recs).is_empty(), "{recs:#?}");
    let options = WalkOptions {
        data_files: true,
        ..Default::default()
    };
    let (recs, _) = run(std::slice::from_ref(&root), &options);
    let mut found = shown(&data_files(&recs), &root);
    found.sort();
    assert_eq!(
        found,
        [
            "data/more.tsv.gz",
            "data/part-0.parquet",
            "data/rows.CSV",
            "data/train.jsonl"
        ]
    );
    assert_eq!(shown(&units(&recs), &root), ["data/w.jsonl"]);
    assert!(problems(&recs).is_empty(), "{recs:#?}");
}

#[test]
fn a_fifo_is_reported_without_being_opened() {
    let t = tempfile::tempdir().unwrap();
    let fifo = t.path().join("model.safetensors");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    fs::write(t.path().join("m.gguf"), fixture("gguf/quant.gguf")).unwrap();
    let root = t.path().to_path_buf();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(run(&[root], &Default::default()));
    });
    let (recs, _) = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the walk hung on a FIFO");
    let p = problems(&recs);
    assert_eq!(p.len(), 1, "{recs:#?}");
    assert_eq!(p[0].kind, Some(ProblemKind::NotRegularFile));
    assert!(p[0].display.ends_with("model.safetensors") && p[0].message.contains("FIFO"));
    assert_eq!(units(&recs).len(), 1);
    // Given as a root too.
    let (recs, _) = run(&[fifo], &Default::default());
    assert_eq!(problems(&recs)[0].kind, Some(ProblemKind::NotRegularFile));
}

#[test]
fn unreadable_files_and_folders_are_problems() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("r");
    fs::create_dir_all(root.join("locked")).unwrap();
    fs::write(root.join("locked/m.gguf"), fixture("gguf/quant.gguf")).unwrap();
    fs::write(root.join("secret.gguf"), fixture("gguf/quant.gguf")).unwrap();
    fs::write(root.join("open.gguf"), fixture("gguf/quant.gguf")).unwrap();
    fs::set_permissions(root.join("secret.gguf"), fs::Permissions::from_mode(0o000)).unwrap();
    fs::set_permissions(root.join("locked"), fs::Permissions::from_mode(0o000)).unwrap();
    let root_user = privileged(t.path());
    let (recs, _) = run(std::slice::from_ref(&root), &Default::default());
    fs::set_permissions(root.join("locked"), fs::Permissions::from_mode(0o755)).unwrap();
    if root_user {
        // Permission checks do not apply: the walk completes and finds all three.
        assert_eq!(units(&recs).len(), 3, "{recs:#?}");
        return;
    }
    assert_eq!(shown(&units(&recs), &root), ["open.gguf"]);
    let p = problems(&recs);
    assert_eq!(shown(&p, &root), ["locked", "secret.gguf"], "{recs:#?}");
    assert!(p.iter().all(|p| p.kind == Some(ProblemKind::Unreadable)));
    assert!(
        p[1].message.to_lowercase().contains("permission"),
        "{}",
        p[1].message
    );
}

#[test]
fn links_out_of_the_tree_are_reported_not_followed() {
    let t = tempfile::tempdir().unwrap();
    let outside = t.path().join("outside");
    let root = t.path().join("root");
    fs::create_dir_all(&outside).unwrap();
    fs::create_dir_all(root.join("in")).unwrap();
    fs::write(outside.join("stolen.gguf"), fixture("gguf/quant.gguf")).unwrap();
    fs::write(root.join("in/own.gguf"), fixture("gguf/quant.gguf")).unwrap();
    symlink(outside.join("stolen.gguf"), root.join("leak.gguf")).unwrap();
    symlink(&outside, root.join("leakdir")).unwrap();
    symlink("in/own.gguf", root.join("alias.gguf")).unwrap();
    symlink("in", root.join("aliasdir")).unwrap();
    symlink("nowhere", root.join("dangling.gguf")).unwrap();
    let (recs, _) = run(std::slice::from_ref(&root), &Default::default());
    assert_eq!(shown(&units(&recs), &root), ["in/own.gguf"], "{recs:#?}");
    let p = problems(&recs);
    assert_eq!(shown(&p, &root), ["leak.gguf", "leakdir"]);
    assert!(p
        .iter()
        .all(|p| p.kind == Some(ProblemKind::LinkLeavesTree)));
    assert!(p[0].message.contains("outside"));
    // A link given as the root is followed: the user named it.
    let (recs, _) = run(&[root.join("leak.gguf")], &Default::default());
    assert_eq!(units(&recs).len(), 1);
}

#[test]
fn a_sharded_checkpoint_in_a_folder_is_one_unit() {
    let src =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/safetensors/tiny-sharded");
    let (recs, _) = run(std::slice::from_ref(&src), &Default::default());
    let u = units(&recs);
    assert_eq!(u.len(), 1, "{recs:#?}");
    assert_eq!(u[0].local, src);
    let names: Vec<&str> = u[0]
        .files
        .iter()
        .map(|(d, _)| d.rsplit('/').next().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "model.safetensors.index.json",
            "model-00001-of-00002.safetensors",
            "model-00002-of-00002.safetensors"
        ]
    );
    assert_eq!(u[0].opened, Ok(2));
}

#[test]
fn an_onnx_model_lists_its_external_data() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/onnx/external");
    let (recs, _) = run(&[src], &Default::default());
    let u = units(&recs);
    assert_eq!(u.len(), 1, "{recs:#?}");
    assert_eq!(u[0].format, Some(Sniffed::Onnx));
    assert_eq!(u[0].files.len(), 2);
    assert!(u[0].files[1].0.ends_with("external/weights.bin"));
    assert_eq!(u[0].opened, Ok(1));
}

#[test]
fn the_visitor_can_stop_the_walk() {
    let t = tempfile::tempdir().unwrap();
    for i in 0..3 {
        fs::write(
            t.path().join(format!("{i}.gguf")),
            fixture("gguf/quant.gguf"),
        )
        .unwrap();
    }
    let mut seen = 0;
    let summary = mlprov_walk::walk(&[t.path().to_path_buf()], &Default::default(), &mut |_| {
        seen += 1;
        std::ops::ControlFlow::Break(())
    })
    .unwrap();
    assert_eq!(seen, 1);
    assert!(summary.stopped);
}
