//! A dataset's record digests, kept for the Merkle root over them sorted. In memory up to
//! [`SPILL_DIGESTS`] (32 MiB); beyond that each full buffer is sorted and written to an
//! anonymous temporary file (in `TMPDIR`), and the sorted stream is a k-way merge of those
//! runs: memory stays bounded whatever the number of records (disk: 32 bytes a record).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};

use mlprov_hash::Digest;
use rayon::prelude::*;

/// Digests held in memory before a sorted run is written to disk.
pub const SPILL_DIGESTS: usize = 1 << 20;
/// Digests read at a time from each run while merging.
const RUN_BLOCK: usize = 2048;

/// Sorts `digests` and writes them to an anonymous temporary file as one sorted run.
pub fn sorted_run(mut digests: Vec<Digest>) -> io::Result<File> {
    sort_digests(&mut digests);
    let f = tempfile::tempfile()?;
    let mut w = BufWriter::new(f);
    for d in &digests {
        w.write_all(d.as_bytes())?;
    }
    w.into_inner().map_err(|e| e.into_error())
}

/// Buckets of [`sort_digests`]: by the first two bytes.
const BUCKETS: usize = 1 << 16;

/// Sorts digests ascending. Digests are uniform, so one counting pass on their first two
/// bytes puts each in a bucket of about `n / 65536`, and the small buckets are sorted
/// each on its own (in parallel): a few passes over the digests instead of the
/// `log2 n` rounds of a comparison sort.
pub fn sort_digests(digests: &mut Vec<Digest>) {
    if digests.len() < BUCKETS {
        digests.par_sort_unstable();
        return;
    }
    let bucket = |d: &Digest| usize::from(u16::from_be_bytes([d.0[0], d.0[1]]));
    let mut next = vec![0usize; BUCKETS];
    for d in digests.iter() {
        next[bucket(d)] += 1;
    }
    // `next[b]`: where bucket b's next digest goes (its start, before the scatter).
    let mut at = 0;
    for n in &mut next {
        let count = *n;
        *n = at;
        at += count;
    }
    let mut sorted = vec![Digest([0; 32]); digests.len()];
    for d in digests.iter() {
        let b = bucket(d);
        sorted[next[b]] = *d;
        next[b] += 1;
    }
    // After the scatter `next[b]` is bucket b's end: cut the buckets there.
    let mut buckets: Vec<&mut [Digest]> = Vec::with_capacity(BUCKETS);
    let mut rest = &mut sorted[..];
    let mut start = 0;
    for &end in &next {
        let (head, tail) = rest.split_at_mut(end - start);
        buckets.push(head);
        rest = tail;
        start = end;
    }
    buckets.par_iter_mut().for_each(|b| b.sort_unstable());
    *digests = sorted;
}

/// A run's digests, read a block at a time (a read per digest was most of the merge).
struct RunReader<'a> {
    file: &'a File,
    bytes: Vec<u8>,
    block: Vec<Digest>,
    at: usize,
}

impl<'a> RunReader<'a> {
    fn new(file: &'a File) -> Self {
        RunReader {
            file,
            bytes: vec![0; RUN_BLOCK * 32],
            block: Vec::with_capacity(RUN_BLOCK),
            at: 0,
        }
    }

    fn next(&mut self) -> io::Result<Option<Digest>> {
        if self.at == self.block.len() {
            self.refill()?;
        }
        let d = self.block.get(self.at).copied();
        self.at += 1;
        Ok(d)
    }

    /// Reads the next block; empty at the end. A run whose length is not a whole number
    /// of digests is an error, not a digest dropped.
    fn refill(&mut self) -> io::Result<()> {
        let mut filled = 0;
        while filled < self.bytes.len() {
            match self.file.read(&mut self.bytes[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if !filled.is_multiple_of(32) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "a digest list ends within a digest",
            ));
        }
        self.block.clear();
        self.block.extend(
            self.bytes[..filled]
                .chunks_exact(32)
                .filter_map(|c| <[u8; 32]>::try_from(c).ok())
                .map(Digest),
        );
        self.at = 0;
        Ok(())
    }
}

/// Record digests, in memory and in sorted runs on disk.
#[derive(Debug)]
pub struct DigestStore {
    buf: Vec<Digest>,
    runs: Vec<File>,
    limit: usize,
    failed: Option<io::Error>,
}

impl Default for DigestStore {
    fn default() -> Self {
        Self::with_limit(SPILL_DIGESTS)
    }
}

impl DigestStore {
    /// A store that spills every `limit` digests.
    pub fn with_limit(limit: usize) -> Self {
        DigestStore {
            buf: Vec::new(),
            runs: Vec::new(),
            limit: limit.max(1),
            failed: None,
        }
    }

    /// Adds a digest.
    pub fn push(&mut self, d: Digest) {
        self.buf.push(d);
        if self.buf.len() >= self.limit {
            self.spill();
        }
    }

