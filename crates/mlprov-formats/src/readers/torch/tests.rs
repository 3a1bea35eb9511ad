//! Tests of the PyTorch readers: reference fixtures and hostile archives.

use proptest::prelude::*;

use crate::dtype::DType;
use crate::parsed::{ParsedFile, TensorData};
use crate::readers::archive::testing::{assert_matches_expected, data, fixture};
use crate::readers::archive::{read_pickle, read_zip};
use crate::readers::zip::tests::build_zip;

/// The zip reader, on bytes alone.
fn parse_zip(buf: &[u8]) -> Result<crate::parsed::ParsedFile, crate::error::ErrorKind> {
    read_zip(buf, std::path::Path::new(""))
}

/// The bare-pickle reader, on bytes alone.
fn parse_legacy_torch(buf: &[u8]) -> Result<crate::parsed::ParsedFile, crate::error::ErrorKind> {
    read_pickle(buf, std::path::Path::new(""))
}

fn parse_fixture(name: &str) -> (Vec<u8>, ParsedFile) {
    let buf = fixture(&format!("torch/{name}"));
    let raw = parse_zip(&buf).unwrap_or_else(|e| panic!("{name}: {e}"));
    (buf, raw)
}

fn err(buf: &[u8]) -> String {
    parse_zip(buf).unwrap_err().to_string()
}

#[test]
fn state_dict_matches_torch() {
    let (buf, raw) = parse_fixture("state_dict.pt");
    assert_eq!(raw.metadata["archive"], "torch.save");
    assert_matches_expected(&buf, &raw, "torch/state_dict");
    let nbt = raw
        .tensors
        .iter()
        .find(|t| t.name == "bn.num_batches_tracked")
        .unwrap();
    assert_eq!(nbt.dtype, DType::I64);
    assert!(nbt.shape.is_empty());
    // torch stores every member uncompressed and 64-byte aligned: all mapped in place.
    for t in &raw.tensors {
        let TensorData::Mapped(r) = &t.data else {
            panic!("{} is not mapped", t.name)
        };
        assert_eq!(r.start % 64, 0, "{}", t.name);
    }
}

#[test]
fn checkpoint_matches_torch_with_views_and_dtypes() {
    let (buf, raw) = parse_fixture("checkpoint.pt");
    assert_matches_expected(&buf, &raw, "torch/checkpoint");
    let get = |n: &str| raw.tensors.iter().find(|t| t.name == n).unwrap();
    for (n, d) in [
        ("dtypes.f16", DType::F16),
        ("dtypes.bf16", DType::BF16),
        ("dtypes.f64", DType::F64),
        ("dtypes.i16", DType::I16),
        ("dtypes.i8", DType::I8),
        ("dtypes.u8", DType::U8),
        ("dtypes.bool", DType::Bool),
        ("dtypes.f8e4m3", DType::F8E4M3),
        ("dtypes.f8e5m2", DType::F8E5M2),
    ] {
        assert_eq!(get(n).dtype, d, "{n}");
    }
    // The row is a contiguous window into the base's storage: mapped, overlapping it.
    let (TensorData::Mapped(base), TensorData::Mapped(row)) =
        (&get("shared.base").data, &get("shared.row").data)
    else {
        panic!("shared tensors are not mapped")
    };
    assert_eq!(row.start, base.start + 4 * 4);
    assert_eq!(row.len(), 16);
    // The column and the transposed tensor are strided: gathered into owned bytes.
    assert!(matches!(
        get("shared.column").data,
        TensorData::Shared { .. }
    ));
    assert!(matches!(get("transposed").data, TensorData::Shared { .. }));
    assert_eq!(get("transposed").shape, vec![5, 3]);
    assert_eq!(get("empty").shape, vec![0, 3]);
    assert_eq!(data(&buf, &raw, &get("empty").data).len(), 0);
}

#[test]
fn torchscript_archives_match_torch() {
    let (buf, raw) = parse_fixture("scripted.jit");
    assert_eq!(raw.metadata["archive"], "torchscript");
    assert_matches_expected(&buf, &raw, "torch/scripted");
    let (buf, raw) = parse_fixture("traced.jit");
    assert_eq!(raw.metadata["archive"], "torchscript");
    assert_matches_expected(&buf, &raw, "torch/traced");
}

