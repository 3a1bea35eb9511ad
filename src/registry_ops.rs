//! `register`, `lookup` and the audit log: the registry operations over [`mlprov_registry`].
//!
//! Registering a model opens it, hashes it, fingerprints it with invariants (so the lineage
//! test can later run against it without the weights), builds its manifest (or takes a given
//! one that matches it) and stores all of it with a `register` audit entry, in one
//! transaction. Dataset registration and licence terms, base models and datasets named on
//! the command line extend [`RegisterOptions`] and [`Registration`] (see `docs/registry.md`).

use std::path::{Path, PathBuf};

use mlprov_fingerprint::{FingerprintOptions, ModelFingerprint};
use mlprov_registry::{
    band_keys, indexed_kernel_simhashes, indexed_simhashes, kernel_band_keys, verify_chain,
    AssetId, AssetKind, AuditEntry, ChainBreak, Digest, Registration, Store,
};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::manifest_ops::{build_manifest, created_now};
use crate::progress::Progress;

/// The environment variable naming the registry when `--registry` is not given.
pub const REGISTRY_ENV: &str = "MLPROV_REGISTRY";

/// A lookup candidate needs at least this many shared LSH band keys. An unrelated model of
/// 32 indexed tensors shares about 0.006 band keys by chance (32 × 32 keys per band over
/// 2^21 values, 12 bands), so 2 or more happen for about 1 in 57,000 unrelated models; a
/// renamed or re-encoded copy shares all 12 bands of every indexed tensor.
pub const MIN_BAND_HITS: u32 = 2;

/// Where the registry is: `explicit` (`--registry`), else `$MLPROV_REGISTRY`, else the
/// default file (`$XDG_DATA_HOME/mlprov/registry.sqlite` or
/// `~/.local/share/mlprov/registry.sqlite`).
pub fn registry_location(explicit: Option<&str>) -> Result<String> {
    if let Some(l) = explicit {
        return Ok(l.to_string());
    }
    if let Some(l) = std::env::var_os(REGISTRY_ENV).filter(|v| !v.is_empty()) {
        return l.into_string().map_err(|_| {
            Error::input(
                REGISTRY_ENV,
                "not UTF-8 (name the registry with --registry)",
            )
        });
    }
    Ok(mlprov_registry::default_location()?
        .to_string_lossy()
        .into_owned())
}

/// Opens (creating a SQLite file on first use) the registry [`registry_location`] names.
pub fn open_registry(explicit: Option<&str>) -> Result<Box<dyn Store>> {
    Ok(mlprov_registry::open(&registry_location(explicit)?)?)
}

/// What to record besides the model itself.
#[derive(Debug, Clone, Default)]
pub struct RegisterOptions {
    /// Who the model is licensed to.
    pub licensees: Vec<String>,
    /// A manifest to store instead of building one; it must describe this model (same
    /// Merkle root).
    pub manifest: Option<PathBuf>,
    /// Who registers it (default: `$MLPROV_ACTOR`, else `$USER`, else `unknown`).
    pub actor: Option<String>,
    /// The licence, terms, bases and datasets recorded in a manifest built here (as
    /// `mlprov manifest` records them); for a dataset, the licence and terms only.
    pub provenance: crate::provenance::ProvenanceOptions,
    /// An ed25519 private key (`mlprov key generate`): the manifest is signed (a DSSE
    /// envelope over its in-toto statement, as `mlprov sign` makes) and the envelope stored.
    pub key: Option<PathBuf>,
}

/// The environment variable naming the signing key `register` uses without `--key`.
pub const SIGNING_KEY_ENV: &str = "MLPROV_SIGNING_KEY";

