//! `mlprov terms`: write a terms file from a template, validate one, list the licence
//! knowledge base.

use std::path::Path;

use anyhow::{anyhow, Result};
use serde_json::json;

use crate::output::print_json;
use crate::Outcome;

pub fn init(template: &str, output: &Path, force: bool, json: bool) -> Result<Outcome> {
    let text = mlprov::terms::template(template).ok_or_else(|| {
        let names: Vec<&str> = mlprov::terms::TEMPLATES.iter().map(|(n, _)| *n).collect();
        anyhow!("unknown template {template:?} ({})", names.join(", "))
    })?;
    mlprov::check_target(output, force)?;
    mlprov::write_bytes(output, text.as_bytes())?;
    if json {
        print_json(&json!({"terms": output.display().to_string(), "template": template}))?;
    } else {
        say!(
            "wrote {} (template {template}: fill in the parties and dates)",
            output.display()
        );
    }
    Ok(Outcome::Fine)
}

pub fn check(path: &Path, json: bool) -> Result<Outcome> {
    let terms = mlprov::read_terms(path)?;
    if json {
        print_json(&json!({"terms": path.display().to_string(), "valid": true, "clauses": terms}))?;
    } else {
        say!("{}: valid terms", path.display());
        if let Some(uses) = &terms.grant.uses {
            let names: Vec<&str> = uses.iter().map(|u| u.name()).collect();
            say!("  grant.use: {}", names.join(", "));
        }
        if let (Some(s), Some(e)) = (terms.term.start, terms.term.end) {
            say!("  term: {s} to {e}");
        }
        if let Some(t) = &terms.territory.include {
            say!("  territory: {}", t.join(", "));
        }
    }
    Ok(Outcome::Fine)
}

pub fn licences(json: bool) -> Result<Outcome> {
    let kb = mlprov::terms::licences();
    if json {
        let rows: Vec<_> = kb
            .iter()
            .map(|l| json!({"id": l.id, "name": l.name, "kind": l.kind, "hf": l.hf, "url": l.url, "note": l.note, "terms": l.terms}))
            .collect();
        print_json(&rows)?;
    } else {
        say!("{:<36} {:<9} {:<28} name", "id", "kind", "hugging face ids");
        for l in kb {
            say!(
                "{:<36} {:<9} {:<28} {}",
                l.id,
                l.kind,
                l.hf.join(","),
                l.name
            );
        }
    }
    Ok(Outcome::Fine)
}
