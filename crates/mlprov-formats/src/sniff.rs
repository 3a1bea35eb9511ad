//! Format detection by magic bytes: the extension of a file is never trusted.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::error::Error;

/// What the first bytes of a file say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniffed {
    /// A safetensors file (8-byte little-endian header length, then a JSON object).
    Safetensors,
    /// A weight format we recognize but do not read yet; the name says which.
    KnownUnsupported(&'static str),
    /// Nothing we recognize.
    Unknown,
}

/// Bytes needed to tell formats apart.
pub(crate) const SNIFF_LEN: usize = 16;

/// Classifies a file by its leading bytes (`head`) and total length.
pub fn sniff(head: &[u8], file_len: u64) -> Sniffed {
    if head.starts_with(b"GGUF") || head.starts_with(b"FUGG") {
        return Sniffed::KnownUnsupported("GGUF");
    }
    if head.starts_with(b"PK\x03\x04") {
        return Sniffed::KnownUnsupported("zip archive (PyTorch checkpoint or NumPy .npz)");
    }
    if head.starts_with(b"\x93NUMPY") {
        return Sniffed::KnownUnsupported("NumPy .npy");
    }
    if head.len() >= 4 {
        // Legacy GGML containers store a little-endian u32 magic.
        let magic = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        if matches!(magic, 0x6767_6d6c | 0x6767_6d66 | 0x6767_6a74 | 0x6767_6c61) {
            return Sniffed::KnownUnsupported("legacy GGML");
        }
    }
    if head.starts_with(b"\x80\x02") || head.starts_with(b"\x80\x04") {
        return Sniffed::KnownUnsupported("legacy (non-zip) PyTorch pickle");
    }
    // safetensors has no magic: a u64 header length followed by '{'. The length
    // itself is checked by the parser, which reports a precise error for it.
    if file_len >= 9 && head.len() >= 9 && head[8] == b'{' {
        return Sniffed::Safetensors;
    }
    Sniffed::Unknown
}

/// Reads the leading bytes of `path` and classifies them.
pub(crate) fn sniff_path(path: &Path) -> Result<(Sniffed, u64, Vec<u8>), Error> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut head = Vec::with_capacity(SNIFF_LEN);
    (&mut file)
        .take(SNIFF_LEN as u64)
        .read_to_end(&mut head)
        .map_err(|e| Error::io(path, e))?;
    Ok((sniff(&head, len), len, head))
}

/// Hex of the first bytes, for error messages.
pub(crate) fn hex_prefix(head: &[u8]) -> String {
    if head.is_empty() {
        return "none".to_string();
    }
    head.iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognizes_magics() {
        assert_eq!(
            sniff(b"GGUF\x03\0\0\0", 100),
            Sniffed::KnownUnsupported("GGUF")
        );
        assert_eq!(
            sniff(b"\x10\0\0\0\0\0\0\0{\"a\"", 100),
            Sniffed::Safetensors
        );
        assert_eq!(sniff(b"hello world, json", 100), Sniffed::Unknown);
        assert!(matches!(
            sniff(b"PK\x03\x04....", 10),
            Sniffed::KnownUnsupported(_)
        ));
    }
}
