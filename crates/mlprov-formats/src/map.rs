//! Memory-maps weight files: the crate's one `unsafe` operation, and what it relies on.

use std::fs::File;
use std::path::Path;

use memmap2::Mmap;

use crate::error::Error;

/// Maps all of `path` read-only.
pub(crate) fn map_file(path: &Path) -> Result<Mmap, Error> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    // SAFETY: `Mmap::map` is unsafe because the returned `&[u8]` is only sound while no one
    // changes the file underneath it, and nothing in this process can guarantee that. What
    // can go wrong, and what this crate relies on:
    //
    // - Truncation. If another process shortens the file while it is mapped, reading a page
    //   past the new end raises SIGBUS and kills the process. We do not catch that signal; it
    //   is the one outcome of a changing file we cannot turn into an error. Callers who scan
    //   files that others may be rewriting (downloads in progress, shared scratch space)
    //   should copy them first.
    // - Bytes changing. Another process writing the file changes the mapped bytes (the map
    //   is shared, so writes show through even though ours is read-only). The crate treats
    //   the mapped bytes as possibly changing: every length and offset is checked against
    //   `map.len()`, which is fixed when the map is made and does not follow the file, so no
    //   slice of the map can go out of bounds whatever the bytes become; header fields are
    //   copied out of the map (`from_le_bytes`) and checked after the copy, and tensor ranges
    //   are checked again against `map.len()` when the file is assembled, so a value that
    //   changes between two reads gives at worst an inconsistent parse, reported as an error
    //   like any hostile input, never a panic or an unchecked access. Tensor bytes read later
    //   (hashing, decoding) may mix old and new contents; the result is then a digest or
    //   values of bytes that were in the file at some moment, not of one consistent file.
    //
    // This is the trade every zero-copy reader of model files makes (ripgrep, safetensors,
    // llama.cpp); reading through `read` instead would copy every byte of multi-GB models.
    unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, e))
}
