//! Uncompressed line files (JSON Lines, text) read through a memory map, in parallel: the
//! map is cut at newlines into ranges of a few MiB, each range's records are batched and
//! handed to the sink by its own task, and the file's plain BLAKE3 is computed over the
//! same map at the same time. Reading, hashing and processing then overlap, instead of one
//! thread reading while the others wait for its batches.

use std::ops::Range;

use mlprov_formats::FileMap;
use mlprov_hash::Digest;
use rayon::prelude::*;

use super::{Batcher, DataFile, Format, RawContent, Sink, MAX_LINE};
use crate::error::{Error, Result};

/// Bytes of a mapped file handed to one task (cut at the next newline).
pub(crate) const RANGE: usize = 4 << 20;

/// The file mapped, unless it cannot be mapped (then it is streamed) or is compressed.
pub(crate) fn map_uncompressed(file: &DataFile) -> Option<FileMap> {
    let map = mlprov_formats::map_file(&file.path).ok()?;
    let compressed = map.starts_with(&[0x1f, 0x8b]) || map.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]);
    (!compressed).then_some(map)
}

/// Where the range of about `size` bytes starting at `start` ends: just after the first
/// newline at or past `start + size`, or at the end of `bytes`.
fn cut_after(bytes: &[u8], start: usize, size: usize) -> usize {
    let probe = start.saturating_add(size).min(bytes.len());
    match bytes
        .get(probe..)
        .and_then(|rest| memchr::memchr(b'\n', rest))
    {
        Some(i) => probe + i + 1,
        None => bytes.len(),
    }
}

/// Cuts `bytes` into ranges of about `size` bytes, each ending just after a newline (the
/// last at the end).
pub(crate) fn split_at_newlines(bytes: &[u8], size: usize) -> Vec<Range<usize>> {
    let mut out = Vec::with_capacity(bytes.len() / size.max(1) + 1);
    let mut start = 0;
    while start < bytes.len() {
        let end = cut_after(bytes, start, size);
        out.push(start..end);
        start = end;
    }
    out
}

/// `ranges` of `bytes` each with the 1-based number of its first line, numbering from
/// `first` (newlines counted in parallel: records are numbered by line); returns them and
/// the number of the line after the last range.
fn numbered(bytes: &[u8], ranges: &[Range<usize>], first: u64) -> (Vec<(Range<usize>, u64)>, u64) {
    let counts: Vec<u64> = ranges
        .par_iter()
        .map(|r| {
            memchr::memchr_iter(b'\n', bytes.get(r.clone()).unwrap_or_default()).count() as u64
        })
        .collect();
    let mut next = first;
    let numbered = ranges
        .iter()
        .zip(counts)
        .map(|(r, n)| {
            let at = next;
            next += n;
            (r.clone(), at)
        })
        .collect();
    (numbered, next)
}

/// The lines of `chunk`, each with its `\n` if it has one.
pub(crate) fn lines(chunk: &[u8]) -> impl Iterator<Item = &[u8]> + '_ {
    let mut pos = 0;
    std::iter::from_fn(move || {
        if pos >= chunk.len() {
            return None;
        }
        let end = memchr::memchr(b'\n', &chunk[pos..]).map_or(chunk.len(), |i| pos + i + 1);
        let line = &chunk[pos..end];
        pos = end;
        Some(line)
    })
}

/// Bytes of a mapped file worked on at a time: hashed and read, then its pages released,
/// so the process's resident memory does not grow with the file.
const EPOCH: usize = 64 << 20;
/// Epochs asked of the disk ahead of the one worked on (page cache, not this process's
/// memory: the pages are mapped in only when touched).
const AHEAD: usize = 3;

/// Where a range of a mapped file starts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RangeStart {
    /// Its byte offset in the file.
    pub offset: usize,
    /// The 1-based number of its first line, when the caller asked for line numbers.
    pub first_line: Option<u64>,
}

/// The 1-based number of the line starting at byte `offset` of `bytes` (counted on demand:
/// for an error message, when the ranges were not numbered).
pub(crate) fn line_at(bytes: &[u8], offset: usize) -> u64 {
    1 + memchr::memchr_iter(b'\n', bytes.get(..offset).unwrap_or_default()).count() as u64
}

/// Runs `each` on every range of the map (its bytes and where it starts) in parallel,
/// while computing the file's plain BLAKE3 over the same bytes, `EPOCH` bytes at a time,
/// releasing each epoch's pages once done. With `number_lines`, each range gets the number
/// of its first line (one more pass over the bytes; without it, [`line_at`] finds a line's
/// number when an error needs it). Returns the digest and every range's result, in file
/// order (so the caller reports the earliest error).
pub(crate) fn for_each_range<T: Send>(
    map: &FileMap,
    number_lines: bool,
    each: impl Fn(&[u8], RangeStart) -> Result<T> + Sync,
) -> (Digest, Vec<Result<T>>) {
    let inline = |upto: usize| map.will_need(upto.saturating_sub(AHEAD * EPOCH), AHEAD * EPOCH);
    if map.len() <= 2 * RANGE {
        // A small file is asked for whole by the first request: no thread for it (a
        // folder may hold many thousands of small files; a thread costs tens of
        // microseconds to start, nothing against reading a few MiB).
        return hash_and_process(map, number_lines, &each, inline);
    }
    std::thread::scope(|scope| {
        // The disk is asked for the next epochs by a thread of its own: asking costs
        // kernel time, and asked for between epochs, it held up both workers.
        let (ask, asked) = std::sync::mpsc::channel::<usize>();
        let asker = std::thread::Builder::new()
            .name("mlprov-readahead".into())
            .spawn_scoped(scope, move || {
                let mut asked_to = 0;
                for upto in asked {
                    if upto > asked_to {
                        map.will_need(asked_to, upto - asked_to);
                        asked_to = upto;
                    }
                }
            });
        // Without the thread (the system refused one), the asking is done inline.
        let read_ahead = |upto: usize| {
            if asker.is_err() || ask.send(upto).is_err() {
                inline(upto);
            }
        };
        hash_and_process(map, number_lines, &each, read_ahead)
    })
}

