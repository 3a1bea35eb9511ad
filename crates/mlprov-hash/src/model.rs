//! Hashing whole files and models in parallel, straight from the memory maps.

use std::collections::HashMap;
use std::ops::Range;

use mlprov_formats::{Model, Source, WeightFile};
use rayon::prelude::*;

use crate::digest::{file_digest, tensor_digest, Digest, Segment};
use crate::merkle::{InclusionProof, MerkleTree};

/// Below this, a segment is hashed on one thread; above, BLAKE3 splits it across threads.
const PARALLEL_MIN: usize = 1 << 20;
/// Large segments are fed in pieces of this size so progress moves smoothly.
const PIECE: usize = 64 << 20;

/// What to compute besides the composed digests.
#[derive(Clone, Copy, Default)]
pub struct HashOptions<'a> {
    /// Also compute the plain BLAKE3 of each file (what `b3sum` prints); costs a second read.
    pub plain: bool,
    /// Called with the number of bytes just hashed, from any thread.
    pub progress: Option<&'a (dyn Fn(u64) + Sync)>,
}

/// The content digest of one tensor and where it sits.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TensorDigest {
    /// Name in the file (not part of the digest).
    pub name: String,
    /// Canonical dtype name.
    pub dtype: String,
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Byte offset within the file; absent for tensors the reader had to decode (their
    /// stored form is not their plain bytes, e.g. varint-packed ONNX fields).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// Byte length (of the plain little-endian bytes the digest covers).
    pub length: u64,
    /// Content digest (dtype, shape, bytes).
    pub digest: Digest,
}

/// The digests of one file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileDigest {
    /// Path relative to the model root.
    pub path: String,
    /// Container format name.
    pub format: String,
    /// Size in bytes.
    pub size: u64,
    /// Composed digest over every byte of the file.
    pub digest: Digest,
    /// Plain BLAKE3 of the file, if asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plain: Option<Digest>,
    /// Tensors in offset order.
    pub tensors: Vec<TensorDigest>,
}

/// The digests of a model: its files and the Merkle root over all tensor digests.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ModelDigest {
    /// Files in path order.
    pub files: Vec<FileDigest>,
    /// Merkle root over the sorted tensor digests of every file.
    pub root: Digest,
}

impl ModelDigest {
    /// Assembles a model digest from file digests, computing the root.
    pub fn from_files(files: Vec<FileDigest>) -> Self {
        let root = Self::tree_of(&files).root();
        ModelDigest { files, root }
    }

    fn tree_of(files: &[FileDigest]) -> MerkleTree {
        MerkleTree::new(
            files
                .iter()
                .flat_map(|f| f.tensors.iter().map(|t| t.digest))
                .collect(),
        )
    }

    /// The Merkle tree behind [`ModelDigest::root`].
    pub fn tree(&self) -> MerkleTree {
        Self::tree_of(&self.files)
    }

    /// An inclusion proof for the tensor `name` (in `file`, or in any file if `None`).
    pub fn proof(&self, file: Option<&str>, name: &str) -> Option<InclusionProof> {
        let t = self
            .files
            .iter()
            .filter(|f| file.is_none_or(|p| p == f.path))
            .flat_map(|f| &f.tensors)
            .find(|t| t.name == name)?;
        self.tree().proof(&t.digest)
    }
}

/// One file's bytes to digest: a weight file itself, or one of its external data files.
struct Unit<'a> {
    path: String,
    format: String,
    bytes: &'a [u8],
    /// Tensors whose bytes lie in this unit, plus (for the weight file itself) the ones
    /// the reader decoded into memory, which are listed here but hashed on their own.
    file: &'a WeightFile,
    source: Source,
}

/// How one unit splits into hashed segments.
struct Plan {
    /// Ranges that partition the unit, in order; `Some(i)` marks tensor `i`'s bytes.
    segments: Vec<(Range<usize>, Option<usize>)>,
    /// Tensors hashed on their own: overlapping an earlier one, or decoded.
    separate: Vec<usize>,
    /// Tensors whose bytes are exactly an earlier tensor's (same source and range): they
    /// take that tensor's hash, so a file of thousands of views of one region hashes the
    /// region once. `(tensor, tensor it repeats)`.
    repeats: Vec<(usize, usize)>,
    /// Tensors listed under this unit, in order.
    listed: Vec<usize>,
}

fn plan(unit: &Unit<'_>) -> Plan {
    let infos = unit.file.tensor_infos();
    let mut segments = Vec::new();
    let mut separate = Vec::new();
    let mut listed = Vec::new();
    let mut repeats = Vec::new();
    let mut first: HashMap<(Source, usize, usize), usize> = HashMap::new();
    let mut cursor = 0usize;
    // Tensors arrive sorted by source, then offset.
    for (i, t) in infos.iter().enumerate() {
        let owned = matches!((unit.source, t.source), (Source::File, Source::Decoded(_)));
        if unit.source == t.source || owned {
            let key = (t.source, t.range.start, t.range.end);
            if let Some(&j) = first.get(&key) {
                listed.push(i);
                repeats.push((i, j));
                continue;
            }
            first.insert(key, i);
        }
        match (unit.source, t.source) {
            (a, b) if a == b => {
                listed.push(i);
                if t.range.start < cursor {
                    separate.push(i);
                    continue;
                }
                if t.range.start > cursor {
                    segments.push((cursor..t.range.start, None));
                }
                cursor = t.range.end;
                segments.push((t.range.clone(), Some(i)));
            }
            (Source::File, Source::Decoded(_)) => {
                listed.push(i);
                separate.push(i);
            }
            _ => {}
        }
    }
    if cursor < unit.bytes.len() {
        segments.push((cursor..unit.bytes.len(), None));
    }
    Plan {
        segments,
        separate,
        repeats,
        listed,
    }
}

