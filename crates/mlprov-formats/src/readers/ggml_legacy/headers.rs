//! The model-specific headers of legacy GGML files that were common enough to recognize:
//! they give the offset of the first tensor record, the hyperparameters and the vocabulary.

use crate::meta::MetaValue;
use crate::readers::cursor::Cursor;

use crate::format::GgmlVariant;

use super::blocks::Generation;

/// Most vocabulary entries accepted in a recognized header.
const MAX_VOCAB: u32 = 1 << 21;
/// Longest VAD model-type string accepted (the converter writes `silero-16k`).
const MAX_VAD_TYPE_LEN: i32 = 256;
/// Largest part of a VAD model's version accepted.
const MAX_VAD_VERSION: i32 = 9999;
/// Largest VAD size or channel count accepted (silero's are 512 and below).
const MAX_VAD_DIM: i32 = 1 << 16;
/// Most VAD encoder layers accepted (silero has 4).
const MAX_VAD_LAYERS: i32 = 64;
/// Header label of llama.cpp files.
pub(super) const LLAMA: &str = "llama.cpp";

/// What a recognized header says.
pub(super) struct Header {
    /// Which writer's layout it is, for the `ggml.header` metadata entry.
    pub layout: &'static str,
    /// Offset of the first tensor record.
    pub tensors_start: usize,
    /// The quantized block layouts the writer used.
    pub generation: Generation,
    /// Hyperparameters and vocabulary, as metadata.
    pub meta: Vec<(String, MetaValue)>,
    /// A record may have no dimensions (see [`super::records::Rules::scalars`]).
    pub scalars: bool,
    /// How many tensors the header implies, when it does: fewer means a truncated file.
    pub tensor_count: Option<usize>,
    /// The variant the header makes the file, when the magic alone does not say.
    pub variant: Option<GgmlVariant>,
}

impl Header {
    /// A header recognized by its layout alone: records with dimensions, any count.
    fn plain(layout: &'static str, tensors_start: usize, generation: Generation) -> Self {
        Header {
            layout,
            tensors_start,
            generation,
            meta: Vec::new(),
            scalars: false,
            tensor_count: None,
            variant: None,
        }
    }

    /// The header of a file whose tensor records were found without understanding it.
    pub(super) fn unrecognized(tensors_start: usize, generation: Generation) -> Self {
        Header::plain("unrecognized", tensors_start, generation)
    }
}

/// `ggla`: version, then u32 r and u32 alpha.
pub(super) fn lora_header(buf: &[u8], after_magic: usize) -> Option<Header> {
    let mut c = Cursor::new(buf, after_magic);
    let r = c.u32().ok()?;
    let alpha = c.u32().ok()?;
    Some(Header {
        meta: vec![
            ("lora.r".into(), MetaValue::U64(r.into())),
            ("lora.alpha".into(), MetaValue::U64(alpha.into())),
        ],
        ..Header::plain("llama.cpp LoRA adapter", c.pos(), Generation::Current)
    })
}

