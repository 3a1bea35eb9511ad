//! MinHash signatures of text records over shingles (see `docs/datasets.md`).
//!
//! Written by hand: the Rust crates that offer MinHash either fix their own shingling and
//! hash (so signatures could not be documented and reproduced elsewhere) or pull a large
//! dependency tree; the whole construction is a few dozen lines and this is the hot loop.
//!
//! Shingles: the text is lower-cased and split into words (maximal runs of alphanumeric
//! characters); with at least two words, the shingles are the word 5-grams (one shingle of
//! all words if fewer than five); text without spaces (Chinese, Japanese, a single token)
//! uses character 5-grams of its non-space characters instead. Each shingle gets a 64-bit
//! hash `h`, of which the top 32 bits `x = h >> 32` are the key; permutation `i` maps it to
//! `(a_i * x + b_i) mod 2^32` (`a_i` odd: a bijection of the keys), and the signature keeps
//! each permutation's minimum.

/// Number of permutations by default.
pub const PERMUTATIONS: usize = 128;
/// Shingle width (words, or characters for text without spaces).
pub const SHINGLE: usize = 5;
/// The construction's id, recorded in manifests.
pub const MINHASH_VERSION: &str = "mlprov.minhash/v1";

/// A MinHash signature: one `u32` minimum per permutation.
pub type Signature = Vec<u32>;

