//! What the lineage test concludes: the verdict, the shares, the transforms seen and the
//! layer map, from the classified pairs.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::lineage::{NULL_HYPOTHESIS, SIGNIFICANT_LOG10_P, UNRELATED_LOG10_P};
use crate::model::ModelFingerprint;
use crate::names::layer_of;
use crate::stats::{log10_normal_tail, z_of_log10_tail};

/// A verdict of `unrelated` needs at least this many compared values; fewer is inconclusive.
const MIN_CELLS_FOR_UNRELATED: usize = 2_000;
/// Share of each model's parameters the other must account for to be a whole copy
/// (same weights or re-encoded) rather than a derivative.
const COMPLETE_SHARE: f64 = 0.98;
/// Share of B's parameters that must come from A for `derived` rather than `partial-reuse`.
const DERIVED_SHARE: f64 = 0.5;

/// The answer of the lineage test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The same bytes.
    Identical,
    /// The same values in another container, with other names or order.
    SameWeights,
    /// The same weights through a dtype change or quantization.
    ReEncoded,
    /// Fine-tuned, pruned, merged, layer subset, permuted, rotated or rescaled.
    Derived,
    /// Some components share ancestry, the rest does not.
    PartialReuse,
    /// No evidence of shared ancestry.
    Unrelated,
    /// Not enough comparable evidence either way.
    Inconclusive,
}

impl Verdict {
    /// Every verdict, from the strongest relation to none.
    pub const ALL: [Verdict; 7] = [
        Verdict::Identical,
        Verdict::SameWeights,
        Verdict::ReEncoded,
        Verdict::Derived,
        Verdict::PartialReuse,
        Verdict::Unrelated,
        Verdict::Inconclusive,
    ];

    /// The word used in reports and `--json`.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Identical => "identical",
            Verdict::SameWeights => "same-weights",
            Verdict::ReEncoded => "re-encoded",
            Verdict::Derived => "derived",
            Verdict::PartialReuse => "partial-reuse",
            Verdict::Unrelated => "unrelated",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.word())
    }
}

impl std::str::FromStr for Verdict {
    type Err = String;

    /// Parses [`Verdict::word`]; the error lists the valid words.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Verdict::ALL
            .into_iter()
            .find(|v| v.word() == s)
            .ok_or_else(|| {
                let words: Vec<&str> = Verdict::ALL.iter().map(|v| v.word()).collect();
                format!("unknown verdict `{s}` (one of {})", words.join(", "))
            })
    }
}

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
    /// Which evidence matched them: `values`, or a Gram pairing such as `row-gram`.
    pub channel: &'static str,
    /// When B's rows are A's in blocks of another order (recurrent gate order differs
    /// between PyTorch and ONNX): B's block `i` is A's block `row_blocks[i]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row_blocks: Option<Vec<usize>>,
    /// Shape-compatible candidates in A the match was chosen from.
    pub candidates: usize,
    /// log10 of the pair's Šidák-corrected p-value.
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
    /// log10 of the combined p-value under [`NULL_HYPOTHESIS`].
    pub log10_p: f64,
    /// Share of B's fingerprinted parameters whose tensors come from A (0 to 1).
    pub explained_share: f64,
    /// Share of A's fingerprinted parameters found again in B (0 to 1).
    pub covered_share: f64,
    /// Transforms seen between A and B.
    pub transforms: Vec<String>,
    /// Layer map: B's layer index to A's, where names carry layer numbers.
    pub layer_map: Vec<(u32, u32)>,
    /// Pairs, in B's tensor order.
    pub pairs: Vec<TensorPair>,
    /// B's tensors with no shape-compatible tensor in A.
    pub unmatched: Vec<String>,
    /// The null hypothesis of the p-value.
    pub null_hypothesis: &'static str,
}

