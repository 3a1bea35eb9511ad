//! `mlprov convert` on fixtures of every format: every tensor survives bit for bit.

use std::path::PathBuf;

use assert_cmd::Command;
use mlprov::formats::{open, open_model, DType, OpenOptions};
use serde_json::Value;

fn mlprov() -> Command {
    Command::cargo_bin("mlprov").expect("the mlprov binary is built by `cargo test --workspace`")
}

fn fixture(rel: &str) -> PathBuf {
    mlprov_testkit::fixtures().join(rel)
}

const SOURCES: &[&str] = &[
    "gguf/quant.gguf",
    "gguf/metadata.gguf",
    "gguf/iq.gguf",
    "ggml/llama-ggjt-v3.bin",
    "onnx/dtypes.onnx",
    "onnx/subgraphs.onnx",
    "onnx/external",
    "torch/state_dict.pt",
    "torch/scripted.jit",
    "numpy/compressed.npz",
    "numpy/fortran_f64.npy",
    "safetensors/tiny-sharded",
];

fn bits(v: &[f32]) -> Vec<u32> {
    // NaN payloads may differ between decoders; every NaN counts as one value.
    v.iter()
        .map(|x| if x.is_nan() { u32::MAX } else { x.to_bits() })
        .collect()
}

#[test]
fn every_tensor_round_trips_and_plain_tensors_keep_their_digest() {
    let dir = tempfile::tempdir().unwrap();
    for rel in SOURCES {
        let src = fixture(rel);
        let out = dir
            .path()
            .join(format!("{}.safetensors", rel.replace('/', "_")));
        let res = mlprov()
            .arg("--json")
            .arg("convert")
            .arg(&src)
            .arg("-o")
            .arg(&out)
            .output()
            .unwrap();
        assert!(
            res.status.success(),
            "{rel}: {}",
            String::from_utf8_lossy(&res.stderr)
        );
        let report: Value = serde_json::from_slice(&res.stdout).unwrap();

        let model = open_model(&src, OpenOptions::default()).unwrap();
        let converted = open(&out).unwrap();
        let mut block_types = false;
        for f in &model.files {
            for t in f.file.tensors().filter(|t| t.dtype.decodable()) {
                let c = converted
                    .tensor(t.name)
                    .unwrap_or_else(|| panic!("{rel}: `{}` missing", t.name));
                assert_eq!(c.shape, t.shape, "{rel}: {}", t.name);
                if t.dtype.block().0 > 1 {
                    block_types = true;
                    assert_eq!(c.dtype, DType::F32);
                } else {
                    assert_eq!(c.dtype, t.dtype, "{rel}: {} keeps its dtype", t.name);
                }
                let n = t.elements();
                assert_eq!(
                    bits(&c.decode_f32(0..n).unwrap()),
                    bits(&t.decode_f32(0..n).unwrap()),
                    "{rel}: {}",
                    t.name
                );
            }
        }
        // The source digest recorded in the output is the one `hash` reports.
        let hashed: Value = serde_json::from_slice(
            &mlprov()
                .args(["--json", "hash"])
                .arg(&src)
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        let meta = converted.metadata();
        assert_eq!(
            Some(hashed["root"].as_str().unwrap()),
            meta.get("mlprov.source_merkle_root").map(String::as_str),
            "{rel}"
        );
        assert!(meta.contains_key("mlprov.source_format"));
        // Plain tensors are copied byte for byte, so the Merkle root over tensor content survives.
        if !block_types {
            let out_hash: Value = serde_json::from_slice(
                &mlprov()
                    .args(["--json", "hash"])
                    .arg(&out)
                    .output()
                    .unwrap()
                    .stdout,
            )
            .unwrap();
            assert_eq!(
                out_hash["root"], hashed["root"],
                "{rel}: content root changed"
            );
        }
        assert!(report["tensors"].as_u64().unwrap() > 0, "{rel}");
    }
}

#[test]
fn f32_mode_writes_real_values_of_linked_quantized_tensors() {
    let dir = tempfile::tempdir().unwrap();
    let src = fixture("onnx/quant_names.onnx");
    let out = dir.path().join("q.safetensors");
    mlprov()
        .arg("convert")
        .arg(&src)
        .arg("-o")
        .arg(&out)
        .args(["--dtype", "f32"])
        .assert()
        .success();
    let file = open(&src).unwrap();
    let converted = open(&out).unwrap();
    assert!(!file.quant_links().is_empty());
    for link in file.quant_links() {
        let real = file.dequantized(&link.quantized).unwrap();
        let n = real.elements();
        let mut want = vec![0f32; n];
        real.decode_f32_into(0..n, &mut want).unwrap();
        let got = converted.tensor(&link.quantized).unwrap();
        assert_eq!(got.dtype, DType::F32);
        assert_eq!(
            bits(&got.decode_f32(0..n).unwrap()),
            bits(&want),
            "{}",
            link.quantized
        );
    }
    assert!(converted.tensors().all(|t| t.dtype == DType::F32));
}

#[test]
fn convert_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("m.safetensors");
    std::fs::copy(fixture("safetensors/tiny-model.safetensors"), &copy).unwrap();
    let before = std::fs::read(&copy).unwrap();
    mlprov()
        .arg("convert")
        .arg(&copy)
        .arg("-o")
        .arg(&copy)
        .assert()
        .code(2);
    mlprov()
        .arg("convert")
        .arg(&copy)
        .arg("-o")
        .arg(&copy)
        .arg("--force")
        .assert()
        .code(2);
    assert_eq!(
        std::fs::read(&copy).unwrap(),
        before,
        "the input must be untouched"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "no temporary files left: {leftovers:?}");
}

#[test]
fn undecodable_tensors_fail_the_conversion_unless_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.safetensors");
    let src = fixture("gguf/listed-only.gguf");
    let run = mlprov()
        .arg("convert")
        .arg(&src)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("listed-only.gguf") && err.contains("l.Q1_0") && err.contains("l2.Q1_0"),
        "names the file and both tensors: {err}"
    );
    assert!(!out.exists(), "nothing written");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

    let run = mlprov()
        .args(["--json", "convert", "--skip-undecodable"])
        .arg(&src)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0));
    let doc: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(doc["tensors"], 1);
    assert_eq!(doc["skipped"].as_array().unwrap().len(), 2, "{doc}");
    let converted = open(&out).unwrap();
    assert_eq!(
        converted.tensors().map(|t| t.name).collect::<Vec<_>>(),
        ["ok.f32"]
    );
}
