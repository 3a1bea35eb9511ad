//! A little-endian reader over a byte slice that never reads past its end.

/// A read that needed more bytes than were left.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Short {
    /// Bytes the read needed.
    pub need: u64,
    /// Offset of the read.
    pub at: usize,
    /// Bytes left from `at`.
    pub have: usize,
}

impl Short {
    /// "needs N bytes at offset P but only R remain".
    pub fn describe(&self) -> String {
        format!(
            "needs {} bytes at offset {} but only {} remain",
            self.need, self.at, self.have
        )
    }
}

/// A position in a byte slice; every read is checked against the slice's end.
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at `pos` (which may lie past the end: every read then fails).
    pub fn new(buf: &'a [u8], pos: usize) -> Self {
        Cursor { buf, pos }
    }

    /// The current offset.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes left after the current offset.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// The next `n` bytes (`n` as read from a file, so possibly absurd).
    pub fn take(&mut self, n: u64) -> Result<&'a [u8], Short> {
        let short = Short {
            need: n,
            at: self.pos,
            have: self.remaining(),
        };
        let n = usize::try_from(n).map_err(|_| short)?;
        let end = self.pos.checked_add(n).ok_or(short)?;
        let bytes = self.buf.get(self.pos..end).ok_or(short)?;
        self.pos = end;
        Ok(bytes)
    }

    /// The next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], Short> {
        let bytes = self.take(N as u64)?;
        let mut a = [0u8; N];
        a.copy_from_slice(bytes);
        Ok(a)
    }

    pub fn u8(&mut self) -> Result<u8, Short> {
        self.array::<1>().map(|[b]| b)
    }

    pub fn u16(&mut self) -> Result<u16, Short> {
        self.array().map(u16::from_le_bytes)
    }

    pub fn u32(&mut self) -> Result<u32, Short> {
        self.array().map(u32::from_le_bytes)
    }

    pub fn i32(&mut self) -> Result<i32, Short> {
        self.array().map(i32::from_le_bytes)
    }

    pub fn u64(&mut self) -> Result<u64, Short> {
        self.array().map(u64::from_le_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_bounded() {
        let mut c = Cursor::new(&[1, 0, 0, 0, 9], 0);
        assert_eq!(c.u32().unwrap(), 1);
        assert!(c.u32().is_err());
        assert_eq!(c.pos(), 4, "a failed read does not move");
        assert!(c.take(u64::MAX).is_err());
        assert_eq!(c.u8().unwrap(), 9);
        assert_eq!(c.remaining(), 0);
        let mut past = Cursor::new(&[1, 2], 10);
        assert_eq!(past.remaining(), 0);
        assert!(past.u8().is_err());
        assert_eq!(past.take(0).map(<[u8]>::len).ok(), None);
    }
}
