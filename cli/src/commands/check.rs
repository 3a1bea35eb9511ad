//! `mlprov check`: may we do X with this model? An answer per asset of its lineage.

use std::path::{Path, PathBuf};

use anyhow::Result;
use mlprov::terms::{Decision, Query, Step};

use crate::output::print_json;
use crate::Outcome;

pub fn run(
    manifest: &Path,
    lineage: &[PathBuf],
    registry: Option<&str>,
    query: &Query,
    json: bool,
) -> Result<Outcome> {
    let mut store = registry
        .map(|r| mlprov::open_registry(Some(r)))
        .transpose()?;
    let registry = store
        .as_mut()
        .map(|s| -> &mut dyn mlprov::registry::Store { s.as_mut() });
    let report = mlprov::check_in(manifest, lineage, registry, query)?;
    if json {
        print_json(&report)?;
    } else {
        let mut what = vec![format!("{} use", query.use_.name())];
        for (on, word) in [
            (query.modify, "modified"),
            (query.redistribute, "redistributed"),
            (query.host, "hosted"),
            (query.train_on_outputs, "outputs used for training"),
        ] {
            if on {
                what.push(word.to_string());
            }
        }
        if let Some(m) = query.mau {
            what.push(format!("{m} monthly active users"));
        }
        say!(
            "check: {} ({} in {} on {})",
            report.decision.name().to_uppercase(),
            what.join(", "),
            query.territory,
            query.date
        );
        for a in &report.assets {
            let via = match a.path.last() {
                None => "subject".to_string(),
                Some(Step::DerivedFrom { relation }) => format!("base, {relation}"),
                Some(Step::TrainedOn { role }) => format!("dataset, {role}"),
            };
            say!(
                "{:<7} {} ({via}; licence {}{})",
                a.decision.name(),
                a.name,
                a.licence.as_deref().unwrap_or("none"),
                if a.has_terms { ", with terms" } else { "" }
            );
            for r in &a.reasons {
                if r.decision == Decision::Allow && a.decision != Decision::Allow {
                    continue;
                }
                say!(
                    "  {:<6} {} [{}]: {}{}",
                    r.decision.name(),
                    r.clause,
                    r.source,
                    r.message,
                    if r.unsettled { " (unsettled law)" } else { "" }
                );
            }
        }
        if !report.obligations.is_empty() {
            say!("obligations:");
            for o in &report.obligations {
                say!("  {} ({}, {} [{}])", o.text, o.asset, o.clause, o.source);
            }
        }
    }
    Ok(match report.decision {
        Decision::Allow => Outcome::Fine,
        Decision::Review | Decision::Deny => Outcome::Finding,
    })
}

/// Today (UTC) as a date, for `--date` left out.
pub fn today() -> String {
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    now.chars().take(10).collect()
}

/// `--date`, or today (UTC) when it is left out.
pub fn date_or_today(date: Option<mlprov::terms::Date>) -> Result<mlprov::terms::Date> {
    match date {
        Some(d) => Ok(d),
        None => today().parse().map_err(anyhow::Error::msg),
    }
}

/// The optional `--use` of `scan` and `graph` (clap requires `--territory` with it): a
/// plain use, nothing modified, redistributed or hosted.
pub fn intended_use(
    use_: Option<mlprov::terms::Use>,
    territory: Option<String>,
    date: Option<mlprov::terms::Date>,
    mau: Option<u64>,
) -> Result<Option<Query>> {
    let (Some(use_), Some(territory)) = (use_, territory) else {
        return Ok(None);
    };
    Ok(Some(Query {
        use_,
        territory,
        date: date_or_today(date)?,
        modify: false,
        redistribute: false,
        host: false,
        mau,
        train_on_outputs: false,
    }))
}
