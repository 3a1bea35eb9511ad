//! Reading a terms file (TOML) and checking it, with errors that name the line.

use crate::terms::{Terms, LAWFUL_BASES};
use crate::territory::is_territory;

/// A terms file that cannot be used: what is wrong, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
pub struct TermsError {
    /// 1-based line of the offending key or value, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

/// Parses and validates a terms file.
pub fn parse_terms(text: &str) -> Result<Terms, TermsError> {
    let terms: Terms = toml::from_str(text).map_err(|e| TermsError {
        line: e.span().map(|s| line_of(text, s.start)),
        message: e.message().trim().to_string(),
    })?;
    validate(&terms, |section, key| find_key(text, section, key))?;
    Ok(terms)
}

/// Reads terms stored as JSON (in a manifest), validated like a terms file.
pub fn terms_from_json(value: &serde_json::Value) -> Result<Terms, TermsError> {
    let terms: Terms = serde_json::from_value(value.clone()).map_err(|e| TermsError {
        line: None,
        message: e.to_string(),
    })?;
    validate(&terms, |_, _| None)?;
    Ok(terms)
}

/// The clause-level checks that the types alone do not make.
pub(crate) fn validate(
    t: &Terms,
    locate: impl Fn(&str, &str) -> Option<usize>,
) -> Result<(), TermsError> {
    let err = |section: &str, key: &str, message: String| TermsError {
        line: locate(section, key),
        message: format!(
            "{}{key}: {message}",
            if section.is_empty() {
                String::new()
            } else {
                format!("{section}.")
            }
        ),
    };
    for (key, list) in [
        ("include", &t.territory.include),
        ("exclude", &t.territory.exclude),
    ] {
        for code in list.iter().flatten() {
            if !is_territory(code) {
                return Err(err(
                    "territory",
                    key,
                    format!(
                        "{code:?} is not an ISO 3166-1 alpha-2 code (upper case) nor EU or EEA"
                    ),
                ));
            }
        }
    }
    for code in t.personal_data.jurisdictions.iter().flatten() {
        if !is_territory(code) {
            return Err(err(
                "personal_data",
                "jurisdictions",
                format!("{code:?} is not an ISO 3166-1 alpha-2 code (upper case) nor EU or EEA"),
            ));
        }
    }
    if let (Some(s), Some(e)) = (t.term.start, t.term.end) {
        if e < s {
            return Err(err("term", "end", format!("{e} is before the start {s}")));
        }
    }
    if let Some(basis) = &t.personal_data.lawful_basis {
        if !LAWFUL_BASES.contains(&basis.as_str()) {
            return Err(err(
                "personal_data",
                "lawful_basis",
                format!("{basis:?} is not one of {}", LAWFUL_BASES.join(", ")),
            ));
        }
    }
    if let Some(owner) = &t.propagation.outputs_owner {
        if !["licensee", "licensor", "unspecified"].contains(&owner.as_str()) {
            return Err(err(
                "propagation",
                "outputs_owner",
                format!("{owner:?} is not licensee, licensor or unspecified"),
            ));
        }
    }
    if let Some(r) = &t.obligations.usage_reporting {
        if !["monthly", "quarterly", "yearly", "on-request"].contains(&r.as_str()) {
            return Err(err(
                "obligations",
                "usage_reporting",
                format!("{r:?} is not monthly, quarterly, yearly or on-request"),
            ));
        }
    }
    if let Some(i) = &t.liability.indemnity {
        if !["licensor", "licensee", "mutual", "none"].contains(&i.as_str()) {
            return Err(err(
                "liability",
                "indemnity",
                format!("{i:?} is not licensor, licensee, mutual or none"),
            ));
        }
    }
    if t.grant.uses.as_ref().is_some_and(|u| u.is_empty()) {
        return Err(err("grant", "use", "grants no use at all".into()));
    }
    Ok(())
}

/// 1-based line of byte `offset`.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The line where `key` is set in table `section` (`""` for the top level): plain tables
/// and dotted keys, which is how terms files are written.
fn find_key(text: &str, section: &str, key: &str) -> Option<usize> {
    let mut current = String::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(rest) = line.strip_prefix('[') {
            if let Some(name) = rest.split(']').next() {
                current = name.trim().to_string();
            }
            continue;
        }
        let Some((lhs, _)) = line.split_once('=') else {
            continue;
        };
        let lhs: String = lhs.split('.').map(str::trim).collect::<Vec<_>>().join(".");
        let full = if current.is_empty() {
            lhs
        } else {
            format!("{current}.{lhs}")
        };
        let wanted = if section.is_empty() {
            key.to_string()
        } else {
            format!("{section}.{key}")
        };
        if full == wanted {
            return Some(i + 1);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::terms::{Propagation, Use};

    const EXAMPLE: &str = include_str!("../templates/example.toml");

    #[test]
    fn the_issue_example_parses() {
        let t = parse_terms(EXAMPLE).unwrap();
        assert_eq!(t.licensor.as_deref(), Some("Acme AI"));
        assert_eq!(
            t.grant.uses.as_deref(),
            Some(&[Use::Research, Use::Internal, Use::Commercial][..])
        );
        assert_eq!(t.term.end.unwrap().to_string(), "2027-12-31");
        assert_eq!(t.caps.monthly_active_users, Some(1_000_000));
        assert_eq!(t.propagation.derivatives, Some(Propagation::SameTerms));
        // JSON round trip (the manifest form).
        let v = serde_json::to_value(&t).unwrap();
        assert_eq!(v["term"]["start"], "2026-01-01");
        assert_eq!(terms_from_json(&v).unwrap(), t);
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse_terms("licensor = \"A\"\n[grant]\nuse = [\"research\", \"selling\"]\n")
            .unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        assert!(e.message.contains("selling"), "{e}");
        let e = parse_terms("[grant]\nmodify = true\nfly = true\n").unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        assert!(e.to_string().contains("unknown field `fly`"), "{e}");
        let e = parse_terms("[territory]\n\ninclude = [\"US\", \"XX\"]\n").unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        assert!(e.message.contains("\"XX\""), "{e}");
        let e = parse_terms("[term]\nstart = 2026-01-01\nend = 2025-01-01\n").unwrap_err();
        assert_eq!(e.line, Some(3));
        assert!(
            e.to_string()
                .starts_with("line 3: term.end: 2025-01-01 is before"),
            "{e}"
        );
        let e = parse_terms("[term]\nstart = 2026-02-30\n").unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        let e = parse_terms("[caps]\nmonthly_active_users = -5\n").unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        let e = parse_terms("[personal_data]\nlawful_basis = \"because\"\n").unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
    }
}
