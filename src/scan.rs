//! `scan`: find registered models, and derivatives of them, in a deployment.
//!
//! 1. The deployment is walked ([`mlprov_walk`]): folders, archives and container images,
//!    weight files recognized by their bytes.
//! 2. Each model found is fingerprinted from samples only and looked up in the registry's
//!    LSH index ([`lookup`]); a model whose pickle would run code is a security finding.
//!    With [`ScanOptions::deep`], a model without candidates is also fingerprinted with
//!    invariants and looked up by its anchored kernels ([`lookup_by_invariants`]).
//! 3. Each candidate is judged by the lineage test against its registered fingerprint
//!    ([`compare_registered`]), the invariants computed only when values alone do not
//!    settle it, exactly as `compare` stages it.
//! 4. A related model is a finding: the registered asset, the verdict, its p-value and
//!    evidence, and whether the scanning party is licensed (`licensee` among the asset's
//!    licensees) and, with an intended use, what `check` says of it.
//! 5. The scan and its findings are appended to the audit log.
//!
//! Whatever happens to one model (unreadable, truncated or rewritten while read, damaged)
//! is reported as a problem of that model, and the scan goes on.

use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use mlprov_data::readers::ReadOptions;
use mlprov_fingerprint::Verdict;
use mlprov_formats::OpenOptions;
use mlprov_hash::Digest;
use mlprov_manifest::Manifest;
use mlprov_registry::{Asset, AssetId, AssetKind, AuditEvent, AuditKind, Store};
use mlprov_walk::{Found, WalkOptions};
use serde::Serialize;

use crate::compare::{
    compare_registered, compare_registered_with_base_in, Comparable, RegisteredBase,
    RegisteredModel,
};
use crate::dataset::DatasetOptions;
use crate::dataset_compare::dataset_compare;
use crate::dataset_exact::dataset_identity;
use crate::error::{Error, Result};
use crate::progress::{Progress, Quiet};
use crate::registry_ops::{default_actor, lookup, lookup_by_invariants};

/// At most this many registry candidates (most shared LSH bands first) are judged by the
/// lineage test per model found.
pub const MAX_CANDIDATES: usize = 8;

/// The licensee that stands for everyone: an asset registered with `--licensee '*'` (a
/// public base, registered so the base-aware test can use it) is licensed to any scanner.
pub const PUBLIC_LICENSEE: &str = "*";

/// What a scan looks for, and on whose behalf.
#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// The scanning party: a finding is licensed when this name is among the asset's
    /// licensees. `None`: no licence is claimed, so every related model is unlicensed.
    pub licensee: Option<String>,
    /// An intended use to `check` against each related asset's terms (`allow` needed).
    pub intended_use: Option<mlprov_terms::Query>,
    /// How far the walk goes into archives, and its limits.
    pub walk: WalkOptions,
    /// How models are opened (memory budget).
    pub open: OpenOptions,
    /// Who scans (recorded in the audit entry; default [`default_actor`]).
    pub actor: Option<String>,
    /// A model no registered model shares a value key with is also fingerprinted with
    /// invariants (reading every weight of its residual matrices, not samples) and looked
    /// up by its anchored kernels: finds rotated and permuted derivatives too.
    pub deep: bool,
    /// Do not use registered bases: every relation to a registered model is reported,
    /// even one that only shares that model's registered base (`--base none`).
    pub ignore_bases: bool,
    /// Do not look at data files (registered datasets are then not looked for).
    pub skip_datasets: bool,
}

/// What kind of finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingClass {
    /// A copy or derivative of a registered model.
    Lineage,
    /// A model file that would run code when loaded (a pickle global outside the
    /// state-dict allow-list).
    CodeExecution,
    /// A data file holding records of a registered dataset.
    Dataset,
}

