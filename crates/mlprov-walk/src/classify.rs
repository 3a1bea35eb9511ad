//! What a file or an archive member is, from its first bytes: a weight file, an archive to
//! open, or neither. Extensions are never consulted, except for the names a documented
//! rule needs (a shard index, the members of a zip).

use std::io::{self, Read};

use flate2::read::MultiGzDecoder;
use mlprov_formats::{sniff, Sniffed};

use crate::source::{read_full, Compression, ZstdReader};
use crate::tar::checksum_ok;

/// Leading bytes read to classify: one tar header block.
pub(crate) const HEAD_LEN: usize = 512;
/// Bytes `mlprov_formats::sniff` is given, as mlprov-formats itself does.
const SNIFF_LEN: usize = 16;

/// What a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// A weight file (never `Sniffed::Zip` or `Sniffed::Unknown`).
    Weight(Sniffed),
    /// A zip: a model (PyTorch, TorchScript, npz) or an archive, decided by its member names.
    Zip,
    /// A tar archive, compressed or not.
    Tar(Compression),
    /// A gzip or zstd stream whose content is a weight file.
    CompressedWeight(Compression, Sniffed),
    /// A gzip or zstd stream that does not decompress.
    Damaged(Compression),
    /// Anything else.
    Other,
}

/// Classifies a stream of `len` bytes; `head` receives the raw leading bytes (up to
/// [`HEAD_LEN`]) so a caller can chain them before the rest of `r`. Compressed streams are
/// decompressed far enough to see what they hold.
pub(crate) fn classify_stream(r: &mut dyn Read, len: u64, head: &mut Vec<u8>) -> io::Result<Class> {
    head.clear();
    head.resize(HEAD_LEN, 0);
    let n = read_full(r, head)?;
    head.truncate(n);
    let class = classify_head(head, len);
    let compression = Compression::of(head);
    if class != Class::Other || compression == Compression::None {
        return Ok(class);
    }
    let chained = io::Cursor::new(head.clone()).chain(r);
    let inner = match compression {
        Compression::Gzip => inner_head(MultiGzDecoder::new(chained)),
        _ => inner_head(ZstdReader::new(chained)),
    };
    Ok(match inner {
        Err(e) if crate::budget::is_over_budget(&e) => return Err(e),
        Err(_) => Class::Damaged(compression),
        Ok(inner) if is_tar(&inner) => Class::Tar(compression),
        Ok(inner) => match classify_head(&inner, u64::MAX) {
            Class::Weight(s) => Class::CompressedWeight(compression, s),
            _ => Class::Other,
        },
    })
}

fn inner_head(mut r: impl Read) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; HEAD_LEN];
    let n = read_full(&mut r, &mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

/// Classifies leading bytes without decompressing (compressed streams are `Other`).
pub(crate) fn classify_head(head: &[u8], len: u64) -> Class {
    // A tar header with a valid checksum is strong evidence (and a tar whose first member
    // is named like a magic would otherwise pass for a weight file).
    if is_tar(head) {
        return Class::Tar(Compression::None);
    }
    match sniff(&head[..head.len().min(SNIFF_LEN)], len) {
        Sniffed::Zip => Class::Zip,
        Sniffed::Unknown => Class::Other,
        s => Class::Weight(s),
    }
}

/// Whether `head` starts with a ustar/GNU tar header (magic `ustar` at 257, valid checksum).
pub(crate) fn is_tar(head: &[u8]) -> bool {
    head.len() >= 512 && &head[257..262] == b"ustar" && checksum_ok(&head[..512])
}

/// Whether a zip whose member names are `names` is a weight file rather than an archive.
///
/// The rule: a `data.pkl` or `constants.pkl` at the top or one folder down (a `torch.save`
/// checkpoint or a TorchScript archive, as mlprov-formats reads them), or members that are
/// all `.npy` arrays (a NumPy `.npz`). Anything else is an archive to open.
pub(crate) fn zip_is_model<'a>(names: impl IntoIterator<Item = &'a [u8]>) -> bool {
    let mut any = false;
    let mut all_npy = true;
    for name in names {
        if name.ends_with(b"/") {
            continue;
        }
        any = true;
        let depth = name.iter().filter(|&&c| c == b'/').count();
        let base = name.rsplit(|&c| c == b'/').next().unwrap_or(name);
        if depth <= 1 && (base == b"data.pkl" || base == b"constants.pkl") {
            return true;
        }
        if !name.ends_with(b".npy") {
            all_npy = false;
        }
    }
    any && all_npy
}

/// Whether a path names a sharded-safetensors index (`model.safetensors.index.json` and
/// any other `*.safetensors.index.json`).
pub(crate) fn is_shard_index(name: &str) -> bool {
    let base = name.rsplit('/').next().unwrap_or(name);
    base.len() > ".safetensors.index.json".len() && base.ends_with(".safetensors.index.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zips_of_pickles_and_arrays_are_models() {
        assert!(zip_is_model([&b"archive/data.pkl"[..], b"archive/data/0"]));
        assert!(zip_is_model([&b"m/constants.pkl"[..]]));
        assert!(zip_is_model([&b"a.npy"[..], b"b.npy"]));
        assert!(!zip_is_model([&b"a.npy"[..], b"readme.txt"]));
        assert!(!zip_is_model([&b"x/y/data.pkl"[..]]));
        assert!(!zip_is_model([&b"dir/"[..]]));
        assert!(is_shard_index("a/model.safetensors.index.json"));
        assert!(!is_shard_index(".safetensors.index.json"));
    }
}
