//! End-to-end tests of the provenance commands: manifests with licence, terms and lineage
//! (checked against the published schemas), terms files, and `mlprov check`.

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

fn mlprov() -> Command {
    let mut cmd = Command::cargo_bin("mlprov")
        .expect("the mlprov binary is built by `cargo test --workspace`");
    cmd.env("SOURCE_DATE_EPOCH", "1767225600");
    cmd
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/safetensors")
}

fn schema(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../schemas")
        .join(name);
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

fn manifest_validator() -> jsonschema::Validator {
    mlprov_testkit::manifest_validator()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

fn json_out(cmd: &mut Command) -> (Value, i32) {
    let out = cmd.output().unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (v, out.status.code().unwrap())
}

/// A base (Llama 3.1), a non-commercial dataset and a fine-tune under a commercial
/// agreement, all manifests in one folder.
fn lineage() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    mlprov()
        .args(["terms", "init", "--template", "commercial", "-o"])
        .arg(d.join("acme.toml"))
        .assert()
        .success();
    mlprov()
        .arg("manifest")
        .arg(fixtures().join("tiny-model.safetensors"))
        .arg("-o")
        .arg(d.join("base.json"))
        .args(["--license", "llama3.1"])
        .assert()
        .success();
    mlprov()
        .arg("manifest")
        .arg(fixtures().join("dtypes.safetensors"))
        .arg("-o")
        .arg(d.join("data.json"))
        .args(["--license", "cc-by-nc-4.0"])
        .assert()
        .success();
    let tuned = d.join("tuned.json");
    mlprov()
        .arg("manifest")
        .arg(fixtures().join("tiny-sharded"))
        .arg("-o")
        .arg(&tuned)
        .args(["--license", "Apache-2.0", "--terms"])
        .arg(d.join("acme.toml"))
        .arg("--base")
        .arg(format!("{}:finetune", d.join("base.json").display()))
        .arg("--dataset")
        .arg(format!("{}:train", d.join("data.json").display()))
        .assert()
        .success()
        .stdout(predicate::str::contains("licence: Apache-2.0"));
    (dir, tuned)
}

#[test]
fn manifest_records_licence_terms_and_lineage_and_matches_the_schema() {
    let (dir, tuned) = lineage();
    let doc = read_json(&tuned);
    assert_eq!(doc["licence"]["expression"], "Apache-2.0");
    assert_eq!(doc["licence"]["terms"]["grant"]["use"][3], "commercial");
    assert_eq!(doc["licence"]["terms"]["term"]["end"], "2028-12-31");
    let base = &doc["lineage"]["derived_from"][0];
    assert_eq!(base["relation"], "finetune");
    assert_eq!(base["name"], "tiny-model.safetensors");
    assert_eq!(doc["lineage"]["trained_on"][0]["role"], "train");
    // The base is named by the digest of its manifest's canonical form.
    let base_doc = read_json(&dir.path().join("base.json"));
    assert_eq!(
        base["manifest"].as_str().unwrap(),
        mlprov::manifest::manifest_digest(&base_doc).to_string()
    );
    let v = manifest_validator();
    for m in [&doc, &base_doc] {
        let errors: Vec<String> = v.iter_errors(m).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:?}");
    }
    let mut bad = doc.clone();
    bad["lineage"]["derived_from"][0]["relation"] = "stolen".into();
    assert!(!v.is_valid(&bad));
    let mut bad = doc.clone();
    bad["licence"]["terms"]["territory"]["include"][0] = "Narnia".into();
    assert!(!v.is_valid(&bad));
    // The HF id was mapped through the knowledge base.
    assert_eq!(
        base_doc["licence"]["expression"],
        "LicenseRef-Llama-3.1-Community"
    );
}

#[test]
fn a_manifest_written_before_still_parses_and_unknown_fields_survive() {
    let (_dir, tuned) = lineage();
    let mut doc = read_json(&tuned);
    doc["licence"] = serde_json::json!({});
    doc["lineage"] = serde_json::json!({"derived_from": [], "trained_on": []});
    let old = mlprov::manifest::Manifest::parse(&doc.to_string()).unwrap();
    assert!(old.licence.is_empty());
    let mut doc = read_json(&tuned);
    doc["licence"]["future_field"] = "kept".into();
    doc["lineage"]["derived_from"][0]["future_field"] = 7.into();
    let m = mlprov::manifest::Manifest::parse(&doc.to_string()).unwrap();
    let back: Value = serde_json::from_str(&m.to_pretty_json()).unwrap();
    assert_eq!(back, doc);
}