fn hash_bytes(bytes: &[u8], progress: Option<&(dyn Fn(u64) + Sync)>) -> blake3::Hash {
    if bytes.len() < PARALLEL_MIN {
        let h = blake3::hash(bytes);
        if let Some(p) = progress {
            p(bytes.len() as u64);
        }
        return h;
    }
    let mut hasher = blake3::Hasher::new();
    for piece in bytes.chunks(PIECE) {
        hasher.update_rayon(piece);
        if let Some(p) = progress {
            p(piece.len() as u64);
        }
    }
    hasher.finalize()
}

/// Hashes one file (as a model of one file, named by `rel_path`).
pub fn hash_file(file: &WeightFile, rel_path: &str, options: HashOptions<'_>) -> Vec<FileDigest> {
    hash_files(&[(rel_path, file)], options)
}

/// Hashes every file of a model and computes its Merkle root.
pub fn hash_model(model: &Model, options: HashOptions<'_>) -> ModelDigest {
    let files: Vec<(&str, &WeightFile)> = model
        .files
        .iter()
        .map(|f| (f.rel_path.as_str(), &f.file))
        .collect();
    ModelDigest::from_files(hash_files(&files, options))
}

/// The path of an external data file relative to the model root: next to its model file.
fn external_path(model_file: &str, location: &str) -> String {
    match model_file.rsplit_once('/') {
        Some((dir, _)) => format!("{dir}/{location}"),
        None => location.to_string(),
    }
}

/// Total bytes [`hash_model`] reads (for progress bars): every file and external file.
pub fn bytes_to_hash(model: &Model) -> u64 {
    model
        .files
        .iter()
        .map(|f| {
            f.file.len() as u64
                + f.file
                    .externals()
                    .iter()
                    .map(|e| e.bytes().len() as u64)
                    .sum::<u64>()
        })
        .sum()
}

fn hash_files(files: &[(&str, &WeightFile)], options: HashOptions<'_>) -> Vec<FileDigest> {
    let mut units = Vec::new();
    for (path, file) in files {
        units.push(Unit {
            path: path.to_string(),
            format: file.format().name().to_string(),
            bytes: file.bytes(),
            file,
            source: Source::File,
        });
        for (i, e) in file.externals().iter().enumerate() {
            units.push(Unit {
                path: external_path(path, &e.location),
                format: format!("{} external data", file.format().name()),
                bytes: e.bytes(),
                file,
                source: Source::External(i),
            });
        }
    }
    let plans: Vec<Plan> = units.iter().map(plan).collect();
    // One flat job list across units, so small files and small tensors spread over threads
    // while big tensors are split inside BLAKE3.
    let mut jobs: Vec<&[u8]> = Vec::new();
    for (unit, p) in units.iter().zip(&plans) {
        jobs.extend(p.segments.iter().map(|(r, _)| &unit.bytes[r.clone()]));
        let views: Vec<_> = unit.file.tensors().collect();
        jobs.extend(p.separate.iter().map(|&t| views[t].bytes));
    }
    let hashes: Vec<blake3::Hash> = jobs
        .par_iter()
        .map(|bytes| hash_bytes(bytes, options.progress))
        .collect();

    let mut next = hashes.into_iter();
    units
        .iter()
        .zip(plans)
        .map(|(unit, plan)| {
            let infos = unit.file.tensor_infos();
            let mut tensor_hash: Vec<Option<blake3::Hash>> = vec![None; infos.len()];
            let mut segments = Vec::with_capacity(plan.segments.len());
            for (r, tensor) in &plan.segments {
                let hash = next.next().expect("one hash per job");
                if let Some(i) = tensor {
                    tensor_hash[*i] = Some(hash);
                }
                segments.push(Segment {
                    offset: r.start as u64,
                    len: r.len() as u64,
                    hash,
                });
            }
            for &i in &plan.separate {
                tensor_hash[i] = next.next();
            }
            // Repeats point at an earlier tensor, already hashed above.
            for &(i, j) in &plan.repeats {
                tensor_hash[i] = tensor_hash[j];
            }
            let tensors = plan
                .listed
                .iter()
                .map(|&i| {
                    let t = &infos[i];
                    let h = tensor_hash[i].expect("every listed tensor is a segment or separate");
                    TensorDigest {
                        name: t.name.clone(),
                        dtype: t.dtype.name().to_string(),
                        shape: t.shape.clone(),
                        offset: (!matches!(t.source, Source::Decoded(_)))
                            .then_some(t.range.start as u64),
                        length: t.range.len() as u64,
                        digest: tensor_digest(t.dtype.name(), &t.shape, t.range.len() as u64, &h),
                    }
                })
                .collect();
            let plain = options
                .plain
                .then(|| hash_bytes(unit.bytes, options.progress).into());
            FileDigest {
                path: unit.path.clone(),
                format: unit.format.clone(),
                size: unit.bytes.len() as u64,
                digest: file_digest(unit.bytes.len() as u64, &segments),
                plain,
                tensors,
            }
        })
        .collect()
}
