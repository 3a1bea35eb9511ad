//! The canonical form of a JSON Lines line written straight from its bytes into a buffer,
//! for lines that are valid but not canonical as written, which the zero-copy scan (the
//! parent module) leaves to the full path: whitespace between tokens (Python's
//! `json.dumps` default), keys out of order, escapes (`\n` is in most real text), numbers
//! that are not plain integers. One pass and no JSON tree: what is canonical as written is
//! copied; a string that changes is decoded and written back by `serde_json`, and so is a
//! number that is not a plain integer, so the result is byte for byte the full path's
//! (tested with the parent's grid and property tests). Duplicate keys, very deep nesting
//! and invalid JSON answer `None`: the full path then decides, and reports the errors.

use std::borrow::Cow;
use std::ops::Range;

use super::{content_flags, Cursor, MAX_DEPTH, MAX_INT_DIGITS};
use crate::canonical::{canonical_text, is_canonical, CanonicalOptions};

/// Appends the canonical form of `line`'s record (with `field`, of that field's value: a
/// string's canonical text, anything else's canonical JSON) to `out`. `None` when the
/// full path must decide; `out` is then as it was.
pub fn json_line_into(
    line: &[u8],
    field: Option<&str>,
    opts: CanonicalOptions,
    out: &mut Vec<u8>,
) -> Option<()> {
    let start = out.len();
    let mut w = Writer {
        at: Cursor { b: line, i: 0 },
        opts,
        checking: false,
    };
    let written = w.line(field, out);
    if written.is_none() {
        out.truncate(start);
    }
    written
}

/// A string token.
struct Str<'a> {
    text: Cow<'a, str>,
    /// Written without escapes and canonical text as written: its JSON is the text in
    /// quotes.
    canonical: bool,
}

struct Writer<'a> {
    at: Cursor<'a>,
    opts: CanonicalOptions,
    /// Writing a value only to check it (a member that is not the picked field): its
    /// objects' key order and duplicates do not matter.
    checking: bool,
}

impl<'a> Writer<'a> {
    fn line(&mut self, field: Option<&str>, out: &mut Vec<u8>) -> Option<()> {
        self.at.ws();
        match field {
            None if self.at.peek()? == b'"' => {
                let s = self.string()?;
                out.extend_from_slice(self.canonical(s).as_bytes());
            }
            None => self.value(0, out)?,
            Some(f) => self.picked_field(f.as_bytes(), out)?,
        }
        self.at.ws();
        (self.at.i == self.at.b.len()).then_some(())
    }

    fn value(&mut self, depth: u32, out: &mut Vec<u8>) -> Option<()> {
        match self.at.peek()? {
            b'"' => {
                let s = self.string()?;
                self.write_string(s, out)
            }
            b'{' => self.object(depth + 1, out),
            b'[' => self.array(depth + 1, out),
            b't' => self.literal(b"true", out),
            b'f' => self.literal(b"false", out),
            b'n' => self.literal(b"null", out),
            b'-' | b'0'..=b'9' => self.number(out),
            _ => None,
        }
    }

    fn literal(&mut self, word: &[u8], out: &mut Vec<u8>) -> Option<()> {
        let end = self.at.i.checked_add(word.len())?;
        (self.at.b.get(self.at.i..end)? == word).then_some(())?;
        self.at.i = end;
        out.extend_from_slice(word);
        Some(())
    }

    /// A plain integer short enough to print back as written (not `-0`, a float) is
    /// copied; any other number is parsed and printed by `serde_json`, as the full path
    /// does (so `1.50` is `1.5`, `1e2` is `100.0`, and out-of-range numbers fail there).
    fn number(&mut self, out: &mut Vec<u8>) -> Option<()> {
        let start = self.at.i;
        while matches!(
            self.at.peek(),
            Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
        ) {
            self.at.i += 1;
        }
        let token = self.at.b.get(start..self.at.i)?;
        let digits = token.strip_prefix(b"-").unwrap_or(token);
        let plain = !digits.is_empty()
            && digits.len() <= MAX_INT_DIGITS
            && digits.iter().all(u8::is_ascii_digit)
            && (digits.first() != Some(&b'0') || digits.len() == 1)
            && token != b"-0";
        if plain {
            out.extend_from_slice(token);
            return Some(());
        }
        let n: serde_json::Number = serde_json::from_slice(token).ok()?;
        serde_json::to_writer(&mut *out, &n).ok()
    }

