//! One pass over a dataset's files: records are read in batches, processed in parallel
//! (canonical form, digest, privacy flags, MinHash or perceptual hash) and merged into the
//! dataset sketch; optionally each record is also checked against another dataset's
//! near-duplicate sample (what `compare` needs from the suspect's data).

use std::collections::BTreeMap;
use std::sync::Mutex;

use mlprov_hash::Digest;
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::lsh::LshIndex;
use crate::minhash::{jaccard, Signature};
use crate::phash::distance;
use crate::readers::{read_file, DataFile, Format, RawRecord, ReadOptions, Sink};
use crate::record::{process, NearKey, Processed, RecordOptions};
use crate::sketch::DatasetSketch;

/// Near-duplicate examples kept.
pub const EXAMPLES: usize = 5;

/// Receives progress of a scan.
pub trait ScanProgress: Sync {
    /// `n` more bytes were read from disk.
    fn bytes(&self, _n: u64) {}
    /// `n` more records were processed.
    fn records(&self, _n: u64) {}
}

/// Reports nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;
impl ScanProgress for NoProgress {}

/// One file of a scanned dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSummary {
    /// Path relative to the dataset root.
    pub rel: String,
    /// How it was read.
    pub format: Format,
    /// Size on disk.
    pub size: u64,
    /// Plain BLAKE3 of its bytes on disk.
    pub digest: Digest,
    /// Records read from it.
    pub records: u64,
}

/// Another dataset's near-duplicate sample, indexed for lookups.
#[derive(Debug)]
pub struct NearQuery {
    text: Vec<(String, Signature)>,
    lsh: LshIndex,
    images: Vec<(String, u64)>,
    /// Smallest estimated Jaccard similarity of a near duplicate.
    pub threshold: f64,
    /// Largest perceptual-hash distance of a near duplicate.
    pub max_distance: u32,
}

impl NearQuery {
    /// Indexes a sample: text records with signatures, images with perceptual hashes.
    pub fn new(
        text: Vec<(String, Signature)>,
        images: Vec<(String, u64)>,
        threshold: f64,
        max_distance: u32,
    ) -> Self {
        let mut lsh = LshIndex::new();
        for (i, (_, sig)) in text.iter().enumerate() {
            lsh.insert(i as u32, sig);
        }
        NearQuery {
            text,
            lsh,
            images,
            threshold,
            max_distance,
        }
    }

    /// Sampled text records.
    pub fn text_len(&self) -> usize {
        self.text.len()
    }

    /// Sampled images.
    pub fn image_len(&self) -> usize {
        self.images.len()
    }

    /// The sample entries a record is a near duplicate of, with the similarity.
    fn hits(&self, near: &NearKey) -> Hits {
        match near {
            NearKey::None => Vec::new(),
            NearKey::Text(sig) => self
                .lsh
                .candidates(sig)
                .into_iter()
                .filter_map(|i| {
                    let j = jaccard(sig, &self.text[i as usize].1);
                    (j >= self.threshold).then_some((false, i, j))
                })
                .collect(),
            NearKey::Image(h) => self
                .images
                .iter()
                .enumerate()
                .filter_map(|(i, (_, p))| {
                    let d = distance(*h, *p);
                    (d <= self.max_distance).then_some((true, i as u32, 1.0 - d as f64 / 64.0))
                })
                .collect(),
        }
    }
}

/// A near-duplicate pair found.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Example {
    /// The sampled record (`file#record`).
    pub sampled: String,
    /// The record of the scanned data (`file#record`).
    pub found: String,
    /// Estimated Jaccard similarity (text) or `1 - distance / 64` (images).
    pub similarity: f64,
}

/// What the scan found for each sampled record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NearMatches {
    /// For each sampled text record: how many scanned records are near duplicates of it.
    pub text_hits: Vec<u64>,
    /// For each sampled image: how many scanned images are near duplicates of it.
    pub image_hits: Vec<u64>,
    /// A few pairs, the ones that are not exact copies first.
    pub examples: Vec<Example>,
}

/// A record's hits: (is an image, sample entry, similarity).
type Hits = Vec<(bool, u32, f64)>;

/// Example key: exact copies last, then by sample entry and record, for a stable choice.
type ExampleKey = (bool, bool, u32, String, u64);

struct Matches {
    text_hits: Vec<u64>,
    image_hits: Vec<u64>,
    examples: BTreeMap<ExampleKey, f64>,
}

/// The result of a scan.
#[derive(Debug)]
pub struct Scanned {
    /// The dataset's sketch (digests not yet sorted: call `finish`).
    pub sketch: DatasetSketch,
    /// Its files, sorted by path.
    pub files: Vec<FileSummary>,
    /// Matches against the query, when one was given.
    pub matches: Option<NearMatches>,
}

/// How to scan.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// How files are read.
    pub read: ReadOptions,
    /// How records are processed.
    pub record: RecordOptions,
    /// Bottom-k size.
    pub k: usize,
    /// Near-duplicate sample size.
    pub sample: usize,
}

