//! Digests against test vectors computed independently from `docs/digests.md` by
//! `fixtures/digests/make_vectors.py` (Python, the reference `blake3` package): a change to
//! any construction (contexts, field order, segments, tree shape) fails here.

use std::path::Path;

use mlprov_formats::{open_model, OpenOptions};
use mlprov_hash::{hash_model, Digest, HashOptions, MerkleTree};
use serde_json::Value;

fn vectors() -> Value {
    let path = mlprov_testkit::fixtures().join("digests/vectors.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn file_tensor_and_root_digests_match_the_independent_implementation() {
    let v = vectors();
    let fixtures = mlprov_testkit::fixtures();
    for (model, root) in v["models"].as_object().unwrap() {
        let path = fixtures.join("safetensors").join(model);
        let opened = open_model(&path, OpenOptions::default()).unwrap();
        let options = HashOptions {
            plain: true,
            progress: None,
        };
        let digests = hash_model(&opened, options);
        assert_eq!(digests.root.to_string(), root.as_str().unwrap(), "{model}");
        for f in &digests.files {
            let rel = Path::new("safetensors").join(if path.is_dir() {
                Path::new(model).join(&f.path)
            } else {
                Path::new(&f.path).to_path_buf()
            });
            let want = &v["files"][rel.to_str().unwrap()];
            assert!(want.is_object(), "no vector for {}", rel.display());
            assert_eq!(f.digest.to_string(), want["digest"], "{}", rel.display());
            assert_eq!(f.plain.unwrap().hex(), want["plain"], "{}", rel.display());
            assert_eq!(f.tensors.len(), want["tensors"].as_object().unwrap().len());
            for t in &f.tensors {
                assert_eq!(t.digest.to_string(), want["tensors"][&t.name], "{}", t.name);
            }
        }
    }
}

#[test]
fn merkle_tree_shapes_match_the_independent_implementation() {
    for case in vectors()["trees"].as_array().unwrap() {
        let n = case["leaves"].as_u64().unwrap() as u8;
        let leaves: Vec<Digest> = (0..n).map(|i| Digest([i; 32])).collect();
        let tree = MerkleTree::new(leaves);
        assert_eq!(tree.root().to_string(), case["root"], "{n} leaves");
    }
}
