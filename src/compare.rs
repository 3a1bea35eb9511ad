//! The lineage test as users run it: a staged pipeline over the fingerprint crate.
//!
//! 1. Sketches of both models (samples only): a whole copy, the same or re-encoded
//!    weights, is settled by values alone.
//! 2. Anything else also needs the invariants (Gram sketches, anchored kernels), which read
//!    far more of both models: they are computed only then.
//! 3. `identical` when the two models are the same files with the same bytes.
//! 4. With A's base P ([`compare_with_base`]): when B is related to A, whether B carries
//!    A's own changes from P or only what it shares with P ([`own_changes`]):
//!    `shares-base` when it carries none of them.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::OnceLock;

use mlprov_fingerprint::thresholds::{SIGNIFICANT_LOG10_P, UNRELATED_LOG10_P};
use mlprov_fingerprint::{
    compare_models, own_changes, own_changes_registered, Comparison, FingerprintOptions,
    ModelFingerprint, OwnChanges, Verdict,
};
use mlprov_formats::Model;
use mlprov_hash::HashOptions;
use mlprov_manifest::Manifest;
use mlprov_registry::{Asset, AssetId, Store};

use crate::error::Result;
use crate::progress::Progress;
use crate::scan::PUBLIC_LICENSEE;

/// At most this many registered fine-tunes of A's base serve as references in one
/// base-aware test from the registry: each takes a direction out of every 32-cell sampled
/// row, so many would leave little of A's change to look for.
pub const MAX_REGISTERED_REFERENCES: usize = 8;

/// A model ready to be compared, whose fingerprints are computed once, when first needed:
/// compare one reference against many suspects without fingerprinting it again.
pub struct Comparable<'m> {
    model: Held<'m>,
    sketches: OnceLock<ModelFingerprint>,
    invariants: OnceLock<ModelFingerprint>,
}

/// An owned or a borrowed model.
enum Held<'m> {
    Owned(Box<Model>),
    Borrowed(&'m Model),
}

impl std::ops::Deref for Held<'_> {
    type Target = Model;
    fn deref(&self) -> &Model {
        match self {
            Held::Owned(m) => m,
            Held::Borrowed(m) => m,
        }
    }
}

impl Comparable<'static> {
    /// Takes an opened model.
    pub fn new(model: Model) -> Self {
        Self::holding(Held::Owned(Box::new(model)))
    }
}

impl<'m> Comparable<'m> {
    /// Borrows an opened model.
    pub fn borrowed(model: &'m Model) -> Self {
        Self::holding(Held::Borrowed(model))
    }

    fn holding(model: Held<'m>) -> Self {
        Comparable {
            model,
            sketches: OnceLock::new(),
            invariants: OnceLock::new(),
        }
    }

    /// The model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    pub(crate) fn sketches(&self) -> &ModelFingerprint {
        // The full fingerprint holds the sketches too: reuse it when it exists.
        if let Some(full) = self.invariants.get() {
            return full;
        }
        self.sketches
            .get_or_init(|| ModelFingerprint::of(&self.model))
    }

    pub(crate) fn with_invariants(&self) -> &ModelFingerprint {
        self.invariants.get_or_init(|| {
            ModelFingerprint::with_options(
                &self.model,
                FingerprintOptions {
                    invariants: true,
                    ..Default::default()
                },
            )
        })
    }
}

/// Is B (or part of it) derived from A? The staged lineage test (see the module docs).
/// Fails when a file of either model changed while it was read.
pub fn compare(a: &Model, b: &Model, progress: &dyn Progress) -> Result<Comparison> {
    compare_prepared(&Comparable::borrowed(a), &Comparable::borrowed(b), progress)
}

/// [`compare`] over prepared models, reusing their fingerprints across calls.
pub fn compare_prepared(
    a: &Comparable<'_>,
    b: &Comparable<'_>,
    progress: &dyn Progress,
) -> Result<Comparison> {
    let mut result = compare_models(&a.model, a.sketches(), &b.model, b.sketches());
    if !matches!(result.verdict, Verdict::SameWeights | Verdict::ReEncoded) {
        progress.stage("not a whole copy: computing the invariants of both models");
        let (fa, fb) = (a.with_invariants(), b.with_invariants());
        result = compare_models(&a.model, fa, &b.model, fb);
        progress.done();
    }
    if same_bytes(&a.model, &b.model) {
        result.verdict = Verdict::Identical;
    }
    a.model.check_unchanged()?;
    b.model.check_unchanged()?;
    Ok(result)
}

