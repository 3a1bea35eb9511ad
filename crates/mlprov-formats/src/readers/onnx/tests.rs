//! Tests of the ONNX reader on fixtures made by the `onnx` package (values checked against
//! numpy's conversion), on random corruptions of them, and (opt-in) on published models.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use proptest::prelude::*;

use super::{looks_like_onnx, read as parse};
use crate::dtype::DType;
use crate::parsed::{ParsedFile, ParsedTensor, QuantLink, TensorData};

pub(super) fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/onnx")
}

fn load(rel: &str) -> (Vec<u8>, ParsedFile) {
    let path = fixtures().join(rel);
    let buf = std::fs::read(&path).unwrap();
    let raw = parse(&buf, &path).unwrap_or_else(|e| panic!("{rel}: {e}"));
    check_invariants(&buf, &raw);
    (buf, raw)
}

/// What every successful parse promises: byte lengths match dtype and shape, ranges are
/// inside their files.
pub(super) fn check_invariants(buf: &[u8], raw: &ParsedFile) {
    for t in &raw.tensors {
        let n = t
            .shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .unwrap();
        let want = t.dtype.byte_len(n).unwrap();
        let got = match &t.data {
            TensorData::Mapped(r) => {
                assert!(r.start <= r.end && r.end <= buf.len(), "{}", t.name);
                r.len()
            }
            TensorData::External { path, range } => {
                let len = std::fs::metadata(path).unwrap().len();
                assert!(range.start <= range.end && range.end <= len, "{}", t.name);
                (range.end - range.start) as usize
            }
            TensorData::Owned(v) => v.len(),
            TensorData::Shared { .. } => unreachable!("ONNX shares no buffers"),
        };
        assert_eq!(got, want, "byte length of `{}`", t.name);
    }
}

fn bytes_of<'a>(buf: &'a [u8], t: &ParsedTensor) -> std::borrow::Cow<'a, [u8]> {
    match &t.data {
        TensorData::Mapped(r) => buf[r.clone()].into(),
        TensorData::Owned(v) => v.clone().into(),
        TensorData::Shared { .. } => unreachable!("ONNX shares no buffers"),
        TensorData::External { path, range } => {
            let all = std::fs::read(path).unwrap();
            all[range.start as usize..range.end as usize]
                .to_vec()
                .into()
        }
    }
}

pub(super) fn values(buf: &[u8], t: &ParsedTensor) -> Vec<f32> {
    let n = t.shape.iter().product();
    let mut out = vec![0f32; n];
    t.dtype.decode_f32(&bytes_of(buf, t), &mut out).unwrap();
    out
}

/// The truth written by make_fixtures.py: name → (shape, f32 values).
fn expected(rel: &str) -> BTreeMap<String, (Vec<usize>, Vec<f32>)> {
    let bytes = std::fs::read(fixtures().join(rel)).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(name, v)| {
            assert_eq!(v.dtype(), safetensors::Dtype::F32);
            let vals = v
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            (name, (v.shape().to_vec(), vals))
        })
        .collect()
}

/// Every tensor reported equals the expected one bit for bit (any NaN equals any NaN),
/// and every expected tensor is reported.
fn compare(rel: &str, expected_rel: &str) -> (Vec<u8>, ParsedFile) {
    let (buf, raw) = load(rel);
    let want = expected(expected_rel);
    let mut seen = BTreeMap::new();
    for t in &raw.tensors {
        assert!(
            seen.insert(t.name.clone(), ()).is_none(),
            "duplicate `{}`",
            t.name
        );
        let (shape, vals) = want
            .get(&t.name)
            .unwrap_or_else(|| panic!("{rel}: unexpected tensor `{}`", t.name));
        assert_eq!(&t.shape, shape, "shape of `{}`", t.name);
        let got = values(&buf, t);
        for (i, (a, b)) in got.iter().zip(vals).enumerate() {
            assert!(
                a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                "`{}`[{i}]: {a} != {b} ({})",
                t.name,
                t.dtype
            );
        }
    }
    let missing: Vec<_> = want.keys().filter(|k| !seen.contains_key(*k)).collect();
    assert!(missing.is_empty(), "{rel}: missing {missing:?}");
    (buf, raw)
}

