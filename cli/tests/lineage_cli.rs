//! `fingerprint`, `compare` and `eval` end to end on committed fixtures in several formats.

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use mlprov_testkit::{Rng, Tensor};
use serde_json::Value;

fn mlprov() -> Command {
    Command::cargo_bin("mlprov").expect("the mlprov binary is built by `cargo test --workspace`")
}

fn fixture(rel: &str) -> PathBuf {
    mlprov_testkit::fixtures().join(rel)
}

fn compare_json(a: &Path, b: &Path) -> (Value, i32) {
    let out = mlprov()
        .arg("--json")
        .arg("compare")
        .arg(a)
        .arg(b)
        .output()
        .unwrap();
    (
        serde_json::from_slice(&out.stdout).unwrap(),
        out.status.code().unwrap(),
    )
}

#[test]
fn a_sharded_copy_is_the_same_weights_and_a_finding() {
    let (doc, code) = compare_json(
        &fixture("safetensors/tiny-model.safetensors"),
        &fixture("safetensors/tiny-sharded"),
    );
    assert_eq!(doc["verdict"], "same-weights");
    assert_eq!(code, 1, "a relation found is a finding");
    assert!(doc["log10_p_value"].as_f64().unwrap() < -6.0);
    assert!(doc["null_hypothesis"]
        .as_str()
        .unwrap()
        .contains("independently"));
}

#[test]
fn the_same_file_is_identical_and_unrelated_fixtures_are_not_related() {
    let f = fixture("safetensors/tiny-model.safetensors");
    assert_eq!(compare_json(&f, &f).0["verdict"], "identical");
    // Nothing shape-compatible to compare: no evidence either way, so inconclusive (an
    // `unrelated` here would claim evidence the test never had).
    let (doc, code) = compare_json(&f, &fixture("torch/state_dict.pt"));
    assert_eq!(doc["verdict"], "inconclusive", "{doc}");
    assert_eq!(doc["log10_p_value"], 0.0, "{doc}");
    assert_eq!(code, 0);
}

/// A small pre-norm transformer with Gaussian weights, as (name, shape, values).
fn small_transformer(seed: u64) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let mut rng = Rng::new(seed);
    let mut gauss = move || rng.gauss();
    let (vocab, d, h) = (256, 64, 128);
    let mut out = vec![(
        "embed.weight".to_string(),
        vec![vocab, d],
        (0..vocab * d).map(|_| gauss()).collect(),
    )];
    for l in 0..3 {
        let mut m = |name: &str, r: usize, c: usize| {
            let values = (0..r * c).map(|_| 0.1 * gauss()).collect();
            out.push((format!("layers.{l}.{name}"), vec![r, c], values));
        };
        m("attn.q.weight", d, d);
        m("attn.o.weight", d, d);
        m("mlp.up.weight", h, d);
        m("mlp.down.weight", d, h);
    }
    out
}

fn write_safetensors(path: &Path, tensors: &[(String, Vec<usize>, Vec<f32>)]) {
    let tensors: Vec<Tensor> = tensors
        .iter()
        .map(|(name, shape, values)| Tensor::f32(name.clone(), shape, values.clone()))
        .collect();
    mlprov_testkit::write_safetensors(path, &tensors);
}

