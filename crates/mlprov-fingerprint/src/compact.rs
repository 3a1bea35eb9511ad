//! How a fingerprint's numbers are written down, so that a registered 7B-class model
//! stays under 1 MiB (`benches/registry.rs`):
//!
//! * cosines (Gram sketches, anchored kernels) are rounded to 255 steps of their largest
//!   magnitude when they are made ([`quantize_cosines`]), so the stored form (`q8:`, one
//!   scale and one byte per cosine) is exact, and a fingerprint compared from the registry
//!   sees the same numbers as one computed from the weights;
//! * a sample grid is stored in the narrowest float that holds every value bit for bit
//!   (`bf16:`, `f16:`, else `f32:`): lossless, and half the bytes for 16-bit weights;
//! * the bytes of each value are grouped by plane (all high bytes, then the next...), so
//!   deflate finds the redundant exponent bytes (the shuffle filter of HDF5 and Blosc).
//!
//! Hand-written because it is a few lines of byte layout; a general binary format (CBOR,
//! bincode) would not shuffle planes or narrow floats. Readers also accept the plain forms
//! of earlier registrations (a JSON array of cosines, untagged base64 `f32` grids).

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serializer};

/// Steps on each side of zero a stored cosine may take.
const COSINE_STEPS: f32 = 127.0;

/// Rounds `values` in place to multiples of one scale (their largest magnitude over
/// [`COSINE_STEPS`]); non-finite values become 0. The `q8:` form finds the scale again
/// from the rounded values ([`as_steps`]), so it stores them exactly.
pub(crate) fn quantize_cosines(values: &mut [f32]) {
    for v in values.iter_mut().filter(|v| !v.is_finite()) {
        *v = 0.0;
    }
    let absmax = values.iter().fold(0f32, |m, v| m.max(v.abs()));
    if absmax == 0.0 {
        values.iter_mut().for_each(|v| *v = 0.0); // also turns -0.0 into 0.0
        return;
    }
    let scale = absmax / COSINE_STEPS;
    for v in values.iter_mut() {
        // `+ 0.0` turns the -0.0 of a small negative into 0.0, which one byte can hold.
        *v = (*v / scale).round().clamp(-COSINE_STEPS, COSINE_STEPS) * scale + 0.0;
    }
}

/// The (scale, steps) that give `values` back bit for bit, if there are such. The scale
/// [`quantize_cosines`] used is within a few units in the last place of the largest
/// magnitude over [`COSINE_STEPS`]; those candidates are tried in turn.
fn as_steps(values: &[f32]) -> Option<(f32, Vec<i8>)> {
    let absmax = values.iter().fold(0f32, |m, v| m.max(v.abs()));
    if !absmax.is_finite() {
        return None;
    }
    let near = (absmax / COSINE_STEPS).to_bits();
    [0i32, -1, 1, -2, 2, -3, 3].into_iter().find_map(|d| {
        let scale = f32::from_bits(near.checked_add_signed(d)?);
        let steps: Vec<i8> = values
            .iter()
            .map(|&v| {
                if scale == 0.0 {
                    0
                } else {
                    (v / scale).round().clamp(-COSINE_STEPS, COSINE_STEPS) as i8
                }
            })
            .collect();
        let exact = values
            .iter()
            .zip(&steps)
            .all(|(v, &q)| (q as f32 * scale).to_bits() == v.to_bits());
        exact.then_some((scale, steps))
    })
}

/// Groups byte `p` of every `width`-byte value together, plane after plane.
fn to_planes(bytes: &[u8], width: usize) -> Vec<u8> {
    let n = bytes.len() / width;
    let mut out = vec![0u8; n * width];
    for (i, value) in bytes.chunks_exact(width).enumerate() {
        for (p, &b) in value.iter().enumerate() {
            out[p * n + i] = b;
        }
    }
    out
}

/// Inverse of [`to_planes`]; `None` unless the bytes are whole values.
fn from_planes(planes: &[u8], width: usize) -> Option<Vec<u8>> {
    if !planes.len().is_multiple_of(width) {
        return None;
    }
    let n = planes.len() / width;
    let mut out = vec![0u8; planes.len()];
    for (p, plane) in planes.chunks_exact(n.max(1)).enumerate() {
        for (i, &b) in plane.iter().enumerate() {
            out[i * width + p] = b;
        }
    }
    Some(out)
}

