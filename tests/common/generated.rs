//! Generated models and the transforms a copier applies to them, shared by the suites.

use mlprov_testkit::{Rng, Tensor as T};

pub const VOCAB: usize = 512;
pub const D: usize = 64;
pub const H: usize = 160;
pub const LAYERS: usize = 4;

pub fn t(name: &str, shape: &[usize], values: Vec<f32>) -> T {
    T::f32(name, shape, values)
}

/// A small transformer-shaped model with Gaussian weights (like an initialization).
pub fn base_model(seed: u64) -> Vec<T> {
    let mut rng = Rng::new(seed);
    let mut m =
        |r: usize, c: usize, s: f32| (0..r * c).map(|_| rng.gauss() * s).collect::<Vec<f32>>();
    let mut out = vec![t("embed.weight", &[VOCAB, D], m(VOCAB, D, 1.0))];
    for l in 0..LAYERS {
        for p in ["q", "k", "v", "o"] {
            out.push(t(
                &format!("layers.{l}.attn.{p}.weight"),
                &[D, D],
                m(D, D, 0.1),
            ));
        }
        out.push(t(
            &format!("layers.{l}.mlp.up.weight"),
            &[H, D],
            m(H, D, 0.1),
        ));
        out.push(t(
            &format!("layers.{l}.mlp.down.weight"),
            &[D, H],
            m(D, H, 0.1),
        ));
        out.push(t(&format!("layers.{l}.norm.weight"), &[D], vec![1.0; D]));
    }
    out
}

/// A permutation of 0..n from a seed (Fisher-Yates).
pub fn permutation(n: usize, seed: u64) -> Vec<usize> {
    let mut rng = Rng::new(seed);
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        p.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
    }
    p
}

/// Reorders rows (`rows = true`) or columns of a 2-D tensor: new line k = old line perm[k].
pub fn permute(t: &T, perm: &[usize], rows: bool) -> T {
    let (r, c) = (t.shape[0], t.shape[1]);
    let values = (0..r * c)
        .map(|k| {
            let (i, j) = (k / c, k % c);
            if rows {
                t.values[perm[i] * c + j]
            } else {
                t.values[i * c + perm[j]]
            }
        })
        .collect();
    T {
        values,
        ..t.clone()
    }
}

/// A random orthogonal matrix (Gram-Schmidt on Gaussian columns), row-major n x n.
pub fn orthogonal(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = Rng::new(seed);
    let mut q: Vec<Vec<f64>> = Vec::new();
    while q.len() < n {
        let mut v: Vec<f64> = (0..n).map(|_| rng.gauss() as f64).collect();
        for u in &q {
            let d: f64 = v.iter().zip(u).map(|(a, b)| a * b).sum();
            v.iter_mut().zip(u).for_each(|(a, b)| *a -= d * b);
        }
        let norm = v.iter().map(|a| a * a).sum::<f64>().sqrt();
        q.push(v.into_iter().map(|a| a / norm).collect());
    }
    q.into_iter().flatten().collect()
}

/// W (r x c) times R^T on the column side, or R times W on the row side (R is n x n).
pub fn rotate(t: &T, rot: &[f64], n: usize, columns: bool) -> T {
    let (r, c) = (t.shape[0], t.shape[1]);
    let mut values = vec![0f32; r * c];
    for i in 0..r {
        for j in 0..c {
            let mut acc = 0f64;
            for k in 0..n {
                acc += if columns {
                    t.values[i * c + k] as f64 * rot[j * n + k]
                } else {
                    rot[i * n + k] * t.values[k * c + j] as f64
                };
            }
            values[i * c + j] = acc as f32;
        }
    }
    T {
        values,
        ..t.clone()
    }
}

/// Whether a matrix of the generated model reads the residual stream (its columns are it).
pub fn is_input_side(name: &str) -> bool {
    ["attn.q.", "attn.k.", "attn.v.", "mlp.up."]
        .iter()
        .any(|p| name.contains(p))
}

/// The MLP's hidden units reordered: `up` rows and `down` columns by `perm`.
pub fn mlp_units_permuted(m: &[T], perm: &[usize]) -> Vec<T> {
    m.iter()
        .map(|t| {
            if t.name.ends_with("up.weight") {
                permute(t, perm, true)
            } else if t.name.ends_with("down.weight") {
                permute(t, perm, false)
            } else {
                t.clone()
            }
        })
        .collect()
}

/// QuaRot-style: the residual stream rotated by the `D × D` orthogonal `rot` (embedding and
/// reading matrices on their columns, writing matrices on their rows; vectors unchanged).
pub fn residual_rotated(m: &[T], rot: &[f64]) -> Vec<T> {
    m.iter()
        .map(|t| {
            if t.name == "embed.weight" || is_input_side(&t.name) {
                rotate(t, rot, D, true)
            } else if t.shape.len() == 2 {
                rotate(t, rot, D, false)
            } else {
                t.clone()
            }
        })
        .collect()
}

