//! Test support for mlprov's test suites (a dev-dependency only, never shipped):
//! one random stream ([`Rng`]) and one safetensors writer ([`write_safetensors`]), so every
//! suite generates and stores its models the same way.
//!
//! [`hostile`] builds crafted files (zip archives, pickles, GGUF headers) for the tests of
//! hostile inputs.

#![forbid(unsafe_code)]

pub mod hostile;
pub mod postgres;

use std::path::{Path, PathBuf};

use safetensors::tensor::TensorView;
pub use safetensors::Dtype;

/// A deterministic SplitMix64 stream: the same seed gives the same numbers on every machine.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A stream from `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Standard normal (Box-Muller, one output per two uniforms).
    pub fn gauss(&mut self) -> f32 {
        let (a, b) = (self.uniform(), self.uniform());
        ((-2.0 * (a + 1e-300).ln()).sqrt() * (std::f64::consts::TAU * b).cos()) as f32
    }

    /// `n` normal values of standard deviation `scale`.
    pub fn gaussians(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.gauss() * scale).collect()
    }

    /// A uniformly random permutation of `0..n` (Fisher-Yates).
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut p: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            p.swap(i, self.below(i + 1));
        }
        p
    }
}

/// Symmetric 4-bit quantization in blocks of 32, dequantized back to f32: the round trip a
/// GPTQ-style block quantizer leaves (scale = block max / 7, values in -8..=7).
pub fn q4_round_trip(values: &[f32]) -> Vec<f32> {
    values
        .chunks(32)
        .flat_map(|block| {
            let scale = block.iter().fold(0f32, |a, v| a.max(v.abs())) / 7.0;
            block.iter().map(move |v| {
                if scale > 0.0 {
                    (v / scale).round().clamp(-8.0, 7.0) * scale
                } else {
                    0.0
                }
            })
        })
        .collect()
}

/// A named tensor of real values and the dtype it is stored as.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Name in the file.
    pub name: String,
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Values, row-major.
    pub values: Vec<f32>,
    /// How the values are stored: F32, F16, BF16, I8 (values rounded toward zero), I64.
    pub dtype: Dtype,
    /// Stored bytes to write as they are instead of `values` (a tensor copied from a real
    /// file that no transform touches).
    pub raw: Option<Vec<u8>>,
}

impl Tensor {
    /// An F32 tensor.
    pub fn f32(name: impl Into<String>, shape: &[usize], values: Vec<f32>) -> Self {
        let name = name.into();
        assert_eq!(
            shape.iter().product::<usize>(),
            values.len(),
            "{name}: shape and value count differ"
        );
        Tensor {
            name,
            shape: shape.to_vec(),
            values,
            dtype: Dtype::F32,
            raw: None,
        }
    }

    /// A tensor of stored bytes, written as they are.
    pub fn raw(name: impl Into<String>, dtype: Dtype, shape: &[usize], bytes: Vec<u8>) -> Self {
        Tensor {
            name: name.into(),
            shape: shape.to_vec(),
            values: Vec::new(),
            dtype,
            raw: Some(bytes),
        }
    }

    /// The same tensor stored as `dtype`.
    pub fn stored_as(mut self, dtype: Dtype) -> Self {
        self.dtype = dtype;
        self
    }

    /// The stored little-endian bytes.
    pub fn bytes(&self) -> Vec<u8> {
        if let Some(raw) = &self.raw {
            return raw.clone();
        }
        let v = &self.values;
        match self.dtype {
            Dtype::F32 => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Dtype::F16 => v
                .iter()
                .flat_map(|x| half::f16::from_f32(*x).to_le_bytes())
                .collect(),
            Dtype::BF16 => v
                .iter()
                .flat_map(|x| half::bf16::from_f32(*x).to_le_bytes())
                .collect(),
            Dtype::I8 => v.iter().map(|x| *x as i8 as u8).collect(),
            Dtype::I64 => v.iter().flat_map(|x| (*x as i64).to_le_bytes()).collect(),
            other => panic!("{}: testkit cannot store {other:?}", self.name),
        }
    }
}

/// Writes `tensors` as a safetensors file at `path` (with the safetensors crate itself).
pub fn write_safetensors(path: &Path, tensors: &[Tensor]) {
    let bytes: Vec<Vec<u8>> = tensors.iter().map(Tensor::bytes).collect();
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .zip(&bytes)
        .map(|(t, b)| {
            let view = TensorView::new(t.dtype, t.shape.clone(), b)
                .unwrap_or_else(|e| panic!("{}: {e:?} (shape {:?})", t.name, t.shape));
            (t.name.clone(), view)
        })
        .collect();
    safetensors::serialize_to_file(views, None, path)
        .unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
}

/// Writes `tensors` as `dir/file` and returns the path.
pub fn write_in(dir: &Path, file: &str, tensors: &[Tensor]) -> PathBuf {
    let path = dir.join(file);
    write_safetensors(&path, tensors);
    path
}

/// A fresh temporary folder, removed when dropped.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("cannot create a temporary folder: {e}"))
}

/// A published JSON Schema of the repository (`schemas/NAME`).
pub fn schema(name: &str) -> serde_json::Value {
    let path = fixtures().join("../schemas").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A validator of the published manifest schema (which refers to the terms schema by id).
pub fn manifest_validator() -> jsonschema::Validator {
    let terms = jsonschema::Resource::from_contents(schema("terms.v1.schema.json"))
        .unwrap_or_else(|e| panic!("terms schema: {e}"));
    jsonschema::options()
        .with_resource("https://mlprov.dev/schemas/terms.v1.schema.json", terms)
        .build(&schema("manifest.v1.schema.json"))
        .unwrap_or_else(|e| panic!("manifest schema: {e}"))
}

/// The repository's `fixtures/` folder.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_deterministic_and_seeds_differ() {
        let (mut a, mut b, mut c) = (Rng::new(7), Rng::new(7), Rng::new(8));
        let (x, y, z): (Vec<u64>, Vec<u64>, Vec<u64>) = (
            (0..4).map(|_| a.next_u64()).collect(),
            (0..4).map(|_| b.next_u64()).collect(),
            (0..4).map(|_| c.next_u64()).collect(),
        );
        assert_eq!(x, y);
        assert_ne!(x, z);
        // SplitMix64's published first output for seed 0.
        assert_eq!(Rng::new(0).next_u64(), 0xe220_a839_7b1d_cdaf);
    }

    #[test]
    fn gaussians_have_unit_spread() {
        let v = Rng::new(1).gaussians(20_000, 1.0);
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / v.len() as f64;
        assert!(
            mean.abs() < 0.03 && (var - 1.0).abs() < 0.05,
            "{mean} {var}"
        );
        let mut p = Rng::new(3).permutation(50);
        p.sort_unstable();
        assert_eq!(p, (0..50).collect::<Vec<_>>());
    }

    #[test]
    fn written_files_hold_the_stored_values() {
        let dir = tempdir();
        let t = Tensor::f32("w", &[2, 2], vec![1.0, -2.5, 3.0, 0.5]).stored_as(Dtype::BF16);
        let path = write_in(dir.path(), "m.safetensors", std::slice::from_ref(&t));
        let bytes = std::fs::read(path).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let view = st.tensor("w").unwrap();
        assert_eq!(view.dtype(), Dtype::BF16);
        assert_eq!(view.data(), t.bytes().as_slice());
    }
}