pub(super) fn tensor<'a>(raw: &'a ParsedFile, name: &str) -> &'a ParsedTensor {
    raw.tensors.iter().find(|t| t.name == name).unwrap()
}

#[test]
fn dtypes_match_numpy_in_raw_and_typed_fields() {
    let (_, raw) = compare("dtypes.onnx", "dtypes.expected.safetensors");
    assert_eq!(raw.tensors.len(), 32);
    let dtype = |n: &str| tensor(&raw, n).dtype;
    for (n, d) in [
        ("f32_typed", DType::F32),
        ("f64_typed", DType::F64),
        ("f16_typed", DType::F16),
        ("bf16_typed", DType::BF16),
        ("f8e4m3_typed", DType::F8E4M3),
        ("f8e5m2_raw", DType::F8E5M2),
        ("i8_typed", DType::I8),
        ("u16_typed", DType::U16),
        ("u32_typed", DType::U32),
        ("u64_typed", DType::U64),
        ("i64_typed", DType::I64),
        ("bool_typed", DType::Bool),
    ] {
        assert_eq!(dtype(n), d, "{n}");
    }
    // raw_data and packed float_data/double_data stay in the map; varints are converted.
    for n in ["f32_raw", "f32_typed", "f64_typed", "i8_raw", "scalar_f32"] {
        assert!(matches!(tensor(&raw, n).data, TensorData::Mapped(_)), "{n}");
    }
    for n in ["f16_typed", "i64_typed", "bool_typed", "u32_typed"] {
        assert!(matches!(tensor(&raw, n).data, TensorData::Owned(_)), "{n}");
    }
    assert_eq!(tensor(&raw, "scalar_f32").shape, Vec::<usize>::new());
    assert_eq!(tensor(&raw, "empty_f32").shape, vec![0, 3]);
    let m = &raw.metadata;
    assert_eq!(m["ir_version"], "10");
    assert_eq!(m["producer_name"], "mlprov-fixtures");
    assert_eq!(m["opset_import"], "ai.onnx:21");
    assert_eq!(m["graph_name"], "dtypes");
    assert!(m["doc_string"].ends_with('…'));
    assert_eq!(m["skipped_count"], "3");
    assert!(m["skipped.skip_string"].contains("STRING"));
    assert!(m["skipped.skip_int4"].contains("INT4"));
    assert!(m["skipped.skip_e4m3fnuz"].contains("FLOAT8E4M3FNUZ"));
    assert_eq!(raw.header, None);
    assert!(raw.quant_links.is_empty());
}

#[test]
fn constant_nodes_are_named_by_their_output() {
    let (_, raw) = compare("constants.onnx", "constants.expected.safetensors");
    assert_eq!(tensor(&raw, "c_value_float").shape, Vec::<usize>::new());
    assert_eq!(tensor(&raw, "c_value_ints").dtype, DType::I64);
    assert!(raw.metadata["skipped.c_value_string"].contains("strings"));
    // ConstantOfShape's fill value is an attribute tensor, not a weight.
    assert!(raw.tensors.iter().all(|t| t.name != "filled"));
}

#[test]
fn tensors_inside_if_loop_and_scan_subgraphs() {
    let (_, raw) = compare("subgraphs.onnx", "subgraphs.expected.safetensors");
    for n in [
        "then_const",
        "then_init",
        "inner_then_const",
        "inner_else_init",
        "else_const",
        "loop_body_weight",
        "scan_weight",
        "trip",
    ] {
        tensor(&raw, n);
    }
}

#[test]
fn external_data_is_resolved_and_range_checked() {
    let (_, raw) = compare("external/model.onnx", "external.expected.safetensors");
    let weights = std::fs::canonicalize(fixtures().join("external/weights.bin")).unwrap();
    let TensorData::External { path, range } = &tensor(&raw, "ext.b").data else {
        panic!("ext.b is not external");
    };
    assert_eq!((path, range.clone()), (&weights, 128..138));
    assert!(matches!(
        tensor(&raw, "inline_const").data,
        TensorData::Mapped(_)
    ));
    assert_eq!(raw.metadata["external_data"], "weights.bin");
}

