//! `mlprov::scan` and the lineage test against registered fingerprints, as users run them.
//!
//! * The verdict against a registry entry equals the verdict `compare` gives against the
//!   weights, on every generated transform and on the fixture models.
//! * A scan finds copies and derivatives wherever they sit (other names, other formats,
//!   archives), tells licensed from unlicensed, flags every pickle that would run code
//!   (in raw pickles and inside torch zips), reports what it cannot read and goes on, and
//!   records itself in the audit log.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

use common::generated::*;
use mlprov::registry::Store;
use mlprov::{Comparable, FindingClass, RegisteredModel, ScanOptions, ScanReport};
use mlprov_testkit::{hostile, write_in, Dtype, Rng, Tensor as T};

fn registry(dir: &Path) -> Box<dyn Store> {
    mlprov::open_registry(Some(dir.join("registry.sqlite").to_str().unwrap())).unwrap()
}

fn register(store: &mut dyn Store, path: &Path, licensees: &[&str]) -> i64 {
    let options = mlprov::RegisterOptions {
        licensees: licensees.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    mlprov::register(store, path, &options, &mlprov::Quiet)
        .unwrap()
        .asset
        .0
}

/// Writes the manifest of the model at `path` beside it (`NAME.manifest.json`).
fn manifest_beside(path: &Path) -> PathBuf {
    let manifest = path.with_extension("manifest.json");
    let model = mlprov::open(path).unwrap();
    mlprov::write_manifest(&model, &manifest, false, &mlprov::Quiet).unwrap();
    manifest
}

/// Registration options recording the model as a fine-tune of the base whose manifest
/// this is, licensed to `licensees`.
fn fine_tune_of(base_manifest: &Path, licensees: &[&str]) -> mlprov::RegisterOptions {
    mlprov::RegisterOptions {
        licensees: licensees.iter().map(|s| s.to_string()).collect(),
        provenance: mlprov::ProvenanceOptions {
            lineage: mlprov::LineageOptions {
                bases: vec![(
                    base_manifest.to_path_buf(),
                    mlprov::manifest::Relation::Finetune,
                )],
                ..Default::default()
            },
            ..Default::default()
        },
        ..Default::default()
    }
}

fn fine_tuned(a: &[T], seed: u64, level: f32) -> Vec<T> {
    let mut rng = Rng::new(seed);
    a.iter()
        .map(|t| T {
            values: t.values.iter().map(|v| v + level * rng.gauss()).collect(),
            ..t.clone()
        })
        .collect()
}

/// Every transform of the suites, as (name, B).
fn transforms(a: &[T]) -> Vec<(&'static str, Vec<T>)> {
    vec![
        ("exact copy", a.to_vec()),
        (
            "renamed copy",
            a.iter()
                .map(|t| T {
                    name: format!("copy.{}", t.name),
                    ..t.clone()
                })
                .collect(),
        ),
        (
            "f16",
            a.iter().map(|t| t.clone().stored_as(Dtype::F16)).collect(),
        ),
        (
            "bf16",
            a.iter().map(|t| t.clone().stored_as(Dtype::BF16)).collect(),
        ),
        ("fine-tuned", fine_tuned(a, 51, 0.02)),
        ("heavily fine-tuned", fine_tuned(a, 52, 0.08)),
        (
            "rotated, gains folded",
            gains_folded_and_rotated(a, &orthogonal(D, 53)),
        ),
        (
            "hidden units permuted",
            mlp_units_permuted(a, &permutation(H, 54)),
        ),
        (
            "residual permuted",
            residual_permuted(a, &permutation(D, 55)),
        ),
        ("layer subset", layer_subset(a)),
        ("independent", with_gains(&base_model(56), 57)),
    ]
}

#[test]
fn a_registered_fingerprint_gives_the_verdict_the_weights_give() {
    let dir = mlprov_testkit::tempdir();
    let mut store = registry(dir.path());
    let a = with_gains(&base_model(50), 49);
    let pa = write_in(dir.path(), "a.safetensors", &a);
    let id = register(store.as_mut(), &pa, &[]);
    let registered = RegisteredModel::load(store.as_mut(), mlprov::registry::AssetId(id))
        .unwrap()
        .expect("registered with a fingerprint");
    let ma = mlprov::open(&pa).unwrap();
    for (name, b) in transforms(&a) {
        let pb = write_in(
            dir.path(),
            &format!("{}.safetensors", name.replace(' ', "-")),
            &b,
        );
        let mb = mlprov::open(&pb).unwrap();
        let with_weights = mlprov::compare(&ma, &mb, &mlprov::Quiet).unwrap();
        let b = Comparable::new(mb);
        let from_registry = mlprov::compare_registered(&registered, &b, &mlprov::Quiet).unwrap();
        assert_eq!(
            from_registry.verdict,
            with_weights.verdict,
            "{name}: registry {:?} (log10 p {:.1}, {:?}), weights {:?} (log10 p {:.1})",
            from_registry.verdict,
            from_registry.log10_p,
            from_registry.transforms,
            with_weights.verdict,
            with_weights.log10_p
        );
    }
}

#[test]
fn registered_fixture_models_give_the_verdicts_of_their_weights() {
    let fixtures = mlprov_testkit::fixtures();
    let pairs = [
        ("base-aware/a.safetensors", "base-aware/child.safetensors"),
        ("base-aware/a.safetensors", "base-aware/sibling.safetensors"),
        ("base-aware/base.safetensors", "base-aware/a.safetensors"),
        (
            "safetensors/tiny-model.safetensors",
            "safetensors/tiny-sharded",
        ),
        (
            "base-aware/a.safetensors",
            "safetensors/tiny-model.safetensors",
        ),
    ];
    let dir = mlprov_testkit::tempdir();
    let mut store = registry(dir.path());
    for (a, b) in pairs {
        let (pa, pb) = (fixtures.join(a), fixtures.join(b));
        let id = register(store.as_mut(), &pa, &[]);
        let registered = RegisteredModel::load(store.as_mut(), mlprov::registry::AssetId(id))
            .unwrap()
            .unwrap();
        let (ma, mb) = (mlprov::open(&pa).unwrap(), mlprov::open(&pb).unwrap());
        let want = mlprov::compare(&ma, &mb, &mlprov::Quiet).unwrap().verdict;
        let got = mlprov::compare_registered(&registered, &Comparable::new(mb), &mlprov::Quiet)
            .unwrap()
            .verdict;
        assert_eq!(got, want, "{a} vs {b}");
    }
}

fn scan(store: &mut dyn Store, roots: &[PathBuf], licensee: Option<&str>) -> ScanReport {
    let options = ScanOptions {
        licensee: licensee.map(String::from),
        ..Default::default()
    };
    mlprov::scan(store, roots, &options, &mlprov::Quiet).unwrap()
}

fn zip_of(members: &[(&str, &[u8])]) -> Vec<u8> {
    let entries: Vec<(&str, &[u8], bool)> = members.iter().map(|&(n, b)| (n, b, true)).collect();
    hostile::zip(&entries)
}

#[test]
fn a_scan_finds_copies_and_derivatives_wherever_they_sit() {
    let dir = mlprov_testkit::tempdir();
    let mut store = registry(dir.path());
    let licensed = with_gains(&base_model(60), 61);
    let other = with_gains(&base_model(62), 63);
    let pl = write_in(dir.path(), "licensed.safetensors", &licensed);
    let po = write_in(dir.path(), "other.safetensors", &other);
    let licensed_id = register(store.as_mut(), &pl, &["Acme"]);
    let other_id = register(store.as_mut(), &po, &["Globex"]);

    let deploy = dir.path().join("deploy");
    std::fs::create_dir_all(deploy.join("nested/deeper")).unwrap();
    std::fs::copy(&pl, deploy.join("weights.bin")).unwrap(); // exact copy, other name
    write_in(
        &deploy.join("nested"),
        "half.safetensors",
        &licensed
            .iter()
            .map(|t| t.clone().stored_as(Dtype::F16))
            .collect::<Vec<_>>(),
    );
    write_in(
        &deploy.join("nested/deeper"),
        "tuned.safetensors",
        &fine_tuned(&licensed, 64, 0.03),
    );
    let subset = write_in(dir.path(), "subset.safetensors", &layer_subset(&other));
    let zipped = zip_of(&[(
        "models/subset.safetensors",
        &std::fs::read(&subset).unwrap(),
    )]);
    std::fs::write(deploy.join("bundle.zip"), zipped).unwrap();
    write_in(&deploy, "unrelated.safetensors", &base_model(65));
    std::fs::write(deploy.join("README.md"), "not a model").unwrap();

    let report = scan(store.as_mut(), std::slice::from_ref(&deploy), Some("Acme"));
    let found = |suffix: &str| {
        report
            .findings
            .iter()
            .find(|f| f.path.ends_with(suffix))
            .unwrap_or_else(|| panic!("no finding for {suffix}: {:#?}", report.findings))
    };
    let copy = found("weights.bin");
    assert_eq!(copy.asset, Some(licensed_id));
    assert_eq!(copy.verdict.as_deref(), Some("identical"));
    assert!(copy.licensed, "Acme holds a licence for its own model");
    assert_eq!(
        found("half.safetensors").verdict.as_deref(),
        Some("re-encoded")
    );
    assert_eq!(
        found("tuned.safetensors").verdict.as_deref(),
        Some("derived")
    );
    let in_zip = found("bundle.zip!/models/subset.safetensors");
    assert_eq!(in_zip.asset, Some(other_id));
    assert_eq!(in_zip.verdict.as_deref(), Some("derived"));
    assert!(!in_zip.licensed, "licensed to Globex, scanned by Acme");
    assert!(
        report
            .findings
            .iter()
            .all(|f| !f.path.ends_with("unrelated.safetensors")),
        "{:#?}",
        report.findings
    );
    assert_eq!(report.findings.len(), 4, "{:#?}", report.findings);
    assert_eq!(report.models, 5);
    assert!(report.has_violations());

    // Without the unlicensed bundle, Acme's scan is clean.
    std::fs::remove_file(deploy.join("bundle.zip")).unwrap();
    let report = scan(store.as_mut(), std::slice::from_ref(&deploy), Some("Acme"));
    assert!(!report.has_violations(), "{:#?}", report.findings);
    // Nobody named: no licence is claimed.
    let report = scan(store.as_mut(), &[deploy], None);
    assert!(report.findings.iter().all(|f| !f.licensed));

    // Every scan is in the audit log, and the chain holds.
    let entries = mlprov::audit_show(store.as_mut()).unwrap();
    let scans: Vec<_> = entries
        .iter()
        .filter(|e| e.kind.as_str() == "scan")
        .collect();
    assert_eq!(scans.len(), 3);
    assert!(mlprov::audit_verify(store.as_mut()).unwrap().is_ok());
}

#[test]
fn every_pickle_that_would_run_code_is_a_security_finding() {
    let dir = mlprov_testkit::tempdir();
    let mut store = registry(dir.path());
    let deploy = dir.path().join("deploy");
    std::fs::create_dir_all(&deploy).unwrap();
    let pickles = hostile::malicious_pickles();
    for (i, (_, _, pickle)) in pickles.iter().enumerate() {
        std::fs::write(deploy.join(format!("raw{i}.pkl")), pickle).unwrap();
        std::fs::write(
            deploy.join(format!("checkpoint{i}.pt")),
            hostile::torch_zip(pickle, &[]),
        )
        .unwrap();
    }
    let report = scan(store.as_mut(), &[deploy], None);
    for (i, (global, _, _)) in pickles.iter().enumerate() {
        for file in [format!("raw{i}.pkl"), format!("checkpoint{i}.pt")] {
            let f = report
                .findings
                .iter()
                .find(|f| f.path.ends_with(&file))
                .unwrap_or_else(|| panic!("{file} ({global}) not flagged: {:#?}", report.problems));
            assert_eq!(f.class, FindingClass::CodeExecution);
            assert_eq!(f.global.as_deref(), Some(global.as_str()), "{file}");
            assert!(f.is_violation());
        }
    }
    assert!(report.has_violations());
}

#[test]
fn what_cannot_be_read_is_reported_and_the_scan_goes_on() {
    let dir = mlprov_testkit::tempdir();
    let mut store = registry(dir.path());
    let a = base_model(70);
    let pa = write_in(dir.path(), "a.safetensors", &a);
    register(store.as_mut(), &pa, &[]);
    let deploy = dir.path().join("deploy");
    std::fs::create_dir_all(&deploy).unwrap();
    // A FIFO (never opened: the scan would hang on it), a truncated model, a damaged
    // archive, and a copy after all of them.
    let fifo = deploy.join("a-fifo");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let bytes = std::fs::read(&pa).unwrap();
    std::fs::write(
        deploy.join("b-truncated.safetensors"),
        &bytes[..bytes.len() / 2],
    )
    .unwrap();
    let zip = zip_of(&[("m.safetensors", &bytes)]);
    std::fs::write(deploy.join("c-damaged.zip"), &zip[..zip.len() - 30]).unwrap();
    let mut f = std::fs::File::create(deploy.join("d-copy.safetensors")).unwrap();
    f.write_all(&bytes).unwrap();
    drop(f);

    let report = scan(store.as_mut(), &[deploy], None);
    let kinds: Vec<(&str, &str)> = report
        .problems
        .iter()
        .map(|p| (p.path.rsplit('/').next().unwrap(), p.kind.as_str()))
        .collect();
    assert!(kinds.contains(&("a-fifo", "not-regular-file")), "{kinds:?}");
    assert!(
        kinds.contains(&("b-truncated.safetensors", "model")),
        "{kinds:?}"
    );
    assert!(
        kinds
            .iter()
            .any(|(p, k)| p.starts_with("c-damaged.zip") && *k == "damaged-archive"),
        "{kinds:?}"
    );
    assert_eq!(report.findings.len(), 1, "{:#?}", report.findings);
    assert!(report.findings[0].path.ends_with("d-copy.safetensors"));
    // A root that does not exist is an input error, not an empty scan.
    let missing = dir.path().join("missing");
    let options = ScanOptions::default();
    assert!(mlprov::scan(store.as_mut(), &[missing], &options, &mlprov::Quiet).is_err());
}

#[test]
fn a_deep_scan_finds_rotated_and_permuted_derivatives() {
    let dir = mlprov_testkit::tempdir();
    let mut store = registry(dir.path());
    let a = with_gains(&base_model(80), 81);
    let pa = write_in(dir.path(), "a.safetensors", &a);
    let id = register(store.as_mut(), &pa, &[]);
    let deploy = dir.path().join("deploy");
    std::fs::create_dir_all(&deploy).unwrap();
    let rotated = gains_folded_and_rotated(&a, &orthogonal(D, 82));
    let both = residual_permuted(
        &mlp_units_permuted(&a, &permutation(H, 83)),
        &permutation(D, 84),
    );
    write_in(&deploy, "rotated.safetensors", &rotated);
    write_in(&deploy, "permuted.safetensors", &both);
    write_in(
        &deploy,
        "unrelated.safetensors",
        &with_gains(&base_model(85), 86),
    );

    let plain = scan(store.as_mut(), std::slice::from_ref(&deploy), None);
    let options = ScanOptions {
        deep: true,
        ..Default::default()
    };
    let deep = mlprov::scan(store.as_mut(), &[deploy], &options, &mlprov::Quiet).unwrap();
    for f in &plain.findings {
        assert!(
            deep.findings.iter().any(|d| d.path == f.path),
            "{} found by the plain scan only",
            f.path
        );
    }
    let mut found: Vec<(String, String)> = deep
        .findings
        .iter()
        .map(|f| {
            assert_eq!(f.asset, Some(id));
            (
                f.path.rsplit('/').next().unwrap().to_string(),
                f.verdict.clone().unwrap(),
            )
        })
        .collect();
    found.sort();
    assert_eq!(
        found,
        vec![
            ("permuted.safetensors".to_string(), "derived".to_string()),
            ("rotated.safetensors".to_string(), "derived".to_string()),
        ]
    );
    eprintln!(
        "plain scan found {} of 2, deep scan {}",
        plain.findings.len(),
        deep.findings.len()
    );
}

#[test]
fn a_registration_without_samples_is_reported_as_stale() {
    let dir = mlprov_testkit::tempdir();
    let mut store = registry(dir.path());
    let a = base_model(90);
    let pa = write_in(dir.path(), "a.safetensors", &a);
    // What an older mlprov stored: the fingerprint with invariants, no samples.
    let model = mlprov::open(&pa).unwrap();
    let digests = mlprov::hash(&model, false, &mlprov::Quiet).unwrap();
    let fp = mlprov::fingerprint(&model, true, &mlprov::Quiet).unwrap();
    let manifest = mlprov::build_manifest(&model, &digests, &fp, "2026-01-01T00:00:00Z".into());
    store
        .register(&mlprov::registry::Registration {
            kind: mlprov::registry::AssetKind::Model,
            name: "old".into(),
            manifest: manifest.to_canonical_json(),
            root: digests.root,
            file_digests: digests.files.iter().map(|f| f.digest).collect(),
            tensor_digests: Vec::new(),
            base_roots: Vec::new(),
            fingerprint: Some(fp),
            licence: String::new(),
            licensees: Vec::new(),
            actor: "test".into(),
            signature: String::new(),
        })
        .unwrap();
    let deploy = dir.path().join("deploy");
    std::fs::create_dir_all(&deploy).unwrap();
    write_in(&deploy, "copy.safetensors", &fine_tuned(&a, 91, 0.0));
    let report = scan(store.as_mut(), &[deploy], None);
    assert_eq!(report.findings.len(), 1, "{:#?}", report.findings);
    let stale: Vec<_> = report
        .problems
        .iter()
        .filter(|p| p.kind == "stale-registration")
        .collect();
    assert_eq!(stale.len(), 1, "{:#?}", report.problems);
    assert!(stale[0].message.contains("register it again"));
}

#[test]
fn a_scan_tells_the_children_of_a_registered_fine_tune_from_models_sharing_only_its_base() {
    let dir = mlprov_testkit::tempdir();
    let p = base_model(110);
    let a = tuned(&p, 1);
    let p_path = write_in(dir.path(), "p.safetensors", &p);
    let a_path = write_in(dir.path(), "a.safetensors", &a);
    let p_manifest = manifest_beside(&p_path);
    let mut store = registry(dir.path());
    // The public base, licensed to anyone (`--licensee '*'`).
    let p_id = register(store.as_mut(), &p_path, &[mlprov::PUBLIC_LICENSEE]);
    let with_base = fine_tune_of(&p_manifest, &[]);
    let a_id = mlprov::register(store.as_mut(), &a_path, &with_base, &mlprov::Quiet)
        .unwrap()
        .asset
        .0;

    let deploy = dir.path().join("deploy");
    std::fs::create_dir(&deploy).unwrap();
    let child = tuned(&a, 3);
    let bf16: Vec<T> = child
        .iter()
        .map(|t| t.clone().stored_as(Dtype::BF16))
        .collect();
    write_in(&deploy, "sibling.safetensors", &tuned(&p, 2));
    write_in(&deploy, "other-sibling.safetensors", &tuned(&p, 4));
    write_in(&deploy, "child.safetensors", &child);
    write_in(&deploy, "child-bf16.safetensors", &bf16);
    write_in(
        &deploy,
        "child-units-permuted.safetensors",
        &mlp_units_permuted(&child, &permutation(H, 5)),
    );
    write_in(&deploy, "base-copy.safetensors", &p);

    let of_a = |report: &ScanReport| {
        let mut found: Vec<(String, String, Option<f64>)> = report
            .findings
            .iter()
            .filter(|f| f.asset == Some(a_id))
            .map(|f| {
                let name = f.path.rsplit('/').next().unwrap().to_string();
                let share = f.own_changes.as_ref().map(|o| o.share);
                (name, f.verdict.clone().unwrap(), share)
            })
            .collect();
        found.sort_by(|x, y| x.0.cmp(&y.0));
        found
    };
    let report = scan(store.as_mut(), std::slice::from_ref(&deploy), None);
    let found = of_a(&report);
    let names: Vec<&str> = found.iter().map(|f| f.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "child-bf16.safetensors",
            "child-units-permuted.safetensors",
            "child.safetensors"
        ],
        "{found:?}"
    );
    for (name, verdict, share) in &found {
        assert_eq!(verdict, "derived", "{name}");
        let share = share.expect("the base-aware test ran");
        assert!((share - 1.0).abs() < 0.2, "{name}: {share}");
    }
    // The base itself is still found, as the registered base it is; every finding against
    // the public base is licensed, every one against A is not.
    assert!(report.findings.iter().any(|f| f.asset == Some(p_id)
        && f.path.ends_with("base-copy.safetensors")
        && f.verdict.as_deref() == Some("identical")));
    for f in &report.findings {
        assert_eq!(f.licensed, f.asset == Some(p_id), "{f:?}");
    }

    // Without the base (`--base none`) every model built on P reads as derived from A.
    let options = ScanOptions {
        ignore_bases: true,
        ..Default::default()
    };
    let plain = mlprov::scan(
        store.as_mut(),
        std::slice::from_ref(&deploy),
        &options,
        &mlprov::Quiet,
    )
    .unwrap();
    let names: Vec<String> = of_a(&plain).into_iter().map(|f| f.0).collect();
    for sibling in [
        "sibling.safetensors",
        "other-sibling.safetensors",
        "base-copy.safetensors",
    ] {
        assert!(
            names.iter().any(|n| n == sibling),
            "{sibling} not in {names:?}"
        );
    }
    assert!(of_a(&plain).iter().all(|f| f.2.is_none()));
}

