//! The result of the lineage test: the comparison and its tensor pairs.

use serde::Serialize;

use super::words::{Channel, Transform, Verdict};

/// What a matched pair of tensors is to each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PairKind {
    /// Bit-identical values at every compared position.
    SameValues,
    /// Equal within the error of the lossier of the two encodings.
    ReEncoded,
    /// Significantly correlated, but changed beyond encoding error.
    Correlated,
    /// An exact copy of a fixed (not learned) buffer: no evidence.
    FixedBuffer,
    /// No significant relation.
    Unrelated,
}

/// One tensor of a model, as reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TensorRef {
    /// File.
    pub file: String,
    /// Name.
    pub name: String,
    /// dtype.
    pub dtype: String,
    /// Shape.
    pub shape: Vec<usize>,
}

/// A tensor of B and the tensor of A it was matched to.
#[derive(Debug, Clone, Serialize)]
pub struct TensorPair {
    /// The tensor in A.
    pub a: TensorRef,
    /// The tensor in B.
    pub b: TensorRef,
    /// Elements of B's tensor.
    pub elements: u64,
    /// Correlation of the normalized sampled values.
    pub correlation: f64,
    /// Values compared.
    pub cells: usize,
    /// Whether B's tensor is A's transposed.
    pub transposed: bool,
    /// Which evidence matched them.
    pub channel: Channel,
    /// When B's rows are A's in blocks of another order (recurrent gate order differs
    /// between PyTorch and ONNX): B's block `i` is A's block `row_blocks[i]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row_blocks: Option<Vec<usize>>,
    /// Shape-compatible candidates in A the match was chosen from.
    pub candidates: usize,
    /// log10 of the pair's Šidák-corrected p-value (for a bit-exact pair, the stronger of
    /// that and the evidence of its equal values: see `docs/lineage.md`, step 7).
    pub log10_p: f64,
    /// log10 of the Šidák-corrected p-value of the strongest evidence for B's tensor
    /// against any tensor of A (usually this pair): the term of the combined p-value.
    pub evidence_log10_p: f64,
    /// RMS difference after the best per-row (or per-column) scale, relative to RMS of B.
    pub relative_error: f64,
    /// Spread (coefficient of variation) of those fitted scales: > 0 means rescaled channels.
    pub scale_spread: f64,
    /// Classification.
    pub kind: PairKind,
}

/// The full result.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// The verdict.
    pub verdict: Verdict,
    /// log10 of the combined p-value under [`crate::NULL_HYPOTHESIS`].
    pub log10_p: f64,
    /// Share of B's fingerprinted parameters that come from A (0 to 1): of a tensor that
    /// gained rows, only the part A explains.
    pub explained_share: f64,
    /// Share of A's fingerprinted parameters found again in B (0 to 1).
    pub covered_share: f64,
    /// Transforms seen between A and B (sorted by their words).
    pub transforms: Vec<Transform>,
    /// Layer map: B's layer index to A's, where names carry layer numbers.
    pub layer_map: Vec<(u32, u32)>,
    /// Pairs, in B's tensor order.
    pub pairs: Vec<TensorPair>,
    /// B's tensors with no shape-compatible tensor in A.
    pub unmatched: Vec<String>,
    /// The null hypothesis of the p-value.
    pub null_hypothesis: &'static str,
    /// The base-aware test, when A's base was given: how much of A's own changes B holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub own_changes: Option<crate::OwnChanges>,
}

impl PairKind {
    /// Whether the pair relates A and B (same values, re-encoded or correlated).
    pub fn related(self) -> bool {
        matches!(
            self,
            PairKind::SameValues | PairKind::ReEncoded | PairKind::Correlated
        )
    }
}

impl TensorPair {
    /// Elements of A's tensor.
    pub fn a_elements(&self) -> u64 {
        self.a.shape.iter().map(|&d| d as u64).product()
    }

    /// Elements of B's tensor that A can explain: all of them, unless B's tensor is the
    /// larger (rows, heads or units added), then as many as A's tensor has.
    pub fn explained_elements(&self) -> u64 {
        self.a_elements().min(self.elements)
    }

    /// Whether B's tensor has more elements than A's (rows or columns added).
    pub fn grew(&self) -> bool {
        self.elements > self.a_elements()
    }
}
