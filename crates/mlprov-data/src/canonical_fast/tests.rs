//! The fast path must give exactly the full path's canonical form whenever it answers:
//! checked over an exhaustive grid of small records and over generated ones (non-ASCII,
//! NFD, Unicode spaces, unsorted and duplicate keys, whitespace, escapes, numbers of every
//! shape, broken JSON).

use proptest::prelude::*;
use serde_json::Value;

use super::*;
use crate::canonical::{canonical_json, canonical_string};

const PLAIN: CanonicalOptions = CanonicalOptions { case_fold: false };
const FOLD: CanonicalOptions = CanonicalOptions { case_fold: true };

/// What the full path (`record::json_content`) makes of a line: parse, pick, canonicalize.
fn full_json(line: &[u8], field: Option<&str>, opts: CanonicalOptions) -> Option<String> {
    let v: Value = serde_json::from_slice(line).ok()?;
    let v = match field {
        None => v,
        Some(f) => match v {
            Value::Object(mut m) => m.remove(f)?,
            _ => return None,
        },
    };
    Some(match v {
        Value::String(s) => canonical_string(s, opts),
        other => canonical_json(&other, opts),
    })
}

/// What the full path makes of a text line.
fn full_text(line: &[u8], opts: CanonicalOptions) -> Option<String> {
    Some(canonical_string(
        String::from_utf8(line.to_vec()).ok()?,
        opts,
    ))
}

/// How often each path answered.
#[derive(Debug, Default)]
struct Answers {
    /// The zero-copy scan.
    as_written: usize,
    /// The writer.
    written: usize,
    /// The full path (the line is valid and has the field).
    full: usize,
}

/// [`json_line_into`]'s answer, appended after a prefix that must survive either way.
fn write_line(line: &[u8], field: Option<&str>, opts: CanonicalOptions) -> Option<String> {
    let mut out = b"kept".to_vec();
    let answer = json_line_into(line, field, opts, &mut out);
    assert_eq!(&out[..4], b"kept");
    match answer {
        Some(()) => Some(String::from_utf8(out[4..].to_vec()).expect("UTF-8")),
        None => {
            assert_eq!(out, b"kept", "left as it was on None");
            None
        }
    }
}

/// Checks one line every way: whatever the scan or the writer answers is the full path's.
fn check(line: &str) -> Answers {
    let mut answers = Answers::default();
    for opts in [PLAIN, FOLD] {
        for field in [None, Some("text"), Some("b")] {
            let fast = json_line(line.as_bytes(), field, opts);
            assert_eq!(
                json_line_bytes(line.as_bytes(), field, opts),
                fast.map(str::as_bytes),
                "bytes {line:?} field {field:?} {opts:?}"
            );
            let full = full_json(line.as_bytes(), field, opts);
            if let Some(f) = fast {
                assert_eq!(
                    Some(f.to_string()),
                    full,
                    "json {line:?} field {field:?} {opts:?}"
                );
                answers.as_written += 1;
            }
            let written = write_line(line.as_bytes(), field, opts);
            if let Some(w) = &written {
                assert_eq!(
                    Some(w),
                    full.as_ref(),
                    "written {line:?} field {field:?} {opts:?}"
                );
                answers.written += 1;
            }
            assert!(
                fast.is_none() || written.is_some(),
                "the writer takes what the scan takes: {line:?} field {field:?}"
            );
            answers.full += usize::from(full.is_some());
        }
        if let Some(f) = text_line(line.as_bytes(), opts) {
            assert_eq!(
                Some(f.to_string()),
                full_text(line.as_bytes(), opts),
                "text {line:?}"
            );
        }
    }
    answers
}

/// Strings as they may be written in JSON (quotes included): canonical or not, ASCII or
/// not, NFC or NFD, with escapes, with raw control characters (invalid).
const STRINGS: &[&str] = &[
    r#""""#,
    r#""a""#,
    r#""A b""#,
    r#""a  b""#,
    r#"" a""#,
    r#""a ""#,
    "\"caf\u{e9}\"",
    "\"cafe\u{301}\"",
    "\"x\u{a0}y\"",
    "\"\u{65e5}\u{672c} \u{8a9e}\"",
    "\"\u{3000}z\"",
    "\"\u{130}\u{df}\"",
    r#""a\nb""#,
    r#""\u00e9""#,
    r#""q\"q""#,
    r#""s\/s""#,
    "\"tab\there\"",
    r#""\ud800""#,
    "\"\u{7f}\"",
];

