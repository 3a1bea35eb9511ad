//! The words of a comparison: verdicts, evidence channels and transforms, each spelt in
//! one place and serialized as that word.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// The answer of the lineage test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The same bytes.
    Identical,
    /// The same values in another container, with other names or order.
    SameWeights,
    /// The same weights through a dtype change or quantization.
    ReEncoded,
    /// Fine-tuned, pruned, merged, extended, layer subset, permuted, rotated or rescaled.
    Derived,
    /// Some components share ancestry, the rest does not.
    PartialReuse,
    /// B derives from A's base (or is the base) but carries none of A's own changes (the
    /// base-aware test; the words above then mean "of A's own work").
    SharesBase,
    /// No evidence of shared ancestry.
    Unrelated,
    /// Not enough comparable evidence either way.
    Inconclusive,
}

impl Verdict {
    /// Every verdict, strongest relation first.
    pub const ALL: [Verdict; 8] = [
        Verdict::Identical,
        Verdict::SameWeights,
        Verdict::ReEncoded,
        Verdict::Derived,
        Verdict::PartialReuse,
        Verdict::SharesBase,
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
            Verdict::SharesBase => "shares-base",
            Verdict::Unrelated => "unrelated",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

/// A word that is not a verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownVerdict {
    /// The word given.
    pub given: String,
}

impl fmt::Display for UnknownVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown verdict {:?}: expected one of ", self.given)?;
        for (i, v) in Verdict::ALL.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}{}", v.word())?;
        }
        Ok(())
    }
}

impl std::error::Error for UnknownVerdict {}

impl FromStr for Verdict {
    type Err = UnknownVerdict;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Verdict::ALL
            .into_iter()
            .find(|v| v.word() == s)
            .ok_or_else(|| UnknownVerdict {
                given: s.to_string(),
            })
    }
}

/// Which evidence matched a pair of tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    /// The value sketches (permutation test).
    Values,
    /// Cosines among sampled rows of both.
    RowGram,
    /// Cosines among sampled columns of both.
    ColumnGram,
    /// A's row cosines against B's column cosines.
    RowGramTransposed,
    /// A's column cosines against B's row cosines.
    ColumnGramTransposed,
    /// Anchored kernels, both read from the residual stream.
    AnchoredKernel,
    /// Anchored kernels, both written to the residual stream.
    AnchoredKernelOutput,
    /// A's reading kernel against B's writing kernel.
    AnchoredKernelTransposed,
    /// A's writing kernel against B's reading kernel.
    AnchoredKernelOutputTransposed,
}

impl Channel {
    /// The word used in reports and `--json`.
    pub fn word(self) -> &'static str {
        match self {
            Channel::Values => "values",
            Channel::RowGram => "row-gram",
            Channel::ColumnGram => "column-gram",
            Channel::RowGramTransposed => "row-gram (transposed)",
            Channel::ColumnGramTransposed => "column-gram (transposed)",
            Channel::AnchoredKernel => "anchored kernel",
            Channel::AnchoredKernelOutput => "anchored kernel (output side)",
            Channel::AnchoredKernelTransposed => "anchored kernel (transposed)",
            Channel::AnchoredKernelOutputTransposed => "anchored kernel (output side, transposed)",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

impl Serialize for Channel {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.word())
    }
}

/// A transform seen between A and B.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Transform {
    /// A dtype change (a cast or a quantization).
    Dtype {
        /// A's dtype.
        from: String,
        /// B's dtype.
        to: String,
    },
    /// A matrix stored transposed.
    Transposed,
    /// Tensor names changed.
    Renamed,
    /// Tensors in another order.
    Reordered,
    /// B's tensor keeps part of A's rows (or columns).
    RowsTruncated,
    /// B's tensor has rows (or columns) A does not have: vocabulary, heads or units added.
    RowsAdded,
    /// Rows in blocks of another order (heads, recurrent gates).
    RowBlocksReordered,
    /// Per-channel scales changed.
    PerChannelRescaling,
    /// Values changed beyond encoding error.
    ValuesChanged,
    /// Matched through an invariant only.
    MatchedByInvariants,
    /// Exact copies of fixed buffers, left out of the evidence.
    FixedBuffersIgnored,
    /// Some of A's layers are not in B.
    LayersDropped {
        /// A's layers found in B.
        kept: usize,
        /// A's layers.
        of: usize,
    },
    /// Some of A's layers appear more than once in B.
    LayersRepeated,
    /// B numbers its layers differently.
    LayersReindexed,
}

impl fmt::Display for Transform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = match self {
            Transform::Dtype { from, to } => return write!(f, "dtype {from} -> {to}"),
            Transform::LayersDropped { kept, of } => {
                return write!(f, "layers dropped ({kept} of {of} kept)")
            }
            Transform::Transposed => "transposed",
            Transform::Renamed => "renamed",
            Transform::Reordered => "reordered",
            Transform::RowsTruncated => "rows truncated",
            Transform::RowsAdded => "rows added",
            Transform::RowBlocksReordered => "row blocks reordered (heads or recurrent gates)",
            Transform::PerChannelRescaling => "per-channel rescaling",
            Transform::ValuesChanged => "values changed (fine-tuning or noise)",
            Transform::MatchedByInvariants => {
                "permuted, rotated or rescaled (matched by invariants)"
            }
            Transform::FixedBuffersIgnored => "shared fixed buffers ignored",
            Transform::LayersRepeated => "layers repeated (depth upscaling)",
            Transform::LayersReindexed => "layers re-indexed",
        };
        f.write_str(word)
    }
}

impl Serialize for Transform {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl PartialEq<str> for Transform {
    fn eq(&self, other: &str) -> bool {
        self.to_string().as_str() == other
    }
}

impl PartialEq<&str> for Transform {
    fn eq(&self, other: &&str) -> bool {
        self.to_string().as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_words_round_trip_and_match_serde() {
        for v in Verdict::ALL {
            assert_eq!(v.word().parse::<Verdict>(), Ok(v));
            assert_eq!(v.to_string(), v.word());
            assert_eq!(serde_json::to_value(v).unwrap(), v.word());
        }
        let err = "copied".parse::<Verdict>().unwrap_err().to_string();
        assert!(
            err.contains("partial-reuse") && err.contains("copied"),
            "{err}"
        );
    }

    #[test]
    fn transforms_serialize_to_their_words() {
        let t = Transform::Dtype {
            from: "F32".into(),
            to: "BF16".into(),
        };
        assert_eq!(t.to_string(), "dtype F32 -> BF16");
        assert_eq!(
            Transform::LayersDropped { kept: 3, of: 6 }.to_string(),
            "layers dropped (3 of 6 kept)"
        );
        assert!(Transform::RowsAdded == "rows added");
        assert_eq!(serde_json::to_value(&t).unwrap(), "dtype F32 -> BF16");
        assert_eq!(
            serde_json::to_value(Channel::AnchoredKernelOutput).unwrap(),
            "anchored kernel (output side)"
        );
    }
}
