//! Exact identity only: the part of a dataset's manifest that says which records it holds
//! (record and byte counts, per-file digests, the order-independent root, the bottom-k
//! sketch), without MinHash, perceptual hashes or privacy counts, as fast as the record
//! digests allow.
//!
//! Uncompressed JSON Lines and text files are memory-mapped and split at newlines into
//! byte ranges processed in parallel, while the file's plain BLAKE3 is computed (in
//! parallel too) over the same map. A line already in canonical form is digested straight
//! from the map (`canonical_fast`); other lines take the full canonicalization. No record
//! is copied on the fast path. Other formats and compressed files are read by the usual
//! readers with only the identity computed per record. The result equals the identity
//! fields of the full scan on the same data (tested).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use mlprov_hash::Digest;
use rayon::prelude::*;

use crate::bottomk::BottomK;
use crate::canonical::CanonicalOptions;
use crate::canonical_fast;
use crate::digests::{sorted_run, DigestStore};
use crate::error::{Error, Result};
use crate::identity::ContentKind;
use crate::readers::{
    for_each_range, line_at, line_too_long, lines, map_uncompressed, read_file, DataFile, Format,
    RangeStart, RawContent, RawRecord, ReadOptions, Sink, MAX_LINE,
};
use crate::record::{identity, RecordOptions};
use crate::scan::{FileSummary, ScanProgress};
use crate::sketch::{DatasetSketch, Identity};

/// How to compute a dataset's exact identity.
#[derive(Debug, Clone)]
pub struct ExactOptions {
    /// How files are read.
    pub read: ReadOptions,
    /// How records are canonicalized and digested (the MinHash part is not used).
    pub record: RecordOptions,
    /// Bottom-k size.
    pub k: usize,
}

/// A dataset's exact identity.
#[derive(Debug)]
pub struct ExactScanned {
    /// Its files, sorted by path.
    pub files: Vec<FileSummary>,
    /// Records read.
    pub records: u64,
    /// Bytes of their canonical forms.
    pub bytes: u64,
    /// The Merkle root over the sorted record digests and the distinct count.
    pub identity: Identity,
    /// The k smallest distinct record digests.
    pub bottom_k: BottomK,
}

/// Record digests and counts gathered from all files.
struct Gathered {
    records: u64,
    bytes: u64,
    digests: DigestStore,
}

struct Shared<'a> {
    opts: &'a ExactOptions,
    gathered: Mutex<Gathered>,
    progress: &'a dyn ScanProgress,
}

fn failed(file: &DataFile) -> Error {
    Error::input(&file.path, "a worker thread failed")
}

impl Shared<'_> {
    /// Adds one batch of records' digests and canonical lengths. A full buffer of digests
    /// is sorted and written out after the lock is released, so the other workers go on.
    fn add(&self, file: &DataFile, digests: &[Digest], bytes: u64) -> Result<()> {
        let n = digests.len() as u64;
        let full = {
            let mut g = self.gathered.lock().map_err(|_| failed(file))?;
            g.records += n;
            g.bytes += bytes;
            g.digests.extend_unspilled(digests);
            g.digests.take_full()
        };
        if let Some(buf) = full {
            let run = sorted_run(buf).map_err(|e| {
                Error::input(&file.path, format!("cannot write record digests: {e}"))
            })?;
            self.gathered
                .lock()
                .map_err(|_| failed(file))?
                .digests
                .add_sorted_run(run);
        }
        self.progress.records(n);
        Ok(())
    }
}

