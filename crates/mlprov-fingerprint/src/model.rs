//! Fingerprints of whole models: a sketch and a SimHash per tensor, and a compact lookup key.

use mlprov_formats::Model;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::anchored::{anchored_kernels, AnchorSet, AnchoredKernel};
use crate::gram::GramSketch;
use crate::sample::ValueSample;
use crate::simhash::SimHash;
use crate::sketch::{matrix_shape, TensorSketch};
use crate::values::Values;

/// Tensors with fewer elements carry too little evidence to fingerprint.
pub const MIN_ELEMENTS: usize = 64;
/// At most this many tensors (the largest) enter the lookup key: 1024 × 40 bytes < 64 KiB.
pub const LOOKUP_TENSORS: usize = 1024;

/// The fingerprint of one tensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorFingerprint {
    /// File the tensor is in (relative to the model root).
    pub file: String,
    /// Name in that file (for reports only: never evidence).
    pub name: String,
    /// Stored dtype.
    pub dtype: String,
    /// Stored shape.
    pub shape: Vec<usize>,
    /// Element count.
    pub elements: u64,
    /// Sampled values.
    pub sketch: TensorSketch,
    /// Locality-sensitive key of the sketch.
    pub simhash: SimHash,
    /// Cosines among sampled rows (invariant to column permutation/rotation/scaling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_gram: Option<GramSketch>,
    /// Cosines among sampled columns (invariant to row permutation/rotation/scaling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub col_gram: Option<GramSketch>,
    /// Anchored kernels, for matrices that read or write the residual stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchored: Option<AnchoredKernel>,
    /// The sketch's grid in full precision (with [`FingerprintOptions::samples`]): what
    /// lets a registered fingerprint stand in for the weights in the lineage test.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<ValueSample>,
}

/// What to compute.
#[derive(Debug, Clone, Copy, Default)]
pub struct FingerprintOptions {
    /// Also compute the invariants: the Gram sketches of every matrix (whole sampled rows,
    /// up to 4096 rows per matrix for column Grams) and the anchored kernels of the
    /// residual-stream matrices (every weight of those), so they cost far more than the sketch.
    pub invariants: bool,
    /// Also keep each tensor's sampled values in full precision ([`ValueSample`]), so the
    /// fingerprint can stand in for the weights (a registration): about 4 KiB per tensor.
    pub samples: bool,
}

/// A tensor that could not be fingerprinted, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unsketched {
    /// File.
    pub file: String,
    /// Tensor name.
    pub name: String,
    /// Reason.
    pub reason: String,
}

/// The fingerprint of a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelFingerprint {
    /// Per-tensor fingerprints, in file then offset order.
    pub tensors: Vec<TensorFingerprint>,
    /// Tensors left out (too small, or not decodable).
    pub skipped: Vec<Unsketched>,
    /// The anchor tokens the anchored kernels are expressed over (with invariants only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchors: Option<AnchorSet>,
}

/// One entry of the lookup key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookupEntry {
    /// Element count (so candidates of another size are not compared).
    pub elements: u64,
    /// The tensor's SimHash.
    pub simhash: SimHash,
}

impl ModelFingerprint {
    /// Fingerprints every tensor of a model in parallel, reading only sampled elements.
    pub fn of(model: &Model) -> Self {
        Self::with_options(model, FingerprintOptions::default())
    }

    /// Fingerprints with the given options.
    pub fn with_options(model: &Model, options: FingerprintOptions) -> Self {
        // Scales and zero points of quantized tensors are part of those tensors' values.
        let jobs: Vec<(&str, Values<'_>)> = model
            .files
            .iter()
            .flat_map(|f| {
                f.file
                    .tensors()
                    .filter(|t| !f.file.is_quant_aux(t.name))
                    .filter_map(|t| Values::of(&f.file, t.name).map(|v| (f.rel_path.as_str(), v)))
            })
            .collect();
        let results: Vec<Result<TensorFingerprint, Unsketched>> = jobs
            .par_iter()
            .map(|(file, view)| {
                let skip = |reason: String| Unsketched {
                    file: file.to_string(),
                    name: view.view().name.to_string(),
                    reason,
                };
                if view.elements() < MIN_ELEMENTS {
                    return Err(skip(format!("{} elements is too few", view.elements())));
                }
                let sketch = TensorSketch::from_view(view).map_err(|e| skip(e.to_string()))?;
                let (rows, cols) = matrix_shape(view.view().shape);
                let (row_gram, col_gram) = if options.invariants && rows > 1 {
                    GramSketch::of_view(view, rows, cols)
                } else {
                    (None, None)
                };
                let sample = if options.samples {
                    Some(
                        ValueSample::of(view, &sketch)
                            .ok_or_else(|| skip("a sampled value cannot be decoded".into()))?,
                    )
                } else {
                    None
                };
                Ok(TensorFingerprint {
                    anchored: None,
                    sample,
                    row_gram,
                    col_gram,
                    file: file.to_string(),
                    name: view.view().name.to_string(),
                    dtype: view.view().dtype.name().to_string(),
                    shape: view.view().shape.to_vec(),
                    elements: view.elements() as u64,
                    simhash: SimHash::of(&sketch),
                    sketch,
                })
            })
            .collect();
        let mut out = ModelFingerprint {
            tensors: Vec::new(),
            skipped: Vec::new(),
            anchors: None,
        };
        for r in results {
            match r {
                Ok(t) => out.tensors.push(t),
                Err(s) => out.skipped.push(s),
            }
        }
        if options.invariants {
            if let Some((set, kernels)) = anchored_kernels(model, &out.tensors) {
                for (t, k) in out.tensors.iter_mut().zip(kernels) {
                    t.anchored = k;
                }
                out.anchors = Some(set);
            }
        }
        out
    }

    /// The compact key a registry indexes: SimHashes of the largest tensors, largest first.
    pub fn lookup_key(&self) -> Vec<LookupEntry> {
        let mut entries: Vec<LookupEntry> = self
            .tensors
            .iter()
            .map(|t| LookupEntry {
                elements: t.elements,
                simhash: t.simhash,
            })
            .collect();
        entries.sort_by(|a, b| {
            b.elements
                .cmp(&a.elements)
                .then(a.simhash.0.cmp(&b.simhash.0))
        });
        entries.truncate(LOOKUP_TENSORS);
        entries
    }

    /// Bytes of the lookup key when stored (8 + 32 per entry).
    pub fn lookup_key_bytes(&self) -> usize {
        self.lookup_key().len() * 40
    }
}
