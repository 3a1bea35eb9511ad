//! The canonical form of a line read straight off its bytes, for lines that are already
//! canonical (most lines of most datasets): one scan decides, no JSON tree and no copy is
//! built. Anything the scan is not sure of (escapes in what is kept, floats, exponents,
//! duplicate or unsorted keys, very deep nesting, invalid JSON) answers `None`. Valid
//! lines that are not canonical as written then go to [`json_line_into`] (the `write`
//! module), which writes their canonical form without a JSON tree; what neither takes goes
//! to the full path (`record`), which also reports the errors. Any answer is byte for byte
//! what the full path produces (tested exhaustively over generated lines below and by
//! property tests).

use crate::canonical::{is_canonical, CanonicalOptions};

mod write;
pub use write::json_line_into;

/// Deepest nesting the scan follows (serde_json refuses beyond 128; deeper lines take the
/// full path, which reports it).
const MAX_DEPTH: u32 = 64;
/// Longest integer (in digits) known to print back as written: it fits `i64` and `u64`.
const MAX_INT_DIGITS: usize = 18;

/// The canonical text of a text line (its `\n` or `\r\n` included or not), if the line is
/// already canonical apart from its line ending.
pub fn text_line(line: &[u8], opts: CanonicalOptions) -> Option<&str> {
    let body = line.strip_suffix(b"\n").unwrap_or(line);
    let body = body.strip_suffix(b"\r").unwrap_or(body);
    let text = std::str::from_utf8(body).ok()?;
    // Empty lines are not records; the full path handles whatever reaches it.
    (!text.is_empty() && is_canonical(text, opts)).then_some(text)
}

/// The canonical form of a JSON Lines line's record (with `field`, of that field's value),
/// if the scan can tell it without parsing: a string's canonical text, or the value's JSON
/// as written when that is already canonical.
pub fn json_line<'a>(
    line: &'a [u8],
    field: Option<&str>,
    opts: CanonicalOptions,
) -> Option<&'a str> {
    std::str::from_utf8(json_line_bytes(line, field, opts)?).ok()
}

/// [`json_line`] as bytes (what a digest needs), without a UTF-8 pass over lines that
/// are ASCII: the scan accepts only ASCII outside strings and notes any byte of 128 or
/// more inside them, so only a line with such a byte is validated (as the full path,
/// `serde_json`, validates every line).
pub fn json_line_bytes<'a>(
    line: &'a [u8],
    field: Option<&str>,
    opts: CanonicalOptions,
) -> Option<&'a [u8]> {
    let mut s = Scan {
        at: Cursor { b: line, i: 0 },
        opts,
        high: false,
        bail: field.is_none(),
    };
    s.at.ws();
    let start = s.at.i;
    let picked = match field {
        None => {
            let v = s.value(0)?;
            Picked {
                start,
                end: s.at.i,
                value: v,
            }
        }
        Some(f) => s.picked_field(f.as_bytes())?,
    };
    s.at.ws();
    if s.at.i != line.len() {
        return None;
    }
    if s.high && std::str::from_utf8(line).is_err() {
        return None;
    }
    let range = match picked.value {
        Value::Str { canonical: true } => picked.start + 1..picked.end - 1,
        Value::Other { canonical: true } => picked.start..picked.end,
        _ => return None,
    };
    line.get(range)
}

/// What one pass over an escape-free string's content finds.
#[derive(Debug, Clone, Copy, Default)]
struct ContentFlags {
    /// A byte below 0x20 (JSON requires those escaped; tab, line feed and the other ASCII
    /// whitespace but the space are among them).
    control: bool,
    /// A byte of 128 or more (non-ASCII text).
    high: bool,
    /// Two spaces in a row.
    double_space: bool,
    /// An ASCII capital.
    upper: bool,
}

