//! Hashing whole files and models in parallel, straight from the memory maps.

use std::ops::Range;

use mlprov_formats::{Model, WeightFile};
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
    /// Byte offset within the file.
    pub offset: u64,
    /// Byte length.
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

/// How one file splits into hashed segments.
struct Plan {
    /// Ranges that partition the file, in order; `Some(i)` marks tensor `i`'s bytes.
    segments: Vec<(Range<usize>, Option<usize>)>,
    /// Tensors whose bytes overlap an earlier tensor's: hashed on their own.
    aliased: Vec<usize>,
}

fn plan(file: &WeightFile) -> Plan {
    let mut segments = Vec::new();
    let mut aliased = Vec::new();
    let mut cursor = 0usize;
    let mut order: Vec<usize> = (0..file.tensor_infos().len()).collect();
    order.sort_by_key(|&i| {
        (
            file.tensor_infos()[i].range.start,
            file.tensor_infos()[i].range.end,
        )
    });
    for i in order {
        let r = file.tensor_infos()[i].range.clone();
        if r.start < cursor {
            aliased.push(i);
            continue;
        }
        if r.start > cursor {
            segments.push((cursor..r.start, None));
        }
        cursor = r.end;
        segments.push((r, Some(i)));
    }
    if cursor < file.len() {
        segments.push((cursor..file.len(), None));
    }
    Plan { segments, aliased }
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
pub fn hash_file(file: &WeightFile, rel_path: &str, options: HashOptions<'_>) -> FileDigest {
    hash_files(&[(rel_path, file)], options).remove(0)
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

fn hash_files(files: &[(&str, &WeightFile)], options: HashOptions<'_>) -> Vec<FileDigest> {
    let plans: Vec<Plan> = files.iter().map(|(_, f)| plan(f)).collect();
    // One flat job list across files, so small files and small tensors spread over threads
    // while big tensors are split inside BLAKE3.
    let mut jobs: Vec<(usize, Range<usize>)> = Vec::new();
    for (fi, p) in plans.iter().enumerate() {
        jobs.extend(p.segments.iter().map(|(r, _)| (fi, r.clone())));
        jobs.extend(
            p.aliased
                .iter()
                .map(|&t| (fi, files[fi].1.tensor_infos()[t].range.clone())),
        );
    }
    let hashes: Vec<blake3::Hash> = jobs
        .par_iter()
        .map(|(fi, r)| hash_bytes(&files[*fi].1.bytes()[r.clone()], options.progress))
        .collect();
    let plains: Vec<Option<Digest>> = files
        .iter()
        .map(|(_, f)| {
            options
                .plain
                .then(|| hash_bytes(f.bytes(), options.progress).into())
        })
        .collect();

    let mut next = hashes.into_iter();
    files
        .iter()
        .zip(plans)
        .zip(plains)
        .map(|(((path, file), plan), plain)| {
            let infos = file.tensor_infos();
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
            for &i in &plan.aliased {
                tensor_hash[i] = next.next();
            }
            let tensors = infos
                .iter()
                .zip(tensor_hash)
                .map(|(t, h)| {
                    let h = h.expect("every tensor is either a segment or aliased");
                    TensorDigest {
                        name: t.name.clone(),
                        dtype: t.dtype.name().to_string(),
                        shape: t.shape.clone(),
                        offset: t.range.start as u64,
                        length: t.range.len() as u64,
                        digest: tensor_digest(t.dtype.name(), &t.shape, t.range.len() as u64, &h),
                    }
                })
                .collect();
            FileDigest {
                path: path.to_string(),
                format: file.format().name().to_string(),
                size: file.len() as u64,
                digest: file_digest(file.len() as u64, &segments),
                plain,
                tensors,
            }
        })
        .collect()
}
