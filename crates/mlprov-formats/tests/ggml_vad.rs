//! whisper.cpp's Silero VAD models (`lmgg` magic, model-type string, version,
//! hyperparameters, f32/f16 records) on a fixture laid out like the converter writes them
//! (fixtures/ggml/make_silero_vad_ggml.py) and on files cut or damaged from it.

use std::fs;
use std::path::{Path, PathBuf};

use mlprov_formats::{open, DType, ErrorKind, Format, GgmlVariant, MetaValue, WeightFile};
use serde_json::Value;

const STEM: &str = "silero-vad-tiny-ggml";

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/ggml")
        .join(rel)
}

fn expected() -> Value {
    let text = fs::read_to_string(fixture(&format!("{STEM}.expected.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, bytes).unwrap();
    p
}

fn ints(v: &MetaValue) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| match x {
            MetaValue::I64(i) => *i,
            other => panic!("{other:?}"),
        })
        .collect()
}

fn vad() -> WeightFile {
    open(fixture(&format!("{STEM}.bin"))).unwrap()
}

#[test]
fn variant_and_hyperparameters() {
    let file = vad();
    assert_eq!(file.format(), Format::Ggml(GgmlVariant::WhisperVad));
    assert_eq!(file.format().name(), "ggml");
    assert_eq!(file.format().description(), "ggml lmgg (whisper.cpp VAD)");
    assert_eq!(file.metadata()["ggml.variant"], "lmgg (whisper.cpp VAD)");
    assert_eq!(file.metadata()["ggml.header"], "whisper.cpp VAD");
    assert_eq!(file.metadata()["vad.model_type"], "silero-16k");
    assert_eq!(file.metadata()["vad.version"], "6.2.0");
    assert_eq!(file.meta_value("vad.n_window"), Some(&MetaValue::I64(512)));
    assert_eq!(file.meta_value("vad.n_context"), Some(&MetaValue::I64(64)));
    let m = |k: &str| ints(file.meta_value(k).unwrap());
    assert_eq!(m("vad.encoder_in_channels"), [17, 16, 8, 8]);
    assert_eq!(m("vad.encoder_out_channels"), [16, 8, 8, 16]);
    assert_eq!(m("vad.kernel_sizes"), [3, 3, 3, 3]);
    assert_eq!(
        file.meta_value("vad.lstm_hidden_size"),
        Some(&MetaValue::I64(16))
    );
    assert_eq!(
        file.meta_value("vad.final_conv_out"),
        Some(&MetaValue::I64(1))
    );
    let exp = expected();
    assert_eq!(
        file.header_range(),
        0..exp["header_len"].as_u64().unwrap() as usize
    );
}

#[test]
fn every_tensor_with_its_name_shape_dtype_and_values() {
    let file = vad();
    let exp = expected();
    let want = exp["tensors"].as_array().unwrap();
    assert_eq!(file.tensor_infos().len(), want.len());
    // Tensors come back in file order, which is the converter's order.
    for (view, w) in file.tensors().zip(want) {
        assert_eq!(view.name, w["name"].as_str().unwrap());
        let shape: Vec<usize> = w["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(view.shape, shape.as_slice(), "{}", view.name);
        let dtype = match w["dtype"].as_str().unwrap() {
            "F16" => DType::F16,
            "F32" => DType::F32,
            other => panic!("{other}"),
        };
        assert_eq!(view.dtype, dtype, "{}", view.name);
        let range = &w["data"];
        assert_eq!(
            view.offset..view.offset + view.bytes.len(),
            range[0].as_u64().unwrap() as usize..range[1].as_u64().unwrap() as usize,
            "{}",
            view.name
        );
        let values = view.decode_f32(0..view.elements()).unwrap();
        assert_eq!(values.len() as u64, w["elements"].as_u64().unwrap());
        let sum: f64 = values.iter().map(|&v| f64::from(v)).sum();
        let want_sum = w["sum"].as_f64().unwrap();
        assert!(
            (sum - want_sum).abs() < 1e-9,
            "{}: {sum} vs {want_sum}",
            view.name
        );
        for (g, f) in values.iter().zip(w["first"].as_array().unwrap()) {
            // The JSON holds each f32 exactly as a decimal; parsing may be off by an f64 ulp.
            assert_eq!(*g, f.as_f64().unwrap() as f32, "{}", view.name);
        }
    }
    // The one-element final bias is written with no dimensions: a scalar.
    let bias = file.tensor("_model.decoder.decoder.2.bias").unwrap();
    assert!(bias.shape.is_empty());
    assert_eq!(bias.elements(), 1);
}

#[test]
fn values_match_the_expected_safetensors_bit_for_bit() {
    let file = vad();
    let truth = open(fixture(&format!("{STEM}.expected.safetensors"))).unwrap();
    assert_eq!(file.tensor_infos().len(), truth.tensor_infos().len());
    for view in file.tensors() {
        let t = truth.tensor(view.name).unwrap();
        assert_eq!(view.shape, t.shape, "{}", view.name);
        let got = view.decode_f32(0..view.elements()).unwrap();
        let want = t.decode_f32(0..t.elements()).unwrap();
        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&got), bits(&want), "{}", view.name);
    }
}