#[test]
fn manifest_refuses_bad_provenance_options() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.json");
    let model = fixtures().join("tiny-model.safetensors");
    mlprov()
        .arg("manifest")
        .arg(&model)
        .arg("-o")
        .arg(&out)
        .args(["--license", "MIT AND"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--license"));
    let terms = dir.path().join("t.toml");
    fs::write(
        &terms,
        "[grant]\nmodify = true\n\n[term]\nend = 2026-02-30\n",
    )
    .unwrap();
    mlprov()
        .arg("manifest")
        .arg(&model)
        .arg("-o")
        .arg(&out)
        .arg("--terms")
        .arg(&terms)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("t.toml:5:"));
    mlprov()
        .arg("manifest")
        .arg(&model)
        .arg("-o")
        .arg(&out)
        .arg("--base")
        .arg(dir.path().join("nowhere.json:finetune"))
        .assert()
        .code(2);
    mlprov()
        .arg("manifest")
        .arg(&model)
        .arg("-o")
        .arg(&out)
        .arg("--base")
        .arg("x.json:stolen")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown relation"));
    assert!(!out.exists(), "nothing written on an input error");
}

#[test]
fn terms_templates_validate_and_errors_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    for t in ["evaluation", "research", "commercial", "oem"] {
        let f = dir.path().join(format!("{t}.toml"));
        mlprov()
            .args(["terms", "init", "--template", t, "-o"])
            .arg(&f)
            .assert()
            .success();
        mlprov().args(["terms", "check"]).arg(&f).assert().success();
        // The JSON form of a template matches the published terms schema.
        let (v, code) = json_out(mlprov().args(["--json", "terms", "check"]).arg(&f));
        assert_eq!(code, 0);
        let validator = jsonschema::validator_for(&schema("terms.v1.schema.json")).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&v["clauses"])
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{t}: {errors:?}");
    }
    let bad = dir.path().join("bad.toml");
    fs::write(
        &bad,
        "licensor = \"A\"\n[territory]\ninclude = [\"US\", \"XX\"]\n",
    )
    .unwrap();
    mlprov()
        .args(["terms", "check"])
        .arg(&bad)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("bad.toml:3: territory.include"));
    mlprov()
        .args(["terms", "init", "--template", "nope", "-o"])
        .arg(dir.path().join("x.toml"))
        .assert()
        .code(2);
    mlprov()
        .args(["terms", "licences"])
        .assert()
        .success()
        .stdout(predicate::str::contains("LicenseRef-Llama-3.1-Community"));
}

