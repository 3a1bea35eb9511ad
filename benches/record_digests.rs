//! Record digests: BLAKE3 of 100k independent records of about 510 bytes (a dataset's
//! per-record identity), one message at a time through the `blake3` crate against sixteen
//! side by side (`mlprov-blake3-many`), and one plain BLAKE3 pass over the same bytes laid
//! end to end (what `b3sum` does to the file), all on one thread.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mlprov_blake3_many::ManyHasher;
use mlprov_testkit::Rng;

fn bench(c: &mut Criterion) {
    let mut rng = Rng::new(7);
    let records: Vec<Vec<u8>> = (0..100_000)
        .map(|_| {
            let n = 480 + rng.below(60);
            (0..n).map(|_| b'a' + (rng.below(26) as u8)).collect()
        })
        .collect();
    let refs: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
    let joined: Vec<u8> = records.concat();
    let context = "mlprov 2026-11-29 dataset record v1";
    let lanes = ManyHasher::new_derive_key(context);
    let one_by_one = lanes.clone().without_lanes();

    let mut g = c.benchmark_group("record-digests-100k");
    g.throughput(Throughput::Bytes(joined.len() as u64));
    g.sample_size(20);
    g.bench_function("blake3 crate, one record at a time", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(refs.len());
            one_by_one.hash_many(b"t", black_box(&refs), &mut out);
            out
        })
    });
    g.bench_function(
        format!(
            "sixteen records side by side (lanes: {})",
            lanes.uses_lanes()
        ),
        |b| {
            b.iter(|| {
                let mut out = Vec::with_capacity(refs.len());
                lanes.hash_many(b"t", black_box(&refs), &mut out);
                out
            })
        },
    );
    g.bench_function("plain blake3 of the same bytes end to end", |b| {
        b.iter(|| blake3::hash(black_box(&joined)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
