//! The adversarial transform suite on generated models: every transform a copier might
//! apply is written out as a real safetensors file, and the lineage test must call the
//! result what it is; independently initialized models of the same architecture must come
//! out unrelated, with p-values that do not pile up near zero.

mod common;

use common::generated::*;

use mlprov::fingerprint::{Comparison, Verdict};
use mlprov_testkit::{q4_round_trip, Dtype, Rng, Tensor as T};

/// Writes both models and runs the lineage test exactly as users run it.
fn run(a: &[T], b: &[T]) -> Comparison {
    common::compare_written(a, b)
}

fn map_values(m: &[T], mut f: impl FnMut(&T) -> Vec<f32>) -> Vec<T> {
    m.iter()
        .map(|t| T {
            values: f(t),
            ..t.clone()
        })
        .collect()
}

fn transpose(t: &T) -> T {
    let (r, c) = (t.shape[0], t.shape[1]);
    let values = (0..r * c).map(|k| t.values[(k % r) * c + k / r]).collect();
    T {
        shape: vec![c, r],
        values,
        ..t.clone()
    }
}

fn assert_verdict(c: &Comparison, want: &[Verdict], what: &str) {
    assert!(
        want.contains(&c.verdict),
        "{what}: got {:?} (log10 p {:.1}, explained {:.2}, transforms {:?})",
        c.verdict,
        c.log10_p,
        c.explained_share,
        c.transforms
    );
    if !matches!(c.verdict, Verdict::Unrelated | Verdict::Inconclusive) {
        assert!(
            c.log10_p < -6.0,
            "{what}: p-value 1e{:.1} is not below 1e-6",
            c.log10_p
        );
    }
}

#[test]
fn renamed_reordered_and_transposed_copies_are_the_same_weights() {
    let a = base_model(1);
    let mut b: Vec<T> = a
        .iter()
        .rev()
        .map(|t| T {
            name: format!("renamed.{}", t.name.replace('.', "_")),
            ..t.clone()
        })
        .collect();
    let c = run(&a, &b);
    assert_verdict(&c, &[Verdict::SameWeights], "renamed + reordered");
    assert!(c.transforms.iter().any(|t| t == "renamed"));
    b = a
        .iter()
        .map(|t| {
            if t.shape.len() == 2 {
                transpose(t)
            } else {
                t.clone()
            }
        })
        .collect();
    let c = run(&a, &b);
    assert_verdict(&c, &[Verdict::SameWeights], "transposed");
    assert!(c.transforms.iter().any(|t| t == "transposed"));
}

#[test]
fn dtype_casts_and_int8_are_re_encoded() {
    let a = base_model(2);
    for dtype in [Dtype::F16, Dtype::BF16] {
        let b: Vec<T> = a.iter().map(|t| T { dtype, ..t.clone() }).collect();
        let c = run(&a, &b);
        assert_verdict(&c, &[Verdict::ReEncoded], &format!("{dtype:?}"));
    }
    // Symmetric per-row int8, scales stored beside as their own small tensors.
    let mut b = Vec::new();
    for w in &a {
        if w.shape.len() != 2 {
            b.push(w.clone());
            continue;
        }
        let cols = w.shape[1];
        let scales: Vec<f32> = w
            .values
            .chunks(cols)
            .map(|r| r.iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0)
            .collect();
        let q: Vec<f32> = w
            .values
            .chunks(cols)
            .zip(&scales)
            .flat_map(|(r, s)| r.iter().map(move |v| (v / s).round()))
            .collect();
        b.push(T {
            values: q,
            dtype: Dtype::I8,
            ..w.clone()
        });
        b.push(t(&format!("{}_scale", w.name), &[w.shape[0]], scales));
    }
    let c = run(&a, &b);
    assert_verdict(&c, &[Verdict::ReEncoded], "int8 per-row");
}

#[test]
fn fine_tuning_and_block_quantization_are_derived() {
    let a = base_model(3);
    for level in [0.01f32, 0.1, 0.3, 0.6] {
        let mut rng = Rng::new(99);
        let b = map_values(&a, |t| {
            let sd = (t.values.iter().map(|v| v * v).sum::<f32>() / t.values.len() as f32).sqrt();
            t.values
                .iter()
                .map(|v| v + level * sd * rng.gauss())
                .collect()
        });
        let c = run(&a, &b);
        assert_verdict(&c, &[Verdict::Derived], &format!("noise {level}"));
        // Noise moves fitted scales, but that is not rescaling.
        assert!(
            !c.transforms.iter().any(|t| t == "per-channel rescaling"),
            "noise {level}: {:?}",
            c.transforms
        );
    }
    // 4-bit symmetric blocks of 32, dequantized back to F32 (as a GPTQ-style round trip leaves it).
    let b = map_values(&a, |t| q4_round_trip(&t.values));
    let c = run(&a, &b);
    assert_verdict(
        &c,
        &[Verdict::Derived, Verdict::ReEncoded],
        "4-bit round trip",
    );
}

