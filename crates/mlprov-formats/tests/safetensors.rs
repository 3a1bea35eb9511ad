//! safetensors reading on files written by the reference `safetensors` package
//! (fixtures/safetensors, made by make_fixtures.py) and on crafted bad files.

use std::fs;
use std::path::{Path, PathBuf};

use mlprov_formats::{open, open_model, DType, ErrorKind, Format, Layout, OpenOptions};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/safetensors")
        .join(rel)
}

/// Builds a safetensors file from a header JSON and data bytes, the way the format lays it out.
fn st_bytes(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, bytes).unwrap();
    p
}

fn err_text(path: &Path) -> String {
    open(path).expect_err("must fail").to_string()
}

#[test]
fn decodes_every_dtype_like_numpy() {
    let file = open(fixture("dtypes.safetensors")).unwrap();
    let expected = open(fixture("dtypes.expected.safetensors")).unwrap();
    assert_eq!(file.format(), Format::Safetensors);
    assert_eq!(file.tensor_infos().len(), 14);
    let mut seen = std::collections::BTreeSet::new();
    for view in file.tensors() {
        let truth = expected.tensor(view.name).unwrap();
        assert_eq!(truth.dtype, DType::F32);
        assert_eq!(view.shape, truth.shape, "{}", view.name);
        let got = view.decode_f32(0..view.elements()).unwrap();
        let want = truth.decode_f32(0..truth.elements()).unwrap();
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            // Bit-exact, so -0.0 and NaN are checked too.
            assert!(
                g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()),
                "{}[{i}]: got {g}, numpy says {w}",
                view.name
            );
        }
        seen.insert(view.dtype);
    }
    for d in [
        DType::F64,
        DType::F32,
        DType::F16,
        DType::BF16,
        DType::F8E4M3,
        DType::F8E5M2,
        DType::I8,
        DType::U8,
        DType::I16,
        DType::I32,
        DType::I64,
        DType::Bool,
    ] {
        assert!(seen.contains(&d), "fixture lacks {d}");
    }
}

#[test]
fn decodes_sub_ranges_without_the_rest() {
    let file = open(fixture("dtypes.safetensors")).unwrap();
    let bf16 = file.tensor("bf16").unwrap();
    let all = bf16.decode_f32(0..49).unwrap();
    assert_eq!(bf16.decode_f32(10..20).unwrap(), all[10..20].to_vec());
    let mut out = [0f32; 3];
    bf16.decode_f32_into(46..49, &mut out).unwrap();
    assert_eq!(out[..2], all[46..48]);
    assert!(bf16.decode_f32(40..50).is_err());
    assert!(bf16.decode_f32_into(0..3, &mut [0f32; 2]).is_err());
    let scalar = file.tensor("scalar").unwrap();
    assert_eq!(scalar.elements(), 1);
    assert_eq!(scalar.decode_f32(0..1).unwrap(), vec![3.5]);
}

#[test]
fn views_borrow_from_the_map() {
    let file = open(fixture("tiny-model.safetensors")).unwrap();
    let base = file.bytes().as_ptr() as usize;
    for v in file.tensors() {
        assert_eq!(v.bytes.as_ptr() as usize, base + v.offset, "{}", v.name);
    }
    assert_eq!(
        file.metadata().get("mlprov_fixture").map(String::as_str),
        Some("tiny-model")
    );
}

#[test]
fn format_comes_from_bytes_not_extension() {
    let dir = tempfile::tempdir().unwrap();
    let renamed = dir.path().join("weights.bin");
    fs::copy(fixture("tiny-model.safetensors"), &renamed).unwrap();
    assert_eq!(open(&renamed).unwrap().format(), Format::Safetensors);
    let fake = write(
        dir.path(),
        "fake.safetensors",
        b"this is not a weight file at all",
    );
    assert!(err_text(&fake).contains("not a recognized weight file"));
}

#[test]
fn opens_sharded_directory_as_one_model() {
    let model = open_model(fixture("tiny-sharded"), OpenOptions::default()).unwrap();
    assert_eq!(model.layout, Layout::Directory);
    let paths: Vec<&str> = model.files.iter().map(|f| f.rel_path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "model-00001-of-00002.safetensors",
            "model-00002-of-00002.safetensors"
        ]
    );
    assert_eq!(model.tensor_count(), 17);
}

#[test]
fn shard_index_must_agree_with_shards() {
    let dir = tempfile::tempdir().unwrap();
    for entry in fs::read_dir(fixture("tiny-sharded")).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    let index = dir.path().join("model.safetensors.index.json");
    let text = fs::read_to_string(&index).unwrap();

    fs::write(
        &index,
        text.replace("\"lm_head.weight\"", "\"lm_head.ghost\""),
    )
    .unwrap();
    let err = open_model(dir.path(), OpenOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("lm_head.ghost") && err.contains("does not hold it"),
        "{err}"
    );

    fs::write(&index, &text).unwrap();
    fs::remove_file(dir.path().join("model-00002-of-00002.safetensors")).unwrap();
    let err = open_model(dir.path(), OpenOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("model-00002-of-00002.safetensors") && err.contains("not present"),
        "{err}"
    );

    fs::write(&index, "{ not json").unwrap();
    let err = open_model(dir.path(), OpenOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("model.safetensors.index.json") && err.contains("not JSON"),
        "{err}"
    );
}

