//! Container images: OCI layouts (folder and tar) and `docker save` tarballs (old and new
//! layouts), layers merged with whiteouts.

mod common;

use std::fs;
use std::path::Path;

use common::*;
use serde_json::json;
use sha2::{Digest, Sha256};

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// Three layers (uncompressed tars): the second deletes `models/a.safetensors` with a
/// whiteout, makes `data/` opaque (hiding `data/old.safetensors`) while adding
/// `data/new.gguf`, and replaces `keep/c.npy`; the third replaces `models/b.gguf`.
fn layer_tars() -> Vec<Vec<u8>> {
    let l1 = tar_of(&[
        (
            "models/a.safetensors",
            &fixture("safetensors/tiny-model.safetensors"),
        ),
        ("models/b.gguf", &fixture("gguf/quant.gguf")),
        (
            "data/old.safetensors",
            &fixture("safetensors/dtypes.safetensors"),
        ),
        ("keep/c.npy", &fixture("numpy/c_f32.npy")),
        ("etc/hosts", b"127.0.0.1 localhost\n"),
    ]);
    let l2 = tar_of(&[
        ("models/.wh.a.safetensors", b""),
        ("data/new.gguf", &fixture("gguf/metadata.gguf")),
        ("data/.wh..wh..opq", b""),
        ("keep/c.npy", &fixture("numpy/fortran_f64.npy")),
    ]);
    let l3 = tar_of(&[
        ("models/b.gguf", &fixture("gguf/iq.gguf")),
        ("app/readme", b"hi"),
    ]);
    vec![l1, l2, l3]
}

/// What must be found: path in the image and bytes.
fn expected() -> Vec<(String, Vec<u8>)> {
    vec![
        ("data/new.gguf".into(), fixture("gguf/metadata.gguf")),
        ("keep/c.npy".into(), fixture("numpy/fortran_f64.npy")),
        ("models/b.gguf".into(), fixture("gguf/iq.gguf")),
    ]
}

/// Checks the walk of `root` found exactly the expected units under `prefix`.
fn assert_found(root: &Path, prefix: &str) {
    let (recs, summary) = run(&[root.to_path_buf()], &Default::default());
    let mut got: Vec<(String, Vec<u8>)> = units(&recs)
        .iter()
        .map(|u| (u.display.clone(), u.files[0].1.clone()))
        .collect();
    got.sort();
    let want: Vec<(String, Vec<u8>)> = expected()
        .into_iter()
        .map(|(p, b)| (format!("{prefix}{p}"), b))
        .collect();
    let names = |v: &[(String, Vec<u8>)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&got), names(&want), "{recs:#?}");
    assert!(got == want, "bytes differ");
    assert!(problems(&recs).is_empty(), "{recs:#?}");
    assert!(
        units(&recs).iter().all(|u| u.within && u.opened == Ok(1)),
        "{recs:#?}"
    );
    assert!(summary.archives >= 1);
}

fn desc(media: &str, b: &[u8]) -> serde_json::Value {
    json!({"mediaType": media, "digest": format!("sha256:{}", sha(b)), "size": b.len()})
}

