//! CycloneDX 1.6 JSON: the subject as a `machine-learning-model` (or `data`) component
//! with its BLAKE3 root, its licence (with the agreed licensing: licensor, licensee,
//! term), its datasets as `data` components referenced from the model card, and its bases
//! as pedigree ancestors.

use serde_json::{json, Value};

use super::{LineageLicences, TermsView};
use crate::Manifest;

/// The manifest as a CycloneDX 1.6 BOM.
pub fn to_cyclonedx(m: &Manifest, licences: &LineageLicences) -> Value {
    let root = m.merkle_root.hex();
    let dataset = m.subject.kind == "dataset";
    let mut subject = json!({
        "type": if dataset { "data" } else { "machine-learning-model" },
        "bom-ref": "subject",
        "name": m.subject.name,
        "version": format!("blake3:{root}"),
        "hashes": [{"alg": "BLAKE3", "content": root}],
    });
    if let Some(l) = licence_choice(m) {
        subject["licenses"] = l;
    }
    let mut components = Vec::new();
    let mut datasets = Vec::new();
    for (i, d) in m.lineage.trained_on.iter().enumerate() {
        let r = format!("dataset-{i}");
        let mut c = json!({
            "type": "data",
            "bom-ref": r,
            "name": d.name,
            "description": format!("role: {}", d.role.name()),
        });
        if let Some(h) = &d.content_root {
            c["hashes"] = json!([{"alg": "BLAKE3", "content": h.hex()}]);
        }
        if let Some(e) = d.manifest.as_ref().and_then(|x| licences.get(x)) {
            c["licenses"] = json!([{"expression": e}]);
        }
        components.push(c);
        datasets.push(json!({"ref": r}));
    }
    if !datasets.is_empty() && !dataset {
        subject["modelCard"] = json!({"modelParameters": {"datasets": datasets}});
    }
    let ancestors: Vec<Value> = m
        .lineage
        .derived_from
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let mut c = json!({
                "type": "machine-learning-model",
                "bom-ref": format!("base-{i}"),
                "name": b.name,
                "description": format!("relation: {}{}", b.relation.name(),
                    b.lineage_test.as_ref().map(|t| format!("; mlprov compare: {} (log10 p = {})", t.verdict, t.log10_p)).unwrap_or_default()),
            });
            if let Some(h) = &b.merkle_root {
                c["hashes"] = json!([{"alg": "BLAKE3", "content": h.hex()}]);
            }
            if let Some(e) = b.manifest.as_ref().and_then(|x| licences.get(x)) {
                c["licenses"] = json!([{"expression": e}]);
            }
            c
        })
        .collect();
    if !ancestors.is_empty() {
        subject["pedigree"] = json!({"ancestors": ancestors});
    }
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": serial(&root),
        "version": 1,
        "metadata": {
            "timestamp": m.created,
            "tools": {"components": [{"type": "application", "name": "mlprov", "version": m.tool.version}]},
            "component": subject,
        },
        "components": components,
    })
}

/// The licence: an expression, or with agreed terms, a licence carrying the licensing
/// (licensor, licensee, dates) that CycloneDX only allows on a named licence.
fn licence_choice(m: &Manifest) -> Option<Value> {
    let expr = m.licence.expression.clone();
    match TermsView::of(m) {
        None => expr.map(|e| json!([{"expression": e}])),
        Some(t) => {
            let mut licensing = json!({});
            if let Some(l) = t.licensor {
                licensing["licensor"] = json!({"organization": {"name": l}});
            }
            if let Some(l) = t.licensee {
                licensing["licensee"] = json!({"organization": {"name": l}});
            }
            if let Some(s) = t.start {
                licensing["lastRenewal"] = json!(format!("{s}T00:00:00Z"));
            }
            if let Some(e) = t.end {
                licensing["expiration"] = json!(format!("{e}T23:59:59Z"));
            }
            let types: Vec<&str> = if t.uses.iter().any(|u| u == "commercial") {
                vec!["subscription"]
            } else {
                vec!["other"]
            };
            licensing["licenseTypes"] = json!(types);
            let name = match &expr {
                Some(e) => format!("{e} with agreed terms"),
                None => "agreed terms".to_string(),
            };
            let mut lic = json!({"name": name, "licensing": licensing});
            if let Some(d) = &m.licence.text_digest {
                lic["text"] = json!({"content": d, "contentType": "text/plain"});
            }
            Some(json!([{"license": lic}]))
        }
    }
}

/// A `urn:uuid:` derived from the Merkle root (same model, same serial number), shaped as
/// a version-8 (custom) UUID.
fn serial(root_hex: &str) -> String {
    let h: Vec<char> = root_hex.chars().take(32).collect();
    let mut s: String = h.iter().collect();
    s.replace_range(12..13, "8");
    let variant = u8::from_str_radix(&s[16..17], 16).unwrap_or(0) & 0x3 | 0x8;
    s.replace_range(16..17, &format!("{variant:x}"));
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &s[0..8],
        &s[8..12],
        &s[12..16],
        &s[16..20],
        &s[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::serial;

    #[test]
    fn the_serial_number_is_a_version_8_uuid_from_the_root() {
        let s = serial(&"0123456789abcdef".repeat(4));
        assert_eq!(s, "urn:uuid:01234567-89ab-8def-8123-456789abcdef");
        let hex: String = s[9..].chars().filter(|c| *c != '-').collect();
        assert_eq!(hex.len(), 32);
        assert!(
            matches!(&s[28..29], "8" | "9" | "a" | "b"),
            "variant bits: {s}"
        );
    }
}
