//! Legacy GGML containers on files laid out like llama.cpp / whisper.cpp / ggml-examples
//! wrote them (fixtures/ggml, made by make_fixtures.py with gguf-py's quantizer) and on
//! crafted files.

use std::fs;
use std::path::{Path, PathBuf};

use mlprov_formats::{open, DType, Format, GgmlVariant, MetaValue, WeightFile};
use proptest::prelude::*;

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/ggml")
        .join(rel)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, bytes).unwrap();
    p
}

fn listing(file: &WeightFile) -> Vec<(String, DType, Vec<usize>)> {
    file.tensor_infos()
        .iter()
        .map(|t| (t.name.clone(), t.dtype, t.shape.clone()))
        .collect()
}

/// Every tensor decodes to exactly the values in `<stem>.expected.safetensors`.
fn check_values(file: &WeightFile, stem: &str) {
    let expected = open(fixture(&format!("{stem}.expected.safetensors"))).unwrap();
    assert_eq!(file.tensor_infos().len(), expected.tensor_infos().len());
    for view in file.tensors() {
        let truth = expected.tensor(view.name).unwrap();
        assert_eq!(view.shape, truth.shape, "{}", view.name);
        let want = truth.decode_f32(0..truth.elements()).unwrap();
        let got = view.decode_f32(0..view.elements()).unwrap();
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g.to_bits(), w.to_bits(), "{}[{i}]: {g} vs {w}", view.name);
        }
        let n = view.elements();
        assert_eq!(
            view.decode_f32(3..n - 2).unwrap(),
            want[3..n - 2],
            "{}",
            view.name
        );
    }
}

fn tokens(file: &WeightFile) -> Vec<&str> {
    file.meta_value("tokenizer.ggml.tokens")
        .and_then(MetaValue::as_str_array)
        .unwrap()
}

#[test]
fn llama_ggjt_v3() {
    let file = open(fixture("llama-ggjt-v3.bin")).unwrap();
    assert_eq!(file.format(), Format::Ggml(GgmlVariant::Ggjt(3)));
    assert_eq!(file.format().name(), "ggml");
    assert_eq!(file.format().description(), "ggml (ggjt v3)");
    assert_eq!(file.metadata()["ggml.header"], "llama.cpp");
    assert_eq!(file.metadata()["ggml.variant"], "ggjt v3");
    assert_eq!(file.meta_value("llama.n_embd"), Some(&MetaValue::U64(32)));
    assert_eq!(file.meta_value("llama.ftype"), Some(&MetaValue::U64(2)));
    assert_eq!(
        tokens(&file),
        ["<unk>", "<s>", "</s>", " the", " a", "hé", "x", ""]
    );
    let scores = file
        .meta_value("tokenizer.ggml.scores")
        .unwrap()
        .as_array()
        .unwrap();
    assert_eq!(scores[3].as_f64(), Some(-3.0));
    assert_eq!(file.metadata()["tokenizer.ggml.tokens"], "[array of 8 str]");
    assert_eq!(
        listing(&file),
        [
            ("tok_embeddings.weight".into(), DType::F16, vec![8, 32]),
            ("norm.weight".into(), DType::F32, vec![32]),
            (
                "layers.0.attention.wq.weight".into(),
                DType::Q4_0,
                vec![32, 32]
            ),
            ("output.weight".into(), DType::Q8_0, vec![8, 32]),
        ]
    );
    for t in file.tensor_infos() {
        assert_eq!(t.range.start % 32, 0, "ggjt aligns data: {}", t.name);
    }
    assert_eq!(file.tensor_infos().last().unwrap().range.end, file.len());
    check_values(&file, "llama-ggjt-v3");
}

#[test]
fn whisper_quantized_at_version_2() {
    let file = open(fixture("whisper-q8_0.bin")).unwrap();
    assert_eq!(file.format(), Format::Ggml(GgmlVariant::Ggml));
    assert_eq!(file.format().description(), "ggml (unversioned)");
    assert_eq!(file.metadata()["ggml.header"], "whisper.cpp");
    assert_eq!(
        file.meta_value("whisper.ftype"),
        Some(&MetaValue::I64(2007))
    );
    assert_eq!(file.meta_value("whisper.n_mels"), Some(&MetaValue::I64(4)));
    assert_eq!(
        tokens(&file),
        ["!", "\"", " the", "\u{fffd}", "<|endoftext|>"]
    );
    assert_eq!(
        listing(&file),
        [
            (
                "encoder.positional_embedding".into(),
                DType::F32,
                vec![15, 32]
            ),
            ("encoder.conv1.weight".into(), DType::F16, vec![32, 4, 3]),
            ("encoder.conv1.bias".into(), DType::F32, vec![32, 1]),
            (
                "encoder.blocks.0.attn.query.weight".into(),
                DType::Q8_0,
                vec![32, 32]
            ),
        ]
    );
    check_values(&file, "whisper-q8_0");
}

