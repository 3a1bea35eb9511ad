//! One behaviour, two databases: every check here runs against a SQLite file and against a
//! throwaway PostgreSQL server (which must start: the PostgreSQL tests fail, never skip).

use mlprov_fingerprint::{FingerprintOptions, ModelFingerprint, SimHash};
use mlprov_formats::{open_model, OpenOptions};
use mlprov_hash::{hash_model, HashOptions};
use mlprov_registry::{
    verify_chain, AssetKind, AuditEvent, AuditKind, PgStore, Registration, SqliteStore, Store,
};
use mlprov_testkit::postgres::PgServer;
use mlprov_testkit::{Rng, Tensor};

/// A fresh, empty registry and a way to run raw SQL on its tables (to tamper with them).
struct Fresh {
    store: Box<dyn Store>,
    exec: Box<dyn FnMut(&str)>,
}

/// A registration of a small random model (fingerprinted with invariants).
fn registration(seed: u64, licensees: &[&str]) -> Registration {
    let dir = mlprov_testkit::tempdir();
    let mut rng = Rng::new(seed);
    // An embedding and four matrices writing its width: the model has anchored kernels.
    let mut tensors = vec![Tensor::f32(
        "embed.weight",
        &[256, 64],
        rng.gaussians(256 * 64, 1.0),
    )];
    tensors.extend((0..4).map(|i| {
        Tensor::f32(
            format!("layer{i}.weight"),
            &[64, 48],
            rng.gaussians(64 * 48, 0.02),
        )
    }));
    let path = mlprov_testkit::write_in(dir.path(), "model.safetensors", &tensors);
    let model = open_model(&path, OpenOptions::default()).unwrap();
    let digests = hash_model(&model, HashOptions::default());
    let fp = ModelFingerprint::with_options(
        &model,
        FingerprintOptions {
            invariants: true,
            ..Default::default()
        },
    );
    Registration {
        kind: AssetKind::Model,
        name: format!("model-{seed}"),
        manifest: format!("{{\"seed\":{seed}}}"),
        root: digests.root,
        file_digests: digests.files.iter().map(|f| f.digest).collect(),
        tensor_digests: digests
            .files
            .iter()
            .flat_map(|f| f.tensors.iter().map(|t| t.digest))
            .collect(),
        base_roots: Vec::new(),
        fingerprint: Some(fp),
        licence: "LicenseRef-test".into(),
        licensees: licensees.iter().map(|s| s.to_string()).collect(),
        signature: String::new(),
        actor: "tester".into(),
    }
}

fn verify(store: &mut dyn Store) -> Result<(), mlprov_registry::ChainBreak> {
    let entries = store.audit_entries().unwrap();
    verify_chain(&entries, store.audit_head().unwrap())
}

fn scan_event(i: u64) -> AuditEvent {
    AuditEvent {
        kind: AuditKind::Scan,
        actor: "scanner".into(),
        payload: serde_json::json!({ "i": i }),
    }
}

/// The shared suite: registration, exact and LSH lookup, fingerprints, licensees, the audit
/// chain and its tamper detection, concurrent writers.
fn suite(make: &mut dyn FnMut() -> Fresh, concurrent: &dyn Fn() -> Box<dyn Store>) {
    registers_and_finds(make().store.as_mut());
    audit_chain_detects_tampering(make);
    concurrent_writers_keep_one_chain(concurrent().as_mut(), concurrent);
}

