//! The registry at scale (SQLite, and PostgreSQL with `--postgres`):
//! 1. lookup of one model among 100,000 registered models with synthetic fingerprints (32
//!    indexed tensors each, band rows inserted directly): median and p99 latency of
//!    `Store::candidates` for noisy copies of registered models, and their recall;
//! 2. bytes stored per registered 7B-class model (291 tensors, Llama-shaped but narrow:
//!    every sketch, Gram sketch and anchored kernel is at its full size already at this width).
//!
//! `cargo bench --bench registry` (`-- --models N` for another registry size, `-- --postgres`
//! to measure a throwaway PostgreSQL server too).

use std::path::Path;
use std::time::Instant;

use mlprov::registry::{band_keys, AssetId, PgStore, SqliteStore, Store, INDEXED_TENSORS};
use mlprov_testkit::{write_in, Dtype, Rng, Tensor};

/// The synthetic SimHash of tensor `t` of model `a`.
fn simhash(a: u64, t: u64) -> mlprov::fingerprint::SimHash {
    let mut rng = Rng::new(a.wrapping_mul(0x9e37_79b9) ^ (t << 48) ^ 0x5eed);
    mlprov::fingerprint::SimHash([
        rng.next_u64(),
        rng.next_u64(),
        rng.next_u64(),
        rng.next_u64(),
    ])
}

fn fill(store: &mut SqliteStore, models: u64) {
    let conn = store.connection();
    conn.execute_batch("PRAGMA cache_size = -1000000").unwrap();
    let tx = conn.transaction().unwrap();
    {
        let mut asset = tx
            .prepare(
                "INSERT INTO assets (id, kind, name, root, manifest, licence, registered)
                 VALUES (?1, 'model', ?2, ?3, '{}', '', '2026-11-29T00:00:00Z')",
            )
            .unwrap();
        for a in 1..=models {
            let mut root = [0u8; 32];
            root[..8].copy_from_slice(&a.to_le_bytes());
            asset
                .execute(rusqlite::params![
                    a as i64,
                    format!("synthetic-{a}"),
                    &root[..]
                ])
                .unwrap();
        }
        // Band-major, so rows arrive in key order (appends to the B-tree).
        let mut lsh = tx
            .prepare("INSERT OR IGNORE INTO lsh (bandkey, asset) VALUES (?1, ?2)")
            .unwrap();
        for band in 0..mlprov::registry::BANDS as usize {
            for (k, a) in band_rows(models, band) {
                lsh.execute([k, a]).unwrap();
            }
        }
    }
    tx.commit().unwrap();
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); ANALYZE;")
        .unwrap();
}

/// Every band row of `models` synthetic models, sorted by key.
fn band_rows(models: u64, band: usize) -> Vec<(i64, i64)> {
    let mut rows: Vec<(i64, i64)> = Vec::with_capacity(models as usize * INDEXED_TENSORS);
    for a in 1..=models {
        for t in 0..INDEXED_TENSORS as u64 {
            rows.push((band_keys(&[simhash(a, t)])[band], a as i64));
        }
    }
    rows.sort_unstable();
    rows.dedup(); // two tensors of a model may share a band key
    rows
}

