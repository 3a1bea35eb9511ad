//! The extraction budget of one top-level archive: bytes produced by decompressors and
//! bytes written to the temp folder, so a hostile archive cannot make the walk run forever.

use std::cell::Cell;
use std::fmt;
use std::io::{self, Read};
use std::rc::Rc;

/// Bytes one top-level file (with everything nested in it) may still decompress or extract.
#[derive(Debug)]
pub(crate) struct Budget {
    left: Cell<u64>,
    limit: u64,
}

/// The error a metered read returns once the budget is spent (carried inside `io::Error`).
#[derive(Debug)]
pub(crate) struct OverBudget(pub u64);

impl fmt::Display for OverBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "more than {} bytes decompressed or extracted from one archive (max_total_extract_bytes)",
            self.0
        )
    }
}

impl std::error::Error for OverBudget {}

impl Budget {
    pub(crate) fn new(limit: u64) -> Rc<Budget> {
        Rc::new(Budget {
            left: Cell::new(limit),
            limit,
        })
    }

    /// Takes `n` bytes from the budget, or fails when fewer are left.
    pub(crate) fn charge(&self, n: u64) -> io::Result<()> {
        match self.left.get().checked_sub(n) {
            Some(left) => {
                self.left.set(left);
                Ok(())
            }
            None => {
                self.left.set(0);
                Err(io::Error::other(OverBudget(self.limit)))
            }
        }
    }
}

/// Whether an I/O error is the budget running out.
pub(crate) fn is_over_budget(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<OverBudget>())
}

/// A reader whose every byte is charged to a budget (decompressor output).
pub(crate) struct Metered<R> {
    inner: R,
    budget: Rc<Budget>,
}

impl<R> Metered<R> {
    pub(crate) fn new(inner: R, budget: Rc<Budget>) -> Self {
        Metered { inner, budget }
    }
}

impl<R: Read> Read for Metered<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.budget.charge(n as u64)?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_metered_reader_stops_at_the_budget() {
        let budget = Budget::new(10);
        let mut r = Metered::new(&[7u8; 32][..], budget);
        let mut out = Vec::new();
        let e = r.read_to_end(&mut out).unwrap_err();
        assert!(is_over_budget(&e), "{e}");
    }
}