/// The files of an OCI image layout holding one image of `layers` (with their media
/// types), plus a buildx-style attestation manifest; `docker` adds `manifest.json` as
/// docker 25+ writes it.
fn oci_files(layers: &[(Vec<u8>, &str)], docker: bool) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut blob = |b: &[u8]| files.push((format!("blobs/sha256/{}", sha(b)), b.to_vec()));
    let diff_ids: Vec<String> = layer_tars()
        .iter()
        .map(|t| format!("sha256:{}", sha(t)))
        .collect();
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids}
    }))
    .unwrap();
    blob(&config);
    for (l, _) in layers {
        blob(l);
    }
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": desc("application/vnd.oci.image.config.v1+json", &config),
        "layers": layers.iter().map(|(l, m)| desc(m, l)).collect::<Vec<_>>(),
    }))
    .unwrap();
    blob(&manifest);
    let statement = br#"{"_type":"https://in-toto.io/Statement/v0.1"}"#.to_vec();
    blob(&statement);
    let attestation = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": desc("application/vnd.oci.image.config.v1+json", &config),
        "layers": [desc("application/vnd.in-toto+json", &statement)],
    }))
    .unwrap();
    blob(&attestation);
    let mut m = desc("application/vnd.oci.image.manifest.v1+json", &manifest);
    m["annotations"] = json!({"org.opencontainers.image.ref.name": "latest"});
    m["platform"] = json!({"os": "linux", "architecture": "amd64"});
    let mut a = desc("application/vnd.oci.image.manifest.v1+json", &attestation);
    a["annotations"] = json!({"vnd.docker.reference.type": "attestation-manifest"});
    a["platform"] = json!({"os": "unknown", "architecture": "unknown"});
    let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [m, a]});
    files.push((
        "oci-layout".into(),
        br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
    ));
    files.push(("index.json".into(), serde_json::to_vec(&index).unwrap()));
    if docker {
        let layers: Vec<String> = layers
            .iter()
            .map(|(l, _)| format!("blobs/sha256/{}", sha(l)))
            .collect();
        let manifest = json!([{"Config": format!("blobs/sha256/{}", sha(&config)), "RepoTags": ["x:latest"], "Layers": layers}]);
        files.push((
            "manifest.json".into(),
            serde_json::to_vec(&manifest).unwrap(),
        ));
    }
    files
}

fn mixed_layers() -> Vec<(Vec<u8>, &'static str)> {
    let t = layer_tars();
    vec![
        (gz(&t[0]), "application/vnd.oci.image.layer.v1.tar+gzip"),
        (t[1].clone(), "application/vnd.oci.image.layer.v1.tar"),
        (zst(&t[2]), "application/vnd.oci.image.layer.v1.tar+zstd"),
    ]
}

fn as_tar(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let entries: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    tar_of(&entries)
}

#[test]
fn an_oci_layout_folder_is_merged() {
    let t = tempfile::tempdir().unwrap();
    let img = t.path().join("img");
    for (name, bytes) in oci_files(&mixed_layers(), false) {
        let p = img.join(name);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, bytes).unwrap();
    }
    // Walked from its parent: the layout is recognized, its blobs are not walked as files.
    assert_found(t.path(), &format!("{}!/", img.display()));
}

#[test]
fn an_oci_layout_tar_is_merged() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("img.tar");
    fs::write(&p, as_tar(&oci_files(&mixed_layers(), false))).unwrap();
    assert_found(&p, &format!("{}!/", p.display()));
    // Compressed as a whole (`docker save | gzip`) too.
    let p = t.path().join("img.tar.gz");
    fs::write(&p, gz(&as_tar(&oci_files(&mixed_layers(), false)))).unwrap();
    assert_found(&p, &format!("{}!/", p.display()));
}

#[test]
fn a_docker_25_save_tarball_is_merged() {
    let t = tempfile::tempdir().unwrap();
    let layers: Vec<(Vec<u8>, &str)> = layer_tars()
        .into_iter()
        .map(|l| (l, "application/vnd.oci.image.layer.v1.tar"))
        .collect();
    let p = t.path().join("d.tar");
    fs::write(&p, as_tar(&oci_files(&layers, true))).unwrap();
    assert_found(&p, &format!("{}!/", p.display()));
}