/// llama.cpp: n_vocab, n_embd, n_mult, n_head, n_layer, n_rot, ftype; then per token
/// u32 length, bytes and (ggmf, ggjt) an f32 score.
pub(super) fn llama_header(
    buf: &[u8],
    after_magic: usize,
    scores: bool,
    generation: Generation,
) -> Option<Header> {
    let mut c = Cursor::new(buf, after_magic);
    let names = [
        "n_vocab", "n_embd", "n_mult", "n_head", "n_layer", "n_rot", "ftype",
    ];
    let limits = [MAX_VOCAB, 1 << 17, 1 << 17, 1 << 12, 1 << 10, 1 << 12, 64];
    let mut hp = [0u32; 7];
    for (i, v) in hp.iter_mut().enumerate() {
        *v = c.u32().ok()?;
        let floor = if i == 6 { 0 } else { 1 };
        if *v < floor || *v > limits[i] {
            return None;
        }
    }
    let n_vocab = hp[0];
    let per_token = if scores { 8 } else { 4 };
    if u64::from(n_vocab) * per_token > c.remaining() as u64 {
        return None;
    }
    let mut tokens = Vec::with_capacity(n_vocab as usize);
    let mut token_scores = Vec::with_capacity(if scores { n_vocab as usize } else { 0 });
    for _ in 0..n_vocab {
        let len = c.u32().ok()?;
        if len >= 4096 {
            return None;
        }
        let text = c.take(len.into()).ok()?;
        tokens.push(MetaValue::Str(String::from_utf8_lossy(text).into_owned()));
        if scores {
            let s = f32::from_bits(c.u32().ok()?);
            token_scores.push(MetaValue::F64(s.into()));
        }
    }
    let mut meta: Vec<(String, MetaValue)> = names
        .iter()
        .zip(hp)
        .map(|(n, v)| (format!("llama.{n}"), MetaValue::U64(v.into())))
        .collect();
    meta.push(("tokenizer.ggml.tokens".into(), MetaValue::Array(tokens)));
    if scores {
        meta.push((
            "tokenizer.ggml.scores".into(),
            MetaValue::Array(token_scores),
        ));
    }
    Some(Header {
        meta,
        ..Header::plain(LLAMA, c.pos(), generation)
    })
}

/// whisper.cpp: 11 i32 hyperparameters (the last is ftype + 1000 × quantization version),
/// mel filters (n_mel, n_fft, f32 × n_mel × n_fft), then i32 token count and per token
/// i32 length and bytes.
pub(super) fn whisper_header(buf: &[u8], after_magic: usize) -> Option<Header> {
    let mut c = Cursor::new(buf, after_magic);
    let names = [
        "n_vocab",
        "n_audio_ctx",
        "n_audio_state",
        "n_audio_head",
        "n_audio_layer",
        "n_text_ctx",
        "n_text_state",
        "n_text_head",
        "n_text_layer",
        "n_mels",
        "ftype",
    ];
    let mut hp = [0i32; 11];
    for (i, v) in hp.iter_mut().enumerate() {
        *v = c.i32().ok()?;
        let ok = match i {
            0 => (1..=MAX_VOCAB as i32).contains(v),
            9 => (1..=1024).contains(v),
            10 => *v >= 0 && *v % 1000 <= 64,
            _ => (1..=1 << 16).contains(v),
        };
        if !ok {
            return None;
        }
    }
    let n_mel = c.i32().ok()?;
    let n_fft = c.i32().ok()?;
    if n_mel != hp[9] || !(1..=1 << 16).contains(&n_fft) {
        return None;
    }
    c.take(n_mel as u64 * n_fft as u64 * 4).ok()?;
    let n_tokens = c.i32().ok()?;
    let n_tokens = u32::try_from(n_tokens).ok().filter(|&n| n <= MAX_VOCAB)?;
    if u64::from(n_tokens) * 4 > c.remaining() as u64 {
        return None;
    }
    let mut tokens = Vec::with_capacity(n_tokens as usize);
    for _ in 0..n_tokens {
        let len = u32::try_from(c.i32().ok()?).ok().filter(|&l| l < 1 << 16)?;
        let text = c.take(len.into()).ok()?;
        tokens.push(MetaValue::Str(String::from_utf8_lossy(text).into_owned()));
    }
    let generation = match hp[10] / 1000 {
        0 => Generation::Original,
        1 => Generation::Ggjt2,
        2 => Generation::Current,
        _ => Generation::Unknown,
    };
    let mut meta: Vec<(String, MetaValue)> = names
        .iter()
        .zip(hp)
        .map(|(n, v)| (format!("whisper.{n}"), MetaValue::I64(v.into())))
        .collect();
    meta.push(("whisper.n_fft".into(), MetaValue::I64(n_fft.into())));
    meta.push(("tokenizer.ggml.tokens".into(), MetaValue::Array(tokens)));
    Some(Header {
        meta,
        ..Header::plain("whisper.cpp", c.pos(), generation)
    })
}

