//! `dataset_compare`: how much of one dataset is in another, from data or manifests.
//!
//! Exact overlap always comes from the two bottom-k sketches (so two manifests suffice).
//! Near-duplicate containment of X in Y needs X's sample (in its manifest, or sketched
//! from its data) and Y's data: Y is read once and each record is checked against X's
//! sample. With only X's manifest and Y's data, the containment of Y in X comes from the
//! same pass (see `docs/datasets.md`); with both datasets' data it is measured directly.

use std::path::{Path, PathBuf};

use mlprov_data::compare::{
    exact_overlap, near_containment, near_containment_reverse, Estimate, ExactOverlap,
};
use mlprov_data::scan::{Example, NearMatches, NearQuery};
use mlprov_data::sketch::DatasetSketch;
use mlprov_hash::Digest;
use mlprov_manifest::{Manifest, ReaderSettings};
use serde::Serialize;

use crate::dataset::{finish, scan_dataset, sketch_of, DatasetOptions};
use crate::error::{Error, Result};
use crate::progress::Progress;

/// Largest file tried as a manifest.
const MAX_MANIFEST_BYTES: u64 = 512 << 20;

/// One side of a comparison.
#[derive(Debug, Clone, Serialize)]
pub struct DatasetSide {
    /// The path given.
    pub path: PathBuf,
    /// `manifest` or `data`.
    pub source: &'static str,
    /// Records.
    pub records: u64,
    /// Distinct records.
    pub distinct_records: u64,
    /// Merkle root over the sorted record digests.
    pub root: Digest,
    /// Text records and images (those with near-duplicate keys).
    pub text_records: u64,
    /// Images.
    pub image_records: u64,
}

/// The answer of [`dataset_compare`]. Shares are fractions in 0..=1; every interval is 95%.
#[derive(Debug, Clone, Serialize)]
pub struct DatasetComparison {
    /// The reference dataset (for example the licensed one).
    pub a: DatasetSide,
    /// The suspect dataset.
    pub b: DatasetSide,
    /// Same multiset of records (equal roots): a reordered copy at most.
    pub identical: bool,
    /// Jaccard similarity of the distinct record sets.
    pub exact_jaccard: f64,
    /// Its interval.
    pub exact_jaccard_interval: [f64; 2],
    /// Share of B's distinct records that are exactly in A.
    pub exact_containment_b_in_a: f64,
    /// Its interval.
    pub exact_containment_b_in_a_interval: [f64; 2],
    /// Share of A's distinct records that are exactly in B.
    pub exact_containment_a_in_b: f64,
    /// Its interval.
    pub exact_containment_a_in_b_interval: [f64; 2],
    /// Share of B's records with a near duplicate in A (absent from two manifests).
    pub near_containment_b_in_a: Option<f64>,
    /// Its interval.
    pub near_containment_b_in_a_interval: Option<[f64; 2]>,
    /// Share of A's records with a near duplicate in B (absent from two manifests).
    pub near_containment_a_in_b: Option<f64>,
    /// Its interval.
    pub near_containment_a_in_b_interval: Option<[f64; 2]>,
    /// Near-duplicate threshold used for text (estimated Jaccard of shingle sets).
    pub near_threshold: f64,
    /// Near-duplicate threshold used for images (perceptual-hash bits).
    pub near_distance: u32,
    /// How each near estimate was obtained.
    pub near_method: NearMethod,
    /// Every estimate in full (sample sizes, exactness).
    pub estimates: Estimates,
    /// A few near-duplicate pairs (A's record, B's record).
    pub examples: Vec<ExamplePair>,
    /// Whether an overlap was found: some containment's interval excludes zero.
    pub overlap_found: bool,
}

/// How the near estimates were obtained.
#[derive(Debug, Clone, Serialize)]
pub struct NearMethod {
    /// For A in B.
    pub a_in_b: &'static str,
    /// For B in A.
    pub b_in_a: &'static str,
}