/// [`ContentFlags`] of `b`, with AVX2 where the CPU has it: this pass runs over every byte
/// of every record, and the portable build's vectors are half as wide.
fn content_flags(b: &[u8]) -> ContentFlags {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        #[allow(unsafe_code)]
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { content_flags_avx2(b) };
    }
    content_flags_portable(b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn content_flags_avx2(b: &[u8]) -> ContentFlags {
    content_flags_portable(b)
}

/// One pass of windows of 33 bytes, 32 apart, into one vector accumulator (a bit per
/// finding) reduced once at the end: each window flags its last 32 bytes, and each of
/// its first 32 with the byte after (two spaces in a row). Fixed-size loops without early
/// exits, so the compiler makes each window two loads and a few vector instructions. The
/// last window ends at the slice's end (bytes seen twice change no flag) and the first
/// byte is flagged on its own; content shorter than a window goes byte by byte.
#[inline(always)]
fn content_flags_portable(b: &[u8]) -> ContentFlags {
    const W: usize = 32;
    const CONTROL: u8 = 1;
    const UPPER: u8 = 2;
    const DOUBLE: u8 = 4;
    const HIGH: u8 = 0x80;
    let flags =
        |x: u8| u8::from(x < 0x20) | (x & HIGH) | (u8::from(x.wrapping_sub(b'A') < 26) << 1);
    let pair = |x: u8, y: u8| (u8::from(x == b' ') & u8::from(y == b' ')) << 2;
    let mut acc = [0u8; W];
    let n = b.len();
    if n > W {
        // The window of `b` at `at` (`at + W < n`), as an array: a loop of a length the
        // compiler knows.
        let mut window = |at: usize| {
            let w = b
                .get(at..at + W + 1)
                .and_then(|c| <[u8; W + 1]>::try_from(c).ok())
                .unwrap_or([b'a'; W + 1]);
            for i in 0..W {
                acc[i] |= flags(w[i + 1]) | pair(w[i], w[i + 1]);
            }
        };
        let mut at = 0;
        while at + W < n {
            window(at);
            at += W;
        }
        window(n - 1 - W);
        acc[0] |= flags(b.first().copied().unwrap_or(b'a'));
    } else {
        for (k, &x) in b.iter().enumerate() {
            acc[0] |= flags(x) | pair(x, b.get(k + 1).copied().unwrap_or(0));
        }
    }
    let all = acc.iter().fold(0u8, |a, &x| a | x);
    ContentFlags {
        control: all & CONTROL != 0,
        high: all & HIGH != 0,
        double_space: all & DOUBLE != 0,
        upper: all & UPPER != 0,
    }
}

/// What the scan learned of a value.
#[derive(Debug, Clone, Copy)]
enum Value {
    /// A string; `canonical`: its content, as written, is its canonical text and needs no
    /// escape (so its JSON is the content in quotes).
    Str { canonical: bool },
    /// Anything else; `canonical`: its JSON as written is its canonical JSON.
    Other { canonical: bool },
}

impl Value {
    fn canonical(self) -> bool {
        match self {
            Value::Str { canonical } | Value::Other { canonical } => canonical,
        }
    }
}

/// A value's place in the line.
struct Picked {
    start: usize,
    end: usize,
    value: Value,
}

/// A place in a line's bytes, and the moves both readers of JSON (the scan here and the
/// writer in `write`) make.
struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// Skips JSON whitespace; whether there was any.
    fn ws(&mut self) -> bool {
        let start = self.i;
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
        self.i != start
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    /// After an array's or object's member: `Some(true)` past a comma (another member
    /// follows), `Some(false)` past the closing bracket `close`, `None` on anything else.
    /// Whitespace around is skipped.
    fn after_member(&mut self, close: u8) -> Option<bool> {
        self.ws();
        let more = match self.peek()? {
            b',' => true,
            c if c == close => false,
            _ => return None,
        };
        self.i += 1;
        if more {
            self.ws();
        }
        Some(more)
    }
}

struct Scan<'a> {
    at: Cursor<'a>,
    opts: CanonicalOptions,
    /// Whether a string held a byte of 128 or more (then the line is validated as UTF-8).
    high: bool,
    /// Stop at the first thing not canonical as written: the answer is then `None`
    /// whatever follows (the whole record, or the picked field's value, is being read).
    bail: bool,
}

impl<'a> Scan<'a> {
    fn value(&mut self, depth: u32) -> Option<Value> {
        let v = match self.at.peek()? {
            b'"' => self.string(),
            b'{' => self.object(depth + 1),
            b'[' => self.array(depth + 1),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }?;
        (!self.stop(v.canonical())).then_some(v)
    }

    /// Whether to stop here, answering `None`: bailing, and not canonical.
    fn stop(&self, canonical: bool) -> bool {
        self.bail && !canonical
    }