#[test]
fn parameters_and_records_account_for_every_byte() {
    let file = vad();
    let exp = expected();
    let params: usize = file.tensors().map(|t| t.elements()).sum();
    assert_eq!(params as u64, exp["total_params"].as_u64().unwrap());
    // Header, then per tensor its record (3 i32, the dims, the name) and its data: nothing
    // else in the file, no gap, no overlap.
    let mut pos = file.header_range().end;
    for t in file.tensor_infos() {
        let record = 12 + 4 * t.shape.len() + t.name.len();
        assert_eq!(t.range.start, pos + record, "{}", t.name);
        assert_eq!(
            t.range.len(),
            t.dtype.byte_len(t.shape.iter().product()).unwrap()
        );
        pos = t.range.end;
    }
    assert_eq!(pos, file.len());
    assert_eq!(file.len() as u64, exp["file_len"].as_u64().unwrap());
}

#[test]
fn truncated_files_are_errors_naming_the_file() {
    let full = fs::read(fixture(&format!("{STEM}.bin"))).unwrap();
    let whole = vad();
    let dir = tempfile::tempdir().unwrap();
    // Every prefix through the header and around each record; every 11th in between.
    let mut marks = vec![0, whole.header_range().end];
    for t in whole.tensor_infos() {
        marks.extend([t.range.start, t.range.end]);
    }
    let near = |l: usize| marks.iter().any(|&m| l.abs_diff(m) <= 24);
    let lens = (1..full.len()).filter(|&l| l < 160 || near(l) || l % 11 == 0);
    for len in lens {
        let p = write(dir.path(), "cut-vad.bin", &full[..len]);
        // The header says how many tensors there are, so a cut between two records is
        // also caught: every prefix is an error.
        let err = match open(&p) {
            Ok(f) => panic!(
                "prefix of {len} bytes opened with {} tensors",
                f.tensor_infos().len()
            ),
            Err(e) => e,
        };
        assert_eq!(err.path, p, "at {len}");
        assert!(err.to_string().contains("cut-vad.bin"), "at {len}: {err}");
        if len > 160 {
            assert!(
                matches!(err.kind, ErrorKind::Truncated(_)),
                "at {len}: {err}"
            );
        }
    }
    // Cut inside the last tensor's data.
    let p = write(dir.path(), "cut-vad.bin", &full[..full.len() - 5]);
    let err = open(&p).unwrap_err().to_string();
    assert!(
        err.contains(
            "truncated: GGML lmgg (whisper.cpp VAD): tensor `_model.stft.forward_basis_buffer` \
             (F16, shape [34, 1, 32]) needs bytes 13354..15530 but the file has 15525 bytes"
        ),
        "{err}"
    );
    // Cut between two records: the tensor count gives it away.
    let bias = whole.tensor("_model.encoder.0.reparam_conv.bias").unwrap();
    let cut = bias.offset + bias.bytes.len();
    let p = write(dir.path(), "cut-vad.bin", &full[..cut]);
    let err = open(&p).unwrap_err().to_string();
    assert!(
        err.contains("cut-vad.bin")
            && err.contains("the header declares 15 tensors but the file holds 2"),
        "{err}"
    );
}

#[test]
fn bad_dimension_counts_are_errors() {
    let full = fs::read(fixture(&format!("{STEM}.bin"))).unwrap();
    let whole = vad();
    let dir = tempfile::tempdir().unwrap();
    // n_dims of the first record set to 5 (whisper.cpp accepts 0 to 4).
    let first = whole.header_range().end;
    let mut bytes = full.clone();
    bytes[first..first + 4].copy_from_slice(&5i32.to_le_bytes());
    let err = open(write(dir.path(), "dims.bin", &bytes))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("dims.bin") && err.contains("n_dims (0 to 4 expected) is 5"),
        "{err}"
    );
    // A negative dimension in the STFT record.
    let stft = whole.tensor("_model.stft.forward_basis_buffer").unwrap();
    let dim0 = stft.offset - "_model.stft.forward_basis_buffer".len() - 12;
    let mut bytes = full.clone();
    bytes[dim0..dim0 + 4].copy_from_slice(&(-32i32).to_le_bytes());
    let err = open(write(dir.path(), "dims.bin", &bytes))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("a dimension (positive expected) is -32"),
        "{err}"
    );
}