/// The key a registration is signed with: the option, else `$MLPROV_SIGNING_KEY`.
fn signing_key(options: &RegisterOptions) -> Option<PathBuf> {
    options.key.clone().or_else(|| {
        std::env::var_os(SIGNING_KEY_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    })
}

/// The stored signature of a manifest: its DSSE envelope, or empty without a key.
fn signature(manifest: &mlprov_manifest::Manifest, options: &RegisterOptions) -> Result<String> {
    let Some(key) = signing_key(options) else {
        return Ok(String::new());
    };
    let value: serde_json::Value = serde_json::from_str(&manifest.to_canonical_json())
        .map_err(|e| Error::input(&key, e.to_string()))?;
    let (envelope, _) =
        crate::sign::dsse_envelope(&manifest.subject.name, &manifest.merkle_root, &value, &key)?;
    Ok(envelope)
}

/// What [`register`] stored.
#[derive(Debug, Clone, Serialize)]
pub struct Registered {
    /// The asset's number in the registry.
    pub asset: AssetId,
    /// Model (datasets later).
    pub kind: AssetKind,
    /// The manifest's subject name.
    pub name: String,
    /// The Merkle root.
    pub root: Digest,
    /// Tensors in the manifest.
    pub tensors: usize,
    /// Bytes of the stored (compressed) fingerprint.
    pub fingerprint_bytes: u64,
    /// The registry (file or URL without password).
    pub registry: String,
    /// Whether the manifest was signed (`key`, `$MLPROV_SIGNING_KEY`).
    pub signed: bool,
    /// A model registered with no base that looks derived from (or related to) a model
    /// already registered: that model, so the registration can be made again with it as
    /// `--base` (then `scan` tells the model's siblings apart from its children).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_hint: Option<crate::RegisteredBaseHint>,
}

/// The actor recorded in audit entries when none is given.
pub fn default_actor() -> String {
    ["MLPROV_ACTOR", "USER", "LOGNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "unknown".to_string())
}

/// Registers the model at `path`: hashes, fingerprints it with invariants, builds its
/// manifest (or checks the given one against it) and stores everything with a `register`
/// audit entry. Fails when a file changed while it was read, or the manifest is another
/// model's.
pub fn register(
    store: &mut dyn Store,
    path: &Path,
    options: &RegisterOptions,
    progress: &dyn Progress,
) -> Result<Registered> {
    let model = match crate::open(path) {
        Ok(model) => model,
        // Not a model: a dataset (a data file by its extension, or a folder of data).
        Err(e) if !e.is_security_finding() && looks_like_dataset(path) => {
            return register_dataset(store, path, options, progress)
        }
        Err(e) => return Err(e),
    };
    let digests = crate::hash(&model, false, progress)?;
    // With samples: the registered fingerprint stands in for the weights in `scan`.
    let fingerprint = crate::fingerprint_with(
        &model,
        FingerprintOptions {
            invariants: true,
            samples: true,
        },
        progress,
    )?;
    let manifest = match &options.manifest {
        Some(m) => {
            let manifest = crate::read_manifest(m)?;
            if manifest.merkle_root != digests.root {
                return Err(Error::input(
                    m,
                    format!(
                        "describes the model with root {}, but {} has root {}",
                        manifest.merkle_root,
                        path.display(),
                        digests.root
                    ),
                ));
            }
            manifest
        }
        None => {
            let (licence, lineage) = options.provenance.resolve()?;
            let mut manifest = build_manifest(&model, &digests, &fingerprint, created_now()?);
            manifest.licence = licence;
            manifest.lineage = lineage;
            manifest
        }
    };
    let licence = licence_text(&manifest);
    let base_hint = if manifest.lineage.derived_from.is_empty() {
        base_hint(store, &fingerprint, &digests.root)?
    } else {
        None
    };
    let registration = Registration {
        kind: AssetKind::Model,
        name: manifest.subject.name.clone(),
        manifest: manifest.to_canonical_json(),
        root: digests.root,
        file_digests: digests.files.iter().map(|f| f.digest).collect(),
        tensor_digests: manifest.tensors.iter().map(|t| t.digest).collect(),
        base_roots: manifest
            .lineage
            .derived_from
            .iter()
            .filter_map(|d| d.merkle_root)
            .collect(),
        fingerprint: Some(fingerprint),
        licence,
        licensees: options.licensees.clone(),
        actor: options.actor.clone().unwrap_or_else(default_actor),
        signature: signature(&manifest, options)?,
    };
    let asset = store.register(&registration)?;
    let fingerprint_bytes = store.asset(asset)?.map_or(0, |a| a.fingerprint_bytes);
    Ok(Registered {
        asset,
        kind: AssetKind::Model,
        name: registration.name,
        root: registration.root,
        tensors: manifest.tensors.len(),
        fingerprint_bytes,
        registry: store.location(),
        signed: !registration.signature.is_empty(),
        base_hint,
    })
}

/// The registered model (not this one, `root`) whose fingerprint shares the most LSH band
/// keys with `fingerprint`, if any: what a model registered without a base may derive from.
fn base_hint(
    store: &mut dyn Store,
    fingerprint: &ModelFingerprint,
    root: &Digest,
) -> Result<Option<crate::RegisteredBaseHint>> {
    for candidate in lookup(store, fingerprint)? {
        let Some(asset) = store.asset(candidate.asset)? else {
            continue;
        };
        if asset.kind == AssetKind::Model && asset.root != *root {
            return Ok(Some(crate::RegisteredBaseHint {
                asset: asset.id.0,
                name: asset.name,
                band_hits: candidate.band_hits,
            }));
        }
    }
    Ok(None)
}

/// Whether a path that is not a model is a dataset: a folder, or a file whose name is a
/// dataset format's (`.jsonl`, `.csv`, `.parquet`, ….gz …).
fn looks_like_dataset(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let name = name
        .strip_suffix(".gz")
        .or_else(|| name.strip_suffix(".zst"))
        .unwrap_or(&name);
    path.is_dir()
        || name
            .rsplit_once('.')
            .is_some_and(|(_, ext)| mlprov_data::readers::Format::from_extension(ext).is_some())
}

/// Registers a dataset: its manifest (as `mlprov dataset fingerprint` writes it, with the
/// licence and terms of `options`), its order-independent root and its files' digests.
fn register_dataset(
    store: &mut dyn Store,
    path: &Path,
    options: &RegisterOptions,
    progress: &dyn Progress,
) -> Result<Registered> {
    let manifest_path = match &options.manifest {
        Some(m) => m.clone(),
        None => {
            let dir = tempfile::tempdir()
                .map_err(|e| Error::io(std::env::temp_dir(), "cannot use", e))?;
            let out = dir.path().join("dataset.manifest.json");
            let dataset = crate::dataset::DatasetOptions {
                licence: options.provenance.licence.clone(),
                ..Default::default()
            };
            crate::dataset::dataset_fingerprint(path, &out, false, None, &dataset, progress)?;
            let manifest = crate::read_manifest(&out)?;
            return store_dataset(store, path, manifest, options);
        }
    };
    let manifest = crate::read_manifest(&manifest_path)?;
    store_dataset(store, path, manifest, options)
}

fn store_dataset(
    store: &mut dyn Store,
    path: &Path,
    manifest: mlprov_manifest::Manifest,
    options: &RegisterOptions,
) -> Result<Registered> {
    if manifest.dataset.is_none() {
        return Err(Error::input(path, "its manifest is not a dataset's"));
    }
    let licence = licence_text(&manifest);
    let registration = Registration {
        kind: AssetKind::Dataset,
        name: manifest.subject.name.clone(),
        manifest: manifest.to_canonical_json(),
        root: manifest.merkle_root,
        file_digests: manifest.files.iter().map(|f| f.digest).collect(),
        tensor_digests: record_keys(&manifest),
        base_roots: Vec::new(),
        fingerprint: None,
        licence,
        licensees: options.licensees.clone(),
        actor: options.actor.clone().unwrap_or_else(default_actor),
        signature: signature(&manifest, options)?,
    };
    let asset = store.register(&registration)?;
    Ok(Registered {
        asset,
        kind: AssetKind::Dataset,
        name: registration.name,
        root: registration.root,
        tensors: 0,
        fingerprint_bytes: 0,
        registry: store.location(),
        signed: !registration.signature.is_empty(),
        base_hint: None,
    })
}

/// The record digests a dataset is looked up by: the smallest [`RECORD_KEYS`] of its
/// bottom-k sketch (none for a keyed dataset: a scan's unkeyed digests cannot match them).
fn record_keys(manifest: &mlprov_manifest::Manifest) -> Vec<mlprov_hash::Digest> {
    let Some(dataset) = &manifest.dataset else {
        return Vec::new();
    };
    if dataset.reader.keyed {
        return Vec::new();
    }
    dataset
        .bottom_k
        .digests
        .iter()
        .take(RECORD_KEYS)
        .filter_map(|hex| mlprov_hash::Digest::from_hex(hex))
        .collect()
}

/// Record digests a registered dataset is indexed by. A copy of a share `s` of its records
/// holds about `s · RECORD_KEYS` of them among its own smallest digests.
pub const RECORD_KEYS: usize = 256;

/// The licence section as the registry stores it: its JSON, or empty without one.
fn licence_text(manifest: &mlprov_manifest::Manifest) -> String {
    if manifest.licence.is_empty() {
        String::new()
    } else {
        serde_json::to_string(&manifest.licence).unwrap_or_default()
    }
}

/// A registered asset that may be related to a fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Candidate {
    /// The asset.
    pub asset: AssetId,
    /// LSH band keys it shares with the fingerprint (12 per identical indexed tensor).
    pub band_hits: u32,
}

/// Registered assets that may be related to a model with this fingerprint, from the LSH
/// index (sub-linear: only band keys are looked up), most shared band keys first. The
/// lineage test on each candidate's stored fingerprint gives the verdict.
pub fn lookup(store: &mut dyn Store, fingerprint: &ModelFingerprint) -> Result<Vec<Candidate>> {
    candidates(store, &band_keys(&indexed_simhashes(fingerprint)))
}

/// [`lookup`] by the anchored kernels of a fingerprint taken with invariants: finds the
/// registered models a residual rotation or permutation, a hidden-unit permutation or a
/// rescaling came from, which share no value key with them (registrations made before the
/// kernels were indexed are not found this way).
pub fn lookup_by_invariants(
    store: &mut dyn Store,
    fingerprint: &ModelFingerprint,
) -> Result<Vec<Candidate>> {
    candidates(
        store,
        &kernel_band_keys(&indexed_kernel_simhashes(fingerprint)),
    )
}

fn candidates(store: &mut dyn Store, bands: &[i64]) -> Result<Vec<Candidate>> {
    Ok(store
        .candidates(bands, MIN_BAND_HITS)?
        .into_iter()
        .map(|(asset, band_hits)| Candidate { asset, band_hits })
        .collect())
}

/// The result of checking the audit log.
#[derive(Debug, Clone, Serialize)]
pub struct AuditVerification {
    /// Entries read.
    pub entries: u64,
    /// The recorded head: last sequence number and digest (write it down elsewhere to
    /// detect a rewrite of the whole log).
    pub head_seq: u64,
    /// The recorded head digest.
    pub head: Digest,
    /// The first bad entry, if any.
    pub first_bad: Option<ChainBreak>,
}

impl AuditVerification {
    /// No entry edited, removed, reordered or inserted.
    pub fn is_ok(&self) -> bool {
        self.first_bad.is_none()
    }
}

/// Checks the whole audit log's hash chain and its head.
pub fn audit_verify(store: &mut dyn Store) -> Result<AuditVerification> {
    let entries = store.audit_entries()?;
    let (head_seq, head) = store.audit_head()?;
    Ok(AuditVerification {
        entries: entries.len() as u64,
        head_seq,
        head,
        first_bad: verify_chain(&entries, (head_seq, head)).err(),
    })
}

/// Every audit entry, in order.
pub fn audit_show(store: &mut dyn Store) -> Result<Vec<AuditEntry>> {
    Ok(store.audit_entries()?)
}
