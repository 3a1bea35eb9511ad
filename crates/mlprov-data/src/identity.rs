//! Exact identity: a record's digest over its canonical form, and the dataset's
//! order-independent digest, a Merkle root over the sorted record digests (so a shuffled
//! copy has the same root). The tree is `mlprov-hash`'s (RFC 9162 shape, BLAKE3).

use mlprov_blake3_many::ManyHasher;
use mlprov_hash::{Digest, MerkleTree};

/// Domain context of an unkeyed record digest.
const CTX_RECORD: &str = "mlprov 2026-11-29 dataset record v1";
/// Domain context that turns a key file's bytes into a 32-byte BLAKE3 key.
const CTX_KEY: &str = "mlprov 2026-11-29 dataset record key v1";
/// Domain context of a key's public identifier.
const CTX_KEY_ID: &str = "mlprov 2026-11-29 dataset key id v1";

/// How a record's canonical bytes are interpreted, hashed in front of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentKind {
    /// Canonical text (a line, a field, a canonical JSON object).
    Text,
    /// A file's bytes as they are (images, audio, binary documents).
    Bytes,
}

impl ContentKind {
    /// The byte hashed in front of the canonical bytes.
    fn tag(self) -> &'static [u8] {
        match self {
            ContentKind::Text => b"t",
            ContentKind::Bytes => b"b",
        }
    }
}

/// Computes record digests, unkeyed or keyed.
#[derive(Clone)]
pub struct RecordHasher {
    key: Option<[u8; 32]>,
    /// A hasher with the key or the derived context already set up: cloned per record, so
    /// the context string is not hashed again for every record.
    base: blake3::Hasher,
    /// The same mode, for many records at once (sixteen side by side where the CPU can).
    many: ManyHasher,
}

impl std::fmt::Debug for RecordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("RecordHasher")
            .field("keyed", &self.key.is_some())
            .finish()
    }
}

impl RecordHasher {
    /// Plain digests: anyone holding a record can test whether it is in a published sketch.
    pub fn unkeyed() -> Self {
        RecordHasher {
            key: None,
            base: blake3::Hasher::new_derive_key(CTX_RECORD),
            many: ManyHasher::new_derive_key(CTX_RECORD),
        }
    }

    /// Keyed digests (BLAKE3 keyed mode) with a key derived from a key file's bytes: without
    /// the key, a digest says nothing about which record it is.
    pub fn keyed(key_file_bytes: &[u8]) -> Self {
        let key = blake3::derive_key(CTX_KEY, key_file_bytes);
        RecordHasher {
            key: Some(key),
            base: blake3::Hasher::new_keyed(&key),
            many: ManyHasher::new_keyed(&key),
        }
    }

    /// Whether digests are keyed.
    pub fn is_keyed(&self) -> bool {
        self.key.is_some()
    }

    /// A public identifier of the key (16 hex digits), so two sketches made with different
    /// keys are not compared by mistake; it reveals nothing of the key.
    pub fn key_id(&self) -> Option<String> {
        self.key
            .map(|k| hex::encode(&blake3::derive_key(CTX_KEY_ID, &k)[..8]))
    }

    /// The digest of one record's canonical bytes.
    pub fn digest(&self, kind: ContentKind, canonical: &[u8]) -> Digest {
        let mut h = self.base.clone();
        h.update(kind.tag());
        h.update(canonical);
        h.finalize().into()
    }

    /// Appends the digests of many records' canonical bytes (all of one kind) to `out`,
    /// in order: each equals [`RecordHasher::digest`], computed sixteen at a time.
    pub fn digest_many(&self, kind: ContentKind, canonical: &[&[u8]], out: &mut Vec<Digest>) {
        let mut raw = Vec::with_capacity(canonical.len());
        self.many.hash_many(kind.tag(), canonical, &mut raw);
        out.extend(raw.into_iter().map(Digest));
    }
}

/// The order-independent dataset digest: the Merkle root over the sorted record digests
/// (duplicates included, so a copy with a record repeated differs).
pub fn dataset_root(digests: Vec<Digest>) -> Digest {
    MerkleTree::new(digests).root()
}

/// Number of distinct digests in a sorted list.
pub fn distinct_sorted(sorted: &[Digest]) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    1 + sorted.windows(2).filter(|w| w[0] != w[1]).count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_digests_differ_and_key_id_hides_the_key() {
        let plain = RecordHasher::unkeyed();
        let keyed = RecordHasher::keyed(b"secret");
        let other = RecordHasher::keyed(b"other");
        let d = plain.digest(ContentKind::Text, b"hello");
        assert_ne!(d, keyed.digest(ContentKind::Text, b"hello"));
        assert_ne!(
            keyed.digest(ContentKind::Text, b"hello"),
            other.digest(ContentKind::Text, b"hello")
        );
        assert_ne!(d, plain.digest(ContentKind::Bytes, b"hello"));
        assert_eq!(keyed.key_id().unwrap().len(), 16);
        assert_ne!(keyed.key_id(), other.key_id());
        assert!(!format!("{keyed:?}").contains("secret"));
        // The prepared hasher is the documented construction.
        let mut by_hand = blake3::Hasher::new_derive_key(CTX_RECORD);
        by_hand.update(b"thello");
        assert_eq!(d, Digest::from(by_hand.finalize()));
        let key = blake3::derive_key(CTX_KEY, b"secret");
        let by_hand = blake3::keyed_hash(&key, b"thello");
        assert_eq!(
            keyed.digest(ContentKind::Text, b"hello"),
            Digest::from(by_hand)
        );
    }

    #[test]
    fn root_is_order_independent() {
        let h = RecordHasher::unkeyed();
        let d: Vec<Digest> = (0..10u8)
            .map(|i| h.digest(ContentKind::Text, &[i]))
            .collect();
        let mut r = d.clone();
        r.reverse();
        assert_eq!(dataset_root(d.clone()), dataset_root(r));
        let mut s = d.clone();
        s.sort();
        assert_eq!(distinct_sorted(&s), 10);
    }
}