/// One finding.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// Where: a path, `archive!/inner/path` inside archives.
    pub path: String,
    /// What kind.
    pub class: FindingClass,
    /// The registered asset it derives from (lineage findings).
    pub asset: Option<i64>,
    /// That asset's name.
    pub asset_name: Option<String>,
    /// That asset's root digest.
    pub asset_root: Option<String>,
    /// The lineage test's verdict, in `compare`'s words.
    pub verdict: Option<String>,
    /// log10 of its p-value.
    pub log10_p: Option<f64>,
    /// Share of the model's parameters the asset explains.
    pub explained_share: Option<f64>,
    /// The transforms seen (renamed, dtype changes, layers dropped…).
    pub transforms: Vec<String>,
    /// Whether the scanning party holds a licence for the asset (and, with an intended
    /// use, `check` allows it). Always false for a code-execution finding.
    pub licensed: bool,
    /// `check`'s answer for the intended use (`allow`, `deny`, `review`), when one was given.
    pub check: Option<String>,
    /// The pickle global that would run (code-execution findings).
    pub global: Option<String>,
    /// The base-aware test, when the asset's base is registered: the share of the asset's
    /// own changes from its base found in the model, and that test's log10 p.
    pub own_changes: Option<FoundOwnChanges>,
    /// What of a registered dataset a data file holds (dataset findings).
    pub dataset: Option<DatasetOverlap>,
}

/// What of a registered dataset A a data file B holds, as `dataset compare` estimates it
/// from A's registered manifest and B's records. Shares are in 0..=1, intervals 95%.
#[derive(Debug, Clone, Serialize)]
pub struct DatasetOverlap {
    /// Same records as A (in any order, any serialization).
    pub identical: bool,
    /// Share of A's distinct records found exactly in B, and its interval.
    pub exact_containment_a_in_b: f64,
    /// Its interval.
    pub exact_containment_a_in_b_interval: [f64; 2],
    /// Share of B's distinct records that are A's.
    pub exact_containment_b_in_a: f64,
    /// Its interval.
    pub exact_containment_b_in_a_interval: [f64; 2],
    /// Share of A's records with a near duplicate in B (light edits), when estimable.
    pub near_containment_a_in_b: Option<f64>,
    /// Its interval.
    pub near_containment_a_in_b_interval: Option<[f64; 2]>,
}

/// What the base-aware test found of a registered asset's own changes (from its
/// registered base) in a scanned model.
#[derive(Debug, Clone, Serialize)]
pub struct FoundOwnChanges {
    /// The registered base's asset number.
    pub base_asset: i64,
    /// Share of the asset's changes from its base found in the model (0 to 1).
    pub share: f64,
    /// log10 p under "built from the base independently of the asset".
    pub log10_p: f64,
    /// Registered public fine-tunes of the base used as references (their common changes
    /// with the asset's are not counted as the asset's own).
    pub references: usize,
    /// The share the model had to hold to carry the asset's own work
    /// (`mlprov_fingerprint::share_floor`: higher when the references themselves hold
    /// much of the asset's change).
    pub share_floor: f64,
}

impl Finding {
    /// Whether this finding makes the scan fail: unlicensed lineage, or code execution.
    pub fn is_violation(&self) -> bool {
        !self.licensed
    }
}

/// Something of the deployment that could not be scanned.
#[derive(Debug, Clone, Serialize)]
pub struct ScanProblem {
    /// The file, folder or archive member.
    pub path: String,
    /// A stable kind (`unreadable`, `not-regular-file`, `damaged-archive`, `model`…).
    pub kind: String,
    /// What went wrong.
    pub message: String,
}

/// What a scan found.
#[derive(Debug, Clone, Serialize)]
pub struct ScanReport {
    /// The registry scanned against.
    pub registry: String,
    /// Findings, in the order the walk met them.
    pub findings: Vec<Finding>,
    /// What could not be scanned.
    pub problems: Vec<ScanProblem>,
    /// Models found and fingerprinted.
    pub models: u64,
    /// Data files read.
    pub data_files: u64,
    /// Files looked at.
    pub files: u64,
    /// Bytes of the files looked at.
    pub bytes: u64,
    /// Archives and images opened.
    pub archives: u64,
    /// The audit entry recording this scan.
    pub audit_seq: u64,
}

