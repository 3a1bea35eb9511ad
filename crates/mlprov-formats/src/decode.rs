//! Conversion of stored elements to `f32`: one function per element type, the block
//! kernels in [`crate::quant`]. (Kept apart from [`crate::dtype`] so the type list is a
//! leaf that the kernels depend on, not the other way round.)

use half::{bf16, f16};

use crate::dtype::{DType, DecodeError};

impl DType {
    /// Whether [`DType::decode_f32`] supports this type.
    pub fn decodable(self) -> bool {
        match self {
            DType::F4 | DType::F6E2M3 | DType::F6E3M2 => false,
            d if d.is_blocked() => crate::quant::has_kernel(d),
            _ => true,
        }
    }

    /// Decodes little-endian `bytes` holding exactly `out.len()` elements (whole blocks) into `out`.
    pub fn decode_f32(self, bytes: &[u8], out: &mut [f32]) -> Result<(), DecodeError> {
        if !self.decodable() {
            return Err(DecodeError::Unsupported(self.name()));
        }
        let (per_block, block_bytes) = self.block();
        let blocks = bytes.len() / block_bytes;
        let want = blocks.saturating_mul(per_block);
        if !bytes.len().is_multiple_of(block_bytes) || want != out.len() {
            return Err(DecodeError::OutputLength {
                out: out.len(),
                want,
            });
        }
        if per_block > 1 {
            crate::quant::dequantize(self, bytes, out);
            return Ok(());
        }
        match self {
            DType::Bool => out
                .iter_mut()
                .zip(bytes)
                .for_each(|(o, &b)| *o = if b != 0 { 1.0 } else { 0.0 }),
            DType::U8 => out.iter_mut().zip(bytes).for_each(|(o, &b)| *o = b as f32),
            DType::I8 => out
                .iter_mut()
                .zip(bytes)
                .for_each(|(o, &b)| *o = b as i8 as f32),
            // One-byte types: a 256-entry table, filled once from the reference conversion.
            DType::F8E4M3 => lookup(
                &F8E4M3_TABLE,
                |b| float8::F8E4M3::from_bits(b).to_f32(),
                bytes,
                out,
            ),
            DType::F8E5M2 => lookup(
                &F8E5M2_TABLE,
                |b| float8::F8E5M2::from_bits(b).to_f32(),
                bytes,
                out,
            ),
            DType::F8E8M0 => lookup(&F8E8M0_TABLE, e8m0, bytes, out),
            DType::I16 => each::<2>(bytes, out, |c| i16::from_le_bytes(c) as f32),
            DType::U16 => each::<2>(bytes, out, |c| u16::from_le_bytes(c) as f32),
            DType::F16 => f16_to_f32(bytes, out),
            DType::BF16 => each::<2>(bytes, out, |c| bf16::from_le_bytes(c).to_f32()),
            DType::I32 => each::<4>(bytes, out, |c| i32::from_le_bytes(c) as f32),
            DType::U32 => each::<4>(bytes, out, |c| u32::from_le_bytes(c) as f32),
            DType::F32 => each::<4>(bytes, out, f32::from_le_bytes),
            DType::I64 => each::<8>(bytes, out, |c| i64::from_le_bytes(c) as f32),
            DType::U64 => each::<8>(bytes, out, |c| u64::from_le_bytes(c) as f32),
            DType::F64 => each::<8>(bytes, out, |c| f64::from_le_bytes(c) as f32),
            // Blocked types returned above; decodable() excluded the rest.
            _ => return Err(DecodeError::Unsupported(self.name())),
        }
        Ok(())
    }
}

/// Applies `f` to each `N`-byte little-endian element.
#[inline]
fn each<const N: usize>(bytes: &[u8], out: &mut [f32], f: impl Fn([u8; N]) -> f32) {
    for (o, c) in out.iter_mut().zip(bytes.chunks_exact(N)) {
        // chunks_exact guarantees the length, so the conversion cannot fail.
        let mut a = [0u8; N];
        a.copy_from_slice(c);
        *o = f(a);
    }
}

/// F16 through `half`'s slice conversion, which uses the CPU's F16C instructions when
/// present; the bytes are copied into aligned chunks first (a map gives no alignment).
fn f16_to_f32(bytes: &[u8], out: &mut [f32]) {
    use half::slice::HalfFloatSliceExt;
    const CHUNK: usize = 512;
    let mut buf = [f16::ZERO; CHUNK];
    for (src, dst) in bytes.chunks(CHUNK * 2).zip(out.chunks_mut(CHUNK)) {
        let n = dst.len();
        for (h, c) in buf[..n].iter_mut().zip(src.chunks_exact(2)) {
            *h = f16::from_le_bytes([c[0], c[1]]);
        }
        buf[..n].convert_to_f32_slice(dst);
    }
}

static F8E4M3_TABLE: std::sync::OnceLock<[f32; 256]> = std::sync::OnceLock::new();
static F8E5M2_TABLE: std::sync::OnceLock<[f32; 256]> = std::sync::OnceLock::new();
static F8E8M0_TABLE: std::sync::OnceLock<[f32; 256]> = std::sync::OnceLock::new();

/// Decodes bytes through a table built once from `convert` (the reference per-value conversion).
fn lookup(
    table: &std::sync::OnceLock<[f32; 256]>,
    convert: fn(u8) -> f32,
    bytes: &[u8],
    out: &mut [f32],
) {
    let table = table.get_or_init(|| std::array::from_fn(|b| convert(b as u8)));
    for (o, &b) in out.iter_mut().zip(bytes) {
        *o = table[b as usize];
    }
}

/// E8M0: an unsigned biased exponent, 2^(b-127); 0xFF is NaN.
fn e8m0(b: u8) -> f32 {
    if b == 0xff {
        f32::NAN
    } else {
        (2.0f32).powi(b as i32 - 127)
    }
}
