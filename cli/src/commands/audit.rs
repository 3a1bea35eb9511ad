//! `mlprov audit`: check the registry's hash-chained audit log, or list it.

use anyhow::Result;
use clap::Subcommand;
use serde_json::json;

use crate::output::print_json;
use crate::Outcome;

#[derive(Subcommand)]
pub enum Action {
    /// Check the hash chain (exit 1 naming the first edited, removed, reordered or inserted entry).
    Verify {
        /// The registry: a SQLite file or a postgres:// URL (default: $MLPROV_REGISTRY, else
        /// ~/.local/share/mlprov/registry.sqlite).
        #[arg(long, value_name = "R")]
        registry: Option<String>,
    },
    /// List every entry: sequence number, time, kind, actor, payload.
    Show {
        /// The registry: a SQLite file or a postgres:// URL (default: $MLPROV_REGISTRY, else
        /// ~/.local/share/mlprov/registry.sqlite).
        #[arg(long, value_name = "R")]
        registry: Option<String>,
    },
}

pub fn run(action: &Action, json: bool) -> Result<Outcome> {
    match action {
        Action::Verify { registry } => verify(registry.as_deref(), json),
        Action::Show { registry } => show(registry.as_deref(), json),
    }
}

fn verify(registry: Option<&str>, json: bool) -> Result<Outcome> {
    let mut store = mlprov::open_registry(registry)?;
    let v = mlprov::audit_verify(store.as_mut())?;
    if json {
        print_json(&json!({
            "registry": store.location(),
            "ok": v.is_ok(),
            "entries": v.entries,
            "head_seq": v.head_seq,
            "head": v.head,
            "first_bad": v.first_bad,
        }))?;
    } else {
        match &v.first_bad {
            None => say!(
                "audit log intact: {} entries, head entry {} {}",
                v.entries,
                v.head_seq,
                v.head
            ),
            Some(b) => say!("audit log BROKEN at entry {}: {}", b.seq, b.reason),
        }
    }
    Ok(if v.is_ok() {
        Outcome::Fine
    } else {
        Outcome::Finding
    })
}

fn show(registry: Option<&str>, json: bool) -> Result<Outcome> {
    let mut store = mlprov::open_registry(registry)?;
    let entries = mlprov::audit_show(store.as_mut())?;
    if json {
        let list: Vec<_> = entries
            .iter()
            .map(|e| {
                // The payload as JSON when it is (verify reports one that is not).
                let payload = serde_json::from_str::<serde_json::Value>(&e.payload)
                    .unwrap_or_else(|_| serde_json::Value::String(e.payload.clone()));
                json!({
                    "seq": e.seq,
                    "time": e.time,
                    "kind": e.kind,
                    "actor": e.actor,
                    "payload": payload,
                    "prev": e.prev,
                    "hash": e.hash,
                })
            })
            .collect();
        print_json(&list)?;
        return Ok(Outcome::Fine);
    }
    say!(
        "{:>6}  {:<24}  {:<8}  {:<16}  PAYLOAD",
        "SEQ",
        "TIME",
        "KIND",
        "ACTOR"
    );
    for e in &entries {
        say!(
            "{:>6}  {:<24}  {:<8}  {:<16}  {}",
            e.seq,
            e.time,
            e.kind,
            e.actor,
            e.payload
        );
    }
    say!("{} entries", entries.len());
    Ok(Outcome::Fine)
}
