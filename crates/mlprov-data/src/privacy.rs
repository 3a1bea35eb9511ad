//! Privacy signals: whether a record's text contains personal-data patterns. Only counts
//! leave this module, never the values. Hand-written scanners (no regex engine): each is a
//! linear pass over the text.
//!
//! - e-mail: `local@domain.tld`, local part of `[A-Za-z0-9._%+-]`, a dotted domain with a
//!   final label of two or more letters;
//! - phone: a run of digits and separators (space, `-`, `.`, parentheses) with 10 to 15
//!   digits that starts with `+` or holds at least two separators (bare digit strings are
//!   usually identifiers);
//! - IP address: dotted IPv4 with four parts 0..=255, or IPv6 with at least three `:`
//!   and hex groups of at most four digits;
//! - payment card: 13 to 19 digits, optionally grouped by single spaces or dashes, that
//!   pass the Luhn check;
//! - IBAN: two capital letters, two check digits and 11 to 30 letters or digits
//!   (optionally in groups of four separated by spaces) that pass the ISO 13616 mod-97 check.

use serde::{Deserialize, Serialize};

/// Bit flags of the patterns found in one record.
pub type Flags = u8;
/// An e-mail address.
pub const EMAIL: Flags = 1;
/// A phone number.
pub const PHONE: Flags = 2;
/// An IP address.
pub const IP: Flags = 4;
/// A payment card number.
pub const CARD: Flags = 8;
/// An IBAN.
pub const IBAN: Flags = 16;

/// Per dataset: how many records contain each pattern (rates are these over `records`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivacyCounts {
    /// Records with an e-mail address.
    pub email: u64,
    /// Records with a phone number.
    pub phone: u64,
    /// Records with an IP address.
    pub ip_address: u64,
    /// Records with a payment card number passing the Luhn check.
    pub payment_card: u64,
    /// Records with an IBAN passing its checksum.
    pub iban: u64,
    /// Records with any of these.
    pub any: u64,
}

impl PrivacyCounts {
    /// Counts one record's flags.
    pub fn add(&mut self, f: Flags) {
        self.email += u64::from(f & EMAIL != 0);
        self.phone += u64::from(f & PHONE != 0);
        self.ip_address += u64::from(f & IP != 0);
        self.payment_card += u64::from(f & CARD != 0);
        self.iban += u64::from(f & IBAN != 0);
        self.any += u64::from(f != 0);
    }

    /// Adds another dataset's counts.
    pub fn merge(&mut self, o: &PrivacyCounts) {
        self.email += o.email;
        self.phone += o.phone;
        self.ip_address += o.ip_address;
        self.payment_card += o.payment_card;
        self.iban += o.iban;
        self.any += o.any;
    }
}

/// The patterns found in a text.
pub fn scan(text: &str) -> Flags {
    let b = text.as_bytes();
    let mut f = 0;
    if b.contains(&b'@') && has_email(b) {
        f |= EMAIL;
    }
    if b.iter().any(u8::is_ascii_digit) {
        if has_phone(b) {
            f |= PHONE;
        }
        if has_ipv4(b) {
            f |= IP;
        }
        if has_card(b) {
            f |= CARD;
        }
        if has_iban(b) {
            f |= IBAN;
        }
    }
    if f & IP == 0 && b.contains(&b':') && has_ipv6(b) {
        f |= IP;
    }
    f
}

fn has_email(b: &[u8]) -> bool {
    let local = |c: u8| c.is_ascii_alphanumeric() || b"._%+-".contains(&c);
    for (at, _) in b.iter().enumerate().filter(|(_, &c)| c == b'@') {
        if at == 0 || !local(b[at - 1]) {
            continue;
        }
        let mut end = at + 1;
        while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'.' || b[end] == b'-')
        {
            end += 1;
        }
        let domain = &b[at + 1..end];
        let domain = domain.strip_suffix(b".").unwrap_or(domain);
        let labels: Vec<&[u8]> = domain.split(|&c| c == b'.').collect();
        if labels.len() >= 2
            && labels.iter().all(|l| !l.is_empty())
            && labels
                .last()
                .is_some_and(|t| t.len() >= 2 && t.iter().all(u8::is_ascii_alphabetic))
        {
            return true;
        }
    }
    false
}

/// Maximal runs of bytes accepted by `part`, as (start, end).
fn runs(b: &[u8], part: impl Fn(u8) -> bool) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if part(b[i]) {
            let s = i;
            while i < b.len() && part(b[i]) {
                i += 1;
            }
            out.push((s, i));
        } else {
            i += 1;
        }
    }
    out
}

fn has_phone(b: &[u8]) -> bool {
    let part = |c: u8| c.is_ascii_digit() || b" -.()+".contains(&c);
    runs(b, part).into_iter().any(|(s, e)| {
        let run = b[s..e].trim_ascii();
        if run.is_empty() {
            return false;
        }
        let digits = run.iter().filter(|c| c.is_ascii_digit()).count();
        let seps = run.iter().filter(|c| b" -.()".contains(c)).count();
        let dots = run.iter().filter(|&&c| c == b'.').count();
        let marked = run[0] == b'+' || run[0] == b'(';
        // Digit groups right after a word (`GB82 WEST 1234 5698 ...`) belong to that word.
        let after_word = b[..s]
            .trim_ascii_end()
            .last()
            .is_some_and(u8::is_ascii_alphanumeric);
        (10..=15).contains(&digits)
            && dots < 3
            && (marked || (seps >= 2 && !after_word))
            && !run[1..].contains(&b'+')
    })
}

