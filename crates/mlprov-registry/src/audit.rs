//! The audit log: append-only and hash-chained. Entry `n` carries the digest of entry
//! `n - 1` (its `prev`), and its own digest covers its sequence number, time, kind, actor,
//! payload and `prev`; a head row records the last sequence number and digest. Any edited,
//! removed, reordered or inserted entry breaks a link that [`verify_chain`] finds.

use std::fmt;

use mlprov_hash::Digest;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// BLAKE3 `derive_key` context of an entry digest.
const CTX_AUDIT_ENTRY: &str = "mlprov 2026-11-29 audit entry v1";

/// The `prev` of the first entry, and the head of an empty log: 32 zero bytes.
pub const GENESIS: Digest = Digest([0; 32]);

/// What an audit entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditKind {
    /// An asset was registered.
    Register,
    /// Something was scanned against the registry.
    Scan,
    /// An intended use was checked.
    Check,
}

impl AuditKind {
    /// `register`, `scan` or `check`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::Register => "register",
            AuditKind::Scan => "scan",
            AuditKind::Check => "check",
        }
    }

    /// Parses [`AuditKind::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "register" => Some(AuditKind::Register),
            "scan" => Some(AuditKind::Scan),
            "check" => Some(AuditKind::Check),
            _ => None,
        }
    }
}

impl fmt::Display for AuditKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An entry to append: the store adds the sequence number, time and chain digests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// What happened.
    pub kind: AuditKind,
    /// Who did it.
    pub actor: String,
    /// Details, as JSON.
    pub payload: serde_json::Value,
}

/// One stored audit entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// 1, 2, 3, … without gaps.
    pub seq: u64,
    /// When it was appended (RFC 3339, UTC).
    pub time: String,
    /// `register`, `scan` or `check` as stored (kept as text so a tampered kind is still
    /// listed, and caught by its digest).
    pub kind: String,
    /// Who did it.
    pub actor: String,
    /// The JSON payload, as stored text (the digest covers these exact bytes).
    pub payload: String,
    /// The previous entry's digest ([`GENESIS`] for the first).
    pub prev: Digest,
    /// This entry's digest.
    pub hash: Digest,
}

/// The digest of an entry's canonical bytes: `derive_key(CTX_AUDIT_ENTRY)` over
/// `u64 seq ‖ (u64 len ‖ bytes) of time, kind, actor, payload ‖ prev`, little-endian.
pub fn entry_digest(
    seq: u64,
    time: &str,
    kind: &str,
    actor: &str,
    payload: &str,
    prev: &Digest,
) -> Digest {
    let mut h = blake3::Hasher::new_derive_key(CTX_AUDIT_ENTRY);
    h.update(&seq.to_le_bytes());
    for field in [time, kind, actor, payload] {
        h.update(&(field.len() as u64).to_le_bytes());
        h.update(field.as_bytes());
    }
    h.update(prev.as_bytes());
    h.finalize().into()
}

impl AuditEntry {
    /// The entry that follows `prev_seq`/`prev` for an event, timed `time`.
    pub(crate) fn next(prev_seq: u64, prev: Digest, time: String, event: &AuditEvent) -> Self {
        let seq = prev_seq + 1;
        // A serde_json::Value serializes with sorted keys: canonical enough to re-hash.
        let payload = event.payload.to_string();
        let kind = event.kind.as_str().to_string();
        let hash = entry_digest(seq, &time, &kind, &event.actor, &payload, &prev);
        AuditEntry {
            seq,
            time,
            kind,
            actor: event.actor.clone(),
            payload,
            prev,
            hash,
        }
    }

    /// Recomputes this entry's digest from its fields.
    pub fn recomputed(&self) -> Digest {
        entry_digest(
            self.seq,
            &self.time,
            &self.kind,
            &self.actor,
            &self.payload,
            &self.prev,
        )
    }
}

/// The first place the chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainBreak {
    /// The sequence number of the first bad entry (for a removed last entry: the one
    /// after the last entry left).
    pub seq: u64,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "entry {}: {}", self.seq, self.reason)
    }
}

