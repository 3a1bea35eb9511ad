//! GGUF reading on files written by the reference `gguf` package (fixtures/gguf, made by
//! make_fixtures.py), whose dequantized values are the truth, and on crafted hostile files.

use std::fs;
use std::path::{Path, PathBuf};

use mlprov_formats::{open, DType, DecodeError, Format, MetaValue, TensorView, WeightFile};
use proptest::prelude::*;

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/gguf")
        .join(rel)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, bytes).unwrap();
    p
}

fn err_text(dir: &Path, bytes: &[u8]) -> String {
    let p = write(dir, "bad.gguf", bytes);
    open(&p).expect_err("must fail").to_string()
}

/// Bit-exact comparison (so -0.0, infinities and NaN are checked too).
fn assert_bits_eq(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()),
            "{what}[{i}]: got {g:e}, gguf-py says {w:e}"
        );
    }
}

/// Decodes every tensor of `file` whole and in awkward sub-ranges; compares with `expected`.
fn check_against(file: &WeightFile, expected: &WeightFile) {
    assert_eq!(file.tensor_infos().len(), expected.tensor_infos().len());
    for view in file.tensors() {
        let truth = expected.tensor(view.name).expect(view.name);
        assert_eq!(view.shape, truth.shape, "{}", view.name);
        let want = truth.decode_f32(0..truth.elements()).unwrap();
        let got = view.decode_f32(0..view.elements()).unwrap();
        assert_bits_eq(&got, &want, view.name);
        for range in awkward_ranges(&view) {
            let part = view.decode_f32(range.clone()).unwrap();
            assert_bits_eq(
                &part,
                &want[range.clone()],
                &format!("{}[{range:?}]", view.name),
            );
        }
    }
}

/// Ranges that start and end inside blocks, span block boundaries, or are empty.
fn awkward_ranges(view: &TensorView<'_>) -> Vec<std::ops::Range<usize>> {
    let n = view.elements();
    let b = view.dtype.block().0;
    let last = n.saturating_sub(1);
    let mut out = vec![0..0, n..n, 0..1, last..n, 1..last, n / 2..n];
    if b > 1 {
        out.extend([
            1..b - 1,
            3..b + 5,
            b - 1..2 * b + 1,
            b..n,
            b + 7..n.saturating_sub(3),
        ]);
    }
    out.retain(|r| r.start <= r.end && r.end <= n);
    out
}

