//! Tests of the NumPy readers: reference fixtures and hostile headers.

use proptest::prelude::*;

use super::*;
use crate::readers::archive::read_zip;
use crate::readers::archive::testing::{assert_matches_expected, data, fixture};
use crate::readers::zip::tests::build_zip;

/// The zip reader, on bytes alone.
fn parse_zip(buf: &[u8]) -> Result<crate::parsed::ParsedFile, crate::error::ErrorKind> {
    read_zip(buf, std::path::Path::new(""))
}

fn npy(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

fn err(buf: &[u8]) -> String {
    parse_npy(buf).unwrap_err().to_string()
}

#[test]
fn npy_files_match_numpy() {
    for (name, mapped) in [
        ("c_f32", true),
        ("fortran_f64", false),
        ("scalar_i64", true),
        ("big_endian_f4", false),
        ("big_endian_i2", false),
        ("v2_u2", true),
    ] {
        let buf = fixture(&format!("numpy/{name}.npy"));
        let raw = parse_npy(&buf).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_matches_expected(&buf, &raw, &format!("numpy/{name}"));
        let t = &raw.tensors[0];
        assert_eq!(matches!(t.data, TensorData::Mapped(_)), mapped, "{name}");
    }
    let buf = fixture("numpy/v2_u2.npy");
    assert_eq!(parse_npy(&buf).unwrap().metadata["npy_version"], "2.0");
}

#[test]
fn npz_archives_match_numpy() {
    let buf = fixture("numpy/dtypes.npz");
    let raw = parse_zip(&buf).unwrap();
    assert_eq!(raw.metadata["archive"], "npz");
    assert_matches_expected(&buf, &raw, "numpy/dtypes");
    // Stored members are mapped in place, except the Fortran-order one.
    for t in &raw.tensors {
        let mapped = matches!(t.data, TensorData::Mapped(_));
        assert_eq!(mapped, t.name != "fortran", "{}", t.name);
    }
    let buf = fixture("numpy/compressed.npz");
    let raw = parse_zip(&buf).unwrap();
    assert_matches_expected(&buf, &raw, "numpy/compressed");
    assert!(raw
        .tensors
        .iter()
        .all(|t| matches!(t.data, TensorData::Owned(_))));
}

#[test]
fn parses_header_literals() {
    let h = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    let raw = parse_npy(&npy(h, &[0; 24])).unwrap();
    assert_eq!(raw.tensors[0].shape, vec![2, 3]);
    // Python 2 longs, double quotes, a one-element tuple, a trailing newline.
    let h = "{\"descr\": \"|u1\", \"fortran_order\": False, \"shape\": (3L,), }\n";
    let raw = parse_npy(&npy(h, &[1, 2, 3])).unwrap();
    assert_eq!(raw.tensors[0].shape, vec![3]);
    assert_eq!(raw.tensors[0].dtype, DType::U8);
}

#[test]
fn refuses_hostile_headers() {
    let huge = "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000, 1000000000), }";
    let e = err(&npy(huge, &[0; 16]));
    assert!(
        e.contains("needs 8000000000000000000 bytes but 16 follow"),
        "{e}"
    );
    let overflow =
        "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296), }";
    assert!(err(&npy(overflow, &[])).contains("overflows"));
    let objects = "{'descr': '|O', 'fortran_order': False, 'shape': (2,), }";
    assert!(err(&npy(objects, &[0; 16])).contains("object arrays"));
    let structured = "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }";
    assert!(err(&npy(structured, &[0; 8])).contains("structured"));
    let complex = "{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }";
    assert!(err(&npy(complex, &[0; 16])).contains("`<c8` is not supported"));
    let negative = "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }";
    assert!(err(&npy(negative, &[0; 16])).contains("tuple of integers"));
    let deep = format!("{}{}", "(".repeat(100), ")".repeat(100));
    assert!(err(&npy(&deep, &[])).contains("nests too deeply"));
    assert!(err(b"\x93NUMPY\x01\x00\xff\x00{").contains("runs past the end"));
    assert!(err(b"\x93NUMPY\x09\x00").contains("version 9.0"));
    assert!(err(b"\x93NUMP").contains("magic"));
    assert!(err(&npy("{'descr': '<f4', 'shape': ()}", &[0; 4])).contains("fortran_order"));
    // An npz member that is not a valid npy.
    let zip = build_zip(&[("bad.npy", b"\x93NUMPY\x01\x00\x05\x00{'a':", true)]);
    assert!(parse_zip(&zip).unwrap_err().to_string().contains("`bad`"));
}

#[test]
fn gathers_fortran_big_endian() {
    // A 2x3 big-endian i2 array in Fortran order: columns (0,3), (1,4), (2,5).
    let h = "{'descr': '>i2', 'fortran_order': True, 'shape': (2, 3), }";
    let vals: Vec<u8> = [0i16, 3, 1, 4, 2, 5]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    let buf = npy(h, &vals);
    let raw = parse_npy(&buf).unwrap();
    let t = &raw.tensors[0];
    let mut out = [0f32; 6];
    t.dtype
        .decode_f32(data(&buf, &raw, &t.data), &mut out)
        .unwrap();
    assert_eq!(out, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn mutated_npy_never_panics(
        which in 0usize..3,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let name = ["numpy/fortran_f64.npy", "numpy/big_endian_i2.npy", "numpy/c_f32.npy"][which];
        let mut buf = fixture(name);
        for (i, b) in edits {
            let i = i.index(buf.len());
            buf[i] = b;
        }
        if truncate {
            buf.truncate(cut.index(buf.len()));
        }
        if let Ok(raw) = parse_npy(&buf) {
            for t in &raw.tensors {
                let n: usize = t.shape.iter().product();
                prop_assert_eq!(Some(data(&buf, &raw, &t.data).len()), t.dtype.byte_len(n));
            }
        }
    }

    #[test]
    fn mutated_npz_never_panics(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut buf = fixture("numpy/dtypes.npz");
        for (i, b) in edits {
            let i = i.index(buf.len());
            buf[i] = b;
        }
        let _ = parse_zip(&buf);
    }
}