/// A pickle `{name: _rebuild_tensor_v2(storage(key, numel), offset, shape, stride)}`.
fn tensor_pickle(
    name: &str,
    key: &str,
    numel: u64,
    offset: u64,
    shape: &[u64],
    stride: &[u64],
) -> Vec<u8> {
    fn s(out: &mut Vec<u8>, t: &str) {
        out.push(b'X');
        out.extend_from_slice(&(t.len() as u32).to_le_bytes());
        out.extend_from_slice(t.as_bytes());
    }
    fn int(out: &mut Vec<u8>, v: u64) {
        out.extend_from_slice(b"\x8a\x08");
        out.extend_from_slice(&v.to_le_bytes());
    }
    let mut p = b"\x80\x02}(".to_vec();
    s(&mut p, name);
    p.extend_from_slice(b"ctorch._utils\n_rebuild_tensor_v2\n((");
    s(&mut p, "storage");
    p.extend_from_slice(b"ctorch\nFloatStorage\n");
    s(&mut p, key);
    s(&mut p, "cpu");
    int(&mut p, numel);
    p.extend_from_slice(b"tQ");
    int(&mut p, offset);
    p.push(b'(');
    shape.iter().for_each(|&d| int(&mut p, d));
    p.extend_from_slice(b"t(");
    stride.iter().for_each(|&d| int(&mut p, d));
    p.extend_from_slice(b"t\x89ccollections\nOrderedDict\n)RtRu.");
    p
}

fn floats(n: usize) -> Vec<u8> {
    (0..n).flat_map(|i| (i as f32).to_le_bytes()).collect()
}

#[test]
fn reads_a_hand_made_archive_with_a_strided_view() {
    let pkl = tensor_pickle("w", "0", 6, 1, &[2, 2], &[1, 3]);
    let storage = floats(6);
    let zip = build_zip(&[("a/data.pkl", &pkl, true), ("a/data/0", &storage, false)]);
    let raw = parse_zip(&zip).unwrap();
    let t = &raw.tensors[0];
    assert_eq!(t.name, "w");
    let mut out = [0f32; 4];
    t.dtype
        .decode_f32(data(&zip, &raw, &t.data), &mut out)
        .unwrap();
    assert_eq!(out, [1.0, 4.0, 2.0, 5.0]);
    // A deflated storage member is inflated, then windowed.
    let pkl = tensor_pickle("w", "0", 6, 2, &[4], &[1]);
    let zip = build_zip(&[("a/data.pkl", &pkl, false), ("a/data/0", &storage, true)]);
    let raw = parse_zip(&zip).unwrap();
    assert_eq!(data(&zip, &raw, &raw.tensors[0].data), &storage[8..24]);
}

#[test]
fn refuses_hostile_archives() {
    // A pickle calling os.system.
    let zip = build_zip(&[(
        "a/data.pkl",
        b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00ls\x85R.",
        false,
    )]);
    let e = err(&zip);
    assert!(e.contains("would run `os.system` when loaded"), "{e}");
    // builtins.eval through STACK_GLOBAL.
    let p = b"\x80\x04\x8c\x08builtins\x8c\x04eval\x93X\x01\x00\x00\x001\x85R.";
    let e = err(&build_zip(&[("a/data.pkl", p, false)]));
    assert!(e.contains("`builtins.eval`"), "{e}");
    // A recursion bomb: 100000 nested lists parse, and the walk refuses the depth.
    let mut p = b"\x80\x02".to_vec();
    p.extend(std::iter::repeat_n(b']', 100_000));
    p.extend(std::iter::repeat_n(b'a', 99_999));
    p.push(b'.');
    let e = err(&build_zip(&[("a/data.pkl", &p, true)]));
    assert!(e.contains("nested deeper than 256"), "{e}");
    // A persistent id naming a missing member.
    let pkl = tensor_pickle("w", "7", 6, 0, &[6], &[1]);
    let e = err(&build_zip(&[
        ("a/data.pkl", &pkl, false),
        ("a/data/0", &floats(6), false),
    ]));
    assert!(
        e.contains("tensor `w`: storage member `a/data/7` is not in the archive"),
        "{e}"
    );
    // storage_offset + shape beyond the storage.
    let pkl = tensor_pickle("w", "0", 6, 3, &[2, 2], &[2, 1]);
    let e = err(&build_zip(&[
        ("a/data.pkl", &pkl, false),
        ("a/data/0", &floats(6), false),
    ]));
    assert!(
        e.contains("reach element 6 of a storage of 6 F32 elements"),
        "{e}"
    );
    // Strides that overflow.
    let pkl = tensor_pickle("w", "0", 6, 0, &[3, 2], &[u64::MAX / 2, u64::MAX / 2]);
    let e = err(&build_zip(&[
        ("a/data.pkl", &pkl, false),
        ("a/data/0", &floats(6), false),
    ]));
    assert!(e.contains("past 2^64"), "{e}");
    // A storage declaring more elements than its member holds.
    let pkl = tensor_pickle("w", "0", 600, 0, &[6], &[1]);
    let e = err(&build_zip(&[
        ("a/data.pkl", &pkl, false),
        ("a/data/0", &floats(6), false),
    ]));
    assert!(
        e.contains("declares 600 F32 elements but holds 24 bytes"),
        "{e}"
    );
    // A broadcast view far larger than its storage is not materialized.
    let pkl = tensor_pickle("w", "0", 1, 0, &[1 << 20, 1 << 10], &[0, 0]);
    let e = err(&build_zip(&[
        ("a/data.pkl", &pkl, false),
        ("a/data/0", &floats(1), false),
    ]));
    assert!(e.contains("too large to materialize"), "{e}");
    // Big-endian archives.
    let pkl = tensor_pickle("w", "0", 6, 0, &[6], &[1]);
    let e = err(&build_zip(&[
        ("a/data.pkl", &pkl, false),
        ("a/byteorder", b"big", false),
        ("a/data/0", &floats(6), false),
    ]));
    assert!(e.contains("byte order `big`"), "{e}");
    // A zip that is neither PyTorch nor NumPy.
    assert!(err(&build_zip(&[("readme.txt", b"hi", false)])).contains("neither"));
}

