//! Lineage accounting on generated models: rows B adds are not A's, one strong tensor is not
//! diluted by the rest of a new model, and index buffers are never paired with weights.

mod common;

use mlprov::fingerprint::{Comparison, PairKind, Transform, Verdict};
use mlprov_testkit::{Dtype, Rng, Tensor as T};

const VOCAB: usize = 500;
const D: usize = 64;
const H: usize = 160;
const LAYERS: usize = 4;

fn t(name: &str, shape: &[usize], values: Vec<f32>) -> T {
    T::f32(name, shape, values)
}

/// `r × c` normal values of standard deviation `s`.
fn matrix(rng: &mut Rng, r: usize, c: usize, s: f32) -> Vec<f32> {
    rng.gaussians(r * c, s)
}

/// A small transformer-shaped model with Gaussian weights (like an initialization).
fn model(seed: u64) -> Vec<T> {
    let mut rng = Rng::new(seed);
    let mut out = vec![t(
        "embed.weight",
        &[VOCAB, D],
        matrix(&mut rng, VOCAB, D, 1.0),
    )];
    for l in 0..LAYERS {
        for p in ["q", "k", "v", "o"] {
            let name = format!("layers.{l}.attn.{p}.weight");
            out.push(t(&name, &[D, D], matrix(&mut rng, D, D, 0.1)));
        }
        let up = format!("layers.{l}.mlp.up.weight");
        out.push(t(&up, &[H, D], matrix(&mut rng, H, D, 0.1)));
        let down = format!("layers.{l}.mlp.down.weight");
        out.push(t(&down, &[D, H], matrix(&mut rng, D, H, 0.1)));
    }
    out
}

/// Writes both models and runs the lineage test exactly as users run it.
fn run(a: &[T], b: &[T]) -> Comparison {
    common::compare_written(a, b)
}

#[test]
fn an_extended_vocabulary_is_derived_with_rows_added() {
    let a = model(1);
    let mut b = a.clone();
    // 10% new token rows appended to the embedding; everything else A's, bit for bit.
    let extra = VOCAB / 10;
    let mut rng = Rng::new(99);
    b[0].values.extend(matrix(&mut rng, extra, D, 1.0));
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
    a.push(t("position_ids", &[1, D], positions.clone()).stored_as(Dtype::I64));
    // B: A's weights, its index buffer gone and a learned-looking vector of the same shape
    // that follows the positions (a scale per position): once paired and labelled
    // "dtype I64 -> F32".
    let mut b = a.clone();
    let mut rng = Rng::new(5);
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