    /// A string token, from its opening quote: borrowed when written without escapes
    /// (checked for raw control characters, which JSON forbids, and for UTF-8), else
    /// decoded by `serde_json` (escapes, surrogate pairs, and their errors).
    fn string(&mut self) -> Option<Str<'a>> {
        let b: &'a [u8] = self.at.b;
        let open = self.at.i;
        self.at.eat(b'"')?;
        let rest = b.get(self.at.i..)?;
        let stop = memchr::memchr2(b'"', b'\\', rest)?;
        if rest.get(stop) == Some(&b'"') {
            let content = rest.get(..stop)?;
            self.at.i += stop + 1;
            let flags = content_flags(content);
            if flags.control {
                return None;
            }
            let text = std::str::from_utf8(content).ok()?;
            let canonical = if flags.high {
                is_canonical(text, self.opts)
            } else {
                !flags.double_space
                    && content.first() != Some(&b' ')
                    && content.last() != Some(&b' ')
                    && !(self.opts.case_fold && flags.upper)
            };
            return Some(Str {
                text: Cow::Borrowed(text),
                canonical,
            });
        }
        // An escape: find the closing quote (the byte after each backslash is skipped),
        // then let `serde_json` decode the token.
        let mut at = self.at.i + stop;
        loop {
            match b.get(at)? {
                b'\\' => at += 2,
                b'"' => break,
                _ => at += 1 + memchr::memchr2(b'"', b'\\', b.get(at + 1..)?)?,
            }
        }
        self.at.i = at + 1;
        let token = b.get(open..self.at.i)?;
        let text: String = serde_json::from_slice(token).ok()?;
        Some(Str {
            text: Cow::Owned(text),
            canonical: false,
        })
    }

    /// A string's canonical text.
    fn canonical(&self, s: Str<'a>) -> Cow<'a, str> {
        if s.canonical {
            s.text
        } else {
            Cow::Owned(canonical_text(&s.text, self.opts))
        }
    }

    /// A string as canonical JSON: its canonical text, escaped as `serde_json` escapes it.
    fn write_string(&self, s: Str<'a>, out: &mut Vec<u8>) -> Option<()> {
        let as_written = s.canonical;
        write_json_text(&self.canonical(s), as_written, out)
    }

    /// Opens an array or an object (`open`, `close`: its brackets) at `depth`: whether
    /// it is empty, and then closed too.
    fn open(&mut self, open: u8, close: u8, depth: u32, out: &mut Vec<u8>) -> Option<bool> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.at.eat(open)?;
        out.push(open);
        self.at.ws();
        let empty = self.at.eat(close).is_some();
        if empty {
            out.push(close);
        }
        Some(empty)
    }

    fn array(&mut self, depth: u32, out: &mut Vec<u8>) -> Option<()> {
        if self.open(b'[', b']', depth, out)? {
            return Some(());
        }
        loop {
            self.value(depth, out)?;
            if !self.at.after_member(b']')? {
                out.push(b']');
                return Some(());
            }
            out.push(b',');
        }
    }

    /// An object: members written as they come, each `"key":value` noting its canonical
    /// key and where it went, then put in key order if they were not.
    fn object(&mut self, depth: u32, out: &mut Vec<u8>) -> Option<()> {
        if self.open(b'{', b'}', depth, out)? {
            return Some(());
        }
        let body = out.len();
        let mut members: Vec<(Cow<'a, str>, Range<usize>)> = Vec::new();
        loop {
            if self.at.peek()? != b'"' {
                return None;
            }
            let key = self.string()?;
            let as_written = key.canonical;
            let key = self.canonical(key);
            self.at.ws();
            self.at.eat(b':')?;
            self.at.ws();
            let at = out.len();
            write_json_text(&key, as_written, out)?;
            out.push(b':');
            self.value(depth, out)?;
            members.push((key, at..out.len()));
            if !self.at.after_member(b'}')? {
                break;
            }
            out.push(b',');
        }
        if !self.checking && !members.windows(2).all(|w| w[0].0 < w[1].0) {
            members.sort_by(|a, b| a.0.cmp(&b.0));
            // Two members with one key (as written, or once canonical): the full path's
            // map keeps one of them, which the full path decides.
            if members.windows(2).any(|w| w[0].0 == w[1].0) {
                return None;
            }
            let written = out.get(body..)?.to_vec();
            out.truncate(body);
            for (n, (_, r)) in members.iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(written.get(r.start - body..r.end - body)?);
            }
        }
        out.push(b'}');
        Some(())
    }

    /// The value of key `field` of a top-level object, which must hold it exactly once
    /// (as decoded: an escaped key may spell it); the other members are checked to be
    /// valid, as the full path parses them too, and dropped.
    fn picked_field(&mut self, field: &[u8], out: &mut Vec<u8>) -> Option<()> {
        self.at.eat(b'{')?;
        self.at.ws();
        let mut found = false;
        if self.at.peek()? == b'}' {
            return None;
        }
        loop {
            if self.at.peek()? != b'"' {
                return None;
            }
            let key = self.string()?;
            self.at.ws();
            self.at.eat(b':')?;
            self.at.ws();
            if key.text.as_bytes() == field {
                if found {
                    return None;
                }
                found = true;
                if self.at.peek()? == b'"' {
                    let s = self.string()?;
                    out.extend_from_slice(self.canonical(s).as_bytes());
                } else {
                    self.value(1, out)?;
                }
            } else {
                let at = out.len();
                self.checking = true;
                self.value(1, out)?;
                self.checking = false;
                out.truncate(at);
            }
            if !self.at.after_member(b'}')? {
                return found.then_some(());
            }
        }
    }
}

/// Canonical text as JSON: in quotes as it is when nothing in it needs an escape (it was
/// written so, or it holds no quote, backslash or control character: the only bytes
/// `serde_json` escapes), else escaped by `serde_json`.
fn write_json_text(text: &str, as_written: bool, out: &mut Vec<u8>) -> Option<()> {
    // A branch-free fold, so the compiler vectorizes it.
    let needs_escape = || {
        text.bytes()
            .fold(false, |a, c| a | (c == b'"') | (c == b'\\') | (c < 0x20))
    };
    if as_written || !needs_escape() {
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
        return Some(());
    }
    serde_json::to_writer(&mut *out, text).ok()
}
