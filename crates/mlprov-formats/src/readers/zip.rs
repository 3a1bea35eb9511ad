//! The members of a zip archive held in memory (PyTorch checkpoints, TorchScript
//! archives, NumPy `.npz`): stored members as absolute ranges of the buffer, deflated
//! ones inflated under a size cap and checked against their CRC-32.
//!
//! The central directory is read by hand rather than through the `zip` crate: we need
//! the absolute offset of stored data for zero-copy views, strict agreement between
//! the central and local headers, and nothing of encryption or the other methods.

use std::ops::Range;

use crate::budget::Budget;
use crate::error::ErrorKind;

const FORMAT: &str = "zip";

const EOCD_SIG: u32 = 0x0605_4b50;
const EOCD_LEN: usize = 22;
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
const ZIP64_LOCATOR_LEN: usize = 20;
const ZIP64_EOCD_SIG: u32 = 0x0606_4b50;
const ZIP64_EOCD_LEN: usize = 56;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const CENTRAL_LEN: usize = 46;
const LOCAL_SIG: u32 = 0x0403_4b50;
const LOCAL_LEN: usize = 30;
const ZIP64_EXTRA_ID: u16 = 0x0001;

/// Compression methods we read.
const METHOD_STORED: u16 = 0;
const METHOD_DEFLATED: u16 = 8;
const FLAG_ENCRYPTED: u16 = 1;
const FLAG_DATA_DESCRIPTOR: u16 = 1 << 3;

/// DEFLATE cannot expand by more than about 1032:1 (a 258-byte match coded in under
/// two bits); a member declaring more than this ratio is lying about its size.
const MAX_DEFLATE_RATIO: u64 = 1032;
/// The largest single member we inflate into memory.
pub(crate) const MAX_INFLATED_MEMBER: u64 = 4 << 30;

/// One member as the central directory lists it, checked against its local header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ZipEntry {
    /// Name inside the archive (`/`-separated).
    pub name: String,
    /// Compression method (0 stored, 8 deflated).
    pub method: u16,
    /// CRC-32 of the uncompressed bytes.
    pub crc32: u32,
    /// Declared uncompressed length.
    pub size: u64,
    /// Absolute byte range of the member's stored (possibly compressed) data.
    pub data: Range<usize>,
    /// Absolute offset of the member's local header.
    pub local: usize,
}

/// A member's bytes: borrowed from the archive when stored, owned when inflated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MemberBytes {
    /// An absolute range of the archive buffer.
    Stored(Range<usize>),
    /// Inflated bytes, exactly the declared size, CRC-checked.
    Inflated(Vec<u8>),
}

impl MemberBytes {
    /// The bytes, given the archive buffer the ranges refer to.
    pub fn bytes<'a>(&'a self, archive: &'a [u8]) -> &'a [u8] {
        match self {
            // Stored ranges were checked against the archive length when parsed.
            MemberBytes::Stored(r) => archive.get(r.clone()).unwrap_or(&[]),
            MemberBytes::Inflated(v) => v,
        }
    }
}

/// A parsed zip directory over a borrowed buffer.
#[derive(Debug)]
pub(crate) struct ZipArchive<'a> {
    buf: &'a [u8],
    entries: Vec<ZipEntry>,
}

