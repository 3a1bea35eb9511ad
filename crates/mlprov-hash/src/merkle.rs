//! A Merkle tree over sorted tensor digests, shaped as in RFC 9162 (Certificate
//! Transparency): the left subtree holds the largest power of two smaller than the count.
//!
//! Written by hand: it is forty lines, and the available crates fix their own hash
//! and leaf encoding, while ours must use BLAKE3 with our domain contexts.

use std::sync::LazyLock;

use mlprov_blake3_many::ManyHasher;

use crate::digest::{Digest, CTX_MERKLE_EMPTY, CTX_MERKLE_LEAF, CTX_MERKLE_NODE};

/// A model's tensor digests, sorted, as Merkle leaves.
#[derive(Debug, Clone)]
pub struct MerkleTree {
    leaves: Vec<Digest>,
}

/// Evidence that one digest is a leaf of a tree with a given root.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InclusionProof {
    /// The tensor digest being proven.
    pub leaf: Digest,
    /// Its position among the sorted leaves.
    pub index: u64,
    /// Number of leaves in the tree.
    pub size: u64,
    /// Sibling subtree hashes, from the leaf upwards.
    pub path: Vec<Digest>,
}

/// Hashers with the leaf and node contexts set up once: deriving a context hashes its
/// string, which would double the cost of every leaf and node of a large tree.
static LEAF: LazyLock<blake3::Hasher> =
    LazyLock::new(|| blake3::Hasher::new_derive_key(CTX_MERKLE_LEAF));
static NODE: LazyLock<blake3::Hasher> =
    LazyLock::new(|| blake3::Hasher::new_derive_key(CTX_MERKLE_NODE));
/// The same two, for a whole level of a tree at once (sixteen hashes side by side).
static LEAVES: LazyLock<ManyHasher> = LazyLock::new(|| ManyHasher::new_derive_key(CTX_MERKLE_LEAF));
static NODES: LazyLock<ManyHasher> = LazyLock::new(|| ManyHasher::new_derive_key(CTX_MERKLE_NODE));

fn leaf_hash(d: &Digest) -> Digest {
    LEAF.clone().update(d.as_bytes()).finalize().into()
}

fn node_hash(left: &Digest, right: &Digest) -> Digest {
    NODE.clone()
        .update(left.as_bytes())
        .update(right.as_bytes())
        .finalize()
        .into()
}