fn has_ipv4(b: &[u8]) -> bool {
    runs(b, |c| c.is_ascii_digit() || c == b'.')
        .into_iter()
        .any(|(s, e)| {
            let parts: Vec<&[u8]> = b[s..e].split(|&c| c == b'.').collect();
            parts.len() == 4
                && parts.iter().all(|p| {
                    !p.is_empty()
                        && p.len() <= 3
                        && std::str::from_utf8(p)
                            .ok()
                            .and_then(|t| t.parse::<u16>().ok())
                            .is_some_and(|v| v <= 255)
                })
        })
}

fn has_ipv6(b: &[u8]) -> bool {
    runs(b, |c| c.is_ascii_hexdigit() || c == b':')
        .into_iter()
        .any(|(s, e)| {
            let run = &b[s..e];
            let colons = run.iter().filter(|&&c| c == b':').count();
            let groups: Vec<&[u8]> = run.split(|&c| c == b':').collect();
            let compressed = run.windows(2).any(|w| w == b"::");
            (3..=7).contains(&colons)
                && groups.iter().all(|g| g.len() <= 4)
                && (colons == 7 || compressed)
                && groups.iter().filter(|g| !g.is_empty()).count() >= 2
                && !run.windows(3).any(|w| w == b":::")
        })
}

fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = (d - b'0') as u32;
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn has_card(b: &[u8]) -> bool {
    runs(b, |c| c.is_ascii_digit() || c == b' ' || c == b'-')
        .into_iter()
        .any(|(s, e)| {
            let run = b[s..e].trim_ascii();
            // Single separators only, between digits.
            if run
                .windows(2)
                .any(|w| !w[0].is_ascii_digit() && !w[1].is_ascii_digit())
            {
                return false;
            }
            let digits: Vec<u8> = run.iter().copied().filter(u8::is_ascii_digit).collect();
            (13..=19).contains(&digits.len()) && luhn(&digits)
        })
}

fn iban_valid(chars: &[u8]) -> bool {
    if !(15..=34).contains(&chars.len())
        || !chars[..2].iter().all(u8::is_ascii_uppercase)
        || !chars[2..4].iter().all(u8::is_ascii_digit)
    {
        return false;
    }
    // Move the first four characters to the end, letters as 10..35, then mod 97.
    let mut rem: u32 = 0;
    for &c in chars[4..].iter().chain(&chars[..4]) {
        let v = match c {
            b'0'..=b'9' => (c - b'0') as u32,
            b'A'..=b'Z' => (c - b'A') as u32 + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

fn has_iban(b: &[u8]) -> bool {
    runs(b, |c| {
        c.is_ascii_uppercase() || c.is_ascii_digit() || c == b' '
    })
    .into_iter()
    .any(|(s, e)| {
        // Candidates start at each two-letter, two-digit position of the run.
        let run = &b[s..e];
        (0..run.len().saturating_sub(4)).any(|i| {
            if i > 0 && run[i - 1] != b' ' {
                return false;
            }
            let w = &run[i..];
            if !(w[0].is_ascii_uppercase()
                && w[1].is_ascii_uppercase()
                && w[2].is_ascii_digit()
                && w[3].is_ascii_digit())
            {
                return false;
            }
            let compact: Vec<u8> = w.iter().copied().filter(|&c| c != b' ').collect();
            // The longest valid prefix of 15..=34 characters.
            (15..=compact.len().min(34))
                .rev()
                .any(|n| iban_valid(&compact[..n]))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_pattern_and_not_lookalikes() {
        assert_eq!(scan("write to jane.doe+x@example.co.uk today"), EMAIL);
        assert_eq!(scan("twitter @handle and a@b"), 0);
        assert_eq!(scan("call +44 20 7946 0958 now"), PHONE);
        assert_eq!(scan("call (555) 123-4567 now"), PHONE);
        assert_eq!(scan("order 12345678901234 shipped"), 0);
        assert_eq!(scan("host 192.168.1.20 up"), IP);
        assert_eq!(scan("version 1.2.3 and 300.1.1.1"), 0);
        assert_eq!(scan("v6 2001:db8::8a2e:370:7334 ok"), IP);
        assert_eq!(scan("at 12:30:45"), 0);
        assert_eq!(scan("card 4111 1111 1111 1111 exp"), CARD);
        assert_eq!(scan("card 4111 1111 1111 1112 exp"), 0);
        assert_eq!(scan("pay to GB82 WEST 1234 5698 7654 32 thanks"), IBAN);
        assert_eq!(scan("pay to GB82WEST12345698765432"), IBAN);
        assert_eq!(scan("pay to GB83WEST12345698765432"), 0);
        let mut c = PrivacyCounts::default();
        c.add(EMAIL | CARD);
        c.add(0);
        assert_eq!((c.email, c.payment_card, c.any, c.phone), (1, 1, 1, 0));
    }
}