/// [`from_planes`] of base64 text, as a deserializer error when it is not whole values.
fn planes_from_base64<E: serde::de::Error>(
    text: &str,
    width: usize,
    what: &str,
) -> Result<Vec<u8>, E> {
    from_planes(&decode_base64::<E>(text)?, width)
        .ok_or_else(|| E::custom(format!("{what} is not whole {width}-byte values")))
}

/// Splits `tag:base64` into its tag and bytes; `None` for untagged text.
fn tagged(text: &str) -> Option<(&str, &str)> {
    text.split_once(':')
}

fn decode_base64<E: serde::de::Error>(text: &str) -> Result<Vec<u8>, E> {
    BASE64.decode(text.as_bytes()).map_err(E::custom)
}

fn f32s_from_le<E: serde::de::Error>(bytes: &[u8], what: &str) -> Result<Vec<f32>, E> {
    if !bytes.len().is_multiple_of(4) {
        return Err(E::custom(format!("{what} is not whole f32 values")));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

fn f32_planes(values: &[f32]) -> String {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    BASE64.encode(to_planes(&bytes, 4))
}

/// `Vec<f32>` of cosines as `q8:` (scale, then one signed byte per value) or, when the
/// values are not on one scale's steps, `f32:` planes. Reads a JSON array too.
pub(crate) mod cosines {
    use super::*;

    pub fn serialize<S: Serializer>(values: &[f32], s: S) -> Result<S::Ok, S::Error> {
        match as_steps(values) {
            Some((scale, steps)) => {
                let mut bytes = scale.to_le_bytes().to_vec();
                bytes.extend(steps.iter().map(|&q| q as u8));
                s.serialize_str(&format!("q8:{}", BASE64.encode(bytes)))
            }
            None => s.serialize_str(&format!("f32:{}", f32_planes(values))),
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stored {
        Text(String),
        Plain(Vec<f32>),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f32>, D::Error> {
        let text = match Stored::deserialize(d)? {
            Stored::Plain(values) => return Ok(values),
            Stored::Text(text) => text,
        };
        match tagged(&text) {
            Some(("q8", body)) => {
                let bytes = decode_base64::<D::Error>(body)?;
                if bytes.len() < 4 {
                    return Err(D::Error::custom("q8 cosines lack their scale"));
                }
                let scale = f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
                Ok(bytes[4..].iter().map(|&q| q as i8 as f32 * scale).collect())
            }
            Some(("f32", body)) => f32s_from_le(
                &planes_from_base64::<D::Error>(body, 4, "cosines")?,
                "cosines",
            ),
            _ => Err(D::Error::custom("cosines are neither q8: nor f32:")),
        }
    }

    /// Optional cosines (a kernel side that may be absent).
    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(
            values: &Option<Vec<f32>>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match values {
                Some(v) => super::serialize(v, s),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<f32>>, D::Error> {
            #[derive(Deserialize)]
            struct Wrap(#[serde(with = "super")] Vec<f32>);
            Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
        }
    }
}

/// A sample grid in the narrowest float that holds it bit for bit (`bf16:`, `f16:`,
/// `f32:`, planes grouped); reads the untagged base64 `f32` of earlier registrations.
pub(crate) mod grid {
    use super::*;

    fn as_f16(v: f32) -> Option<u16> {
        let h = half::f16::from_f32(v);
        (h.to_f32().to_bits() == v.to_bits()).then_some(h.to_bits())
    }

    pub fn serialize<S: Serializer>(values: &[f32], s: S) -> Result<S::Ok, S::Error> {
        let text = if values.iter().all(|v| v.to_bits() & 0xFFFF == 0) {
            let bytes: Vec<u8> = values
                .iter()
                .flat_map(|v| ((v.to_bits() >> 16) as u16).to_le_bytes())
                .collect();
            format!("bf16:{}", BASE64.encode(to_planes(&bytes, 2)))
        } else if let Some(halves) = values
            .iter()
            .map(|&v| as_f16(v))
            .collect::<Option<Vec<u16>>>()
        {
            let bytes: Vec<u8> = halves.iter().flat_map(|h| h.to_le_bytes()).collect();
            format!("f16:{}", BASE64.encode(to_planes(&bytes, 2)))
        } else {
            format!("f32:{}", f32_planes(values))
        };
        s.serialize_str(&text)
    }

    fn u16s<E: serde::de::Error>(body: &str) -> Result<Vec<u16>, E> {
        Ok(planes_from_base64::<E>(body, 2, "a 16-bit sample grid")?
            .chunks_exact(2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
            .collect())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f32>, D::Error> {
        let text = String::deserialize(d)?;
        match tagged(&text) {
            None => f32s_from_le(&decode_base64::<D::Error>(&text)?, "a sample grid"),
            Some(("bf16", body)) => Ok(u16s::<D::Error>(body)?
                .into_iter()
                .map(|h| f32::from_bits((h as u32) << 16))
                .collect()),
            Some(("f16", body)) => Ok(u16s::<D::Error>(body)?
                .into_iter()
                .map(|h| half::f16::from_bits(h).to_f32())
                .collect()),
            Some(("f32", body)) => f32s_from_le(
                &planes_from_base64::<D::Error>(body, 4, "a sample grid")?,
                "a sample grid",
            ),
            Some((tag, _)) => Err(D::Error::custom(format!(
                "unknown sample grid encoding {tag:?}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Cos(#[serde(with = "cosines")] Vec<f32>);
    #[derive(Serialize, Deserialize, Debug)]
    struct Grid(#[serde(with = "grid")] Vec<f32>);

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    #[test]
    fn quantized_cosines_are_stored_in_one_byte_each_and_read_back_exactly() {
        let mut rng = 0x2545F4914F6CDD1Du64;
        for n in [1usize, 2, 496, 4000] {
            let mut v: Vec<f32> = (0..n)
                .map(|_| {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    (rng % 20001) as f32 / 10000.0 - 1.0
                })
                .collect();
            quantize_cosines(&mut v);
            let text = serde_json::to_string(&Cos(v.clone())).unwrap();
            assert!(text.starts_with("\"q8:"), "{n}: {}", &text[..8]);
            assert!(text.len() < 12 + n * 4 / 3 + 8, "{n}: {} chars", text.len());
            let back: Cos = serde_json::from_str(&text).unwrap();
            assert_eq!(bits(&back.0), bits(&v));
        }
        // Values off the steps fall back to exact f32, and old arrays still read.
        let odd = vec![0.1f32, 0.2, 0.3, -0.7];
        let text = serde_json::to_string(&Cos(odd.clone())).unwrap();
        assert!(text.starts_with("\"f32:"));
        assert_eq!(
            bits(&serde_json::from_str::<Cos>(&text).unwrap().0),
            bits(&odd)
        );
        let old: Cos = serde_json::from_str("[0.5,-0.25]").unwrap();
        assert_eq!(old.0, vec![0.5, -0.25]);
        let mut zeros = vec![0.0f32, -0.0, f32::NAN];
        quantize_cosines(&mut zeros);
        assert_eq!(bits(&zeros), vec![0, 0, 0]);
        for bad in ["\"q8:AA==\"", "\"zz:AAAA\"", "\"q8:!!\"", "\"f32:AAA=\""] {
            assert!(serde_json::from_str::<Cos>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn grids_take_the_narrowest_exact_float() {
        let cases: [(&str, Vec<f32>); 3] = [
            (
                "bf16",
                vec![1.5, -0.0, f32::INFINITY, f32::from_bits(0x3F81_0000)],
            ),
            (
                "f16",
                vec![1.5, 2f32.powi(-14), 65504.0, 1.0 + 1.0 / 1024.0],
            ),
            ("f32", vec![0.1, f32::NAN, f32::MIN_POSITIVE, -3.0]),
        ];
        for (tag, values) in cases {
            let text = serde_json::to_string(&Grid(values.clone())).unwrap();
            assert!(text.starts_with(&format!("\"{tag}:")), "{tag}: {text}");
            let back: Grid = serde_json::from_str(&text).unwrap();
            assert_eq!(bits(&back.0), bits(&values), "{tag}");
        }
        // The untagged base64 f32 of earlier registrations.
        let old: Grid = serde_json::from_str("\"AADAPw==\"").unwrap();
        assert_eq!(old.0, vec![1.5]);
        for bad in ["\"AAA=\"", "\"bf16:AAAA\"", "\"f8:AAAA\"", "\"f32:AAAA\""] {
            assert!(serde_json::from_str::<Grid>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn planes_round_trip() {
        let bytes: Vec<u8> = (0..24).collect();
        for w in [1, 2, 4] {
            assert_eq!(from_planes(&to_planes(&bytes, w), w), Some(bytes.clone()));
        }
        assert_eq!(from_planes(&[], 4), Some(vec![]));
        assert_eq!(from_planes(&[1, 2, 3], 2), None);
    }
}
