//! Digest properties on real safetensors files written by the `safetensors` crate.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use mlprov_formats::{open_model, OpenOptions};
use mlprov_hash::{hash_model, tensor_digest, HashOptions, ModelDigest};
use mlprov_testkit::Tensor;
use proptest::prelude::*;

/// Writes tensors (name, f32 values, shape) as a safetensors file.
fn write_model(path: &Path, tensors: &[(&str, Vec<f32>, Vec<usize>)]) {
    let tensors: Vec<Tensor> = tensors
        .iter()
        .map(|(name, values, shape)| Tensor::f32(*name, shape, values.clone()))
        .collect();
    mlprov_testkit::write_safetensors(path, &tensors);
}

fn digest(path: &Path, plain: bool) -> ModelDigest {
    let model = open_model(path, OpenOptions::default()).unwrap();
    hash_model(
        &model,
        HashOptions {
            plain,
            progress: None,
        },
    )
}

fn sample() -> Vec<(&'static str, Vec<f32>, Vec<usize>)> {
    vec![
        (
            "embed",
            (0..96).map(|i| i as f32 * 0.5).collect(),
            vec![12, 8],
        ),
        (
            "layer.weight",
            (0..64).map(|i| (i as f32).sin()).collect(),
            vec![8, 8],
        ),
        ("norm", vec![1.0; 8], vec![8]),
    ]
}

fn tmp(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

#[test]
fn plain_digest_is_b3sum() {
    let dir = tempfile::tempdir().unwrap();
    let p = tmp(&dir, "m.safetensors");
    write_model(&p, &sample());
    let d = digest(&p, true);
    let bytes = std::fs::read(&p).unwrap();
    assert_eq!(
        d.files[0].plain.unwrap().hex(),
        blake3::hash(&bytes).to_hex().as_str()
    );
    // The composed digest is a different construction and must not equal the plain one.
    assert_ne!(d.files[0].digest, d.files[0].plain.unwrap());
}

#[test]
fn tensor_digest_follows_its_documented_construction() {
    let dir = tempfile::tempdir().unwrap();
    let p = tmp(&dir, "m.safetensors");
    write_model(&p, &sample());
    let d = digest(&p, false);
    let t = d.files[0]
        .tensors
        .iter()
        .find(|t| t.name == "norm")
        .unwrap();
    let bytes: Vec<u8> = [1.0f32; 8].iter().flat_map(|x| x.to_le_bytes()).collect();
    // Reimplemented from docs/digests.md with the blake3 crate directly.
    let mut h = blake3::Hasher::new_derive_key("mlprov 2026-11-28 tensor content v1");
    h.update(&3u64.to_le_bytes()).update(b"F32");
    h.update(&1u64.to_le_bytes()).update(&8u64.to_le_bytes());
    h.update(&32u64.to_le_bytes())
        .update(blake3::hash(&bytes).as_bytes());
    assert_eq!(t.digest.0, *h.finalize().as_bytes());
    assert_eq!(
        t.digest,
        tensor_digest("F32", &[8], 32, &blake3::hash(&bytes))
    );
}

#[test]
fn renamed_and_reordered_copy_keeps_tensor_digests_and_root() {
    let dir = tempfile::tempdir().unwrap();
    let a = tmp(&dir, "a.safetensors");
    let b = tmp(&dir, "b.safetensors");
    write_model(&a, &sample());
    let renamed: Vec<_> = sample()
        .into_iter()
        .rev()
        .map(|(n, v, s)| (if n == "embed" { "wte" } else { n }, v, s))
        .collect();
    write_model(&b, &renamed);
    let (da, db) = (digest(&a, false), digest(&b, false));
    assert_eq!(da.root, db.root);
    let by_name = |d: &ModelDigest| -> HashMap<String, _> {
        d.files[0]
            .tensors
            .iter()
            .map(|t| (t.name.clone(), t.digest))
            .collect()
    };
    let (ma, mb) = (by_name(&da), by_name(&db));
    assert_eq!(ma["embed"], mb["wte"]);
    assert_eq!(ma["norm"], mb["norm"]);
    // The files themselves differ (header bytes), so their digests must too.
    assert_ne!(da.files[0].digest, db.files[0].digest);
}

#[test]
fn proofs_verify_against_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let p = tmp(&dir, "m.safetensors");
    write_model(&p, &sample());
    let d = digest(&p, false);
    for t in &d.files[0].tensors {
        let proof = d.proof(None, &t.name).unwrap();
        assert_eq!(proof.leaf, t.digest);
        assert!(proof.verify(&d.root));
    }
    assert!(d.proof(None, "absent").is_none());
}

