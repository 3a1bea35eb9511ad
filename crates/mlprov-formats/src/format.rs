//! Which container format a file is, with its version or variant.

/// A container format we can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    /// Hugging Face safetensors.
    Safetensors,
    /// GGUF (llama.cpp / ggml), versions 2 and 3.
    Gguf {
        /// The header's version field.
        version: u32,
    },
    /// A legacy GGML container (before GGUF): ggml, ggmf, ggjt or ggla.
    Ggml(GgmlVariant),
    /// An ONNX model (weights in initializers, Constant nodes and subgraphs; maybe external data).
    Onnx,
    /// A `torch.save` checkpoint (zip format).
    PyTorch,
    /// A TorchScript archive (`torch.jit.save`).
    TorchScript,
    /// A NumPy `.npy` array.
    Npy,
    /// A NumPy `.npz` archive.
    Npz,
}

impl Format {
    /// Lower-case name used in output and manifests.
    pub fn name(self) -> &'static str {
        match self {
            Format::Safetensors => "safetensors",
            Format::Gguf { .. } => "gguf",
            Format::Ggml(_) => "ggml",
            Format::Onnx => "onnx",
            Format::PyTorch => "pytorch",
            Format::TorchScript => "torchscript",
            Format::Npy => "npy",
            Format::Npz => "npz",
        }
    }

    /// The name with the version or variant, e.g. `gguf v3`, `ggml (ggjt v3)`.
    pub fn description(self) -> String {
        match self {
            Format::Gguf { version } => format!("gguf v{version}"),
            Format::Ggml(GgmlVariant::WhisperVad) => "ggml lmgg (whisper.cpp VAD)".to_string(),
            Format::Ggml(v) => format!("ggml ({})", v.name()),
            other => other.name().to_string(),
        }
    }

    /// The format's name in error messages (`GGUF`, `PyTorch` for both torch archives…).
    pub(crate) fn label(self) -> &'static str {
        match self {
            Format::Safetensors => "safetensors",
            Format::Gguf { .. } => "GGUF",
            Format::Ggml(_) => "GGML",
            Format::Onnx => "ONNX",
            Format::PyTorch | Format::TorchScript => "PyTorch",
            Format::Npy | Format::Npz => "NumPy",
        }
    }
}

/// Which legacy GGML container a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GgmlVariant {
    /// `ggml`: unversioned (llama.cpp before May 2023, whisper.cpp, the ggml examples).
    Ggml,
    /// `ggmf` with its version (only 1 exists).
    Ggmf(u32),
    /// `ggjt` v1–v3 (llama.cpp, 2023): tensor data aligned to 32 bytes.
    Ggjt(u32),
    /// `ggla`: a llama.cpp LoRA adapter.
    Ggla(u32),
    /// whisper.cpp's Silero voice-activity-detection model: the `ggml` magic (bytes `lmgg`),
    /// then a model-type string and the silero-vad version (whisper.cpp, 2025).
    WhisperVad,
}

impl GgmlVariant {
    /// Name with version, e.g. `ggjt v3`, `unversioned`, `lmgg (whisper.cpp VAD)`.
    pub fn name(self) -> String {
        match self {
            GgmlVariant::Ggml => "unversioned".to_string(),
            GgmlVariant::Ggmf(v) => format!("ggmf v{v}"),
            GgmlVariant::Ggjt(v) => format!("ggjt v{v}"),
            GgmlVariant::Ggla(v) => format!("ggla v{v}"),
            GgmlVariant::WhisperVad => "lmgg (whisper.cpp VAD)".to_string(),
        }
    }

    /// Whether tensor data is aligned to a 32-byte file offset.
    pub(crate) fn padded(self) -> bool {
        matches!(self, GgmlVariant::Ggjt(_) | GgmlVariant::Ggla(_))
    }
}