const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "7",
    "-12",
    "1.5",
    "1.50",
    "-0.0",
    "1e3",
    "2E-2",
    "123456789012345678",
    "-123456789012345678",
    "12345678901234567890",
    "1234567890123456789012",
    "01",
    "1.",
    "-",
    ".5",
];

const OTHERS: &[&str] = &[
    "true",
    "false",
    "null",
    "nul",
    "[]",
    "{}",
    "[ ]",
    "[1,2]",
    "[1, 2]",
    r#"{"b":1,"a":2}"#,
    r#"{"a":2,"b":1}"#,
    r#"{"a":1,"a":2}"#,
    "[[[]]]",
    r#"{"a":[{"b":null}]}"#,
];

#[test]
fn every_small_record_agrees_with_the_full_path() {
    let values: Vec<&str> = STRINGS
        .iter()
        .chain(NUMBERS)
        .chain(OTHERS)
        .copied()
        .collect();
    let keys = [
        r#""text""#,
        r#""b""#,
        r#""a""#,
        r#""B""#,
        r#""te\u0078t""#,
        "\"\u{e9}\"",
    ];
    let mut hits = 0;
    let mut total = 0;
    let (mut written, mut valid) = (0, 0);
    let mut tally = |a: Answers| {
        written += a.written;
        valid += a.full;
        usize::from(a.as_written > 0)
    };
    for v in &values {
        total += 1;
        hits += tally(check(v));
        for line in [format!("{v}\n"), format!(" {v}\r\n"), format!("{v} x")] {
            tally(check(&line));
        }
        for k1 in keys {
            for k2 in keys {
                for (sep, colon) in [(",", ":"), (", ", ": "), (" ,", " :")] {
                    let line = format!(
                        "{{{k1}{colon}{v}{sep}{k2}{colon}{}}}",
                        values[total % values.len()]
                    );
                    total += 1;
                    hits += tally(check(&line));
                }
            }
            total += 1;
            hits += tally(check(&format!("{{{k1}:{v}}}")));
            hits += tally(check(&format!("[{v},{v}]")));
        }
    }
    // The grid is meant to exercise the fast path, not only the fallback.
    assert!(hits * 8 > total, "fast path answered {hits} of {total}");
    // The writer takes every valid line but those with a key twice (once canonical), which
    // are about a fifth of the grid (a key paired with itself, `te\u0078t` with `text`,
    // `b` with `B` when folding; the generated records check "every" exactly).
    assert!(
        written * 4 > valid * 3,
        "the writer answered {written} of {valid} valid lines"
    );
}

#[test]
fn deep_nesting_is_left_to_the_full_path() {
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    assert_eq!(json_line(deep.as_bytes(), None, PLAIN), None);
    let ok = format!("{}{}", "[".repeat(10), "]".repeat(10));
    assert_eq!(json_line(ok.as_bytes(), None, PLAIN), Some(ok.as_str()));
}