    fn literal(&mut self, word: &[u8]) -> Option<Value> {
        let end = self.at.i.checked_add(word.len())?;
        (self.at.b.get(self.at.i..end)? == word).then(|| {
            self.at.i = end;
            Value::Other { canonical: true }
        })
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?`; exponents are left to the full path (a large one is
    /// out of range there). Canonical: integers that print back as written (not `-0`, which
    /// is a float, and short enough to be an `i64`/`u64`).
    fn number(&mut self) -> Option<Value> {
        let neg = self.at.peek() == Some(b'-');
        if neg {
            self.at.i += 1;
        }
        let int_start = self.at.i;
        match self.at.peek()? {
            b'0' => self.at.i += 1,
            b'1'..=b'9' => {
                while matches!(self.at.peek(), Some(b'0'..=b'9')) {
                    self.at.i += 1;
                }
            }
            _ => return None,
        }
        let digits = self.at.i - int_start;
        if digits > MAX_INT_DIGITS {
            return None;
        }
        let mut fraction = false;
        if self.at.peek() == Some(b'.') {
            self.at.i += 1;
            let f = self.at.i;
            while matches!(self.at.peek(), Some(b'0'..=b'9')) {
                self.at.i += 1;
            }
            if self.at.i == f {
                return None;
            }
            fraction = true;
        }
        if matches!(self.at.peek(), Some(b'e' | b'E')) {
            return None;
        }
        let minus_zero = neg && self.at.b.get(int_start..self.at.i) == Some(&b"0"[..]);
        Some(Value::Other {
            canonical: !fraction && !minus_zero,
        })
    }

    /// A string, from its opening quote. Escapes other than `\u` are followed (a `\u`
    /// escape, with its surrogate rules, is left to the full path); a string with an escape
    /// is not canonical as written.
    fn string(&mut self) -> Option<Value> {
        self.at.eat(b'"')?;
        let start = self.at.i;
        let rest = self.at.b.get(start..)?;
        let stop = memchr::memchr2(b'"', b'\\', rest)?;
        if rest.get(stop) == Some(&b'"') {
            // No escape: the common case, decided by vectorizable passes.
            let content = rest.get(..stop)?;
            self.at.i = start + stop + 1;
            let flags = content_flags(content);
            if flags.control {
                // Control characters must be escaped in JSON.
                return None;
            }
            self.high |= flags.high;
            let canonical = if flags.high {
                std::str::from_utf8(content).is_ok_and(|t| is_canonical(t, self.opts))
            } else {
                // ASCII: single spaces only, none at either end, no other whitespace
                // (the controls, excluded above), no capitals when case-folding.
                !flags.double_space
                    && content.first() != Some(&b' ')
                    && content.last() != Some(&b' ')
                    && !(self.opts.case_fold && flags.upper)
            };
            return Some(Value::Str { canonical });
        }
        // Escapes: from one to the next (or the closing quote), each span between them
        // checked in one pass as above. A string with an escape is not canonical as written.
        if self.bail {
            return None;
        }
        loop {
            let rest = self.at.b.get(self.at.i..)?;
            let stop = memchr::memchr2(b'"', b'\\', rest)?;
            let flags = content_flags(rest.get(..stop)?);
            if flags.control {
                return None;
            }
            self.high |= flags.high;
            self.at.i += stop;
            if self.at.peek()? == b'"' {
                break;
            }
            self.at.i += 1;
            match self.at.peek()? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.at.i += 1,
                _ => return None,
            }
        }
        self.at.i += 1;
        Some(Value::Str { canonical: false })
    }

    /// The content of a string just scanned, when it had no escape (else `None`).
    fn key_content(&self, start: usize) -> Option<&'a [u8]> {
        let b: &'a [u8] = self.at.b;
        let content = b.get(start + 1..self.at.i.checked_sub(1)?)?;
        (!content.contains(&b'\\')).then_some(content)
    }

    fn object(&mut self, depth: u32) -> Option<Value> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.at.eat(b'{')?;
        let mut canonical = !self.at.ws();
        if self.at.eat(b'}').is_some() {
            return Some(Value::Other { canonical });
        }
        let mut prev: Option<&'a [u8]> = None;
        loop {
            if self.stop(canonical) {
                return None;
            }
            let key_start = self.at.i;
            let key = self.string()?;
            let content = self.key_content(key_start);
            // Canonical keys are canonical text, sorted by their bytes, each once.
            canonical &= key.canonical()
                && match (prev, content) {
                    (None, Some(_)) => true,
                    (Some(p), Some(c)) => p < c,
                    _ => false,
                };
            prev = content;
            canonical &= !self.at.ws();
            self.at.eat(b':')?;
            canonical &= !self.at.ws();
            if self.stop(canonical) {
                return None;
            }
            canonical &= self.value(depth)?.canonical();
            canonical &= !self.at.ws();
            match self.at.peek()? {
                b',' => {
                    self.at.i += 1;
                    canonical &= !self.at.ws();
                }
                b'}' => {
                    self.at.i += 1;
                    return Some(Value::Other { canonical });
                }
                _ => return None,
            }
        }
    }

    fn array(&mut self, depth: u32) -> Option<Value> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.at.eat(b'[')?;
        let mut canonical = !self.at.ws();
        if self.at.eat(b']').is_some() {
            return Some(Value::Other { canonical });
        }
        loop {
            if self.stop(canonical) {
                return None;
            }
            canonical &= self.value(depth)?.canonical();
            canonical &= !self.at.ws();
            match self.at.peek()? {
                b',' => {
                    self.at.i += 1;
                    canonical &= !self.at.ws();
                }
                b']' => {
                    self.at.i += 1;
                    return Some(Value::Other { canonical });
                }
                _ => return None,
            }
        }
    }

    /// The value of key `field` of a top-level object, which must hold it exactly once
    /// under a key written without escapes (an escaped key might spell it too).
    fn picked_field(&mut self, field: &[u8]) -> Option<Picked> {
        self.at.eat(b'{')?;
        self.at.ws();
        let mut picked = None;
        if self.at.eat(b'}').is_some() {
            return None;
        }
        loop {
            let key_start = self.at.i;
            self.string()?;
            let content = self.key_content(key_start)?;
            self.at.ws();
            self.at.eat(b':')?;
            self.at.ws();
            let start = self.at.i;
            self.bail = content == field;
            let value = self.value(1)?;
            self.bail = false;
            if content == field {
                if picked.is_some() {
                    return None;
                }
                picked = Some(Picked {
                    start,
                    end: self.at.i,
                    value,
                });
            }
            if !self.at.after_member(b'}')? {
                return picked;
            }
        }
    }
}

#[cfg(test)]
mod tests;
