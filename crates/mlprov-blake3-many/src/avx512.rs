//! The sixteen-lane compression (AVX-512F for the arithmetic, AVX-512BW for the byte-masked
//! loads). Each lane holds one message; the state's sixteen words are sixteen vectors.

use core::arch::x86_64::*;

use crate::{ManyHasher, BLOCK_LEN, CHUNK_END, CHUNK_LEN, CHUNK_START, IV, ROOT, SCHEDULE};

const LANES: usize = 16;
/// Most blocks a message of one chunk has.
const MAX_BLOCKS: usize = CHUNK_LEN / BLOCK_LEN;

/// `out[i]` = digest of `prefix ‖ messages[i]`. Messages are queued by block count and
/// hashed sixteen at a time, so the lanes of a batch finish together; messages longer
/// than a chunk go through the `blake3` crate.
///
/// # Safety
/// The CPU must have AVX-512F and AVX-512BW; `prefix` is shorter than a block and `out`
/// as long as `messages`.
#[target_feature(enable = "avx512f,avx512bw")]
pub(crate) unsafe fn hash_many(
    h: &ManyHasher,
    prefix: &[u8],
    messages: &[&[u8]],
    out: &mut [[u8; 32]],
) {
    // queue[b]: indexes of waiting messages of b + 1 blocks.
    let mut queue = [[0usize; LANES]; MAX_BLOCKS];
    let mut queued = [0usize; MAX_BLOCKS];
    for (i, m) in messages.iter().enumerate() {
        let total = prefix.len() + m.len();
        if total > CHUNK_LEN {
            out[i] = h.hash_one(prefix, m);
            continue;
        }
        let b = total.div_ceil(BLOCK_LEN).max(1) - 1;
        queue[b][queued[b]] = i;
        queued[b] += 1;
        if queued[b] == LANES {
            batch(h, prefix, messages, &queue[b], b + 1, out);
            queued[b] = 0;
        }
    }
    for b in 0..MAX_BLOCKS {
        if queued[b] > 0 {
            batch(h, prefix, messages, &queue[b][..queued[b]], b + 1, out);
        }
    }
}