#[test]
fn lora_adapter() {
    let file = open(fixture("lora.ggla")).unwrap();
    assert_eq!(file.format(), Format::Ggml(GgmlVariant::Ggla(1)));
    assert_eq!(file.meta_value("lora.r"), Some(&MetaValue::U64(4)));
    assert_eq!(file.meta_value("lora.alpha"), Some(&MetaValue::U64(8)));
    assert_eq!(file.header_range(), 0..16);
    check_values(&file, "lora");
}

#[test]
fn unknown_header_found_by_scanning() {
    let file = open(fixture("gptj-ggml.bin")).unwrap();
    assert_eq!(file.metadata()["ggml.header"], "unrecognized");
    assert_eq!(file.meta_value("tokenizer.ggml.tokens"), None);
    assert_eq!(
        listing(&file),
        [
            ("model/ln_f/g".into(), DType::F32, vec![16]),
            ("model/wte".into(), DType::F16, vec![6, 16]),
            ("model/wpe".into(), DType::F32, vec![8, 16]),
        ]
    );
    check_values(&file, "gptj-ggml");
}

/// Builds tensor records the way every legacy writer did.
struct Legacy {
    buf: Vec<u8>,
    padded: bool,
}

impl Legacy {
    fn new(head: &[u32], padded: bool) -> Self {
        Legacy {
            buf: head.iter().flat_map(|v| v.to_le_bytes()).collect(),
            padded,
        }
    }

    fn tensor(mut self, name: &str, ty: u32, dims: &[i32], data: &[u8]) -> Self {
        for v in [dims.len() as i32, name.len() as i32, ty as i32] {
            self.buf.extend(v.to_le_bytes());
        }
        dims.iter().for_each(|d| self.buf.extend(d.to_le_bytes()));
        self.buf.extend(name.as_bytes());
        if self.padded {
            while !self.buf.len().is_multiple_of(32) {
                self.buf.push(0);
            }
        }
        self.buf.extend_from_slice(data);
        self
    }
}

const GGJT: u32 = 0x6767_6a74;

/// llama hparams: n_vocab 2, n_embd 4, n_mult 4, n_head 1, n_layer 1, n_rot 4, ftype 1.
fn llama_head(version: u32) -> Vec<u32> {
    vec![GGJT, version, 2, 4, 4, 1, 1, 4, 1]
}

fn vocab(buf: &mut Vec<u8>) {
    for tok in [b"a", b"b"] {
        buf.extend(1u32.to_le_bytes());
        buf.extend(tok);
        buf.extend(0f32.to_le_bytes());
    }
}

#[test]
fn pre_v3_quantized_layouts_are_an_unsupported_variant() {
    let dir = tempfile::tempdir().unwrap();
    // ggjt v1 with an f16 tensor and a Q4_0 tensor in the old 20-byte block layout.
    let mut l = Legacy::new(&llama_head(1), true);
    vocab(&mut l.buf);
    let l = l
        .tensor("tok_embeddings.weight", 1, &[4, 2], &[0; 16])
        .tensor("layers.0.attention.wq.weight", 2, &[32, 1], &[0; 20]);
    let err = open(write(dir.path(), "v1.bin", &l.buf))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "unsupported variant: tensor `layers.0.attention.wq.weight` is Q4_0 in a ggjt v1 file"
        ),
        "{err}"
    );
    // The same file without the quantized tensor reads fine.
    let mut l = Legacy::new(&llama_head(1), true);
    vocab(&mut l.buf);
    let half_one = 0x3c00u16.to_le_bytes().repeat(8);
    let l = l.tensor("tok_embeddings.weight", 1, &[4, 2], &half_one);
    let file = open(write(dir.path(), "v1ok.bin", &l.buf)).unwrap();
    assert_eq!(file.format().description(), "ggml (ggjt v1)");
    assert_eq!(
        file.tensor("tok_embeddings.weight")
            .unwrap()
            .decode_f32(0..8)
            .unwrap(),
        [1.0; 8]
    );
    // ggjt v2 kept Q5_0 as it is today.
    let mut l = Legacy::new(&llama_head(2), true);
    vocab(&mut l.buf);
    let mut q5 = vec![0x00, 0x3c]; // d = 1
    q5.extend([0xff; 4]); // every fifth bit set
    q5.extend([0x00; 16]); // low nibbles 0 → value 16 - 16 = 0
    let l = l
        .tensor("tok_embeddings.weight", 1, &[4, 2], &[0; 16])
        .tensor("layers.0.attention.wq.weight", 6, &[32, 1], &q5);
    let file = open(write(dir.path(), "v2.bin", &l.buf)).unwrap();
    let q = file.tensor("layers.0.attention.wq.weight").unwrap();
    assert_eq!(q.dtype, DType::Q5_0);
    assert_eq!(q.decode_f32(0..32).unwrap(), [0.0; 32]);
}