/// Largest power of two strictly below `n` (n ≥ 2).
fn split(n: usize) -> usize {
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// The root of the tree over `leaves` in the order given (the caller sorts them); for a
/// power-of-two count, the root [`MerkleStream::push_subtree`] takes.
pub fn subtree_root(leaves: &[Digest]) -> Digest {
    match leaves.len() {
        0 => blake3::Hasher::new_derive_key(CTX_MERKLE_EMPTY)
            .finalize()
            .into(),
        1 => leaf_hash(&leaves[0]),
        n if n.is_power_of_two() => perfect_root(leaves),
        n => {
            let k = split(n);
            node_hash(&subtree_root(&leaves[..k]), &subtree_root(&leaves[k..]))
        }
    }
}

/// The root of a complete tree (a power-of-two number of leaves, at least two), level by
/// level: every leaf, then every pair of each level, is one message of a many-message
/// hash. Splitting a complete tree at its half is pairing its levels, so this is the
/// same root as the recursion.
fn perfect_root(leaves: &[Digest]) -> Digest {
    let messages: Vec<&[u8]> = leaves.iter().map(|d| &d.0[..]).collect();
    let mut level: Vec<[u8; 32]> = Vec::with_capacity(leaves.len());
    LEAVES.hash_many(b"", &messages, &mut level);
    while level.len() > 1 {
        let pairs: Vec<&[u8]> = level.as_flattened().chunks_exact(64).collect();
        let mut next = Vec::with_capacity(pairs.len());
        NODES.hash_many(b"", &pairs, &mut next);
        level = next;
    }
    Digest(level[0])
}

fn audit_path(m: usize, leaves: &[Digest], out: &mut Vec<Digest>) {
    let n = leaves.len();
    if n <= 1 {
        return;
    }
    let k = split(n);
    if m < k {
        audit_path(m, &leaves[..k], out);
        out.push(subtree_root(&leaves[k..]));
    } else {
        audit_path(m - k, &leaves[k..], out);
        out.push(subtree_root(&leaves[..k]));
    }
}

fn root_from_path(m: u64, n: u64, leaf: Digest, path: &[Digest]) -> Option<Digest> {
    if n == 1 {
        return path.is_empty().then_some(leaf);
    }
    let (sibling, rest) = path.split_last()?;
    let k = split(usize::try_from(n).ok()?) as u64;
    if m < k {
        Some(node_hash(&root_from_path(m, k, leaf, rest)?, sibling))
    } else {
        Some(node_hash(
            sibling,
            &root_from_path(m - k, n - k, leaf, rest)?,
        ))
    }
}

impl MerkleTree {
    /// Builds the tree from tensor digests in any order (they are sorted here).
    pub fn new(mut digests: Vec<Digest>) -> Self {
        digests.sort_unstable();
        MerkleTree { leaves: digests }
    }

    /// The sorted leaves.
    pub fn leaves(&self) -> &[Digest] {
        &self.leaves
    }

    /// The root; for no leaves, a fixed digest of the empty tree.
    pub fn root(&self) -> Digest {
        subtree_root(&self.leaves)
    }

    /// A proof that `digest` is a leaf, if it is one.
    pub fn proof(&self, digest: &Digest) -> Option<InclusionProof> {
        let index = self.leaves.binary_search(digest).ok()?;
        let mut path = Vec::new();
        audit_path(index, &self.leaves, &mut path);
        Some(InclusionProof {
            leaf: *digest,
            index: index as u64,
            size: self.leaves.len() as u64,
            path,
        })
    }
}

/// The same root as [`MerkleTree::root`], computed from leaves pushed one at a time in
/// ascending order, in memory logarithmic in their number (for leaf lists too large to
/// hold, such as a dataset's record digests merged from sorted runs on disk).
#[derive(Debug, Clone, Default)]
pub struct MerkleStream {
    /// Roots of the complete subtrees so far, with their heights, left to right.
    stack: Vec<(u32, Digest)>,
    count: u64,
}

impl MerkleStream {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the next leaf (the caller keeps them sorted).
    pub fn push(&mut self, leaf: &Digest) {
        let mut cur = (0u32, leaf_hash(leaf));
        while let Some(&(h, left)) = self.stack.last() {
            if h != cur.0 {
                break;
            }
            self.stack.pop();
            cur = (h + 1, node_hash(&left, &cur.1));
        }
        self.stack.push(cur);
        self.count += 1;
    }

    /// Appends `2^height` leaves at once by the root of their complete subtree
    /// ([`subtree_root`] of them, which may be computed elsewhere, in parallel). Only where
    /// such a subtree can start: `false`, and nothing appended, unless the number of leaves
    /// so far is a multiple of `2^height`.
    pub fn push_subtree(&mut self, height: u32, root: Digest) -> bool {
        let Some(size) = 1u64.checked_shl(height) else {
            return false;
        };
        if !self.count.is_multiple_of(size) {
            return false;
        }
        let mut cur = (height, root);
        while let Some(&(h, left)) = self.stack.last() {
            if h != cur.0 {
                break;
            }
            self.stack.pop();
            cur = (h + 1, node_hash(&left, &cur.1));
        }
        self.stack.push(cur);
        self.count += size;
        true
    }

    /// Number of leaves pushed.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// Whether no leaf was pushed.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The root: the complete subtrees joined from the right, as RFC 9162 splits them.
    pub fn root(&self) -> Digest {
        let mut it = self.stack.iter().rev();
        let Some(&(_, mut acc)) = it.next() else {
            return subtree_root(&[]);
        };
        for (_, left) in it {
            acc = node_hash(left, &acc);
        }
        acc
    }
}

impl InclusionProof {
    /// The root this proof leads to, or `None` if the proof is malformed.
    pub fn root(&self) -> Option<Digest> {
        if self.index >= self.size {
            return None;
        }
        root_from_path(self.index, self.size, leaf_hash(&self.leaf), &self.path)
    }

    /// Whether the proof shows `leaf` under `root`.
    pub fn verify(&self, root: &Digest) -> bool {
        self.root().as_ref() == Some(root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn digests(n: usize) -> Vec<Digest> {
        (0..n as u32)
            .map(|i| blake3::hash(&i.to_le_bytes()).into())
            .collect()
    }

    /// The recursion of RFC 9162, one hash at a time, as the reference.
    fn recursive_root(leaves: &[Digest]) -> Digest {
        match leaves.len() {
            1 => leaf_hash(&leaves[0]),
            n => {
                let k = split(n);
                node_hash(&recursive_root(&leaves[..k]), &recursive_root(&leaves[k..]))
            }
        }
    }

    #[test]
    fn level_by_level_root_equals_the_recursion() {
        for n in (1..=70).chain([127, 128, 129, 1000, 1024, 4096, 4097]) {
            let d = digests(n);
            assert_eq!(subtree_root(&d), recursive_root(&d), "{n} leaves");
        }
    }

    #[test]
    fn root_ignores_input_order() {
        let d = digests(7);
        let mut r = d.clone();
        r.reverse();
        assert_eq!(MerkleTree::new(d).root(), MerkleTree::new(r).root());
    }

    #[test]
    fn empty_and_single() {
        let empty = MerkleTree::new(vec![]).root();
        let one = MerkleTree::new(digests(1));
        assert_ne!(empty, one.root());
        let p = one.proof(&one.leaves()[0]).unwrap();
        assert!(p.path.is_empty() && p.verify(&one.root()));
    }

    #[test]
    fn stream_root_equals_tree_root() {
        for n in 0..70 {
            let tree = MerkleTree::new(digests(n));
            let mut s = MerkleStream::new();
            tree.leaves().iter().for_each(|d| s.push(d));
            assert_eq!(s.root(), tree.root(), "{n} leaves");
            // Whole subtrees of 4 leaves where aligned, single leaves for the rest.
            let mut b = MerkleStream::new();
            let mut chunks = tree.leaves().chunks_exact(4);
            for c in &mut chunks {
                assert!(b.push_subtree(2, subtree_root(c)));
            }
            chunks.remainder().iter().for_each(|d| b.push(d));
            assert_eq!(b.root(), tree.root(), "{n} leaves by subtrees");
            if n % 4 != 0 {
                assert!(!b.push_subtree(2, tree.root()));
            }
            assert_eq!(s.len(), n as u64);
        }
    }

    proptest! {
        #[test]
        fn every_leaf_proves_and_tampering_fails(n in 1usize..70, pick in 0usize..70) {
            let tree = MerkleTree::new(digests(n));
            let root = tree.root();
            let leaf = tree.leaves()[pick % n];
            let proof = tree.proof(&leaf).unwrap();
            prop_assert!(proof.verify(&root));
            let mut wrong_leaf = proof.clone();
            wrong_leaf.leaf = blake3::hash(b"other").into();
            prop_assert!(!wrong_leaf.verify(&root));
            if !proof.path.is_empty() {
                let mut bent = proof.clone();
                bent.path[0].0[0] ^= 1;
                prop_assert!(!bent.verify(&root));
                let mut short = proof.clone();
                short.path.pop();
                prop_assert!(!short.verify(&root));
            }
        }
    }
}
