//! Dequantization of GGML block types to `f32`, matching ggml's reference
//! `dequantize_row_*` (ggml-quants.c) operation for operation. The lattice-codebook IQ
//! types live in [`crate::quant_iq`]; this module dispatches to them.
//!
//! Written by hand: the crates that decode these blocks (candle, ggml bindings) pull in a
//! whole tensor runtime or a C build. Every kernel walks fixed-size block arrays
//! (`&[u8; BYTES]` → `&mut [f32; ELEMENTS]`), so the compiler sees constant bounds and
//! vectorizes the inner loops. Floating-point operations are done in the reference's
//! order with single rounding each (Rust never fuses `a * b + c`), so results are
//! bit-identical to ggml's scalar code and to gguf-py's numpy implementation.

use half::f16;

use crate::dtype::{DType, QK_K};
use crate::quant_iq;

/// IQ4_NL's non-linear 16-entry table (`kvalues_iq4nl`), also used by IQ4_XS.
const KVALUES_IQ4NL: [i8; 16] = [
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
];

/// Whether [`dequantize`] has a kernel for `dtype`.
pub(crate) fn has_kernel(dtype: DType) -> bool {
    matches!(
        dtype,
        DType::Q4_0
            | DType::Q4_1
            | DType::Q5_0
            | DType::Q5_1
            | DType::Q8_0
            | DType::Q2_K
            | DType::Q3_K
            | DType::Q4_K
            | DType::Q5_K
            | DType::Q6_K
            | DType::Q8_K
            | DType::IQ4_NL
            | DType::IQ4_XS
            | DType::IQ2_XXS
            | DType::IQ2_XS
            | DType::IQ2_S
            | DType::IQ3_XXS
            | DType::IQ3_S
            | DType::IQ1_S
            | DType::IQ1_M
            | DType::TQ1_0
            | DType::TQ2_0
            | DType::MXFP4
            | DType::NVFP4
    )
}

/// Decodes whole blocks. The caller checked that `bytes` is whole blocks of `dtype` and
/// `out` has exactly their elements; a type without a kernel leaves `out` untouched.
pub(crate) fn dequantize(dtype: DType, bytes: &[u8], out: &mut [f32]) {
    match dtype {
        DType::Q4_0 => blocks::<18, 32>(bytes, out, q4_0),
        DType::Q4_1 => blocks::<20, 32>(bytes, out, q4_1),
        DType::Q5_0 => blocks::<22, 32>(bytes, out, q5_0),
        DType::Q5_1 => blocks::<24, 32>(bytes, out, q5_1),
        DType::Q8_0 => blocks::<34, 32>(bytes, out, q8_0),
        DType::Q2_K => blocks::<84, QK_K>(bytes, out, q2_k),
        DType::Q3_K => blocks::<110, QK_K>(bytes, out, q3_k),
        DType::Q4_K => blocks::<144, QK_K>(bytes, out, q4_k),
        DType::Q5_K => blocks::<176, QK_K>(bytes, out, q5_k),
        DType::Q6_K => blocks::<210, QK_K>(bytes, out, q6_k),
        DType::Q8_K => blocks::<292, QK_K>(bytes, out, q8_k),
        DType::IQ4_NL => blocks::<18, 32>(bytes, out, iq4_nl),
        DType::IQ4_XS => blocks::<136, QK_K>(bytes, out, iq4_xs),
        DType::IQ2_XXS => blocks::<66, QK_K>(bytes, out, quant_iq::iq2_xxs),
        DType::IQ2_XS => blocks::<74, QK_K>(bytes, out, quant_iq::iq2_xs),
        DType::IQ2_S => blocks::<82, QK_K>(bytes, out, quant_iq::iq2_s),
        DType::IQ3_XXS => blocks::<98, QK_K>(bytes, out, quant_iq::iq3_xxs),
        DType::IQ3_S => blocks::<110, QK_K>(bytes, out, quant_iq::iq3_s),
        DType::IQ1_S => blocks::<50, QK_K>(bytes, out, quant_iq::iq1_s),
        DType::IQ1_M => blocks::<56, QK_K>(bytes, out, quant_iq::iq1_m),
        DType::TQ1_0 => blocks::<54, QK_K>(bytes, out, tq1_0),
        DType::TQ2_0 => blocks::<66, QK_K>(bytes, out, tq2_0),
        DType::MXFP4 => blocks::<17, 32>(bytes, out, mxfp4),
        DType::NVFP4 => blocks::<36, 64>(bytes, out, nvfp4),
        _ => {}
    }
}

