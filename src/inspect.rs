//! `inspect`: what a model holds — files, formats, tensors and where their bytes live,
//! quantized pairs, dtypes that are listed but not decodable, and totals.

use std::collections::BTreeMap;

use mlprov_formats::{Model, Source, TensorView, WeightFile};
use serde::Serialize;

/// The inventory of a model (the `--json` form of `mlprov inspect`).
#[derive(Debug, Clone, Serialize)]
pub struct Inventory {
    /// `file` or `directory`.
    pub layout: &'static str,
    /// Every weight file.
    pub files: Vec<FileInventory>,
    /// Files left out because they are not weight files, and why.
    pub skipped: Vec<SkippedFile>,
    /// Sums over every file.
    pub totals: Totals,
}

/// One weight file.
#[derive(Debug, Clone, Serialize)]
pub struct FileInventory {
    /// Path relative to the model root.
    pub path: String,
    /// Format name (`safetensors`, `gguf`, …).
    pub format: &'static str,
    /// Format with version or variant (`gguf v3`).
    pub format_detail: String,
    /// Bytes.
    pub size: usize,
    /// Bytes of the header (everything before the tensor data, as the format defines it).
    pub header_bytes: usize,
    /// String metadata of the file (safetensors `__metadata__`, GGUF strings, …).
    pub metadata: BTreeMap<String, String>,
    /// Every tensor, in file order.
    pub tensors: Vec<TensorEntry>,
    /// External data files, as the model names them.
    pub external_files: Vec<String>,
    /// Quantized tensors and the scale (and zero-point) tensors they go with.
    pub quantized_pairs: Vec<QuantizedPair>,
    /// Dtypes present but not decodable to f32, with how many tensors use each.
    pub undecodable_dtypes: BTreeMap<&'static str, usize>,
}

/// One tensor.
#[derive(Debug, Clone, Serialize)]
pub struct TensorEntry {
    /// Name in its file.
    pub name: String,
    /// Element type.
    pub dtype: &'static str,
    /// Dimensions.
    pub shape: Vec<usize>,
    /// `file`, `external:LOCATION` or `decoded` (the reader had to decode the stored form).
    pub location: String,
    /// Byte offset in its source.
    pub offset: usize,
    /// Stored bytes.
    pub bytes: usize,
}

/// A quantized tensor and its scale.
#[derive(Debug, Clone, Serialize)]
pub struct QuantizedPair {
    /// The tensor of quantized values.
    pub quantized: String,
    /// Its scale tensor.
    pub scale: String,
    /// Its zero-point tensor, if any.
    pub zero_point: Option<String>,
    /// The axis the scales run along (none: one scale).
    pub axis: Option<usize>,
}

/// A file that is not a weight file.
#[derive(Debug, Clone, Serialize)]
pub struct SkippedFile {
    /// Path relative to the model root.
    pub path: String,
    /// Why it was left out.
    pub reason: String,
}

/// Sums over the model.
#[derive(Debug, Clone, Serialize)]
pub struct Totals {
    /// Weight files.
    pub files: usize,
    /// Tensors.
    pub tensors: usize,
    /// Elements of every tensor.
    pub parameters: u64,
    /// Bytes of every weight file.
    pub bytes: u64,
}

/// The inventory of an opened model.
pub fn inspect(model: &Model) -> Inventory {
    let files: Vec<FileInventory> = model
        .files
        .iter()
        .map(|f| file_inventory(&f.rel_path, &f.file))
        .collect();
    let totals = Totals {
        files: files.len(),
        tensors: files.iter().map(|f| f.tensors.len()).sum(),
        parameters: model
            .files
            .iter()
            .flat_map(|f| f.file.tensors())
            .fold(0u64, |n, t| n.saturating_add(t.elements() as u64)),
        bytes: files.iter().map(|f| f.size as u64).sum(),
    };
    Inventory {
        layout: model.layout.name(),
        files,
        skipped: model
            .skipped
            .iter()
            .map(|s| SkippedFile {
                path: s.rel_path.clone(),
                reason: s.error.kind.to_string(),
            })
            .collect(),
        totals,
    }
}

fn file_inventory(path: &str, file: &WeightFile) -> FileInventory {
    let mut undecodable_dtypes = BTreeMap::new();
    for t in file.tensors().filter(|t| !t.dtype.decodable()) {
        *undecodable_dtypes.entry(t.dtype.name()).or_insert(0) += 1;
    }
    FileInventory {
        path: path.to_string(),
        format: file.format().name(),
        format_detail: file.format().description(),
        size: file.len(),
        header_bytes: file.header_range().len(),
        metadata: file.metadata().clone(),
        tensors: file
            .tensors()
            .map(|t| TensorEntry {
                name: t.name.to_string(),
                dtype: t.dtype.name(),
                shape: t.shape.to_vec(),
                location: location(file, &t),
                offset: t.offset,
                bytes: t.bytes.len(),
            })
            .collect(),
        external_files: file
            .externals()
            .iter()
            .map(|e| e.location.clone())
            .collect(),
        quantized_pairs: file
            .quant_links()
            .iter()
            .map(|l| QuantizedPair {
                quantized: l.quantized.clone(),
                scale: l.scale.clone(),
                zero_point: l.zero_point.clone(),
                axis: l.axis,
            })
            .collect(),
        undecodable_dtypes,
    }
}

/// Where a tensor's bytes are.
fn location(file: &WeightFile, t: &TensorView<'_>) -> String {
    match t.source {
        Source::File => "file".to_string(),
        Source::External(i) => file.externals().get(i).map_or_else(
            || "external".to_string(),
            |e| format!("external:{}", e.location),
        ),
        Source::Decoded(_) => "decoded".to_string(),
    }
}
