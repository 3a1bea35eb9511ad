//! Dequantization of the lattice-codebook types (IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S,
//! IQ1_S, IQ1_M) to `f32`, matching gguf-py's numpy dequantizers (gguf/quants.py), and
//! so ggml's `dequantize_row_iq*`, bit for bit.
//!
//! Each group of 8 (IQ2, IQ1) or 4 (IQ3) values is one row of a fixed grid, picked by an
//! index stored in the block; the grids are in [`tables`], generated from gguf-py. The
//! floating-point operations are the reference's, in its order: `(db * grid) * sign` with
//! `db = (d * (0.5 + s)) * 0.25` (IQ2), `(d * (0.5 + s)) * 0.5` (IQ3_XXS), `d * (1 + 2s)`
//! (IQ3_S), and `dl * (grid + delta)` (IQ1). The sign is applied by flipping the sign bit,
//! which is what multiplying by -1 does.

mod tables;

use half::f16;

use crate::dtype::QK_K;
use tables::{IQ1S_GRID, IQ2S_GRID, IQ2XS_GRID, IQ2XXS_GRID, IQ3S_GRID, IQ3XXS_GRID, KSIGNS};

/// IQ1_S/IQ1_M's offset added to every grid value, with the sign its block selects.
const IQ1_DELTA: f32 = 0.125;

#[inline(always)]
fn half(lo: u8, hi: u8) -> f32 {
    f16::from_le_bytes([lo, hi]).to_f32()
}

#[inline(always)]
fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}

#[inline(always)]
fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// `y[k] = (db * grid[k]) * (bit k of signs ? -1 : 1)` for one group of 8.
#[inline(always)]
fn signed8(y: &mut [f32], db: f32, grid: [u8; 8], signs: u8) {
    // Callers pass chunks of exactly 8; the fixed-size view lets the loop vectorize.
    if let Ok(y) = <&mut [f32; 8]>::try_from(y) {
        for k in 0..8 {
            let v = db * grid[k] as f32;
            let flip = (((signs >> k) & 1) as u32) << 31;
            y[k] = f32::from_bits(v.to_bits() ^ flip);
        }
    }
}

/// The IQ2 sub-block scale: `(d * (0.5 + s)) * 0.25`.
#[inline(always)]
fn iq2_scale(d: f32, s: u32) -> f32 {
    d * (0.5 + s as f32) * 0.25
}

/// Layout: d, then 8 × (4 grid indices, u32 of 4 × 7 sign bits and a 4-bit scale).
pub(crate) fn iq2_xxs(b: &[u8; 66], y: &mut [f32; QK_K]) {
    let d = half(b[0], b[1]);
    for (ib, y) in y.chunks_exact_mut(32).enumerate() {
        let q = &b[2 + 8 * ib..2 + 8 * ib + 8];
        let aux = u32_at(q, 4);
        let db = iq2_scale(d, aux >> 28);
        for (l, y) in y.chunks_exact_mut(8).enumerate() {
            let signs = KSIGNS[((aux >> (7 * l)) & 127) as usize];
            signed8(y, db, IQ2XXS_GRID[q[l] as usize].to_le_bytes(), signs);
        }
    }
}

/// Layout: d, qs[32] (u16: 9-bit grid index, 7-bit sign index), scales[8] (two 4-bit each).
pub(crate) fn iq2_xs(b: &[u8; 74], y: &mut [f32; QK_K]) {
    let d = half(b[0], b[1]);
    for (k, y) in y.chunks_exact_mut(8).enumerate() {
        let q = u16_at(b, 2 + 2 * k);
        let sc = b[66 + k / 4] >> (4 * ((k / 2) % 2));
        let db = iq2_scale(d, (sc & 0x0f) as u32);
        let signs = KSIGNS[(q >> 9) as usize];
        signed8(y, db, IQ2XS_GRID[(q & 511) as usize].to_le_bytes(), signs);
    }
}

/// Layout: d, qs[32] (low 8 index bits), signs[32], qh[8] (2 high index bits each), scales[8].
pub(crate) fn iq2_s(b: &[u8; 82], y: &mut [f32; QK_K]) {
    let d = half(b[0], b[1]);
    for (k, y) in y.chunks_exact_mut(8).enumerate() {
        let high = ((b[66 + k / 4] >> (2 * (k % 4))) & 3) as usize;
        let index = b[2 + k] as usize | (high << 8);
        let sc = b[74 + k / 4] >> (4 * ((k / 2) % 2));
        let db = iq2_scale(d, (sc & 0x0f) as u32);
        signed8(y, db, IQ2S_GRID[index].to_le_bytes(), b[34 + k]);
    }
}

/// Two 4-wide IQ3 grid rows as one group of 8.
#[inline(always)]
fn iq3_pair(grid: &[u32], a: usize, b: usize) -> [u8; 8] {
    (grid[a] as u64 | (grid[b] as u64) << 32).to_le_bytes()
}

/// Layout: d, qs[64] (grid indices), 8 × u32 (4 × 7 sign bits and a 4-bit scale).
pub(crate) fn iq3_xxs(b: &[u8; 98], y: &mut [f32; QK_K]) {
    let d = half(b[0], b[1]);
    let qs = &b[2..66];
    for (ib, y) in y.chunks_exact_mut(32).enumerate() {
        let aux = u32_at(b, 66 + 4 * ib);
        let db = d * (0.5 + (aux >> 28) as f32) * 0.5;
        for (l, y) in y.chunks_exact_mut(8).enumerate() {
            let signs = KSIGNS[((aux >> (7 * l)) & 127) as usize];
            let i = 8 * ib + 2 * l;
            let grid = iq3_pair(&IQ3XXS_GRID, qs[i] as usize, qs[i + 1] as usize);
            signed8(y, db, grid, signs);
        }
    }
}