fn registers_and_finds(store: &mut dyn Store) {
    let a = registration(1, &["Zeta Corp", "Acme"]);
    let mut b = registration(2, &[]);
    b.base_roots = vec![a.root]; // B was fine-tuned from A
    let ia = store.register(&a).unwrap();
    let ib = store.register(&b).unwrap();
    assert_ne!(ia, ib);
    assert_eq!(store.asset_count().unwrap(), 2);

    let got = store.asset(ia).unwrap().unwrap();
    assert_eq!(
        (got.kind, got.name.as_str(), got.root, got.manifest.as_str()),
        (AssetKind::Model, "model-1", a.root, a.manifest.as_str())
    );
    assert_eq!(
        (got.licence.as_str(), got.actor.as_str()),
        ("LicenseRef-test", "tester")
    );
    assert!(got.fingerprint_bytes > 0);
    assert!(store
        .asset(mlprov_registry::AssetId(9999))
        .unwrap()
        .is_none());

    // Exact lookup by root, file and tensor digest; not by a base's root, which lists the
    // base's fine-tunes instead.
    assert_eq!(store.find_by_digest(&a.root).unwrap(), vec![ia]);
    assert_eq!(store.derived_from(&a.root).unwrap(), vec![ib]);
    assert!(store.derived_from(&b.root).unwrap().is_empty());
    assert_eq!(store.find_by_digest(&a.file_digests[0]).unwrap(), vec![ia]);
    assert_eq!(
        store.find_by_digest(&b.tensor_digests[3]).unwrap(),
        vec![ib]
    );
    assert!(store
        .find_by_digest(&mlprov_registry::Digest([7; 32]))
        .unwrap()
        .is_empty());

    // The fingerprint comes back whole, invariants included.
    let fp = store.fingerprint(ia).unwrap().unwrap();
    assert_eq!(Some(&fp), a.fingerprint.as_ref());
    assert!(fp.tensors.iter().any(|t| t.row_gram.is_some()));

    // LSH: a model's own keys find it with every band; random keys find nothing.
    let keys = mlprov_registry::indexed_simhashes(&fp);
    let bands = mlprov_registry::band_keys(&keys);
    let found = store.candidates(&bands, 2).unwrap();
    assert_eq!(found[0], (ia, bands.len() as u32), "{found:?}");
    assert!(!found.iter().any(|(id, _)| *id == ib), "{found:?}");
    // Its kernels are indexed too, in bands of their own.
    let kernels = mlprov_registry::indexed_kernel_simhashes(&fp);
    assert!(!kernels.is_empty(), "the model has anchored kernels");
    let kernel_bands = mlprov_registry::kernel_band_keys(&kernels);
    assert!(kernel_bands.iter().all(|k| !bands.contains(k)));
    let found = store.candidates(&kernel_bands, 2).unwrap();
    assert_eq!(found[0], (ia, kernel_bands.len() as u32), "{found:?}");
    let mut rng = Rng::new(99);
    let random: Vec<SimHash> = (0..4)
        .map(|_| {
            SimHash([
                rng.next_u64(),
                rng.next_u64(),
                rng.next_u64(),
                rng.next_u64(),
            ])
        })
        .collect();
    assert!(store
        .candidates(&mlprov_registry::band_keys(&random), 2)
        .unwrap()
        .is_empty());

    assert_eq!(store.licensees(ia).unwrap(), vec!["Acme", "Zeta Corp"]);
    assert!(store.licensees(ib).unwrap().is_empty());

    // Both registrations are in the audit log, chained.
    let entries = store.audit_entries().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].kind, "register");
    let payload: serde_json::Value = serde_json::from_str(&entries[1].payload).unwrap();
    assert_eq!(payload["asset"], ib.0);
    assert_eq!(payload["root"], b.root.to_string());
    assert_eq!(verify(store), Ok(()));
}

fn audit_chain_detects_tampering(make: &mut dyn FnMut() -> Fresh) {
    // Each tampering on a fresh log of four entries; the first bad entry is named.
    let cases: [(&str, &[&str], u64); 7] = [
        (
            "edit",
            &["UPDATE audit SET actor = 'mallory' WHERE seq = 2"],
            2,
        ),
        (
            "edit payload",
            &["UPDATE audit SET payload = '{\"i\":9}' WHERE seq = 3"],
            3,
        ),
        ("remove", &["DELETE FROM audit WHERE seq = 2"], 2),
        ("remove last", &["DELETE FROM audit WHERE seq = 4"], 4),
        (
            "reorder",
            &[
                "UPDATE audit SET seq = -1 WHERE seq = 2",
                "UPDATE audit SET seq = 2 WHERE seq = 3",
                "UPDATE audit SET seq = 3 WHERE seq = -1",
            ],
            2,
        ),
        (
            "insert",
            &[
                "INSERT INTO audit (seq, time, kind, actor, payload, prev, hash)
               SELECT 5, time, kind, actor, payload, prev, hash FROM audit WHERE seq = 2",
            ],
            5,
        ),
        (
            "insert in the middle",
            &[
                "UPDATE audit SET seq = seq + 10 WHERE seq >= 3",
                "UPDATE audit SET seq = seq - 9 WHERE seq >= 13",
                "INSERT INTO audit (seq, time, kind, actor, payload, prev, hash)
                 SELECT 3, time, kind, 'mallory', payload, prev, hash FROM audit WHERE seq = 2",
            ],
            3,
        ),
    ];
    for (what, sql, bad) in cases {
        let Fresh {
            mut store,
            mut exec,
        } = make();
        for i in 0..4 {
            store.audit_append(&scan_event(i)).unwrap();
        }
        assert_eq!(verify(store.as_mut()), Ok(()), "{what}: before");
        for s in sql {
            exec(s);
        }
        let brk = verify(store.as_mut()).expect_err(what);
        assert_eq!(brk.seq, bad, "{what}: {brk}");
    }
    // A forged head is caught too.
    let Fresh {
        mut store,
        mut exec,
    } = make();
    store.audit_append(&scan_event(0)).unwrap();
    exec("UPDATE audit_head SET seq = 7 WHERE id = 1");
    assert!(verify(store.as_mut()).is_err());
}