#[test]
fn check_walks_the_lineage_and_answers_per_asset() {
    let (dir, tuned) = lineage();
    let check = |extra: &[&str]| {
        let mut c = mlprov();
        c.args(["--json", "check"]).arg(&tuned).args([
            "--use",
            "commercial",
            "--territory",
            "DE",
            "--date",
            "2026-06-01",
        ]);
        c.args(extra);
        json_out(&mut c)
    };
    // The NC dataset makes it a review (unsettled law), named with its clause.
    let (r, code) = check(&[]);
    assert_eq!(code, 1);
    assert_eq!(r["decision"], "review");
    let assets = r["assets"].as_array().unwrap();
    assert_eq!(assets.len(), 3);
    assert_eq!(assets[0]["name"], "tiny-sharded");
    assert_eq!(assets[0]["decision"], "allow");
    let data = assets
        .iter()
        .find(|a| a["name"] == "dtypes.safetensors")
        .unwrap();
    assert_eq!(data["decision"], "review");
    assert!(data["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["clause"] == "grant.use" && x["unsettled"] == true));
    assert!(r["obligations"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o["text"] == "show the attribution \"Built with Llama\""));
    // 800M users: the Llama base denies.
    let (r, code) = check(&["--mau", "800000000"]);
    assert_eq!((r["decision"].as_str(), code), (Some("deny"), 1));
    // Research use is allowed everywhere the grant reaches.
    let mut c = mlprov();
    c.args(["--json", "check"]).arg(&tuned).args([
        "--use",
        "research",
        "--territory",
        "US",
        "--date",
        "2026-06-01",
    ]);
    let (r, code) = json_out(&mut c);
    assert_eq!((r["decision"].as_str(), code), (Some("allow"), 0), "{r:#}");
    // Out of the agreement's term, in human form.
    mlprov()
        .arg("check")
        .arg(&tuned)
        .args([
            "--use",
            "research",
            "--territory",
            "US",
            "--date",
            "2030-01-01",
        ])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("check: DENY"))
        .stdout(predicate::str::contains(
            "term.end [terms]: the terms expired on 2028-12-31",
        ));
    // A base that cannot be found is a review, not an allow.
    fs::remove_file(dir.path().join("base.json")).unwrap();
    let (r, _) = check(&[]);
    assert!(r["assets"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["name"] == "tiny-model.safetensors" && a["decision"] == "review"));
    // Input errors exit 2.
    mlprov()
        .arg("check")
        .arg(&tuned)
        .args(["--use", "commercial", "--territory", "EU"])
        .assert()
        .code(2);
    mlprov()
        .arg("check")
        .arg(&tuned)
        .args(["--use", "selling", "--territory", "US"])
        .assert()
        .code(2);
}

#[test]
fn lineage_given_elsewhere_is_found_with_the_flag() {
    let (dir, tuned) = lineage();
    let other = tempfile::tempdir().unwrap();
    let moved = other.path().join("tuned.json");
    fs::copy(&tuned, &moved).unwrap();
    let run = |extra: &[PathBuf]| {
        let mut c = mlprov();
        c.args(["--json", "check"]).arg(&moved).args([
            "--use",
            "research",
            "--territory",
            "US",
            "--date",
            "2026-06-01",
        ]);
        for f in extra {
            c.arg("--lineage").arg(f);
        }
        json_out(&mut c).0
    };
    assert_eq!(run(&[])["decision"], "review", "bases not found");
    let r = run(&[dir.path().join("base.json"), dir.path().join("data.json")]);
    assert_eq!(r["decision"], "allow", "{r:#}");
}

fn cyclonedx_validator() -> jsonschema::Validator {
    let ext = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/external/cyclonedx");
    let load = |f: &str| -> Value {
        serde_json::from_str(&fs::read_to_string(ext.join(f)).unwrap()).unwrap()
    };
    jsonschema::options()
        .with_resource(
            "http://cyclonedx.org/schema/spdx.SNAPSHOT.schema.json",
            jsonschema::Resource::from_contents(load("spdx.SNAPSHOT.schema.json")).unwrap(),
        )
        .with_resource(
            "http://cyclonedx.org/schema/jsf-0.82.SNAPSHOT.schema.json",
            jsonschema::Resource::from_contents(load("jsf-0.82.SNAPSHOT.schema.json")).unwrap(),
        )
        .should_validate_formats(true)
        .build(&load("bom-1.6.SNAPSHOT.schema.json"))
        .unwrap()
}

#[test]
fn cyclonedx_export_matches_the_official_schema() {
    let (dir, tuned) = lineage();
    let out = dir.path().join("bom.cdx.json");
    mlprov()
        .arg("export")
        .arg(&tuned)
        .args(["--to", "cyclonedx", "-o"])
        .arg(&out)
        .assert()
        .success();
    let bom = read_json(&out);
    let v = cyclonedx_validator();
    let errors: Vec<String> = v
        .iter_errors(&bom)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let c = &bom["metadata"]["component"];
    assert_eq!(c["type"], "machine-learning-model");
    assert_eq!(c["hashes"][0]["alg"], "BLAKE3");
    let lic = &c["licenses"][0]["license"];
    assert_eq!(lic["licensing"]["expiration"], "2028-12-31T23:59:59Z");
    assert_eq!(
        lic["licensing"]["licensor"]["organization"]["name"],
        "LICENSOR"
    );
    assert_eq!(
        c["pedigree"]["ancestors"][0]["name"],
        "tiny-model.safetensors"
    );
    assert_eq!(
        c["pedigree"]["ancestors"][0]["licenses"][0]["expression"],
        "LicenseRef-Llama-3.1-Community"
    );
    assert_eq!(
        c["modelCard"]["modelParameters"]["datasets"][0]["ref"],
        "dataset-0"
    );
    assert_eq!(bom["components"][0]["type"], "data");
    assert_eq!(
        bom["components"][0]["licenses"][0]["expression"],
        "CC-BY-NC-4.0"
    );
    // The schema is not vacuous.
    let mut bad = bom.clone();
    bad["metadata"]["component"]["hashes"][0]["alg"] = "CRC32".into();
    assert!(!v.is_valid(&bad));
    // Without terms, the licence is an expression; stdout by default.
    let out = mlprov()
        .arg("export")
        .arg(dir.path().join("base.json"))
        .args(["--to", "cyclonedx"])
        .output()
        .unwrap();
    let bom: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v.is_valid(&bom));
    assert_eq!(
        bom["metadata"]["component"]["licenses"][0]["expression"],
        "LicenseRef-Llama-3.1-Community"
    );
}