impl<'a> ZipArchive<'a> {
    /// Reads the end records, the central directory and every local header.
    pub fn parse(buf: &'a [u8]) -> Result<Self, ErrorKind> {
        let eocd = find_eocd(buf)?;
        let (count, cd_size, cd_offset) = directory_location(buf, eocd)?;
        let cd_start = usize::try_from(cd_offset).map_err(|_| too_far("central directory"))?;
        let cd_end = usize::try_from(cd_size)
            .ok()
            .and_then(|s| cd_start.checked_add(s))
            .filter(|&e| e <= buf.len())
            .ok_or_else(|| {
                invalid(format!(
                    "central directory at {cd_offset} of {cd_size} bytes lies outside a file of {} bytes",
                    buf.len()
                ))
            })?;
        // Each entry takes at least CENTRAL_LEN bytes: the count cannot drive the allocation.
        if count > (cd_end - cd_start) as u64 / CENTRAL_LEN as u64 {
            return Err(invalid(format!(
                "{count} entries cannot fit in a central directory of {cd_size} bytes"
            )));
        }
        let mut entries = Vec::with_capacity(count as usize);
        let mut pos = cd_start;
        for index in 0..count {
            let (entry, next) = central_entry(buf, pos, cd_end, index)?;
            entries.push(entry);
            pos = next;
        }
        let mut names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        names.sort_unstable();
        check_disjoint(&entries, cd_start)?;
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(invalid(format!("member `{}` appears twice", w[0])));
        }
        Ok(ZipArchive { buf, entries })
    }

    /// Every member, in central-directory order.
    pub fn entries(&self) -> &[ZipEntry] {
        &self.entries
    }

    /// The member called `name`, if any.
    pub fn find(&self, name: &str) -> Option<&ZipEntry> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// The archive buffer the ranges refer to.
    pub fn buf(&self) -> &'a [u8] {
        self.buf
    }

    /// The bytes of `entry` under a budget of its own (tests).
    #[cfg(test)]
    pub fn read(&self, entry: &ZipEntry) -> Result<MemberBytes, ErrorKind> {
        self.read_in(entry, &Budget::default())
    }

    /// The bytes of `entry`: its absolute range if stored, else inflated and CRC-checked,
    /// its declared size charged to `budget` before anything is inflated.
    pub fn read_in(&self, entry: &ZipEntry, budget: &Budget) -> Result<MemberBytes, ErrorKind> {
        match entry.method {
            METHOD_STORED => Ok(MemberBytes::Stored(entry.data.clone())),
            METHOD_DEFLATED => {
                check_declared(self.buf, entry)?;
                budget.charge(entry.size)?;
                inflate(self.buf, entry).map(MemberBytes::Inflated)
            }
            m => Err(invalid(format!(
                "member `{}` uses compression method {m}; only stored (0) and deflated (8) are read",
                entry.name
            ))),
        }
    }
}

/// Refuses members that share bytes with each other or with the central directory:
/// no honest writer produces them, and overlapping deflated members would let a small
/// file inflate the same bytes many times over (the overlapping-file zip bomb).
fn check_disjoint(entries: &[ZipEntry], cd_start: usize) -> Result<(), ErrorKind> {
    let mut spans: Vec<(usize, usize, &str)> = entries
        .iter()
        .map(|e| (e.local, e.data.end, e.name.as_str()))
        .collect();
    spans.sort_unstable();
    for w in spans.windows(2) {
        if w[0].1 > w[1].0 {
            return Err(invalid(format!(
                "member `{}` overlaps member `{}`",
                w[0].2, w[1].2
            )));
        }
    }
    match spans.last() {
        Some(&(_, end, name)) if end > cd_start => Err(invalid(format!(
            "member `{name}` overlaps the central directory"
        ))),
        _ => Ok(()),
    }
}

/// Inflates a deflated member, refusing sizes no honest member can have and stopping
/// at the declared size.
fn inflate(buf: &[u8], entry: &ZipEntry) -> Result<Vec<u8>, ErrorKind> {
    check_declared(buf, entry)?;
    let compressed = buf.get(entry.data.clone()).unwrap_or(&[]);
    // usize holds it: it is at most MAX_INFLATED_MEMBER, and we are on a 64-bit target
    // or the value was bounded by the buffer ratio above.
    let want = usize::try_from(entry.size).map_err(|_| too_far(&entry.name))?;
    let out =
        miniz_oxide::inflate::decompress_to_vec_with_limit(compressed, want).map_err(|e| {
            if e.status == miniz_oxide::inflate::TINFLStatus::HasMoreOutput {
                invalid(format!(
                    "member `{}` inflates past its declared {} bytes",
                    entry.name, entry.size
                ))
            } else {
                invalid(format!(
                    "member `{}` is not valid deflate data ({:?})",
                    entry.name, e.status
                ))
            }
        })?;
    if out.len() != want {
        return Err(invalid(format!(
            "member `{}` inflates to {} bytes but declares {}",
            entry.name,
            out.len(),
            entry.size
        )));
    }
    let crc = crc32fast::hash(&out);
    if crc != entry.crc32 {
        return Err(invalid(format!(
            "member `{}` has CRC-32 {crc:08x} but declares {:08x}",
            entry.name, entry.crc32
        )));
    }
    Ok(out)
}

