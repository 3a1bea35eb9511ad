//! Fingerprinting cost: the sampled lookup sketch (must touch a bounded sample, not the
//! bytes) against one plain BLAKE3 pass over the same file, and the invariants (Gram
//! sketches and anchored kernels).

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use mlprov::fingerprint::{FingerprintOptions, ModelFingerprint};
use mlprov::formats::{open_model, OpenOptions};
use mlprov_testkit::{Rng, Tensor};

/// A transformer-shaped F32 safetensors file: `layers` blocks of width `d`, random values.
fn write_model(path: &Path, d: usize, layers: usize) {
    let mut rng = Rng::new(7);
    let mut m =
        |name: String, r: usize, c: usize| Tensor::f32(name, &[r, c], rng.gaussians(r * c, 0.3));
    let mut tensors = vec![m("embed.weight".into(), 8 * d, d)];
    for l in 0..layers {
        for p in ["q", "k", "v", "o"] {
            tensors.push(m(format!("layers.{l}.attn.{p}.weight"), d, d));
        }
        tensors.push(m(format!("layers.{l}.mlp.up.weight"), 4 * d, d));
        tensors.push(m(format!("layers.{l}.mlp.down.weight"), d, 4 * d));
    }
    mlprov_testkit::write_safetensors(path, &tensors);
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    write_model(&path, 512, 8); // about 130 MiB, 49 tensors
    let model = open_model(&path, OpenOptions::default()).unwrap();
    let bytes = model.files[0].file.bytes();

    let mut g = c.benchmark_group("fingerprint-130MiB");
    g.sample_size(10);
    g.bench_function("plain blake3 of the file (b3sum equivalent)", |b| {
        b.iter(|| {
            let mut h = blake3::Hasher::new();
            h.update_rayon(black_box(bytes));
            h.finalize()
        })
    });
    g.bench_function("lookup sketch (sampled)", |b| {
        b.iter(|| ModelFingerprint::of(black_box(&model)))
    });
    g.bench_function("sketch + invariants", |b| {
        b.iter(|| {
            ModelFingerprint::with_options(
                black_box(&model),
                FingerprintOptions {
                    invariants: true,
                    ..Default::default()
                },
            )
        })
    });
    g.finish();
}

/// The anchored kernel of one residual matrix (width 512, 2048 units, 32 anchors), read and
/// written side, as matrix products. Measured once against the hand-written AVX2 loops it
/// replaced (2 cores, `--quick`): reading 8.3 ms -> 1.7 ms, writing 4.9 ms -> 3.0 ms.
fn anchored_kernels(c: &mut Criterion) {
    use mlprov::fingerprint::testing::anchored_kernel;
    let (k, d, h) = (32usize, 512usize, 2048usize);
    let mut x: u32 = 11;
    let mut noise = |n: usize| -> Vec<f32> {
        (0..n)
            .map(|_| {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (x >> 8) as f32 / (1u32 << 24) as f32 - 0.5
            })
            .collect()
    };
    let (anchors, w) = (noise(k * d), noise(h * d));
    let mut g = c.benchmark_group("anchored-kernel-512x2048");
    g.sample_size(10);
    for (side, shape, writes) in [("reads", (h, d), false), ("writes", (d, h), true)] {
        g.bench_function(format!("{side}, ndarray"), |b| {
            b.iter(|| anchored_kernel(black_box(&w), shape, &anchors, k, writes))
        });
    }
    g.finish();
}

criterion_group!(benches, bench, anchored_kernels);
criterion_main!(benches);