#[test]
fn spdx_export_matches_the_official_schema() {
    let (_dir, tuned) = lineage();
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../schemas/external/spdx/spdx-json-schema-3.0.1.json");
    let schema: Value = serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap();
    let v = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap();
    // The subject with terms, a base and a dataset: every element type the export writes.
    let out = mlprov()
        .arg("export")
        .arg(&tuned)
        .args(["--to", "spdx"])
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    // `validate` stops at the first error; `iter_errors` would explore every branch of the
    // schema's large oneOf/anyOf (seconds per element, unoptimized).
    if let Err(e) = v.validate(&doc) {
        panic!("{e} at {}", e.instance_path);
    }
    // Not vacuous: a relationship type SPDX does not have fails.
    let out = mlprov()
        .arg("export")
        .arg(&tuned)
        .args(["--to", "spdx"])
        .output()
        .unwrap();
    let mut doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rel = doc["@graph"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|e| e["type"] == "Relationship")
        .unwrap();
    rel["relationshipType"] = "stoleFrom".into();
    assert!(!v.is_valid(&doc));
}

#[test]
fn spdx_export_has_the_ai_profile_structure() {
    let (dir, tuned) = lineage();
    let out = mlprov()
        .arg("export")
        .arg(&tuned)
        .args(["--to", "spdx"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        doc["@context"],
        "https://spdx.org/rdf/3.0.1/spdx-context.jsonld"
    );
    let graph = doc["@graph"].as_array().unwrap();
    let of_type = |t: &str| graph.iter().filter(|e| e["type"] == t).collect::<Vec<_>>();
    let pkg = of_type("ai_AIPackage")
        .into_iter()
        .find(|p| p["name"] == "tiny-sharded")
        .unwrap();
    assert_eq!(pkg["software_primaryPurpose"], "model");
    assert_eq!(pkg["verifiedUsing"][0]["algorithm"], "blake3");
    assert_eq!(of_type("dataset_DatasetPackage").len(), 1);
    let rels = of_type("Relationship");
    for kind in [
        "trainedOn",
        "descendantOf",
        "hasDeclaredLicense",
        "hasConcludedLicense",
    ] {
        assert!(rels.iter().any(|r| r["relationshipType"] == kind), "{kind}");
    }
    // Every element the document lists exists, and every reference points at one.
    let ids: Vec<&str> = graph.iter().filter_map(|e| e["spdxId"].as_str()).collect();
    let doc_el = of_type("SpdxDocument")[0];
    for e in doc_el["element"].as_array().unwrap() {
        assert!(ids.contains(&e.as_str().unwrap()));
    }
    for r in &rels {
        assert!(ids.contains(&r["from"].as_str().unwrap()));
        for t in r["to"].as_array().unwrap() {
            assert!(ids.contains(&t.as_str().unwrap()));
        }
    }
    let exprs: Vec<&str> = of_type("simplelicensing_LicenseExpression")
        .iter()
        .filter_map(|l| l["simplelicensing_licenseExpression"].as_str())
        .collect();
    assert!(
        exprs.contains(&"Apache-2.0") && exprs.contains(&"CC-BY-NC-4.0"),
        "{exprs:?}"
    );
    drop(dir);
}

#[test]
fn graph_draws_the_lineage_coloured_by_the_check() {
    let (dir, tuned) = lineage();
    let out = mlprov()
        .arg("graph")
        .arg(&tuned)
        .args([
            "--use",
            "commercial",
            "--territory",
            "DE",
            "--date",
            "2026-06-01",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let dot = String::from_utf8(out.stdout).unwrap();
    assert!(dot.starts_with("digraph lineage {"));
    assert!(dot.contains("tiny-sharded\\nApache-2.0\\nallow"), "{dot}");
    assert!(
        dot.contains("shape=cylinder, style=filled, fillcolor=\"#ffe08a\""),
        "{dot}"
    );
    assert!(dot.contains("[label=\"finetune\"]"));
    assert!(dot.contains("[label=\"trained on (train)\"]"));
    assert!(dot.contains("shape=note"), "terms drawn: {dot}");
    for format in ["svg", "html"] {
        let f = dir.path().join(format!("g.{format}"));
        mlprov()
            .arg("graph")
            .arg(&tuned)
            .args(["--format", format, "-o"])
            .arg(&f)
            .args([
                "--use",
                "research",
                "--territory",
                "US",
                "--date",
                "2026-06-01",
            ])
            .assert()
            .success();
        let text = fs::read_to_string(&f).unwrap();
        assert!(text.contains("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert_eq!(text.matches("<g ").count(), text.matches("</g>").count());
        assert!(text.contains("#b7e1a1"), "research is allowed: green");
        assert!(
            !text.contains("http://") || !text.contains("src="),
            "self-contained"
        );
        if format == "html" {
            assert!(text.contains("<h2>Reasons</h2>") && text.contains("grant.use"));
        }
    }
}

#[test]
fn graph_escapes_hostile_names() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("<script>x\".safetensors");
    fs::copy(fixtures().join("tiny-model.safetensors"), &model).unwrap();
    let m = dir.path().join("m.json");
    mlprov()
        .arg("manifest")
        .arg(&model)
        .arg("-o")
        .arg(&m)
        .assert()
        .success();
    for format in ["svg", "html", "dot"] {
        let out = mlprov()
            .arg("graph")
            .arg(&m)
            .args(["--format", format])
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        if format == "dot" {
            // Inside a DOT string only the quote needs escaping.
            assert!(text.contains("label=\"<script>x\\\".safetensors"), "{text}");
        } else {
            assert!(!text.contains("<script>"), "{format}: {text}");
            assert!(text.contains("&lt;script&gt;x&quot;.safetensors"), "{text}");
        }
    }
}

#[test]
fn a_model_card_becomes_a_draft_then_claimed_lineage_in_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let card = dir.path().join("README.md");
    fs::write(
        &card,
        "---\nlicense: gemma\nbase_model: google/gemma-2-2b\nbase_model_relation: finetune\ndatasets:\n- HuggingFaceFW/fineweb\n---\n# My model\n",
    )
    .unwrap();
    let draft = dir.path().join("draft.json");
    mlprov()
        .arg("import")
        .arg(&card)
        .arg("-o")
        .arg(&draft)
        .assert()
        .success();
    let d = read_json(&draft);
    assert_eq!(d["licence"]["expression"], "LicenseRef-Gemma");
    assert_eq!(d["lineage"]["derived_from"][0]["source"], "hf-model-card");
    let m = dir.path().join("m.json");
    mlprov()
        .arg("manifest")
        .arg(fixtures().join("tiny-model.safetensors"))
        .arg("-o")
        .arg(&m)
        .arg("--draft")
        .arg(&draft)
        .assert()
        .success();
    let doc = read_json(&m);
    assert_eq!(doc["licence"]["expression"], "LicenseRef-Gemma");
    assert_eq!(
        doc["lineage"]["derived_from"][0]["name"],
        "google/gemma-2-2b"
    );
    assert_eq!(
        doc["lineage"]["trained_on"][0]["name"],
        "HuggingFaceFW/fineweb"
    );
    let errors: Vec<String> = manifest_validator()
        .iter_errors(&doc)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    // Claimed by name only: the check cannot read their licences, so it asks for review.
    let (r, code) = json_out(mlprov().args(["--json", "check"]).arg(&m).args([
        "--use",
        "commercial",
        "--territory",
        "US",
        "--date",
        "2026-06-01",
    ]));
    assert_eq!((r["decision"].as_str(), code), (Some("review"), 1));
    // Croissant.
    let cr = dir.path().join("croissant.json");
    fs::write(
        &cr,
        r#"{"@context": {"@vocab": "https://schema.org/"}, "@type": "sc:Dataset", "name": "faces",
            "license": "https://creativecommons.org/licenses/by-nc/4.0/",
            "distribution": [{"@type": "cr:FileObject", "name": "data.csv", "sha256": "00ff"}]}"#,
    )
    .unwrap();
    let out = mlprov().arg("import").arg(&cr).output().unwrap();
    let d: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(d["licence"]["expression"], "CC-BY-NC-4.0");
    assert_eq!(d["kind"], "dataset");
    assert_eq!(d["files"][0]["sha256"], "00ff");
    fs::write(&cr, "{}").unwrap();
    mlprov().arg("import").arg(&cr).assert().code(2);
}

#[test]
fn compare_bases_records_the_lineage_test() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("tiny-model.safetensors");
    fs::copy(fixtures().join("tiny-model.safetensors"), &base).unwrap();
    let bm = dir.path().join("base.json");
    mlprov()
        .arg("manifest")
        .arg(&base)
        .arg("-o")
        .arg(&bm)
        .assert()
        .success();
    let m = dir.path().join("m.json");
    mlprov()
        .arg("manifest")
        .arg(fixtures().join("tiny-sharded"))
        .arg("-o")
        .arg(&m)
        .arg("--base")
        .arg(format!("{}:converted", bm.display()))
        .arg("--compare-bases")
        .assert()
        .success()
        .stdout(predicate::str::contains("lineage test:"));
    let doc = read_json(&m);
    let t = &doc["lineage"]["derived_from"][0]["lineage_test"];
    assert!(!t["verdict"].as_str().unwrap().is_empty(), "{t}");
    assert!(t["log10_p"].is_string(), "{t}");
    let errors: Vec<String> = manifest_validator()
        .iter_errors(&doc)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    // The graph labels the edge with the relation and the test's verdict.
    let out = mlprov().arg("graph").arg(&m).output().unwrap();
    let dot = String::from_utf8(out.stdout).unwrap();
    let verdict = t["verdict"].as_str().unwrap();
    assert!(
        dot.contains(&format!("[label=\"converted, {verdict}, log10 p ")),
        "{dot}"
    );
    // And the exports carry it.
    let out = mlprov()
        .arg("export")
        .arg(&m)
        .args(["--to", "cyclonedx"])
        .output()
        .unwrap();
    let bom: Value = serde_json::from_slice(&out.stdout).unwrap();
    let desc = bom["metadata"]["component"]["pedigree"]["ancestors"][0]["description"]
        .as_str()
        .unwrap();
    assert!(
        desc.starts_with("relation: converted; mlprov compare: "),
        "{desc}"
    );
}

#[test]
fn lineage_is_found_in_the_registry_by_content_root() {
    let (dir, tuned) = lineage();
    let d = dir.path();
    let other = tempfile::tempdir().unwrap();
    let moved = other.path().join("tuned.json");
    fs::copy(&tuned, &moved).unwrap();
    // The licensor registered the base and the dataset with their manifests.
    let registry = other.path().join("registry.sqlite");
    for (model, manifest) in [
        (
            fixtures().join("tiny-model.safetensors"),
            d.join("base.json"),
        ),
        (fixtures().join("dtypes.safetensors"), d.join("data.json")),
    ] {
        mlprov()
            .arg("register")
            .arg(&model)
            .arg("--manifest")
            .arg(&manifest)
            .arg("--registry")
            .arg(&registry)
            .assert()
            .success();
    }
    let run = |use_: &str, with_registry: bool| {
        let mut c = mlprov();
        c.args(["--json", "check"]).arg(&moved).args([
            "--use",
            use_,
            "--territory",
            "US",
            "--date",
            "2026-06-01",
        ]);
        if with_registry {
            c.arg("--registry").arg(&registry);
        }
        json_out(&mut c)
    };
    let (alone, _) = run("research", false);
    assert_eq!(alone["decision"], "review", "bases not found: {alone:#}");
    let (found, code) = run("research", true);
    assert_eq!(found["decision"], "allow", "{found:#}");
    assert_eq!(code, 0);
    assert!(
        found["assets"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["licence"] == "CC-BY-NC-4.0"),
        "the dataset's licence came from the registry: {found:#}"
    );
    // And its non-commercial licence now bears on a commercial use: whether a dataset's
    // licence binds a model trained on it is unsettled, so the answer is review, not allow.
    let (commercial, code) = run("commercial", true);
    assert_eq!(commercial["decision"], "review", "{commercial:#}");
    assert_eq!(code, 1);
    let (commercial_alone, _) = run("commercial", false);
    let reasons = |v: &Value| v.to_string();
    assert!(reasons(&commercial).contains("commercial use is not granted"));
    assert!(!reasons(&commercial_alone).contains("commercial use is not granted"));
}