#[test]
fn metadata_fixture_types_and_values() {
    let file = open(fixture("metadata.gguf")).unwrap();
    assert_eq!(file.format(), Format::Gguf { version: 3 });
    assert_eq!(file.format().name(), "gguf");
    assert_eq!(file.format().description(), "gguf v3");
    let m = |k: &str| file.meta_value(k).unwrap_or_else(|| panic!("missing {k}"));
    assert_eq!(m("general.architecture").as_str(), Some("llama"));
    assert_eq!(m("test.u8"), &MetaValue::U64(200));
    assert_eq!(m("test.i8"), &MetaValue::I64(-100));
    assert_eq!(m("test.u16"), &MetaValue::U64(60000));
    assert_eq!(m("test.i16"), &MetaValue::I64(-30000));
    assert_eq!(m("test.u32"), &MetaValue::U64(4_000_000_000));
    assert_eq!(m("test.i32"), &MetaValue::I64(-2_000_000_000));
    assert_eq!(m("test.u64"), &MetaValue::U64((1 << 63) + 5));
    assert_eq!(m("test.i64"), &MetaValue::I64(-(1 << 62)));
    assert_eq!(m("test.f32"), &MetaValue::F64(1e-5f32 as f64));
    assert_eq!(m("test.f64"), &MetaValue::F64(std::f64::consts::PI));
    assert_eq!(m("test.true"), &MetaValue::Bool(true));
    assert_eq!(m("test.false"), &MetaValue::Bool(false));
    assert_eq!(m("test.empty").as_str(), Some(""));
    assert_eq!(m("test.unicode").as_str(), Some("héllo ✓"));
    let ints = |v: &[u64]| MetaValue::Array(v.iter().map(|&x| MetaValue::U64(x)).collect());
    assert_eq!(m("test.u8_array"), &ints(&[1, 2, 255]));
    assert_eq!(
        m("test.bool_array"),
        &MetaValue::Array(vec![
            MetaValue::Bool(true),
            MetaValue::Bool(false),
            MetaValue::Bool(true)
        ])
    );
    let i32s = |v: &[i64]| MetaValue::Array(v.iter().map(|&x| MetaValue::I64(x)).collect());
    assert_eq!(
        m("test.nested"),
        &MetaValue::Array(vec![i32s(&[1, 2, 3]), i32s(&[4, 5]), i32s(&[6])])
    );
    let nested_str = m("test.nested_str").as_array().unwrap();
    assert_eq!(nested_str[0].as_str_array(), Some(vec!["a", "b"]));
    assert_eq!(nested_str[1].as_str_array(), Some(vec!["c"]));
    let deep = m("test.deep").as_array().unwrap();
    assert_eq!(
        deep[0].as_array().unwrap()[0],
        MetaValue::Array(vec![MetaValue::F64(1.5), MetaValue::F64(2.5)])
    );
    let tokens = m("tokenizer.ggml.tokens").as_str_array().unwrap();
    assert_eq!(tokens.len(), 64);
    assert_eq!(&tokens[..4], &["<unk>", "<s>", "</s>", "▁tok0"]);
    assert_eq!(&tokens[61..], &["héllo", "✓", ""]);
    let scores = m("tokenizer.ggml.scores").as_array().unwrap();
    assert_eq!(scores[5].as_f64(), Some(-5.0));

    // The display map: scalars as text, f32 as the f32 it is, arrays summarized.
    let shown = file.metadata();
    assert_eq!(shown["general.architecture"], "llama");
    assert_eq!(shown["test.f32"], "0.00001");
    assert_eq!(shown["test.u64"], "9223372036854775813");
    assert_eq!(shown["tokenizer.ggml.tokens"], "[array of 64 str]");
    assert_eq!(shown["tokenizer.ggml.scores"], "[array of 64 f32]");
    assert_eq!(shown["test.nested"], "[array of 3 array]");
    assert_eq!(shown["test.true"], "true");
}

#[test]
fn metadata_fixture_plain_tensors_decode_exactly() {
    let file = open(fixture("metadata.gguf")).unwrap();
    let expected = open(fixture("metadata.expected.safetensors")).unwrap();
    let listed: Vec<(&str, DType, Vec<usize>)> = file
        .tensor_infos()
        .iter()
        .map(|t| (t.name.as_str(), t.dtype, t.shape.clone()))
        .collect();
    assert_eq!(
        listed,
        vec![
            ("token_embd.weight", DType::F32, vec![64, 16]),
            ("blk.0.attn_q.weight", DType::F16, vec![16, 16]),
            ("blk.0.ffn_up.weight", DType::BF16, vec![8, 16]),
            ("output_norm.weight", DType::F32, vec![16]),
            ("cube.f32", DType::F32, vec![2, 3, 4]),
            ("ints.f64", DType::F64, vec![3, 4]),
            ("ints.i8", DType::I8, vec![2, 5]),
            ("ints.i16", DType::I16, vec![7]),
            ("ints.i32", DType::I32, vec![2, 3]),
            ("ints.i64", DType::I64, vec![4]),
        ]
    );
    // Offsets are absolute, in order, 32-byte aligned within the data section.
    let header_end = file.header_range().end;
    assert_eq!(header_end % 32, 0);
    assert_eq!(file.tensor_infos()[0].range.start, header_end);
    for t in file.tensor_infos() {
        assert_eq!((t.range.start - header_end) % 32, 0, "{}", t.name);
    }
    check_against(&file, &expected);
}

