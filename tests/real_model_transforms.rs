//! Opt-in: the adversarial transform suite on real models.
//!
//! Every transform a weight copier might apply is applied to a published model, written
//! out as a real safetensors file, and the lineage test (through the library API, exactly
//! as `crates/mlprov-fingerprint/tests/transforms.rs` does on generated models) must call
//! the result what it is:
//!
//! * all-MiniLM-L6-v2 (BERT, post-LayerNorm), the corpus's F32 safetensors file as is;
//! * SmolLM2-135M-Instruct (Llama, GQA, tied embeddings) from the corpus's Q4_1 GGUF file,
//!   every tensor dequantized to F32 by `mlprov-formats` and written as safetensors: that
//!   file is the original its variants are compared against (the GGUF file itself is
//!   compared against it and against one variant, across formats);
//! * real pairs of independently trained models (plus one recorded partial reuse).
//!
//! Run with
//! `MLPROV_CORPUS=DIR cargo test --release -p mlprov --test real_model_transforms -- --ignored --nocapture`.
//! Every case prints the verdict, log10 p, shares, transforms and how its tensor pairs were
//! matched; a suite runs all its cases and then fails listing every case that missed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use mlprov::fingerprint::testing::Values;
use mlprov::fingerprint::{Comparison, PairKind, Verdict};
use mlprov::formats::{safetensors_dtype, DType, Model};
use mlprov::{compare_prepared, Comparable, Quiet};
use mlprov_testkit::Dtype;
use mlprov_testkit::{Rng, Tensor};

const MINILM: &str = "minilm-l6-v2.fp32.safetensors";
const MINILM_L3: &str = "paraphrase-minilm-l3-v2.vital.onnx";
const MINILM_INT8: &str = "minilm-l6-v2.int8.onnx";
const SMOLLM2: &str = "smollm2-135m-instruct.q4_1.gguf";

/// The corpus file `name`, with a clear message when the corpus is not there.
fn corpus_file(name: &str) -> PathBuf {
    let dir = std::env::var_os("MLPROV_CORPUS").unwrap_or_else(|| {
        panic!(
            "MLPROV_CORPUS is not set: point it at the real corpus folder \
             (`bash ../shared/corpus/fetch_dev_models.sh DIR`), e.g. \
             `MLPROV_CORPUS=/tmp/rc cargo test --release -p mlprov --test real_model_transforms -- --ignored`"
        )
    });
    let path = PathBuf::from(dir).join(name);
    assert!(
        path.is_file(),
        "{name} is not in MLPROV_CORPUS (looked for {})",
        path.display()
    );
    path
}

// ---------------------------------------------------------------------------------------
// Random numbers: the shared test stream.

/// Log-uniform in [0.5, 2].
fn log_uniform_half_to_two(rng: &mut Rng) -> f32 {
    2f64.powf(2.0 * rng.uniform() - 1.0) as f32
}

// ---------------------------------------------------------------------------------------
// Tensors in memory, read with mlprov-formats and written with the safetensors crate.

/// A named tensor: real values (stored as `store`), or bytes copied as stored (integer
/// buffers such as BERT's `position_ids`, which no transform touches).
#[derive(Clone)]
struct T {
    name: String,
    shape: Vec<usize>,
    values: Vec<f32>,
    store: Dtype,
    raw: Option<(Dtype, Vec<u8>)>,
}

impl T {
    fn is_real(&self) -> bool {
        self.raw.is_none()
    }

    /// (rows, columns) of the tensor seen as a matrix (a vector is one row).
    fn rows_cols(&self) -> (usize, usize) {
        let n = self.values.len();
        if self.shape.len() >= 2 && self.shape[0] > 0 {
            (self.shape[0], n / self.shape[0])
        } else {
            (1, n)
        }
    }

    fn with_values(&self, values: Vec<f32>) -> T {
        assert_eq!(values.len(), self.values.len(), "{}", self.name);
        T {
            values,
            ..self.clone()
        }
    }

    fn renamed(&self, name: String) -> T {
        T {
            name,
            ..self.clone()
        }
    }
}

/// Whether a stored dtype holds real numbers (so it decodes to meaningful f32 values).
fn is_real_dtype(d: DType) -> bool {
    matches!(
        d,
        DType::F16 | DType::BF16 | DType::F32 | DType::F64 | DType::F8E4M3 | DType::F8E5M2
    ) || (d.is_blocked() && d.decodable())
}

fn raw_dtype(d: DType) -> Dtype {
    safetensors_dtype(d).unwrap_or_else(|| panic!("no safetensors dtype for {}", d.name()))
}

/// Every tensor of an opened model, real ones decoded to f32 in row-major order of the
/// reported shape (GGML blocks dequantized, linked quantized tensors through their scales).
fn load(model: &Model) -> Vec<T> {
    let mut out = Vec::new();
    for f in &model.files {
        for view in f.file.tensors() {
            // Scales and zero points are part of their quantized tensor's values.
            if f.file.is_quant_aux(view.name) {
                continue;
            }
            let n = view.elements();
            let fail = |e: &dyn std::fmt::Display| -> ! {
                panic!("{}: cannot decode `{}`: {e}", f.rel_path, view.name)
            };
            // What the fingerprint sees: linked quantized tensors through their scales.
            let values = match Values::of(&f.file, view.name) {
                Some(v @ Values::Dequantized(_)) => Some(v),
                Some(v) if is_real_dtype(view.dtype) => Some(v),
                _ => None,
            }
            .map(|v| {
                let mut out = vec![0f32; n];
                v.decode_f32_into(0..n, &mut out)
                    .unwrap_or_else(|e| fail(&e));
                out
            });
            out.push(match values {
                Some(values) => T {
                    name: view.name.to_string(),
                    shape: view.shape.to_vec(),
                    values,
                    store: Dtype::F32,
                    raw: None,
                },
                None => T {
                    name: view.name.to_string(),
                    shape: view.shape.to_vec(),
                    values: Vec::new(),
                    store: raw_dtype(view.dtype),
                    raw: Some((raw_dtype(view.dtype), view.bytes.to_vec())),
                },
            });
        }
    }
    out
}

fn write(path: &Path, tensors: &[T]) {
    let tensors: Vec<Tensor> = tensors
        .iter()
        .map(|t| match &t.raw {
            Some((dtype, bytes)) => Tensor::raw(t.name.clone(), *dtype, &t.shape, bytes.clone()),
            None => Tensor::f32(t.name.clone(), &t.shape, t.values.clone()).stored_as(t.store),
        })
        .collect();
    mlprov_testkit::write_safetensors(path, &tensors);
}