/// Checks a log read in sequence order against its recorded head: numbering without gaps
/// from 1, each `prev` equal to the previous entry's digest, each digest equal to its
/// recomputation, a known kind and JSON payload, and the last entry equal to the head.
pub fn verify_chain(entries: &[AuditEntry], head: (u64, Digest)) -> Result<(), ChainBreak> {
    let mut prev = GENESIS;
    let brk = |seq: u64, reason: String| Err(ChainBreak { seq, reason });
    for (i, e) in entries.iter().enumerate() {
        let expected = i as u64 + 1;
        if e.seq != expected {
            return brk(
                expected,
                format!(
                    "sequence number {} where {expected} belongs (entries removed or inserted)",
                    e.seq
                ),
            );
        }
        if e.prev != prev {
            return brk(
                e.seq,
                "does not link to the entry before it (an entry was removed, inserted or reordered)"
                    .to_string(),
            );
        }
        if e.recomputed() != e.hash {
            return brk(
                e.seq,
                "its content does not match its digest (edited)".to_string(),
            );
        }
        if AuditKind::parse(&e.kind).is_none() {
            return brk(e.seq, format!("unknown kind {:?}", e.kind));
        }
        if serde_json::from_str::<serde_json::Value>(&e.payload).is_err() {
            return brk(e.seq, "payload is not JSON".to_string());
        }
        prev = e.hash;
    }
    let last = entries.len() as u64;
    if head.0 != last || head.1 != prev {
        return brk(
            last.min(head.0) + 1,
            format!(
                "the log ends at entry {last} but its head records entry {} (entries removed or appended outside the log)",
                head.0
            ),
        );
    }
    Ok(())
}

/// A stored sequence number.
pub(crate) fn seq_from(v: i64) -> Result<u64> {
    u64::try_from(v).map_err(|_| Error::Corrupt(format!("audit sequence number {v}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: u64) -> (Vec<AuditEntry>, (u64, Digest)) {
        let mut out: Vec<AuditEntry> = Vec::new();
        for i in 0..n {
            let (seq, prev) = out.last().map_or((0, GENESIS), |e| (e.seq, e.hash));
            let event = AuditEvent {
                kind: AuditKind::Scan,
                actor: format!("a{i}"),
                payload: serde_json::json!({"i": i}),
            };
            out.push(AuditEntry::next(
                seq,
                prev,
                "2026-11-29T00:00:00Z".into(),
                &event,
            ));
        }
        let head = out.last().map_or((0, GENESIS), |e| (e.seq, e.hash));
        (out, head)
    }

    #[test]
    fn intact_chains_verify_and_any_change_breaks_them() {
        let (c, head) = chain(5);
        assert_eq!(verify_chain(&c, head), Ok(()));
        assert_eq!(verify_chain(&[], (0, GENESIS)), Ok(()));

        let mut edited = c.clone();
        edited[2].actor = "mallory".into();
        assert_eq!(verify_chain(&edited, head).unwrap_err().seq, 3);

        let mut removed = c.clone();
        removed.remove(1);
        assert_eq!(verify_chain(&removed, head).unwrap_err().seq, 2);

        let mut last_removed = c.clone();
        last_removed.pop();
        assert_eq!(verify_chain(&last_removed, head).unwrap_err().seq, 5);

        let mut swapped = c.clone();
        swapped.swap(1, 2);
        assert_eq!(verify_chain(&swapped, head).unwrap_err().seq, 2);
    }

    #[test]
    fn the_digest_covers_every_field_with_lengths() {
        let d = |t: &str, k: &str, a: &str, p: &str| entry_digest(1, t, k, a, p, &GENESIS);
        let base = d("t", "scan", "ab", "{}");
        assert_ne!(base, d("t", "scan", "a", "b{}"));
        assert_ne!(base, d("t", "check", "ab", "{}"));
        assert_ne!(base, entry_digest(2, "t", "scan", "ab", "{}", &GENESIS));
    }
}