#[test]
fn a_scan_takes_registered_public_fine_tunes_of_the_base_as_references() {
    // Every fine-tune of P on the same public data makes a shared change four times its
    // own: a sibling of A trained on that data holds most of A's change.
    let dir = mlprov_testkit::tempdir();
    let p = base_model(150);
    let common = common_change(&p, 151, 4.0);
    let a = tuned_with(&p, &common, 152);
    let p_path = write_in(dir.path(), "p.safetensors", &p);
    let p_manifest = manifest_beside(&p_path);
    let mut store = registry(dir.path());
    register(store.as_mut(), &p_path, &[mlprov::PUBLIC_LICENSEE]);
    // Registers `m` as a fine-tune of P (its manifest names P's).
    let register_tune = |store: &mut dyn Store, name: &str, m: &[T], licensee: &str| {
        let options = fine_tune_of(&p_manifest, &[licensee]);
        let path = write_in(dir.path(), name, m);
        mlprov::register(store, &path, &options, &mlprov::Quiet)
            .unwrap()
            .asset
            .0
    };
    let a_id = register_tune(store.as_mut(), "a.safetensors", &a, "Acme");
    // The licensor's own other fine-tunes on the data: private, so never references.
    for s in 0..3 {
        let m = tuned_with(&p, &common, 160 + s);
        register_tune(
            store.as_mut(),
            &format!("private-{s}.safetensors"),
            &m,
            "Acme",
        );
    }

    let deploy = dir.path().join("deploy");
    std::fs::create_dir(&deploy).unwrap();
    write_in(
        &deploy,
        "sibling.safetensors",
        &tuned_with(&p, &common, 153),
    );
    write_in(&deploy, "child.safetensors", &tuned(&a, 154));
    let against_a = |store: &mut dyn Store| {
        let report = scan(store, std::slice::from_ref(&deploy), None);
        let mut found: Vec<(String, String, f64, usize)> = report
            .findings
            .iter()
            .filter(|f| f.asset == Some(a_id))
            .map(|f| {
                let own = f.own_changes.clone().expect("the base-aware test ran");
                let name = f.path.rsplit('/').next().unwrap().to_string();
                (name, f.verdict.clone().unwrap(), own.share, own.references)
            })
            .collect();
        found.sort_by(|x, y| x.0.cmp(&y.0));
        found
    };

    // Without public references, the sibling reads as carrying A's work.
    let before = against_a(store.as_mut());
    let names: Vec<&str> = before.iter().map(|f| f.0.as_str()).collect();
    assert_eq!(
        names,
        ["child.safetensors", "sibling.safetensors"],
        "{before:?}"
    );
    assert!(
        before.iter().all(|f| f.1 == "derived" && f.3 == 0),
        "{before:?}"
    );
    assert!(before[1].2 > 0.8, "{before:?}");

    // Public fine-tunes of P on the same data, registered as such: the sibling is cleared,
    // the child still carries A's own change.
    for s in 0..6 {
        let m = tuned_with(&p, &common, 170 + s);
        let name = format!("public-{s}.safetensors");
        register_tune(store.as_mut(), &name, &m, mlprov::PUBLIC_LICENSEE);
    }
    let after = against_a(store.as_mut());
    assert_eq!(after.len(), 1, "{after:?}");
    let (name, verdict, share, references) = &after[0];
    assert_eq!(
        (name.as_str(), verdict.as_str(), *references),
        ("child.safetensors", "derived", 6)
    );
    assert!(*share > 0.8, "{after:?}");
}

