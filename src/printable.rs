//! Text from files (tensor names, metadata, paths, pickle globals) made safe to show on a
//! terminal: a newline in a name must not forge a line such as `verify: OK`, and an escape
//! sequence must not repaint the screen.

use std::borrow::Cow;

/// `text` with every control character (C0, DEL, C1), Unicode line separator and
/// bidirectional-override character written as a visible escape (`\n`, `\x1b`, `\u{202e}`).
/// Text without any is returned as it is.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) && (c as u32) < 0x80 => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if needs_escape(c) => out.push_str(&format!("\\u{{{:04x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}')
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_and_controls_are_escaped() {
        assert!(matches!(printable("layers.0.weight ü"), Cow::Borrowed(_)));
        assert_eq!(
            printable("w\nverify: OK\r\x1b[2J\u{7f}\u{85}"),
            "w\\nverify: OK\\r\\x1b[2J\\x7f\\u{0085}"
        );
        assert_eq!(printable("a\u{202e}b\u{2066}c"), "a\\u{202e}b\\u{2066}c");
        assert!(!printable("\t\u{2028}").contains(['\t', '\u{2028}']));
    }
}