/// Runs `kernel` over each block as fixed-size arrays.
#[inline(always)]
fn blocks<const B: usize, const N: usize>(
    bytes: &[u8],
    out: &mut [f32],
    kernel: fn(&[u8; B], &mut [f32; N]),
) {
    for (b, y) in bytes.chunks_exact(B).zip(out.chunks_exact_mut(N)) {
        // chunks_exact yields exactly B and N items, so both conversions succeed.
        if let (Ok(b), Ok(y)) = (<&[u8; B]>::try_from(b), <&mut [f32; N]>::try_from(y)) {
            kernel(b, y);
        }
    }
}

#[inline(always)]
fn half(lo: u8, hi: u8) -> f32 {
    f16::from_le_bytes([lo, hi]).to_f32()
}

fn q4_0(b: &[u8; 18], y: &mut [f32; 32]) {
    let d = half(b[0], b[1]);
    for j in 0..16 {
        let q = b[2 + j];
        y[j] = ((q & 0x0f) as i32 - 8) as f32 * d;
        y[j + 16] = ((q >> 4) as i32 - 8) as f32 * d;
    }
}

fn q4_1(b: &[u8; 20], y: &mut [f32; 32]) {
    let d = half(b[0], b[1]);
    let m = half(b[2], b[3]);
    for j in 0..16 {
        let q = b[4 + j];
        y[j] = (q & 0x0f) as f32 * d + m;
        y[j + 16] = (q >> 4) as f32 * d + m;
    }
}

fn q5_0(b: &[u8; 22], y: &mut [f32; 32]) {
    let d = half(b[0], b[1]);
    let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
    for j in 0..16 {
        let q = b[6 + j] as u32;
        let h0 = ((qh >> j) << 4) & 0x10;
        let h1 = (qh >> (j + 12)) & 0x10;
        y[j] = (((q & 0x0f) | h0) as i32 - 16) as f32 * d;
        y[j + 16] = (((q >> 4) | h1) as i32 - 16) as f32 * d;
    }
}

fn q5_1(b: &[u8; 24], y: &mut [f32; 32]) {
    let d = half(b[0], b[1]);
    let m = half(b[2], b[3]);
    let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
    for j in 0..16 {
        let q = b[8 + j] as u32;
        let h0 = ((qh >> j) << 4) & 0x10;
        let h1 = (qh >> (j + 12)) & 0x10;
        y[j] = ((q & 0x0f) | h0) as f32 * d + m;
        y[j + 16] = ((q >> 4) | h1) as f32 * d + m;
    }
}

fn q8_0(b: &[u8; 34], y: &mut [f32; 32]) {
    let d = half(b[0], b[1]);
    for j in 0..32 {
        y[j] = b[2 + j] as i8 as f32 * d;
    }
}

/// Layout: scales[16] (low nibble scale, high nibble min), qs[64], d, dmin.
fn q2_k(b: &[u8; 84], y: &mut [f32; QK_K]) {
    let d = half(b[80], b[81]);
    let min = half(b[82], b[83]);
    for n in 0..2 {
        let q = &b[16 + 32 * n..16 + 32 * n + 32];
        for j in 0..4 {
            let shift = 2 * j;
            for half_ in 0..2 {
                let sc = b[8 * n + 2 * j + half_];
                let dl = d * (sc & 0x0f) as f32;
                let ml = min * (sc >> 4) as f32;
                let base = 128 * n + 32 * j + 16 * half_;
                for l in 0..16 {
                    y[base + l] = dl * ((q[16 * half_ + l] >> shift) & 3) as f32 - ml;
                }
            }
        }
    }
}