/// All estimates with their sample sizes.
#[derive(Debug, Clone, Serialize)]
pub struct Estimates {
    /// Exact overlap from the bottom-k sketches.
    pub exact: ExactOverlap,
    /// Near containment of A in B.
    pub near_a_in_b: Option<Estimate>,
    /// Near containment of B in A.
    pub near_b_in_a: Option<Estimate>,
}

/// A near-duplicate pair.
#[derive(Debug, Clone, Serialize)]
pub struct ExamplePair {
    /// A's record (`file#record`).
    pub a: String,
    /// B's record.
    pub b: String,
    /// Estimated Jaccard similarity (text) or `1 - distance/64` (images).
    pub similarity: f64,
}

enum Input {
    Manifest(Box<Manifest>),
    Data,
}

/// A manifest if `path` is a file that parses as a dataset manifest; data otherwise.
fn classify(path: &Path) -> Result<Input> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, "cannot read", e))?;
    if !meta.is_file() || meta.len() > MAX_MANIFEST_BYTES {
        return Ok(Input::Data);
    }
    let mut head = [0u8; 64];
    let n = {
        use std::io::Read;
        let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, "cannot read", e))?;
        f.read(&mut head)
            .map_err(|e| Error::io(path, "cannot read", e))?
    };
    if head[..n].iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Ok(Input::Data);
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, "cannot read", e))?;
    match Manifest::parse(&text) {
        Ok(m) if m.dataset.is_some() => Ok(Input::Manifest(Box::new(m))),
        Ok(_) => Err(Error::input(path, "a model manifest, not a dataset's")),
        Err(_) => Ok(Input::Data),
    }
}

/// A side once sketched: its sketch (without record digests), root and settings.
struct Sketched {
    side: DatasetSide,
    sketch: DatasetSketch,
    reader: ReaderSettings,
}

fn from_manifest(path: &Path, m: &Manifest) -> Result<Sketched> {
    let section = m
        .dataset
        .as_ref()
        .ok_or_else(|| Error::input(path, "not a dataset manifest"))?;
    if section.shard.is_some() {
        return Err(Error::input(
            path,
            "a shard's manifest: merge the shards first (mlprov dataset merge)",
        ));
    }
    let sketch = sketch_of(section, path)?;
    Ok(Sketched {
        side: DatasetSide {
            path: path.to_path_buf(),
            source: "manifest",
            records: section.records,
            distinct_records: section.distinct_records,
            root: m.merkle_root,
            text_records: section.near.text_records,
            image_records: section.near.image_records,
        },
        sketch,
        reader: section.reader.clone(),
    })
}

fn query_of(sketch: &DatasetSketch, opts: &DatasetOptions) -> NearQuery {
    NearQuery::new(
        sketch
            .text_sample
            .entries()
            .map(|(_, e)| (e.record.clone(), e.value.clone()))
            .collect(),
        sketch
            .image_sample
            .entries()
            .map(|(_, e)| (e.record.clone(), e.value))
            .collect(),
        opts.near_threshold,
        opts.near_distance,
    )
}

/// Reads a dataset's data, checking its records against `query`.
fn from_data(
    path: &Path,
    opts: &DatasetOptions,
    query: Option<&NearQuery>,
    what: &str,
    progress: &dyn Progress,
) -> Result<(Sketched, Option<NearMatches>)> {
    let hasher = opts.hasher()?;
    let reader = opts.settings(&hasher);
    let mut scanned = scan_dataset(path, opts, hasher, None, query, what, progress)?;
    let identity = finish(&mut scanned.scanned.sketch, path)?;
    let s = &scanned.scanned.sketch;
    Ok((
        Sketched {
            side: DatasetSide {
                path: path.to_path_buf(),
                source: "data",
                records: s.records,
                distinct_records: identity.distinct,
                root: identity.root,
                text_records: s.text_records,
                image_records: s.image_records,
            },
            sketch: std::mem::replace(&mut scanned.scanned.sketch, DatasetSketch::new(1, 1)),
            reader,
        },
        scanned.scanned.matches,
    ))
}