#[test]
fn a_rotated_and_permuted_copy_is_derived_through_the_invariants() {
    // B: A's residual stream rotated (37 degrees in every pair of dimensions) and every
    // MLP's hidden units permuted: the up and down projections keep no value in place, so
    // the anchored kernels must carry them (and the CLI must compute the invariants).
    let a = small_transformer(11);
    let d = 64;
    let (c, s) = (0.8f32, 0.6f32);
    // R = pairwise rotations of (2i, 2i+1): x·R mixes each pair.
    let rotate_cols = |v: &[f32], rows: usize| -> Vec<f32> {
        let mut out = v.to_vec();
        for r in 0..rows {
            for i in (0..d).step_by(2) {
                let (x, y) = (v[r * d + i], v[r * d + i + 1]);
                out[r * d + i] = c * x - s * y;
                out[r * d + i + 1] = s * x + c * y;
            }
        }
        out
    };
    let rotate_rows = |v: &[f32], cols: usize| -> Vec<f32> {
        // Rᵀ·W for a writer W (d × cols).
        let mut out = v.to_vec();
        for i in (0..d).step_by(2) {
            for k in 0..cols {
                let (x, y) = (v[i * cols + k], v[(i + 1) * cols + k]);
                out[i * cols + k] = c * x - s * y;
                out[(i + 1) * cols + k] = s * x + c * y;
            }
        }
        out
    };
    let perm: Vec<usize> = (0..128).map(|i| (i * 37 + 5) % 128).collect();
    let b: Vec<(String, Vec<usize>, Vec<f32>)> = a
        .iter()
        .map(|(name, shape, v)| {
            let (rows, cols) = (shape[0], shape[1]);
            let v = if name.ends_with("attn.o.weight") || name.ends_with("mlp.down.weight") {
                rotate_rows(v, cols)
            } else {
                rotate_cols(v, rows)
            };
            let v = if name.ends_with("mlp.up.weight") {
                perm.iter()
                    .flat_map(|&p| v[p * cols..(p + 1) * cols].to_vec())
                    .collect()
            } else if name.ends_with("mlp.down.weight") {
                (0..rows)
                    .flat_map(|r| perm.iter().map(move |&p| (r, p)))
                    .map(|(r, p)| v[r * cols + p])
                    .collect()
            } else {
                v
            };
            (name.clone(), shape.clone(), v)
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb) = (
        dir.path().join("a.safetensors"),
        dir.path().join("b.safetensors"),
    );
    write_safetensors(&pa, &a);
    write_safetensors(&pb, &b);
    let (doc, code) = compare_json(&pa, &pb);
    assert_eq!(doc["verdict"], "derived", "{doc}");
    assert_eq!(code, 1);
    assert!(doc["log10_p_value"].as_f64().unwrap() < -6.0);
    let channels: Vec<&str> = doc["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["channel"].as_str().unwrap())
        .collect();
    assert!(
        channels.iter().any(|c| c.starts_with("anchored kernel")),
        "{channels:?}"
    );
    assert_eq!(
        doc["layer_map"],
        serde_json::json!([[0, 0], [1, 1], [2, 2]])
    );
    // An independent model of the same shapes is not related.
    let other = dir.path().join("other.safetensors");
    write_safetensors(&other, &small_transformer(12));
    let (doc, code) = compare_json(&pa, &other);
    assert_eq!(doc["verdict"], "unrelated", "{doc}");
    assert_eq!(code, 0);
}

#[test]
fn fingerprint_lists_keys_and_stays_small() {
    let out = mlprov()
        .args(["--json", "fingerprint", "--invariants"])
        .arg(fixture("safetensors/tiny-sharded"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let tensors = doc["tensors"].as_array().unwrap();
    assert_eq!(tensors.len(), 14);
    assert_eq!(tensors[0]["simhash"].as_str().unwrap().len(), 64);
    assert!(tensors.iter().any(|t| t.get("row_gram").is_some()));
    assert!(doc["lookup_key_bytes"].as_u64().unwrap() < 64 * 1024);
}

#[test]
fn eval_reports_a_confusion_table_and_fails_on_a_miss() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("pairs.tsv");
    let st = fixture("safetensors");
    fs::write(
        &list,
        "# A\tB\texpected\ntiny-model.safetensors\ttiny-sharded\tsame-weights\ntiny-model.safetensors\ttiny-model.safetensors\tidentical\n",
    )
    .unwrap();
    let out = mlprov()
        .arg("eval")
        .arg(&list)
        .arg("--root")
        .arg(&st)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("2 of 2 verdicts as expected"), "{text}");
    fs::write(&list, "tiny-model.safetensors\ttiny-sharded\tunrelated\n").unwrap();
    let out = mlprov()
        .args(["--json", "eval"])
        .arg(&list)
        .arg("--root")
        .arg(&st)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["summary"]["correct"], 0);
    fs::write(&list, "a\tb\tcousins\n").unwrap();
    mlprov().arg("eval").arg(&list).assert().code(2);
}

/// Opt-in: the real development corpus. Fetch it with
/// `bash ../shared/corpus/fetch_dev_models.sh DIR`, then run
/// `MLPROV_CORPUS=DIR cargo test --test lineage_cli -- --ignored`.
#[test]
#[ignore = "needs the real corpus: set MLPROV_CORPUS and run with --ignored"]
fn real_corpus_relations_and_formats() {
    let dir = PathBuf::from(
        std::env::var("MLPROV_CORPUS").expect("MLPROV_CORPUS names the corpus folder"),
    );
    let out = mlprov()
        .arg("eval")
        .arg(fixture("corpus/pairs.tsv"))
        .arg("--root")
        .arg(&dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() || path.extension().is_some_and(|e| e == "part") {
            continue;
        }
        for verb in ["inspect", "hash"] {
            let out = mlprov().arg(verb).arg(&path).output().unwrap();
            assert!(
                out.status.success(),
                "{verb} {}: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// `compare A B --base P` on the committed fixtures of `fixtures/base-aware/`
/// (`make_base_aware.py`): a sibling and the base share the base (exit 0), a child stored
/// in F16 carries A's own changes (exit 1), and `--base none` is the plain test.
#[test]
fn compare_with_a_base_tells_siblings_from_children() {
    let f = |name: &str| fixture(&format!("base-aware/{name}.safetensors"));
    let run = |b: &str, base: &str| {
        let out = mlprov()
            .args(["--json", "compare"])
            .arg(f("a"))
            .arg(f(b))
            .arg("--base")
            .arg(if base == "none" {
                PathBuf::from("none")
            } else {
                f(base)
            })
            .output()
            .unwrap();
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        (doc, out.status.code().unwrap())
    };
    for innocent in ["sibling", "base"] {
        let (doc, code) = run(innocent, "base");
        assert_eq!(doc["verdict"], "shares-base", "{innocent}: {doc}");
        assert_eq!(
            code, 0,
            "{innocent}: sharing a public base is not a finding"
        );
        let own = &doc["own_changes"];
        assert!(own["share"].as_f64().unwrap() < 0.05, "{own}");
        assert!(own["log10_p"].as_f64().unwrap() > -3.0, "{own}");
        assert_eq!(own["tested"], own["changed_tensors"]);
        assert!(own["null_hypothesis"]
            .as_str()
            .unwrap()
            .contains("independently of A"));
    }
    let (doc, code) = run("child", "base");
    assert_eq!(doc["verdict"], "derived");
    assert_eq!(code, 1);
    let own = &doc["own_changes"];
    assert!(own["share"].as_f64().unwrap() > 0.9, "{own}");
    assert!(own["log10_p"].as_f64().unwrap() < -100.0, "{own}");
    assert!(own["tensors"][0]["alignment"].is_string());

    // Without a base the sibling is related to A like any fine-tune of the same base.
    let (doc, code) = run("sibling", "none");
    assert_eq!(doc["verdict"], "derived");
    assert_eq!(code, 1);
    assert!(doc.get("own_changes").is_none() || doc["own_changes"].is_null());

    // The human output names the share and its p-value.
    let out = mlprov()
        .arg("compare")
        .arg(f("a"))
        .arg(f("sibling"))
        .arg("--base")
        .arg(f("base"))
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("verdict: shares-base"), "{text}");
    assert!(text.contains("A's own changes found in B:"), "{text}");
}

/// `compare A.manifest.json B` uses the base A's manifest records when its weights are at
/// hand, says what is missing when they are not, `--base none` turns it off, and with
/// `--registry` a manifest recording no base gets a hint naming a registered model A looks
/// derived from.
#[test]
fn compare_uses_the_base_a_manifest_records() {
    let dir = mlprov_testkit::tempdir();
    let d = dir.path();
    for name in ["base", "a", "sibling"] {
        fs::copy(
            fixture(&format!("base-aware/{name}.safetensors")),
            d.join(format!("{name}.safetensors")),
        )
        .unwrap();
    }
    let ok = |args: &[&str]| {
        mlprov().current_dir(d).args(args).assert().success();
    };
    ok(&["manifest", "base.safetensors", "-o", "base.manifest.json"]);
    ok(&[
        "manifest",
        "a.safetensors",
        "-o",
        "a.manifest.json",
        "--base",
        "base.manifest.json:finetune",
    ]);
    fs::create_dir(d.join("plain")).unwrap();
    ok(&["manifest", "a.safetensors", "-o", "plain/a.manifest.json"]);
    fs::copy(d.join("a.safetensors"), d.join("plain/a.safetensors")).unwrap();
    let compare = |args: &[&str]| {
        let out = mlprov()
            .current_dir(d)
            .args(["--json", "compare"])
            .args(args)
            .output()
            .unwrap();
        let doc: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
        (doc, out.status.code().unwrap())
    };

    let (doc, code) = compare(&["a.manifest.json", "sibling.safetensors"]);
    assert_eq!(doc["verdict"], "shares-base", "{doc}");
    assert_eq!(code, 0);
    assert_eq!(doc["base_source"], "recorded");
    assert_eq!(doc["recorded_base"]["status"], "found");

    let (doc, _) = compare(&["a.manifest.json", "sibling.safetensors", "--base", "none"]);
    assert_eq!(doc["verdict"], "derived");
    assert!(doc["base_source"].is_null());

    // eval: a base in the fourth column, or A given as its manifest; a sibling is a negative.
    fs::write(
        d.join("pairs.tsv"),
        "a.safetensors\tsibling.safetensors\tshares-base\tbase.safetensors\n\
         a.manifest.json\tsibling.safetensors\tshares-base\n\
         a.safetensors\tsibling.safetensors\tderived\n",
    )
    .unwrap();
    let out = mlprov()
        .current_dir(d)
        .args(["--json", "eval", "pairs.tsv"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert_eq!(report["summary"]["correct"], 3, "{report}");
    assert_eq!(report["summary"]["unrelated_pairs"], 2, "{report}");

    // The base's weights moved away: the plain test, and a note saying what is missing.
    fs::rename(d.join("base.safetensors"), d.join("elsewhere.safetensors")).unwrap();
    let (doc, _) = compare(&["a.manifest.json", "sibling.safetensors"]);
    assert_eq!(doc["verdict"], "derived");
    assert_eq!(doc["recorded_base"]["status"], "not-at-hand");
    assert!(doc["recorded_base"]["why"]
        .as_str()
        .unwrap()
        .contains("base.safetensors"));
    let out = mlprov()
        .current_dir(d)
        .args(["compare", "a.manifest.json", "sibling.safetensors"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("give its weights with --base PATH"), "{text}");

    // No base recorded, but the registry holds one A looks derived from.
    ok(&[
        "register",
        "elsewhere.safetensors",
        "--registry",
        "reg.sqlite",
    ]);
    let (doc, _) = compare(&[
        "plain/a.manifest.json",
        "sibling.safetensors",
        "--registry",
        "reg.sqlite",
    ]);
    assert_eq!(
        doc["registered_base_hint"]["name"], "elsewhere.safetensors",
        "{doc}"
    );
    assert!(doc["registered_base_hint"]["band_hits"].as_u64().unwrap() > 0);
}