/// [`compare`] knowing A's base P: if B is related to A, the verdict says whether B carries
/// A's own changes from P (the verdicts as without a base, meaning "of A's own work") or
/// only what it shares with P (`shares-base`); `own_changes` in the result has the share of
/// A's changes found in B and its p-value. When A's changes cannot be located in B (its
/// tensors rotated, or permuted on both axes), the verdict stays as without a base.
pub fn compare_with_base(
    a: &Comparable<'_>,
    b: &Comparable<'_>,
    base: &Comparable<'_>,
    progress: &dyn Progress,
) -> Result<Comparison> {
    compare_with_base_and_references(a, b, base, &[], progress)
}

/// [`compare_with_base`] with reference fine-tunes of the same base (other public
/// fine-tunes of P): what their changes have in common with A's is projected out before
/// looking for A's changes in B, so a sibling fine-tuned much like A (on similar public
/// data) is not taken for A's child. References related to P only through the base are
/// the point: their own changes are evidence of what fine-tuning P does anyway.
pub fn compare_with_base_and_references(
    a: &Comparable<'_>,
    b: &Comparable<'_>,
    base: &Comparable<'_>,
    references: &[&Comparable<'_>],
    progress: &dyn Progress,
) -> Result<Comparison> {
    let mut result = compare_prepared(a, b, progress)?;
    if matches!(result.verdict, Verdict::Unrelated | Verdict::Inconclusive) {
        return Ok(result); // B is not related to A at all: nothing to tell apart
    }
    progress.stage("base-aware test: locating A's own changes in B");
    let base_to_a = compare_prepared(base, a, progress)?;
    let base_to_b = compare_prepared(base, b, progress)?;
    let base_to_refs: Vec<Comparison> = references
        .iter()
        .map(|r| compare_prepared(base, r, progress))
        .collect::<Result<_>>()?;
    let refs: Vec<(&Model, &Comparison)> = references
        .iter()
        .map(|r| r.model())
        .zip(&base_to_refs)
        .collect();
    let own = own_changes(
        base.model(),
        a.model(),
        &base_to_a,
        b.model(),
        &base_to_b,
        &refs,
    );
    for r in references {
        r.model().check_unchanged()?;
    }
    base.model().check_unchanged()?;
    a.model().check_unchanged()?;
    b.model().check_unchanged()?;
    progress.done();
    apply_own_changes(&mut result, own);
    Ok(result)
}

/// Sets the verdict from the base-aware test's result (when it could test anything) and
/// keeps that result in the comparison.
fn apply_own_changes(result: &mut Comparison, own: OwnChanges) {
    if own.tested_any() && result.verdict != Verdict::Identical {
        // What B holds of A's change must also be a real part of it: fine-tunes of one base
        // move the same way, so a sibling's share is far from chance yet partial
        // (`mlprov_fingerprint::share_floor`).
        let below_floor = own.tested_share < own.share_floor;
        if own.log10_p > UNRELATED_LOG10_P || below_floor {
            result.verdict = Verdict::SharesBase;
        } else if own.log10_p >= SIGNIFICANT_LOG10_P {
            result.verdict = Verdict::Inconclusive;
        }
    }
    result.own_changes = Some(own);
}

/// A registered model as the lineage test reads it without its weights: the fingerprint
/// stored at registration (sketches, invariants and full-precision samples) and the manifest.
#[derive(Debug, Clone)]
pub struct RegisteredModel {
    /// The asset's record.
    pub asset: Asset,
    /// Its stored fingerprint.
    pub fingerprint: ModelFingerprint,
    /// Its manifest.
    pub manifest: Manifest,
}

impl RegisteredModel {
    /// Loads a registered model; `None` for an unknown asset, a dataset, or one stored
    /// without a fingerprint.
    pub fn load(store: &mut dyn Store, id: AssetId) -> Result<Option<Self>> {
        let Some(asset) = store.asset(id)? else {
            return Ok(None);
        };
        let Some(fingerprint) = store.fingerprint(id)? else {
            return Ok(None);
        };
        let manifest: Manifest = serde_json::from_str(&asset.manifest).map_err(|e| {
            crate::error::Error::Registry(mlprov_registry::Error::Corrupt(format!(
                "asset {id}: manifest: {e}"
            )))
        })?;
        Ok(Some(RegisteredModel {
            asset,
            fingerprint,
            manifest,
        }))
    }
}

/// [`compare`] against a registered model, from what the registry stored: the same stages
/// and the same verdict as with its weights (`identical` when B's files have the sizes and
/// digests the manifest records). A bit-exact copy is credited with the sampled values
/// that agree rather than all of its values, so its p-value is less extreme.
pub fn compare_registered(
    a: &RegisteredModel,
    b: &Comparable<'_>,
    progress: &dyn Progress,
) -> Result<Comparison> {
    let fa = &a.fingerprint;
    let mut result = mlprov_fingerprint::compare_registered(fa, &b.model, b.sketches());
    if !matches!(result.verdict, Verdict::SameWeights | Verdict::ReEncoded) {
        progress.stage("not a whole copy: computing the invariants");
        result = mlprov_fingerprint::compare_registered(fa, &b.model, b.with_invariants());
        progress.done();
    }
    if same_bytes_as_recorded(&a.manifest, &b.model) {
        result.verdict = Verdict::Identical;
    }
    b.model.check_unchanged()?;
    Ok(result)
}

/// A registered model's base as the registry holds it, with the public fine-tunes of that
/// base that serve as references, each compared against the base once: what the
/// base-aware test from the registry reads besides B ([`compare_registered_with_base`]).
/// A scan prepares it once per registered model and judges every model found with it.
#[derive(Debug, Clone)]
pub struct RegisteredBase {
    /// The base P.
    pub base: RegisteredModel,
    /// Registered public fine-tunes of P ([`registered_references`]).
    pub references: Vec<RegisteredModel>,
    base_to_a: Comparison,
    base_to_refs: Vec<Comparison>,
}

impl RegisteredBase {
    /// A's base and references, compared against the base.
    pub fn new(
        a: &RegisteredModel,
        base: RegisteredModel,
        references: Vec<RegisteredModel>,
    ) -> Self {
        let compare = |r: &RegisteredModel| {
            mlprov_fingerprint::compare_fingerprints(&base.fingerprint, &r.fingerprint)
        };
        let base_to_a = compare(a);
        let base_to_refs = references.iter().map(compare).collect();
        RegisteredBase {
            base,
            references,
            base_to_a,
            base_to_refs,
        }
    }

    /// A's registered base ([`registered_base`]) and references
    /// ([`registered_references`]); `None` when A's base is not registered.
    pub fn load(store: &mut dyn Store, a: &RegisteredModel) -> Result<Option<Self>> {
        let Some(base) = registered_base(store, a)? else {
            return Ok(None);
        };
        let references = registered_references(store, a, &base)?;
        Ok(Some(Self::new(a, base, references)))
    }
}

/// [`compare_registered`] knowing A's registered base P, from what the registry stored:
/// the base-aware test of [`compare_with_base`] with P's and A's values taken from their
/// samples (32 × 32 cells of every matrix) and B's from its weights. A sibling of A or P
/// itself reads `shares-base`; B holding A's own changes keeps its verdict. The base's
/// references (registered public fine-tunes of P) play the part of
/// [`compare_with_base_and_references`]'s: what their changes have in common with A's is
/// not counted as A's own.
pub fn compare_registered_with_base(
    a: &RegisteredModel,
    b: &Comparable<'_>,
    base: &RegisteredBase,
    progress: &dyn Progress,
) -> Result<Comparison> {
    compare_registered_with_base_in(a, b, base, &mut HashMap::new(), progress)
}

/// [`compare_registered_with_base`] keeping B's comparison against each registered base
/// in `base_to_b` (by the base's asset number): a scan judges one model against several
/// fine-tunes of the same base.
pub(crate) fn compare_registered_with_base_in(
    a: &RegisteredModel,
    b: &Comparable<'_>,
    base: &RegisteredBase,
    base_to_b: &mut HashMap<AssetId, Comparison>,
    progress: &dyn Progress,
) -> Result<Comparison> {
    let mut result = compare_registered(a, b, progress)?;
    if matches!(
        result.verdict,
        Verdict::Unrelated | Verdict::Inconclusive | Verdict::Identical
    ) {
        return Ok(result);
    }
    progress.stage("base-aware test against the registered base");
    let base_id = base.base.asset.id;
    let base_to_b = match base_to_b.entry(base_id) {
        Entry::Occupied(known) => known.into_mut(),
        Entry::Vacant(slot) => slot.insert(compare_registered(&base.base, b, progress)?),
    };
    let refs: Vec<(&ModelFingerprint, &Comparison)> = base
        .references
        .iter()
        .map(|r| &r.fingerprint)
        .zip(&base.base_to_refs)
        .collect();
    let own = own_changes_registered(
        &base.base.fingerprint,
        &a.fingerprint,
        &base.base_to_a,
        b.model(),
        base_to_b,
        &refs,
    );
    b.model().check_unchanged()?;
    progress.done();
    apply_own_changes(&mut result, own);
    Ok(result)
}

/// A's base as the registry holds it: the first `derived_from` entry of A's manifest whose
/// Merkle root is a registered model with samples (`None` when there is none).
pub fn registered_base(
    store: &mut dyn Store,
    a: &RegisteredModel,
) -> Result<Option<RegisteredModel>> {
    for entry in &a.manifest.lineage.derived_from {
        let Some(root) = entry.merkle_root else {
            continue;
        };
        for id in store.find_by_digest(&root)? {
            if id == a.asset.id {
                continue;
            }
            if let Some(base) = RegisteredModel::load(store, id)? {
                let sampled = base.fingerprint.tensors.iter().any(|t| t.sample.is_some());
                if base.asset.root == root && sampled {
                    return Ok(Some(base));
                }
            }
        }
    }
    Ok(None)
}

/// Registered fine-tunes of A's base that serve as references for the base-aware test
/// against A: public assets (licensed to [`PUBLIC_LICENSEE`], so anyone can obtain them)
/// registered as derived from `base`, with samples, other than A (at most
/// [`MAX_REGISTERED_REFERENCES`], the first registered first). Only public ones: a
/// licensor's other private fine-tunes may share A's private data, and a sibling trained
/// on that data must stay a finding.
pub fn registered_references(
    store: &mut dyn Store,
    a: &RegisteredModel,
    base: &RegisteredModel,
) -> Result<Vec<RegisteredModel>> {
    let mut out = Vec::new();
    for id in store.derived_from(&base.asset.root)? {
        if out.len() == MAX_REGISTERED_REFERENCES {
            break;
        }
        if id == a.asset.id || id == base.asset.id {
            continue;
        }
        if !store.licensees(id)?.iter().any(|l| l == PUBLIC_LICENSEE) {
            continue;
        }
        let Some(r) = RegisteredModel::load(store, id)? else {
            continue;
        };
        // The manifest, not only the index, must name the base; a copy of A is no reference.
        let names_base = r
            .manifest
            .lineage
            .derived_from
            .iter()
            .any(|d| d.merkle_root == Some(base.asset.root));
        let sampled = r.fingerprint.tensors.iter().any(|t| t.sample.is_some());
        if names_base && sampled && r.asset.root != a.asset.root {
            out.push(r);
        }
    }
    Ok(out)
}

/// Whether B's files have exactly the sizes and digests a manifest records (sizes first:
/// the files are read only when every size matches).
fn same_bytes_as_recorded(manifest: &Manifest, b: &Model) -> bool {
    let mut recorded: Vec<(u64, mlprov_hash::Digest)> =
        manifest.files.iter().map(|f| (f.size, f.digest)).collect();
    let mut sizes: Vec<u64> = b.files.iter().map(|f| f.file.len() as u64).collect();
    let mut want: Vec<u64> = recorded.iter().map(|r| r.0).collect();
    sizes.sort_unstable();
    want.sort_unstable();
    if sizes != want {
        return false;
    }
    let options = HashOptions {
        plain: false,
        progress: None,
    };
    let mut found: Vec<(u64, mlprov_hash::Digest)> = mlprov_hash::hash_model(b, options)
        .files
        .iter()
        .map(|f| (f.size, f.digest))
        .collect();
    recorded.sort();
    found.sort();
    recorded == found
}

/// Same files with the same bytes (sizes first, then plain digests).
fn same_bytes(a: &Model, b: &Model) -> bool {
    let sizes = |m: &Model| {
        let mut s: Vec<usize> = m.files.iter().map(|f| f.file.len()).collect();
        s.sort_unstable();
        s
    };
    if a.files.len() != b.files.len() || sizes(a) != sizes(b) {
        return false;
    }
    let plain = |m: &Model| {
        let options = HashOptions {
            plain: true,
            progress: None,
        };
        let mut d: Vec<_> = mlprov_hash::hash_model(m, options)
            .files
            .iter()
            .filter_map(|f| f.plain)
            .collect();
        d.sort();
        d
    };
    plain(a) == plain(b)
}
