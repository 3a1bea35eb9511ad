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
    /// A scan's running totals: files and bytes looked at, models found, findings so far.
    fn scanned(&self, _files: u64, _bytes: u64, _models: u64, _findings: u64) {}
}

/// Shows nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct Quiet;

impl Progress for Quiet {}
