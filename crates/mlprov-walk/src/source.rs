//! Byte sources archives are read from: files opened without blocking, seekable segments
//! of them, and decompressed streams.

use std::fs::{self, File};
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::rc::Rc;

use flate2::read::MultiGzDecoder;

use crate::budget::{Budget, Metered};

/// How a stream is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// The compression whose magic `head` starts with.
    pub(crate) fn of(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Compression::None => "uncompressed",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }
}

/// A readable stream that can also skip bytes (by seeking when it can).
pub(crate) trait Source: Read {
    /// Skips `n` bytes; an `UnexpectedEof` error if the stream ends first.
    fn skip(&mut self, n: u64) -> io::Result<()> {
        let got = io::copy(&mut Read::take(&mut *self, n), &mut io::sink())?;
        if got < n {
            return Err(truncated());
        }
        Ok(())
    }
}

pub(crate) fn truncated() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "unexpected end of data")
}

/// A stream that skips by reading.
pub(crate) struct Streaming<R>(pub R);

impl<R: Read> Read for Streaming<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl<R: Read> Source for Streaming<R> {}

impl<S: Source + ?Sized> Source for &mut S {
    fn skip(&mut self, n: u64) -> io::Result<()> {
        (**self).skip(n)
    }
}

/// The bytes `pos..end` of a file, skipped by seeking.
pub(crate) struct Segment {
    file: File,
    pos: u64,
    end: u64,
}

impl Segment {
    /// The segment `start..start + len` of `file`.
    pub(crate) fn new(mut file: File, start: u64, len: u64) -> io::Result<Segment> {
        file.seek(SeekFrom::Start(start))?;
        Ok(Segment {
            file,
            pos: start,
            end: start.saturating_add(len),
        })
    }
}

impl Segment {
    /// Up to `n` leading bytes of the segment, leaving the position where it was.
    pub(crate) fn peek(&mut self, n: usize) -> io::Result<Vec<u8>> {
        let at = self.pos;
        let mut buf = vec![0u8; n];
        let got = read_full(self, &mut buf)?;
        buf.truncate(got);
        self.file.seek(SeekFrom::Start(at))?;
        self.pos = at;
        Ok(buf)
    }
}

impl Read for Segment {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let room = usize::try_from(self.end - self.pos).unwrap_or(usize::MAX);
        let want = buf.len().min(room);
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read(&mut buf[..want])?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Source for Segment {
    fn skip(&mut self, n: u64) -> io::Result<()> {
        let to = self.pos.checked_add(n).ok_or_else(truncated)?;
        // The file may be shorter than the segment says (truncated, or shrunk since).
        let len = self.file.metadata()?.len();
        if to > self.end || to > len {
            return Err(truncated());
        }
        self.file.seek(SeekFrom::Start(to))?;
        self.pos = to;
        Ok(())
    }
}

/// Opens `path` for reading without blocking (a FIFO would block `open(2)`), never following
/// a symbolic link when `nofollow`, and checks it is a regular file before any byte is read.
pub(crate) fn open_regular(path: &Path, nofollow: bool) -> io::Result<File> {
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut flags = libc::O_NONBLOCK;
        if nofollow {
            flags |= libc::O_NOFOLLOW;
        }
        options.custom_flags(flags);
    }
    #[cfg(not(unix))]
    let _ = nofollow;
    let file = options.open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    Ok(file)
}

/// A whole seekable file as a source, or its decompressed content, metered by `budget`.
pub(crate) fn open_stream(
    path: &Path,
    compression: Compression,
    budget: &Rc<Budget>,
) -> io::Result<Box<dyn Source>> {
    let file = open_regular(path, false)?;
    let len = file.metadata()?.len();
    let segment = Segment::new(file, 0, len)?;
    Ok(decoded(segment, compression, budget))
}

/// `inner` decompressed as `compression` says (uncompressed: `inner` itself).
pub(crate) fn decoded<'a, S: Source + 'a>(
    inner: S,
    compression: Compression,
    budget: &Rc<Budget>,
) -> Box<dyn Source + 'a> {
    match compression {
        Compression::None => Box::new(inner),
        Compression::Gzip => Box::new(Streaming(Metered::new(
            MultiGzDecoder::new(BufReader::with_capacity(64 << 10, inner)),
            budget.clone(),
        ))),
        Compression::Zstd => Box::new(Streaming(Metered::new(
            ZstdReader::new(inner),
            budget.clone(),
        ))),
    }
}

/// A zstd decoder created on first read, so creating one cannot fail.
pub(crate) struct ZstdReader<R: Read> {
    state: ZstdState<R>,
}

enum ZstdState<R: Read> {
    Pending(Option<R>),
    Open(Box<zstd::stream::read::Decoder<'static, BufReader<R>>>),
}

impl<R: Read> ZstdReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        ZstdReader {
            state: ZstdState::Pending(Some(inner)),
        }
    }
}

impl<R: Read> Read for ZstdReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let ZstdState::Pending(inner) = &mut self.state {
            let inner = inner
                .take()
                .ok_or_else(|| io::Error::other("zstd decoder lost"))?;
            let decoder = zstd::stream::read::Decoder::new(inner)?;
            self.state = ZstdState::Open(Box::new(decoder));
        }
        match &mut self.state {
            ZstdState::Open(d) => d.read(buf),
            ZstdState::Pending(_) => Err(io::Error::other("zstd decoder lost")),
        }
    }
}

/// Reads until `buf` is full or the stream ends; the count read.
pub(crate) fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