// ---------------------------------------------------------------------------------------
// Matrix helpers (row-major).

/// New row k = old row perm[k]; for a vector, new element k = old element perm[k].
fn permute_rows(t: &T, perm: &[usize]) -> T {
    let (r, c) = if t.shape.len() == 1 {
        (t.values.len(), 1)
    } else {
        t.rows_cols()
    };
    assert_eq!(
        perm.len(),
        r,
        "{}: permutation of {} rows",
        t.name,
        perm.len()
    );
    let mut values = Vec::with_capacity(r * c);
    for &p in perm {
        values.extend_from_slice(&t.values[p * c..(p + 1) * c]);
    }
    t.with_values(values)
}

/// New column k = old column perm[k].
fn permute_cols(t: &T, perm: &[usize]) -> T {
    let (r, c) = t.rows_cols();
    assert_eq!(
        perm.len(),
        c,
        "{}: permutation of {} columns",
        t.name,
        perm.len()
    );
    let mut values = Vec::with_capacity(r * c);
    for row in t.values.chunks(c) {
        values.extend(perm.iter().map(|&p| row[p]));
    }
    t.with_values(values)
}

/// Row i times s[i] (for a vector, element i).
fn scale_rows(t: &T, s: &[f32]) -> T {
    let c = if t.shape.len() == 1 {
        1
    } else {
        t.rows_cols().1
    };
    assert_eq!(s.len() * c, t.values.len(), "{}", t.name);
    t.with_values(
        t.values
            .iter()
            .enumerate()
            .map(|(k, v)| v * s[k / c])
            .collect(),
    )
}

/// Column j times s[j].
fn scale_cols(t: &T, s: &[f32]) -> T {
    let c = t.rows_cols().1;
    assert_eq!(s.len(), c, "{}", t.name);
    t.with_values(
        t.values
            .iter()
            .enumerate()
            .map(|(k, v)| v * s[k % c])
            .collect(),
    )
}

fn transpose(t: &T) -> T {
    let (r, c) = (t.shape[0], t.shape[1]);
    let mut values = vec![0f32; r * c];
    for i in 0..r {
        for j in 0..c {
            values[j * r + i] = t.values[i * c + j];
        }
    }
    T {
        shape: vec![c, r],
        values,
        ..t.clone()
    }
}

/// A (m x k) times B (k x n), on every core.
fn matmul(a: &[f32], m: usize, k: usize, b: &[f32], n: usize) -> Vec<f32> {
    assert_eq!(a.len(), m * k);
    assert_eq!(b.len(), k * n);
    let mut out = vec![0f32; m * n];
    if m == 0 || n == 0 {
        return out;
    }
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let rows_per = m.div_ceil(threads);
    std::thread::scope(|s| {
        for (chunk_index, chunk) in out.chunks_mut(rows_per * n).enumerate() {
            s.spawn(move || {
                for (r, row) in chunk.chunks_mut(n).enumerate() {
                    let i = chunk_index * rows_per + r;
                    for (kk, &w) in a[i * k..(i + 1) * k].iter().enumerate() {
                        let b_row = &b[kk * n..(kk + 1) * n];
                        for (o, &bv) in row.iter_mut().zip(b_row) {
                            *o += w * bv;
                        }
                    }
                }
            });
        }
    });
    out
}

/// A random orthogonal n x n matrix, row-major: Gram-Schmidt (twice, for accuracy) on
/// Gaussian vectors, in f64.
fn random_orthogonal(n: usize, rng: &mut Rng) -> Vec<f64> {
    let mut q: Vec<Vec<f64>> = Vec::with_capacity(n);
    while q.len() < n {
        let mut v: Vec<f64> = (0..n).map(|_| rng.gauss() as f64).collect();
        for _ in 0..2 {
            for u in &q {
                let d: f64 = v.iter().zip(u).map(|(a, b)| a * b).sum();
                v.iter_mut().zip(u).for_each(|(a, b)| *a -= d * b);
            }
        }
        let norm = v.iter().map(|a| a * a).sum::<f64>().sqrt();
        if norm > 1e-6 {
            q.push(v.into_iter().map(|a| a / norm).collect());
        }
    }
    q.into_iter().flatten().collect()
}

/// Block indices expanded to element indices: element i of block b goes with b's blocks.
fn expand(blocks: &[usize], size: usize) -> Vec<usize> {
    (0..blocks.len() * size)
        .map(|i| blocks[i / size] * size + i % size)
        .collect()
}

fn std_dev(v: &[f32]) -> f32 {
    let n = v.len().max(1) as f64;
    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
    (v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n).sqrt() as f32
}

// ---------------------------------------------------------------------------------------
// Transforms every architecture shares.

fn map_real(m: &[T], mut f: impl FnMut(&T) -> T) -> Vec<T> {
    m.iter()
        .map(|t| if t.is_real() { f(t) } else { t.clone() })
        .collect()
}

fn cast(m: &[T], store: Dtype) -> Vec<T> {
    map_real(m, |t| T { store, ..t.clone() })
}

/// Symmetric int8 with one absmax scale per row, written back as f32 values.
fn int8_per_row(m: &[T]) -> Vec<T> {
    map_real(m, |t| {
        let c = t.rows_cols().1.max(1);
        let values = t
            .values
            .chunks(c)
            .flat_map(|row| {
                let s = row.iter().fold(0f32, |a, v| a.max(v.abs())) / 127.0;
                row.iter().map(move |v| {
                    if s > 0.0 {
                        (v / s).round().clamp(-127.0, 127.0) * s
                    } else {
                        0.0
                    }
                })
            })
            .collect();
        t.with_values(values)
    })
}

/// Symmetric 4-bit in blocks of 32 with an absmax scale, written back as f32 values.
fn q4_blocks(m: &[T]) -> Vec<T> {
    map_real(m, |t| {
        t.with_values(mlprov_testkit::q4_round_trip(&t.values))
    })
}

/// Gaussian noise at `level` times each tensor's standard deviation (fine-tuning).
fn noise(m: &[T], level: f32, seed: u64) -> Vec<T> {
    let mut rng = Rng::new(seed);
    map_real(m, |t| {
        let sd = level * std_dev(&t.values);
        t.with_values(t.values.iter().map(|v| v + sd * rng.gauss()).collect())
    })
}

/// Names `w0`, `w1`… in a shuffled order, and every matrix transposed.
fn renamed_reordered_transposed(m: &[T], seed: u64) -> Vec<T> {
    let order = Rng::new(seed).permutation(m.len());
    order
        .iter()
        .enumerate()
        .map(|(i, &k)| {
            let t = &m[k];
            let t = if t.is_real() && t.shape.len() == 2 {
                transpose(t)
            } else {
                t.clone()
            };
            t.renamed(format!("w{i}"))
        })
        .collect()
}

