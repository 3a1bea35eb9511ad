//! Which files make a dataset, and how each is read.
//!
//! A file is one dataset. A folder is either a sharded tabular dataset (Hugging Face style:
//! any JSON Lines, CSV, TSV or Parquet files in it, at any depth, compressed or not, read
//! as one dataset; other files such as `README.md` or `dataset_info.json` are left out),
//! or, when it holds none of those (or with `per_file`), a dataset of files: one record per
//! file (images, audio, documents). Hidden entries (names starting with `.`) are skipped;
//! symbolic links to files are followed (Hugging Face caches are made of them), links to
//! folders are not.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{DataFile, Format};
use crate::error::{Error, Result};

/// How to read a dataset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadOptions {
    /// The content field: a JSON key, a CSV/TSV column, a Parquet column; the whole record
    /// (as canonical JSON) when unset.
    pub field: Option<String>,
    /// Read every file in this format instead of going by extensions.
    pub format: Option<Format>,
    /// One record per file, whatever the files are.
    pub per_file: bool,
    /// Only the files of this split (a folder of that name, or files named `SPLIT-…`,
    /// `SPLIT_…` or `SPLIT.…`).
    pub split: Option<String>,
}

/// One slice of a dataset's files: files number `index`, `index + count`, ... of the
/// sorted listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// This slice, `0..count`.
    pub index: u32,
    /// Number of slices.
    pub count: u32,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("expected K/N with 0 <= K < N, got {s:?}");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let index: u32 = k.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

const COMPRESSED: &[&str] = &["gz", "zst", "zstd"];
/// Extensions that make a folder a tabular dataset.
const TABULAR: &[Format] = &[Format::Jsonl, Format::Csv, Format::Tsv, Format::Parquet];

/// The format a file name suggests (compression suffixes looked through).
fn format_of_name(name: &str) -> Option<Format> {
    let lower = name.to_ascii_lowercase();
    let mut parts = lower.rsplit('.');
    let mut ext = parts.next()?;
    if COMPRESSED.contains(&ext) {
        ext = parts.next()?;
    }
    if !lower.contains('.') {
        return None;
    }
    Format::from_extension(ext)
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, String, u64)>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        let link = entry.file_type().map_err(|e| Error::io(&path, e))?;
        let meta = std::fs::metadata(&path).map_err(|e| Error::io(&path, e))?;
        if meta.is_dir() {
            if !link.is_symlink() {
                walk(root, &path, out)?;
            }
        } else if meta.is_file() {
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            out.push((path, rel, meta.len()));
        }
    }
    Ok(())
}

fn in_split(rel: &str, split: &str) -> bool {
    let mut parts = rel.split('/').peekable();
    while let Some(p) = parts.next() {
        if parts.peek().is_some() {
            if p == split {
                return true;
            }
        } else {
            return [
                format!("{split}-"),
                format!("{split}_"),
                format!("{split}."),
            ]
            .iter()
            .any(|pre| p.starts_with(pre.as_str()));
        }
    }
    false
}

/// The files of the dataset at `path` (sorted by relative path), each with its format;
/// with `shard`, only that slice of them.
pub fn list_files(path: &Path, opts: &ReadOptions, shard: Option<Shard>) -> Result<Vec<DataFile>> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    let mut files = if meta.is_dir() {
        let mut found = Vec::new();
        walk(path, path, &mut found)?;
        found.sort_by(|a, b| a.1.cmp(&b.1));
        if let Some(split) = &opts.split {
            found.retain(|f| in_split(&f.1, split));
        }
        let tabular = |rel: &str| {
            let name = rel.rsplit('/').next().unwrap_or(rel);
            format_of_name(name).filter(|f| TABULAR.contains(f))
        };
        let any_tabular = found.iter().any(|f| tabular(&f.1).is_some());
        found
            .into_iter()
            .filter_map(|(p, rel, size)| {
                let format = if opts.per_file {
                    Format::File
                } else if let Some(f) = opts.format {
                    f
                } else if any_tabular {
                    tabular(&rel)?
                } else {
                    Format::File
                };
                Some(DataFile {
                    path: p,
                    rel,
                    format,
                    size,
                })
            })
            .collect::<Vec<_>>()
    } else {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        let format = if opts.per_file {
            Format::File
        } else {
            opts.format
                .or_else(|| format_of_name(&name))
                .unwrap_or(Format::TextLines)
        };
        let format = if format == Format::JsonArray {
            sniff_json(path)?
        } else {
            format
        };
        vec![DataFile {
            path: path.to_path_buf(),
            rel: name,
            format,
            size: meta.len(),
        }]
    };
    if files.is_empty() {
        return Err(Error::input(path, "no data files in this folder"));
    }
    if let Some(s) = shard {
        files = files
            .into_iter()
            .enumerate()
            .filter(|(i, _)| *i as u64 % u64::from(s.count) == u64::from(s.index))
            .map(|(_, f)| f)
            .collect();
    }
    Ok(files)
}

/// A `.json` file is a JSON array when its first non-blank byte is `[`, JSON Lines
/// otherwise (compressed files are taken as arrays only when named `.json` and so marked).
fn sniff_json(path: &Path) -> Result<Format> {
    use std::io::Read;
    let mut head = [0u8; 4096];
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let n = f.read(&mut head).map_err(|e| Error::io(path, e))?;
    let first = head[..n].iter().find(|b| !b.is_ascii_whitespace());
    Ok(match first {
        Some(b'[') => Format::JsonArray,
        Some(0x1f) | Some(0x28) => Format::JsonArray,
        _ => Format::Jsonl,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_splits() {
        assert_eq!(format_of_name("a.jsonl.zst"), Some(Format::Jsonl));
        assert_eq!(
            format_of_name("train-00000-of-00002.parquet"),
            Some(Format::Parquet)
        );
        assert_eq!(format_of_name("x.TSV.gz"), Some(Format::Tsv));
        assert_eq!(format_of_name("gz"), None);
        assert!(in_split("data/train-0000.parquet", "train"));
        assert!(in_split("train/0.jsonl", "train"));
        assert!(!in_split("data/test-0000.parquet", "train"));
        assert_eq!(
            "1/4".parse::<Shard>().unwrap(),
            Shard { index: 1, count: 4 }
        );
        assert!("4/4".parse::<Shard>().is_err());
    }
}
