//! What the lineage test concludes: the verdict, the shares, the transforms seen and the
//! layer map, from the classified pairs.

mod result;
mod summary;
mod words;

pub use result::{Comparison, PairKind, TensorPair, TensorRef};
pub(crate) use summary::summarize;
pub use words::{Channel, Transform, UnknownVerdict, Verdict};