/// Whether a sample holds every distinct record of its kind (then its share is exact).
fn complete(sample_len: usize, sample_size: usize) -> bool {
    sample_len < sample_size
}

/// Combines the text and image estimates of one direction, weighted by record counts.
fn combine(text: Option<(Estimate, u64)>, image: Option<(Estimate, u64)>) -> Option<Estimate> {
    match (text, image) {
        (Some((t, _)), None) => Some(t),
        (None, Some((i, _))) => Some(i),
        (None, None) => None,
        (Some((t, wt)), Some((i, wi))) => {
            let w = (wt + wi).max(1) as f64;
            let mix = |a: f64, b: f64| (a * wt as f64 + b * wi as f64) / w;
            Some(Estimate {
                value: mix(t.value, i.value),
                low: mix(t.low, i.low),
                high: mix(t.high, i.high),
                sample: t.sample + i.sample,
                exact: t.exact && i.exact,
            })
        }
    }
}

/// Near containment of X (sampled) in Y (scanned), and of Y in X from the same pass.
fn near_both(x: &Sketched, y: &Sketched, m: &NearMatches) -> (Option<Estimate>, Option<Estimate>) {
    let size = x.sketch.text_sample.size();
    let text = (!m.text_hits.is_empty()).then(|| {
        let c = complete(m.text_hits.len(), size);
        (
            near_containment(&m.text_hits, c),
            near_containment_reverse(&m.text_hits, c, x.side.text_records, y.side.text_records),
        )
    });
    let image = (!m.image_hits.is_empty()).then(|| {
        let c = complete(m.image_hits.len(), x.sketch.image_sample.size());
        (
            near_containment(&m.image_hits, c),
            near_containment_reverse(&m.image_hits, c, x.side.image_records, y.side.image_records),
        )
    });
    let forward = combine(
        text.map(|t| (t.0, x.side.text_records)),
        image.map(|i| (i.0, x.side.image_records)),
    );
    let reverse = combine(
        text.map(|t| (t.1, y.side.text_records)),
        image.map(|i| (i.1, y.side.image_records)),
    );
    (forward, reverse)
}

fn check_compatible(a: &Sketched, b: &Sketched) -> Result<()> {
    if a.reader.key_id != b.reader.key_id {
        return Err(Error::input(
            &b.side.path,
            "record digests keyed differently from A's (use the same --keyed KEYFILE, or none)",
        ));
    }
    if a.reader.case_fold != b.reader.case_fold || a.reader.canonical != b.reader.canonical {
        return Err(Error::input(
            &b.side.path,
            "canonical form differs from A's (--case-fold on one side only)",
        ));
    }
    Ok(())
}

fn pair(e: &Estimate) -> [f64; 2] {
    [e.low, e.high]
}