pub(crate) fn summarize(
    fa: &ModelFingerprint,
    fb: &ModelFingerprint,
    pairs: Vec<TensorPair>,
    unmatched: Vec<String>,
    alignment: Option<Vec<(u32, Option<u32>)>>,
) -> Comparison {
    let total_b: f64 = fb.tensors.iter().map(|t| t.elements as f64).sum();
    let total_a: f64 = fa.tensors.iter().map(|t| t.elements as f64).sum();
    let related = |k: PairKind| {
        matches!(
            k,
            PairKind::SameValues | PairKind::ReEncoded | PairKind::Correlated
        )
    };
    let explained: f64 = pairs
        .iter()
        .filter(|p| related(p.kind))
        .map(|p| p.elements as f64)
        .sum();
    // What of A reappears in B: a truncated tensor covers only the part B kept.
    let covered: f64 = pairs
        .iter()
        .filter(|p| related(p.kind))
        .map(|p| {
            let a_elems: usize = p.a.shape.iter().product();
            (a_elems as u64).min(p.elements) as f64
        })
        .sum();
    let fixed: f64 = pairs
        .iter()
        .filter(|p| p.kind == PairKind::FixedBuffer)
        .map(|p| p.elements as f64)
        .sum();
    // (`+ 0.0` turns the -0.0 an empty f64 sum gives into 0.0.)
    let explained_share = if total_b > fixed {
        explained / (total_b - fixed) + 0.0
    } else {
        0.0
    };
    // (At most 1: a tied embedding matched by both of B's untied copies counts once.)
    let covered_share = if total_a > fixed {
        (covered / (total_a - fixed)).min(1.0) + 0.0
    } else {
        0.0
    };

    // Weighted Stouffer over the pairs that carry evidence.
    let (mut num, mut den, mut cells) = (0.0f64, 0.0f64, 0usize);
    for p in pairs.iter().filter(|p| p.kind != PairKind::FixedBuffer) {
        let w = (p.elements as f64).sqrt();
        // Floored at -3: a term far weaker than chance (a p near 1 after the Šidák
        // correction) must not hide the rest; with uniform terms the floor moves the
        // null mean of a term by 4e-4.
        num += w * z_of_log10_tail(p.evidence_log10_p).max(-3.0);
        den += w * w;
        cells += p.cells;
    }
    let log10_p = if den > 0.0 {
        log10_normal_tail(num / den.sqrt()).min(0.0)
    } else {
        0.0
    };

    let evidence: Vec<&TensorPair> = pairs
        .iter()
        .filter(|p| p.kind != PairKind::FixedBuffer)
        .collect();
    let share_of = |kinds: &[PairKind]| {
        let n: f64 = pairs
            .iter()
            .filter(|p| kinds.contains(&p.kind))
            .map(|p| p.elements as f64)
            .sum();
        if total_b > fixed {
            n / (total_b - fixed)
        } else {
            0.0
        }
    };
    // A whole copy is one-to-one: B holding some of A's tensors twice (depth upscaling)
    // is a derivative even when every value is A's.
    let mut uses: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for p in pairs.iter().filter(|p| related(p.kind)) {
        *uses
            .entry((p.a.file.as_str(), p.a.name.as_str()))
            .or_default() += 1;
    }
    let one_to_one = uses.values().all(|&n| n == 1);
    let whole_a = covered_share >= COMPLETE_SHARE && one_to_one;
    let all_exact = whole_a && share_of(&[PairKind::SameValues]) >= COMPLETE_SHARE;
    let all_encoded =
        whole_a && share_of(&[PairKind::SameValues, PairKind::ReEncoded]) >= COMPLETE_SHARE;
    let verdict = if evidence.is_empty() {
        Verdict::Inconclusive
    } else if all_exact {
        Verdict::SameWeights
    } else if all_encoded {
        Verdict::ReEncoded
    } else if log10_p < SIGNIFICANT_LOG10_P {
        // Derived means most of B comes from A, by parameters and by tensors alike: large
        // embeddings alone carried over into an otherwise new network are partial reuse.
        let tensors = evidence.len().max(1) as f64;
        let related_tensors = evidence.iter().filter(|p| related(p.kind)).count() as f64;
        if explained_share >= DERIVED_SHARE && related_tensors / tensors >= DERIVED_SHARE {
            Verdict::Derived
        } else {
            Verdict::PartialReuse
        }
    } else if log10_p > UNRELATED_LOG10_P && cells >= MIN_CELLS_FOR_UNRELATED {
        Verdict::Unrelated
    } else {
        Verdict::Inconclusive
    };

    let mut transforms = std::collections::BTreeSet::new();
    let mut a_order = Vec::new();
    for p in pairs.iter().filter(|p| related(p.kind)) {
        if p.a.dtype != p.b.dtype {
            transforms.insert(format!("dtype {} -> {}", p.a.dtype, p.b.dtype));
        }
        if p.transposed {
            transforms.insert("transposed".to_string());
        }
        if p.a.name != p.b.name {
            transforms.insert("renamed".to_string());
        }
        if p.a.shape != p.b.shape && !p.transposed {
            transforms.insert("rows truncated".to_string());
        }
        if p.row_blocks.is_some() {
            transforms.insert("row blocks reordered (heads or recurrent gates)".to_string());
        }
        // Fitted scales spread by more than the residual error explains: real rescaling,
        // not noise or quantization error moving the fit.
        if p.scale_spread > 0.02 && p.scale_spread > 2.0 * p.relative_error {
            transforms.insert("per-channel rescaling".to_string());
        }
        if p.kind == PairKind::Correlated && p.channel == "values" {
            transforms.insert("values changed (fine-tuning or noise)".to_string());
        }
        if p.channel != "values" {
            transforms.insert("permuted, rotated or rescaled (matched by invariants)".to_string());
        }
        a_order.push(
            fa.tensors
                .iter()
                .position(|t| t.name == p.a.name && t.file == p.a.file),
        );
    }
    if a_order.windows(2).any(|w| w[0] > w[1]) {
        transforms.insert("reordered".to_string());
    }
    if pairs.iter().any(|p| p.kind == PairKind::FixedBuffer) {
        transforms.insert("shared fixed buffers ignored".to_string());
    }

    // Layer map: B's layers aligned to A's, kept where a related pair joins them; without
    // an alignment, for each B layer the A layer most of its related tensors came from.
    let mut votes: BTreeMap<u32, BTreeMap<u32, usize>> = BTreeMap::new();
    for p in pairs.iter().filter(|p| related(p.kind)) {
        if let (Some(la), Some(lb)) = (layer_of(&p.a.name), layer_of(&p.b.name)) {
            *votes.entry(lb).or_default().entry(la).or_default() += 1;
        }
    }
    let layer_map: Vec<(u32, u32)> = match &alignment {
        Some(map) => map
            .iter()
            .filter_map(|&(lb, la)| la.map(|la| (lb, la)))
            .filter(|(lb, la)| votes.get(lb).is_some_and(|v| v.contains_key(la)))
            .collect(),
        None => votes
            .iter()
            .filter_map(|(&lb, v)| v.iter().max_by_key(|(_, &n)| n).map(|(&la, _)| (lb, la)))
            .collect(),
    };
    let a_layers: std::collections::BTreeSet<u32> = fa
        .tensors
        .iter()
        .filter_map(|t| layer_of(&t.name))
        .collect();
    let kept: std::collections::BTreeSet<u32> = layer_map.iter().map(|&(_, la)| la).collect();
    if !kept.is_empty() && kept.len() < a_layers.len() {
        transforms.insert(format!(
            "layers dropped ({} of {} kept)",
            kept.len(),
            a_layers.len()
        ));
    }
    let mut sources: Vec<u32> = layer_map.iter().map(|&(_, la)| la).collect();
    sources.sort_unstable();
    if sources.windows(2).any(|w| w[0] == w[1]) {
        transforms.insert("layers repeated (depth upscaling)".to_string());
    }
    if layer_map.iter().any(|(lb, la)| lb != la) {
        transforms.insert("layers re-indexed".to_string());
    }

    Comparison {
        verdict,
        log10_p,
        explained_share,
        covered_share,
        transforms: transforms.into_iter().collect(),
        layer_map,
        pairs,
        unmatched,
        null_hypothesis: NULL_HYPOTHESIS,
    }
}
