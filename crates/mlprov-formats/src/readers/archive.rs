//! Zip-based weight files: which kind a zip archive is, by its member names.

use std::path::Path;

use crate::budget::Budget;
use crate::error::ErrorKind;
use crate::parsed::ParsedFile;

use super::numpy;
use super::pickle;
use super::torch::{self, TorchKind};
use super::zip::ZipArchive;

/// What a zip archive holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ZipKind {
    /// A PyTorch archive whose members live under `prefix` (with its trailing `/`).
    Torch { prefix: String, kind: TorchKind },
    /// A NumPy `.npz`.
    Npz,
}

/// Classifies an archive: one `<folder>/data.pkl` makes it PyTorch (TorchScript if a
/// `<folder>/constants.pkl` sits beside it), `.npy` members make it an `.npz`.
pub(crate) fn classify(zip: &ZipArchive<'_>) -> Result<ZipKind, ErrorKind> {
    let pickles: Vec<&str> = zip
        .entries()
        .iter()
        .filter_map(|e| e.name.strip_suffix("data.pkl"))
        .filter(|p| p.ends_with('/') && p.matches('/').count() == 1)
        .collect();
    match pickles.as_slice() {
        [prefix] => {
            let kind = if zip.find(&format!("{prefix}constants.pkl")).is_some() {
                TorchKind::Script
            } else {
                TorchKind::Save
            };
            Ok(ZipKind::Torch {
                prefix: prefix.to_string(),
                kind,
            })
        }
        [] if zip.entries().iter().any(|e| e.name.ends_with(".npy")) => Ok(ZipKind::Npz),
        [] => Err(ErrorKind::InvalidHeader {
            format: "zip",
            detail: "archive holds neither a PyTorch checkpoint (<folder>/data.pkl) nor NumPy \
                     arrays (.npy members)"
                .to_string(),
        }),
        many => Err(ErrorKind::InvalidHeader {
            format: "PyTorch",
            detail: format!("archive holds {} data.pkl members", many.len()),
        }),
    }
}

/// Reads a zip-based weight file under a default budget of its own (tests).
#[cfg(test)]
pub(crate) fn read_zip(buf: &[u8], path: &Path) -> Result<ParsedFile, ErrorKind> {
    read_zip_in(buf, path, &Budget::default())
}

/// Reads a zip-based weight file: a `torch.save` checkpoint, a TorchScript archive or
/// a NumPy `.npz`. The metadata entry `archive` says which. Inflated members and gathered
/// views are charged to `budget`.
pub(crate) fn read_zip_in(
    buf: &[u8],
    _path: &Path,
    budget: &Budget,
) -> Result<ParsedFile, ErrorKind> {
    let zip = ZipArchive::parse(buf)?;
    let kind = classify(&zip)?;
    // Every deflated member together must fit before the first is inflated: a bomb of many
    // members, each under the per-member cap, is refused at once, not after gigabytes.
    let inflated = zip
        .entries()
        .iter()
        .filter(|e| e.method != 0)
        .fold(0u64, |a, e| a.saturating_add(e.size));
    budget.check(inflated)?;
    match kind {
        ZipKind::Torch { prefix, kind } => torch::parse(&zip, &prefix, kind, budget),
        ZipKind::Npz => numpy::parse_npz(&zip, budget),
    }
}

/// Pickles of a legacy `torch.save` file before its raw storages: magic number, protocol,
/// system info, the object, the storage keys.
const LEGACY_PICKLES: usize = 5;

/// Reads a file that starts like a pickle (protocol 2-5) with the restricted machine: a
/// pickle that would run code is a security finding naming the global; otherwise the
/// legacy (non-zip) `torch.save` format is refused with advice, and any other pickle is
/// not a weight file we know.
pub(crate) fn read_pickle(buf: &[u8], _path: &Path) -> Result<ParsedFile, ErrorKind> {
    let policy = pickle::Policy {
        torchscript_classes: false,
    };
    if torch::is_legacy(buf) {
        let mut pos = 0;
        for _ in 0..LEGACY_PICKLES {
            let rest = buf.get(pos..).unwrap_or(&[]);
            match pickle::unpickle_prefix(rest, policy) {
                Ok((_, end)) => pos += end,
                Err(e) if e.finding.is_some() => return Err(pickle::error_kind(e, "pickle", "")),
                Err(_) => break,
            }
        }
        return Err(torch::legacy_error());
    }
    match pickle::unpickle(buf, policy) {
        Err(e) if e.finding.is_some() => Err(pickle::error_kind(e, "pickle", "")),
        _ => Err(ErrorKind::InvalidHeader {
            format: "PyTorch",
            detail: "a bare pickle is not a weight file; PyTorch checkpoints are zip archives"
                .to_string(),
        }),
    }
}

/// Fixture checks shared by the PyTorch and NumPy tests.
#[cfg(test)]
pub(crate) mod testing {
    use std::collections::BTreeMap;

    use crate::parsed::{ParsedFile, TensorData};

    /// Bytes of a fixture under the repository's `fixtures/`.
    pub(crate) fn fixture(rel: &str) -> Vec<u8> {
        let p = format!("{}/../../fixtures/{rel}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    /// The bytes of a tensor's data, given the parsed buffer and the parse.
    pub(crate) fn data<'a>(buf: &'a [u8], raw: &'a ParsedFile, d: &'a TensorData) -> &'a [u8] {
        match d {
            TensorData::Mapped(r) => &buf[r.clone()],
            TensorData::Owned(v) => v,
            TensorData::Shared { buffer, range } => &raw.buffers[*buffer][range.clone()],
            TensorData::External { .. } => panic!("no external data here"),
        }
    }

    /// Decodes every tensor of `raw` to f32 and compares it bit for bit, with its
    /// shape and name, to `<expected>.expected.safetensors`.
    pub(crate) fn assert_matches_expected(buf: &[u8], raw: &ParsedFile, expected: &str) {
        let exp_bytes = fixture(&format!("{expected}.expected.safetensors"));
        let exp = safetensors::SafeTensors::deserialize(&exp_bytes).unwrap();
        let mut want: BTreeMap<String, (Vec<usize>, Vec<f32>)> = BTreeMap::new();
        for (name, view) in exp.tensors() {
            let vals = view
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            want.insert(name, (view.shape().to_vec(), vals));
        }
        let got: Vec<&str> = raw.tensors.iter().map(|t| t.name.as_str()).collect();
        let mut sorted = got.clone();
        sorted.sort_unstable();
        let names: Vec<&str> = want.keys().map(|s| s.as_str()).collect();
        assert_eq!(sorted, names, "{expected}: tensor names");
        for t in &raw.tensors {
            let (shape, vals) = &want[&t.name];
            assert_eq!(&t.shape, shape, "{expected}: shape of {}", t.name);
            let bytes = data(buf, raw, &t.data);
            let n: usize = t.shape.iter().product();
            assert_eq!(Some(bytes.len()), t.dtype.byte_len(n), "{}", t.name);
            let mut out = vec![0f32; n];
            t.dtype.decode_f32(bytes, &mut out).unwrap();
            let a: Vec<u32> = out.iter().map(|f| f.to_bits()).collect();
            let b: Vec<u32> = vals.iter().map(|f| f.to_bits()).collect();
            assert_eq!(a, b, "{expected}: values of {} ({})", t.name, t.dtype);
        }
    }
}
