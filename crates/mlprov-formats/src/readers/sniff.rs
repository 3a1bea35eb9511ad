//! Format detection by magic bytes: the extension of a file is never trusted.

use std::io::Read;
use std::path::Path;

use crate::error::Error;

/// What the first bytes of a file say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniffed {
    /// A safetensors file (8-byte little-endian header length, then a JSON object).
    Safetensors,
    /// A GGUF file (`GGUF` magic; `FUGG` is a byte-swapped one, rejected by the parser).
    Gguf,
    /// A legacy GGML container (`ggml`, `ggmf`, `ggjt` or `ggla` little-endian u32 magic).
    Ggml,
    /// A zip archive: a `torch.save` checkpoint, a TorchScript archive or a NumPy `.npz`.
    Zip,
    /// A NumPy `.npy` array.
    Npy,
    /// A bare pickle: the legacy (non-zip) `torch.save` format, refused with advice.
    Pickle,
    /// An ONNX model (no magic: judged from the first protobuf fields).
    Onnx,
    /// A weight format we recognize but do not read; the name says which.
    KnownUnsupported(&'static str),
    /// Nothing we recognize.
    Unknown,
}

/// Bytes needed to tell formats apart.
pub(crate) const SNIFF_LEN: usize = 16;

/// Classifies a file by its leading bytes (`head`) and total length.
pub fn sniff(head: &[u8], file_len: u64) -> Sniffed {
    if head.starts_with(b"GGUF") || head.starts_with(b"FUGG") {
        return Sniffed::Gguf;
    }
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return Sniffed::Zip;
    }
    if head.starts_with(b"\x93NUMPY") {
        return Sniffed::Npy;
    }
    if head.starts_with(b"\x89HDF\r\n\x1a\n") {
        return Sniffed::KnownUnsupported("HDF5 (Keras .h5)");
    }
    if head.get(4..8) == Some(b"TFL3") {
        return Sniffed::KnownUnsupported("TensorFlow Lite");
    }
    // safetensors has no magic: a u64 header length followed by '{'. When that length
    // fits the file, this is stronger evidence than the two-byte pickle or four-byte GGML
    // magics below (a header of 640 bytes starts `80 02`, like a pickle).
    if head.len() >= 9 && head[8] == b'{' {
        let n = u64::from_le_bytes([
            head[0], head[1], head[2], head[3], head[4], head[5], head[6], head[7],
        ]);
        if n.checked_add(8).is_some_and(|end| end <= file_len) {
            return Sniffed::Safetensors;
        }
    }
    if head.len() >= 4 {
        // Legacy GGML containers store a little-endian u32 magic.
        let magic = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        if matches!(magic, 0x6767_6d6c | 0x6767_6d66 | 0x6767_6a74 | 0x6767_6c61) {
            return Sniffed::Ggml;
        }
    }
    if head.len() >= 2 && head[0] == 0x80 && (2..=5).contains(&head[1]) {
        return Sniffed::Pickle;
    }
    // A '{' at byte 8 with a length past the end: a truncated or damaged safetensors file,
    // which its parser describes precisely.
    if file_len >= 9 && head.len() >= 9 && head[8] == b'{' {
        return Sniffed::Safetensors;
    }
    if crate::readers::onnx::looks_like_onnx(head) {
        return Sniffed::Onnx;
    }
    Sniffed::Unknown
}

/// Reads the leading bytes of `path` and classifies them. The file is opened without
/// blocking and must be a regular file (a FIFO or a device is refused unread).
pub(crate) fn sniff_path(path: &Path) -> Result<(Sniffed, u64, Vec<u8>), Error> {
    let mut file = crate::regular::open_regular(path)?;
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
        assert_eq!(sniff(b"GGUF\x03\0\0\0", 100), Sniffed::Gguf);
        assert_eq!(sniff(b"tjgg\x03\0\0\0", 100), Sniffed::Ggml);
        assert_eq!(sniff(b"lmgg\x00\0\0\0", 100), Sniffed::Ggml);
        assert_eq!(sniff(b"algg\x01\0\0\0", 100), Sniffed::Ggml);
        assert_eq!(
            sniff(b"\x10\0\0\0\0\0\0\0{\"a\"", 100),
            Sniffed::Safetensors
        );
        assert_eq!(sniff(b"hello world, json", 100), Sniffed::Unknown);
        // A 640-byte safetensors header begins like a protocol-2 pickle.
        assert_eq!(
            sniff(b"\x80\x02\0\0\0\0\0\0{\"a\"", 1000),
            Sniffed::Safetensors
        );
        assert_eq!(sniff(b"PK\x03\x04....", 10), Sniffed::Zip);
        assert_eq!(sniff(b"\x93NUMPY\x01\x00", 10), Sniffed::Npy);
        assert_eq!(sniff(b"\x80\x02\x8a\x0a", 10), Sniffed::Pickle);
        assert_eq!(sniff(b"\x08\x07\x12\x07pytorch", 100), Sniffed::Onnx);
        assert_eq!(
            sniff(b"\x89HDF\r\n\x1a\n", 100),
            Sniffed::KnownUnsupported("HDF5 (Keras .h5)")
        );
    }
}
