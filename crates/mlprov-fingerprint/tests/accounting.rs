//! Lineage accounting on generated models: rows B adds are not A's, one strong tensor is not
//! diluted by the rest of a new model, and index buffers are never paired with weights.

use std::path::{Path, PathBuf};

use mlprov_fingerprint::{
    compare_models, Comparison, FingerprintOptions, ModelFingerprint, PairKind, Transform, Verdict,
};
use mlprov_formats::{open_model, OpenOptions};
use safetensors::tensor::{Dtype, TensorView};

const VOCAB: usize = 500;
const D: usize = 64;
const H: usize = 160;
const LAYERS: usize = 4;

/// A named tensor: f32 values stored as F32, or integers stored as I64.
#[derive(Clone)]
struct T {
    name: String,
    shape: Vec<usize>,
    values: Vec<f32>,
    int64: bool,
}

fn t(name: &str, shape: &[usize], values: Vec<f32>) -> T {
    T {
        name: name.into(),
        shape: shape.to_vec(),
        values,
        int64: false,
    }
}

/// One SplitMix64 step: advances `state` and returns the next pseudo-random word.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

struct Rng(u64);
impl Rng {
    fn gauss(&mut self) -> f32 {
        (0..4)
            .map(|_| (splitmix(&mut self.0) >> 11) as f32 / (1u64 << 53) as f32)
            .sum::<f32>()
            * 1.732
            - 3.464
    }
    fn matrix(&mut self, r: usize, c: usize, s: f32) -> Vec<f32> {
        (0..r * c).map(|_| self.gauss() * s).collect()
    }
}

/// A small transformer-shaped model with Gaussian weights (like an initialization).
fn model(seed: u64) -> Vec<T> {
    // (A scrambled start: streams of nearby seeds must not overlap.)
    let mut rng = Rng(splitmix(&mut { seed }));
    let mut out = vec![t("embed.weight", &[VOCAB, D], rng.matrix(VOCAB, D, 1.0))];
    for l in 0..LAYERS {
        for p in ["q", "k", "v", "o"] {
            let name = format!("layers.{l}.attn.{p}.weight");
            out.push(t(&name, &[D, D], rng.matrix(D, D, 0.1)));
        }
        let up = format!("layers.{l}.mlp.up.weight");
        out.push(t(&up, &[H, D], rng.matrix(H, D, 0.1)));
        let down = format!("layers.{l}.mlp.down.weight");
        out.push(t(&down, &[D, H], rng.matrix(D, H, 0.1)));
    }
    out
}

fn write(dir: &Path, file: &str, tensors: &[T]) -> PathBuf {
    let encoded: Vec<(String, Vec<u8>, Vec<usize>, Dtype)> = tensors
        .iter()
        .map(|t| {
            let (bytes, dtype) = if t.int64 {
                let b = t.values.iter().flat_map(|v| (*v as i64).to_le_bytes());
                (b.collect(), Dtype::I64)
            } else {
                let b = t.values.iter().flat_map(|v| v.to_le_bytes());
                (b.collect(), Dtype::F32)
            };
            (t.name.clone(), bytes, t.shape.clone(), dtype)
        })
        .collect();
    let views: Vec<(String, TensorView)> = encoded
        .iter()
        .map(|(n, b, s, d)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    let path = dir.join(file);
    safetensors::serialize_to_file(views, None, &path).unwrap();
    path
}

fn run(a: &[T], b: &[T]) -> Comparison {
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb) = (
        write(dir.path(), "a.safetensors", a),
        write(dir.path(), "b.safetensors", b),
    );
    let (ma, mb) = (
        open_model(&pa, OpenOptions::default()).unwrap(),
        open_model(&pb, OpenOptions::default()).unwrap(),
    );
    let options = FingerprintOptions { invariants: true };
    let (fa, fb) = (
        ModelFingerprint::with_options(&ma, options),
        ModelFingerprint::with_options(&mb, options),
    );
    compare_models(&ma, &fa, &mb, &fb)
}

#[test]
fn an_extended_vocabulary_is_derived_with_rows_added() {
    let a = model(1);
    let mut b = a.clone();
    // 10% new token rows appended to the embedding; everything else A's, bit for bit.
    let extra = VOCAB / 10;
    let mut rng = Rng(splitmix(&mut { 99 }));
    b[0].values.extend(rng.matrix(extra, D, 1.0));
    b[0].shape = vec![VOCAB + extra, D];
    let c = run(&a, &b);
    assert_eq!(c.verdict, Verdict::Derived, "{:?}", c.transforms);
    assert!(
        c.transforms.contains(&Transform::RowsAdded),
        "{:?}",
        c.transforms
    );
    assert!(c.explained_share < 1.0, "{}", c.explained_share);
    let total: usize = b.iter().map(|t| t.values.len()).sum();
    let want = 1.0 - (extra * D) as f64 / total as f64;
    assert!(
        (c.explained_share - want).abs() < 1e-9,
        "{} vs {want}",
        c.explained_share
    );
    assert!(c.log10_p < -6.0);
}

#[test]
fn a_lifted_embedding_keeps_its_own_evidence() {
    let a = model(2);
    let mut b = model(3);
    b[0] = a[0].clone(); // A's embedding, bit for bit, in front of new layers
    let c = run(&a, &b);
    assert_eq!(c.verdict, Verdict::PartialReuse, "{:?}", c.transforms);
    let emb = c
        .pairs
        .iter()
        .find(|p| p.b.name == "embed.weight")
        .expect("the embedding is paired");
    assert_eq!(emb.kind, PairKind::SameValues);
    // 32 000 equal values, one bit each at most, is far beyond any sampled statistic.
    assert!(emb.evidence_log10_p < -5_000.0, "{}", emb.evidence_log10_p);
    // The combined p is at least as strong as the embedding's own evidence, corrected for
    // the number of B's tensors it was the best of (Bonferroni).
    let bound = emb.evidence_log10_p + (b.len() as f64).log10();
    assert!(c.log10_p <= bound + 1e-9, "{} vs {bound}", c.log10_p);
}

#[test]
fn an_int64_buffer_is_never_paired_with_weights() {
    let mut a = model(4);
    let positions: Vec<f32> = (0..D).map(|i| i as f32).collect();
    a.push(T {
        name: "position_ids".into(),
        shape: vec![1, D],
        values: positions.clone(),
        int64: true,
    });
    // B: A's weights, its index buffer gone and a learned-looking vector of the same shape
    // that follows the positions (a scale per position): once paired and labelled
    // "dtype I64 -> F32".
    let mut b = a.clone();
    let mut rng = Rng(splitmix(&mut { 5 }));
    let last = b.len() - 1;
    b[last] = t(
        "pos_scale",
        &[1, D],
        positions.iter().map(|p| p + 4.0 * rng.gauss()).collect(),
    );
    let c = run(&a, &b);
    for p in &c.pairs {
        assert!(
            p.a.dtype != "I64" || p.b.dtype == "I64",
            "{} ({}) paired with {} ({})",
            p.b.name,
            p.b.dtype,
            p.a.name,
            p.a.dtype
        );
    }
    for t in &c.transforms {
        assert!(!t.to_string().contains("I64"), "{:?}", c.transforms);
    }
    assert_eq!(c.verdict, Verdict::SameWeights, "{:?}", c.transforms);
}