pub(super) fn link(q: &str, s: &str, z: Option<&str>, axis: Option<usize>) -> QuantLink {
    QuantLink {
        quantized: q.into(),
        scale: s.into(),
        zero_point: z.map(Into::into),
        axis,
    }
}

#[test]
fn dequantize_linear_nodes_link_weights_to_scales() {
    let (_, raw) = compare("quant_dq.onnx", "quant_dq.expected.safetensors");
    assert_eq!(
        raw.quant_links,
        vec![
            link("w_tensor_q", "w_tensor_scale", Some("w_tensor_zp"), None),
            link("w_axis0_q", "w_axis0_scale", None, Some(0)),
            link("w_neg_q", "w_neg_scale", None, Some(1)),
            link("w_const_q", "w_const_scale", None, Some(1)),
        ]
    );
}

#[test]
fn quantized_names_link_without_dequantize_nodes() {
    let (_, raw) = compare("quant_names.onnx", "quant_names.expected.safetensors");
    assert_eq!(
        raw.quant_links,
        vec![
            // Linked by the graph's Cast → Mul paths (no Sub: no zero point applied)...
            link("a_quantized", "a_scale", None, None),
            link("emb.weight_q", "emb.weight_scale", None, Some(0)),
            link("proj_q", "proj_scale", None, Some(1)),
            link(
                "layer.0.fc.weight_quantized",
                "layer.0.fc.weight_scale",
                None,
                Some(1)
            ),
            // ...and, where the graph says nothing, by the names.
            link("fc2quantized", "fc2scale", None, None),
        ]
    );
    assert!(raw.metadata["quant.bad_q"].contains("fits no axis"));
}

#[test]
fn the_data_flow_links_scales_whatever_their_names() {
    let (_, raw) = compare("quant_flow.onnx", "quant_flow.expected.safetensors");
    assert_eq!(
        raw.quant_links,
        vec![
            // `w1_scale` would be the name-based guess; the graph multiplies by `w1_sca1e`.
            link("w1_q", "w1_sca1e", None, Some(1)),
            link("blob7", "kappa", Some("zz"), Some(0)),
            link("m_q", "m_s", Some("m_zp"), Some(1)),
        ]
    );
}

#[test]
fn detection_accepts_fixtures_and_rejects_other_formats() {
    for f in [
        "dtypes.onnx",
        "constants.onnx",
        "subgraphs.onnx",
        "external/model.onnx",
        "quant_dq.onnx",
        "quant_names.onnx",
        "quant_flow.onnx",
    ] {
        let buf = std::fs::read(fixtures().join(f)).unwrap();
        assert!(looks_like_onnx(&buf[..16]), "{f}");
    }
    let real_heads: [&[u8]; 2] = [
        b"\x08\x08\x12\x07pytorch\x1a\x062.1",
        b"\x08\x08\x12\x04spox2\x00:\xcf\x87\x8e\x01\x0a",
    ];
    for h in real_heads {
        assert!(looks_like_onnx(h));
    }
    let others: [&[u8]; 7] = [
        b"",
        b"\x08",
        b"GGUF\x03\0\0\0\0\0\0\0",
        b"\x10\0\0\0\0\0\0\0{\"a\":1}",
        b"PK\x03\x04\x14\0\0\0",
        b"\x08\x00\x12\x03abc",
        b"\x08\x08\x12\x04a\x01bc",
    ];
    for h in others {
        assert!(!looks_like_onnx(h), "{h:?}");
    }
}

// ---- random corruption ------------------------------------------------------------------

const FUZZ_FIXTURES: [&str; 7] = [
    "dtypes.onnx",
    "constants.onnx",
    "subgraphs.onnx",
    "external/model.onnx",
    "quant_dq.onnx",
    "quant_names.onnx",
    "quant_flow.onnx",
];

#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, u8),
    Xor(usize, u8),
    Truncate(usize),
    Insert(usize, Vec<u8>),
    Remove(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        (any::<usize>(), 1..=255u8).prop_map(|(i, b)| Mutation::Xor(i, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..12))
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<usize>(), 1..16usize).prop_map(|(i, n)| Mutation::Remove(i, n)),
    ]
}

