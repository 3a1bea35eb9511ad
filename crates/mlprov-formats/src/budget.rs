//! The memory budget: one limit on the bytes a model's readers may decode or inflate into
//! memory (deflated zip members, strided views gathered into row-major order, byte-swapped
//! or Fortran-order arrays, unpacked ONNX fields), whatever the file claims.
//!
//! Memory-mapped bytes cost nothing here: they are the file. Every reader asks the budget
//! before it allocates decoded bytes, so a small file that claims gigabytes is refused with
//! the number it needs, before the allocation. The budget is per opened model (every file
//! of a folder draws on the same one); `compare` opens two models, each with its own.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::ErrorKind;

/// Default budget: 4 GiB of decoded and inflated bytes per opened model.
pub const DEFAULT_MEMORY_BUDGET: u64 = 4 << 30;

/// What one opened model may still decode into memory.
#[derive(Debug)]
pub(crate) struct Budget {
    limit: u64,
    used: AtomicU64,
}

impl Budget {
    /// A budget of `limit` bytes.
    pub fn new(limit: u64) -> Self {
        Budget {
            limit,
            used: AtomicU64::new(0),
        }
    }

    /// Takes `n` bytes from the budget, or refuses with the total that would be needed.
    pub fn charge(&self, n: u64) -> Result<(), ErrorKind> {
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let needed = used.saturating_add(n);
            if needed > self.limit {
                return Err(ErrorKind::OverBudget {
                    needed,
                    budget: self.limit,
                });
            }
            match self
                .used
                .compare_exchange(used, needed, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Ok(()),
                Err(now) => used = now,
            }
        }
    }

    /// Refuses now, taking nothing, if `n` more bytes would not fit: lets a reader refuse
    /// before it starts work that would fail part way.
    pub fn check(&self, n: u64) -> Result<(), ErrorKind> {
        let needed = self.used.load(Ordering::Relaxed).saturating_add(n);
        if needed > self.limit {
            return Err(ErrorKind::OverBudget {
                needed,
                budget: self.limit,
            });
        }
        Ok(())
    }

    /// Bytes taken so far.
    #[cfg(test)]
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }
}

impl Default for Budget {
    fn default() -> Self {
        Budget::new(DEFAULT_MEMORY_BUDGET)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_past_the_limit_with_the_total_needed() {
        let b = Budget::new(100);
        b.charge(60).unwrap();
        let e = b.charge(50).unwrap_err();
        assert!(matches!(
            e,
            ErrorKind::OverBudget {
                needed: 110,
                budget: 100
            }
        ));
        assert_eq!(b.used(), 60);
        b.charge(40).unwrap();
        assert!(b.charge(u64::MAX).is_err());
        assert!(b.check(0).is_ok() && b.check(1).is_err());
    }
}
