//! Writing any readable model as safetensors: through the `safetensors` crate's own
//! serializer, with tensors produced lazily so memory holds one tensor at a time.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::tensor::{Dtype, View};

use crate::dtype::DType;
use crate::error::{Error, ErrorKind};
use crate::model::Model;
use crate::view::TensorView;

/// How to store each tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConvertDtype {
    /// The original dtype where safetensors has it; F32 for GGML block types.
    #[default]
    Keep,
    /// Everything as F32 (linked quantized tensors as their real values).
    F32,
}

/// How to convert a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConvertOptions {
    /// How to store each tensor.
    pub dtype: ConvertDtype,
    /// Leave out tensors that cannot be written (no decoder, no safetensors dtype) and list
    /// them in [`ConvertReport::skipped`], instead of failing with
    /// [`ErrorKind::Undecodable`].
    pub skip_undecodable: bool,
}

/// What a conversion wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvertReport {
    /// Tensors written.
    pub tensors: usize,
    /// Tensors decoded to F32 (block-quantized, or all with [`ConvertDtype::F32`]).
    pub decoded: usize,
    /// Tensors renamed because another file of the model already used the name.
    pub renamed: Vec<(String, String)>,
    /// Tensors left out (`file: tensor (dtype)`) because their dtype has no decoder and no
    /// safetensors equivalent; only with [`ConvertOptions::skip_undecodable`].
    pub skipped: Vec<String>,
}

/// The safetensors dtype that stores `d` as it is, if there is one.
pub fn safetensors_dtype(d: DType) -> Option<Dtype> {
    Some(match d {
        DType::Bool => Dtype::BOOL,
        DType::U8 => Dtype::U8,
        DType::I8 => Dtype::I8,
        DType::I16 => Dtype::I16,
        DType::U16 => Dtype::U16,
        DType::I32 => Dtype::I32,
        DType::U32 => Dtype::U32,
        DType::I64 => Dtype::I64,
        DType::U64 => Dtype::U64,
        DType::F16 => Dtype::F16,
        DType::BF16 => Dtype::BF16,
        DType::F32 => Dtype::F32,
        DType::F64 => Dtype::F64,
        DType::F8E4M3 => Dtype::F8_E4M3,
        DType::F8E5M2 => Dtype::F8_E5M2,
        DType::F8E8M0 => Dtype::F8_E8M0,
        DType::F4 => Dtype::F4,
        DType::F6E2M3 => Dtype::F6_E2M3,
        DType::F6E3M2 => Dtype::F6_E3M2,
        _ => return None,
    })
}

/// One output tensor: its bytes copied, or decoded to F32 when the serializer asks.
struct Lazy<'a> {
    view: TensorView<'a>,
    dequant: Option<crate::DequantView<'a>>,
    dtype: Dtype,
    decode: bool,
    /// A decoding error, reported after serialization (the trait cannot fail).
    failed: &'a std::sync::Mutex<Option<String>>,
}

impl View for &Lazy<'_> {
    fn dtype(&self) -> Dtype {
        self.dtype
    }

    fn shape(&self) -> &[usize] {
        self.view.shape
    }

    fn data(&self) -> Cow<'_, [u8]> {
        if !self.decode {
            return Cow::Borrowed(self.view.bytes);
        }
        let n = self.view.elements();
        let mut out = vec![0f32; n];
        let result = match &self.dequant {
            Some(d) => d.decode_f32_into(0..n, &mut out),
            None => self.view.decode_f32_into(0..n, &mut out),
        };
        if let Err(e) = result {
            if let Ok(mut f) = self.failed.lock() {
                f.get_or_insert(format!("tensor `{}`: {e}", self.view.name));
            }
        }
        Cow::Owned(out.iter().flat_map(|v| v.to_le_bytes()).collect())
    }

    fn data_len(&self) -> usize {
        if self.decode {
            self.view.elements() * 4
        } else {
            self.view.bytes.len()
        }
    }
}

