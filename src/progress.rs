//! Progress reports from long operations; the caller decides how (or whether) to show them.

/// Receives progress from an operation. Every method has a do-nothing default.
pub trait Progress: Sync {
    /// A stage of `total` bytes begins (`what` says what it does).
    fn bytes(&self, _what: &str, _total: u64) {}
    /// `n` more bytes of the current stage are done.
    fn advance(&self, _n: u64) {}
    /// `n` more records were read (dataset operations, beside their byte count).
    fn records(&self, _n: u64) {}
    /// A stage without a byte count begins.
    fn stage(&self, _what: &str) {}
    /// The current stage is over.
    fn done(&self) {}
}

/// Shows nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct Quiet;

impl Progress for Quiet {}