fn apply(buf: &mut Vec<u8>, m: &Mutation) {
    let len = buf.len().max(1);
    match m {
        Mutation::Set(i, b) => {
            if let Some(x) = buf.get_mut(i % len) {
                *x = *b
            }
        }
        Mutation::Xor(i, b) => {
            if let Some(x) = buf.get_mut(i % len) {
                *x ^= *b
            }
        }
        Mutation::Truncate(i) => buf.truncate(i % len),
        Mutation::Insert(i, b) => {
            let at = i % (buf.len() + 1);
            buf.splice(at..at, b.iter().copied());
        }
        Mutation::Remove(i, n) => {
            let at = i % len;
            let end = (at + n).min(buf.len());
            if at < end {
                buf.drain(at..end);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn corrupted_fixtures_never_panic(
        which in 0..FUZZ_FIXTURES.len(),
        muts in prop::collection::vec(mutation(), 1..6),
    ) {
        let path = fixtures().join(FUZZ_FIXTURES[which]);
        let mut buf = std::fs::read(&path).unwrap();
        for m in &muts {
            apply(&mut buf, m);
        }
        if let Ok(raw) = parse(&buf, &path) {
            check_invariants(&buf, &raw);
        }
        let _ = looks_like_onnx(&buf[..buf.len().min(16)]);
    }
}

// ---- real files (opt-in) ----------------------------------------------------------------

/// `MLPROV_CORPUS=/path/to/corpus cargo test -p mlprov-formats onnx::tests::real -- --ignored`
/// with the development corpus (`fetch_dev_models.sh`) checks the published ONNX files.
#[test]
#[ignore = "needs the real corpus: set MLPROV_CORPUS and run with --ignored"]
fn real_corpus_files_parse() {
    let dir = PathBuf::from(std::env::var_os("MLPROV_CORPUS").expect("MLPROV_CORPUS is set"));
    // (file, tensors: initializers + Constant values + subgraph tensors, as onnx counts them)
    for (name, want) in [
        ("akiki-s1730.onnx", 52),
        ("minilm-l6-v2.int8.onnx", 160),
        ("paraphrase-minilm-l3-v2.vital.onnx", 165),
        ("silero-v5.onnx", 341),
        ("silero-v6.2.onnx", 341),
    ] {
        let path = dir.join(name);
        let buf = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let t0 = std::time::Instant::now();
        let raw = parse(&buf, &path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let took = t0.elapsed();
        check_invariants(&buf, &raw);
        for t in &raw.tensors {
            if t.dtype.decodable() {
                values(&buf, t);
            }
        }
        let mapped = raw
            .tensors
            .iter()
            .filter(|t| matches!(t.data, TensorData::Mapped(_)))
            .count();
        eprintln!(
            "{name}: {} tensors ({mapped} mapped), {} quant links, {took:?}",
            raw.tensors.len(),
            raw.quant_links.len()
        );
        // MLPROV_ONNX_LIST=DIR writes `name<TAB>dtype<TAB>[shape]` lines, sorted, to compare
        // with a listing made by the onnx package.
        if let Some(out) = std::env::var_os("MLPROV_ONNX_LIST") {
            let mut lines: Vec<String> = raw
                .tensors
                .iter()
                .map(|t| format!("{}\t{}\t{:?}\n", t.name, t.dtype, t.shape))
                .collect();
            lines.sort();
            std::fs::write(
                PathBuf::from(out).join(format!("{name}.rs.tsv")),
                lines.concat(),
            )
            .unwrap();
        }
        assert_eq!(raw.tensors.len(), want, "{name}");
        if name.starts_with("minilm") {
            assert_eq!(raw.quant_links.len(), 38);
            let axis = |n: &str| {
                raw.quant_links
                    .iter()
                    .find(|l| l.quantized == n)
                    .unwrap()
                    .axis
            };
            // Embedding rows carry one scale each; projection matrices one per column.
            assert_eq!(axis("inner.embeddings.word_embeddings.weight_q"), Some(0));
            assert_eq!(axis("val_49_q"), Some(1));
            assert!(raw
                .quant_links
                .iter()
                .all(|l| l.scale.ends_with("_scale") && l.axis.is_some()));
        }
    }
}