#[test]
fn directory_without_weights_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "config.json", b"{}");
    let err = open_model(dir.path(), OpenOptions::default()).unwrap_err();
    assert!(matches!(err.kind, ErrorKind::NoWeights(_)));
    assert!(err.to_string().contains("no weight files found"));
}

#[test]
fn crafted_bad_files_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let good = st_bytes(
        r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#,
        &[0; 8],
    );
    assert!(open(write(d, "good.safetensors", &good)).is_ok());

    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", vec![], "file is empty"),
        ("short", vec![1, 2, 3], "not a recognized weight file"),
        (
            "truncated-data",
            good[..good.len() - 3].to_vec(),
            "should end at byte",
        ),
        (
            "header-too-long",
            {
                let mut b = good.clone();
                b[..8].copy_from_slice(&(1u64 << 40).to_le_bytes());
                b
            },
            "larger than the 16777216 bytes read",
        ),
        (
            "header-past-end",
            {
                let mut b = good.clone();
                b[..8].copy_from_slice(&5000u64.to_le_bytes());
                b
            },
            "larger than the file",
        ),
        (
            "overlap",
            st_bytes(
                r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
                &[0; 8],
            ),
            "overlaps",
        ),
        (
            "out-of-range",
            st_bytes(
                r#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#,
                &[0; 8],
            ),
            "should end at byte 79 but the file is 71 bytes",
        ),
        (
            "dtype-size",
            st_bytes(
                r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,6]}}"#,
                &[0; 6],
            ),
            "do not hold shape [2] of F32",
        ),
        (
            "shape-overflow",
            st_bytes(
                r#"{"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}}"#,
                &[0; 8],
            ),
            "overflows",
        ),
        (
            "gap",
            st_bytes(
                r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
                &[0; 8],
            ),
            "gap of 4 bytes",
        ),
        (
            "trailing",
            {
                let mut b = good.clone();
                b.extend_from_slice(&[9; 5]);
                b
            },
            "5 unexplained bytes",
        ),
        (
            "bad-json",
            st_bytes("{\"a\": [", &[]),
            "not a valid tensor table",
        ),
        (
            "non-utf8-name",
            {
                let mut h = br#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#.to_vec();
                h[2] = 0xff;
                let mut b = (h.len() as u64).to_le_bytes().to_vec();
                b.extend_from_slice(&h);
                b.extend_from_slice(&[0; 8]);
                b
            },
            "not valid UTF-8",
        ),
        (
            "unknown-dtype",
            st_bytes(
                r#"{"a":{"dtype":"Q9","shape":[2],"data_offsets":[0,8]}}"#,
                &[0; 8],
            ),
            "not a valid tensor table",
        ),
    ];
    for (name, bytes, want) in cases {
        let path = write(d, &format!("{name}.safetensors"), &bytes);
        let msg = err_text(&path);
        assert!(
            msg.contains(&format!("{name}.safetensors")),
            "{name}: message lacks the file: {msg}"
        );
        assert!(msg.contains(want), "{name}: expected `{want}` in: {msg}");
        assert!(!msg.contains('\n'), "{name}: one line please: {msg}");
    }
}

#[test]
fn unreadable_files_are_reported_not_skipped() {
    let dir = tempfile::tempdir().unwrap();
    fs::copy(
        fixture("tiny-model.safetensors"),
        dir.path().join("a.safetensors"),
    )
    .unwrap();
    // A symlink loop cannot be opened even by root.
    std::os::unix::fs::symlink("loop.safetensors", dir.path().join("loop.safetensors")).unwrap();
    let err = open_model(dir.path(), OpenOptions::default()).unwrap_err();
    assert!(err.to_string().contains("loop.safetensors"), "{err}");
    let lenient = open_model(
        dir.path(),
        OpenOptions {
            keep_going: true,
            ..OpenOptions::default()
        },
    )
    .unwrap();
    assert_eq!(lenient.files.len(), 1);
    assert_eq!(lenient.unreadable.len(), 1);
}

#[test]
fn recognized_but_unsupported_files_are_skipped_in_directories() {
    let dir = tempfile::tempdir().unwrap();
    fs::copy(
        fixture("tiny-model.safetensors"),
        dir.path().join("model.safetensors"),
    )
    .unwrap();
    write(
        dir.path(),
        "tf_model.h5",
        b"\x89HDF\r\n\x1a\n\0\0\0\0\0\0\0\0",
    );
    let model = open_model(dir.path(), OpenOptions::default()).unwrap();
    assert_eq!(model.files.len(), 1);
    assert_eq!(model.skipped.len(), 1);
}