/// The 128 fixed permutations (seeded, the same on every machine).
#[derive(Debug, Clone)]
pub struct MinHasher {
    a: Vec<u32>,
    b: Vec<u32>,
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

const WORD_SEED: u64 = 0xcbf2_9ce4_8422_2325;
const WORD_MUL: u64 = 0x9e37_79b9_7f4a_7c15;

fn finish_word(h: u64) -> u64 {
    let mut s = h;
    splitmix(&mut s)
}

/// A 64-bit hash of a word's bytes, eight at a time (little-endian, the last chunk
/// zero-padded), finished with the SplitMix64 finalizer: fast and well mixed, not
/// cryptographic (shingle collisions only blur the estimate).
fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h = WORD_SEED ^ bytes.len() as u64;
    for chunk in bytes.chunks(8) {
        let mut w = [0u8; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        h = ((h ^ u64::from_le_bytes(w)).wrapping_mul(WORD_MUL)).rotate_left(29);
    }
    finish_word(h)
}

/// `hash_bytes` of an ASCII alphanumeric word lower-cased, without copying it: for ASCII
/// letters and digits, lower-casing is setting bit 0x20 of each byte.
fn hash_ascii_word_lower(bytes: &[u8]) -> u64 {
    let mut h = WORD_SEED ^ bytes.len() as u64;
    for chunk in bytes.chunks(8) {
        let mut w = [0u8; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        let lower = u64::MAX >> (8 * (8 - chunk.len())) & 0x2020_2020_2020_2020;
        h = ((h ^ (u64::from_le_bytes(w) | lower)).wrapping_mul(WORD_MUL)).rotate_left(29);
    }
    finish_word(h)
}

/// The shingle hashes of a sequence of unit (word or character) hashes.
fn shingle_units(units: &[u64]) -> Vec<u64> {
    if units.is_empty() {
        return Vec::new();
    }
    let width = SHINGLE.min(units.len());
    units
        .windows(width)
        .map(|w| {
            let h = w.iter().fold(0x243f_6a88_85a3_08d3, |h, &u| mix(h, u));
            finish_word(h)
        })
        .collect()
}

fn mix(h: u64, w: u64) -> u64 {
    (h.rotate_left(23) ^ w).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

impl Default for MinHasher {
    fn default() -> Self {
        Self::new(PERMUTATIONS)
    }
}

impl MinHasher {
    /// `n` permutations from the fixed seed.
    pub fn new(n: usize) -> Self {
        let mut state = 0x6d6c_7072_6f76_6d68; // "mlprovmh"
        let a = (0..n)
            .map(|_| (splitmix(&mut state) >> 32) as u32 | 1)
            .collect();
        let b = (0..n)
            .map(|_| (splitmix(&mut state) >> 32) as u32)
            .collect();
        MinHasher { a, b }
    }

    /// Number of permutations.
    pub fn permutations(&self) -> usize {
        self.a.len()
    }

    /// The 64-bit hashes of a text's shingles.
    pub fn shingles(text: &str) -> Vec<u64> {
        if text.is_ascii() {
            return Self::shingles_ascii(text.as_bytes());
        }
        Self::shingles_unicode(text)
    }

    /// [`MinHasher::shingles`] for any text.
    fn shingles_unicode(text: &str) -> Vec<u64> {
        let lower;
        let text = if text.chars().any(char::is_uppercase) {
            lower = text.to_lowercase();
            &lower
        } else {
            text
        };
        let words: Vec<u64> = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(|w| hash_bytes(w.as_bytes()))
            .collect();
        let has_space = text.chars().any(char::is_whitespace);
        let units: Vec<u64> = if has_space || words.len() >= 2 {
            words
        } else {
            let mut buf = [0u8; 4];
            text.chars()
                .filter(|c| !c.is_whitespace())
                .map(|c| hash_bytes(c.encode_utf8(&mut buf).as_bytes()))
                .collect()
        };
        shingle_units(&units)
    }

    /// [`MinHasher::shingles`] for ASCII text, without decoding characters or allocating
    /// a lower-cased copy (the same hashes).
    fn shingles_ascii(text: &[u8]) -> Vec<u64> {
        let mut words = Vec::with_capacity(text.len() / 5);
        let mut start = None;
        for (i, &c) in text.iter().enumerate() {
            match (c.is_ascii_alphanumeric(), start) {
                (true, None) => start = Some(i),
                (false, Some(s)) => {
                    words.push(hash_ascii_word_lower(&text[s..i]));
                    start = None;
                }
                _ => {}
            }
        }
        if let Some(s) = start {
            words.push(hash_ascii_word_lower(&text[s..]));
        }
        let has_space = text.iter().any(|c| matches!(c, 0x09..=0x0d | b' '));
        if has_space || words.len() >= 2 {
            return shingle_units(&words);
        }
        let chars: Vec<u64> = text
            .iter()
            .filter(|c| !matches!(c, 0x09..=0x0d | b' '))
            .map(|c| hash_bytes(&[c.to_ascii_lowercase()]))
            .collect();
        shingle_units(&chars)
    }

    /// The signature of a text (all `u32::MAX` for text without any word or character).
    pub fn signature(&self, text: &str) -> Signature {
        let shingles = Self::shingles(text);
        let mut sig = vec![u32::MAX; self.a.len()];
        fold(&mut sig, &self.a, &self.b, &shingles);
        sig
    }
}

/// Folds shingle hashes into a signature: the AVX2 build of [`fold_lanes`] where the CPU
/// has it (four 64-bit lanes a step), the baseline build otherwise. Same result either way.
fn fold(sig: &mut [u32], a: &[u32], b: &[u32], shingles: &[u64]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above), the only requirement of
            // calling a function compiled with `target_feature(enable = "avx2")`.
            unsafe { fold_avx2(sig, a, b, shingles) };
            return;
        }
    }
    fold_lanes(sig, a, b, shingles);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn fold_avx2(sig: &mut [u32], a: &[u32], b: &[u32], shingles: &[u64]) {
    fold_lanes(sig, a, b, shingles);
}

#[inline(always)]
fn fold_lanes(sig: &mut [u32], a: &[u32], b: &[u32], shingles: &[u64]) {
    for &h in shingles {
        // `x -> a x + b mod 2^32` with odd `a` is a bijection of 32-bit keys, and the keys
        // are already random (hashed shingles): 32-bit lanes, eight to an AVX2 register,
        // no branch.
        let x = (h >> 32) as u32;
        for ((s, &a), &b) in sig.iter_mut().zip(a).zip(b) {
            *s = (*s).min(a.wrapping_mul(x).wrapping_add(b));
        }
    }
}

/// The estimated Jaccard similarity of two signatures: the share of equal minima.
pub fn jaccard(a: &[u32], b: &[u32]) -> f64 {
    if a.is_empty() || a.len() != b.len() {
        return 0.0;
    }
    let eq = a.iter().zip(b).filter(|(x, y)| x == y).count();
    eq as f64 / a.len() as f64
}

/// A signature as hex (little-endian `u32`s), the manifest's form.
pub fn to_hex(sig: &[u32]) -> String {
    let bytes: Vec<u8> = sig.iter().flat_map(|v| v.to_le_bytes()).collect();
    hex::encode(bytes)
}

/// Parses [`to_hex`]'s form; `None` if it is not `n` values.
pub fn from_hex(s: &str, n: usize) -> Option<Signature> {
    let bytes = hex::decode(s).ok()?;
    if bytes.len() != n * 4 {
        return None;
    }
    Some(
        bytes
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(n: usize, seed: u64) -> Vec<String> {
        let mut s = seed;
        (0..n)
            .map(|_| format!("w{}", splitmix(&mut s) % 5000))
            .collect()
    }

    #[test]
    fn estimates_jaccard_of_shingle_sets() {
        let m = MinHasher::default();
        let a = words(200, 1);
        let mut b = a.clone();
        b[100] = "changed".into();
        let (ta, tb) = (a.join(" "), b.join(" "));
        // One changed word changes 5 of 196 shingles: true Jaccard 191/201.
        let j = jaccard(&m.signature(&ta), &m.signature(&tb));
        assert!((j - 191.0 / 201.0).abs() < 0.08, "{j}");
        let c = words(200, 2).join(" ");
        assert!(jaccard(&m.signature(&ta), &m.signature(&c)) < 0.1);
        // Case and spacing do not matter for shingles.
        assert_eq!(
            m.signature(&ta),
            m.signature(&ta.to_uppercase().replace(' ', "  "))
        );
    }

    #[test]
    fn ascii_fast_path_equals_the_general_one() {
        for t in [
            "Hello, World! a-b c_d 42x",
            "NoSpacesHere",
            "x",
            "",
            "a  b\tc\nd e f g h",
        ] {
            assert_eq!(
                MinHasher::shingles_ascii(t.as_bytes()),
                MinHasher::shingles_unicode(t),
                "{t:?}"
            );
        }
    }

    #[test]
    fn text_without_spaces_uses_characters() {
        let m = MinHasher::default();
        let a = "機械学習のためのデータセットの出所を確認する方法について説明します";
        let b = "機械学習のためのデータセットの出所を確認する方法について説明しました";
        assert!(jaccard(&m.signature(a), &m.signature(b)) > 0.6);
        assert_eq!(MinHasher::shingles(a).len(), a.chars().count() - 4);
        let sig = m.signature("x y");
        assert_eq!(from_hex(&to_hex(&sig), 128).unwrap(), sig);
    }
}