#[test]
fn quantized_fixture_matches_gguf_py_bit_for_bit() {
    let file = open(fixture("quant.gguf")).unwrap();
    let expected = open(fixture("quant.expected.safetensors")).unwrap();
    assert_eq!(
        file.meta_value("general.alignment"),
        Some(&MetaValue::U64(64))
    );
    let header_end = file.header_range().end;
    assert_eq!(header_end % 64, 0);
    let dtypes: Vec<DType> = file.tensors().map(|t| t.dtype).collect();
    assert_eq!(
        dtypes,
        [
            DType::Q4_0,
            DType::Q4_1,
            DType::Q5_0,
            DType::Q5_1,
            DType::Q8_0,
            DType::Q2_K,
            DType::Q3_K,
            DType::Q4_K,
            DType::Q5_K,
            DType::Q6_K,
            DType::Q8_K,
            DType::IQ4_NL,
            DType::IQ4_XS
        ]
    );
    for t in file.tensors() {
        assert_eq!(t.name, format!("q.{}", t.dtype.name()));
        assert_eq!((t.offset - header_end) % 64, 0, "{}", t.name);
        let want = if t.dtype.block().0 == 256 {
            [2, 512]
        } else {
            [3, 64]
        };
        let want = if t.dtype == DType::IQ4_NL {
            [2, 64]
        } else {
            want
        };
        assert_eq!(t.shape, want, "{}", t.name);
        assert_eq!(t.bytes.len(), t.dtype.byte_len(t.elements()).unwrap());
    }
    check_against(&file, &expected);
}

#[test]
fn iq_ternary_and_fp4_fixture_matches_gguf_py_bit_for_bit() {
    let file = open(fixture("iq.gguf")).unwrap();
    let expected = open(fixture("iq.expected.safetensors")).unwrap();
    let names: Vec<&str> = file.tensors().map(|t| t.dtype.name()).collect();
    assert_eq!(
        names,
        [
            "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS", "IQ3_S", "IQ1_S", "IQ1_M", "TQ1_0", "TQ2_0",
            "MXFP4", "NVFP4"
        ]
    );
    for t in file.tensors() {
        assert_eq!(t.name, format!("iq.{}", t.dtype.name()));
        assert!(t.dtype.decodable(), "{}", t.name);
        assert!(
            t.bytes.len() / t.dtype.block().1 >= 4,
            "{}: a few blocks",
            t.name
        );
    }
    // MXFP4's largest scales overflow to infinity in gguf-py too; the comparison is exact.
    let mx = expected.tensor("iq.MXFP4").unwrap();
    assert!(mx
        .decode_f32(0..mx.elements())
        .unwrap()
        .iter()
        .any(|v| v.is_infinite()));
    check_against(&file, &expected);
}

#[test]
fn listed_only_types_open_and_refuse_to_decode() {
    let file = open(fixture("listed-only.gguf")).unwrap();
    let names: Vec<(&str, &str)> = file.tensors().map(|t| (t.name, t.dtype.name())).collect();
    assert_eq!(
        names,
        [("l.Q1_0", "Q1_0"), ("l2.Q1_0", "Q1_0"), ("ok.f32", "F32")]
    );
    for t in file.tensors().filter(|t| t.dtype == DType::Q1_0) {
        assert_eq!(t.bytes.len(), t.dtype.byte_len(t.elements()).unwrap());
        assert_eq!(
            t.decode_f32(0..1),
            Err(DecodeError::Unsupported(t.dtype.name()))
        );
    }
    // The data section runs to the end of the file, less gguf-py's trailing padding.
    let end = file.tensor_infos().last().unwrap().range.end;
    assert!(file.len() - end < 32, "{end} of {}", file.len());
}

// ---- crafted files -------------------------------------------------------------------

