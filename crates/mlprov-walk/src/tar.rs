//! A bounded reader of tar streams (POSIX ustar, GNU and pax headers).
//!
//! The walk reads tar itself rather than through the `tar` crate so that every length it
//! allocates for is capped (GNU long names at 64 KiB, pax headers at 1 MiB) and a
//! truncated archive is always an error: an archive must end with its end-of-archive
//! block, and a header's checksum must match.

use std::io::{self, Read};

use crate::source::{read_full, Source};

/// Longest GNU long name or long link name read.
const MAX_LONG_NAME: u64 = 64 << 10;
/// Largest pax extended header read.
const MAX_PAX: u64 = 1 << 20;
const BLOCK: u64 = 512;

/// What a tar entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    File,
    Dir,
    Symlink,
    Hardlink,
    /// A device, FIFO, sparse file or a type we do not know (the byte is the type flag).
    Other(u8),
}

/// One entry of a tar stream.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// The name as stored (pax `path`, GNU long name or ustar prefix/name).
    pub name: Vec<u8>,
    pub kind: Kind,
    /// Data bytes that follow the header.
    pub size: u64,
    /// Offset of the data in the (decompressed) stream.
    pub data_offset: u64,
    /// 0-based position among the entries the reader returns.
    pub ordinal: u64,
    /// The target of a symbolic or hard link (empty for other entries).
    pub link: Vec<u8>,
}

/// Why a tar stream could not be read.
#[derive(Debug)]
pub(crate) enum TarError {
    Io(io::Error),
    /// The stream ended in the middle of a header or of an entry's data.
    Truncated,
    /// The stream ended without the end-of-archive block.
    MissingEnd,
    BadHeader {
        offset: u64,
        detail: String,
    },
    TooManyEntries(u64),
}

impl std::fmt::Display for TarError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TarError::Io(e) => write!(f, "{e}"),
            TarError::Truncated => write!(f, "truncated tar archive (ends inside an entry)"),
            TarError::MissingEnd => write!(
                f,
                "truncated tar archive (ends without its end-of-archive block)"
            ),
            TarError::BadHeader { offset, detail } => {
                write!(f, "damaged tar header at offset {offset}: {detail}")
            }
            TarError::TooManyEntries(n) => write!(f, "more than {n} entries (max_entries)"),
        }
    }
}

impl From<io::Error> for TarError {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            TarError::Truncated
        } else {
            TarError::Io(e)
        }
    }
}

/// Reads entries one after the other; the current entry's data is read through `Read`.
pub(crate) struct TarReader<'a> {
    src: &'a mut dyn Source,
    offset: u64,
    remaining: u64,
    padding: u64,
    ordinal: u64,
    max_entries: u64,
    finished: bool,
}

impl<'a> TarReader<'a> {
    pub(crate) fn new(src: &'a mut dyn Source, max_entries: u64) -> Self {
        TarReader {
            src,
            offset: 0,
            remaining: 0,
            padding: 0,
            ordinal: 0,
            max_entries,
            finished: false,
        }
    }