fn concurrent_writers_keep_one_chain(store: &mut dyn Store, open: &dyn Fn() -> Box<dyn Store>) {
    const WRITERS: u64 = 8;
    const EACH: u64 = 25;
    let stores: Vec<Box<dyn Store>> = (0..WRITERS).map(|_| open()).collect();
    let reg = registration(3, &["Acme"]);
    std::thread::scope(|s| {
        for (w, mut st) in stores.into_iter().enumerate() {
            let reg = &reg;
            s.spawn(move || {
                for i in 0..EACH {
                    if i % 5 == 0 {
                        st.register(reg).unwrap();
                    } else {
                        st.audit_append(&scan_event(w as u64 * 1000 + i)).unwrap();
                    }
                }
            });
        }
    });
    let entries = store.audit_entries().unwrap();
    assert_eq!(entries.len() as u64, WRITERS * EACH);
    assert_eq!(store.asset_count().unwrap(), WRITERS * EACH / 5);
    assert_eq!(verify(store), Ok(()));
}

#[test]
fn sqlite_passes_the_suite() {
    let dir = mlprov_testkit::tempdir();
    let mut n = 0;
    let shared = dir.path().join("shared.sqlite");
    let mut make = || {
        n += 1;
        let path = dir.path().join(format!("r{n}/registry.sqlite"));
        let store = Box::new(SqliteStore::open(&path).unwrap());
        let conn = rusqlite::Connection::open(&path).unwrap();
        Fresh {
            store,
            exec: Box::new(move |sql| {
                conn.execute_batch(sql).unwrap();
            }),
        }
    };
    let concurrent = || -> Box<dyn Store> { Box::new(SqliteStore::open(&shared).unwrap()) };
    suite(&mut make, &concurrent);
}

#[test]
fn postgres_passes_the_suite() {
    let server = PgServer::start();
    let mut n = 0;
    let mut make = || {
        n += 1;
        let url = server.create_database(&format!("r{n}"));
        let store = Box::new(PgStore::connect(&url).unwrap());
        let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        Fresh {
            store,
            exec: Box::new(move |sql| {
                client.batch_execute(sql).unwrap();
            }),
        }
    };
    let shared = server.create_database("shared");
    let concurrent = || -> Box<dyn Store> { Box::new(PgStore::connect(&shared).unwrap()) };
    suite(&mut make, &concurrent);
}

#[test]
fn sqlite_registry_is_created_in_wal_mode_and_older_schemas_migrate() {
    let dir = mlprov_testkit::tempdir();
    let path = dir.path().join("deep/folder/registry.sqlite");
    {
        let mut old = SqliteStore::open_at_version(&path, 1).unwrap();
        assert_eq!(old.schema_version().unwrap(), 1);
        old.connection()
            .execute_batch(
                "INSERT INTO assets (kind, name, root, manifest, licence, registered)
                 VALUES ('model', 'old', zeroblob(32), '{}', '', '2026-01-01T00:00:00Z')",
            )
            .unwrap();
    }
    let mut store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        store.schema_version().unwrap(),
        mlprov_registry::SCHEMA_VERSION
    );
    let old = store.asset(mlprov_registry::AssetId(1)).unwrap().unwrap();
    assert_eq!(
        (
            old.name.as_str(),
            old.actor.as_str(),
            old.signature.as_str()
        ),
        ("old", "", "")
    );
    let mode: String = store
        .connection()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    // Reopening applies nothing twice.
    drop(store);
    assert_eq!(
        SqliteStore::open(&path).unwrap().schema_version().unwrap(),
        mlprov_registry::SCHEMA_VERSION
    );
}

#[test]
fn postgres_older_schemas_migrate() {
    let server = PgServer::start();
    let url = server.url();
    {
        let mut old = PgStore::connect_at_version(&url, 1).unwrap();
        assert_eq!(old.schema_version().unwrap(), 1);
        old.client()
            .batch_execute(
                "INSERT INTO assets (kind, name, root, manifest, licence, registered)
                 VALUES ('model', 'old', decode(repeat('00', 32), 'hex'), '{}', '', 'then')",
            )
            .unwrap();
    }
    let mut store = PgStore::connect(&url).unwrap();
    assert_eq!(
        store.schema_version().unwrap(),
        mlprov_registry::SCHEMA_VERSION
    );
    let old = store.asset(mlprov_registry::AssetId(1)).unwrap().unwrap();
    assert_eq!(
        (
            old.name.as_str(),
            old.actor.as_str(),
            old.signature.as_str()
        ),
        ("old", "", "")
    );
}

#[test]
fn open_picks_the_database_by_location() {
    let dir = mlprov_testkit::tempdir();
    let path = dir.path().join("r.sqlite");
    let store = mlprov_registry::open(path.to_str().unwrap()).unwrap();
    assert_eq!(store.location(), path.display().to_string());
    assert!(mlprov_registry::is_postgres_url("postgres://u@h/db"));
    assert!(mlprov_registry::is_postgres_url("postgresql://u@h/db"));
    assert!(!mlprov_registry::is_postgres_url("registry.sqlite"));
    // A server that is not there is an error naming it, not a hang.
    let err = mlprov_registry::open("postgres://nobody@127.0.0.1:1/none")
        .err()
        .unwrap();
    assert!(err.to_string().contains("127.0.0.1:1"), "{err}");
}