fn gstr(s: &[u8]) -> Vec<u8> {
    let mut out = (s.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(s);
    out
}

/// A key-value: key, u32 type, raw value bytes.
fn kv(key: &str, ty: u32, value: &[u8]) -> Vec<u8> {
    let mut out = gstr(key.as_bytes());
    out.extend(ty.to_le_bytes());
    out.extend_from_slice(value);
    out
}

/// A tensor info: name, dims (innermost first), ggml type, offset.
fn info(name: &str, dims: &[u64], ty: u32, offset: u64) -> Vec<u8> {
    let mut out = gstr(name.as_bytes());
    out.extend((dims.len() as u32).to_le_bytes());
    for d in dims {
        out.extend(d.to_le_bytes());
    }
    out.extend(ty.to_le_bytes());
    out.extend(offset.to_le_bytes());
    out
}

/// A GGUF v3 file; the counts are those of `kvs` and `infos` unless overridden.
fn gguf(kvs: &[Vec<u8>], infos: &[Vec<u8>], align: usize, data: &[u8]) -> Vec<u8> {
    gguf_counts(
        kvs.len() as u64,
        infos.len() as u64,
        kvs,
        infos,
        align,
        data,
    )
}

fn gguf_counts(
    n_kv: u64,
    n_t: u64,
    kvs: &[Vec<u8>],
    infos: &[Vec<u8>],
    align: usize,
    data: &[u8],
) -> Vec<u8> {
    let mut out = b"GGUF".to_vec();
    out.extend(3u32.to_le_bytes());
    out.extend(n_t.to_le_bytes());
    out.extend(n_kv.to_le_bytes());
    kvs.iter().for_each(|k| out.extend(k));
    infos.iter().for_each(|i| out.extend(i));
    while !out.len().is_multiple_of(align) {
        out.push(0);
    }
    out.extend_from_slice(data);
    out
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[test]
fn crafted_valid_file_sorts_tensors_by_offset_and_allows_overlap() {
    let dir = tempfile::tempdir().unwrap();
    let data = f32_bytes(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
    let bytes = gguf(
        &[kv("general.architecture", 8, &gstr(b"test"))],
        &[
            info("b", &[4], 0, 16),
            info("a", &[2, 2], 0, 0),
            info("alias", &[4], 0, 0), // same bytes as `a`: legal, hashed on its own
            info("empty", &[0, 3], 0, 32),
        ],
        32,
        &data,
    );
    let file = open(write(dir.path(), "ok.gguf", &bytes)).unwrap();
    let names: Vec<&str> = file.tensors().map(|t| t.name).collect();
    assert_eq!(names, ["a", "alias", "b", "empty"]);
    assert_eq!(
        file.tensor("b").unwrap().decode_f32(0..4).unwrap(),
        [5.0, 6.0, 7.0, 8.0]
    );
    assert_eq!(file.tensor("a").unwrap().shape, [2, 2]);
    assert_eq!(file.tensor("empty").unwrap().shape, [3, 0]);
    assert_eq!(file.tensor("empty").unwrap().elements(), 0);
    assert_eq!(file.header_range().end % 32, 0);
    assert_eq!(
        file.meta_value("general.architecture").unwrap().as_str(),
        Some("test")
    );

    // No tensors, no data section: still a valid file.
    let bare = gguf(&[kv("k", 4, &7u32.to_le_bytes())], &[], 1, &[]);
    let file = open(write(dir.path(), "bare.gguf", &bare)).unwrap();
    assert_eq!(file.tensor_infos().len(), 0);
    assert_eq!(file.metadata()["k"], "7");
}

#[test]
fn every_truncation_of_a_valid_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let full = fs::read(fixture("metadata.gguf")).unwrap();
    for len in 0..full.len() {
        let p = write(dir.path(), "cut.gguf", &full[..len]);
        let err = open(&p).expect_err(&format!("prefix of {len} bytes must fail"));
        let text = err.to_string();
        if len >= 24 {
            assert!(
                text.contains("truncated") || text.contains("invalid GGUF header"),
                "prefix {len}: {text}"
            );
        }
    }
}

#[test]
fn hostile_counts_and_lengths_are_rejected_before_allocation() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Counts that the rest of the file cannot hold.
    let t = err_text(d, &gguf_counts(u64::MAX, 0, &[], &[], 1, &[]));
    assert!(
        t.contains("declares 18446744073709551615 metadata entries"),
        "{t}"
    );
    let t = err_text(d, &gguf_counts(0, 1 << 40, &[], &[], 1, &[0; 100]));
    assert!(t.contains("declares 1099511627776 tensors"), "{t}");
    // A key whose length runs past the end.
    let mut huge_key = (u64::MAX - 3).to_le_bytes().to_vec();
    huge_key.extend(b"abc");
    let t = err_text(d, &gguf(&[huge_key], &[], 1, &[0; 16]));
    assert!(
        t.contains("metadata key #0 needs 18446744073709551612 bytes"),
        "{t}"
    );
    // A string value whose length runs past the end.
    let t = err_text(
        d,
        &gguf(
            &[kv("name", 8, &(1u64 << 60).to_le_bytes())],
            &[],
            1,
            &[0; 16],
        ),
    );
    assert!(
        t.contains("metadata `name` (str) needs 1152921504606846976 bytes"),
        "{t}"
    );
    // An array longer than the file.
    let mut arr = 10u32.to_le_bytes().to_vec(); // u64 items
    arr.extend((1u64 << 62).to_le_bytes());
    let t = err_text(d, &gguf(&[kv("big", 9, &arr)], &[], 1, &[0; 64]));
    assert!(
        t.contains("array of 4611686018427387904 u64 needs at least"),
        "{t}"
    );
    // Item count × size overflowing u64.
    let mut arr = 10u32.to_le_bytes().to_vec();
    arr.extend(u64::MAX.to_le_bytes());
    let t = err_text(d, &gguf(&[kv("big", 9, &arr)], &[], 1, &[0; 64]));
    assert!(t.contains("needs at least 2^64 bytes"), "{t}");
    // Nested array bomb: arrays of arrays, 10 deep, each claiming one item.
    let mut bomb = Vec::new();
    for _ in 0..10 {
        bomb.extend(9u32.to_le_bytes());
        bomb.extend(1u64.to_le_bytes());
    }
    bomb.extend(0u32.to_le_bytes());
    bomb.extend(1u64.to_le_bytes());
    bomb.push(0);
    let t = err_text(d, &gguf(&[kv("bomb", 9, &bomb[..])], &[], 1, &[]));
    assert!(
        t.contains("metadata `bomb`: arrays nested more than 4 deep"),
        "{t}"
    );
    // Unknown value and item types.
    let t = err_text(d, &gguf(&[kv("x", 13, &[0; 8])], &[], 1, &[]));
    assert!(t.contains("metadata `x` has unknown value type 13"), "{t}");
    let mut arr = 77u32.to_le_bytes().to_vec();
    arr.extend(1u64.to_le_bytes());
    let t = err_text(d, &gguf(&[kv("x", 9, &arr)], &[], 1, &[0; 8]));
    assert!(t.contains("array item type 77 is not a GGUF type"), "{t}");
}

#[test]
fn hostile_tensor_infos_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = [0u8; 64];
    let t = err_text(d, &gguf(&[], &[info("w", &[1; 1000], 0, 0)], 32, &data));
    assert!(t.contains("tensor `w` has 1000 dimensions"), "{t}");
    let t = err_text(
        d,
        &gguf(&[], &[info("w", &[1 << 40, 1 << 40], 0, 0)], 32, &data),
    );
    assert!(
        t.contains(
            "tensor `w` has dims [1099511627776, 1099511627776] whose element count overflows"
        ),
        "{t}"
    );
    let t = err_text(d, &gguf(&[], &[info("w", &[4], 0, 1 << 40)], 32, &data));
    assert!(
        t.contains(
            "truncated: GGUF tensor `w` (F32, shape [4], 16 bytes at data offset 1099511627776)"
        ),
        "{t}"
    );
    let t = err_text(d, &gguf(&[], &[info("w", &[4], 0, u64::MAX)], 32, &data));
    assert!(
        t.contains("tensor `w` has data offset 18446744073709551615 that overflows"),
        "{t}"
    );
    let t = err_text(d, &gguf(&[], &[info("w", &[4], 0, 56)], 32, &data));
    assert!(
        t.contains("spans bytes") && t.contains("but the file has"),
        "{t}"
    );
    let t = err_text(d, &gguf(&[], &[info("w", &[33], 2, 0)], 32, &data));
    assert!(
        t.contains("innermost dimension 33 is not a multiple of the Q4_0 block size 32"),
        "{t}"
    );
    let t = err_text(d, &gguf(&[], &[info("w", &[4], 99, 0)], 32, &data));
    assert!(t.contains("tensor `w` has unknown GGML type id 99"), "{t}");
    let t = err_text(
        d,
        &gguf(
            &[],
            &[info("w", &[4], 0, 0), info("w", &[4], 0, 16)],
            32,
            &data,
        ),
    );
    assert!(t.contains("tensor name `w` appears twice"), "{t}");
    let kvs = [kv("k", 0, &[1]), kv("k", 0, &[2])];
    let t = err_text(d, &gguf(&kvs, &[], 1, &[]));
    assert!(t.contains("metadata key `k` appears twice"), "{t}");
    let mut bad_name = info("xx", &[4], 0, 0);
    bad_name[8] = 0xff; // invalid UTF-8
    let t = err_text(d, &gguf(&[], &[bad_name], 32, &data));
    assert!(t.contains("tensor #0 name is not valid UTF-8"), "{t}");
}