#[test]
fn the_benchmark_record_shape_takes_the_fast_path() {
    let line = b"{\"id\": 12, \"text\": \"lorem ipsum dolor\"}\n";
    assert_eq!(
        json_line(line, Some("text"), PLAIN),
        Some("lorem ipsum dolor")
    );
    assert_eq!(json_line(line, None, PLAIN), None);
    assert_eq!(
        json_line(br#"{"id":12,"text":"lorem ipsum"}"#, None, PLAIN),
        Some(r#"{"id":12,"text":"lorem ipsum"}"#)
    );
    assert_eq!(
        text_line(b"caf\xc3\xa9 au lait\r\n", PLAIN),
        Some("caf\u{e9} au lait")
    );
}

#[test]
fn lines_as_python_and_pandas_write_them_take_the_writer() {
    // `json.dumps` defaults (spaces after separators, non-ASCII as `\u` escapes), keys out
    // of order, paragraphs, floats, an exponent, nesting: none is canonical as written.
    let lines = [
        "{\"text\": \"First para.\\n\\nSecond  one, caf\\u00e9 \\\"quoted\\\".\", \"id\": \"doc-1\", \"meta\": {\"score\": 0.5, \"source\": \"web\"}}\n",
        "{\"meta\":{\"source\":\"web\",\"lang\":\"en\"},\"text\":\"Tab\\tand\\/slash\",\"n\":1e3}\r\n",
        "{\"text\": \"\\ud83d\\ude00 smile\", \"tags\": [\"a\", \"b\"], \"x\": -0.0}",
    ];
    for line in lines {
        assert_eq!(json_line(line.as_bytes(), None, PLAIN), None, "{line:?}");
        for field in [
            None,
            Some("text"),
            Some("x").filter(|_| line.contains("\"x\"")),
        ] {
            for opts in [PLAIN, FOLD] {
                let written = write_line(line.as_bytes(), field, opts);
                assert!(written.is_some(), "{line:?} {field:?}");
                assert_eq!(written, full_json(line.as_bytes(), field, opts));
            }
        }
    }
    assert_eq!(
        write_line(lines[0].as_bytes(), Some("text"), PLAIN).as_deref(),
        Some("First para. Second one, caf\u{e9} \"quoted\".")
    );
    assert_eq!(
        write_line(lines[1].as_bytes(), None, PLAIN).as_deref(),
        Some(r#"{"meta":{"lang":"en","source":"web"},"n":1000.0,"text":"Tab and/slash"}"#)
    );
}

/// A generated JSON value.
#[derive(Debug, Clone)]
enum Gen {
    Str(String),
    Num(String),
    Lit(&'static str),
    Arr(Vec<Gen>),
    Obj(Vec<(String, Gen)>),
}

fn text() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "a",
        "b",
        "Z",
        " ",
        "  ",
        "\t",
        "\n",
        "\u{e9}",
        "e\u{301}",
        "\u{a0}",
        "\u{2003}",
        "\u{65e5}",
        "\"",
        "\\",
        "/",
        "\u{1}",
        "\u{7f}",
        "\u{1f600}",
        "\u{130}",
        "text",
        "id",
    ]);
    prop::collection::vec(pieces, 0..6).prop_map(|v| v.concat())
}

fn gen() -> impl Strategy<Value = Gen> {
    let leaf = prop_oneof![
        text().prop_map(Gen::Str),
        prop::sample::select(vec![
            "0",
            "-0",
            "5",
            "-7",
            "1.25",
            "3.0",
            "1e2",
            "99999999999999999999",
            "-9223372036854775808",
            "18446744073709551615",
            "123456789012345678",
        ])
        .prop_map(|n| Gen::Num(n.to_string())),
        prop::sample::select(vec!["true", "false", "null"]).prop_map(Gen::Lit),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Gen::Arr),
            prop::collection::vec((text(), inner), 0..4).prop_map(Gen::Obj),
        ]
    })
}

/// Whether every object in `g` has keys that stay distinct once canonical (folded or not).
fn distinct_keys(g: &Gen) -> bool {
    match g {
        Gen::Arr(items) => items.iter().all(distinct_keys),
        Gen::Obj(entries) => {
            [PLAIN, FOLD].into_iter().all(|opts| {
                let mut keys: Vec<String> = entries
                    .iter()
                    .map(|(k, _)| crate::canonical::canonical_text(k, opts))
                    .collect();
                keys.sort();
                keys.windows(2).all(|w| w[0] != w[1])
            }) && entries.iter().all(|(_, v)| distinct_keys(v))
        }
        _ => true,
    }
}

/// How a value is written: whitespace around tokens, escaping of strings.
#[derive(Debug, Clone, Copy)]
struct Style {
    space: bool,
    sort: bool,
    escape_all: bool,
}

