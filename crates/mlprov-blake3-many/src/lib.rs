//! BLAKE3 of many short, independent messages at once.
//!
//! Written by hand because no crate does it: the `blake3` crate runs the 1 KiB chunks of
//! *one* long input side by side (its `hash_many` is internal), so a message of one chunk
//! or less (a dataset record, a Merkle leaf) is compressed one 64-byte block after another
//! on a single lane. A dataset holds millions of such messages. Here, on CPUs with AVX-512,
//! sixteen messages with the same number of blocks are compressed side by side, one per
//! 32-bit lane ([`ManyHasher::hash_many`]). Elsewhere, and for messages longer than a chunk,
//! each message goes through the `blake3` crate.
//!
//! The function is BLAKE3's own (compression, message schedule, flags; plain, keyed and
//! derive-key modes, as the specification defines them): every output equals the `blake3`
//! crate's bit for bit, which the tests check at every length around the block and chunk
//! boundaries and on random messages.

#![deny(unsafe_op_in_unsafe_fn)]

#[cfg(target_arch = "x86_64")]
mod avx512;

/// Bytes in a BLAKE3 block.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const BLOCK_LEN: usize = 64;
/// Bytes in a BLAKE3 chunk: a message of at most this many bytes is hashed by one chunk.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const CHUNK_LEN: usize = 1024;

/// BLAKE3's initialization vector (the key words of plain hashing).
const IV: [u32; 8] = [
    0x6A09_E667,
    0xBB67_AE85,
    0x3C6E_F372,
    0xA54F_F53A,
    0x510E_527F,
    0x9B05_688C,
    0x1F83_D9AB,
    0x5BE0_CD19,
];
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const CHUNK_START: u32 = 1;
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const CHUNK_END: u32 = 2;
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const ROOT: u32 = 8;
const KEYED_HASH: u32 = 16;
const DERIVE_KEY_MATERIAL: u32 = 64;

/// A BLAKE3 mode (plain, keyed or derive-key) for hashing many messages.
#[derive(Clone)]
pub struct ManyHasher {
    /// Key words of the mode: the IV, the key, or the context key.
    key: [u32; 8],
    /// Mode flag of every compression.
    flags: u32,
    /// The same mode in the `blake3` crate, for long messages and CPUs without AVX-512.
    one: blake3::Hasher,
    /// Whether the lanes are used (the CPU has AVX-512F and AVX-512BW).
    lanes: bool,
}

impl std::fmt::Debug for ManyHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key words may be a secret key: never printed.
        f.debug_struct("ManyHasher")
            .field("lanes", &self.lanes)
            .finish_non_exhaustive()
    }
}

impl Default for ManyHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl ManyHasher {
    fn with(key: [u32; 8], flags: u32, one: blake3::Hasher) -> Self {
        ManyHasher {
            key,
            flags,
            one,
            lanes: lanes_available(),
        }
    }

    /// Plain hashing: `blake3::hash`.
    pub fn new() -> Self {
        Self::with(IV, 0, blake3::Hasher::new())
    }

    /// Keyed hashing: `blake3::keyed_hash(key, ..)`.
    pub fn new_keyed(key: &[u8; 32]) -> Self {
        Self::with(words(key), KEYED_HASH, blake3::Hasher::new_keyed(key))
    }

    /// Key derivation: `blake3::derive_key(context, ..)`.
    pub fn new_derive_key(context: &str) -> Self {
        let context_key = blake3::hazmat::hash_derive_key_context(context);
        Self::with(
            words(&context_key),
            DERIVE_KEY_MATERIAL,
            blake3::Hasher::new_derive_key(context),
        )
    }

    /// The same mode without the SIMD lanes (each message through the `blake3` crate), as
    /// on a CPU without AVX-512: for tests and comparisons.
    #[must_use]
    pub fn without_lanes(mut self) -> Self {
        self.lanes = false;
        self
    }

    /// Whether this hasher runs messages side by side on this CPU.
    pub fn uses_lanes(&self) -> bool {
        self.lanes
    }

    /// The digest of `prefix ‖ message`, one message at a time.
    pub fn hash_one(&self, prefix: &[u8], message: &[u8]) -> [u8; 32] {
        let mut h = self.one.clone();
        h.update(prefix);
        h.update(message);
        *h.finalize().as_bytes()
    }

    /// Appends to `out` the digest of `prefix ‖ m` for every message `m`, in order.
    /// Messages are grouped by their number of blocks, sixteen at a time; the prefix (a
    /// record's type tag, for instance) is hashed as part of each message.
    pub fn hash_many(&self, prefix: &[u8], messages: &[&[u8]], out: &mut Vec<[u8; 32]>) {
        let start = out.len();
        out.resize(start + messages.len(), [0; 32]);
        let out = &mut out[start..];
        #[cfg(target_arch = "x86_64")]
        if self.lanes && prefix.len() < BLOCK_LEN {
            // SAFETY: `lanes` is set only when the CPU has AVX-512F and AVX-512BW.
            unsafe { avx512::hash_many(self, prefix, messages, out) };
            return;
        }
        for (m, o) in messages.iter().zip(out) {
            *o = self.hash_one(prefix, m);
        }
    }
}

/// Whether this CPU runs the sixteen-lane compression.
fn lanes_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512bw")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// 32 bytes as eight little-endian words.
fn words(bytes: &[u8; 32]) -> [u32; 8] {
    std::array::from_fn(|i| {
        u32::from_le_bytes([
            bytes[4 * i],
            bytes[4 * i + 1],
            bytes[4 * i + 2],
            bytes[4 * i + 3],
        ])
    })
}

/// Message word order of each of the 7 rounds: round `r` reads at position `i` the word
/// that the specification's permutation, applied `r` times, brings there.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const SCHEDULE: [[usize; 16]; 7] = {
    const PERMUTATION: [usize; 16] = [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8];
    let mut s = [[0usize; 16]; 7];
    let mut i = 0;
    while i < 16 {
        s[0][i] = i;
        i += 1;
    }
    let mut r = 1;
    while r < 7 {
        let mut i = 0;
        while i < 16 {
            s[r][i] = s[r - 1][PERMUTATION[i]];
            i += 1;
        }
        r += 1;
    }
    s
};

#[cfg(test)]
mod tests;
