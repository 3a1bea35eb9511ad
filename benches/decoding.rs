//! Decoding throughput to f32 (bytes of f32 output per second), on one thread.
//! Targets: Q4_K and Q8_0 at >= 1 GB/s of output per core.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mlprov::formats::DType;

/// Random bytes for `elements` values of `dtype`, with every block's f16 scale fields
/// made finite (so the work is real arithmetic, not NaN propagation).
fn input(dtype: DType, elements: usize) -> Vec<u8> {
    let len = dtype.byte_len(elements).unwrap();
    let mut x: u64 = 0x1234_5678;
    let mut bytes: Vec<u8> = (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 56) as u8
        })
        .collect();
    let (_, block) = dtype.block();
    if dtype.is_blocked() {
        // Q8_0, Q4_K and IQ2_XXS keep f16 scales at the block start (Q4_K: d and dmin);
        // 0x3c00 = 1.0. MXFP4 starts with an E8M0 exponent: 127 gives a scale of 0.5.
        for b in bytes.chunks_mut(block) {
            b[0] = 0x00;
            b[1] = 0x3c;
            if dtype == DType::Q4_K {
                b[2] = 0x00;
                b[3] = 0x38;
            }
            if dtype == DType::MXFP4 {
                b[0] = 127;
            }
        }
    }
    bytes
}

fn bench(c: &mut Criterion) {
    let n = 1 << 22; // 4M elements, 16 MiB of f32 output
    let mut g = c.benchmark_group("decode-4M-elements");
    g.throughput(Throughput::Bytes((n * 4) as u64));
    g.sample_size(20);
    for dtype in [
        DType::Q8_0,
        DType::Q4_K,
        DType::Q4_0,
        DType::Q6_K,
        DType::IQ2_XXS,
        DType::MXFP4,
        DType::F32,
        DType::F16,
        DType::BF16,
        DType::F8E4M3,
        DType::I8,
    ] {
        let bytes = input(dtype, n);
        let mut out = vec![0f32; n];
        g.bench_function(dtype.name(), |b| {
            b.iter(|| dtype.decode_f32(black_box(&bytes), &mut out).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