#[test]
fn legacy_format_gets_advice() {
    let head = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.\x80\x02M\xe9\x03.";
    let e = parse_legacy_torch(head).unwrap_err().to_string();
    assert!(
        e.contains("legacy non-zip PyTorch format is not supported"),
        "{e}"
    );
    assert!(e.contains("_use_new_zipfile_serialization=True"), "{e}");
    assert!(parse_legacy_torch(b"\x80\x02N.").is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn mutated_archives_never_panic(
        which in 0usize..3,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let name = ["torch/state_dict.pt", "torch/traced.jit", "numpy/compressed.npz"][which];
        let mut buf = fixture(name);
        for (i, b) in edits {
            let i = i.index(buf.len());
            buf[i] = b;
        }
        if truncate {
            let n = cut.index(buf.len());
            buf.truncate(n);
        }
        let _ = parse_zip(&buf);
    }

    #[test]
    fn mutated_pickles_never_panic(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut p = tensor_pickle("w", "0", 6, 1, &[2, 2], &[1, 3]);
        for (i, b) in edits {
            let i = i.index(p.len());
            p[i] = b;
        }
        let zip = build_zip(&[("a/data.pkl", &p, false), ("a/data/0", &floats(6), false)]);
        let _ = parse_zip(&zip);
    }
}

/// Every truncation of a zip archive (PyTorch checkpoints, TorchScript, npz) is an error:
/// the central directory at the end is gone or cut, and no reader may guess the rest.
#[test]
fn every_truncation_of_a_zip_is_an_error() {
    // One archive of each writer: torch.save, torch.jit.save, numpy.savez_compressed.
    for name in [
        "torch/state_dict.pt",
        "torch/traced.jit",
        "numpy/compressed.npz",
    ] {
        let whole = fixture(name);
        assert!(parse_zip(&whole).is_ok(), "{name} itself must parse");
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let parsed: Vec<usize> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..threads)
                .map(|t| {
                    let whole = &whole;
                    s.spawn(move || {
                        (t..whole.len())
                            .step_by(threads)
                            .filter(|&n| parse_zip(&whole[..n]).is_ok())
                            .collect::<Vec<usize>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().unwrap())
                .collect()
        });
        assert!(
            parsed.is_empty(),
            "{name} ({} bytes) cut to these lengths parsed without an error: {parsed:?}",
            whole.len()
        );
    }
}

/// Opt-in: `MLPROV_CORPUS=/path/to/corpus cargo test -p mlprov-formats real_corpus -- --ignored
/// --nocapture` parses the development corpus's PyTorch files, decodes and prints every tensor.
#[test]
#[ignore = "needs the real corpus: set MLPROV_CORPUS and run with --ignored"]
fn real_corpus_parses() {
    let dir = std::env::var("MLPROV_CORPUS").expect("MLPROV_CORPUS is set");
    for name in ["akiki-s1730.pt", "silero-v6.2.jit", "silero-v5.jit"] {
        let p = std::path::Path::new(&dir).join(name);
        let buf = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let raw = parse_zip(&buf).unwrap_or_else(|e| panic!("{name}: {e}"));
        println!("== {name} {} tensors {:?}", raw.tensors.len(), raw.metadata);
        for t in &raw.tensors {
            let bytes = data(&buf, &raw, &t.data);
            let mut out = vec![0f32; t.shape.iter().product()];
            t.dtype.decode_f32(bytes, &mut out).unwrap();
            let sum: f64 = out.iter().map(|&v| f64::from(v)).sum();
            // An order-independent checksum of the exact f32 bits.
            let bits: u64 = out.iter().map(|v| u64::from(v.to_bits())).sum();
            let kind = if matches!(t.data, TensorData::Mapped(_)) {
                "mapped"
            } else {
                "owned"
            };
            println!(
                "{name}\t{}\t{}\t{:?}\t{kind}\t{sum:.6e}\t{bits}",
                t.name, t.dtype, t.shape
            );
        }
    }
}
