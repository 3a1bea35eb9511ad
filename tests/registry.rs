//! The registry operations of the application layer: `register` stores what a later lookup
//! needs, and `lookup` finds a registered model from a copy's fingerprint through the LSH
//! index alone.

use mlprov::registry::{SqliteStore, Store};
use mlprov::{lookup, register, RegisterOptions};
use mlprov_testkit::{write_in, Dtype, Rng, Tensor as T};

const D: usize = 64;
const H: usize = 160;

/// A small transformer-shaped model with Gaussian weights.
fn model(seed: u64) -> Vec<T> {
    let mut rng = Rng::new(seed);
    let mut out = vec![T::f32(
        "embed.weight",
        &[512, D],
        rng.gaussians(512 * D, 1.0),
    )];
    for l in 0..3 {
        for p in ["q", "k", "v", "o"] {
            let name = format!("layers.{l}.attn.{p}.weight");
            out.push(T::f32(name, &[D, D], rng.gaussians(D * D, 0.1)));
        }
        let up = format!("layers.{l}.mlp.up.weight");
        out.push(T::f32(up, &[H, D], rng.gaussians(H * D, 0.1)));
        let down = format!("layers.{l}.mlp.down.weight");
        out.push(T::f32(down, &[D, H], rng.gaussians(D * H, 0.1)));
    }
    out
}

fn fingerprint_of(
    dir: &std::path::Path,
    file: &str,
    tensors: &[T],
) -> mlprov::fingerprint::ModelFingerprint {
    let path = write_in(dir, file, tensors);
    let m = mlprov::open(&path).unwrap();
    mlprov::fingerprint(&m, false, &mlprov::Quiet).unwrap()
}

#[test]
fn a_registered_model_is_found_from_its_copies_and_not_from_an_unrelated_model() {
    let dir = mlprov_testkit::tempdir();
    let mut store = SqliteStore::open(&dir.path().join("registry.sqlite")).unwrap();
    let base = model(1);
    let path = write_in(dir.path(), "base.safetensors", &base);
    let options = RegisterOptions {
        licensees: vec!["Acme".into()],
        ..Default::default()
    };
    let reg = register(&mut store, &path, &options, &mlprov::Quiet).unwrap();
    // Other registered models, so "found" means picked out of several.
    for seed in [2, 3, 4] {
        let p = write_in(
            dir.path(),
            &format!("other{seed}.safetensors"),
            &model(seed),
        );
        register(&mut store, &p, &RegisterOptions::default(), &mlprov::Quiet).unwrap();
    }
    assert_eq!(store.licensees(reg.asset).unwrap(), vec!["Acme"]);
    assert_eq!(store.find_by_digest(&reg.root).unwrap(), vec![reg.asset]);

    let own = store.fingerprint(reg.asset).unwrap().unwrap();
    let renamed: Vec<T> = base
        .iter()
        .enumerate()
        .map(|(i, t)| T {
            name: format!("renamed_{i}"),
            ..t.clone()
        })
        .collect();
    let mut rng = Rng::new(77);
    let noisy: Vec<T> = base
        .iter()
        .map(|t| {
            let values = t.values.iter().map(|v| v + rng.gauss() * 0.01).collect();
            T::f32(t.name.clone(), &t.shape, values).stored_as(Dtype::BF16)
        })
        .collect();
    let copies = [
        ("own stored fingerprint", own),
        (
            "renamed copy",
            fingerprint_of(dir.path(), "renamed.safetensors", &renamed),
        ),
        (
            "noisy bf16 copy",
            fingerprint_of(dir.path(), "noisy.safetensors", &noisy),
        ),
    ];
    for (what, fp) in &copies {
        let found = lookup(&mut store, fp).unwrap();
        assert_eq!(
            found.first().map(|c| c.asset),
            Some(reg.asset),
            "{what}: {found:?}"
        );
    }
    let unrelated = fingerprint_of(dir.path(), "unrelated.safetensors", &model(9));
    let found = lookup(&mut store, &unrelated).unwrap();
    assert!(found.iter().all(|c| c.asset != reg.asset), "{found:?}");
}

#[test]
fn a_given_manifest_must_describe_the_model() {
    let dir = mlprov_testkit::tempdir();
    let mut store = SqliteStore::open(&dir.path().join("registry.sqlite")).unwrap();
    let a = write_in(dir.path(), "a.safetensors", &model(1));
    let b = write_in(dir.path(), "b.safetensors", &model(2));
    let manifest = dir.path().join("a.manifest.json");
    mlprov::write_manifest(&mlprov::open(&a).unwrap(), &manifest, false, &mlprov::Quiet).unwrap();
    let with = |_path: &std::path::Path| RegisterOptions {
        manifest: Some(manifest.clone()),
        actor: Some("ci".into()),
        ..Default::default()
    };
    let ok = register(&mut store, &a, &with(&a), &mlprov::Quiet).unwrap();
    let stored = store.asset(ok.asset).unwrap().unwrap();
    let expected = mlprov::read_manifest(&manifest)
        .unwrap()
        .to_canonical_json();
    assert_eq!(stored.manifest, expected);
    assert_eq!(stored.actor, "ci");
    let err = register(&mut store, &b, &with(&b), &mlprov::Quiet).unwrap_err();
    assert!(
        err.to_string().contains("describes the model with root"),
        "{err}"
    );
    // The refused registration left nothing behind.
    assert_eq!(store.asset_count().unwrap(), 1);
    assert_eq!(store.audit_entries().unwrap().len(), 1);
}

