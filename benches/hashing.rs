//! Hashing throughput: mlprov's composed digests (per tensor + file + root) against one
//! plain BLAKE3 pass over the same mapped bytes, which is what `b3sum` does.
//! The ratio of the two is the cost of per-tensor identity; the target is ≤ 1.15.

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mlprov::formats::{open_model, OpenOptions};
use mlprov::hash::{hash_model, HashOptions};
use mlprov_testkit::{Rng, Tensor};

/// Writes a safetensors file of `tensors` F32 tensors totalling about `bytes`, with
/// random values so no layer of the system can shortcut them.
fn write_model(path: &Path, bytes: usize, tensors: usize) {
    let per = bytes / tensors / 4;
    let mut rng = Rng::new(12345);
    let tensors: Vec<Tensor> = (0..tensors)
        .map(|i| {
            Tensor::f32(
                format!("layers.{i}.weight"),
                &[per],
                rng.gaussians(per, 1.0),
            )
        })
        .collect();
    mlprov_testkit::write_safetensors(path, &tensors);
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.safetensors");
    let size = 256 << 20;
    write_model(&path, size, 64);
    let model = open_model(&path, OpenOptions::default()).unwrap();
    let bytes = model.files[0].file.bytes();

    let mut g = c.benchmark_group("hash-256MiB");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.sample_size(15);
    g.bench_function("plain blake3 (b3sum equivalent)", |b| {
        b.iter(|| {
            let mut h = blake3::Hasher::new();
            h.update_rayon(black_box(bytes));
            h.finalize()
        })
    });
    g.bench_function("mlprov composed digests + root", |b| {
        b.iter(|| hash_model(black_box(&model), HashOptions::default()))
    });
    g.finish();

    // Many small tensors: the per-tensor bookkeeping must stay negligible.
    let small = dir.path().join("small.safetensors");
    write_model(&small, 32 << 20, 4096);
    let model = open_model(&small, OpenOptions::default()).unwrap();
    let mut g = c.benchmark_group("hash-32MiB-4096-tensors");
    g.throughput(Throughput::Bytes(model.files[0].file.len() as u64));
    g.sample_size(20);
    g.bench_function("mlprov composed digests + root", |b| {
        b.iter(|| hash_model(black_box(&model), HashOptions::default()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