#[test]
fn llama_ggml_and_ggmf_headers() {
    let dir = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..8).flat_map(|i| (i as f32).to_le_bytes()).collect();
    // Unversioned llama.cpp file: vocabulary without scores, no padding.
    let mut l = Legacy::new(&[0x6767_6d6c, 2, 4, 4, 1, 1, 4, 0], false);
    for tok in [b"a", b"b"] {
        l.buf.extend(1u32.to_le_bytes());
        l.buf.extend(tok);
    }
    let l = l.tensor("tok_embeddings.weight", 0, &[4, 2], &data);
    let file = open(write(dir.path(), "ggml.bin", &l.buf)).unwrap();
    assert_eq!(file.format(), Format::Ggml(GgmlVariant::Ggml));
    assert_eq!(file.metadata()["ggml.header"], "llama.cpp");
    assert_eq!(tokens(&file), ["a", "b"]);
    assert_eq!(file.meta_value("tokenizer.ggml.scores"), None);
    let t = file.tensor("tok_embeddings.weight").unwrap();
    assert_eq!(t.shape, [2, 4]);
    assert_eq!(t.decode_f32(1..7).unwrap(), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    // ggmf v1: scores, still no padding.
    let mut l = Legacy::new(&[0x6767_6d66, 1, 2, 4, 4, 1, 1, 4, 0], false);
    vocab(&mut l.buf);
    let l = l.tensor("tok_embeddings.weight", 0, &[4, 2], &data);
    let file = open(write(dir.path(), "ggmf.bin", &l.buf)).unwrap();
    assert_eq!(file.format().description(), "ggml (ggmf v1)");
    assert_eq!(file.metadata()["tokenizer.ggml.scores"], "[array of 2 f64]");
    assert_eq!(
        file.tensor_infos()[0].range.start,
        file.header_range().end + 12 + 8 + 21
    );
}

#[test]
fn bad_versions_and_garbage_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let err = open(write(
        dir.path(),
        "v4.bin",
        &Legacy::new(&[GGJT, 4], true).buf,
    ))
    .unwrap_err()
    .to_string();
    assert!(err.contains("unsupported variant ggjt v4"), "{err}");
    let mut junk = Legacy::new(&[GGJT, 3], true).buf;
    junk.extend((0..3000u32).map(|i| (i * 7919 % 251) as u8));
    let err = open(write(dir.path(), "junk.bin", &junk))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no consistent tensor table found in this ggjt v3 file"),
        "{err}"
    );
    // A recognized header whose last tensor is cut short reports the truncation.
    let full = fs::read(fixture("llama-ggjt-v3.bin")).unwrap();
    let err = open(write(dir.path(), "cut.bin", &full[..full.len() - 5]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "truncated: GGML ggjt v3: tensor `output.weight` (Q8_0, shape [8, 32]) needs bytes"
        ),
        "{err}"
    );
}

#[test]
fn every_prefix_is_an_error_or_a_shorter_valid_file() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "llama-ggjt-v3.bin",
        "whisper-q8_0.bin",
        "lora.ggla",
        "gptj-ggml.bin",
    ] {
        let full = fs::read(fixture(name)).unwrap();
        let whole = open(fixture(name)).unwrap();
        // Every prefix through the headers and the last bytes; every 7th in between
        // (a failed prefix costs a scan of the whole prefix, slow in debug builds).
        let n = full.len();
        let lens = (0..n).filter(|&l| l < 700 || l + 40 > n || l % 7 == 0);
        for len in lens {
            let p = write(dir.path(), "cut.bin", &full[..len]);
            // Legacy files have no tensor count: a cut exactly after a record is a valid,
            // shorter file. Anything else must be an error, never a panic.
            if let Ok(f) = open(&p) {
                assert!(
                    f.tensor_infos().len() < whole.tensor_infos().len(),
                    "{name} at {len}"
                );
                assert_eq!(
                    f.tensor_infos()
                        .last()
                        .map_or(f.header_range().end, |t| t.range.end),
                    len
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn mutations_never_panic(
        which in 0usize..5,
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let name = [
            "llama-ggjt-v3.bin",
            "whisper-q8_0.bin",
            "lora.ggla",
            "gptj-ggml.bin",
            "silero-vad-tiny-ggml.bin",
        ][which];
        let mut bytes = fs::read(fixture(name)).unwrap();
        let n = bytes.len();
        for (i, b) in &edits {
            bytes[i.index(n)] = *b;
        }
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "m.bin", &bytes);
        if let Ok(file) = open(&p) {
            for t in file.tensors() {
                let _ = t.decode_f32(0..t.elements());
            }
        }
    }
}