/// Hashes the messages `idx` (1 to 16 of them, each of `blocks` blocks with the prefix)
/// side by side; lanes beyond `idx.len()` repeat the first message and are dropped.
#[target_feature(enable = "avx512f,avx512bw")]
fn batch(
    h: &ManyHasher,
    prefix: &[u8],
    messages: &[&[u8]],
    idx: &[usize],
    blocks: usize,
    out: &mut [[u8; 32]],
) {
    let p = prefix.len();
    let mut base = [core::ptr::null::<u8>(); LANES];
    let mut total = [0usize; LANES];
    for l in 0..LANES {
        let m = messages[idx[l.min(idx.len() - 1)]];
        base[l] = m.as_ptr();
        total[l] = p + m.len();
    }
    // SAFETY: the mask selects the first `p` bytes, all inside `prefix` (p < 64).
    let prefix_block = unsafe { _mm512_maskz_loadu_epi8(low_bits(p), prefix.as_ptr().cast()) };
    // Where position 0 of each lane's `prefix ‖ message` would be: `p` bytes before the
    // message (never read there: the prefix's bytes are masked off and taken from
    // `prefix_block`).
    let origin: [*const u8; LANES] = core::array::from_fn(|l| base[l].wrapping_sub(p));
    let mut cv: [__m512i; 8] = core::array::from_fn(|i| splat(h.key[i]));
    for b in 0..blocks {
        let lo = b * BLOCK_LEN;
        let rows: [__m512i; LANES] = if b == 0 || b + 1 == blocks {
            core::array::from_fn(|l| {
                // Bytes lo..lo+64 of `prefix ‖ message`: the message's part is loaded,
                // bytes outside it are masked off (neither read nor faulted on) and read
                // as zero.
                let from = lo.max(p);
                let to = (lo + BLOCK_LEN).min(total[l]);
                let mask = if to > from {
                    low_bits(to - lo) & !low_bits(from - lo)
                } else {
                    0
                };
                let at = origin[l].wrapping_add(lo);
                // SAFETY: the mask selects only bytes `from - p .. to - p` of the message,
                // which lie inside it; masked-off bytes are not accessed.
                let row = unsafe { _mm512_maskz_loadu_epi8(mask, at.cast()) };
                if b == 0 {
                    _mm512_or_si512(row, prefix_block)
                } else {
                    row
                }
            })
        } else {
            core::array::from_fn(|l| {
                // SAFETY: a block between the first and the last is whole: bytes
                // lo - p .. lo - p + 64 of the message, inside it (lo >= 64 > p, and the
                // last block, after this one, still holds at least one byte).
                unsafe { _mm512_loadu_si512(origin[l].wrapping_add(lo).cast()) }
            })
        };
        let m = transpose(rows);
        let last = b + 1 == blocks;
        let mut flags = h.flags;
        if b == 0 {
            flags |= CHUNK_START;
        }
        if last {
            flags |= CHUNK_END | ROOT;
        }
        let block_len = if last {
            let lens: [u32; LANES] = core::array::from_fn(|l| (total[l] - lo) as u32);
            // SAFETY: reads 64 bytes from a 64-byte array.
            unsafe { _mm512_loadu_si512(lens.as_ptr().cast()) }
        } else {
            splat(BLOCK_LEN as u32)
        };
        cv = compress(&cv, &m, block_len, splat(flags));
    }
    let mut words = [[0u32; LANES]; 8];
    for (w, v) in words.iter_mut().zip(cv) {
        // SAFETY: writes 64 bytes into a 64-byte array.
        unsafe { _mm512_storeu_si512(w.as_mut_ptr().cast(), v) };
    }
    for (l, &i) in idx.iter().enumerate() {
        let o = &mut out[i];
        for (k, w) in words.iter().enumerate() {
            o[4 * k..4 * k + 4].copy_from_slice(&w[l].to_le_bytes());
        }
    }
}

/// A mask of the low `n` bits (n ≤ 64).
fn low_bits(n: usize) -> u64 {
    if n >= 64 {
        u64::MAX
    } else {
        (1u64 << n) - 1
    }
}

#[target_feature(enable = "avx512f")]
fn splat(x: u32) -> __m512i {
    _mm512_set1_epi32(x as i32)
}

/// Row `l` (lane `l`'s block as sixteen words) into column form: `m[w]` holds word `w` of
/// every lane. Interleave 32-bit, then 64-bit pairs inside each 128-bit quarter, then
/// transpose the 4 × 4 grid of quarters.
#[target_feature(enable = "avx512f")]
fn transpose(r: [__m512i; LANES]) -> [__m512i; 16] {
    // a[2g], a[2g + 1]: rows 2g and 2g + 1 interleaved (words 4q, 4q+1 / 4q+2, 4q+3).
    let mut a = [_mm512_setzero_si512(); 16];
    for g in 0..8 {
        a[2 * g] = _mm512_unpacklo_epi32(r[2 * g], r[2 * g + 1]);
        a[2 * g + 1] = _mm512_unpackhi_epi32(r[2 * g], r[2 * g + 1]);
    }
    // b[4g + k]: rows 4g..4g+3, word 4q + k in quarter q.
    let mut b = [_mm512_setzero_si512(); 16];
    for g in 0..4 {
        let (x0, x1, y0, y1) = (a[4 * g], a[4 * g + 1], a[4 * g + 2], a[4 * g + 3]);
        b[4 * g] = _mm512_unpacklo_epi64(x0, y0);
        b[4 * g + 1] = _mm512_unpackhi_epi64(x0, y0);
        b[4 * g + 2] = _mm512_unpacklo_epi64(x1, y1);
        b[4 * g + 3] = _mm512_unpackhi_epi64(x1, y1);
    }
    // m[4q + k]: quarter g holds rows 4g..4g+3 of word 4q + k.
    let mut m = [_mm512_setzero_si512(); 16];
    for k in 0..4 {
        let (g0, g1, g2, g3) = (b[k], b[4 + k], b[8 + k], b[12 + k]);
        let s0 = _mm512_shuffle_i32x4::<0b01_00_01_00>(g0, g1);
        let s1 = _mm512_shuffle_i32x4::<0b11_10_11_10>(g0, g1);
        let s2 = _mm512_shuffle_i32x4::<0b01_00_01_00>(g2, g3);
        let s3 = _mm512_shuffle_i32x4::<0b11_10_11_10>(g2, g3);
        m[k] = _mm512_shuffle_i32x4::<0b10_00_10_00>(s0, s2);
        m[4 + k] = _mm512_shuffle_i32x4::<0b11_01_11_01>(s0, s2);
        m[8 + k] = _mm512_shuffle_i32x4::<0b10_00_10_00>(s1, s3);
        m[12 + k] = _mm512_shuffle_i32x4::<0b11_01_11_01>(s1, s3);
    }
    m
}

