//! Memory-maps weight files: the crate's one `unsafe` operation, what it relies on, and the
//! guard that turns a file changing underneath into an error instead of a dead process.

#[cfg(unix)]
mod guard;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use memmap2::Mmap;

use crate::error::{Error, ErrorKind};
use crate::regular::open_regular;

/// A read-only map of a whole file, guarded: if the file shrinks while mapped, the pages past
/// its new end read as zeros (instead of SIGBUS killing the process) and
/// [`FileMap::check_unchanged`] reports the file as changed. Any other change of size or
/// modification time is reported the same way.
#[derive(Debug)]
pub struct FileMap {
    map: Mmap,
    /// Kept open so the file's metadata can be compared after reading.
    file: File,
    path: PathBuf,
    /// Size and modification time when mapped.
    stamp: (u64, Option<SystemTime>),
    #[cfg(unix)]
    guard: Option<guard::Region>,
}

impl std::ops::Deref for FileMap {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.map
    }
}

impl FileMap {
    /// `Ok` unless the file was truncated, grown or rewritten since it was mapped: then
    /// "PATH changed while being read" (whatever was read from it may mix old and new bytes).
    pub fn check_unchanged(&self) -> Result<(), Error> {
        #[cfg(unix)]
        let faulted = self.guard.as_ref().is_some_and(guard::Region::faulted);
        #[cfg(not(unix))]
        let faulted = false;
        let now = self.file.metadata().ok().map(|m| stamp(&m));
        if faulted || now != Some(self.stamp) {
            return Err(Error::new(&self.path, ErrorKind::Changed));
        }
        Ok(())
    }
}

impl FileMap {
    /// Asks the kernel to start reading `len` bytes at `offset` into the page cache now
    /// (advice only, asynchronous): a reader working through the map a piece at a time
    /// asks for the next pieces while it works on this one, so the disk is not idle while
    /// the processor works, nor the processor while the disk reads. Out-of-bounds ranges
    /// and refusals are ignored. Asking costs kernel time (about 0.1 s per GiB), so readers
    /// ask from a thread of their own.
    pub fn will_need(&self, offset: usize, len: usize) {
        // Linux reads at most the device's read-ahead window (`read_ahead_kb`, often far
        // less than `len`) per request, so the range is asked for in steps.
        const STEP: usize = 2 << 20;
        let end = offset.saturating_add(len).min(self.map.len());
        let mut at = offset;
        while at < end {
            let n = STEP.min(end - at);
            // On the file rather than the map: the same read-ahead, at a third of the cost
            // of `madvise` (which walks the map's page tables too).
            #[cfg(target_os = "linux")]
            let _ = rustix::fs::fadvise(
                &self.file,
                at as u64,
                std::num::NonZeroU64::new(n as u64),
                rustix::fs::Advice::WillNeed,
            );
            #[cfg(all(unix, not(target_os = "linux")))]
            let _ = self.map.advise_range(memmap2::Advice::WillNeed, at, n);
            at += n;
        }
    }

    /// Drops this process's pages of `len` bytes at `offset` (advice only): a long
    /// sequential read then keeps only what it is working on resident, instead of the whole
    /// file counting in its RSS. Touching the bytes again reads them back from the file.
    /// Out-of-bounds ranges and refusals are ignored.
    pub fn release(&self, offset: usize, len: usize) {
        if offset
            .checked_add(len)
            .is_none_or(|end| end > self.map.len())
            || len == 0
        {
            return;
        }
        #[cfg(unix)]
        // SAFETY: `MADV_DONTNEED` is unsafe in general because on private or anonymous
        // memory it discards the contents (later reads see zeros or the file's original
        // bytes). This map is `Mmap::map`: a shared, read-only mapping of the file, with no
        // private pages; the advice only drops this process's page-table entries, and the
        // next access faults the page back in from the page cache / file, so every
        // `&[u8]` borrowed from the map stays valid and reads the file's bytes (subject to
        // the same "file changed underneath" caveat as the map itself, reported by
        // `check_unchanged`; a truncation is caught by the guard as before). The range is
        // within the map (checked above).
        let _ = unsafe {
            self.map
                .unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, offset, len)
        };
    }
}

fn stamp(meta: &std::fs::Metadata) -> (u64, Option<SystemTime>) {
    (meta.len(), meta.modified().ok())
}