/// The model with non-unit norm gains (0.6 to 1.4), kept apart as a model on disk keeps them.
pub fn with_gains(m: &[T], seed: u64) -> Vec<T> {
    let mut rng = Rng::new(seed);
    m.iter()
        .map(|t| {
            if t.shape.len() == 1 {
                T {
                    values: (0..D)
                        .map(|_| 0.6 + 0.8 * ((rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32))
                        .collect(),
                    ..t.clone()
                }
            } else {
                t.clone()
            }
        })
        .collect()
}

/// What a rotating copier does to a model with gains: folds each layer's norm gain into the
/// matrices that read the norm's output, sets the gains to 1, then rotates the residual.
pub fn gains_folded_and_rotated(m: &[T], rot: &[f64]) -> Vec<T> {
    let gains_of = |name: &str| {
        let layer = name.split('.').nth(1).unwrap_or_default();
        let norm = format!("layers.{layer}.norm.weight");
        m.iter().find(|t| t.name == norm).map(|t| t.values.clone())
    };
    m.iter()
        .map(|t| {
            if is_input_side(&t.name) {
                let gains = gains_of(&t.name).expect("every layer has a norm");
                let folded = T {
                    values: t
                        .values
                        .iter()
                        .enumerate()
                        .map(|(k, v)| v * gains[k % D])
                        .collect(),
                    ..t.clone()
                };
                rotate(&folded, rot, D, true)
            } else if t.name == "embed.weight" {
                rotate(t, rot, D, true)
            } else if t.shape.len() == 2 {
                rotate(t, rot, D, false)
            } else {
                T {
                    values: vec![1.0; t.values.len()],
                    ..t.clone()
                }
            }
        })
        .collect()
}

/// The residual stream's dimensions reordered by `perm` everywhere they appear: columns of
/// the embedding and of reading matrices, rows of writing matrices, entries of vectors.
pub fn residual_permuted(m: &[T], perm: &[usize]) -> Vec<T> {
    m.iter()
        .map(|t| {
            if t.name == "embed.weight" || is_input_side(&t.name) {
                permute(t, perm, false)
            } else if t.shape.len() == 2 {
                permute(t, perm, true)
            } else {
                T {
                    values: perm.iter().map(|&k| t.values[k]).collect(),
                    ..t.clone()
                }
            }
        })
        .collect()
}

/// The size of a fine-tune's change, as a fraction of each tensor's scale.
pub const CHANGE: f32 = 0.02;

/// `m` plus independent Gaussian changes of `CHANGE` times each tensor's RMS (a fine-tune:
/// every weight moves a little). Norm gains move too.
pub fn tuned(m: &[T], seed: u64) -> Vec<T> {
    // Seeded by the model too, so that fine-tunes of different bases differ.
    let mut rng = Rng::new(seed ^ (m[0].values[0].to_bits() as u64) << 20);
    m.iter()
        .map(|t| {
            let rms = (t.values.iter().map(|v| v * v).sum::<f32>() / t.values.len() as f32).sqrt();
            T {
                values: t
                    .values
                    .iter()
                    .map(|v| v + rng.gauss() * CHANGE * rms)
                    .collect(),
                ..t.clone()
            }
        })
        .collect()
}

/// Layers 1 and 3 dropped and layer 2 renumbered as 1 (a layer subset).
pub fn layer_subset(m: &[T]) -> Vec<T> {
    m.iter()
        .filter(|t| !t.name.starts_with("layers.1.") && !t.name.starts_with("layers.3."))
        .map(|t| T {
            name: t.name.replace("layers.2.", "layers.1."),
            ..t.clone()
        })
        .collect()
}

/// `m` plus `common` (a change every fine-tune on the same public data makes) plus its own
/// independent change.
pub fn tuned_with(m: &[T], common: &[Vec<f32>], seed: u64) -> Vec<T> {
    tuned(m, seed)
        .into_iter()
        .zip(common)
        .map(|(t, c)| T {
            values: t.values.iter().zip(c).map(|(v, d)| v + d).collect(),
            ..t
        })
        .collect()
}

/// A change every fine-tune of `p` on the same data makes: Gaussian, `times` the size of a
/// fine-tune's own change (`CHANGE` of each tensor's RMS).
pub fn common_change(p: &[T], seed: u64, times: f32) -> Vec<Vec<f32>> {
    let mut rng = Rng::new(seed);
    p.iter()
        .map(|t| {
            let rms = (t.values.iter().map(|v| v * v).sum::<f32>() / t.values.len() as f32).sqrt();
            t.values
                .iter()
                .map(|_| rng.gauss() * times * CHANGE * rms)
                .collect()
        })
        .collect()
}
