//! The model-specific headers of legacy GGML files that were common enough to recognize:
//! they give the offset of the first tensor record, the hyperparameters and the vocabulary.

use crate::meta::MetaValue;
use crate::readers::cursor::Cursor;

use super::Generation;

/// Most vocabulary entries accepted in a recognized header.
const MAX_VOCAB: u32 = 1 << 21;
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
}

/// `ggla`: version, then u32 r and u32 alpha.
pub(super) fn lora_header(buf: &[u8], after_magic: usize) -> Option<Header> {
    let mut c = Cursor::new(buf, after_magic);
    let r = c.u32().ok()?;
    let alpha = c.u32().ok()?;
    Some(Header {
        layout: "llama.cpp LoRA adapter",
        tensors_start: c.pos(),
        generation: Generation::Current,
        meta: vec![
            ("lora.r".into(), MetaValue::U64(r.into())),
            ("lora.alpha".into(), MetaValue::U64(alpha.into())),
        ],
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
        layout: LLAMA,
        tensors_start: c.pos(),
        generation,
        meta,
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
        layout: "whisper.cpp",
        tensors_start: c.pos(),
        generation,
        meta,
    })
}