#[test]
fn alignment_must_be_a_u32_power_of_two() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for bad in [0u32, 48, 3] {
        let t = err_text(
            d,
            &gguf(
                &[kv("general.alignment", 4, &bad.to_le_bytes())],
                &[],
                1,
                &[],
            ),
        );
        assert!(
            t.contains(&format!(
                "`general.alignment` is {bad}; it must be a nonzero power of two"
            )),
            "{t}"
        );
    }
    let t = err_text(
        d,
        &gguf(
            &[kv("general.alignment", 10, &64u64.to_le_bytes())],
            &[],
            1,
            &[],
        ),
    );
    assert!(
        t.contains("`general.alignment` has type u64; GGUF requires u32"),
        "{t}"
    );
    // A valid custom alignment moves the data start.
    let kvs = [kv("general.alignment", 4, &256u32.to_le_bytes())];
    let bytes = gguf(&kvs, &[info("w", &[2], 0, 0)], 256, &f32_bytes(&[1.5, 2.5]));
    let file = open(write(d, "a.gguf", &bytes)).unwrap();
    assert_eq!(file.header_range().end, 256);
    assert_eq!(
        file.tensor("w").unwrap().decode_f32(0..2).unwrap(),
        [1.5, 2.5]
    );
}

#[test]
fn versions_and_byte_order() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut be = gguf(&[], &[], 1, &[]);
    be[4..8].copy_from_slice(&3u32.to_be_bytes());
    let t = err_text(d, &be);
    assert!(
        t.contains("i.e. version 3 byte-swapped: this is a big-endian GGUF file"),
        "{t}"
    );
    let mut swapped = be.clone();
    swapped[..4].copy_from_slice(b"FUGG");
    let t = err_text(d, &swapped);
    assert!(t.contains("byte-swapped (big-endian) GGUF"), "{t}");
    let mut v1 = gguf(&[], &[], 1, &[]);
    v1[4..8].copy_from_slice(&1u32.to_le_bytes());
    let t = err_text(d, &v1);
    assert!(t.contains("GGUF version 1"), "{t}");
    let mut v9 = v1.clone();
    v9[4..8].copy_from_slice(&9u32.to_le_bytes());
    let t = err_text(d, &v9);
    assert!(t.contains("unsupported GGUF version 9"), "{t}");
    let mut v2 = v1;
    v2[4..8].copy_from_slice(&2u32.to_le_bytes());
    let file = open(write(d, "v2.gguf", &v2)).unwrap();
    assert_eq!(file.format(), Format::Gguf { version: 2 });
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    /// Random byte edits of a valid file give a clean error or a file whose every tensor
    /// decodes (or reports an unsupported dtype) — never a panic.
    #[test]
    fn mutations_never_panic(
        which in 0usize..4,
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in prop::option::of(any::<prop::sample::Index>()),
    ) {
        let name = ["metadata.gguf", "quant.gguf", "listed-only.gguf", "iq.gguf"][which];
        let mut bytes = fs::read(fixture(name)).unwrap();
        // Bias edits toward the header, where the parser's decisions are.
        let header = bytes.len().min(4096);
        for (i, b) in &edits {
            let at = i.index(header);
            bytes[at] = *b;
        }
        if let Some(c) = cut {
            bytes.truncate(c.index(bytes.len()));
        }
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "m.gguf", &bytes);
        if let Ok(file) = open(&p) {
            for t in file.tensors() {
                let _ = t.decode_f32(0..t.elements());
                if t.elements() > 2 {
                    let _ = t.decode_f32(1..t.elements() - 1);
                }
            }
            let _ = file.metadata();
        }
    }
}