/// Layout: hmask[32], qs[64], scales[12] (16 packed 6-bit values), d.
fn q3_k(b: &[u8; 110], y: &mut [f32; QK_K]) {
    let d_all = half(b[108], b[109]);
    let hm = &b[0..32];
    let sc = &b[96..108];
    let scale = |k: usize| -> f32 {
        let low = if k < 8 { sc[k] & 0x0f } else { sc[k - 8] >> 4 };
        let high = (sc[8 + k % 4] >> (2 * (k / 4))) & 3;
        ((low | (high << 4)) as i32 - 32) as f32
    };
    for n in 0..2 {
        let q = &b[32 + 32 * n..32 + 32 * n + 32];
        for j in 0..4 {
            let shift = 2 * j;
            let m = 1u8 << (4 * n + j);
            for half_ in 0..2 {
                let dl = d_all * scale(8 * n + 2 * j + half_);
                let base = 128 * n + 32 * j + 16 * half_;
                for l in 0..16 {
                    let i = 16 * half_ + l;
                    let low = ((q[i] >> shift) & 3) as i32;
                    let sub = if hm[i] & m != 0 { 0 } else { 4 };
                    y[base + l] = dl * (low - sub) as f32;
                }
            }
        }
    }
}

/// The `j`-th 6-bit (scale, min) pair of a Q4_K/Q5_K block (`get_scale_min_k4`).
#[inline(always)]
fn scale_min_k4(j: usize, q: &[u8; 12]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        (
            (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4),
            (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
        )
    }
}

/// The 12 packed scale bytes at `b[4..16]` of a Q4_K/Q5_K block.
#[inline(always)]
fn k4_scales<const B: usize>(b: &[u8; B]) -> [u8; 12] {
    let mut s = [0u8; 12];
    s.copy_from_slice(&b[4..16]);
    s
}

/// Layout: d, dmin, scales[12], qs[128].
fn q4_k(b: &[u8; 144], y: &mut [f32; QK_K]) {
    let d = half(b[0], b[1]);
    let min = half(b[2], b[3]);
    let scales = k4_scales(b);
    for j in 0..4 {
        let (sc1, m1) = scale_min_k4(2 * j, &scales);
        let (sc2, m2) = scale_min_k4(2 * j + 1, &scales);
        let (d1, m1) = (d * sc1 as f32, min * m1 as f32);
        let (d2, m2) = (d * sc2 as f32, min * m2 as f32);
        let q = &b[16 + 32 * j..16 + 32 * j + 32];
        let (lo, hi) = y[64 * j..64 * j + 64].split_at_mut(32);
        for l in 0..32 {
            lo[l] = d1 * (q[l] & 0x0f) as f32 - m1;
            hi[l] = d2 * (q[l] >> 4) as f32 - m2;
        }
    }
}

/// Layout: d, dmin, scales[12], qh[32], qs[128].
fn q5_k(b: &[u8; 176], y: &mut [f32; QK_K]) {
    let d = half(b[0], b[1]);
    let min = half(b[2], b[3]);
    let scales = k4_scales(b);
    let qh = &b[16..48];
    for j in 0..4 {
        let (sc1, m1) = scale_min_k4(2 * j, &scales);
        let (sc2, m2) = scale_min_k4(2 * j + 1, &scales);
        let (d1, m1) = (d * sc1 as f32, min * m1 as f32);
        let (d2, m2) = (d * sc2 as f32, min * m2 as f32);
        let (u1, u2) = (1u8 << (2 * j), 2u8 << (2 * j));
        let ql = &b[48 + 32 * j..48 + 32 * j + 32];
        let (lo, hi) = y[64 * j..64 * j + 64].split_at_mut(32);
        for l in 0..32 {
            let h1 = if qh[l] & u1 != 0 { 16 } else { 0 };
            let h2 = if qh[l] & u2 != 0 { 16 } else { 0 };
            lo[l] = d1 * ((ql[l] & 0x0f) + h1) as f32 - m1;
            hi[l] = d2 * ((ql[l] >> 4) + h2) as f32 - m2;
        }
    }
}

/// Layout: ql[128], qh[64], scales[16] (i8), d.
fn q6_k(b: &[u8; 210], y: &mut [f32; QK_K]) {
    let d = half(b[208], b[209]);
    for n in 0..2 {
        let ql = &b[64 * n..64 * n + 64];
        let qh = &b[128 + 32 * n..128 + 32 * n + 32];
        let sc = &b[192 + 8 * n..192 + 8 * n + 8];
        let y = &mut y[128 * n..128 * n + 128];
        for l in 0..32 {
            let is = l / 16;
            let q1 = ((ql[l] & 0x0f) | ((qh[l] & 3) << 4)) as i32 - 32;
            let q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32;
            let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32;
            let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32;
            y[l] = d * sc[is] as i8 as f32 * q1 as f32;
            y[l + 32] = d * sc[is + 2] as i8 as f32 * q2 as f32;
            y[l + 64] = d * sc[is + 4] as i8 as f32 * q3 as f32;
            y[l + 96] = d * sc[is + 6] as i8 as f32 * q4 as f32;
        }
    }
}

