//! Licence terms of ML assets: the terms file a person writes (TOML, validated with
//! errors that name the line), the licence knowledge base (`data/licences.toml`, with the
//! Hugging Face licence ids mapped to SPDX and `LicenseRef-` ids), templates of standard
//! deals, and the use check along a lineage. Every key is documented in `docs/terms.md`.

#![forbid(unsafe_code)]

mod check;
mod date;
mod expr;
mod kb;
mod parse;
mod terms;
pub mod territory;

pub use check::{
    check, Asset, AssetKind, AssetReport, Decision, Obligation, Query, Reason, Report, Step,
    MODIFYING_RELATIONS,
};
pub use date::Date;
pub use expr::Expr;
pub use kb::{licences, lookup, lookup_hf, resolve_licence, Licence};
pub use parse::{parse_terms, terms_from_json, TermsError};
pub use terms::{
    Caps, Grant, Liability, Obligations, PersonalData, Prohibitions, Propagation, PropagationTerms,
    Term, Terms, Territory, Use, LAWFUL_BASES,
};

/// The standard deal shapes `mlprov terms init` writes.
pub const TEMPLATES: [(&str, &str); 4] = [
    ("evaluation", include_str!("../templates/evaluation.toml")),
    ("research", include_str!("../templates/research.toml")),
    ("commercial", include_str!("../templates/commercial.toml")),
    ("oem", include_str!("../templates/oem.toml")),
];

/// The text of a template by name.
pub fn template(name: &str) -> Option<&'static str> {
    TEMPLATES.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_template_is_valid() {
        for (name, text) in super::TEMPLATES {
            super::parse_terms(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}
