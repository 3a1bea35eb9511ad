//! The licence knowledge base (`data/licences.toml`): licences classified into the clauses
//! of a terms file, with the Hugging Face licence ids that mean each.

use std::sync::OnceLock;

use serde::Deserialize;

use crate::expr::Expr;
use crate::terms::Terms;

const DATA: &str = include_str!("../data/licences.toml");

/// One licence of the knowledge base.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Licence {
    /// SPDX id, or a `LicenseRef-` id for licences SPDX does not list.
    pub id: String,
    /// Full name.
    pub name: String,
    /// `software`, `content`, `data` or `model`.
    pub kind: String,
    /// Hugging Face `license:` ids that mean this licence.
    #[serde(default)]
    pub hf: Vec<String>,
    /// Where the text is.
    pub url: String,
    /// What a reader should know that the clauses do not say.
    #[serde(default)]
    pub note: Option<String>,
    /// The clauses.
    pub terms: Terms,
}

#[derive(Deserialize)]
struct File {
    licence: Vec<Licence>,
}

/// Every licence of the knowledge base.
pub fn licences() -> &'static [Licence] {
    static KB: OnceLock<Vec<Licence>> = OnceLock::new();
    // The data file is part of the build and tested; an error here is a bug in the repo.
    KB.get_or_init(|| match toml::from_str::<File>(DATA) {
        Ok(f) => f.licence,
        Err(e) => panic!("data/licences.toml is broken: {e}"),
    })
}

/// The licence with this SPDX or `LicenseRef-` id (case-insensitive, as SPDX matches);
/// a `WITH` exception is looked through, `+` ("or later") maps to the `-or-later` id.
pub fn lookup(id: &str) -> Option<&'static Licence> {
    let base = id.split(" WITH ").next().unwrap_or(id).trim();
    let base = match base.strip_suffix('+') {
        Some(b) => format!("{}-or-later", b.trim_end_matches("-only")),
        None => base.to_string(),
    };
    licences().iter().find(|l| l.id.eq_ignore_ascii_case(&base))
}

/// The licence a Hugging Face licence id means.
pub fn lookup_hf(hf: &str) -> Option<&'static Licence> {
    licences()
        .iter()
        .find(|l| l.hf.iter().any(|h| h.eq_ignore_ascii_case(hf)))
}

/// The SPDX expression for what a user typed: a Hugging Face licence id (`llama3.1`,
/// `gemma`, `openrail++`, `cc-by-nc-4.0`) maps to its knowledge-base id; otherwise an SPDX
/// expression, whose known ids are spelled as the knowledge base spells them. Ids the
/// knowledge base lacks are kept (a check answers `review` for them); `other` and ids
/// that are not SPDX-shaped are refused.
pub fn resolve_licence(input: &str) -> Result<String, String> {
    let input = input.trim();
    if let Some(l) = lookup_hf(input) {
        return Ok(l.id.clone());
    }
    let expr = Expr::parse(input)?;
    let fixed = respell(&expr)?;
    Ok(fixed.to_string())
}

fn respell(e: &Expr) -> Result<Expr, String> {
    Ok(match e {
        Expr::Id(id) => {
            let (base, exc) = match id.split_once(" WITH ") {
                Some((b, x)) => (b, Some(x)),
                None => (id.as_str(), None),
            };
            let spelled = match lookup(base) {
                Some(l) if !base.ends_with('+') => l.id.clone(),
                _ => match lookup_hf(base) {
                    Some(l) => l.id.clone(),
                    None if base.eq_ignore_ascii_case("other") => return Err(
                        "`other` is not a licence: give the licence's SPDX id or a LicenseRef- id"
                            .into(),
                    ),
                    None => base.to_string(),
                },
            };
            Expr::Id(match exc {
                Some(x) => format!("{spelled} WITH {x}"),
                None => spelled,
            })
        }
        Expr::And(v) => Expr::And(v.iter().map(respell).collect::<Result<_, _>>()?),
        Expr::Or(v) => Expr::Or(v.iter().map(respell).collect::<Result<_, _>>()?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::validate;
    use crate::terms::Use;

    #[test]
    fn the_knowledge_base_loads_and_validates() {
        let kb = licences();
        assert!(kb.len() >= 40);
        for l in kb {
            validate(&l.terms, |_, _| None).unwrap_or_else(|e| panic!("{}: {e}", l.id));
            assert!(
                l.id.starts_with("LicenseRef-") || l.url.contains("spdx.org"),
                "{}",
                l.id
            );
            assert!(["software", "content", "data", "model"].contains(&l.kind.as_str()));
        }
        let mut ids: Vec<_> = kb.iter().map(|l| l.id.to_lowercase()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), kb.len(), "ids are unique");
        let mut hf: Vec<_> = kb.iter().flat_map(|l| l.hf.iter()).collect();
        let n = hf.len();
        hf.sort();
        hf.dedup();
        assert_eq!(hf.len(), n, "hf ids are unique");
    }

    #[test]
    fn classifications_that_matter() {
        let nc = lookup("cc-by-nc-4.0").unwrap();
        assert!(!nc
            .terms
            .grant
            .uses
            .as_ref()
            .unwrap()
            .contains(&Use::Commercial));
        let llama = lookup_hf("llama3.1").unwrap();
        assert_eq!(llama.terms.caps.monthly_active_users, Some(700_000_000));
        assert_eq!(
            llama.terms.obligations.attribution.as_deref(),
            Some("Built with Llama")
        );
        assert_eq!(
            lookup_hf("llama2")
                .unwrap()
                .terms
                .prohibitions
                .train_on_outputs,
            Some(true)
        );
        assert_eq!(lookup("GPL-2.0+").unwrap().id, "GPL-2.0-or-later");
        assert_eq!(
            lookup("GPL-3.0-only WITH GCC-exception-3.1").unwrap().id,
            "GPL-3.0-only"
        );
    }

    #[test]
    fn resolves_what_users_type() {
        assert_eq!(
            resolve_licence("llama3.1").unwrap(),
            "LicenseRef-Llama-3.1-Community"
        );
        assert_eq!(resolve_licence("gemma").unwrap(), "LicenseRef-Gemma");
        assert_eq!(
            resolve_licence("openrail++").unwrap(),
            "LicenseRef-OpenRAIL++-M"
        );
        assert_eq!(resolve_licence("apache-2.0").unwrap(), "Apache-2.0");
        assert_eq!(
            resolve_licence("mit OR cc-by-sa-4.0").unwrap(),
            "MIT OR CC-BY-SA-4.0"
        );
        assert_eq!(
            resolve_licence("LicenseRef-Acme").unwrap(),
            "LicenseRef-Acme"
        );
        assert!(resolve_licence("other").is_err());
        assert!(resolve_licence("MIT AND").is_err());
    }
}