/// Refuses a declared size no honest deflated member can have (before any budget is
/// charged for it).
fn check_declared(buf: &[u8], entry: &ZipEntry) -> Result<(), ErrorKind> {
    let clen = buf.get(entry.data.clone()).map_or(0, |c| c.len() as u64);
    let limit = clen.saturating_mul(MAX_DEFLATE_RATIO).max(64);
    if entry.size > limit || entry.size > MAX_INFLATED_MEMBER {
        return Err(invalid(format!(
            "member `{}` declares {} bytes from {clen} compressed bytes (at most {} allowed)",
            entry.name,
            entry.size,
            limit.min(MAX_INFLATED_MEMBER)
        )));
    }
    Ok(())
}

/// Finds the end-of-central-directory record, searching only where its comment
/// (at most 65535 bytes) allows it to be.
fn find_eocd(buf: &[u8]) -> Result<usize, ErrorKind> {
    if buf.len() < EOCD_LEN {
        return Err(ErrorKind::Truncated(format!(
            "zip archive of {} bytes is shorter than its end record ({EOCD_LEN} bytes)",
            buf.len()
        )));
    }
    let last = buf.len() - EOCD_LEN;
    let first = last.saturating_sub(u16::MAX as usize);
    for pos in (first..=last).rev() {
        if u32_at(buf, pos) == Some(EOCD_SIG) {
            let comment = u16_at(buf, pos + 20).unwrap_or(0) as usize;
            if pos + EOCD_LEN + comment <= buf.len() {
                return Ok(pos);
            }
        }
    }
    Err(invalid(
        "no end-of-central-directory record in the last 64 KiB".to_string(),
    ))
}

/// `(entry count, directory size, directory offset)`, from the zip64 record when the
/// classic one says to look there.
fn directory_location(buf: &[u8], eocd: usize) -> Result<(u64, u64, u64), ErrorKind> {
    let rd = |o: usize| u16_at(buf, eocd + o).unwrap_or(0);
    let disk = rd(4);
    let cd_disk = rd(6);
    let on_disk = rd(8);
    let total = rd(10);
    let cd_size = u32_at(buf, eocd + 12).unwrap_or(0);
    let cd_offset = u32_at(buf, eocd + 16).unwrap_or(0);
    let needs64 = total == u16::MAX || cd_size == u32::MAX || cd_offset == u32::MAX;
    let locator = eocd
        .checked_sub(ZIP64_LOCATOR_LEN)
        .filter(|&p| u32_at(buf, p) == Some(ZIP64_LOCATOR_SIG));
    if let Some(loc) = locator {
        let rec = u64_at(buf, loc + 8).unwrap_or(u64::MAX);
        let rec = usize::try_from(rec)
            .ok()
            .filter(|&r| r.checked_add(ZIP64_EOCD_LEN).is_some_and(|e| e <= loc))
            .ok_or_else(|| invalid(format!("zip64 end record offset {rec} is out of range")))?;
        if u32_at(buf, rec) != Some(ZIP64_EOCD_SIG) {
            return Err(invalid(format!("no zip64 end record at offset {rec}")));
        }
        let disk64 = u32_at(buf, rec + 16).unwrap_or(0);
        let cd_disk64 = u32_at(buf, rec + 20).unwrap_or(0);
        let on_disk64 = u64_at(buf, rec + 24).unwrap_or(0);
        let total64 = u64_at(buf, rec + 32).unwrap_or(0);
        if disk64 != 0 || cd_disk64 != 0 || on_disk64 != total64 {
            return Err(invalid("multi-disk zip archives are not supported".into()));
        }
        let size64 = u64_at(buf, rec + 40).unwrap_or(0);
        let offset64 = u64_at(buf, rec + 48).unwrap_or(0);
        return Ok((total64, size64, offset64));
    }
    if needs64 {
        return Err(invalid(
            "end record points to a zip64 record that is missing".into(),
        ));
    }
    if disk != 0 || cd_disk != 0 || on_disk != total {
        return Err(invalid("multi-disk zip archives are not supported".into()));
    }
    Ok((u64::from(total), u64::from(cd_size), u64::from(cd_offset)))
}

