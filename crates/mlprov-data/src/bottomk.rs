//! The bottom-k sketch of a dataset's distinct record digests: the k smallest. Digests are
//! uniform (BLAKE3), so the sketch is a uniform sample of the distinct records, and two
//! sketches give overlap estimates (see `compare`). Merging two sketches gives the sketch
//! of the union, whatever the order: the sketch of a dataset is the same on one machine or
//! merged from shards.

use std::collections::BTreeSet;

use mlprov_hash::Digest;

/// Default sketch size.
pub const DEFAULT_K: usize = 4096;

/// The k smallest distinct digests seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BottomK {
    k: usize,
    set: BTreeSet<Digest>,
}

impl BottomK {
    /// An empty sketch of size `k` (at least 1).
    pub fn new(k: usize) -> Self {
        BottomK {
            k: k.max(1),
            set: BTreeSet::new(),
        }
    }

    /// Sketch size.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Adds one digest.
    pub fn insert(&mut self, d: Digest) {
        if self.set.len() >= self.k {
            match self.set.last() {
                Some(max) if d < *max => {}
                _ => return,
            }
        }
        if self.set.insert(d) && self.set.len() > self.k {
            self.set.pop_last();
        }
    }

    /// Adds every digest of another sketch (of the same or larger k).
    pub fn merge(&mut self, other: &BottomK) {
        for d in &other.set {
            self.insert(*d);
        }
    }

    /// The digests, ascending.
    pub fn digests(&self) -> impl Iterator<Item = &Digest> + '_ {
        self.set.iter()
    }

    /// Whether `d` is in the sketch.
    pub fn contains(&self, d: &Digest) -> bool {
        self.set.contains(d)
    }

    /// Number of digests held (k, or fewer for a dataset with fewer distinct records).
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// Whether no digest was seen.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// Whether the sketch is full: then it holds only part of the dataset, and its largest
    /// digest is the threshold below which it holds every distinct digest of the dataset.
    pub fn is_full(&self) -> bool {
        self.set.len() >= self.k
    }

    /// The threshold: the largest digest if full, none (the whole dataset) otherwise.
    pub fn threshold(&self) -> Option<Digest> {
        if self.is_full() {
            self.set.last().copied()
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(i: u32) -> Digest {
        blake3::hash(&i.to_le_bytes()).into()
    }

    #[test]
    fn merge_equals_one_pass_in_any_order() {
        let mut all = BottomK::new(50);
        (0..1000).for_each(|i| all.insert(d(i)));
        let mut a = BottomK::new(50);
        let mut b = BottomK::new(50);
        (0..1000).rev().for_each(|i| {
            if i % 3 == 0 {
                a.insert(d(i))
            } else {
                b.insert(d(i))
            }
        });
        b.merge(&a);
        assert_eq!(all, b);
        assert!(all.is_full() && all.len() == 50);
        let mut dup = BottomK::new(50);
        (0..10).for_each(|_| dup.insert(d(1)));
        assert_eq!(dup.len(), 1);
    }
}