#[test]
fn the_stored_fingerprint_runs_the_lineage_test_without_the_weights() {
    use mlprov::fingerprint::{compare_models, Verdict};
    let dir = mlprov_testkit::tempdir();
    let mut store = SqliteStore::open(&dir.path().join("registry.sqlite")).unwrap();
    let base = model(1);
    let path = write_in(dir.path(), "base.safetensors", &base);
    let reg = register(
        &mut store,
        &path,
        &RegisterOptions::default(),
        &mlprov::Quiet,
    )
    .unwrap();
    std::fs::remove_file(&path).unwrap();
    let stored = store.fingerprint(reg.asset).unwrap().unwrap();
    // The registered model's weights are gone: A is a model without files.
    let gone = mlprov::formats::Model {
        root: path.clone(),
        layout: mlprov::formats::Layout::File,
        files: Vec::new(),
        skipped: Vec::new(),
        unreadable: Vec::new(),
    };
    let mut rng = Rng::new(5);
    let noisy: Vec<T> = base
        .iter()
        .map(|t| {
            let values = t.values.iter().map(|v| v + rng.gauss() * 0.01).collect();
            T::f32(t.name.clone(), &t.shape, values)
        })
        .collect();
    let verdict = |tensors: &[T], file: &str| {
        let p = write_in(dir.path(), file, tensors);
        let m = mlprov::open(&p).unwrap();
        let fp = mlprov::fingerprint(&m, true, &mlprov::Quiet).unwrap();
        compare_models(&gone, &stored, &m, &fp)
    };
    let related = verdict(&noisy, "noisy.safetensors");
    assert!(
        !matches!(related.verdict, Verdict::Unrelated | Verdict::Inconclusive),
        "{:?} (p = 1e{:.1})",
        related.verdict,
        related.log10_p
    );
    let unrelated = verdict(&model(9), "unrelated.safetensors");
    assert_eq!(
        unrelated.verdict,
        Verdict::Unrelated,
        "p = 1e{:.1}",
        unrelated.log10_p
    );
}

#[test]
fn registering_a_fine_tune_without_its_base_names_the_registered_model_it_derives_from() {
    let dir = mlprov_testkit::tempdir();
    let mut store = SqliteStore::open(&dir.path().join("registry.sqlite")).unwrap();
    let quiet = &mlprov::Quiet;
    let base = model(30);
    let base_path = write_in(dir.path(), "base.safetensors", &base);
    let other = write_in(dir.path(), "other.safetensors", &model(31));
    let first = register(&mut store, &base_path, &RegisterOptions::default(), quiet).unwrap();
    assert_eq!(first.base_hint, None, "nothing registered before it");
    let unrelated = register(&mut store, &other, &RegisterOptions::default(), quiet).unwrap();
    assert_eq!(unrelated.base_hint, None, "unrelated to the base");

    // A fine-tune of the base: every weight moved by 0.001 (1% of the matrices' spread).
    let mut rng = Rng::new(32);
    let tuned: Vec<T> = base
        .iter()
        .map(|t| T {
            values: t.values.iter().map(|v| v + 0.001 * rng.gauss()).collect(),
            ..t.clone()
        })
        .collect();
    let tuned_path = write_in(dir.path(), "tuned.safetensors", &tuned);
    let r = register(&mut store, &tuned_path, &RegisterOptions::default(), quiet).unwrap();
    let hint = r.base_hint.expect("the base is named");
    assert_eq!(
        (hint.asset, hint.name.as_str()),
        (first.asset.0, "base.safetensors")
    );

    // Registered with its base recorded, there is nothing to hint.
    let manifest = dir.path().join("base.manifest.json");
    mlprov::write_manifest(&mlprov::open(&base_path).unwrap(), &manifest, false, quiet).unwrap();
    let with_base = RegisterOptions {
        provenance: mlprov::ProvenanceOptions {
            lineage: mlprov::LineageOptions {
                bases: vec![(manifest, mlprov::manifest::Relation::Finetune)],
                ..Default::default()
            },
            ..Default::default()
        },
        ..Default::default()
    };
    let r = register(&mut store, &tuned_path, &with_base, quiet).unwrap();
    assert_eq!(r.base_hint, None);
}