/// Computes the exact identity of the dataset made of `files` (in parallel over files and
/// within each file).
pub fn exact_scan(
    files: &[DataFile],
    opts: &ExactOptions,
    progress: &dyn ScanProgress,
) -> Result<ExactScanned> {
    let shared = Shared {
        opts,
        gathered: Mutex::new(Gathered {
            records: 0,
            bytes: 0,
            digests: DigestStore::default(),
        }),
        progress,
    };
    let per_file: Vec<(Digest, u64)> = files
        .par_iter()
        .map(|f| scan_file(f, &shared))
        .collect::<Result<_>>()?;
    let mut summaries: Vec<FileSummary> = files
        .iter()
        .zip(per_file)
        .map(|(f, (digest, records))| FileSummary {
            rel: f.rel.clone(),
            format: f.format,
            size: f.size,
            digest,
            records,
        })
        .collect();
    summaries.sort_by(|a, b| a.rel.cmp(&b.rel));
    let g = shared
        .gathered
        .into_inner()
        .map_err(|_| Error::input("dataset", "a worker thread failed"))?;
    // The sketch's own `finish` makes the root, so it is the full scan's by construction;
    // the bottom-k is the first k distinct digests of the same sorted stream.
    let mut sketch = DatasetSketch::new(opts.k, 1);
    sketch.records = g.records;
    sketch.bytes = g.bytes;
    sketch.digests = g.digests;
    let mut bottom_k = BottomK::new(opts.k);
    let identity = sketch
        .finish(|d| {
            if !bottom_k.is_full() {
                bottom_k.insert(*d);
            }
            Ok(())
        })
        .map_err(|e| Error::input("dataset", format!("cannot sort the record digests: {e}")))?;
    Ok(ExactScanned {
        files: summaries,
        records: g.records,
        bytes: g.bytes,
        identity,
        bottom_k,
    })
}

/// One file: its plain digest and number of records.
fn scan_file(file: &DataFile, shared: &Shared<'_>) -> Result<(Digest, u64)> {
    if matches!(file.format, Format::Jsonl | Format::TextLines) {
        if let Some(done) = mapped(file, shared)? {
            return Ok(done);
        }
    }
    streamed(file, shared)
}

/// A line format read through a memory map, or `None` when the file cannot be mapped or is
/// compressed (then it is streamed).
fn mapped(file: &DataFile, shared: &Shared<'_>) -> Result<Option<(Digest, u64)>> {
    let Some(map) = map_uncompressed(file) else {
        return Ok(None);
    };
    let whole: &[u8] = &map;
    // Lines are numbered only if an error needs a number: counting them is a pass of its own.
    let (digest, counted) = for_each_range(&map, false, |chunk, at| {
        scan_range(file, chunk, at, whole, shared)
    });
    // The earliest bad line of the file is the one reported, as a serial read would.
    let mut records = 0u64;
    for r in counted {
        records += r?;
    }
    map.check_unchanged()
        .map_err(|e| Error::input(&file.path, e.to_string()))?;
    Ok(Some((digest, records)))
}

/// Canonical lines gathered before their digests are computed together: enough to fill
/// the sixteen lanes of each length group, few enough (about 256 KiB of text) that the
/// lines just checked are still in the core's cache when hashed.
const HASH_BATCH: usize = 512;

/// The records of one range of a mapped line file (`at` in `whole`); returns how many.
fn scan_range(
    file: &DataFile,
    chunk: &[u8],
    at: RangeStart,
    whole: &[u8],
    shared: &Shared<'_>,
) -> Result<u64> {
    let ropts = &shared.opts.record;
    let field = ropts.field.as_deref();
    let mut digests = Vec::with_capacity(chunk.len() / 128);
    // Lines already canonical, digested together (sixteen at a time) while still in cache;
    // with them, the canonical forms of JSON lines that are not, written into `rewritten`.
    let mut fast: Vec<&[u8]> = Vec::with_capacity(HASH_BATCH);
    let mut rewritten = Rewritten::default();
    let mut total = 0u64;
    // The number of the range's `i`-th line (0-based), for an error message.
    let line_no = |i: u64| at.first_line.unwrap_or_else(|| line_at(whole, at.offset)) + i;
    for (i, line) in (0u64..).zip(lines(chunk)) {
        if line.len() as u64 > MAX_LINE {
            return Err(line_too_long(file, line_no(i)));
        }
        if line.trim_ascii().is_empty() {
            continue;
        }
        let canonical = match file.format {
            Format::Jsonl => canonical_fast::json_line_bytes(line, field, ropts.canonical),
            _ => canonical_fast::text_line(line, ropts.canonical).map(str::as_bytes),
        };
        if let Some(t) = canonical {
            fast.push(t);
            total += t.len() as u64;
        } else {
            let written = match file.format {
                Format::Jsonl => rewritten.push(line, field, ropts.canonical),
                _ => None,
            };
            if let Some(n) = written {
                total += n;
            } else {
                let (d, n) = slow_line(file, line, i, &line_no, ropts)?;
                digests.push(d);
                total += n;
                continue;
            }
        }
        if fast.len() + rewritten.len() >= HASH_BATCH {
            rewritten.digest_with(&mut fast, ropts, &mut digests);
        }
    }
    rewritten.digest_with(&mut fast, ropts, &mut digests);
    let n = digests.len() as u64;
    shared.add(file, &digests, total)?;
    shared.progress.bytes(chunk.len() as u64);
    Ok(n)
}