#[test]
fn rescaled_pruned_and_layer_subset_models_are_derived() {
    let a = base_model(4);
    let mut rng = Rng::new(5);
    let gains: Vec<f32> = (0..H).map(|_| 0.25 + 2.0 * (rng.gauss().abs())).collect();
    // Per-unit rescaling of the MLP, undone in the next layer: the function is unchanged.
    let b = map_values(&a, |t| {
        if t.name.ends_with("up.weight") {
            t.values
                .iter()
                .enumerate()
                .map(|(k, v)| v * gains[k / D])
                .collect()
        } else if t.name.ends_with("down.weight") {
            t.values
                .iter()
                .enumerate()
                .map(|(k, v)| v / gains[k % H])
                .collect()
        } else {
            t.values.clone()
        }
    });
    let c = run(&a, &b);
    assert_verdict(&c, &[Verdict::Derived], "rescaled");
    assert!(
        c.transforms.iter().any(|t| t == "per-channel rescaling"),
        "{:?}",
        c.transforms
    );

    // Vocabulary cut to its first 300 rows.
    let b: Vec<T> = a
        .iter()
        .map(|t| {
            if t.name == "embed.weight" {
                T {
                    shape: vec![300, D],
                    values: t.values[..300 * D].to_vec(),
                    ..t.clone()
                }
            } else {
                t.clone()
            }
        })
        .collect();
    let c = run(&a, &b);
    assert_verdict(&c, &[Verdict::Derived], "rows truncated");
    assert!(c.transforms.iter().any(|t| t == "rows truncated"));

    // Every other layer dropped and the rest renumbered (distilgpt2-style initialization).
    let b = layer_subset(&a);
    let c = run(&a, &b);
    assert_verdict(&c, &[Verdict::Derived], "every other layer");
    assert_eq!(c.layer_map, vec![(0, 0), (1, 2)]);

    // Depth upscaling: layers 0-3 followed by copies of layers 2 and 3 (SOLAR-style).
    let mut b = a.clone();
    for (src, dst) in [(2, 4), (3, 5)] {
        b.extend(
            a.iter()
                .filter(|t| t.name.starts_with(&format!("layers.{src}.")))
                .map(|t| T {
                    name: t
                        .name
                        .replace(&format!("layers.{src}."), &format!("layers.{dst}.")),
                    ..t.clone()
                }),
        );
    }
    let up = run(&a, &b);
    assert_verdict(&up, &[Verdict::Derived], "layers repeated");
    assert!(
        up.layer_map.contains(&(4, 2)) && up.layer_map.contains(&(5, 3)),
        "{:?}",
        up.layer_map
    );
    assert!(
        up.transforms
            .iter()
            .any(|t| t.to_string().starts_with("layers repeated")),
        "{:?}",
        up.transforms
    );
    assert_eq!(c.layer_map, vec![(0, 0), (1, 2)]);
    assert!(
        c.transforms
            .iter()
            .any(|t| t.to_string().starts_with("layers dropped (2 of 4")),
        "{:?}",
        c.transforms
    );
}

#[test]
fn layers_of_a_fine_tuned_subset_align_in_order() {
    // B: A's layers 0, 2, 3, 3 (one dropped, the last repeated) renumbered 0..3, every
    // value moved by 60% noise. The alignment must follow A's order and mark the repeat.
    let a = base_model(31);
    let mut rng = Rng::new(32);
    let mut b = Vec::new();
    for (dst, src) in [(0, 0), (1, 2), (2, 3), (3, 3)] {
        for t in a
            .iter()
            .filter(|t| t.name.starts_with(&format!("layers.{src}.")))
        {
            let sd = (t.values.iter().map(|v| v * v).sum::<f32>() / t.values.len() as f32).sqrt();
            b.push(T {
                name: t
                    .name
                    .replace(&format!("layers.{src}."), &format!("layers.{dst}.")),
                values: t
                    .values
                    .iter()
                    .map(|v| v + 0.6 * sd * rng.gauss())
                    .collect(),
                ..t.clone()
            });
        }
    }
    b.push(a[0].clone());
    let c = run(&a, &b);
    assert_verdict(&c, &[Verdict::Derived], "noisy layer subset");
    assert_eq!(c.layer_map, vec![(0, 0), (1, 2), (2, 3), (3, 3)]);
    assert!(
        c.transforms
            .iter()
            .any(|t| t.to_string().starts_with("layers repeated"))
            && c.transforms
                .iter()
                .any(|t| t.to_string().starts_with("layers dropped (3 of 4")),
        "{:?}",
        c.transforms
    );
    // Every pair stays inside its aligned layers.
    for p in c.pairs.iter().filter(|p| p.b.name.starts_with("layers.")) {
        let layer = |n: &str| n.split('.').nth(1).unwrap().parse::<u32>().unwrap();
        assert!(
            c.layer_map.contains(&(layer(&p.b.name), layer(&p.a.name))),
            "{} <- {}",
            p.b.name,
            p.a.name
        );
    }
}

