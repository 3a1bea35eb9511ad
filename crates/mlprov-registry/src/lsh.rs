//! The LSH index: a model's largest tensors' 256-bit SimHashes cut into 16 bands of 16 bits;
//! one row per (band key, asset). Similar tensors (small Hamming distance) share whole bands
//! with high probability, unrelated ones (about 128 bits apart) rarely.

use mlprov_fingerprint::{ModelFingerprint, SimHash};

/// Bands per SimHash.
pub const BANDS: u32 = 16;
/// Bits per band.
pub const BAND_BITS: u32 = 16;
/// At most this many tensors of a model enter the index: the largest, ties in file order
/// (an order that renaming, re-encoding and noise keep).
pub const INDEXED_TENSORS: usize = 32;

/// The SimHashes a model is indexed (and looked up) by.
pub fn indexed_simhashes(fp: &ModelFingerprint) -> Vec<SimHash> {
    let mut order: Vec<usize> = (0..fp.tensors.len()).collect();
    // Stable: equal sizes keep file order.
    order.sort_by(|&a, &b| fp.tensors[b].elements.cmp(&fp.tensors[a].elements));
    order.truncate(INDEXED_TENSORS);
    order.into_iter().map(|i| fp.tensors[i].simhash).collect()
}

/// The band keys of some SimHashes, each `band << 16 | bits`, sorted and deduplicated.
pub fn band_keys(keys: &[SimHash]) -> Vec<i64> {
    let mut out: Vec<i64> = keys
        .iter()
        .flat_map(|k| {
            (0..BANDS).map(move |b| {
                let word = k.0[(b / 4) as usize];
                let bits = (word >> ((b % 4) * BAND_BITS)) & 0xffff;
                ((b as i64) << BAND_BITS) | bits as i64
            })
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_cover_every_bit_once() {
        let ones = SimHash([u64::MAX; 4]);
        let keys = band_keys(&[ones]);
        assert_eq!(keys.len(), 16);
        for (b, k) in keys.iter().enumerate() {
            assert_eq!(*k, ((b as i64) << 16) | 0xffff);
        }
        // One flipped bit changes exactly one band.
        let mut one_off = ones;
        one_off.0[2] ^= 1 << 37;
        let other = band_keys(&[one_off]);
        assert_eq!(keys.iter().filter(|k| other.contains(k)).count(), 15);
    }
}