/// Canonical forms written out (JSON lines not canonical as written), one after another.
#[derive(Default)]
struct Rewritten {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl Rewritten {
    /// Writes `line`'s canonical form; its length, or `None` when the full path must decide.
    fn push(&mut self, line: &[u8], field: Option<&str>, opts: CanonicalOptions) -> Option<u64> {
        let start = self.bytes.len();
        canonical_fast::json_line_into(line, field, opts, &mut self.bytes)?;
        self.ends.push(self.bytes.len());
        Some((self.bytes.len() - start) as u64)
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    /// Digests these forms and the lines of `fast` together, then empties both.
    fn digest_with(
        &mut self,
        fast: &mut Vec<&[u8]>,
        opts: &RecordOptions,
        digests: &mut Vec<Digest>,
    ) {
        let mut start = 0;
        let mut all: Vec<&[u8]> = fast.clone();
        for &end in &self.ends {
            all.push(self.bytes.get(start..end).unwrap_or_default());
            start = end;
        }
        opts.hasher.digest_many(ContentKind::Text, &all, digests);
        fast.clear();
        self.bytes.clear();
        self.ends.clear();
    }
}

/// A line the fast path could not decide (the range's `i`-th): the full canonicalization.
/// A record's number only appears in errors, and numbering costs a count of the lines
/// before the range, so a failing line is canonicalized again with its number.
fn slow_line(
    file: &DataFile,
    line: &[u8],
    i: u64,
    line_no: &dyn Fn(u64) -> u64,
    opts: &RecordOptions,
) -> Result<(Digest, u64)> {
    let canonicalize = |index: u64| {
        let content = match file.format {
            Format::Jsonl => RawContent::JsonLine(line.to_vec()),
            _ => RawContent::Text(
                String::from_utf8(line.to_vec())
                    .map_err(|_| Error::record(&file.path, index, "not UTF-8 text"))?,
            ),
        };
        identity(RawRecord { index, content }, file, opts)
    };
    canonicalize(i).or_else(|_| canonicalize(line_no(i)))
}

/// Receives a streamed file's batches and keeps only their identity.
struct IdentitySink<'a, 'b> {
    shared: &'a Shared<'b>,
    records: AtomicU64,
}

impl Sink for IdentitySink<'_, '_> {
    fn bytes(&self, n: u64) {
        self.shared.progress.bytes(n);
    }

    fn batch(&self, file: &DataFile, records: Vec<RawRecord>) -> Result<()> {
        let opts = &self.shared.opts.record;
        let done: Vec<(Digest, u64)> = records
            .into_par_iter()
            .map(|r| identity(r, file, opts))
            .collect::<Result<_>>()?;
        let bytes = done.iter().map(|(_, n)| n).sum();
        self.records.fetch_add(done.len() as u64, Ordering::Relaxed);
        let digests: Vec<Digest> = done.into_iter().map(|(d, _)| d).collect();
        self.shared.add(file, &digests, bytes)
    }
}

/// Any format, through its reader.
fn streamed(file: &DataFile, shared: &Shared<'_>) -> Result<(Digest, u64)> {
    let sink = IdentitySink {
        shared,
        records: AtomicU64::new(0),
    };
    let digest = read_file(file, &shared.opts.read, &sink)?;
    Ok((digest, sink.records.load(Ordering::Relaxed)))
}