/// The same registry in PostgreSQL, loaded with COPY.
fn fill_postgres(store: &mut PgStore, models: u64) {
    use std::io::Write;
    let client = store.client();
    let mut assets = client
        .copy_in("COPY assets (id, kind, name, root, manifest, licence, registered) FROM STDIN")
        .unwrap();
    for a in 1..=models {
        let mut root = [0u8; 32];
        root[..8].copy_from_slice(&a.to_le_bytes());
        let hex: String = root.iter().map(|b| format!("{b:02x}")).collect();
        writeln!(
            assets,
            "{a}\tmodel\tsynthetic-{a}\t\\\\x{hex}\t{{}}\t\t2026-11-29T00:00:00Z"
        )
        .unwrap();
    }
    assets.finish().unwrap();
    let mut lsh = client
        .copy_in("COPY lsh (bandkey, asset) FROM STDIN")
        .unwrap();
    for band in 0..mlprov::registry::BANDS as usize {
        for (k, a) in band_rows(models, band) {
            writeln!(lsh, "{k}\t{a}").unwrap();
        }
    }
    lsh.finish().unwrap();
    client.batch_execute("ANALYZE").unwrap();
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn lookup_latency(dir: &Path, models: u64) {
    let path = dir.join("lookup.sqlite");
    let mut store = SqliteStore::open(&path).unwrap();
    let start = Instant::now();
    fill(&mut store, models);
    let size = std::fs::metadata(&path).unwrap().len();
    println!(
        "registry of {models} synthetic models ({} indexed tensors, {} band rows each): \
         filled in {:.0} s, {:.1} MiB ({:.0} bytes per model)",
        INDEXED_TENSORS,
        INDEXED_TENSORS * mlprov::registry::BANDS as usize,
        start.elapsed().as_secs_f64(),
        size as f64 / (1 << 20) as f64,
        size as f64 / models as f64
    );
    queries(&mut store, models, "SQLite");
}

fn lookup_latency_postgres(models: u64) {
    let server = mlprov_testkit::postgres::PgServer::start();
    let mut store = PgStore::connect(&server.url()).unwrap();
    let start = Instant::now();
    fill_postgres(&mut store, models);
    println!(
        "PostgreSQL registry of {models} synthetic models filled in {:.0} s",
        start.elapsed().as_secs_f64()
    );
    queries(&mut store, models, "PostgreSQL");
}

/// Lookups of noisy copies (8 of 256 bits flipped per tensor) of random registered models.
fn queries(store: &mut dyn Store, models: u64, label: &str) {
    let mut rng = Rng::new(11);
    let mut times = Vec::new();
    let mut found = 0;
    let queries = 1000;
    for q in 0..queries {
        let target = 1 + rng.below(models as usize) as u64;
        let keys: Vec<_> = (0..INDEXED_TENSORS as u64)
            .map(|t| {
                let mut k = simhash(target, t);
                for _ in 0..8 {
                    let bit = rng.below(256);
                    k.0[bit / 64] ^= 1 << (bit % 64);
                }
                k
            })
            .collect();
        let start = Instant::now();
        let c = store
            .candidates(&band_keys(&keys), mlprov::MIN_BAND_HITS)
            .unwrap();
        let t = start.elapsed().as_secs_f64() * 1e3;
        if q >= 10 {
            times.push(t); // the first queries warm the page cache
        }
        if c.first().map(|c| c.0) == Some(AssetId(target as i64)) {
            found += 1;
        }
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{label}: lookup of a noisy copy among {models}: median {:.2} ms, p99 {:.2} ms, max {:.2} ms \
         (targets: median < 5 ms, p99 < 50 ms); target ranked first in {found}/{queries}",
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        times.last().copied().unwrap_or(0.0)
    );
}

/// A Llama-shaped model of 32 blocks (291 tensors) at width 256, stored as BF16.
fn llama_like(dir: &Path) -> std::path::PathBuf {
    let (d, ff, vocab, layers) = (256, 688, 2048, 32);
    let mut rng = Rng::new(7);
    let mut m = |name: String, shape: &[usize], scale: f32| {
        let n = shape.iter().product();
        Tensor::f32(name, shape, rng.gaussians(n, scale)).stored_as(Dtype::BF16)
    };
    let mut t = vec![m("model.embed_tokens.weight".into(), &[vocab, d], 1.0)];
    for l in 0..layers {
        let p = format!("model.layers.{l}");
        for w in ["q_proj", "k_proj", "v_proj", "o_proj"] {
            t.push(m(format!("{p}.self_attn.{w}.weight"), &[d, d], 0.05));
        }
        t.push(m(format!("{p}.mlp.gate_proj.weight"), &[ff, d], 0.05));
        t.push(m(format!("{p}.mlp.up_proj.weight"), &[ff, d], 0.05));
        t.push(m(format!("{p}.mlp.down_proj.weight"), &[d, ff], 0.05));
        t.push(m(format!("{p}.input_layernorm.weight"), &[d], 1.0));
        t.push(m(format!("{p}.post_attention_layernorm.weight"), &[d], 1.0));
    }
    t.push(m("model.norm.weight".into(), &[d], 1.0));
    t.push(m("lm_head.weight".into(), &[vocab, d], 0.05));
    write_in(dir, "llama-like.safetensors", &t)
}

fn size_per_model(dir: &Path) {
    let model = llama_like(dir);
    let path = dir.join("size.sqlite");
    let mut store = SqliteStore::open(&path).unwrap();
    let size = |store: &mut SqliteStore| {
        store
            .connection()
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
            .unwrap();
        std::fs::metadata(&path).unwrap().len()
    };
    let empty = size(&mut store);
    let n = 3;
    let mut last = None;
    for _ in 0..n {
        let r = mlprov::register(&mut store, &model, &Default::default(), &mlprov::Quiet).unwrap();
        last = Some(r);
    }
    let per_model = (size(&mut store) - empty) as f64 / n as f64;
    let r = last.unwrap();
    let fp = store.fingerprint(r.asset).unwrap().unwrap();
    let json = serde_json::to_vec(&fp).unwrap().len();
    let anchored = fp.tensors.iter().filter(|t| t.anchored.is_some()).count();
    let grams = fp.tensors.iter().filter(|t| t.row_gram.is_some()).count();
    let manifest = store.asset(r.asset).unwrap().unwrap().manifest.len();
    println!(
        "7B-class model ({} tensors, {} sketched, {grams} with Gram sketches, {anchored} with anchored kernels): \
         {:.0} KiB in the registry per registration (target < 1024 KiB): fingerprint {:.0} KiB \
         deflated ({:.0} KiB JSON, {:.0} bytes per tensor stored), manifest {:.0} KiB",
        r.tensors,
        fp.tensors.len(),
        per_model / 1024.0,
        r.fingerprint_bytes as f64 / 1024.0,
        json as f64 / 1024.0,
        r.fingerprint_bytes as f64 / r.tensors as f64,
        manifest as f64 / 1024.0
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let models = args
        .iter()
        .position(|a| a == "--models")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000u64);
    let dir = mlprov_testkit::tempdir();
    size_per_model(dir.path());
    lookup_latency(dir.path(), models);
    if args.iter().any(|a| a == "--postgres") {
        lookup_latency_postgres(models);
    }
}