/// Parses central entry `index` at `pos` and checks its local header; returns the
/// entry and the position of the next one.
fn central_entry(
    buf: &[u8],
    pos: usize,
    cd_end: usize,
    index: u64,
) -> Result<(ZipEntry, usize), ErrorKind> {
    let fixed_end = pos
        .checked_add(CENTRAL_LEN)
        .filter(|&e| e <= cd_end)
        .ok_or_else(|| invalid(format!("central entry {index} runs past the directory")))?;
    if u32_at(buf, pos) != Some(CENTRAL_SIG) {
        return Err(invalid(format!(
            "central entry {index} at offset {pos} has a bad signature"
        )));
    }
    let rd16 = |o: usize| u16_at(buf, pos + o).unwrap_or(0);
    let rd32 = |o: usize| u32_at(buf, pos + o).unwrap_or(0);
    let flags = rd16(8);
    let method = rd16(10);
    let crc32 = rd32(16);
    let csize32 = rd32(20);
    let usize32 = rd32(24);
    let name_len = rd16(28) as usize;
    let extra_len = rd16(30) as usize;
    let comment_len = rd16(32) as usize;
    let disk_start = rd16(34);
    let offset32 = rd32(42);
    let next = fixed_end + name_len + extra_len + comment_len;
    if next > cd_end {
        return Err(invalid(format!(
            "central entry {index} (name, extra, comment) runs past the directory"
        )));
    }
    let name_bytes = &buf[fixed_end..fixed_end + name_len];
    let name = String::from_utf8_lossy(name_bytes).into_owned();
    let extra = &buf[fixed_end + name_len..fixed_end + name_len + extra_len];
    if flags & FLAG_ENCRYPTED != 0 {
        return Err(invalid(format!(
            "member `{name}` is encrypted; encrypted archives are not supported"
        )));
    }
    // The zip64 extra field holds, in this order, only the fields whose 32-bit
    // value is saturated.
    let mut z64 = Zip64Fields::find(extra);
    let size = widen(usize32, || z64.next(), &name, "uncompressed size")?;
    let csize = widen(csize32, || z64.next(), &name, "compressed size")?;
    let offset = widen(offset32, || z64.next(), &name, "local header offset")?;
    if disk_start != 0 && disk_start != u16::MAX {
        return Err(invalid(format!(
            "member `{name}` starts on disk {disk_start}"
        )));
    }
    let (local, data) = local_data(buf, &name, name_bytes, offset, csize, size, flags)?;
    if method == METHOD_STORED && csize != size {
        return Err(invalid(format!(
            "stored member `{name}` has compressed size {csize} but size {size}"
        )));
    }
    let entry = ZipEntry {
        name,
        method,
        crc32,
        size,
        data,
        local,
    };
    Ok((entry, next))
}