struct ScanSink<'a> {
    opts: &'a ScanOptions,
    query: Option<&'a NearQuery>,
    progress: &'a dyn ScanProgress,
    sketch: Mutex<DatasetSketch>,
    matches: Mutex<Matches>,
    counts: Mutex<BTreeMap<String, u64>>,
}

fn poisoned(file: &DataFile) -> Error {
    Error::input(&file.path, "a worker thread failed")
}

impl Sink for ScanSink<'_> {
    fn bytes(&self, n: u64) {
        self.progress.bytes(n);
    }

    fn batch(&self, file: &DataFile, records: Vec<RawRecord>) -> Result<()> {
        let n = records.len() as u64;
        let processed: Vec<Processed> = records
            .into_par_iter()
            .map(|r| process(r, file, &self.opts.record))
            .collect::<Result<_>>()?;
        if let Some(q) = self.query {
            let found: Vec<(usize, Hits)> = processed
                .par_iter()
                .enumerate()
                .map(|(i, p)| (i, q.hits(&p.near)))
                .filter(|(_, h)| !h.is_empty())
                .collect();
            let mut m = self.matches.lock().map_err(|_| poisoned(file))?;
            for (i, hits) in found {
                for (image, s, sim) in hits {
                    let slot = if image {
                        &mut m.image_hits[s as usize]
                    } else {
                        &mut m.text_hits[s as usize]
                    };
                    *slot += 1;
                    let key = (sim >= 1.0, image, s, file.rel.clone(), processed[i].index);
                    let worth = m.examples.len() < EXAMPLES
                        || m.examples.last_key_value().is_some_and(|(k, _)| key < *k);
                    if worth {
                        m.examples.insert(key, sim);
                        if m.examples.len() > EXAMPLES {
                            m.examples.pop_last();
                        }
                    }
                }
            }
        }
        let mut part = DatasetSketch::new(self.opts.k, self.opts.sample);
        for p in processed {
            part.records += 1;
            part.bytes += p.len;
            part.digests.push(p.digest);
            part.bottom_k.insert(p.digest);
            part.privacy.add(p.privacy);
            let name = || format!("{}#{}", file.rel, p.index);
            match p.near {
                NearKey::Text(sig) => {
                    part.text_records += 1;
                    part.text_sample.offer(p.digest, name, sig);
                }
                NearKey::Image(h) => {
                    part.image_records += 1;
                    part.image_sample.offer(p.digest, name, h);
                }
                NearKey::None => {}
            }
        }
        self.sketch.lock().map_err(|_| poisoned(file))?.merge(part);
        *self
            .counts
            .lock()
            .map_err(|_| poisoned(file))?
            .entry(file.rel.clone())
            .or_default() += n;
        self.progress.records(n);
        Ok(())
    }
}

/// Reads every record of `files` (in parallel over files and within batches) into a
/// sketch; with `query`, also counts each of the query's sampled records' near duplicates.
pub fn scan(
    files: &[DataFile],
    opts: &ScanOptions,
    query: Option<&NearQuery>,
    progress: &dyn ScanProgress,
) -> Result<Scanned> {
    let sink = ScanSink {
        opts,
        query,
        progress,
        sketch: Mutex::new(DatasetSketch::new(opts.k, opts.sample)),
        matches: Mutex::new(Matches {
            text_hits: vec![0; query.map_or(0, NearQuery::text_len)],
            image_hits: vec![0; query.map_or(0, NearQuery::image_len)],
            examples: BTreeMap::new(),
        }),
        counts: Mutex::new(BTreeMap::new()),
    };
    let digests: Vec<Digest> = files
        .par_iter()
        .map(|f| read_file(f, &opts.read, &sink))
        .collect::<Result<_>>()?;
    let bad = || Error::input("dataset", "a worker thread failed");
    let counts = sink.counts.into_inner().map_err(|_| bad())?;
    let mut summaries: Vec<FileSummary> = files
        .iter()
        .zip(digests)
        .map(|(f, digest)| FileSummary {
            rel: f.rel.clone(),
            format: f.format,
            size: f.size,
            digest,
            records: counts.get(&f.rel).copied().unwrap_or(0),
        })
        .collect();
    summaries.sort_by(|a, b| a.rel.cmp(&b.rel));
    let m = sink.matches.into_inner().map_err(|_| bad())?;
    let matches = query.map(|q| NearMatches {
        examples: m
            .examples
            .into_iter()
            .map(|((_, image, s, rel, index), similarity)| Example {
                sampled: if image {
                    q.images[s as usize].0.clone()
                } else {
                    q.text[s as usize].0.clone()
                },
                found: format!("{rel}#{index}"),
                similarity,
            })
            .collect(),
        text_hits: m.text_hits,
        image_hits: m.image_hits,
    });
    Ok(Scanned {
        sketch: sink.sketch.into_inner().map_err(|_| bad())?,
        files: summaries,
        matches,
    })
}
