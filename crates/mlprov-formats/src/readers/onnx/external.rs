//! External data: tensor bytes in files beside the model, confined to the model's folder.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Component, Path, PathBuf};

use crate::error::ErrorKind;
use crate::parsed::TensorData;

use super::fields::invalid;

/// The model's folder and the external files resolved so far (each checked once).
pub(super) struct ExternalFiles {
    dir: PathBuf,
    canonical_dir: Option<PathBuf>,
    /// `location` as written → (canonical path, length in bytes).
    files: BTreeMap<String, (PathBuf, u64)>,
}

impl ExternalFiles {
    pub fn new(model_path: &Path) -> Self {
        let dir = match model_path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        ExternalFiles {
            dir,
            canonical_dir: None,
            files: BTreeMap::new(),
        }
    }

    /// Every `location` used, as written in the model, sorted.
    pub fn locations(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    /// Resolves a tensor's `external_data` entries (`location`, `offset`, `length`) to a byte
    /// range of a file inside the model's folder, holding exactly `nbytes` bytes.
    pub fn resolve(
        &mut self,
        what: &str,
        entries: &[(&str, &str)],
        nbytes: usize,
    ) -> Result<TensorData, ErrorKind> {
        let mut location = None;
        let mut offset = None;
        let mut length = None;
        for &(key, value) in entries {
            let slot = match key {
                "location" => &mut location,
                "offset" => &mut offset,
                "length" => &mut length,
                // checksum (SHA-1 of the file) and unknown keys do not locate anything.
                _ => continue,
            };
            if slot.replace(value).is_some() {
                return Err(invalid(format!(
                    "{what} repeats the external_data key `{key}`"
                )));
            }
        }
        let location = location
            .ok_or_else(|| invalid(format!("{what} is stored externally but has no `location`")))?;
        let number = |key: &str, v: Option<&str>| -> Result<Option<u64>, ErrorKind> {
            v.map(|s| {
                decimal(s).ok_or_else(|| {
                    invalid(format!(
                        "{what}: external_data `{key}` is {s:?}, not a decimal byte count"
                    ))
                })
            })
            .transpose()
        };
        let offset = number("offset", offset)?.unwrap_or(0);
        let length = number("length", length)?;
        let (path, file_len) = self.file(what, location)?;
        // Without `length` the tensor is the bytes its dims need, from `offset`.
        let length = length.unwrap_or(nbytes as u64);
        if length != nbytes as u64 {
            return Err(invalid(format!(
                "{what}: external_data length {length} differs from the {nbytes} bytes its dims need"
            )));
        }
        let end = offset.checked_add(length).filter(|&e| e <= file_len);
        let Some(end) = end else {
            return Err(ErrorKind::Truncated(format!(
                "{what}: external data {location:?} bytes {offset}..{} lie past its end ({file_len} bytes)",
                offset as u128 + length as u128
            )));
        };
        Ok(TensorData::External {
            path,
            range: offset..end,
        })
    }

    /// The canonical path and length of `location`, checked to stay inside the model's folder.
    fn file(&mut self, what: &str, location: &str) -> Result<(PathBuf, u64), ErrorKind> {
        if let Some((p, n)) = self.files.get(location) {
            return Ok((p.clone(), *n));
        }
        let refuse = |why: &str| {
            invalid(format!(
                "{what}: external data location {location:?} {why}; it must be a relative path inside the model's folder"
            ))
        };
        if location.is_empty() {
            return Err(refuse("is empty"));
        }
        if location.contains('\0') {
            return Err(refuse("contains a NUL byte"));
        }
        // A backslash is a separator on Windows: `..\x` would escape there.
        if location.contains('\\') {
            return Err(refuse("contains a backslash"));
        }
        let rel = Path::new(location);
        for c in rel.components() {
            match c {
                Component::ParentDir => return Err(refuse("contains `..`")),
                Component::RootDir | Component::Prefix(_) => return Err(refuse("is absolute")),
                Component::CurDir | Component::Normal(_) => {}
            }
        }
        let canonical_dir = match &self.canonical_dir {
            Some(d) => d.clone(),
            None => {
                let d = fs::canonicalize(&self.dir).map_err(|e| {
                    invalid(format!(
                        "{what}: cannot resolve the model's folder {}: {e}",
                        self.dir.display()
                    ))
                })?;
                self.canonical_dir = Some(d.clone());
                d
            }
        };
        let path = fs::canonicalize(canonical_dir.join(rel)).map_err(|e| {
            invalid(format!(
                "{what}: cannot open external data file {location:?}: {e}"
            ))
        })?;
        // A symlink may point anywhere: the resolved file must still be inside the folder.
        if !path.starts_with(&canonical_dir) || path == canonical_dir {
            return Err(refuse(&format!(
                "resolves to {}, outside the model's folder",
                path.display()
            )));
        }
        let meta = fs::metadata(&path).map_err(|e| {
            invalid(format!(
                "{what}: cannot read external data file {location:?}: {e}"
            ))
        })?;
        if !meta.is_file() {
            return Err(refuse("is not a regular file"));
        }
        self.files
            .insert(location.to_string(), (path.clone(), meta.len()));
        Ok((path, meta.len()))
    }
}

/// A strict non-negative decimal: ASCII digits only, no sign or spaces, fits in u64.
fn decimal(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_strict() {
        assert_eq!(decimal("0"), Some(0));
        assert_eq!(decimal("4096"), Some(4096));
        assert_eq!(decimal("18446744073709551615"), Some(u64::MAX));
        for bad in [
            "",
            "+1",
            "-1",
            " 1",
            "1 ",
            "0x10",
            "1e3",
            "18446744073709551616",
        ] {
            assert_eq!(decimal(bad), None, "{bad:?}");
        }
    }
}