fn write_str(s: &str, style: Style, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' if style.escape_all => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if style.escape_all && !c.is_ascii() => {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write(g: &Gen, style: Style, out: &mut String) {
    let sp = if style.space { " " } else { "" };
    match g {
        Gen::Str(s) => write_str(s, style, out),
        Gen::Num(n) => out.push_str(n),
        Gen::Lit(l) => out.push_str(l),
        Gen::Arr(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                    out.push_str(sp);
                }
                write(item, style, out);
            }
            out.push(']');
        }
        Gen::Obj(entries) => {
            let mut entries: Vec<&(String, Gen)> = entries.iter().collect();
            if style.sort {
                entries.sort_by(|a, b| a.0.cmp(&b.0));
            }
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                    out.push_str(sp);
                }
                write_str(k, style, out);
                out.push(':');
                out.push_str(sp);
                write(v, style, out);
            }
            out.push('}');
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn generated_records_agree_with_the_full_path(
        g in gen(),
        field in prop::collection::vec((text(), gen()), 0..3),
        space in any::<bool>(),
        sort in any::<bool>(),
        escape_all in any::<bool>(),
        cut in any::<prop::sample::Index>(),
        mutate in 0u8..4,
    ) {
        let style = Style { space, sort, escape_all };
        let mut line = String::new();
        write(&g, style, &mut line);
        let a = check(&line);
        // The writer takes every valid line whose keys are distinct (once canonical).
        prop_assert!(a.written == a.full || !distinct_keys(&g), "{line:?}");
        // The same value under `text` among other fields, as a JSON Lines record.
        let mut entries = field;
        entries.push(("text".to_string(), g));
        let rec_value = Gen::Obj(entries);
        let mut rec = String::new();
        write(&rec_value, style, &mut rec);
        rec.push('\n');
        let a = check(&rec);
        prop_assert!(a.written == a.full || !distinct_keys(&rec_value), "{rec:?}");
        // Broken variants: cut short, or a byte dropped or doubled.
        let at = cut.index(rec.len());
        if rec.is_char_boundary(at) {
            let variant = match mutate {
                0 => rec[..at].to_string(),
                1 => format!("{}{}", &rec[..at], &rec[at..].chars().skip(1).collect::<String>()),
                2 => format!("{}{}", &rec[..at], &rec[at..].chars().take(1).chain(rec[at..].chars()).collect::<String>()),
                _ => format!("{} {}", &rec[..at], &rec[at..]),
            };
            check(&variant);
        }
    }

    #[test]
    fn arbitrary_text_lines_agree(s in "\\PC{0,12}", nl in prop::sample::select(vec!["", "\n", "\r\n", " \n"])) {
        let line = format!("{s}{nl}");
        for opts in [PLAIN, FOLD] {
            if let Some(f) = text_line(line.as_bytes(), opts) {
                prop_assert_eq!(Some(f.to_string()), full_text(line.as_bytes(), opts));
            }
        }
    }
}

#[test]
fn invalid_utf8_anywhere_in_the_line_is_left_to_the_full_path() {
    for line in [
        &b"{\"a\":\"\xff\",\"text\":\"ok\"}"[..],
        b"{\"a\":\"x\\n\xc3\",\"text\":\"ok\"}",
        b"{\"text\":\"ok \xe2\x82\"}",
    ] {
        assert!(std::str::from_utf8(line).is_err());
        assert!(serde_json::from_slice::<Value>(line).is_err());
        assert_eq!(json_line_bytes(line, Some("text"), PLAIN), None, "{line:?}");
        assert_eq!(json_line(line, Some("text"), PLAIN), None);
    }
    // Valid non-ASCII elsewhere in the line does not stop an ASCII field.
    let ok = "{\"a\":\"caf\u{e9}\",\"text\":\"ok\"}";
    assert_eq!(
        json_line_bytes(ok.as_bytes(), Some("text"), PLAIN),
        Some(&b"ok"[..])
    );
}

#[test]
fn content_flags_at_every_position_of_a_block() {
    // Each finding placed at every offset around the 32-byte blocks, including a double
    // space split across two blocks.
    for len in 0..100usize {
        for at in 0..len {
            let mut b = vec![b'a'; len];
            b[at] = 0x1f;
            assert!(content_flags(&b).control && content_flags_portable(&b).control);
            b[at] = 0xc3;
            assert!(content_flags(&b).high);
            b[at] = b'Q';
            assert!(content_flags(&b).upper && !content_flags(&b).high);
            b[at] = b' ';
            assert!(!content_flags(&b).double_space, "{len} {at}");
            if at + 1 < len {
                b[at + 1] = b' ';
                assert!(content_flags(&b).double_space, "{len} {at}");
            }
        }
        let plain = vec![b'z'; len];
        let f = content_flags(&plain);
        assert!(!(f.control || f.high || f.double_space || f.upper));
    }
}
