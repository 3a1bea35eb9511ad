//! A perceptual hash of images (PNG, JPEG, WebP): the DCT pHash. The image is decoded,
//! turned to 8-bit luma, resized to 32x32 (triangle filter), transformed with a 2-D DCT-II,
//! and the 8x8 lowest frequencies (the DC term included) become 64 bits: 1 where the
//! coefficient is above their median (the DC term left out of the median). A resized or
//! re-compressed copy differs in a few bits; a different image in about 32.

use std::io::Cursor;

/// Hamming distance at or below which two images are near duplicates by default.
pub const NEAR_DISTANCE: u32 = 10;
/// The construction's id, recorded in manifests.
pub const PHASH_VERSION: &str = "mlprov.phash/v1";

/// Largest width or height decoded (larger images are not hashed).
const MAX_SIDE: u32 = 20_000;
/// Largest allocation the decoder may make.
const MAX_ALLOC: u64 = 512 << 20;

/// Whether bytes start like a PNG, JPEG or WebP file.
pub fn is_image(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x89PNG\r\n\x1a\n")
        || bytes.starts_with(&[0xff, 0xd8, 0xff])
        || (bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP")
}

/// The 64-bit pHash of an encoded image, or the decoder's complaint.
pub fn phash(bytes: &[u8]) -> Result<u64, String> {
    let mut reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| e.to_string())?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| e.to_string())?;
    let small = image::imageops::resize(
        &img.to_luma8(),
        32,
        32,
        image::imageops::FilterType::Triangle,
    );
    let pixels: Vec<f64> = small.pixels().map(|p| p.0[0] as f64).collect();
    Ok(from_pixels(&pixels))
}

/// The pHash of 32x32 luma values, row-major.
fn from_pixels(px: &[f64]) -> u64 {
    const N: usize = 32;
    // cos table: c[u][x] = cos((2x+1) u pi / 2N), only the 8 lowest u are needed.
    let mut c = [[0f64; N]; 8];
    for (u, row) in c.iter_mut().enumerate() {
        for (x, v) in row.iter_mut().enumerate() {
            *v = (((2 * x + 1) * u) as f64 * std::f64::consts::PI / (2 * N) as f64).cos();
        }
    }
    // Rows first (8 frequencies per row), then columns.
    let mut rows = [[0f64; 8]; N];
    for y in 0..N {
        for u in 0..8 {
            rows[y][u] = (0..N).map(|x| px[y * N + x] * c[u][x]).sum();
        }
    }
    let mut coef = [0f64; 64];
    for v in 0..8 {
        for u in 0..8 {
            coef[v * 8 + u] = (0..N).map(|y| rows[y][u] * c[v][y]).sum();
        }
    }
    let mut ac: Vec<f64> = coef[1..].to_vec();
    ac.sort_by(f64::total_cmp);
    let median = (ac[31] + ac[32]) / 2.0;
    coef.iter()
        .enumerate()
        .fold(0u64, |h, (i, &v)| if v > median { h | (1 << i) } else { h })
}

/// Number of differing bits.
pub fn distance(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageFormat, RgbImage};

    pub(crate) fn picture(seed: u32, w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
            let s = seed as f32;
            let v = |k: f32| {
                (128.0
                    + 60.0 * ((fx * (3.0 + k) + s).sin() * (fy * (2.0 + s % 5.0) + k).cos())
                    + 60.0 * ((fx + fy) * (1.0 + (s * 0.37) % 4.0)).sin()) as u8
            };
            image::Rgb([v(0.0), v(1.0), v(2.0)])
        })
    }

    fn encode(img: &RgbImage, fmt: ImageFormat) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, fmt).unwrap();
        out.into_inner()
    }

    #[test]
    fn resized_and_recompressed_copies_are_near() {
        let img = picture(3, 256, 192);
        let png = encode(&img, ImageFormat::Png);
        assert!(is_image(&png));
        let small = image::imageops::resize(&img, 128, 96, image::imageops::FilterType::Lanczos3);
        let jpg = encode(&small, ImageFormat::Jpeg);
        assert!(is_image(&jpg));
        let (a, b) = (phash(&png).unwrap(), phash(&jpg).unwrap());
        assert!(distance(a, b) <= NEAR_DISTANCE, "{}", distance(a, b));
        let other = phash(&encode(&picture(11, 256, 192), ImageFormat::Png)).unwrap();
        assert!(distance(a, other) > NEAR_DISTANCE, "{}", distance(a, other));
        assert!(phash(b"\x89PNG\r\n\x1a\nbroken").is_err());
    }
}