    /// The next entry, `None` at the end-of-archive block.
    pub(crate) fn next_entry(&mut self) -> Result<Option<Entry>, TarError> {
        if self.finished {
            return Ok(None);
        }
        self.skip_rest()?;
        let mut long_name: Option<Vec<u8>> = None;
        let mut long_link: Option<Vec<u8>> = None;
        let mut pax_path: Option<Vec<u8>> = None;
        let mut pax_link: Option<Vec<u8>> = None;
        let mut pax_size: Option<u64> = None;
        loop {
            let header_offset = self.offset;
            let mut block = [0u8; BLOCK as usize];
            let n = read_full(self.src, &mut block)?;
            if n == 0 {
                return Err(TarError::MissingEnd);
            }
            if n < block.len() {
                return Err(TarError::Truncated);
            }
            self.offset += BLOCK;
            if block.iter().all(|&b| b == 0) {
                self.finished = true;
                return Ok(None);
            }
            let bad = |detail: String| TarError::BadHeader {
                offset: header_offset,
                detail,
            };
            if !checksum_ok(&block) {
                return Err(bad("checksum does not match".into()));
            }
            // No real member comes near 2^62 bytes; the cap keeps offset sums from overflowing.
            let size = parse_size(&block[124..136])
                .filter(|&s| s < 1 << 62)
                .ok_or_else(|| bad("bad size field".into()))?;
            let flag = block[156];
            match flag {
                b'L' | b'K' => {
                    if size > MAX_LONG_NAME {
                        return Err(bad(format!("long name of {size} bytes")));
                    }
                    let data = self.read_meta(size)?;
                    if flag == b'L' {
                        long_name = Some(trim_nul(&data).to_vec());
                    } else {
                        long_link = Some(trim_nul(&data).to_vec());
                    }
                    continue;
                }
                b'x' | b'g' => {
                    if size > MAX_PAX {
                        return Err(bad(format!("pax header of {size} bytes")));
                    }
                    let data = self.read_meta(size)?;
                    if flag == b'x' {
                        let pax = parse_pax(&data).map_err(bad)?;
                        pax_path = pax.path.or(pax_path);
                        pax_link = pax.link.or(pax_link);
                        pax_size = pax.size.or(pax_size);
                    }
                    continue;
                }
                _ => {}
            }
            if self.ordinal >= self.max_entries {
                return Err(TarError::TooManyEntries(self.max_entries));
            }
            let name = pax_path.or(long_name).unwrap_or_else(|| ustar_name(&block));
            let size = pax_size.unwrap_or(size);
            if size >= 1 << 62 {
                return Err(bad(format!("size {size} out of range")));
            }
            let mut kind = match flag {
                b'0' | 0 | b'7' => Kind::File,
                b'1' => Kind::Hardlink,
                b'2' => Kind::Symlink,
                b'5' => Kind::Dir,
                other => Kind::Other(other),
            };
            // Old tars mark folders with a trailing slash on a regular entry.
            if kind == Kind::File && name.ends_with(b"/") {
                kind = Kind::Dir;
            }
            // As Python's tarfile: links, folders, devices and FIFOs carry no data whatever
            // their size field says; regular files and unknown types do.
            let data_len = match kind {
                Kind::File | Kind::Other(_) => size,
                _ => 0,
            };
            let entry = Entry {
                name,
                kind,
                size: data_len,
                data_offset: self.offset,
                ordinal: self.ordinal,
                link: pax_link
                    .or(long_link)
                    .unwrap_or_else(|| trim_nul(&block[157..257]).to_vec()),
            };
            self.ordinal += 1;
            self.remaining = data_len;
            self.padding = padding(data_len);
            return Ok(Some(entry));
        }
    }

    /// Reads what is left of the stream after the end-of-archive block, up to `cap` bytes,
    /// so a compressed stream's own trailer (gzip CRC and length) is checked.
    pub(crate) fn drain(&mut self, cap: u64) -> Result<(), TarError> {
        io::copy(&mut Read::take(&mut *self.src, cap), &mut io::sink())?;
        Ok(())
    }

    fn skip_rest(&mut self) -> Result<(), TarError> {
        let n = self.remaining + self.padding;
        if n > 0 {
            self.src.skip(n)?;
            self.offset += n;
        }
        self.remaining = 0;
        self.padding = 0;
        Ok(())
    }

    /// The data of a metadata entry (long name, pax header) of `size` bytes (capped before).
    fn read_meta(&mut self, size: u64) -> Result<Vec<u8>, TarError> {
        let mut data = vec![0u8; usize::try_from(size).map_err(|_| TarError::Truncated)?];
        if read_full(self.src, &mut data)? < data.len() {
            return Err(TarError::Truncated);
        }
        self.offset += size;
        let pad = padding(size);
        self.src.skip(pad)?;
        self.offset += pad;
        Ok(data)
    }
}

impl Read for TarReader<'_> {
    /// Reads the current entry's data; an `UnexpectedEof` error if the stream ends first.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let n = self.src.read(&mut buf[..want])?;
        if n == 0 {
            return Err(crate::source::truncated());
        }
        self.remaining -= n as u64;
        self.offset += n as u64;
        Ok(n)
    }
}

impl Source for TarReader<'_> {}

fn padding(size: u64) -> u64 {
    (BLOCK - size % BLOCK) % BLOCK
}

fn trim_nul(b: &[u8]) -> &[u8] {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    &b[..end]
}

/// The name of a ustar header: `prefix/name` for POSIX ustar, `name` otherwise.
fn ustar_name(block: &[u8; 512]) -> Vec<u8> {
    let name = trim_nul(&block[0..100]);
    let prefix = trim_nul(&block[345..500]);
    if &block[257..263] == b"ustar\0" && !prefix.is_empty() {
        let mut full = prefix.to_vec();
        full.push(b'/');
        full.extend_from_slice(name);
        full
    } else {
        name.to_vec()
    }
}

/// Whether the header checksum matches (unsigned sum, or the signed sum old tars wrote).
pub(crate) fn checksum_ok(block: &[u8]) -> bool {
    if block.len() < 512 {
        return false;
    }
    let Some(stored) = parse_octal(&block[148..156]) else {
        return false;
    };
    let mut unsigned: u64 = 0;
    let mut signed: i64 = 0;
    for (i, &b) in block[..512].iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += u64::from(b);
        signed += i64::from(b as i8);
    }
    stored == unsigned || i64::try_from(stored).is_ok_and(|s| s == signed)
}