/// `n` JSON Lines records numbered from `first`, keys in the given order.
fn records(first: usize, n: usize, text_first: bool) -> Vec<String> {
    (first..first + n)
        .map(|i| {
            let text = format!("record {i}: the licensed corpus says {}", i * 7919 % 1009);
            if text_first {
                format!("{{\"text\": \"{text}\", \"id\": {i}}}")
            } else {
                format!("{{\"id\": {i}, \"text\": \"{text}\"}}")
            }
        })
        .collect()
}

#[test]
fn a_scan_finds_registered_datasets_in_data_files_however_reserialized() {
    let dir = mlprov_testkit::tempdir();
    let corpus = dir.path().join("corpus.jsonl");
    std::fs::write(&corpus, records(0, 300, false).join("\n") + "\n").unwrap();
    let mut store = registry(dir.path());
    let options = mlprov::RegisterOptions {
        licensees: vec!["Initech".into()],
        ..Default::default()
    };
    let id = mlprov::register(store.as_mut(), &corpus, &options, &mlprov::Quiet)
        .unwrap()
        .asset
        .0;

    let deploy = dir.path().join("deploy");
    std::fs::create_dir(&deploy).unwrap();
    // Shuffled, keys reordered: the same records.
    let mut copy = records(0, 300, true);
    copy.reverse();
    std::fs::write(deploy.join("copy.ndjson"), copy.join("\n") + "\n").unwrap();
    // A third of the corpus among as many other records, gzipped.
    let mut mix = records(0, 100, false);
    mix.extend(records(5000, 100, false));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all((mix.join("\n") + "\n").as_bytes()).unwrap();
    std::fs::write(deploy.join("mix.jsonl.gz"), gz.finish().unwrap()).unwrap();
    // Unrelated records, and a data file that does not parse.
    std::fs::write(
        deploy.join("other.jsonl"),
        records(9000, 50, false).join("\n"),
    )
    .unwrap();
    std::fs::write(deploy.join("broken.jsonl"), "{\"id\": 1}\n{not json\n").unwrap();

    let report = scan(store.as_mut(), std::slice::from_ref(&deploy), None);
    assert_eq!(report.data_files, 4);
    let mut found: Vec<(String, String, f64, f64)> = report
        .findings
        .iter()
        .map(|f| {
            assert_eq!(f.class, FindingClass::Dataset);
            assert_eq!(f.asset, Some(id));
            assert!(!f.licensed && f.is_violation());
            let d = f.dataset.as_ref().unwrap();
            let name = f.path.rsplit('/').next().unwrap().to_string();
            let verdict = f.verdict.clone().unwrap();
            (
                name,
                verdict,
                d.exact_containment_a_in_b,
                d.exact_containment_b_in_a,
            )
        })
        .collect();
    found.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(
        found,
        [
            ("copy.ndjson".to_string(), "identical".to_string(), 1.0, 1.0),
            (
                "mix.jsonl.gz".to_string(),
                "overlaps".to_string(),
                1.0 / 3.0,
                0.5
            ),
        ]
    );
    let broken: Vec<_> = report
        .problems
        .iter()
        .filter(|p| p.kind == "dataset")
        .collect();
    assert_eq!(broken.len(), 1, "{:?}", report.problems);
    assert!(broken[0].path.ends_with("broken.jsonl") && broken[0].message.contains("broken.jsonl"));

    // The licensee holds it; `skip_datasets` leaves data files alone.
    let licensed = scan(
        store.as_mut(),
        std::slice::from_ref(&deploy),
        Some("Initech"),
    );
    assert!(licensed.findings.iter().all(|f| f.licensed) && !licensed.has_violations());
    let options = ScanOptions {
        skip_datasets: true,
        ..Default::default()
    };
    let skipped = mlprov::scan(
        store.as_mut(),
        std::slice::from_ref(&deploy),
        &options,
        &mlprov::Quiet,
    )
    .unwrap();
    assert!(skipped.findings.is_empty() && skipped.data_files == 0);
}