    /// Adds every digest of another store (its runs are adopted as they are).
    pub fn absorb(&mut self, other: DigestStore) {
        if let Some(e) = other.failed {
            self.failed.get_or_insert(e);
        }
        self.runs.extend(other.runs);
        for d in other.buf {
            self.push(d);
        }
    }

    /// Adds a file of digests already sorted ascending (32 raw bytes each), such as a
    /// shard's digest list; its order is checked while merging.
    pub fn add_sorted_run(&mut self, file: File) {
        self.runs.push(file);
    }

    fn spill(&mut self) {
        if self.failed.is_some() {
            self.buf.clear();
            return;
        }
        match sorted_run(std::mem::take(&mut self.buf)) {
            Ok(f) => self.runs.push(f),
            Err(e) => self.failed = Some(e),
        }
    }

    /// Takes the in-memory digests out when there are at least [`SPILL_DIGESTS`] of them, so
    /// a caller holding the store behind a lock can write them as a run
    /// ([`sorted_run`], then [`DigestStore::add_sorted_run`]) without holding the lock.
    pub fn take_full(&mut self) -> Option<Vec<Digest>> {
        (self.buf.len() >= self.limit).then(|| std::mem::take(&mut self.buf))
    }

    /// Adds digests without spilling (the caller calls [`DigestStore::take_full`]).
    pub fn extend_unspilled(&mut self, digests: &[Digest]) {
        self.buf.extend_from_slice(digests);
    }

    /// Calls `each` on every digest in ascending order (duplicates included).
    pub fn for_each_sorted(
        &mut self,
        mut each: impl FnMut(&Digest) -> io::Result<()>,
    ) -> io::Result<()> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        sort_digests(&mut self.buf);
        if self.runs.is_empty() {
            return self.buf.iter().try_for_each(each);
        }
        let mut readers = Vec::with_capacity(self.runs.len());
        for f in &mut self.runs {
            f.seek(SeekFrom::Start(0))?;
            readers.push(RunReader::new(f));
        }
        let next = |r: &mut RunReader<'_>| r.next();
        // Source `readers.len()` is the in-memory buffer.
        let mut heap = BinaryHeap::new();
        for (i, r) in readers.iter_mut().enumerate() {
            if let Some(d) = next(r)? {
                heap.push(Reverse((d, i)));
            }
        }
        let mem = readers.len();
        let mut pos = 0;
        if let Some(d) = self.buf.first() {
            heap.push(Reverse((*d, mem)));
            pos = 1;
        }
        while let Some(Reverse((d, i))) = heap.pop() {
            each(&d)?;
            let following = if i == mem {
                let n = self.buf.get(pos).copied();
                pos += 1;
                n
            } else {
                next(&mut readers[i])?
            };
            if let Some(n) = following {
                if n < d {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "a digest list is not sorted",
                    ));
                }
                heap.push(Reverse((n, i)));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_sort_equals_a_comparison_sort() {
        for n in [0, 1, 5, BUCKETS - 1, BUCKETS, 3 * BUCKETS + 7] {
            let mut v: Vec<Digest> = (0..n as u32)
                .map(|i| blake3::hash(&(i % 70_000).to_le_bytes()).into())
                .collect();
            // Some digests sharing their first bytes, as a crafted dataset could have.
            for d in v.iter_mut().step_by(97) {
                d.0[..4].copy_from_slice(&[1, 2, 3, 4]);
            }
            let mut expected = v.clone();
            expected.sort();
            sort_digests(&mut v);
            assert_eq!(v, expected, "{n} digests");
        }
    }

    #[test]
    fn spilled_runs_merge_in_order() {
        let mut s = DigestStore::with_limit(7);
        let mut all = Vec::new();
        for i in 0..100u32 {
            let d: Digest = blake3::hash(&(i % 60).to_le_bytes()).into();
            s.push(d);
            all.push(d);
        }
        let mut other = DigestStore::with_limit(7);
        for i in 0..10u32 {
            let d: Digest = blake3::hash(&(1000 + i).to_le_bytes()).into();
            other.push(d);
            all.push(d);
        }
        s.absorb(other);
        // A run of several read blocks.
        let long: Vec<Digest> = (0..3 * RUN_BLOCK as u32 + 5)
            .map(|i| blake3::hash(&(5000 + i).to_le_bytes()).into())
            .collect();
        all.extend(&long);
        s.add_sorted_run(sorted_run(long).unwrap());
        all.sort();
        let mut out = Vec::new();
        s.for_each_sorted(|d| {
            out.push(*d);
            Ok(())
        })
        .unwrap();
        assert_eq!(out, all);
    }

    #[test]
    fn a_run_cut_within_a_digest_is_an_error() {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&[7u8; 32 * 3 + 5]).unwrap();
        let mut s = DigestStore::with_limit(7);
        s.push(Digest([1; 32]));
        s.add_sorted_run(f);
        let e = s.for_each_sorted(|_| Ok(())).unwrap_err();
        assert!(e.to_string().contains("within a digest"), "{e}");
    }
}
