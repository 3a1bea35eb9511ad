//! Decoding throughput to f32 for the stored element types (output bytes per second).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mlprov::formats::DType;

fn bench(c: &mut Criterion) {
    let n = 1 << 22; // 4M elements, 16 MiB of f32 output
    let mut g = c.benchmark_group("decode-4M-elements");
    g.throughput(Throughput::Bytes((n * 4) as u64));
    g.sample_size(20);
    for dtype in [
        DType::F32,
        DType::F16,
        DType::BF16,
        DType::F8E4M3,
        DType::I8,
        DType::F64,
    ] {
        let size = dtype.byte_len(1).unwrap();
        let bytes: Vec<u8> = (0..n * size).map(|i| (i * 7 % 251) as u8 & 0x3f).collect();
        let mut out = vec![0f32; n];
        g.bench_function(dtype.name(), |b| {
            b.iter(|| dtype.decode_f32(black_box(&bytes), &mut out).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