/// Compares dataset B with dataset A; each is a dataset (file or folder) or its manifest.
pub fn dataset_compare(
    a: &Path,
    b: &Path,
    opts: &DatasetOptions,
    progress: &dyn Progress,
) -> Result<DatasetComparison> {
    let (ia, ib) = (classify(a)?, classify(b)?);
    let mut a_in_b = None;
    let mut b_in_a = None;
    let mut examples = Vec::new();
    let method;
    let (sa, sb) = match (ia, ib) {
        (Input::Manifest(ma), Input::Manifest(mb)) => {
            method = NearMethod {
                a_in_b: "unavailable from two manifests: give B's data",
                b_in_a: "unavailable from two manifests: give A's data",
            };
            (from_manifest(a, &ma)?, from_manifest(b, &mb)?)
        }
        (Input::Manifest(ma), Input::Data) => {
            let sa = from_manifest(a, &ma)?;
            let q = query_of(&sa.sketch, opts);
            let (sb, m) = from_data(b, opts, Some(&q), "reading B", progress)?;
            check_compatible(&sa, &sb)?;
            if let Some(m) = m {
                (a_in_b, b_in_a) = near_both(&sa, &sb, &m);
                examples = pairs(&m, false);
            }
            method = NearMethod {
                a_in_b: "A's sample checked against B's data",
                b_in_a: "B's data matched to A's sample, scaled to A's size",
            };
            (sa, sb)
        }
        (Input::Data, Input::Manifest(mb)) => {
            let sb = from_manifest(b, &mb)?;
            let q = query_of(&sb.sketch, opts);
            let (sa, m) = from_data(a, opts, Some(&q), "reading A", progress)?;
            check_compatible(&sa, &sb)?;
            if let Some(m) = m {
                (b_in_a, a_in_b) = near_both(&sb, &sa, &m);
                examples = pairs(&m, true);
            }
            method = NearMethod {
                a_in_b: "A's data matched to B's sample, scaled to B's size",
                b_in_a: "B's sample checked against A's data",
            };
            (sa, sb)
        }
        (Input::Data, Input::Data) => {
            let (sa, _) = from_data(a, opts, None, "reading A", progress)?;
            let qa = query_of(&sa.sketch, opts);
            let (sb, mb) = from_data(b, opts, Some(&qa), "reading B", progress)?;
            let qb = query_of(&sb.sketch, opts);
            let (_, ma) = from_data(a, opts, Some(&qb), "reading A again", progress)?;
            if let Some(m) = mb {
                a_in_b = near_both(&sa, &sb, &m).0;
                examples = pairs(&m, false);
            }
            if let Some(m) = ma {
                b_in_a = near_both(&sb, &sa, &m).0;
            }
            method = NearMethod {
                a_in_b: "A's sample checked against B's data",
                b_in_a: "B's sample checked against A's data",
            };
            (sa, sb)
        }
    };
    check_compatible(&sa, &sb)?;
    let exact = exact_overlap(&sa.sketch.bottom_k, &sb.sketch.bottom_k);
    let overlap_found = [Some(exact.b_in_a), Some(exact.a_in_b), a_in_b, b_in_a]
        .iter()
        .flatten()
        .any(|e| e.low > 0.0);
    Ok(DatasetComparison {
        identical: sa.side.root == sb.side.root,
        exact_jaccard: exact.jaccard.value,
        exact_jaccard_interval: pair(&exact.jaccard),
        exact_containment_b_in_a: exact.b_in_a.value,
        exact_containment_b_in_a_interval: pair(&exact.b_in_a),
        exact_containment_a_in_b: exact.a_in_b.value,
        exact_containment_a_in_b_interval: pair(&exact.a_in_b),
        near_containment_b_in_a: b_in_a.map(|e| e.value),
        near_containment_b_in_a_interval: b_in_a.as_ref().map(pair),
        near_containment_a_in_b: a_in_b.map(|e| e.value),
        near_containment_a_in_b_interval: a_in_b.as_ref().map(pair),
        near_threshold: opts.near_threshold,
        near_distance: opts.near_distance,
        near_method: method,
        estimates: Estimates {
            exact,
            near_a_in_b: a_in_b,
            near_b_in_a: b_in_a,
        },
        examples,
        overlap_found,
        a: sa.side,
        b: sb.side,
    })
}

/// Example pairs as (A, B): `sampled_is_b` when the sample was B's.
fn pairs(m: &NearMatches, sampled_is_b: bool) -> Vec<ExamplePair> {
    m.examples
        .iter()
        .map(|e: &Example| {
            let (a, b) = if sampled_is_b {
                (e.found.clone(), e.sampled.clone())
            } else {
                (e.sampled.clone(), e.found.clone())
            };
            ExamplePair {
                a,
                b,
                similarity: e.similarity,
            }
        })
        .collect()
}