/// `docker save` before version 25: `<id>/layer.tar` folders and a `manifest.json`.
fn old_docker_save(images: &[(&str, Vec<Vec<u8>>)]) -> Vec<u8> {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut manifest = Vec::new();
    let mut repositories = serde_json::Map::new();
    for (tag, layers) in images {
        let mut names = Vec::new();
        let mut parent = String::new();
        for l in layers {
            let id = sha(format!("{parent}{}", sha(l)).as_bytes());
            files.push((format!("{id}/VERSION"), b"1.0".to_vec()));
            files.push((
                format!("{id}/json"),
                serde_json::to_vec(&json!({"id": id, "parent": parent})).unwrap(),
            ));
            files.push((format!("{id}/layer.tar"), l.clone()));
            names.push(format!("{id}/layer.tar"));
            parent = id;
        }
        let config = serde_json::to_vec(&json!({"architecture": "amd64", "os": "linux"})).unwrap();
        let cfg = format!(
            "{}.json",
            sha(&[config.as_slice(), tag.as_bytes()].concat())
        );
        files.push((cfg.clone(), config));
        manifest.push(json!({"Config": cfg, "RepoTags": [tag], "Layers": names}));
        let (repo, t) = tag.split_once(':').unwrap();
        repositories.insert(repo.into(), json!({t: parent}));
    }
    files.push((
        "manifest.json".into(),
        serde_json::to_vec(&manifest).unwrap(),
    ));
    files.push((
        "repositories".into(),
        serde_json::to_vec(&repositories).unwrap(),
    ));
    as_tar(&files)
}

#[test]
fn an_old_docker_save_tarball_is_merged() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("old.tar");
    fs::write(&p, old_docker_save(&[("x:latest", layer_tars())])).unwrap();
    assert_found(&p, &format!("{}!/", p.display()));
}

#[test]
fn several_images_in_one_tarball_are_told_apart() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("two.tar");
    let base = layer_tars();
    fs::write(
        &p,
        old_docker_save(&[("x:1", base.clone()), ("y:2", base[..1].to_vec())]),
    )
    .unwrap();
    let (recs, _) = run(std::slice::from_ref(&p), &Default::default());
    let mut got: Vec<String> = units(&recs).iter().map(|u| u.display.clone()).collect();
    got.sort();
    let d = p.display();
    let want = [
        "[x:1]/data/new.gguf",
        "[x:1]/keep/c.npy",
        "[x:1]/models/b.gguf",
        "[y:2]/data/old.safetensors",
        "[y:2]/keep/c.npy",
        "[y:2]/models/a.safetensors",
        "[y:2]/models/b.gguf",
    ]
    .map(|s| format!("{d}!{s}"));
    assert_eq!(got, want, "{recs:#?}");
}

#[test]
fn a_damaged_layer_is_a_problem_of_the_image() {
    let t = tempfile::tempdir().unwrap();
    let mut layers = mixed_layers();
    let n = layers[0].0.len();
    layers[0].0.truncate(n / 2);
    let p = t.path().join("img.tar");
    fs::write(&p, as_tar(&oci_files(&layers, false))).unwrap();
    let (recs, _) = run(std::slice::from_ref(&p), &Default::default());
    assert!(units(&recs).is_empty(), "{recs:#?}");
    let pr = problems(&recs);
    assert_eq!(pr.len(), 1, "{recs:#?}");
    assert_eq!(pr[0].display, p.display().to_string());
    assert!(
        pr[0].message.starts_with("layer blobs/sha256/"),
        "{}",
        pr[0].message
    );
}

#[test]
fn the_python_made_docker_save_fixture_is_merged() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/deploy");
    let p = dir.join("docker-save.tar");
    let expected: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("docker-save.expected.json")).unwrap()).unwrap();
    let want: Vec<(String, String)> = expected["image_files"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                format!("{}!/{k}", p.display()),
                v.as_str().unwrap().to_string(),
            )
        })
        .collect();
    let (recs, _) = run(std::slice::from_ref(&p), &Default::default());
    let mut got: Vec<(String, String)> = units(&recs)
        .iter()
        .map(|u| (u.display.clone(), sha(&u.files[0].1)))
        .collect();
    got.sort();
    assert_eq!(got, want, "{recs:#?}");
    assert!(problems(&recs).is_empty(), "{recs:#?}");
    assert!(units(&recs).iter().all(|u| u.opened == Ok(1)));
}