/// Maps all of `path` read-only. The file is opened without blocking and must be a
/// regular file (a FIFO or device would block or never end).
pub fn map_file(path: &Path) -> Result<FileMap, Error> {
    let file = open_regular(path)?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    // SAFETY: `Mmap::map` is unsafe because the returned `&[u8]` is only sound while no one
    // changes the file underneath it, and nothing in this process can guarantee that. What
    // can go wrong, and what this crate relies on:
    //
    // - Truncation. If another process shortens the file while it is mapped, reading a page
    //   past the new end raises SIGBUS, which would kill the process. On Unix the map is
    //   registered with `guard` before any byte is read: its SIGBUS handler maps zero pages
    //   over the rest of the region and marks it, so the read completes (with zeros) and
    //   `check_unchanged` turns it into an error naming the file. Elsewhere the signal is
    //   not caught.
    // - Bytes changing. Another process writing the file changes the mapped bytes (the map
    //   is shared, so writes show through even though ours is read-only). The crate treats
    //   the mapped bytes as possibly changing: every length and offset is checked against
    //   `map.len()`, which is fixed when the map is made and does not follow the file, so no
    //   slice of the map can go out of bounds whatever the bytes become; header fields are
    //   copied out of the map (`from_le_bytes`) and checked after the copy, and tensor ranges
    //   are checked again against `map.len()` when the file is assembled, so a value that
    //   changes between two reads gives at worst an inconsistent parse, reported as an error
    //   like any hostile input, never a panic or an unchecked access. Tensor bytes read later
    //   (hashing, decoding) may mix old and new contents; `check_unchanged` (size and
    //   modification time, and the guard) lets callers refuse such a result.
    //
    // This is the trade every zero-copy reader of model files makes (ripgrep, safetensors,
    // llama.cpp); reading through `read` instead would copy every byte of multi-GB models.
    let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
    #[cfg(unix)]
    let guard = guard::Region::register(map.as_ptr() as usize, map.len());
    Ok(FileMap {
        stamp: stamp(&meta),
        map,
        file,
        path: path.to_path_buf(),
        #[cfg(unix)]
        guard,
    })
}

impl Drop for FileMap {
    fn drop(&mut self) {
        // Unregister before `map` is unmapped (fields drop after this body).
        #[cfg(unix)]
        if let Some(region) = self.guard.take() {
            drop(region);
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn released_pages_read_back_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.bin");
        let bytes: Vec<u8> = (0..4096 * 8).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        let map = map_file(&path).unwrap();
        assert_eq!(&map[..], &bytes[..]);
        map.release(4096, 4096 * 3);
        map.release(0, usize::MAX); // out of bounds: ignored
        map.release(100, 5000); // not page-aligned
        assert_eq!(&map[..], &bytes[..]);
        map.check_unchanged().unwrap();
    }

    #[test]
    fn read_ahead_of_any_range_leaves_the_bytes_as_they_are() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.bin");
        let bytes: Vec<u8> = (0..(5 << 20) + 123).map(|i| (i % 253) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        let map = map_file(&path).unwrap();
        map.will_need(0, bytes.len()); // several steps, the last one partial
        map.will_need(4097, 3); // not page-aligned
        map.will_need(bytes.len() - 10, usize::MAX); // past the end: cut at the end
        map.will_need(usize::MAX, 1); // out of bounds: ignored
        map.will_need(0, 0);
        assert_eq!(&map[..], &bytes[..]);
        map.check_unchanged().unwrap();
    }

    #[test]
    fn a_file_truncated_under_its_map_reads_zeros_and_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.bin");
        let page = 4096 * 4;
        std::fs::write(&path, vec![7u8; page * 8]).unwrap();
        let map = map_file(&path).unwrap();
        assert!(map.check_unchanged().is_ok());
        assert_eq!(map[page * 7], 7);
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(page as u64)
            .unwrap();
        // Without the guard this read raises SIGBUS and kills the test process.
        let sum: u64 = map.iter().map(|&b| b as u64).sum();
        assert!(
            sum < 7 * (page as u64) * 8,
            "pages past the end read as zeros"
        );
        let err = map.check_unchanged().unwrap_err().to_string();
        assert!(
            err.contains("f.bin") && err.contains("changed while being read"),
            "{err}"
        );
    }

    #[test]
    fn a_rewritten_file_is_reported_and_fifos_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.bin");
        std::fs::write(&path, vec![1u8; 100]).unwrap();
        let map = map_file(&path).unwrap();
        std::fs::write(&path, vec![2u8; 200]).unwrap();
        assert!(map.check_unchanged().is_err());
        let fifo = dir.path().join("pipe");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        let err = map_file(&fifo).unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");
    }

    #[test]
    fn many_maps_at_once_each_keep_their_guard() {
        let dir = tempfile::tempdir().unwrap();
        let maps: Vec<FileMap> = (0..64)
            .map(|i| {
                let p = dir.path().join(format!("{i}"));
                std::fs::write(&p, vec![i as u8; 10_000]).unwrap();
                map_file(&p).unwrap()
            })
            .collect();
        assert!(maps.iter().all(|m| m.guard.is_some()));
        drop(maps);
        // Slots are released: a new map gets one.
        let p = dir.path().join("again");
        std::fs::write(&p, [1u8; 10]).unwrap();
        assert!(map_file(&p).unwrap().guard.is_some());
    }
}