/// whisper.cpp's Silero VAD, as `models/convert-silero-vad-to-ggml.py` writes it and
/// `whisper_vad_init_with_params` reads it (whisper.cpp since May 2025): i32 length and
/// bytes of the model type (`silero-16k`), i32 major, minor and patch of the silero-vad
/// release, i32 window and context sizes, i32 encoder layer count and per layer i32 in
/// channels, out channels and kernel size, then i32 LSTM input and hidden sizes and i32
/// final conv in and out channels. The loader expects two tensors per encoder layer, four
/// LSTM tensors, the final conv weight and bias and the STFT basis, all f32 or f16; the
/// converter squeezes the one-element final bias to no dimensions at all.
pub(super) fn vad_header(buf: &[u8], after_magic: usize) -> Option<Header> {
    let mut c = Cursor::new(buf, after_magic);
    let type_len = c
        .i32()
        .ok()
        .filter(|n| (1..=MAX_VAD_TYPE_LEN).contains(n))?;
    let model_type = c.take(type_len as u64).ok()?;
    let model_type = std::str::from_utf8(model_type)
        .ok()
        .filter(|t| t.bytes().all(|b| b.is_ascii_graphic()))?
        .to_string();
    let mut version = [0i32; 3];
    for part in &mut version {
        *part = c.i32().ok().filter(|v| (0..=MAX_VAD_VERSION).contains(v))?;
    }
    let size =
        |c: &mut Cursor<'_>, min: i32| c.i32().ok().filter(|v| (min..=MAX_VAD_DIM).contains(v));
    let n_window = size(&mut c, 1)?;
    let n_context = size(&mut c, 0)?;
    let n_layers = c.i32().ok().filter(|n| (1..=MAX_VAD_LAYERS).contains(n))?;
    let mut layers: [Vec<MetaValue>; 3] = Default::default();
    for _ in 0..n_layers {
        for list in &mut layers {
            list.push(MetaValue::I64(size(&mut c, 1)?.into()));
        }
    }
    let mut tail = [0i32; 4];
    for v in &mut tail {
        *v = size(&mut c, 1)?;
    }
    let [ins, outs, kernels] = layers;
    let mut meta = vec![
        ("vad.model_type".to_string(), MetaValue::Str(model_type)),
        (
            "vad.version".to_string(),
            MetaValue::Str(format!("{}.{}.{}", version[0], version[1], version[2])),
        ),
        ("vad.n_window".to_string(), MetaValue::I64(n_window.into())),
        (
            "vad.n_context".to_string(),
            MetaValue::I64(n_context.into()),
        ),
        (
            "vad.n_encoder_layers".to_string(),
            MetaValue::I64(n_layers.into()),
        ),
        ("vad.encoder_in_channels".to_string(), MetaValue::Array(ins)),
        (
            "vad.encoder_out_channels".to_string(),
            MetaValue::Array(outs),
        ),
        ("vad.kernel_sizes".to_string(), MetaValue::Array(kernels)),
    ];
    let names = [
        "lstm_input_size",
        "lstm_hidden_size",
        "final_conv_in",
        "final_conv_out",
    ];
    meta.extend(
        names
            .iter()
            .zip(tail)
            .map(|(n, v)| (format!("vad.{n}"), MetaValue::I64(v.into()))),
    );
    Some(Header {
        meta,
        scalars: true,
        // Encoder weight and bias per layer, 4 LSTM, 2 final conv, 1 STFT basis.
        tensor_count: Some(n_layers as usize * 2 + 7),
        variant: Some(GgmlVariant::WhisperVad),
        ..Header::plain("whisper.cpp VAD", c.pos(), Generation::Current)
    })
}
