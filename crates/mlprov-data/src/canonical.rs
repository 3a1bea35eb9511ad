//! The canonical form of a record (see `docs/datasets.md`): what two copies of a record
//! share after re-serialization, so that their exact digests agree.
//!
//! Text: Unicode NFC, every run of whitespace folded to one space, leading and trailing
//! whitespace removed, optionally lower-cased. JSON: the same for every string (keys too),
//! objects with keys sorted by their UTF-8 bytes, compact, numbers as serde_json writes them.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use unicode_normalization::UnicodeNormalization;

/// The canonical form's version, recorded in manifests.
pub const CANONICAL_VERSION: &str = "mlprov.canonical/v1";

/// Options of the canonical form.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CanonicalOptions {
    /// Lower-case text (Unicode default case mapping) after NFC.
    pub case_fold: bool,
}

/// [`canonical_text`] of an owned string: returned as it is when already canonical.
pub fn canonical_string(text: String, opts: CanonicalOptions) -> String {
    if is_canonical(&text, opts) {
        return text;
    }
    canonical_text(&text, opts)
}

/// The canonical form of a piece of text.
pub fn canonical_text(text: &str, opts: CanonicalOptions) -> String {
    let mut pending_space = false;
    // NFC first: whitespace folding and lower-casing then see composed characters.
    let push = |c: char, out: &mut String, pending: &mut bool| {
        if c.is_whitespace() {
            *pending = !out.is_empty();
            return;
        }
        if *pending {
            out.push(' ');
            *pending = false;
        }
        out.push(c);
    };
    if is_canonical(text, opts) {
        return text.to_owned();
    }
    if text.is_ascii() {
        // ASCII is already NFC: fold bytes directly (the common path, no decoding).
        let mut bytes = Vec::with_capacity(text.len());
        for &c in text.as_bytes() {
            // `char::is_whitespace` on ASCII: tab, line feed, vertical tab, form feed,
            // carriage return, space.
            if matches!(c, 0x09..=0x0d | b' ') {
                pending_space = !bytes.is_empty();
                continue;
            }
            if pending_space {
                bytes.push(b' ');
                pending_space = false;
            }
            bytes.push(if opts.case_fold {
                c.to_ascii_lowercase()
            } else {
                c
            });
        }
        // Only ASCII bytes were pushed: always valid UTF-8.
        return String::from_utf8(bytes).unwrap_or_default();
    }
    let mut out = String::with_capacity(text.len());
    if opts.case_fold {
        // Lower-casing can leave a non-NFC sequence: normalize again after it.
        let lowered: String = text.nfc().flat_map(char::to_lowercase).collect();
        for c in lowered.nfc() {
            push(c, &mut out, &mut pending_space);
        }
    } else {
        for c in text.nfc() {
            push(c, &mut out, &mut pending_space);
        }
    }
    out
}

/// Whether text is already canonical, decided without building its canonical form: ASCII
/// by [`is_canonical_ascii`]; other text when it is NFC by the quick check, holds no
/// whitespace but single spaces (none at either end), and no case-folding is asked for.
/// `false` only means "not known to be": callers then canonicalize.
pub(crate) fn is_canonical(text: &str, opts: CanonicalOptions) -> bool {
    if text.is_ascii() {
        return is_canonical_ascii(text.as_bytes(), opts);
    }
    if opts.case_fold
        || unicode_normalization::is_nfc_quick(text.chars())
            != unicode_normalization::IsNormalized::Yes
    {
        return false;
    }
    // `true` at the start: a leading space is not canonical.
    let mut prev_space = true;
    for c in text.chars() {
        if c == ' ' {
            if prev_space {
                return false;
            }
            prev_space = true;
        } else if c.is_whitespace() {
            return false;
        } else {
            prev_space = false;
        }
    }
    // Not empty (it is not ASCII), so a trailing space is what `prev_space` says.
    !prev_space
}

/// Whether ASCII text is already canonical: single spaces only, none at either end, no
/// other whitespace, and no capitals when case-folding (most records: one cheap pass).
/// Written without early exits so the compiler vectorizes it: it runs over every record.
pub(crate) fn is_canonical_ascii(b: &[u8], opts: CanonicalOptions) -> bool {
    if b.first() == Some(&b' ') || b.last() == Some(&b' ') {
        return false;
    }
    // `char::is_whitespace` on ASCII: tab, line feed, vertical tab, form feed, carriage
    // return (0x09..=0x0d) and space.
    let other_space = b.iter().fold(false, |a, &c| a | (c.wrapping_sub(0x09) < 5));
    let double_space = b
        .iter()
        .zip(b.iter().skip(1))
        .fold(false, |a, (&x, &y)| a | ((x == b' ') & (y == b' ')));
    let upper = opts.case_fold && b.iter().fold(false, |a, &c| a | c.is_ascii_uppercase());
    !(other_space || double_space || upper)
}

/// The canonical compact JSON of a value (strings canonical as text, keys sorted).
pub fn canonical_json(value: &Value, opts: CanonicalOptions) -> String {
    let mut out = String::new();
    write_json(value, opts, &mut out);
    out
}

fn write_string(s: &str, opts: CanonicalOptions, out: &mut String) {
    out.push_str(&Value::String(canonical_text(s, opts)).to_string());
}

fn write_json(value: &Value, opts: CanonicalOptions, out: &mut String) {
    match value {
        Value::String(s) => write_string(s, opts, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, opts, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(String, &Value)> = map
                .iter()
                .map(|(k, v)| (canonical_text(k, opts), v))
                .collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k).to_string());
                out.push(':');
                write_json(v, opts, out);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn folds_whitespace_and_composes() {
        let o = CanonicalOptions::default();
        assert_eq!(canonical_text("  a\t\n b  c ", o), "a b c");
        // e + combining acute -> é (NFC).
        assert_eq!(canonical_text("caf\u{65}\u{301}", o), "caf\u{e9}");
        assert_eq!(canonical_text("A\u{a0}B", o), "A B");
        let f = CanonicalOptions { case_fold: true };
        assert_eq!(canonical_text("Hello  WORLD", f), "hello world");
        assert_eq!(canonical_text("ÉCOLE", f), "école");
    }

    #[test]
    fn json_keys_sorted_and_strings_canonical() {
        let o = CanonicalOptions::default();
        let v = json!({"b": " x  y", "a": [1, {"d": true, "c": null}]});
        assert_eq!(
            canonical_json(&v, o),
            r#"{"a":[1,{"c":null,"d":true}],"b":"x y"}"#
        );
    }
}