/// Layout: d (f32), qs[256] (i8), bsums[16] (i16, unused for decoding).
fn q8_k(b: &[u8; 292], y: &mut [f32; QK_K]) {
    let d = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    for l in 0..QK_K {
        y[l] = d * b[4 + l] as i8 as f32;
    }
}

fn iq4_nl(b: &[u8; 18], y: &mut [f32; 32]) {
    let d = half(b[0], b[1]);
    for j in 0..16 {
        let q = b[2 + j];
        y[j] = d * KVALUES_IQ4NL[(q & 0x0f) as usize] as f32;
        y[j + 16] = d * KVALUES_IQ4NL[(q >> 4) as usize] as f32;
    }
}

/// Layout: d, scales_h (u16), scales_l[4], qs[128].
fn iq4_xs(b: &[u8; 136], y: &mut [f32; QK_K]) {
    let d = half(b[0], b[1]);
    let scales_h = u16::from_le_bytes([b[2], b[3]]);
    for ib in 0..QK_K / 32 {
        let low = (b[4 + ib / 2] >> (4 * (ib % 2))) & 0x0f;
        let high = ((scales_h >> (2 * ib)) & 3) as u8;
        let dl = d * ((low | (high << 4)) as i32 - 32) as f32;
        let qs = &b[8 + 16 * ib..8 + 16 * ib + 16];
        let (lo, hi) = y[32 * ib..32 * ib + 32].split_at_mut(16);
        for j in 0..16 {
            lo[j] = dl * KVALUES_IQ4NL[(qs[j] & 0x0f) as usize] as f32;
            hi[j] = dl * KVALUES_IQ4NL[(qs[j] >> 4) as usize] as f32;
        }
    }
}

/// Layout: qs[48] (five base-3 digits per byte), qh[4] (four digits each), d.
/// A digit is read as the top of `q * 3^n` scaled to 0..3: `((q * 3^n mod 256) * 3) >> 8`.
fn tq1_0(b: &[u8; 54], y: &mut [f32; QK_K]) {
    const POW3: [u8; 5] = [1, 3, 9, 27, 81];
    let d = half(b[52], b[53]);
    let trit = |q: u8, n: usize| (((q.wrapping_mul(POW3[n]) as u16 * 3) >> 8) as i32 - 1) as f32;
    let (head, rest) = y.split_at_mut(160);
    let (mid, tail) = rest.split_at_mut(80);
    for (n, y) in head.chunks_exact_mut(32).enumerate() {
        for m in 0..32 {
            y[m] = d * trit(b[m], n);
        }
    }
    for (n, y) in mid.chunks_exact_mut(16).enumerate() {
        for m in 0..16 {
            y[m] = d * trit(b[32 + m], n);
        }
    }
    for (n, y) in tail.chunks_exact_mut(4).enumerate() {
        for m in 0..4 {
            y[m] = d * trit(b[48 + m], n);
        }
    }
}

/// Layout: qs[64] (four 2-bit values per byte, stored plus one), d.
fn tq2_0(b: &[u8; 66], y: &mut [f32; QK_K]) {
    let d = half(b[64], b[65]);
    for (j, y) in y.chunks_exact_mut(128).enumerate() {
        let q = &b[32 * j..32 * j + 32];
        for (l, y) in y.chunks_exact_mut(32).enumerate() {
            for m in 0..32 {
                y[m] = d * (((q[m] >> (2 * l)) & 3) as i32 - 1) as f32;
            }
        }
    }
}

/// E2M1 (FP4) values doubled, as ggml stores them (`kvalues_mxfp4`); the scales halve.
const KVALUES_FP4: [i8; 16] = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];

/// Half of an E8M0 scale, 2^(e-128), as bits (`ggml_e8m0_to_fp32_half`); no NaN encoding.
#[inline(always)]
fn e8m0_half(e: u8) -> f32 {
    let bits = if e < 2 {
        0x0020_0000u32 << e
    } else {
        ((e - 1) as u32) << 23
    };
    f32::from_bits(bits)
}