/// Layout: d, qs[64] (low 8 index bits), qh[8] (1 high bit each), signs[32], scales[4].
pub(crate) fn iq3_s(b: &[u8; 110], y: &mut [f32; QK_K]) {
    let d = half(b[0], b[1]);
    let index = |j: usize| b[2 + j] as usize | ((((b[66 + j / 8] >> (j % 8)) & 1) as usize) << 8);
    for (ib, y) in y.chunks_exact_mut(32).enumerate() {
        let s = (b[106 + ib / 2] >> (4 * (ib % 2))) & 0x0f;
        let db = d * (1 + 2 * s) as f32;
        for (l, y) in y.chunks_exact_mut(8).enumerate() {
            let k = 4 * ib + l;
            let grid = iq3_pair(&IQ3S_GRID, index(2 * k), index(2 * k + 1));
            signed8(y, db, grid, b[74 + k]);
        }
    }
}

/// `y[k] = dl * (grid[k] + delta)` for one IQ1 group of 8 (grid values are -1, 0, 1).
#[inline(always)]
fn iq1_group(y: &mut [f32], dl: f32, index: usize, delta: f32) {
    let grid = IQ1S_GRID[index].to_le_bytes();
    // Callers pass chunks of exactly 8; the fixed-size view lets the loop vectorize.
    if let Ok(y) = <&mut [f32; 8]>::try_from(y) {
        for k in 0..8 {
            y[k] = dl * (grid[k] as i8 as f32 + delta);
        }
    }
}

/// Layout: d, qs[32] (low 8 index bits), 8 × u16 (4 × 3 high index bits, 3-bit scale, delta sign).
pub(crate) fn iq1_s(b: &[u8; 50], y: &mut [f32; QK_K]) {
    let d = half(b[0], b[1]);
    for (ib, y) in y.chunks_exact_mut(32).enumerate() {
        let qh = u16_at(b, 34 + 2 * ib);
        let dl = d * (2 * ((qh >> 12) & 7) + 1) as f32;
        let delta = if qh & 0x8000 != 0 {
            -IQ1_DELTA
        } else {
            IQ1_DELTA
        };
        for (l, y) in y.chunks_exact_mut(8).enumerate() {
            let index = b[2 + 4 * ib + l] as usize | ((((qh >> (3 * l)) & 7) as usize) << 8);
            iq1_group(y, dl, index, delta);
        }
    }
}

/// Layout: qs[32] (low 8 index bits), qh[16] (a nibble per group: 3 index bits, delta
/// sign), scales[8] (4 × u16: four 3-bit scales each, and a nibble of the f16 `d` on top).
pub(crate) fn iq1_m(b: &[u8; 56], y: &mut [f32; QK_K]) {
    let sc = [u16_at(b, 48), u16_at(b, 50), u16_at(b, 52), u16_at(b, 54)];
    let d_bits =
        (sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) | ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000);
    let d = f16::from_bits(d_bits).to_f32();
    for (k, y) in y.chunks_exact_mut(8).enumerate() {
        let m = k / 2;
        let s = (sc[m / 4] >> (3 * (m % 4))) & 7;
        let dl = d * (2 * s + 1) as f32;
        let nibble = b[32 + k / 2] >> (4 * (k % 2));
        let index = b[k] as usize | (((nibble & 7) as usize) << 8);
        let delta = if nibble & 8 != 0 {
            -IQ1_DELTA
        } else {
            IQ1_DELTA
        };
        iq1_group(y, dl, index, delta);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_have_ggml_first_and_last_rows() {
        // Spot checks against ggml-common.h.
        assert_eq!(IQ2XXS_GRID[0], 0x0808080808080808);
        assert_eq!(IQ2XXS_GRID[255], 0x2b2b2b1908081908);
        assert_eq!(IQ3XXS_GRID[0], 0x04040404);
        assert_eq!(IQ3S_GRID[0], 0x01010101);
        assert_eq!(IQ1S_GRID[0], 0xffffffffffffffff);
        assert_eq!(KSIGNS[1], 0x81);
        // ksigns: 7 bits and an even-parity 8th bit.
        for (i, &s) in KSIGNS.iter().enumerate() {
            assert_eq!(s & 0x7f, i as u8);
            assert_eq!(s.count_ones() % 2, 0);
        }
    }

    #[test]
    fn iq2_xxs_by_hand() {
        // d = 1. Sub-block 0: grid rows 0 and 1; group 0 takes sign index 1 (ksigns 0x81:
        // elements 0 and 7 negative); scale 3, so db = (0.5 + 3) / 4.
        let mut b = [0u8; 66];
        b[0..2].copy_from_slice(&[0x00, 0x3c]);
        b[2] = 0;
        b[3] = 1;
        b[6..10].copy_from_slice(&(1u32 | 3 << 28).to_le_bytes());
        let mut y = [0f32; QK_K];
        iq2_xxs(&b, &mut y);
        let db = 0.875f32;
        assert_eq!(y[0], -(db * 8.0));
        assert_eq!(y[1], db * 8.0);
        assert_eq!(y[7], -(db * 8.0));
        // Row 1 is 0x080808080808082b: element j is byte j, little-endian.
        assert_eq!(y[8], db * 43.0);
        assert_eq!(y[15], db * 8.0);
        assert_eq!(y[32], 0.5 * 0.25 * 8.0);
    }
}