/// The body of [`for_each_range`]; `read_ahead(upto)` asks for the file up to `upto`.
fn hash_and_process<T: Send>(
    map: &FileMap,
    number_lines: bool,
    each: &(impl Fn(&[u8], RangeStart) -> Result<T> + Sync),
    read_ahead: impl Fn(usize),
) -> (Digest, Vec<Result<T>>) {
    let bytes: &[u8] = map;
    let mut hasher = blake3::Hasher::new();
    let mut results = Vec::new();
    let mut next_line = 1u64;
    let mut start = 0;
    read_ahead(AHEAD * EPOCH);
    while start < bytes.len() {
        // Each epoch is cut into ranges only when it is reached: cutting the whole file
        // first would fault a page at every cut, and on a cold cache each such fault reads
        // a read-ahead window around it, one after another.
        let end = cut_after(bytes, start, EPOCH);
        let epoch: Vec<Range<usize>> =
            split_at_newlines(bytes.get(start..end).unwrap_or_default(), RANGE)
                .into_iter()
                .map(|r| start + r.start..start + r.end)
                .collect();
        let epoch = &epoch[..];
        let span = bytes.get(start..end).unwrap_or_default();
        // The next epochs are read from disk while this one is worked on.
        read_ahead(end.saturating_add(AHEAD * EPOCH));
        let epoch: Vec<(Range<usize>, Option<u64>)> = if number_lines {
            let (epoch, next) = numbered(bytes, epoch, next_line);
            next_line = next;
            epoch.into_iter().map(|(r, n)| (r, Some(n))).collect()
        } else {
            epoch.iter().map(|r| (r.clone(), None)).collect()
        };
        let (_, done) = rayon::join(
            || hasher.update_rayon(span),
            || {
                epoch
                    .par_iter()
                    .map(|(r, first_line)| {
                        let at = RangeStart {
                            offset: r.start,
                            first_line: *first_line,
                        };
                        each(bytes.get(r.clone()).unwrap_or_default(), at)
                    })
                    .collect::<Vec<_>>()
            },
        );
        results.extend(done);
        map.release(start, end - start);
        start = end;
    }
    (Digest::from(hasher.finalize()), results)
}

/// Reads every record of a mapped line file into `sink`; returns the file's plain digest.
pub(crate) fn read(file: &DataFile, map: &FileMap, sink: &dyn Sink) -> Result<Digest> {
    let (digest, results) = for_each_range(map, true, |chunk, at| {
        read_range(file, chunk, at.first_line.unwrap_or(1), sink)
    });
    // The earliest bad line of the file is the one reported, as a serial read would.
    results.into_iter().collect::<Result<()>>()?;
    map.check_unchanged()
        .map_err(|e| Error::input(&file.path, e.to_string()))?;
    Ok(digest)
}

fn read_range(file: &DataFile, chunk: &[u8], first_line: u64, sink: &dyn Sink) -> Result<()> {
    let mut batcher = Batcher::new(file, sink);
    for (line_no, line) in (first_line..).zip(lines(chunk)) {
        if line.len() as u64 > MAX_LINE {
            return Err(super::lines::too_long(file, line_no));
        }
        if line.trim_ascii().is_empty() {
            continue;
        }
        let content = match file.format {
            Format::Jsonl => RawContent::JsonLine(line.to_vec()),
            _ => RawContent::Text(
                String::from_utf8(line.to_vec())
                    .map_err(|_| Error::record(&file.path, line_no, "not UTF-8 text"))?,
            ),
        };
        batcher.push(line_no, content)?;
    }
    batcher.flush()?;
    sink.bytes(chunk.len() as u64);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_end_at_newlines_and_cover_everything() {
        let bytes = b"aaaa\nbb\n\ncccccc\nd";
        for size in 1..20 {
            let ranges = split_at_newlines(bytes, size);
            assert_eq!(ranges.first().map(|r| r.start), Some(0));
            assert_eq!(ranges.last().map(|r| r.end), Some(bytes.len()));
            for w in ranges.windows(2) {
                assert_eq!(w[0].end, w[1].start);
                assert_eq!(bytes[w[0].end - 1], b'\n');
            }
        }
        assert!(split_at_newlines(b"", 4).is_empty());
        let l: Vec<&[u8]> = lines(b"a\n\nb").collect();
        assert_eq!(l, [&b"a\n"[..], b"\n", b"b"]);
        let many: Vec<u8> = b"x\n".repeat(RANGE);
        let (n, next) = numbered(&many, &split_at_newlines(&many, RANGE), 1);
        let firsts: Vec<u64> = n.iter().map(|(_, f)| *f).collect();
        // The first range runs to the newline after byte RANGE: RANGE / 2 + 1 lines.
        assert_eq!(firsts, [1, RANGE as u64 / 2 + 2]);
        assert_eq!(next, RANGE as u64 + 1);
    }
}
