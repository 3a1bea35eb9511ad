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
        // Only ASCII bytes are pushed: always valid UTF-8.
        return String::from_utf8(fold_ascii(text.as_bytes(), opts.case_fold)).unwrap_or_default();
    }
    if !opts.case_fold
        && unicode_normalization::is_nfc_quick(text.chars())
            == unicode_normalization::IsNormalized::Yes
    {
        // Already NFC (most text): only the whitespace to fold, a word at a time.
        let mut out = String::with_capacity(text.len());
        for word in text.split(char::is_whitespace).filter(|w| !w.is_empty()) {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(word);
        }
        return out;
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

/// `char::is_whitespace` on ASCII: tab, line feed, vertical tab, form feed, carriage
/// return (0x09..=0x0d) and space.
fn is_ascii_space(c: u8) -> bool {
    c == b' ' || c.wrapping_sub(0x09) < 5
}

/// [`canonical_text`] of ASCII text: each run of whitespace becomes one space (none at
/// either end). Runs of bytes with no whitespace but single spaces between other bytes
/// (most of any text) are found a window at a time and copied whole.
fn fold_ascii(b: &[u8], case_fold: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut p = 0;
    while p < b.len() {
        if b.get(p).is_some_and(|&c| is_ascii_space(c)) {
            while b.get(p).is_some_and(|&c| is_ascii_space(c)) {
                p += 1;
            }
            // A space only between two other bytes: not at the start, nor at the end.
            if !out.is_empty() && p < b.len() {
                out.push(b' ');
            }
            continue;
        }
        let end = next_fold(b, p);
        let run = b.get(p..end).unwrap_or_default();
        if case_fold {
            out.extend(run.iter().map(u8::to_ascii_lowercase));
        } else {
            out.extend_from_slice(run);
        }
        p = end;
    }
    out
}

/// The first index at or after `p` where ASCII text `b` needs folding: a whitespace byte
/// other than the space, or a space followed by whitespace or by the end. Windows of 33
/// bytes, 32 apart, are checked with branch-free folds (which the compiler vectorizes);
/// the window with a finding, and the last few bytes, byte by byte.
fn next_fold(b: &[u8], mut p: usize) -> usize {
    const W: usize = 32;
    let needs_fold = |x: u8, y: Option<u8>| {
        x.wrapping_sub(0x09) < 5 || (x == b' ' && y.is_none_or(is_ascii_space))
    };
    while let Some(w) = b.get(p..p + W + 1) {
        let control = w[..W]
            .iter()
            .fold(false, |a, &c| a | (c.wrapping_sub(0x09) < 5));
        let double = w[..W]
            .iter()
            .zip(&w[1..])
            .fold(false, |a, (&x, &y)| a | ((x == b' ') & is_ascii_space(y)));
        if control || double {
            break;
        }
        p += W;
    }
    while let Some(&x) = b.get(p) {
        if needs_fold(x, b.get(p + 1).copied()) {
            return p;
        }
        p += 1;
    }
    p
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

    /// The definition, a character at a time.
    fn fold_reference(text: &str, case_fold: bool) -> String {
        let words: Vec<String> = text
            .split(char::is_whitespace)
            .filter(|w| !w.is_empty())
            .map(|w| {
                if case_fold {
                    w.to_lowercase()
                } else {
                    w.to_string()
                }
            })
            .collect();
        words.join(" ")
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]
        #[test]
        fn ascii_folding_is_the_definition(
            s in "([a-zA-Z.]{1,40}|[ ]{1,3}|[\t\n\x0b\x0c\r]{1,2}){0,30}",
            case_fold in proptest::bool::ANY,
        ) {
            proptest::prop_assert_eq!(
                String::from_utf8(fold_ascii(s.as_bytes(), case_fold)).unwrap(),
                fold_reference(&s, case_fold)
            );
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]
        #[test]
        fn canonical_text_is_nfc_then_folded(
            s in "(a|Z|\u{e9}|e\u{301}|\u{130}|\u{df}|\u{65e5}|\u{3000}|\u{a0}|\u{2028}| |  |\\n|\\t|\u{1f600}){0,16}",
            case_fold in proptest::bool::ANY,
        ) {
            // The definition: NFC (lower-cased and NFC again when folding case), then each
            // run of whitespace as one space, none at either end.
            let nfc: String = if case_fold {
                s.nfc().flat_map(char::to_lowercase).collect::<String>().nfc().collect()
            } else {
                s.nfc().collect()
            };
            let want = fold_reference(&nfc, false);
            proptest::prop_assert_eq!(canonical_text(&s, CanonicalOptions { case_fold }), want);
        }
    }

    #[test]
    fn ascii_folding_at_every_window_boundary() {
        for len in 0..80 {
            for at in 0..len {
                for ws in [" ", "  ", "\n", " \n ", "\t\t"] {
                    let mut s = "Ab".repeat(len).chars().take(len).collect::<String>();
                    s.insert_str(at, ws);
                    for case_fold in [false, true] {
                        assert_eq!(
                            String::from_utf8(fold_ascii(s.as_bytes(), case_fold)).unwrap(),
                            fold_reference(&s, case_fold),
                            "{s:?}"
                        );
                    }
                }
            }
        }
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
