//! The mergeable dataset sketch: everything a manifest holds about a dataset's records.
//! Every part merges exactly (counts add, the bottom-k and the near-duplicate samples keep
//! the smallest digests of the union, the record digests concatenate and are sorted at the
//! end), so a sketch built from shards equals the sketch one pass would build.

use std::collections::BTreeMap;

use mlprov_hash::{subtree_root, Digest, MerkleStream};
use rayon::prelude::*;

use crate::bottomk::BottomK;
use crate::digests::DigestStore;
use crate::minhash::Signature;
use crate::privacy::PrivacyCounts;

/// Near-duplicate sample size by default: 2401 records give a 95% interval of at most
/// ±2 points for a share (1.96 · sqrt(0.25 / 2401) = 0.02).
pub const DEFAULT_SAMPLE: usize = 2401;

/// One sampled record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleEntry<T> {
    /// Where it is: `file#record`.
    pub record: String,
    /// Its MinHash signature or perceptual hash.
    pub value: T,
}

/// The records with the smallest digests, with their near-duplicate signatures: a uniform
/// sample of the distinct records (digests are uniform), the same whatever the order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample<T> {
    size: usize,
    map: BTreeMap<Digest, SampleEntry<T>>,
}

impl<T> Sample<T> {
    /// An empty sample of at most `size` records.
    pub fn new(size: usize) -> Self {
        Sample {
            size: size.max(1),
            map: BTreeMap::new(),
        }
    }

    /// The target size.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Whether a record with digest `d` would enter the sample.
    pub fn wants(&self, d: &Digest) -> bool {
        self.map.len() < self.size
            || self.map.contains_key(d)
            || self.map.last_key_value().is_some_and(|(max, _)| d < max)
    }

    /// Offers a record; of two records with the same digest the one with the smaller
    /// `record` name is kept, so the outcome does not depend on the order.
    pub fn offer(&mut self, d: Digest, record: impl FnOnce() -> String, value: T) {
        if !self.wants(&d) {
            return;
        }
        let record = record();
        match self.map.get_mut(&d) {
            Some(e) if e.record <= record => {}
            Some(e) => *e = SampleEntry { record, value },
            None => {
                self.map.insert(d, SampleEntry { record, value });
                if self.map.len() > self.size {
                    self.map.pop_last();
                }
            }
        }
    }

    /// Merges another sample.
    pub fn merge(&mut self, other: Sample<T>) {
        for (d, e) in other.map {
            self.offer(d, || e.record, e.value);
        }
    }

    /// The sampled records, by ascending digest.
    pub fn entries(&self) -> impl Iterator<Item = (&Digest, &SampleEntry<T>)> + '_ {
        self.map.iter()
    }

    /// Number of records held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// Everything mergeable about a dataset's records.
#[derive(Debug)]
pub struct DatasetSketch {
    /// Records read.
    pub records: u64,
    /// Bytes of their canonical forms.
    pub bytes: u64,
    /// Every record's digest, for the Merkle root (in memory up to a bound, then in sorted
    /// runs on disk; see `docs/datasets.md`).
    pub digests: DigestStore,
    /// Bottom-k of the distinct record digests.
    pub bottom_k: BottomK,
    /// Text records read (those with a MinHash signature).
    pub text_records: u64,
    /// Image records read (those with a perceptual hash).
    pub image_records: u64,
    /// Sample of text records with their MinHash signatures.
    pub text_sample: Sample<Signature>,
    /// Sample of image records with their perceptual hashes.
    pub image_sample: Sample<u64>,
    /// Privacy pattern counts.
    pub privacy: PrivacyCounts,
}

/// A finished sketch: the digests sorted into the dataset's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Merkle root over the sorted record digests.
    pub root: Digest,
    /// Number of distinct record digests.
    pub distinct: u64,
}

impl DatasetSketch {
    /// An empty sketch with bottom-k size `k` and near-duplicate sample size `sample`.
    pub fn new(k: usize, sample: usize) -> Self {
        DatasetSketch {
            records: 0,
            bytes: 0,
            digests: DigestStore::default(),
            bottom_k: BottomK::new(k),
            text_records: 0,
            image_records: 0,
            text_sample: Sample::new(sample),
            image_sample: Sample::new(sample),
            privacy: PrivacyCounts::default(),
        }
    }

    /// Merges another sketch of other records into this one.
    pub fn merge(&mut self, other: DatasetSketch) {
        self.records += other.records;
        self.bytes += other.bytes;
        self.digests.absorb(other.digests);
        self.bottom_k.merge(&other.bottom_k);
        self.text_records += other.text_records;
        self.image_records += other.image_records;
        self.text_sample.merge(other.text_sample);
        self.image_sample.merge(other.image_sample);
        self.privacy.merge(&other.privacy);
    }