/// `prefix` + layer number + `.` + rest: (layer, rest).
fn split_layer<'a>(name: &'a str, prefix: &str) -> Option<(usize, &'a str)> {
    let tail = name.strip_prefix(prefix)?;
    let (n, rest) = tail.split_once('.')?;
    Some((n.parse().ok()?, rest))
}

/// Odd layers dropped, the rest renumbered 0, 1, 2… (distillation-style initialization).
fn every_other_layer(m: &[T], prefix: &str) -> Vec<T> {
    m.iter()
        .filter_map(|t| match split_layer(&t.name, prefix) {
            Some((l, _)) if l % 2 == 1 => None,
            Some((l, rest)) => Some(t.renamed(format!("{prefix}{}.{rest}", l / 2))),
            None => Some(t.clone()),
        })
        .collect()
}

/// Names that lie: tensors of layer `l` whose rest starts with `part` labelled `l + 1`
/// (the attention of each layer filed under the next), the values untouched.
fn labelled_one_layer_later(m: &[T], prefix: &str, part: &str) -> Vec<T> {
    m.iter()
        .map(|t| match split_layer(&t.name, prefix) {
            Some((l, rest)) if rest.starts_with(part) => {
                t.renamed(format!("{prefix}{}.{rest}", l + 1))
            }
            _ => t.clone(),
        })
        .collect()
}