impl ScanReport {
    /// Whether an unlicensed copy or derivative, or a code-executing file, was found.
    pub fn has_violations(&self) -> bool {
        self.findings.iter().any(Finding::is_violation)
    }
}

/// Scans `roots` (files or folders) for registered models and their derivatives, and for
/// data files holding records of registered datasets.
/// Fails when a root does not exist or the registry cannot be read; everything about the
/// deployment's own files is reported in the result.
pub fn scan(
    store: &mut dyn Store,
    roots: &[PathBuf],
    options: &ScanOptions,
    progress: &dyn Progress,
) -> Result<ScanReport> {
    for root in roots {
        std::fs::symlink_metadata(root).map_err(|e| Error::io(root, "cannot scan", e))?;
    }
    let mut report = ScanReport {
        registry: store.location(),
        findings: Vec::new(),
        problems: Vec::new(),
        models: 0,
        data_files: 0,
        files: 0,
        bytes: 0,
        archives: 0,
        audit_seq: 0,
    };
    let mut walk = options.walk.clone();
    walk.data_files = !options.skip_datasets;
    let counters = walk.progress.get_or_insert_with(Default::default).clone();
    let mut failure: Option<Error> = None;
    let mut stale: Vec<ScanProblem> = Vec::new();
    let mut loaded = Loaded::default();
    let mut visit = |found: Found| -> ControlFlow<()> {
        match found {
            Found::Problem(p) => report.problems.push(ScanProblem {
                path: p.display,
                kind: p.kind.name().to_string(),
                message: p.message,
            }),
            Found::Data(data) => {
                report.data_files += 1;
                progress.stage(&data.display);
                let scanned = scan_dataset(store, &data.local, &data.display, options, progress);
                progress.done();
                if let Err(e) = absorb(&mut report, scanned) {
                    failure = Some(e);
                    return ControlFlow::Break(());
                }
            }
            Found::Unit(unit) => {
                report.models += 1;
                progress.stage(&unit.display);
                let scanned = scan_model(
                    store,
                    &unit.local,
                    &unit.display,
                    options,
                    progress,
                    &mut Judging {
                        stale: &mut stale,
                        loaded: &mut loaded,
                    },
                );
                progress.done();
                if let Err(e) = absorb(&mut report, scanned) {
                    failure = Some(e);
                    return ControlFlow::Break(());
                }
            }
        }
        let seen = counters.snapshot();
        progress.scanned(
            seen.files,
            seen.bytes,
            report.models,
            report.findings.len() as u64,
        );
        ControlFlow::Continue(())
    };
    let summary = mlprov_walk::walk(roots, &walk, &mut visit).map_err(|e| {
        Error::input(
            roots.first().map_or(Path::new("."), PathBuf::as_path),
            e.to_string(),
        )
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    report.problems.append(&mut stale);
    report.files = summary.files;
    report.bytes = summary.bytes;
    report.archives = summary.archives;
    let entry = store.audit_append(&AuditEvent {
        kind: AuditKind::Scan,
        actor: options.actor.clone().unwrap_or_else(default_actor),
        payload: audit_payload(roots, &report),
    })?;
    report.audit_seq = entry.seq;
    Ok(report)
}

/// How scanning one model ended when it gave no findings list.
enum Outcome {
    /// The model could not be scanned: report it and go on.
    Problem(ScanProblem),
    /// The registry failed: the scan cannot go on.
    Fatal(Error),
}

impl Outcome {
    /// `error` as a problem of the file or model at `display`, of this kind.
    fn problem(display: &str, kind: &str, error: &Error) -> Self {
        Outcome::Problem(ScanProblem {
            path: display.to_string(),
            kind: kind.into(),
            message: error.to_string(),
        })
    }
}

/// A registered model as a scan judges models against it: with its registered base and
/// references, prepared once (`None`: not a model with a fingerprint).
type Judge = Option<Rc<(RegisteredModel, Option<RegisteredBase>)>>;

/// Registered models loaded during one scan, each loaded and prepared once.
#[derive(Default)]
struct Loaded(HashMap<AssetId, Judge>);

/// At most this many prepared registered models are kept (each holds a few fingerprints).
const MAX_LOADED: usize = 64;

impl Loaded {
    fn get(&mut self, store: &mut dyn Store, id: AssetId, bases: bool) -> Result<Judge> {
        if let Some(judge) = self.0.get(&id) {
            return Ok(judge.clone());
        }
        let judge = match RegisteredModel::load(store, id)? {
            None => None,
            Some(a) => {
                let base = if bases {
                    RegisteredBase::load(store, &a)?
                } else {
                    None
                };
                Some(Rc::new((a, base)))
            }
        };
        if self.0.len() == MAX_LOADED {
            self.0.clear();
        }
        self.0.insert(id, judge.clone());
        Ok(judge)
    }
}

/// What judging models carries from one model to the next.
struct Judging<'s> {
    /// Stale registrations seen (said once per asset).
    stale: &'s mut Vec<ScanProblem>,
    /// Registered models loaded.
    loaded: &'s mut Loaded,
}

/// Fingerprints one model, looks it up and judges its candidates.
fn scan_model(
    store: &mut dyn Store,
    local: &Path,
    display: &str,
    options: &ScanOptions,
    progress: &dyn Progress,
    judging: &mut Judging<'_>,
) -> std::result::Result<Vec<Finding>, Outcome> {
    let problem = |e: &Error| Outcome::problem(display, "model", e);
    let model = match crate::open_with(local, options.open) {
        Ok(m) => m,
        Err(e) => {
            return match e.security_finding() {
                Some(f) => Ok(vec![code_execution(display, f.global)]),
                None => Err(problem(&e)),
            }
        }
    };
    let b = Comparable::new(model);
    let fp = b.sketches();
    b.model()
        .check_unchanged()
        .map_err(|e| problem(&e.into()))?;
    let mut candidates = lookup(store, fp).map_err(Outcome::Fatal)?;
    if candidates.is_empty() && options.deep {
        progress.stage("no value match: computing the invariants for a deep lookup");
        let full = b.with_invariants();
        progress.done();
        candidates = lookup_by_invariants(store, full).map_err(Outcome::Fatal)?;
    }
    let mut findings = Vec::new();
    let mut base_to_b = HashMap::new();
    for c in candidates.iter().take(MAX_CANDIDATES) {
        let judge = judging
            .loaded
            .get(store, c.asset, !options.ignore_bases)
            .map_err(Outcome::Fatal)?;
        let Some(judge) = judge else {
            continue;
        };
        let (registered, base) = &*judge;
        if registered
            .fingerprint
            .tensors
            .iter()
            .all(|t| t.sample.is_none())
        {
            // Registered by an older mlprov: no exact-value samples, so a copy of it reads
            // as a modification. Said once per asset and scan.
            let path = format!("registry asset {}", c.asset);
            if !judging.stale.iter().any(|p| p.path == path) {
                judging.stale.push(ScanProblem {
                    path,
                    kind: "stale-registration".into(),
                    message: format!(
                        "{} was registered without value samples: copies of it may read as \
                         `derived`; register it again",
                        registered.asset.name
                    ),
                });
            }
        }
        let result = match base {
            Some(base) => {
                compare_registered_with_base_in(registered, &b, base, &mut base_to_b, progress)
            }
            None => compare_registered(registered, &b, progress),
        }
        .map_err(|e| problem(&e))?;
        let own_changes = base
            .as_ref()
            .zip(result.own_changes.as_ref())
            .map(|(base, own)| FoundOwnChanges {
                base_asset: base.base.asset.id.0,
                share: own.share,
                log10_p: own.log10_p,
                references: own.references,
                share_floor: own.share_floor,
            });
        if matches!(
            result.verdict,
            Verdict::Unrelated | Verdict::Inconclusive | Verdict::SharesBase
        ) {
            continue;
        }
        let (licensed, check) = licence(store, &registered.asset, options, display)?;
        findings.push(Finding {
            path: display.to_string(),
            class: FindingClass::Lineage,
            asset: Some(c.asset.0),
            asset_name: Some(registered.asset.name.clone()),
            asset_root: Some(registered.asset.root.to_string()),
            verdict: Some(result.verdict.to_string()),
            log10_p: Some(result.log10_p),
            explained_share: Some(result.explained_share),
            transforms: result.transforms.iter().map(ToString::to_string).collect(),
            licensed,
            check,
            global: None,
            own_changes,
            dataset: None,
        });
    }
    Ok(findings)
}

/// Adds what scanning one model or data file gave to the report; a fatal error (the
/// registry failing) is handed back to stop the scan.
fn absorb(
    report: &mut ScanReport,
    scanned: std::result::Result<Vec<Finding>, Outcome>,
) -> std::result::Result<(), Error> {
    match scanned {
        Ok(mut findings) => report.findings.append(&mut findings),
        Err(Outcome::Problem(p)) => report.problems.push(p),
        Err(Outcome::Fatal(e)) => return Err(e),
    }
    Ok(())
}

fn code_execution(display: &str, global: &str) -> Finding {
    Finding {
        path: display.to_string(),
        class: FindingClass::CodeExecution,
        asset: None,
        asset_name: None,
        asset_root: None,
        verdict: None,
        log10_p: None,
        explained_share: None,
        transforms: Vec::new(),
        licensed: false,
        check: None,
        global: Some(global.to_string()),
        own_changes: None,
        dataset: None,
    }
}

/// `check`'s overall answer for a registered asset: its manifest is checked along the
/// lineage the registry holds (bases and datasets registered with the same roots).
/// Whether the scanning party holds a licence for a registered asset (it is among the
/// asset's licensees and, with an intended use, `check` allows it), and `check`'s answer.
fn licence(
    store: &mut dyn Store,
    asset: &Asset,
    options: &ScanOptions,
    display: &str,
) -> std::result::Result<(bool, Option<String>), Outcome> {
    let licensees = store
        .licensees(asset.id)
        .map_err(|e| Outcome::Fatal(e.into()))?;
    // `*` among the licensees: a public model (a base registered for the base-aware test),
    // licensed to anyone who scans.
    let holds = licensees.iter().any(|l| l == PUBLIC_LICENSEE)
        || options
            .licensee
            .as_ref()
            .is_some_and(|me| licensees.iter().any(|l| l == me));
    let check = match &options.intended_use {
        Some(query) => Some(
            check_registered(store, asset, query)
                .map_err(|e| Outcome::problem(display, "check", &e))?
                .name()
                .to_string(),
        ),
        None => None,
    };
    let allowed = check.as_deref().is_none_or(|c| c == "allow");
    Ok((holds && allowed, check))
}

/// `check`'s overall answer for a registered asset: its manifest is checked along the
/// lineage the registry holds (bases and datasets registered with the same roots).
fn check_registered(
    store: &mut dyn Store,
    asset: &Asset,
    query: &mlprov_terms::Query,
) -> Result<mlprov_terms::Decision> {
    let dir = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), "cannot use", e))?;
    let path = dir.path().join("registered.manifest.json");
    std::fs::write(&path, &asset.manifest).map_err(|e| Error::io(&path, "cannot write", e))?;
    let report = crate::check::check_in(&path, &[], Some(store), query)?;
    Ok(report.decision)
}