/// The compression function on sixteen lanes, block counter 0 (every message is a single
/// chunk): the new chaining values.
#[target_feature(enable = "avx512f")]
fn compress(
    cv: &[__m512i; 8],
    m: &[__m512i; 16],
    block_len: __m512i,
    flags: __m512i,
) -> [__m512i; 8] {
    let zero = _mm512_setzero_si512();
    let mut v = [
        cv[0],
        cv[1],
        cv[2],
        cv[3],
        cv[4],
        cv[5],
        cv[6],
        cv[7],
        splat(IV[0]),
        splat(IV[1]),
        splat(IV[2]),
        splat(IV[3]),
        zero,
        zero,
        block_len,
        flags,
    ];
    for s in &SCHEDULE {
        g(&mut v, [0, 4, 8, 12], m[s[0]], m[s[1]]);
        g(&mut v, [1, 5, 9, 13], m[s[2]], m[s[3]]);
        g(&mut v, [2, 6, 10, 14], m[s[4]], m[s[5]]);
        g(&mut v, [3, 7, 11, 15], m[s[6]], m[s[7]]);
        g(&mut v, [0, 5, 10, 15], m[s[8]], m[s[9]]);
        g(&mut v, [1, 6, 11, 12], m[s[10]], m[s[11]]);
        g(&mut v, [2, 7, 8, 13], m[s[12]], m[s[13]]);
        g(&mut v, [3, 4, 9, 14], m[s[14]], m[s[15]]);
    }
    core::array::from_fn(|i| _mm512_xor_si512(v[i], v[i + 8]))
}

/// The quarter-round on state words `a, b, c, d` with message words `x`, `y`.
#[target_feature(enable = "avx512f")]
#[inline]
fn g(v: &mut [__m512i; 16], [a, b, c, d]: [usize; 4], x: __m512i, y: __m512i) {
    v[a] = _mm512_add_epi32(_mm512_add_epi32(v[a], v[b]), x);
    v[d] = _mm512_ror_epi32::<16>(_mm512_xor_si512(v[d], v[a]));
    v[c] = _mm512_add_epi32(v[c], v[d]);
    v[b] = _mm512_ror_epi32::<12>(_mm512_xor_si512(v[b], v[c]));
    v[a] = _mm512_add_epi32(_mm512_add_epi32(v[a], v[b]), y);
    v[d] = _mm512_ror_epi32::<8>(_mm512_xor_si512(v[d], v[a]));
    v[c] = _mm512_add_epi32(v[c], v[d]);
    v[b] = _mm512_ror_epi32::<7>(_mm512_xor_si512(v[b], v[c]));
}
