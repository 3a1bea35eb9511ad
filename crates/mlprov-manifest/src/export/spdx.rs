//! SPDX 3.0.1 JSON-LD: the subject as an `ai_AIPackage` (or `dataset_DatasetPackage`),
//! its bases as AI packages linked by `descendantOf`, its datasets as dataset packages
//! linked by `trainedOn` / `testedOn`, declared and concluded licences as licence
//! expressions, and BLAKE3 hashes.

use serde_json::{json, Value};

use super::LineageLicences;
use crate::{Manifest, Role};

const CONTEXT: &str = "https://spdx.org/rdf/3.0.1/spdx-context.jsonld";

/// The manifest as an SPDX 3.0.1 document (JSON-LD).
pub fn to_spdx(m: &Manifest, licences: &LineageLicences) -> Value {
    let base = format!("urn:mlprov:{}", m.merkle_root.hex());
    let id = |local: &str| format!("{base}#{local}");
    let ci = "_:creationinfo";
    let mut graph: Vec<Value> = Vec::new();
    let mut elements: Vec<String> = Vec::new();
    let agent = id("agent-mlprov");
    graph.push(json!({
        "type": "CreationInfo",
        "@id": ci,
        "specVersion": "3.0.1",
        "created": m.created,
        "createdBy": [agent],
        "comment": "Exported from an mlprov manifest (mlprov.manifest/v1)."
    }));
    graph.push(json!({
        "type": "SoftwareAgent",
        "spdxId": agent,
        "creationInfo": ci,
        "name": format!("mlprov {}", m.tool.version)
    }));
    elements.push(agent.clone());
    let supplier = match super::TermsView::of(m).and_then(|t| t.licensor) {
        Some(name) => {
            let sid = id("licensor");
            graph.push(
                json!({"type": "Organization", "spdxId": sid, "creationInfo": ci, "name": name}),
            );
            elements.push(sid.clone());
            sid
        }
        None => agent.clone(),
    };
    let dataset = m.subject.kind == "dataset";
    let subject = id("subject");
    let mut pkg = json!({
        "type": if dataset { "dataset_DatasetPackage" } else { "ai_AIPackage" },
        "spdxId": subject,
        "creationInfo": ci,
        "name": m.subject.name,
        "software_packageVersion": format!("blake3:{}", m.merkle_root.hex()),
        "software_downloadLocation": format!("{base}/{}", m.subject.name),
        "software_primaryPurpose": if dataset { "data" } else { "model" },
        "releaseTime": m.created,
        "suppliedBy": supplier,
        "verifiedUsing": [{"type": "Hash", "algorithm": "blake3", "hashValue": m.merkle_root.hex(),
                           "comment": "mlprov Merkle root over the tensor digests (docs/digests.md)"}],
    });
    if dataset {
        pkg["dataset_datasetType"] = json!(["other"]);
        pkg["builtTime"] = json!(m.created);
        pkg["originatedBy"] = json!([supplier]);
    }
    graph.push(pkg);
    elements.push(subject.clone());
    let mut n = 0usize;
    let mut relationship =
        |graph: &mut Vec<Value>, elements: &mut Vec<String>, from: &str, kind: &str, to: &str| {
            n += 1;
            let rid = id(&format!("rel-{n}"));
            graph.push(
                json!({"type": "Relationship", "spdxId": rid, "creationInfo": ci,
                          "from": from, "relationshipType": kind, "to": [to]}),
            );
            elements.push(rid);
        };
    let licence = |graph: &mut Vec<Value>, elements: &mut Vec<String>, local: &str, expr: &str| {
        let lid = id(local);
        graph.push(
            json!({"type": "simplelicensing_LicenseExpression", "spdxId": lid,
                          "creationInfo": ci, "simplelicensing_licenseExpression": expr}),
        );
        elements.push(lid.clone());
        lid
    };
    let expr = m
        .licence
        .expression
        .clone()
        .unwrap_or_else(|| "NOASSERTION".into());
    let lid = licence(&mut graph, &mut elements, "licence-subject", &expr);
    relationship(
        &mut graph,
        &mut elements,
        &subject,
        "hasDeclaredLicense",
        &lid,
    );
    relationship(
        &mut graph,
        &mut elements,
        &subject,
        "hasConcludedLicense",
        &lid,
    );
    for (i, b) in m.lineage.derived_from.iter().enumerate() {
        let bid = id(&format!("base-{i}"));
        let mut hashes = Vec::new();
        if let Some(r) = &b.merkle_root {
            hashes.push(json!({"type": "Hash", "algorithm": "blake3", "hashValue": r.hex()}));
        }
        graph.push(json!({
            "type": "ai_AIPackage", "spdxId": bid, "creationInfo": ci, "name": b.name,
            "software_primaryPurpose": "model",
            "comment": format!("relation: {}{}", b.relation.name(),
                b.lineage_test.as_ref().map(|t| format!("; mlprov compare: {} (log10 p = {})", t.verdict, t.log10_p)).unwrap_or_default()),
            "verifiedUsing": hashes,
        }));
        elements.push(bid.clone());
        relationship(&mut graph, &mut elements, &subject, "descendantOf", &bid);
        if let Some(e) = b.manifest.as_ref().and_then(|d| licences.get(d)) {
            let lid = licence(&mut graph, &mut elements, &format!("licence-base-{i}"), e);
            relationship(&mut graph, &mut elements, &bid, "hasDeclaredLicense", &lid);
        }
    }
    for (i, d) in m.lineage.trained_on.iter().enumerate() {
        let did = id(&format!("dataset-{i}"));
        let mut hashes = Vec::new();
        if let Some(r) = &d.content_root {
            hashes.push(json!({"type": "Hash", "algorithm": "blake3", "hashValue": r.hex()}));
        }
        graph.push(json!({
            "type": "dataset_DatasetPackage", "spdxId": did, "creationInfo": ci, "name": d.name,
            "software_primaryPurpose": "data", "dataset_datasetType": ["other"],
            "verifiedUsing": hashes,
        }));
        elements.push(did.clone());
        let kind = match d.role {
            Role::Train => "trainedOn",
            Role::Validation | Role::Test => "testedOn",
        };
        relationship(&mut graph, &mut elements, &subject, kind, &did);
        if let Some(e) = d.manifest.as_ref().and_then(|x| licences.get(x)) {
            let lid = licence(
                &mut graph,
                &mut elements,
                &format!("licence-dataset-{i}"),
                e,
            );
            relationship(&mut graph, &mut elements, &did, "hasDeclaredLicense", &lid);
        }
    }
    graph.push(json!({
        "type": "SpdxDocument",
        "spdxId": id("document"),
        "creationInfo": ci,
        "name": format!("mlprov export of {}", m.subject.name),
        "profileConformance": ["core", "software", "simpleLicensing", "ai", "dataset"],
        "rootElement": [subject],
        "element": elements,
    }));
    json!({"@context": CONTEXT, "@graph": graph})
}