/// Layout: e (E8M0 scale), qs[16] (low nibbles are elements 0..16, high nibbles 16..32).
fn mxfp4(b: &[u8; 17], y: &mut [f32; 32]) {
    let d = e8m0_half(b[0]);
    for j in 0..16 {
        let q = b[1 + j];
        y[j] = d * KVALUES_FP4[(q & 0x0f) as usize] as f32;
        y[j + 16] = d * KVALUES_FP4[(q >> 4) as usize] as f32;
    }
}

/// Half of an unsigned E4M3 scale as gguf-py's `NVFP4.ue4m3_to_fp32` computes it: bit 7 is
/// ignored, 0x00 and 0x7F are zero, exponent 0 is subnormal. Every result is exact in f32.
#[inline(always)]
fn ue4m3_half(x: u8) -> f32 {
    let exp = ((x >> 3) & 0x0f) as i32;
    let man = (x & 7) as f32;
    if x == 0 || x == 0x7f {
        0.0
    } else if exp == 0 {
        man * (2.0f32).powi(-10)
    } else {
        (8.0 + man) * (2.0f32).powi(exp - 11)
    }
}

/// Layout: four UE4M3 sub-block scales, qs[32] (per sub-block of 16: 8 bytes, low nibbles first).
fn nvfp4(b: &[u8; 36], y: &mut [f32; 64]) {
    for (s, y) in y.chunks_exact_mut(16).enumerate() {
        let d = ue4m3_half(b[s]);
        let q = &b[4 + 8 * s..4 + 8 * s + 8];
        for j in 0..8 {
            y[j] = d * KVALUES_FP4[(q[j] & 0x0f) as usize] as f32;
            y[j + 8] = d * KVALUES_FP4[(q[j] >> 4) as usize] as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(dtype: DType, bytes: &[u8]) -> Vec<f32> {
        let mut out = vec![0f32; bytes.len() / dtype.block().1 * dtype.block().0];
        dtype.decode_f32(bytes, &mut out).unwrap();
        out
    }

    #[test]
    fn q4_0_by_hand() {
        // d = 0.5 (f16 0x3800); nibbles 0 and 15 → -8 and 7.
        let mut b = vec![0x00, 0x38];
        b.extend([0xf0; 16]);
        let y = decode(DType::Q4_0, &b);
        assert!(y[..16].iter().all(|&v| v == -4.0));
        assert!(y[16..].iter().all(|&v| v == 3.5));
    }

    #[test]
    fn q8_0_and_q8_k_by_hand() {
        let mut b = vec![0x00, 0x40]; // d = 2
        b.extend((0..32).map(|i| (i as i8 - 16) as u8));
        let y = decode(DType::Q8_0, &b);
        assert_eq!(y[0], -32.0);
        assert_eq!(y[31], 30.0);
        let mut k = 0.25f32.to_le_bytes().to_vec();
        k.extend((0..256).map(|i| i as u8));
        k.extend([0; 32]);
        let y = decode(DType::Q8_K, &k);
        assert_eq!(y[1], 0.25);
        assert_eq!(y[255], -0.25);
    }

    #[test]
    fn q5_0_uses_the_high_bits() {
        let mut b = vec![0x00, 0x3c]; // d = 1
        b.extend(0x0001_0001u32.to_le_bytes()); // element 0 and element 16 get the 5th bit
        b.extend([0x00; 16]);
        let y = decode(DType::Q5_0, &b);
        assert_eq!(y[0], 0.0); // 16 - 16
        assert_eq!(y[1], -16.0);
        assert_eq!(y[16], 0.0);
        assert_eq!(y[17], -16.0);
    }

    #[test]
    fn q4_k_scale_unpacking() {
        let mut b = vec![0u8; 144];
        b[0..2].copy_from_slice(&[0x00, 0x3c]); // d = 1
        b[2..4].copy_from_slice(&[0x00, 0x3c]); // dmin = 1
        b[4] = 2; // sc of group 0
        b[8] = 1; // min of group 0
        b[12] = 0x53; // group 4: sc low nibble 3, min high nibble 5
        b[16..48].fill(0x0f); // group 0 values 15, group 1 values 0
        let y = decode(DType::Q4_K, &b);
        assert_eq!(y[0], 2.0 * 15.0 - 1.0);
        assert_eq!(y[32], 0.0);
        assert_eq!(y[128], 0.0 - 5.0); // group 4 value 0 → -min
    }
}