/// A numeric field: octal text, or GNU base-256 (high bit of the first byte set).
fn parse_size(field: &[u8]) -> Option<u64> {
    match field.first() {
        Some(&b) if b & 0x80 != 0 => {
            if b & 0x40 != 0 {
                return None; // negative
            }
            let mut v: u64 = u64::from(b & 0x3f);
            for &c in &field[1..] {
                v = v.checked_mul(256)?.checked_add(u64::from(c))?;
            }
            Some(v)
        }
        _ => parse_octal(field),
    }
}

fn parse_octal(field: &[u8]) -> Option<u64> {
    let text = trim_nul(field);
    let text: &[u8] = {
        let start = text.iter().position(|&c| c != b' ').unwrap_or(text.len());
        let end = text
            .iter()
            .rposition(|&c| c != b' ')
            .map_or(start, |e| e + 1);
        &text[start..end.max(start)]
    };
    let mut v: u64 = 0;
    for &c in text {
        if !(b'0'..=b'7').contains(&c) {
            return None;
        }
        v = v.checked_mul(8)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(v)
}

/// The pax records the walk uses.
#[derive(Debug, Default, PartialEq, Eq)]
struct PaxFields {
    path: Option<Vec<u8>>,
    link: Option<Vec<u8>>,
    size: Option<u64>,
}

/// The `path`, `linkpath` and `size` records of a pax extended header (`"<len> <key>=<value>\n"`).
fn parse_pax(data: &[u8]) -> Result<PaxFields, String> {
    let mut fields = PaxFields::default();
    let mut rest = data;
    while !rest.is_empty() {
        if rest.iter().all(|&b| b == 0) {
            break;
        }
        let space = rest
            .iter()
            .position(|&b| b == b' ')
            .ok_or("pax record without a length")?;
        let len: usize = std::str::from_utf8(&rest[..space])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or("pax record length is not a number")?;
        if len <= space + 1 || len > rest.len() || rest[len - 1] != b'\n' {
            return Err("pax record length does not fit".into());
        }
        let record = &rest[space + 1..len - 1];
        let eq = record
            .iter()
            .position(|&b| b == b'=')
            .ok_or("pax record without `=`")?;
        let (key, value) = (&record[..eq], &record[eq + 1..]);
        match key {
            b"path" => fields.path = Some(value.to_vec()),
            b"linkpath" => fields.link = Some(value.to_vec()),
            b"size" => {
                fields.size = Some(
                    std::str::from_utf8(value)
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .ok_or("pax size is not a number")?,
                )
            }
            _ => {}
        }
        rest = &rest[len..];
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Streaming;

    fn header(name: &[u8], size: u64, flag: u8) -> [u8; 512] {
        let mut b = [0u8; 512];
        b[..name.len()].copy_from_slice(name);
        b[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
        b[156] = flag;
        b[257..263].copy_from_slice(b"ustar\0");
        b[263..265].copy_from_slice(b"00");
        b[148..156].copy_from_slice(b"        ");
        let sum: u64 = b.iter().map(|&c| u64::from(c)).sum();
        b[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        b
    }

    #[test]
    fn a_long_name_over_the_cap_is_refused_unread() {
        let mut bytes = header(b"././@LongLink", 1 << 30, b'L').to_vec();
        bytes.extend_from_slice(&[0u8; 1024]);
        let mut src = Streaming(&bytes[..]);
        let mut r = TarReader::new(&mut src, 10);
        assert!(matches!(r.next_entry(), Err(TarError::BadHeader { .. })));
    }

    #[test]
    fn pax_records_and_sizes_parse() {
        let f = parse_pax(b"16 path=a/b/c.x\n13 size=1234\n").unwrap();
        assert_eq!((f.path, f.size), (Some(b"a/b/c.x".to_vec()), Some(1234)));
        assert!(parse_pax(b"99 path=x\n").is_err());
        assert_eq!(parse_size(b"00000001000\0"), Some(512));
        assert_eq!(
            parse_size(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]),
            Some(256)
        );
        assert_eq!(parse_size(b"0000z\0"), None);
    }

    #[test]
    fn an_archive_without_its_end_block_is_truncated() {
        let mut bytes = header(b"a", 3, b'0').to_vec();
        bytes.extend_from_slice(&[b'x'; 512]);
        let mut src = Streaming(&bytes[..]);
        let mut r = TarReader::new(&mut src, 10);
        assert!(r.next_entry().unwrap().is_some());
        assert!(matches!(r.next_entry(), Err(TarError::MissingEnd)));
    }
}
