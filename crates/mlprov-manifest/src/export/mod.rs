//! Exports of a manifest to the bill-of-materials formats: SPDX 3.0.1 (JSON-LD, AI and
//! Dataset profiles) and CycloneDX 1.6 (JSON, ML-BOM).

mod cyclonedx;
mod spdx;

use std::collections::BTreeMap;

use mlprov_hash::Digest;

pub use cyclonedx::to_cyclonedx;
pub use spdx::to_spdx;

/// What an export knows about the assets of the lineage beyond the manifest's own entries:
/// their licence expressions, by manifest digest (from the lineage graph).
pub type LineageLicences = BTreeMap<Digest, String>;

/// The terms clauses the exports use, read from the manifest's JSON without depending on
/// the terms crate.
pub(crate) struct TermsView {
    pub licensor: Option<String>,
    pub licensee: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
    pub uses: Vec<String>,
}

impl TermsView {
    pub(crate) fn of(m: &crate::Manifest) -> Option<TermsView> {
        let t = m.licence.terms.as_ref()?;
        let s = |v: Option<&serde_json::Value>| v.and_then(|v| v.as_str()).map(str::to_string);
        Some(TermsView {
            licensor: s(t.get("licensor")),
            licensee: s(t.get("licensee")),
            start: s(t.get("term").and_then(|x| x.get("start"))),
            end: s(t.get("term").and_then(|x| x.get("end"))),
            uses: t
                .get("grant")
                .and_then(|g| g.get("use"))
                .and_then(|u| u.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        })
    }
}