/// Checks the local header at `offset` against the central entry and returns its
/// absolute offset and the absolute range of the member's data.
fn local_data(
    buf: &[u8],
    name: &str,
    name_bytes: &[u8],
    offset: u64,
    csize: u64,
    size: u64,
    flags: u16,
) -> Result<(usize, Range<usize>), ErrorKind> {
    let start = usize::try_from(offset)
        .ok()
        .filter(|&o| o.checked_add(LOCAL_LEN).is_some_and(|e| e <= buf.len()))
        .ok_or_else(|| {
            invalid(format!(
                "member `{name}`: local header offset {offset} is outside a file of {} bytes",
                buf.len()
            ))
        })?;
    if u32_at(buf, start) != Some(LOCAL_SIG) {
        return Err(invalid(format!(
            "member `{name}`: no local header at offset {start}"
        )));
    }
    let rd16 = |o: usize| u16_at(buf, start + o).unwrap_or(0);
    let rd32 = |o: usize| u32_at(buf, start + o).unwrap_or(0);
    let local_flags = rd16(6);
    let lcsize32 = rd32(18);
    let lusize32 = rd32(22);
    let name_len = rd16(26) as usize;
    let extra_len = rd16(28) as usize;
    let name_start = start + LOCAL_LEN;
    let data_start = name_start + name_len + extra_len;
    if data_start > buf.len() {
        return Err(ErrorKind::Truncated(format!(
            "member `{name}`: local header at {start} runs past the end of the file"
        )));
    }
    if &buf[name_start..name_start + name_len] != name_bytes {
        return Err(invalid(format!(
            "member `{name}`: local header names `{}`",
            String::from_utf8_lossy(&buf[name_start..name_start + name_len])
        )));
    }
    // With a data descriptor the local sizes may be zero; the central directory rules.
    if (flags | local_flags) & FLAG_DATA_DESCRIPTOR == 0 {
        let extra = &buf[name_start + name_len..data_start];
        let mut z64 = Zip64Fields::find(extra);
        let lsize = widen(lusize32, || z64.next(), name, "local uncompressed size")?;
        let lcsize = widen(lcsize32, || z64.next(), name, "local compressed size")?;
        if lsize != size || lcsize != csize {
            return Err(invalid(format!(
                "member `{name}`: local header says {lcsize} compressed / {lsize} bytes, \
                 central directory says {csize} / {size}"
            )));
        }
    }
    let end = usize::try_from(csize)
        .ok()
        .and_then(|c| data_start.checked_add(c))
        .filter(|&e| e <= buf.len())
        .ok_or_else(|| {
            ErrorKind::Truncated(format!(
                "member `{name}`: {csize} bytes of data at offset {data_start} run past the end of a file of {} bytes",
                buf.len()
            ))
        })?;
    Ok((start, data_start..end))
}

/// The 64-bit values of a zip64 extra field, read in order.
struct Zip64Fields<'e> {
    data: &'e [u8],
}

impl<'e> Zip64Fields<'e> {
    fn find(mut extra: &'e [u8]) -> Self {
        while extra.len() >= 4 {
            let id = u16::from_le_bytes([extra[0], extra[1]]);
            let len = u16::from_le_bytes([extra[2], extra[3]]) as usize;
            let body = extra.get(4..4 + len).unwrap_or(&extra[4..]);
            if id == ZIP64_EXTRA_ID {
                return Zip64Fields { data: body };
            }
            extra = extra.get(4 + len..).unwrap_or(&[]);
        }
        Zip64Fields { data: &[] }
    }

    fn next(&mut self) -> Option<u64> {
        let v = u64_at(self.data, 0)?;
        self.data = &self.data[8..];
        Some(v)
    }
}

/// A 32-bit field, or its zip64 value when saturated.
fn widen(
    v: u32,
    mut z64: impl FnMut() -> Option<u64>,
    name: &str,
    what: &str,
) -> Result<u64, ErrorKind> {
    if v != u32::MAX {
        return Ok(u64::from(v));
    }
    z64().ok_or_else(|| {
        invalid(format!(
            "member `{name}`: {what} needs a zip64 field that is missing"
        ))
    })
}

fn u16_at(b: &[u8], o: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        b.get(o..o.checked_add(2)?)?.try_into().ok()?,
    ))
}

fn u32_at(b: &[u8], o: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(o..o.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn u64_at(b: &[u8], o: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        b.get(o..o.checked_add(8)?)?.try_into().ok()?,
    ))
}

fn invalid(detail: String) -> ErrorKind {
    ErrorKind::InvalidHeader {
        format: FORMAT,
        detail,
    }
}

fn too_far(what: &str) -> ErrorKind {
    invalid(format!("{what} offset does not fit in memory"))
}

#[cfg(test)]
pub(crate) mod tests;
