//! Converting models to safetensors: a tensor that can be neither decoded nor stored as it
//! is fails the conversion by default, naming it, and is left out and reported with
//! `skip_undecodable`. The GGUF fixtures come from fixtures/gguf/make_fixtures.py.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mlprov_formats::{
    open, open_model, write_safetensors, write_safetensors_with, ConvertDtype, ConvertOptions,
    DType, ErrorKind, OpenOptions,
};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(rel)
}

/// listed-only.gguf: two Q1_0 tensors (no decoder, no safetensors dtype) and one F32.
const UNDECODABLE: [&str; 2] = [
    "listed-only.gguf: l.Q1_0 (Q1_0)",
    "listed-only.gguf: l2.Q1_0 (Q1_0)",
];

#[test]
fn undecodable_tensors_fail_the_conversion_by_default() {
    let model = open_model(fixture("gguf/listed-only.gguf"), OpenOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.safetensors");
    for dtype in [ConvertDtype::Keep, ConvertDtype::F32] {
        let err = write_safetensors(&model, &out, dtype, BTreeMap::new()).unwrap_err();
        match &err.kind {
            ErrorKind::Undecodable(tensors) => assert_eq!(tensors, &UNDECODABLE),
            other => panic!("{other}"),
        }
        let text = err.to_string();
        assert!(text.contains("cannot convert 2 tensor(s)"), "{text}");
        assert!(
            text.contains("l.Q1_0 (Q1_0)") && text.contains("l2.Q1_0"),
            "{text}"
        );
        assert!(!out.exists(), "nothing is written");
        // The explicit options say the same.
        let options = ConvertOptions {
            dtype,
            skip_undecodable: false,
        };
        let err = write_safetensors_with(&model, &out, options, BTreeMap::new()).unwrap_err();
        assert!(matches!(err.kind, ErrorKind::Undecodable(_)));
    }
}

#[test]
fn skip_undecodable_leaves_them_out_and_reports_them() {
    let model = open_model(fixture("gguf/listed-only.gguf"), OpenOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for dtype in [ConvertDtype::Keep, ConvertDtype::F32] {
        let out = dir.path().join(format!("{dtype:?}.safetensors"));
        let options = ConvertOptions {
            dtype,
            skip_undecodable: true,
        };
        let report = write_safetensors_with(&model, &out, options, BTreeMap::new()).unwrap();
        assert_eq!(report.skipped, UNDECODABLE);
        assert_eq!((report.tensors, report.decoded), (1, 0));
        let converted = open(&out).unwrap();
        let names: Vec<&str> = converted.tensors().map(|t| t.name).collect();
        assert_eq!(names, ["ok.f32"]);
        let source = open(fixture("gguf/listed-only.gguf")).unwrap();
        let (a, b) = (
            source.tensor("ok.f32").unwrap(),
            converted.tensor("ok.f32").unwrap(),
        );
        assert_eq!((b.dtype, b.shape), (DType::F32, a.shape));
        assert_eq!(a.bytes, b.bytes);
    }
}

#[test]
fn models_whose_tensors_all_decode_convert_with_the_default() {
    let src = fixture("gguf/iq.gguf");
    let model = open_model(&src, OpenOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("iq.safetensors");
    let report = write_safetensors(&model, &out, ConvertDtype::Keep, BTreeMap::new()).unwrap();
    assert!(report.skipped.is_empty());
    assert_eq!((report.tensors, report.decoded), (11, 11));
    let source = open(&src).unwrap();
    let converted = open(&out).unwrap();
    for t in source.tensors() {
        let c = converted.tensor(t.name).unwrap();
        assert_eq!((c.dtype, c.shape), (DType::F32, t.shape));
        let n = t.elements();
        let bits = |v: Vec<f32>| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(c.decode_f32(0..n).unwrap()),
            bits(t.decode_f32(0..n).unwrap()),
            "{}",
            t.name
        );
    }
}

#[test]
fn the_error_lists_the_first_few_tensors_and_a_count() {
    let many: Vec<String> = (0..8).map(|i| format!("m.gguf: t{i} (Q1_0)")).collect();
    let text = ErrorKind::Undecodable(many).to_string();
    assert!(text.starts_with("cannot convert 8 tensor(s)"), "{text}");
    assert!(
        text.contains("t0 (Q1_0)") && text.contains("t4 (Q1_0)"),
        "{text}"
    );
    assert!(!text.contains("t5 (Q1_0)"), "{text}");
    assert!(text.ends_with(" and 3 more"), "{text}");
}