/// Looks for registered datasets in one data file: candidates are the registered datasets
/// holding its order-independent root, its file digest, or some of its smallest record
/// digests ([`crate::RECORD_KEYS`]); each is compared with `dataset compare` from its
/// registered manifest, B read as A was (the same field and case folding).
fn scan_dataset(
    store: &mut dyn Store,
    local: &Path,
    display: &str,
    options: &ScanOptions,
    progress: &dyn Progress,
) -> std::result::Result<Vec<Finding>, Outcome> {
    let problem = |e: &Error| Outcome::problem(display, "dataset", e);
    let fatal = |e: mlprov_registry::Error| Outcome::Fatal(e.into());
    let identity = dataset_identity(local, None, false, &DatasetOptions::default(), &Quiet)
        .map_err(|e| problem(&e))?;
    let keys = std::iter::once(identity.root)
        .chain(identity.files.iter().map(|f| f.digest))
        .chain(
            identity
                .bottom_k
                .digests
                .iter()
                .take(crate::RECORD_KEYS)
                .filter_map(|h| Digest::from_hex(h)),
        );
    let mut hits: BTreeMap<AssetId, u32> = BTreeMap::new();
    for key in keys {
        for id in store.find_by_digest(&key).map_err(fatal)? {
            *hits.entry(id).or_default() += 1;
        }
    }
    let mut ranked: Vec<(AssetId, u32)> = hits.into_iter().collect();
    ranked.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
    let mut findings = Vec::new();
    let mut judged = 0;
    for (id, _) in ranked {
        if judged == MAX_CANDIDATES {
            break;
        }
        let Some(asset) = store.asset(id).map_err(fatal)? else {
            continue;
        };
        if asset.kind != AssetKind::Dataset {
            continue;
        }
        let manifest: Manifest = serde_json::from_str(&asset.manifest).map_err(|e| {
            fatal(mlprov_registry::Error::Corrupt(format!(
                "asset {id}: manifest: {e}"
            )))
        })?;
        let Some(section) = &manifest.dataset else {
            continue;
        };
        if section.reader.keyed {
            continue; // its record digests are keyed: only its key holder can compare
        }
        judged += 1;
        let dir = tempfile::tempdir()
            .map_err(|e| problem(&Error::io(std::env::temp_dir(), "cannot use", e)))?;
        let a_path = dir.path().join("registered.manifest.json");
        std::fs::write(&a_path, &asset.manifest)
            .map_err(|e| problem(&Error::io(&a_path, "cannot write", e)))?;
        let read_as_a = DatasetOptions {
            read: ReadOptions {
                field: section.reader.field.clone(),
                ..Default::default()
            },
            case_fold: section.reader.case_fold,
            ..Default::default()
        };
        let found =
            dataset_compare(&a_path, local, &read_as_a, progress).map_err(|e| problem(&e))?;
        if !found.identical && !found.overlap_found {
            continue;
        }
        let (licensed, check) = licence(store, &asset, options, display)?;
        findings.push(Finding {
            path: display.to_string(),
            class: FindingClass::Dataset,
            asset: Some(id.0),
            asset_name: Some(asset.name.clone()),
            asset_root: Some(asset.root.to_string()),
            verdict: Some(
                if found.identical {
                    "identical"
                } else {
                    "overlaps"
                }
                .into(),
            ),
            log10_p: None,
            explained_share: None,
            transforms: Vec::new(),
            licensed,
            check,
            global: None,
            own_changes: None,
            dataset: Some(DatasetOverlap {
                identical: found.identical,
                exact_containment_a_in_b: found.exact_containment_a_in_b,
                exact_containment_a_in_b_interval: found.exact_containment_a_in_b_interval,
                exact_containment_b_in_a: found.exact_containment_b_in_a,
                exact_containment_b_in_a_interval: found.exact_containment_b_in_a_interval,
                near_containment_a_in_b: found.near_containment_a_in_b,
                near_containment_a_in_b_interval: found.near_containment_a_in_b_interval,
            }),
        });
    }
    Ok(findings)
}

/// The audit entry's payload: where, what was found (not the problems' messages).
fn audit_payload(roots: &[PathBuf], report: &ScanReport) -> serde_json::Value {
    let findings: Vec<serde_json::Value> = report
        .findings
        .iter()
        .map(|f| {
            serde_json::json!({
                "path": f.path,
                "class": f.class,
                "asset": f.asset,
                "verdict": f.verdict,
                "licensed": f.licensed,
            })
        })
        .collect();
    serde_json::json!({
        "roots": roots.iter().map(|r| r.to_string_lossy()).collect::<Vec<_>>(),
        "models": report.models,
        "data_files": report.data_files,
        "problems": report.problems.len(),
        "findings": findings,
    })
}