/// The embedding cut to its first half of rows (vocabulary pruned).
fn vocabulary_halved(m: &[T], embedding: &str) -> Vec<T> {
    m.iter()
        .map(|t| {
            if t.name == embedding {
                let (r, c) = t.rows_cols();
                let keep = r / 2;
                T {
                    shape: vec![keep, c],
                    values: t.values[..keep * c].to_vec(),
                    ..t.clone()
                }
            } else {
                t.clone()
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Running cases.

/// A model opened for the lineage test, its fingerprints computed once, when first needed.
fn prepare(path: &Path) -> Comparable<'static> {
    Comparable::new(mlprov::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

/// A model compared against: opened and fingerprinted once.
struct Base {
    label: String,
    model: Comparable<'static>,
}

impl Base {
    fn open(label: &str, path: &Path) -> Base {
        Base {
            label: label.to_string(),
            model: prepare(path),
        }
    }
}

struct Outcome {
    case: String,
    verdict: Verdict,
    log10_p: f64,
    explained: f64,
    problems: Vec<String>,
    secs: f64,
}

/// The variants every architecture shares: casts, int8 and 4-bit round trips, noise at
/// 10% and 30%, and renaming with reordering and transposition (seeds from `seed` on).
fn encoding_variants(suite: &mut Suite, base: &[T], o: &[&Base], seed: u64) {
    let recoded = [Verdict::ReEncoded, Verdict::Derived];
    suite.variant(
        "bf16",
        cast(base, Dtype::BF16),
        o,
        &[Verdict::ReEncoded],
        &[],
    );
    suite.variant("f16", cast(base, Dtype::F16), o, &[Verdict::ReEncoded], &[]);
    suite.variant("int8-per-row", int8_per_row(base), o, &recoded, &[]);
    suite.variant("q4-blocks-of-32", q4_blocks(base), o, &recoded, &[]);
    let derived = [Verdict::Derived];
    suite.variant("noise-0.1", noise(base, 0.1, seed), o, &derived, &[]);
    suite.variant("noise-0.3", noise(base, 0.3, seed + 1), o, &derived, &[]);
    suite.variant(
        "renamed-reordered-transposed",
        renamed_reordered_transposed(base, seed + 2),
        o,
        &[Verdict::SameWeights],
        &["renamed", "transposed"],
    );
}

struct Suite {
    name: &'static str,
    dir: tempfile::TempDir,
    outcomes: Vec<Outcome>,
    started: Instant,
}

/// Related verdicts must come with p below 1e-6.
fn is_related(v: Verdict) -> bool {
    !matches!(v, Verdict::Unrelated | Verdict::Inconclusive)
}

impl Suite {
    fn new(name: &'static str) -> Suite {
        Suite {
            name,
            dir: tempfile::Builder::new()
                .prefix("mlprov-real-transforms-")
                .tempdir()
                .expect("a temporary folder"),
            outcomes: Vec::new(),
            started: Instant::now(),
        }
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    /// Writes `tensors` as `case.safetensors`, compares it (as B) against every base (as
    /// A), then deletes the file.
    fn variant(
        &mut self,
        case: &str,
        tensors: Vec<T>,
        against: &[&Base],
        want: &[Verdict],
        labels: &[&str],
    ) {
        let t0 = Instant::now();
        let path = self.path(&format!("{case}.safetensors"));
        write(&path, &tensors);
        drop(tensors);
        let model = prepare(&path);
        let prepared = t0.elapsed().as_secs_f64();
        for (i, base) in against.iter().enumerate() {
            let t1 = Instant::now();
            let c = compare_prepared(&base.model, &model, &Quiet).unwrap();
            let secs = t1.elapsed().as_secs_f64() + if i == 0 { prepared } else { 0.0 };
            self.record(format!("{case} vs {}", base.label), &c, want, labels, secs);
        }
        drop(model);
        std::fs::remove_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }

    /// Compares two opened models.
    fn pair(&mut self, case: &str, a: &Base, b: &Base, want: &[Verdict], labels: &[&str]) {
        let t0 = Instant::now();
        let c = compare_prepared(&a.model, &b.model, &Quiet).unwrap();
        let secs = t0.elapsed().as_secs_f64();
        self.record(
            format!("{case}: {} vs {}", a.label, b.label),
            &c,
            want,
            labels,
            secs,
        );
    }

    fn record(
        &mut self,
        case: String,
        c: &Comparison,
        want: &[Verdict],
        labels: &[&str],
        secs: f64,
    ) {
        let mut problems = Vec::new();
        if !want.contains(&c.verdict) {
            let want: Vec<&str> = want.iter().map(|v| v.word()).collect();
            problems.push(format!(
                "verdict {}, want {}",
                c.verdict.word(),
                want.join(" or ")
            ));
        }
        if is_related(c.verdict) && c.log10_p >= -6.0 {
            problems.push(format!("p-value 1e{:.1} is not below 1e-6", c.log10_p));
        }
        for l in labels {
            if !c.transforms.iter().any(|t| t.to_string().starts_with(l)) {
                problems.push(format!("transform `{l}` not reported"));
            }
        }
        let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
        let mut channels: BTreeMap<&str, usize> = BTreeMap::new();
        for p in &c.pairs {
            *kinds.entry(format!("{:?}", p.kind)).or_default() += 1;
            if p.kind != PairKind::Unrelated {
                *channels.entry(p.channel.word()).or_default() += 1;
            }
        }
        println!(
            "[{}] {case}: verdict {} log10_p {:.1} explained {:.3} covered {:.3} transforms {:?} -> {} ({secs:.1} s)\n    pairs {kinds:?}; related pairs by channel {channels:?}; unmatched {}; layer map {:?}",
            self.name,
            c.verdict.word(),
            c.log10_p,
            c.explained_share,
            c.covered_share,
            c.transforms,
            if problems.is_empty() {
                "PASS".to_string()
            } else {
                format!("FAIL: {}", problems.join("; "))
            },
            c.unmatched.len(),
            c.layer_map,
        );
        if !is_related(c.verdict) {
            // Pairs related all the same: what an unrelated verdict's transforms come from.
            for p in c.pairs.iter().filter(|p| p.kind != PairKind::Unrelated) {
                println!(
                    "      related anyway: {} {} {:?} ~ {} {} {:?} as {:?} via {} r {:.3} cells {} log10_p {:.1}",
                    p.b.name, p.b.dtype, p.b.shape, p.a.name, p.a.dtype, p.a.shape, p.kind, p.channel, p.correlation, p.cells, p.log10_p
                );
            }
        }
        if !problems.is_empty() {
            // The B tensors the test did not relate, largest first: where it lost the trail.
            let mut lost: Vec<_> = c
                .pairs
                .iter()
                .filter(|p| p.kind == PairKind::Unrelated)
                .collect();
            lost.sort_by_key(|p| std::cmp::Reverse(p.elements));
            for p in lost.iter().take(12) {
                println!(
                    "      not related: {} {:?} ~ {} {:?} via {} r {:.3} cells {} log10_p {:.1} rel.err {:.3}",
                    p.b.name, p.b.shape, p.a.name, p.a.shape, p.channel, p.correlation, p.cells, p.log10_p, p.relative_error
                );
            }
            if lost.len() > 12 {
                println!("      … and {} more", lost.len() - 12);
            }
        }
        self.outcomes.push(Outcome {
            case,
            verdict: c.verdict,
            log10_p: c.log10_p,
            explained: c.explained_share,
            problems,
            secs,
        });
    }

    /// Prints the table and fails listing every missed case.
    fn finish(self) {
        let total = self.started.elapsed().as_secs_f64();
        println!("[{}] summary ({total:.0} s in all):", self.name);
        for o in &self.outcomes {
            println!(
                "  {:<58} {:<14} log10_p {:>10.1} explained {:.3} {:>6.1} s  {}",
                o.case,
                o.verdict.word(),
                o.log10_p,
                o.explained,
                o.secs,
                if o.problems.is_empty() {
                    "pass"
                } else {
                    "FAIL"
                }
            );
        }
        let failed: Vec<String> = self
            .outcomes
            .iter()
            .filter(|o| !o.problems.is_empty())
            .map(|o| format!("{}: {}", o.case, o.problems.join("; ")))
            .collect();
        assert!(
            failed.is_empty(),
            "[{}] {} of {} cases failed:\n  {}",
            self.name,
            failed.len(),
            self.outcomes.len(),
            failed.join("\n  ")
        );
    }
}

const GRAM: &str = "permuted, rotated or rescaled";

// ---------------------------------------------------------------------------------------
// all-MiniLM-L6-v2 (BERT).

const BERT_LAYER: &str = "encoder.layer.";
const BERT_HEADS: usize = 12;

/// A BERT tensor's layer and in-layer name.
fn bert(t: &T) -> Option<(usize, &str)> {
    split_layer(&t.name, BERT_LAYER)
}

#[test]
#[ignore = "needs the real corpus: set MLPROV_CORPUS and run with --ignored"]
fn minilm_l6_v2_transforms() {
    let path = corpus_file(MINILM);
    let mut suite = Suite::new("minilm-l6-v2");
    let original = Base::open("original", &path);
    let base = load(original.model.model());
    let get = |name: &str| {
        base.iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("{MINILM} has no `{name}`"))
    };
    let d = get("embeddings.word_embeddings.weight").shape[1];
    let ffn = get("encoder.layer.0.intermediate.dense.weight").shape[0];
    let layers = base
        .iter()
        .filter_map(bert)
        .map(|(l, _)| l + 1)
        .max()
        .unwrap();
    let head_dim = d / BERT_HEADS;
    println!("[minilm-l6-v2] d {d}, ffn {ffn}, {layers} layers, {BERT_HEADS} heads of {head_dim}");
    let derived = &[Verdict::Derived][..];
    let o = &[&original][..];

    encoding_variants(&mut suite, &base, o, 11);

    // A copy whose attention tensors are labelled one layer later is still a copy: the
    // values overrule the labels (issue 14's adversary).
    suite.variant(
        "attention-labelled-one-layer-later",
        labelled_one_layer_later(&base, BERT_LAYER, "attention."),
        o,
        &[Verdict::SameWeights],
        &["renamed"],
    );

    // Hidden units of every FFN: intermediate rows and bias, output columns.
    let mut rng = Rng::new(14);
    let perms: Vec<Vec<usize>> = (0..layers).map(|_| rng.permutation(ffn)).collect();
    let b = map_real(&base, |t| match bert(t) {
        Some((l, "intermediate.dense.weight" | "intermediate.dense.bias")) => {
            permute_rows(t, &perms[l])
        }
        Some((l, "output.dense.weight")) => permute_cols(t, &perms[l]),
        _ => t.clone(),
    });
    suite.variant("ffn-units-permuted", b, o, derived, &[GRAM]);

    // Attention heads: query, key, value rows and biases by whole heads, output columns.
    let mut rng = Rng::new(15);
    let perms: Vec<Vec<usize>> = (0..layers)
        .map(|_| expand(&rng.permutation(BERT_HEADS), head_dim))
        .collect();
    let b = map_real(&base, |t| match bert(t) {
        Some((l, rest)) if rest.starts_with("attention.self.") => permute_rows(t, &perms[l]),
        Some((l, "attention.output.dense.weight")) => permute_cols(t, &perms[l]),
        _ => t.clone(),
    });
    suite.variant("heads-permuted", b, o, derived, &[GRAM]);

    // The residual stream: every reader's columns, every writer's rows and bias, every
    // LayerNorm (permutation-equivariant), the embeddings' columns.
    let p = Rng::new(16).permutation(d);
    let b = map_real(&base, |t| {
        let rest = bert(t).map_or(t.name.as_str(), |(_, r)| r);
        match rest {
            r if r.ends_with("LayerNorm.weight") || r.ends_with("LayerNorm.bias") => {
                permute_rows(t, &p)
            }
            "attention.output.dense.weight"
            | "attention.output.dense.bias"
            | "output.dense.weight"
            | "output.dense.bias" => permute_rows(t, &p),
            "embeddings.word_embeddings.weight"
            | "embeddings.position_embeddings.weight"
            | "embeddings.token_type_embeddings.weight"
            | "attention.self.query.weight"
            | "attention.self.key.weight"
            | "attention.self.value.weight"
            | "intermediate.dense.weight"
            | "pooler.dense.weight" => permute_cols(t, &p),
            _ => t.clone(),
        }
    });
    suite.variant("residual-permuted", b, o, derived, &[GRAM]);

    // Value channels rescaled, undone in the attention output (the function is unchanged:
    // attention weights do not depend on V).
    let mut rng = Rng::new(17);
    let scales: Vec<Vec<f32>> = (0..layers)
        .map(|_| (0..d).map(|_| log_uniform_half_to_two(&mut rng)).collect())
        .collect();
    let b = map_real(&base, |t| match bert(t) {
        Some((l, "attention.self.value.weight" | "attention.self.value.bias")) => {
            scale_rows(t, &scales[l])
        }
        Some((l, "attention.output.dense.weight")) => {
            scale_cols(t, &scales[l].iter().map(|s| 1.0 / s).collect::<Vec<_>>())
        }
        _ => t.clone(),
    });
    suite.variant(
        "value-channels-rescaled",
        b,
        o,
        derived,
        &["per-channel rescaling"],
    );

    suite.variant(
        "every-other-layer",
        every_other_layer(&base, BERT_LAYER),
        o,
        derived,
        &["layers dropped"],
    );
    suite.variant(
        "vocabulary-halved",
        vocabulary_halved(&base, "embeddings.word_embeddings.weight"),
        o,
        derived,
        &["rows truncated"],
    );
    suite.finish();
}

// ---------------------------------------------------------------------------------------
// SmolLM2-135M-Instruct (Llama, GQA, tied embeddings).

const BLK: &str = "blk.";
const EMBED: &str = "token_embd.weight";

fn blk(t: &T) -> Option<(usize, &str)> {
    split_layer(&t.name, BLK)
}

/// Reads the residual stream (its columns are the residual width).
fn llama_reader(rest: &str) -> bool {
    matches!(
        rest,
        "attn_q.weight" | "attn_k.weight" | "attn_v.weight" | "ffn_gate.weight" | "ffn_up.weight"
    )
}

/// Writes to the residual stream (its rows are the residual width).
fn llama_writer(rest: &str) -> bool {
    matches!(rest, "attn_output.weight" | "ffn_down.weight")
}

/// The norm gain in front of a reading matrix.
fn llama_gain_of(rest: &str) -> Option<&'static str> {
    match rest {
        "attn_q.weight" | "attn_k.weight" | "attn_v.weight" => Some("attn_norm.weight"),
        "ffn_gate.weight" | "ffn_up.weight" => Some("ffn_norm.weight"),
        _ => None,
    }
}

/// Norm gains folded into the matrices that read them (and into an untied copy of the
/// tied output head), gains set to 1; with `rot`, the residual stream then rotated:
/// embedding and readers `W·R`, writers `Rᵀ·W`, the head `(E·diag(g_out))·R`.
fn fold_gains_and_rotate(base: &[T], d: usize, rot: Option<&[f32]>) -> Vec<T> {
    let gain = |name: &str| -> Vec<f32> {
        base.iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("no `{name}`"))
            .values
            .clone()
    };
    let rot_t: Option<Vec<f32>> = rot.map(|r| {
        let mut t = vec![0f32; d * d];
        for i in 0..d {
            for j in 0..d {
                t[j * d + i] = r[i * d + j];
            }
        }
        t
    });
    let right = |t: &T| -> T {
        match rot {
            Some(r) => {
                let (rows, cols) = t.rows_cols();
                assert_eq!(cols, d, "{}", t.name);
                t.with_values(matmul(&t.values, rows, d, r, d))
            }
            None => t.clone(),
        }
    };
    let mut out: Vec<T> = base
        .iter()
        .map(|t| {
            let rest = blk(t).map(|(_, r)| r);
            match (blk(t), rest) {
                (Some((l, _)), Some(r)) if llama_reader(r) => {
                    let g = gain(&format!("{BLK}{l}.{}", llama_gain_of(r).unwrap()));
                    right(&scale_cols(t, &g))
                }
                (_, Some(r)) if llama_writer(r) => match &rot_t {
                    Some(rt) => {
                        let (rows, cols) = t.rows_cols();
                        assert_eq!(rows, d, "{}", t.name);
                        t.with_values(matmul(rt, d, d, &t.values, cols))
                    }
                    None => t.clone(),
                },
                (_, Some("attn_norm.weight" | "ffn_norm.weight")) => {
                    t.with_values(vec![1.0; t.values.len()])
                }
                _ if t.name == "output_norm.weight" => t.with_values(vec![1.0; t.values.len()]),
                _ if t.name == EMBED => right(t),
                _ => t.clone(),
            }
        })
        .collect();
    let embedding = base.iter().find(|t| t.name == EMBED).unwrap();
    let head = scale_cols(embedding, &gain("output_norm.weight"));
    out.push(right(&head).renamed("output.weight".to_string()));
    out
}

/// Checks that a folded-and-rotated model computes what the original does, on a few
/// tokens: the first layer's q projection, the logits of the (untied) head, and the
/// writers' contributions (`W'·h = Rᵀ·(W·h)`). Guards the transform, not the library.
fn check_rotation_preserves_function(base: &[T], b: &[T], rot: &[f32], d: usize) {
    let find = |m: &[T], name: &str| -> T {
        m.iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("no `{name}`"))
            .clone()
    };
    let (e, e2) = (find(base, EMBED), find(b, EMBED));
    let normalize = |x: &[f32], g: Option<&[f32]>| -> Vec<f32> {
        let rms = (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32 + 1e-5).sqrt();
        x.iter()
            .enumerate()
            .map(|(i, v)| v / rms * g.map_or(1.0, |g| g[i]))
            .collect()
    };
    let apply = |w: &T, x: &[f32]| -> Vec<f32> {
        w.values
            .chunks(x.len())
            .map(|row| row.iter().zip(x).map(|(a, b)| a * b).sum())
            .collect()
    };
    let close = |what: &str, want: &[f32], got: &[f32]| {
        let scale = want.iter().fold(0f32, |a, v| a.max(v.abs()));
        let err = want
            .iter()
            .zip(got)
            .fold(0f32, |a, (x, y)| a.max((x - y).abs()));
        assert!(
            err <= 1e-3 * scale,
            "rotation is not function-preserving at {what}: max error {err} of {scale}"
        );
    };
    let (g_attn, g_out) = (
        find(base, "blk.0.attn_norm.weight").values,
        find(base, "output_norm.weight").values,
    );
    let (q, q2) = (
        find(base, "blk.0.attn_q.weight"),
        find(b, "blk.0.attn_q.weight"),
    );
    let head2 = find(b, "output.weight");
    for token in [1usize, 1000, 40000] {
        let x = &e.values[token * d..(token + 1) * d];
        let x2 = &e2.values[token * d..(token + 1) * d];
        close(
            "blk.0.attn_q",
            &apply(&q, &normalize(x, Some(&g_attn))),
            &apply(&q2, &normalize(x2, None)),
        );
        let logits = apply(&e, &normalize(x, Some(&g_out)));
        let logits2 = apply(&head2, &normalize(x2, None));
        close("the output head", &logits, &logits2);
    }
    let mut rng = Rng::new(77);
    for name in ["blk.0.attn_output.weight", "blk.7.ffn_down.weight"] {
        let (w, w2) = (find(base, name), find(b, name));
        let h: Vec<f32> = (0..w.rows_cols().1).map(|_| rng.gauss()).collect();
        let delta = apply(&w, &h);
        let rotated: Vec<f32> = (0..d)
            .map(|j| (0..d).map(|i| delta[i] * rot[i * d + j]).sum())
            .collect();
        close(name, &rotated, &apply(&w2, &h));
    }
}

#[test]
#[ignore = "needs the real corpus: set MLPROV_CORPUS and run with --ignored"]
fn smollm2_135m_transforms() {
    let gguf_path = corpus_file(SMOLLM2);
    let mut suite = Suite::new("smollm2-135m");
    let t0 = Instant::now();
    let gguf = Base::open("gguf", &gguf_path);
    let meta = |key: &str| -> usize {
        gguf.model.model().files[0]
            .file
            .meta_value(key)
            .and_then(|v| v.as_u64())
            .unwrap_or_else(|| panic!("{SMOLLM2}: no `{key}`")) as usize
    };
    let (heads, kv_heads) = (
        meta("llama.attention.head_count"),
        meta("llama.attention.head_count_kv"),
    );
    let base = load(gguf.model.model());
    let original_path = suite.path("original.safetensors");
    write(&original_path, &base);
    let original = Base::open("original", &original_path);
    let get = |name: &str| {
        base.iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("{SMOLLM2} has no `{name}`"))
    };
    let d = get(EMBED).shape[1];
    let ffn = get("blk.0.ffn_up.weight").shape[0];
    let layers = base
        .iter()
        .filter_map(blk)
        .map(|(l, _)| l + 1)
        .max()
        .unwrap();
    let head_dim = d / heads;
    let group = heads / kv_heads;
    assert_eq!(get("blk.0.attn_k.weight").shape[0], kv_heads * head_dim);
    assert!(
        base.iter().all(|t| t.name != "output.weight"),
        "embeddings are tied"
    );
    println!(
        "[smollm2-135m] {} tensors, {} parameters; d {d}, ffn {ffn}, {layers} layers, {heads} heads ({kv_heads} KV) of {head_dim}; decoded, written and fingerprinted in {:.1} s",
        base.len(),
        base.iter().map(|t| t.values.len()).sum::<usize>(),
        t0.elapsed().as_secs_f64()
    );
    let derived = &[Verdict::Derived][..];
    let o = &[&original][..];

    // Across formats: the GGUF file against its own decoded values.
    suite.pair(
        "decoded to f32 safetensors",
        &gguf,
        &original,
        &[Verdict::SameWeights, Verdict::ReEncoded],
        &[],
    );

    encoding_variants(&mut suite, &base, o, 21);

    // Hidden units of every MLP: gate and up rows, down columns. Also against the GGUF
    // file itself (Q4_1 and Q8_0 blocks against f32 values).
    let mut rng = Rng::new(24);
    let perms: Vec<Vec<usize>> = (0..layers).map(|_| rng.permutation(ffn)).collect();
    let b = map_real(&base, |t| match blk(t) {
        Some((l, "ffn_gate.weight" | "ffn_up.weight")) => permute_rows(t, &perms[l]),
        Some((l, "ffn_down.weight")) => permute_cols(t, &perms[l]),
        _ => t.clone(),
    });
    suite.variant(
        "mlp-units-permuted",
        b,
        &[&original, &gguf],
        derived,
        &[GRAM],
    );

    // Heads: KV groups permuted in k and v, q heads moved with their group and permuted
    // within it, o's columns as q's rows.
    let mut rng = Rng::new(25);
    let perms: Vec<(Vec<usize>, Vec<usize>)> = (0..layers)
        .map(|_| {
            let kv = rng.permutation(kv_heads);
            let q: Vec<usize> = kv
                .iter()
                .flat_map(|&g| {
                    rng.permutation(group)
                        .into_iter()
                        .map(move |j| g * group + j)
                        .collect::<Vec<_>>()
                })
                .collect();
            (expand(&q, head_dim), expand(&kv, head_dim))
        })
        .collect();
    let b = map_real(&base, |t| match blk(t) {
        Some((l, "attn_q.weight")) => permute_rows(t, &perms[l].0),
        Some((l, "attn_k.weight" | "attn_v.weight")) => permute_rows(t, &perms[l].1),
        Some((l, "attn_output.weight")) => permute_cols(t, &perms[l].0),
        _ => t.clone(),
    });
    suite.variant("heads-permuted", b, o, derived, &[GRAM]);

    // The residual stream: readers' and the embedding's columns, writers' rows, every gain.
    let p = Rng::new(26).permutation(d);
    let b = map_real(&base, |t| match blk(t) {
        Some((_, r)) if llama_reader(r) => permute_cols(t, &p),
        Some((_, r)) if llama_writer(r) => permute_rows(t, &p),
        Some((_, "attn_norm.weight" | "ffn_norm.weight")) => permute_rows(t, &p),
        _ if t.name == EMBED => permute_cols(t, &p),
        _ if t.name == "output_norm.weight" => permute_rows(t, &p),
        _ => t.clone(),
    });
    suite.variant("residual-permuted", b, o, derived, &[GRAM]);

    // Norm gains folded alone (no rotation): isolates the folding from the rotation below.
    suite.variant(
        "norm-gains-folded",
        fold_gains_and_rotate(&base, d, None),
        o,
        derived,
        &[],
    );

    // QuaRot-style: gains folded, then a random orthogonal rotation of the residual stream.
    let t1 = Instant::now();
    let rot64 = random_orthogonal(d, &mut Rng::new(27));
    let worst = (0..d)
        .flat_map(|i| (0..d).map(move |j| (i, j)))
        .map(|(i, j)| {
            let dot: f64 = (0..d).map(|k| rot64[i * d + k] * rot64[j * d + k]).sum();
            (dot - if i == j { 1.0 } else { 0.0 }).abs()
        })
        .fold(0f64, f64::max);
    assert!(worst < 1e-9, "R is not orthogonal: {worst}");
    let rot: Vec<f32> = rot64.iter().map(|&v| v as f32).collect();
    let b = fold_gains_and_rotate(&base, d, Some(&rot));
    check_rotation_preserves_function(&base, &b, &rot, d);
    println!(
        "[smollm2-135m] rotation drawn, applied and checked in {:.1} s",
        t1.elapsed().as_secs_f64()
    );
    suite.variant(
        "rotated-gains-folded-attention-labelled-one-layer-later",
        labelled_one_layer_later(&b, BLK, "attn_"),
        o,
        derived,
        &[],
    );
    suite.variant("rotated-gains-folded", b, o, derived, &[]);

    // MLP hidden units rescaled (up rows times s, down columns divided by s).
    let mut rng = Rng::new(28);
    let scales: Vec<Vec<f32>> = (0..layers)
        .map(|_| {
            (0..ffn)
                .map(|_| log_uniform_half_to_two(&mut rng))
                .collect()
        })
        .collect();
    let b = map_real(&base, |t| match blk(t) {
        Some((l, "ffn_up.weight")) => scale_rows(t, &scales[l]),
        Some((l, "ffn_down.weight")) => {
            scale_cols(t, &scales[l].iter().map(|s| 1.0 / s).collect::<Vec<_>>())
        }
        _ => t.clone(),
    });
    suite.variant(
        "mlp-units-rescaled",
        b,
        o,
        derived,
        &["per-channel rescaling"],
    );

    suite.variant(
        "every-other-layer",
        every_other_layer(&base, BLK),
        o,
        derived,
        &["layers dropped"],
    );
    suite.variant(
        "vocabulary-halved",
        vocabulary_halved(&base, EMBED),
        o,
        derived,
        &["rows truncated"],
    );
    drop(base);

    let minilm = Base::open("minilm-l6-v2", &corpus_file(MINILM));
    suite.pair(
        "independent",
        &original,
        &minilm,
        &[Verdict::Unrelated],
        &[],
    );
    suite.finish();
}

// ---------------------------------------------------------------------------------------
// Real models from other training runs.

#[test]
#[ignore = "needs the real corpus: set MLPROV_CORPUS and run with --ignored"]
fn independent_real_models() {
    let mut suite = Suite::new("independent");
    let minilm = Base::open("minilm-l6-v2", &corpus_file(MINILM));
    let minilm_l3 = Base::open("paraphrase-minilm-l3-v2", &corpus_file(MINILM_L3));
    let smollm2 = Base::open("smollm2-135m (gguf)", &corpus_file(SMOLLM2));
    let unrelated = &[Verdict::Unrelated][..];
    suite.pair("independent", &smollm2, &minilm, unrelated, &[]);
    suite.pair("independent", &minilm, &smollm2, unrelated, &[]);
    suite.pair("independent", &minilm_l3, &smollm2, unrelated, &[]);
    // Not independent: both MiniLM sentence encoders start from Microsoft's MiniLM, and
    // fixtures/corpus/pairs.tsv records this pair as partial reuse.
    suite.pair(
        "shared MiniLM ancestry",
        &minilm,
        &minilm_l3,
        &[Verdict::PartialReuse],
        &[],
    );
    suite.finish();
}

// ---------------------------------------------------------------------------------------
// The base-aware test on a real base (issue: a fine-tune of a public base must not match
// every sibling). P is all-MiniLM-L6-v2; A is P plus a fine-tuning-like change.

/// The base-aware comparison of B against A, with A's base P, all written as files.
fn compare_three(
    dir: &Path,
    p: &Comparable<'_>,
    a: &Comparable<'_>,
    b: &[T],
    name: &str,
) -> Comparison {
    let path = dir.join(name);
    write(&path, b);
    mlprov::compare_with_base(a, &prepare(&path), p, &Quiet).unwrap()
}

/// The MLP units of every BERT layer permuted (intermediate rows and bias, output columns).
fn ffn_units_permuted(m: &[T], ffn: usize, seed: u64) -> Vec<T> {
    let mut rng = Rng::new(seed);
    let perms: Vec<Vec<usize>> = (0..16).map(|_| rng.permutation(ffn)).collect();
    map_real(m, |t| match bert(t) {
        Some((l, "intermediate.dense.weight" | "intermediate.dense.bias")) => {
            permute_rows(t, &perms[l])
        }
        Some((l, "output.dense.weight")) => permute_cols(t, &perms[l]),
        _ => t.clone(),
    })
}

#[test]
#[ignore = "needs the real corpus: set MLPROV_CORPUS and run with --ignored"]
fn minilm_base_aware_siblings_and_children() {
    let dir = mlprov_testkit::tempdir();
    let p_path = corpus_file(MINILM);
    let p = prepare(&p_path);
    let base = load(p.model());
    let ffn = base
        .iter()
        .find(|t| t.name == "encoder.layer.0.intermediate.dense.weight")
        .expect("MiniLM's FFN")
        .shape[0];
    let a_tensors = noise(&base, 0.01, 1);
    let a_path = dir.path().join("a.safetensors");
    write(&a_path, &a_tensors);
    let a = prepare(&a_path);
    let mut misses = Vec::new();
    let mut check = |what: &str, b: &[T], want: Verdict| {
        let start = Instant::now();
        let c = compare_three(dir.path(), &p, &a, b, "b.safetensors");
        let own = c.own_changes.clone().expect("the base-aware test ran");
        println!(
            "[minilm base-aware] {what:<34} {:<12} own changes {:>6.1}% at p 1e{:<8.1} (plain 1e{:.1}; tested {}, not aligned {}, missing {}) {:.1?}",
            c.verdict.to_string(),
            100.0 * own.share,
            own.log10_p,
            c.log10_p,
            own.tested,
            own.not_aligned,
            own.missing_in_b,
            start.elapsed()
        );
        if c.verdict != want {
            misses.push(format!("{what}: {} (wanted {want})", c.verdict));
        }
        own
    };
    let mut sibling_p = Vec::new();
    for seed in 0..10 {
        let own = check(
            &format!("sibling {seed}"),
            &noise(&base, 0.01, 100 + seed),
            Verdict::SharesBase,
        );
        sibling_p.push(own.log10_p);
    }
    check("the base itself", &base, Verdict::SharesBase);
    let child = noise(&a_tensors, 0.01, 7);
    let own = check("child (A + its own change)", &child, Verdict::Derived);
    assert!(own.share > 0.9, "{}", own.share);
    check(
        "child in 4-bit blocks",
        &q4_blocks(&child),
        Verdict::Derived,
    );
    check(
        "child, int8 per row",
        &int8_per_row(&child),
        Verdict::Derived,
    );
    check(
        "child, FFN units permuted",
        &ffn_units_permuted(&child, ffn, 3),
        Verdict::Derived,
    );
    check(
        "child, every other layer",
        &every_other_layer(&child, BERT_LAYER),
        Verdict::Derived,
    );
    let sibling = noise(&base, 0.01, 200);
    let merge: Vec<T> = a_tensors
        .iter()
        .zip(&sibling)
        .map(|(x, y)| match x.is_real() {
            true => x.with_values(
                x.values
                    .iter()
                    .zip(&y.values)
                    .map(|(u, v)| 0.5 * (u + v))
                    .collect(),
            ),
            false => x.clone(),
        })
        .collect();
    let own = check("even merge of A and a sibling", &merge, Verdict::Derived);
    assert!((own.share - 0.5).abs() < 0.1, "{}", own.share);
    check(
        "A in BF16",
        &cast(&a_tensors, Dtype::BF16),
        Verdict::ReEncoded,
    );
    let weakest = sibling_p.iter().cloned().fold(0.0, f64::min);
    println!("[minilm base-aware] smallest sibling p: 1e{weakest:.2}");
    assert!(misses.is_empty(), "{misses:#?}");
}

/// The smallest change of A from its base (as a fraction of each tensor's standard
/// deviation) that is still found in a child at p < 1e-6, per storage of the child. Run by
/// Issue 14's adversary on the real int8 export: every `_scale` renamed `_sca1e` (same
/// length, so the protobuf stays valid; graph and initializers renamed alike). The graph's
/// Cast → Mul paths still link every int8 matrix to its scale, so the export is re-encoded
/// from the F32 original with or without the scale names, with the same p-value.
#[test]
#[ignore = "needs the real corpus: set MLPROV_CORPUS and run with --ignored"]
fn int8_onnx_scales_are_linked_by_the_graph_not_their_names() {
    let original = Base::open("fp32", &corpus_file(MINILM));
    let int8 = corpus_file(MINILM_INT8);
    let bytes = std::fs::read(&int8).unwrap();
    let (from, to) = (b"_scale", b"_sca1e");
    let mut renamed = bytes.clone();
    let mut count = 0;
    let mut i = 0;
    while i + from.len() <= renamed.len() {
        if &renamed[i..i + from.len()] == from {
            renamed[i..i + from.len()].copy_from_slice(to);
            count += 1;
            i += from.len();
        } else {
            i += 1;
        }
    }
    assert!(count >= 36, "only {count} `_scale` names in {MINILM_INT8}");
    let dir = mlprov_testkit::tempdir();
    let renamed_path = dir.path().join("renamed.onnx");
    std::fs::write(&renamed_path, &renamed).unwrap();
    let honest = compare_prepared(&original.model, &prepare(&int8), &Quiet).unwrap();
    let lying = compare_prepared(&original.model, &prepare(&renamed_path), &Quiet).unwrap();
    println!(
        "[int8 onnx] scales named `_scale`: {} (log10 p {:.1}); `_sca1e`: {} (log10 p {:.1})",
        honest.verdict, honest.log10_p, lying.verdict, lying.log10_p
    );
    assert_eq!(honest.verdict, Verdict::ReEncoded);
    assert_eq!(lying.verdict, Verdict::ReEncoded);
    assert!(
        (honest.log10_p - lying.log10_p).abs() < 1e-6 * honest.log10_p.abs(),
        "the p-value moved"
    );
}

/// `benches/own_changes.sh`; prints a table.
#[test]
#[ignore = "a measurement on the real corpus (benches/own_changes.sh)"]
fn minilm_smallest_detectable_change() {
    let dir = mlprov_testkit::tempdir();
    let p = prepare(&corpus_file(MINILM));
    let base = load(p.model());
    type Store = fn(&[T]) -> Vec<T>;
    let storages: [(&str, Store); 3] = [
        ("BF16", |m| cast(m, Dtype::BF16)),
        ("int8 per row", int8_per_row),
        ("4-bit blocks of 32", q4_blocks),
    ];
    let changes = [3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5];
    println!("[smallest change] child = A + 1% own change, stored as below; A = P + change");
    for (label, store) in storages {
        let (mut smallest, mut smallest_derived) = (None, None);
        for &change in &changes {
            let a_tensors = noise(&base, change, 1);
            let a_path = dir.path().join("a.safetensors");
            write(&a_path, &a_tensors);
            let a = prepare(&a_path);
            let child = store(&noise(&a_tensors, 0.01, 7));
            let c = compare_three(dir.path(), &p, &a, &child, "child.safetensors");
            let own = c.own_changes.expect("ran");
            println!(
                "[smallest change] {label:<20} change {change:<8} found {:>6.1}% at p 1e{:.1} ({})",
                100.0 * own.share,
                own.log10_p,
                c.verdict
            );
            if own.log10_p < -6.0 {
                smallest = Some(change);
            }
            // The verdict also needs the share floor (OWN_CHANGES_MIN_SHARE).
            if c.verdict == Verdict::Derived {
                smallest_derived = Some(change);
            }
            // Measured far below 1e-100 for every storage at 1e-3 (benches/RESULTS.md).
            assert!(
                change < 1e-3 || own.log10_p < -100.0,
                "{label}: a change of {change} found only at p 1e{:.1}",
                own.log10_p
            );
        }
        println!(
            "[smallest change] {label}: smallest change found at p < 1e-6 {smallest:?}, \
             read `derived` {smallest_derived:?} (fractions of the weights' standard deviation)"
        );
    }
}
