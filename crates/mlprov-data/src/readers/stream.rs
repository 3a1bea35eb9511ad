//! A file opened as a stream of (decompressed) bytes, hashed as it is read from disk so the
//! file's plain digest costs no second read.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::sync::{Arc, Mutex};

use mlprov_hash::Digest;

use super::{DataFile, Sink};
use crate::error::{Error, Result};

/// Read size from disk.
const READ_BUF: usize = 1 << 20;
/// Largest zstd window accepted (the format's default limit): bounds the decoder's memory.
const ZSTD_WINDOW_LOG_MAX: u32 = 27;

#[derive(Default)]
struct State {
    hasher: blake3::Hasher,
    count: u64,
}

/// The digest being computed while a file is read.
pub(crate) struct Hashed(Arc<Mutex<State>>);

struct HashingReader<'a> {
    file: File,
    state: Arc<Mutex<State>>,
    sink: &'a dyn Sink,
}

impl Read for HashingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read(buf)?;
        if let Ok(mut s) = self.state.lock() {
            s.hasher.update(&buf[..n]);
            s.count += n as u64;
        }
        self.sink.bytes(n as u64);
        Ok(n)
    }
}

/// Opens `file`, decompressing gzip or zstd (by magic bytes).
pub(crate) fn open<'a>(
    file: &DataFile,
    sink: &'a dyn Sink,
) -> Result<(Box<dyn BufRead + 'a>, Hashed)> {
    let f = File::open(&file.path).map_err(|e| Error::io(&file.path, e))?;
    let state = Arc::new(Mutex::new(State::default()));
    let raw = HashingReader {
        file: f,
        state: Arc::clone(&state),
        sink,
    };
    let mut buffered = BufReader::with_capacity(READ_BUF, raw);
    let head = buffered
        .fill_buf()
        .map_err(|e| Error::io(&file.path, e))?
        .to_vec();
    let reader: Box<dyn BufRead + 'a> = if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(BufReader::with_capacity(
            READ_BUF,
            flate2::bufread::MultiGzDecoder::new(buffered),
        ))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let mut dec = zstd::stream::read::Decoder::with_buffer(buffered)
            .map_err(|e| Error::io(&file.path, e))?;
        dec.window_log_max(ZSTD_WINDOW_LOG_MAX)
            .map_err(|e| Error::io(&file.path, e))?;
        Box::new(BufReader::with_capacity(READ_BUF, dec))
    } else {
        Box::new(buffered)
    };
    Ok((reader, Hashed(state)))
}

impl Hashed {
    /// The plain digest of the whole file: bytes the format reader left unread (after a
    /// JSON array's end, a compressed stream's trailer) are read and hashed here.
    pub(crate) fn finish(self, file: &DataFile, sink: &dyn Sink) -> Result<Digest> {
        let mut state = self
            .0
            .lock()
            .map_err(|_| Error::input(&file.path, "hashing state poisoned"))?;
        let mut f = File::open(&file.path).map_err(|e| Error::io(&file.path, e))?;
        f.seek(SeekFrom::Start(state.count))
            .map_err(|e| Error::io(&file.path, e))?;
        let mut buf = vec![0u8; READ_BUF];
        loop {
            let n = f.read(&mut buf).map_err(|e| Error::io(&file.path, e))?;
            if n == 0 {
                break;
            }
            state.hasher.update(&buf[..n]);
            state.count += n as u64;
            sink.bytes(n as u64);
        }
        Ok(state.hasher.finalize().into())
    }
}

/// The plain digest of a file read on its own (formats read by random access).
pub(crate) fn plain_digest(file: &DataFile, sink: &dyn Sink) -> Result<Digest> {
    let mut f = File::open(&file.path).map_err(|e| Error::io(&file.path, e))?;
    let mut h = blake3::Hasher::new();
    let mut buf = vec![0u8; READ_BUF];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(&file.path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        sink.bytes(n as u64);
    }
    Ok(h.finalize().into())
}