#[test]
fn independent_models_are_unrelated_with_unremarkable_p_values() {
    let pairs = 200;
    let mut p_values = Vec::new();
    for seed in 0..pairs {
        let c = run(&base_model(1000 + seed), &base_model(5000 + seed));
        assert_verdict(
            &c,
            &[Verdict::Unrelated],
            &format!("independent pair {seed}"),
        );
        p_values.push(10f64.powf(c.log10_p));
    }
    p_values.sort_by(f64::total_cmp);
    let share_below = |x: f64| p_values.iter().filter(|&&p| p < x).count() as f64 / pairs as f64;
    eprintln!(
        "independent pairs: smallest p {:.2e}, share below 0.5 {:.3}, below 0.1 {:.3}, below 0.01 {:.3}",
        p_values[0],
        share_below(0.5),
        share_below(0.1),
        share_below(0.01)
    );
    // The target: across 200 independent pairs, no p-value below 1e-3 ...
    assert!(p_values[0] > 1e-3, "smallest p: {:.2e}", p_values[0]);
    // ... and p-values spread like a uniform variable, not piled up near 1 (a uniform
    // sample of 200 puts 0.5 ± 0.035 below 0.5 and 0.1 ± 0.021 below 0.1: ±4 sd here).
    assert!((0.36..=0.64).contains(&share_below(0.5)), "{p_values:?}");
    assert!((0.02..=0.19).contains(&share_below(0.1)), "{p_values:?}");
}

#[test]
fn shared_fixed_buffers_alone_do_not_relate_models() {
    let basis: Vec<f32> = (0..129 * 256)
        .map(|i| ((i / 256) as f32 * (i % 256) as f32 * std::f32::consts::TAU / 256.0).cos())
        .collect();
    let mut a = base_model(7);
    let mut b = base_model(8);
    a.push(t("stft.forward_basis", &[129, 256], basis.clone()));
    b.push(t("frontend.basis", &[129, 256], basis));
    let c = run(&a, &b);
    assert_verdict(
        &c,
        &[Verdict::Unrelated],
        "independent models with one shared STFT basis",
    );
    assert!(c
        .transforms
        .iter()
        .any(|t| t == "shared fixed buffers ignored"));
}

#[test]
fn reused_embeddings_in_an_otherwise_new_model_are_partial_reuse() {
    let a = base_model(9);
    let mut b = base_model(10);
    let mut rng = Rng::new(11);
    // B starts from A's embeddings (then trains them a little), everything else is new.
    b[0].values = a[0].values.iter().map(|v| v + 0.3 * rng.gauss()).collect();
    let c = run(&a, &b);
    assert_verdict(&c, &[Verdict::PartialReuse], "embeddings reused");
}

#[test]
fn hidden_unit_and_head_permutations_are_derived() {
    let a = base_model(21);
    let p = permutation(H, 3);
    let b: Vec<T> = mlp_units_permuted(&a, &p);
    let c = run(&a, &b);
    assert_verdict(&c, &[Verdict::Derived], "hidden units permuted");
    assert!(
        c.transforms
            .iter()
            .any(|t| t.to_string().starts_with("permuted, rotated")),
        "{:?}",
        c.transforms
    );

    // Heads of 16 dimensions reordered: q, k, v rows and o columns move by whole heads.
    let heads = permutation(D / 16, 4);
    let perm: Vec<usize> = (0..D).map(|i| heads[i / 16] * 16 + i % 16).collect();
    let b: Vec<T> = a
        .iter()
        .map(|t| {
            if ["attn.q.", "attn.k.", "attn.v."]
                .iter()
                .any(|x| t.name.contains(x))
            {
                permute(t, &perm, true)
            } else if t.name.contains("attn.o.") {
                permute(t, &perm, false)
            } else {
                t.clone()
            }
        })
        .collect();
    assert_verdict(&run(&a, &b), &[Verdict::Derived], "heads permuted");
}

#[test]
fn residual_permutation_and_rotation_are_derived() {
    let a = base_model(22);
    let b = residual_permuted(&a, &permutation(D, 5));
    assert_verdict(&run(&a, &b), &[Verdict::Derived], "residual permuted");

    // QuaRot-style: the residual stream rotated by a random orthogonal matrix.
    let rot = orthogonal(D, 6);
    let b: Vec<T> = residual_rotated(&a, &rot);
    let c = run(&a, &b);
    assert_verdict(&c, &[Verdict::Derived], "residual rotated");

    // The same with norm gains folded into the following matrices first: A has non-unit
    // gains kept apart, as a model on disk does; the copier folds them into the matrices
    // that read the norm's output and sets the gains to 1, then rotates.
    let a = with_gains(&a, 23);
    let b = gains_folded_and_rotated(&a, &rot);
    let c = run(&a, &b);
    assert_verdict(
        &c,
        &[Verdict::Derived],
        "residual rotated with gains folded",
    );
    assert!(
        c.pairs
            .iter()
            .any(|p| p.channel.word().starts_with("anchored kernel")),
        "the anchored kernels carry the rotated, folded matrices"
    );
}