#[test]
fn sharded_root_covers_all_shards() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/safetensors");
    let sharded = digest(&fixtures.join("tiny-sharded"), false);
    let single = digest(&fixtures.join("tiny-model.safetensors"), false);
    // Same tensors split over two files: same Merkle root, different file layout.
    assert_eq!(sharded.root, single.root);
    assert_eq!(sharded.files.len(), 2);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any single changed byte changes the file digest, and changes exactly the tensor it
    /// falls in (or none, when it falls in the header).
    #[test]
    fn any_flipped_byte_is_detected(pos_frac in 0.0f64..1.0, bit in 0u8..8) {
        let dir = tempfile::tempdir().unwrap();
        let p = tmp(&dir, "m.safetensors");
        write_model(&p, &sample());
        let before = digest(&p, false);
        let mut bytes = std::fs::read(&p).unwrap();
        let header_end = {
            let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
            8 + n
        };
        // Only flip tensor bytes (a header flip would usually make the file unparsable).
        let pos = header_end + ((bytes.len() - header_end) as f64 * pos_frac) as usize;
        let pos = pos.min(bytes.len() - 1);
        bytes[pos] ^= 1 << bit;
        std::fs::write(&p, &bytes).unwrap();
        let after = digest(&p, false);
        prop_assert_ne!(before.files[0].digest, after.files[0].digest);
        prop_assert_ne!(before.root, after.root);
        let changed: Vec<&str> = before.files[0].tensors.iter().zip(&after.files[0].tensors)
            .filter(|(a, b)| a.digest != b.digest)
            .map(|(a, _)| a.name.as_str())
            .collect();
        let hit = before.files[0].tensors.iter()
            .find(|t| {
                let start = t.offset.expect("safetensors tensors sit in the file") as usize;
                (start..start + t.length as usize).contains(&pos)
            })
            .map(|t| t.name.as_str());
        prop_assert_eq!(changed, hit.into_iter().collect::<Vec<_>>());
    }
}

#[test]
fn large_tensors_hashed_in_parallel_pieces_match_one_shot_blake3() {
    // 66 MiB: crosses the parallel threshold and the 64 MiB progress piece boundary.
    let dir = tempfile::tempdir().unwrap();
    let p = tmp(&dir, "big.safetensors");
    let n = (66 << 20) / 4 + 3;
    let values: Vec<f32> = (0..n).map(|i| (i % 1000) as f32).collect();
    write_model(
        &p,
        &[("big", values, vec![n]), ("small", vec![1.0; 4], vec![4])],
    );
    let ticks = std::sync::atomic::AtomicU64::new(0);
    let tick = |b: u64| {
        ticks.fetch_add(b, std::sync::atomic::Ordering::Relaxed);
    };
    let model = open_model(&p, OpenOptions::default()).unwrap();
    let d = hash_model(
        &model,
        HashOptions {
            plain: true,
            progress: Some(&tick),
        },
    );
    let bytes = std::fs::read(&p).unwrap();
    assert_eq!(
        d.files[0].plain.unwrap().hex(),
        blake3::hash(&bytes).to_hex().as_str()
    );
    let file = &model.files[0].file;
    let view = file.tensor("big").unwrap();
    let want = tensor_digest(
        "F32",
        &[n],
        view.bytes.len() as u64,
        &blake3::hash(view.bytes),
    );
    assert_eq!(
        d.files[0]
            .tensors
            .iter()
            .find(|t| t.name == "big")
            .unwrap()
            .digest,
        want
    );
    // Progress saw every byte twice: once composed, once plain.
    assert_eq!(ticks.into_inner(), 2 * bytes.len() as u64);
}

/// Thousands of tensors over one region: the region is hashed once (the digests are the
/// same as hashing each view, and the run takes no longer than one pass over the file).
#[test]
fn many_views_of_one_region_hash_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("views.gguf");
    let floats = 1 << 20; // 4 MiB region, 2000 views: 8 GB of hashing if done per view
    std::fs::write(&path, mlprov_testkit::hostile::gguf_views(2000, floats)).unwrap();
    let start = std::time::Instant::now();
    let d = digest(&path, false);
    let elapsed = start.elapsed();
    let tensors = &d.files[0].tensors;
    assert_eq!(tensors.len(), 2000);
    let region: Vec<u8> = (0..floats).flat_map(|i| (i as f32).to_le_bytes()).collect();
    let want = tensor_digest(
        "F32",
        &[floats],
        region.len() as u64,
        &blake3::hash(&region),
    );
    assert!(tensors.iter().all(|t| t.digest == want));
    assert!(elapsed.as_secs() < 30, "took {elapsed:?}");
}