/// Writes `model` to `out` as one safetensors file with `metadata` in its header; fails
/// with [`ErrorKind::Undecodable`], before writing anything, if a tensor can be neither
/// decoded nor stored as it is. Same as [`write_safetensors_with`] with default options
/// but `dtype`.
pub fn write_safetensors(
    model: &Model,
    out: &Path,
    dtype: ConvertDtype,
    metadata: BTreeMap<String, String>,
) -> Result<ConvertReport, Error> {
    let options = ConvertOptions {
        dtype,
        ..ConvertOptions::default()
    };
    write_safetensors_with(model, out, options, metadata)
}

/// Writes `model` to `out` as one safetensors file with `metadata` in its header.
/// The caller picks `out`; this writes it directly (callers wanting atomicity pass a
/// temporary path and rename). Tensors that can be neither decoded nor stored as they are
/// fail the conversion (naming them, before anything is written) unless
/// `options.skip_undecodable` leaves them out.
pub fn write_safetensors_with(
    model: &Model,
    out: &Path,
    options: ConvertOptions,
    mut metadata: BTreeMap<String, String>,
) -> Result<ConvertReport, Error> {
    let dtype = options.dtype;
    let failed = std::sync::Mutex::new(None);
    let mut report = ConvertReport {
        tensors: 0,
        decoded: 0,
        renamed: Vec::new(),
        skipped: Vec::new(),
    };
    let mut taken: HashMap<String, usize> = HashMap::new();
    let mut lazies: Vec<(String, Lazy<'_>)> = Vec::new();
    for f in &model.files {
        for view in f.file.tensors() {
            let dequant = match dtype {
                ConvertDtype::F32 => f.file.dequantized(view.name),
                ConvertDtype::Keep => None,
            };
            let (st, decode) = match (safetensors_dtype(view.dtype), dtype) {
                (Some(d), ConvertDtype::Keep) => (d, false),
                (Some(Dtype::F32), ConvertDtype::F32) if dequant.is_none() => (Dtype::F32, false),
                (_, _) if view.dtype.decodable() => (Dtype::F32, true),
                (Some(d), _) => (d, false),
                (None, _) => {
                    report.skipped.push(format!(
                        "{}: {} ({})",
                        f.rel_path,
                        view.name,
                        view.dtype.name()
                    ));
                    continue;
                }
            };
            let mut name = view.name.to_string();
            let seen = taken.entry(name.clone()).or_insert(0);
            *seen += 1;
            if *seen > 1 {
                let new = format!("{}#{}", name, seen);
                report
                    .renamed
                    .push((format!("{}: {}", f.rel_path, name), new.clone()));
                name = new;
            }
            report.decoded += usize::from(decode);
            lazies.push((
                name,
                Lazy {
                    view,
                    dequant,
                    dtype: st,
                    decode,
                    failed: &failed,
                },
            ));
        }
    }
    if !report.skipped.is_empty() && !options.skip_undecodable {
        return Err(Error::new(
            &model.root,
            ErrorKind::Undecodable(std::mem::take(&mut report.skipped)),
        ));
    }
    report.tensors = lazies.len();
    if !report.renamed.is_empty() {
        metadata.insert("mlprov.renamed".into(), report.renamed.len().to_string());
    }
    let views = lazies.iter().map(|(n, l)| (n.clone(), l));
    let metadata: HashMap<String, String> = metadata.into_iter().collect();
    safetensors::serialize_to_file(views, Some(metadata), out).map_err(|e| {
        Error::new(
            out,
            ErrorKind::InvalidHeader {
                format: "safetensors",
                detail: format!("cannot write: {e}"),
            },
        )
    })?;
    if let Some(problem) = failed.into_inner().ok().flatten() {
        let _ = std::fs::remove_file(out);
        return Err(Error::new(
            out,
            ErrorKind::InvalidHeader {
                format: "safetensors",
                detail: format!("cannot decode {problem}"),
            },
        ));
    }
    Ok(report)
}
