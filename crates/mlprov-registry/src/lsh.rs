//! The LSH index: a model's largest tensors' 256-bit SimHashes cut into 12 bands of 21 bits
//! (bits 0..252; the top 4 are unused); one row per (band key, asset). Similar tensors (small
//! Hamming distance) share whole bands with high probability, unrelated ones (about 128 bits
//! apart) rarely. 21-bit bands rather than 16-bit ones keep buckets nearly empty at 100,000
//! models × 32 tensors (1.5 entries per bucket instead of 49), so a lookup reads hundreds of
//! index rows, not tens of thousands.

use mlprov_fingerprint::{ModelFingerprint, SimHash};

/// Bands per SimHash.
pub const BANDS: u32 = 12;
/// Bits per band.
pub const BAND_BITS: u32 = 21;
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

/// The SimHashes of a model's anchored kernels (reading and writing side), largest
/// tensors first, at most [`INDEXED_TENSORS`]: keys that residual rotations and
/// permutations, hidden-unit permutations and rescaling leave alike (a deep lookup).
pub fn indexed_kernel_simhashes(fp: &ModelFingerprint) -> Vec<SimHash> {
    let mut order: Vec<usize> = (0..fp.tensors.len())
        .filter(|&i| fp.tensors[i].anchored.is_some())
        .collect();
    order.sort_by(|&a, &b| fp.tensors[b].elements.cmp(&fp.tensors[a].elements));
    order.truncate(INDEXED_TENSORS);
    order
        .into_iter()
        .filter_map(|i| fp.tensors[i].anchored.as_ref())
        .flat_map(|k| [k.reads.as_deref(), k.writes.as_deref()])
        .flatten()
        .map(SimHash::of_values)
        .collect()
}

/// Every band key a registration is indexed by: its tensors' value keys and, when it has
/// invariants, its kernel keys (in their own bands, [`kernel_band_keys`]).
pub fn index_keys(fp: &ModelFingerprint) -> Vec<i64> {
    let mut keys = band_keys(&indexed_simhashes(fp));
    keys.extend(kernel_band_keys(&indexed_kernel_simhashes(fp)));
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// Bits `start..start + BAND_BITS` of a SimHash (word 0 holds bits 0..64).
fn band_bits(k: &SimHash, start: u32) -> u64 {
    let (w, off) = ((start / 64) as usize, start % 64);
    let mut v = k.0[w] >> off;
    if off + BAND_BITS > 64 {
        v |= k.0[w + 1] << (64 - off);
    }
    v & ((1 << BAND_BITS) - 1)
}

/// The band keys of some tensors' value SimHashes, each `band << 21 | bits` (bands 0..12),
/// sorted and deduplicated.
pub fn band_keys(keys: &[SimHash]) -> Vec<i64> {
    keys_in(keys, 0)
}

/// The band keys of kernel SimHashes: bands 12..24, so they never meet value keys.
pub fn kernel_band_keys(keys: &[SimHash]) -> Vec<i64> {
    keys_in(keys, BANDS)
}

fn keys_in(keys: &[SimHash], first_band: u32) -> Vec<i64> {
    let mut out: Vec<i64> = keys
        .iter()
        .flat_map(|k| {
            (0..BANDS).map(move |b| {
                (((first_band + b) as i64) << BAND_BITS) | band_bits(k, b * BAND_BITS) as i64
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
    fn bands_cover_bits_0_to_252_once() {
        let ones = SimHash([u64::MAX; 4]);
        let keys = band_keys(&[ones]);
        assert_eq!(keys.len(), 12);
        for (b, k) in keys.iter().enumerate() {
            assert_eq!(*k, ((b as i64) << 21) | 0x1f_ffff);
        }
        // Each of bits 0..252 is in exactly one band (bands 3, 6 and 9 straddle words);
        // the top four bits are in none.
        for bit in 0..256 {
            let mut one_off = ones;
            one_off.0[bit / 64] ^= 1 << (bit % 64);
            let other = band_keys(&[one_off]);
            let kept = keys.iter().filter(|k| other.contains(k)).count();
            assert_eq!(kept, if bit < 252 { 11 } else { 12 }, "bit {bit}");
        }
    }
}