    /// Streams the digests in ascending order into the Merkle root (each also handed to
    /// `each`, for a shard's digest list) and counts the distinct ones. The merge runs on
    /// this thread while another hashes what it has merged so far, whole subtrees of
    /// [`SUBTREE`] leaves in parallel; the root is the same as leaf by leaf.
    pub fn finish(
        &mut self,
        mut each: impl FnMut(&Digest) -> std::io::Result<()>,
    ) -> std::io::Result<Identity> {
        let batch = SUBTREE * SUBTREES_AT_ONCE;
        let digests = &mut self.digests;
        std::thread::scope(|scope| {
            // Two batches in flight at most: memory stays bounded if hashing lags.
            let (send, receive) = std::sync::mpsc::sync_channel::<Vec<Digest>>(2);
            let hashing = scope.spawn(move || {
                let mut tree = MerkleStream::new();
                let mut pending: Vec<Digest> = Vec::with_capacity(2 * batch);
                for b in receive {
                    pending.extend(b);
                    push_subtrees(&mut tree, &mut pending);
                }
                pending.iter().for_each(|d| tree.push(d));
                tree
            });
            let mut distinct = 0u64;
            let mut last: Option<Digest> = None;
            let mut pending: Vec<Digest> = Vec::with_capacity(batch);
            let gone = || std::io::Error::other("the Merkle hashing thread stopped");
            let merged = digests.for_each_sorted(|d| {
                if last != Some(*d) {
                    distinct += 1;
                    last = Some(*d);
                }
                pending.push(*d);
                if pending.len() == batch {
                    let full = std::mem::replace(&mut pending, Vec::with_capacity(batch));
                    send.send(full).map_err(|_| gone())?;
                }
                each(d)
            });
            let sent = send.send(pending);
            drop(send);
            let tree = hashing.join().map_err(|_| gone())?;
            merged?;
            sent.map_err(|_| gone())?;
            Ok(Identity {
                root: tree.root(),
                distinct,
            })
        })
    }
}

/// Leaves of a subtree hashed as one parallel task (a power of two).
pub const SUBTREE: usize = 1 << 12;
/// Subtrees gathered before they are hashed in parallel.
const SUBTREES_AT_ONCE: usize = 16;

/// Appends the whole subtrees of `pending` to `tree` (roots computed in parallel), leaving
/// the leaves that do not fill one in `pending`. `tree` holds a multiple of [`SUBTREE`]
/// leaves whenever this is called, so each subtree is aligned.
fn push_subtrees(tree: &mut MerkleStream, pending: &mut Vec<Digest>) {
    let whole = pending.len() / SUBTREE * SUBTREE;
    let roots: Vec<Digest> = pending[..whole]
        .par_chunks(SUBTREE)
        .map(subtree_root)
        .collect();
    for r in roots {
        // Aligned by construction (see above); a misaligned push would be a bug here.
        let pushed = tree.push_subtree(SUBTREE.trailing_zeros(), r);
        debug_assert!(pushed);
    }
    pending.drain(..whole);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(i: u32) -> Digest {
        blake3::hash(&i.to_le_bytes()).into()
    }

    #[test]
    fn sample_keeps_smallest_and_is_order_free() {
        let mut a = Sample::new(10);
        let mut b = Sample::new(10);
        for i in 0..100 {
            a.offer(d(i), || format!("f#{i}"), i);
        }
        for i in (0..100).rev() {
            b.offer(d(i), || format!("f#{i}"), i);
        }
        assert_eq!(a, b);
        assert_eq!(a.len(), 10);
        // The same record twice: the smaller name stays.
        let mut c = Sample::new(3);
        c.offer(d(1), || "z#1".into(), 1);
        c.offer(d(1), || "a#9".into(), 1);
        assert_eq!(c.entries().next().unwrap().1.record, "a#9");
    }

    #[test]
    fn root_by_parallel_subtrees_equals_the_tree_root() {
        for n in [
            0,
            1,
            SUBTREE - 1,
            SUBTREE,
            3 * SUBTREE + 5,
            40 * SUBTREE + 17,
        ] {
            let mut s = DatasetSketch::new(4, 4);
            let all: Vec<Digest> = (0..n as u32).map(|i| d(i % 50_000)).collect();
            for x in &all {
                s.digests.push(*x);
            }
            let id = s.finish(|_| Ok(())).unwrap();
            assert_eq!(
                id.root,
                mlprov_hash::MerkleTree::new(all).root(),
                "{n} leaves"
            );
        }
    }
}
