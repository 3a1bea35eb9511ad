//! Comparing a model as it is now with the manifest written for it.

use std::collections::BTreeMap;

use mlprov_hash::{Digest, ModelDigest, TensorDigest};
use serde::Serialize;

use crate::manifest::{Manifest, TensorEntry};

/// How one file or tensor compares with the manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Same digest.
    Ok,
    /// Present on both sides with different content (or unreadable now).
    Changed,
    /// In the manifest, not on disk.
    Missing,
    /// On disk, not in the manifest.
    Extra,
    /// Same content under another name (tensors only).
    Renamed,
}

/// The check of one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileCheck {
    /// Path relative to the model root.
    pub path: String,
    /// Outcome.
    pub status: Status,
    /// Digest recorded in the manifest.
    pub expected: Option<Digest>,
    /// Digest of the file now.
    pub actual: Option<Digest>,
    /// Why the file could not be read, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// A tensor that differs from the manifest (only files present on both sides are compared
/// tensor by tensor; a missing or extra file implies all its tensors).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TensorCheck {
    /// File path.
    pub file: String,
    /// Tensor name now (or in the manifest, when missing).
    pub name: String,
    /// Outcome (never `ok`).
    pub status: Status,
    /// For `renamed`: the name in the manifest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renamed_from: Option<String>,
    /// Digest recorded in the manifest.
    pub expected: Option<Digest>,
    /// Digest now.
    pub actual: Option<Digest>,
}

/// The model-level check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RootCheck {
    /// Root recorded in the manifest.
    pub expected: Digest,
    /// Root now (over the readable files).
    pub actual: Digest,
    /// Whether they are equal.
    pub matches: bool,
}

/// Everything that differs between a manifest and a model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Every file on either side.
    pub files: Vec<FileCheck>,
    /// Tensors that differ.
    pub tensors: Vec<TensorCheck>,
    /// The Merkle root.
    pub root: RootCheck,
}

impl VerifyReport {
    /// True when every file and tensor matches.
    pub fn is_ok(&self) -> bool {
        self.root.matches
            && self.tensors.is_empty()
            && self.files.iter().all(|f| f.status == Status::Ok)
    }
}

/// Compares `actual` (and files that failed to open, with their error text) with `manifest`.
pub fn verify(
    manifest: &Manifest,
    actual: &ModelDigest,
    unreadable: &[(String, String)],
) -> VerifyReport {
    let expected_files: BTreeMap<&str, Digest> = manifest
        .files
        .iter()
        .map(|f| (f.path.as_str(), f.digest))
        .collect();
    let actual_files: BTreeMap<&str, _> =
        actual.files.iter().map(|f| (f.path.as_str(), f)).collect();
    let broken: BTreeMap<&str, &str> = unreadable
        .iter()
        .map(|(p, e)| (p.as_str(), e.as_str()))
        .collect();

    let mut paths: Vec<&str> = expected_files
        .keys()
        .chain(actual_files.keys())
        .chain(broken.keys())
        .copied()
        .collect();
    paths.sort_unstable();
    paths.dedup();

    let mut files = Vec::new();
    let mut tensors = Vec::new();
    for path in paths {
        let expected = expected_files.get(path).copied();
        let now = actual_files.get(path);
        let (status, problem) = match (expected, now, broken.get(path)) {
            (Some(_), None, Some(err)) => (Status::Changed, Some(err.to_string())),
            (None, None, Some(err)) => (Status::Extra, Some(err.to_string())),
            (Some(_), None, None) => (Status::Missing, None),
            (None, Some(_), _) => (Status::Extra, None),
            (Some(e), Some(a), _) if a.digest == e => (Status::Ok, None),
            (Some(_), Some(_), _) => (Status::Changed, None),
            (None, None, None) => continue,
        };
        if let (Some(_), Some(a)) = (expected, now) {
            let recorded: Vec<&TensorEntry> =
                manifest.tensors.iter().filter(|t| t.file == path).collect();
            tensors.extend(compare_tensors(path, &recorded, &a.tensors));
        }
        files.push(FileCheck {
            path: path.to_string(),
            status,
            expected,
            actual: now.map(|a| a.digest),
            problem,
        });
    }
    VerifyReport {
        files,
        tensors,
        root: RootCheck {
            expected: manifest.merkle_root,
            actual: actual.root,
            matches: manifest.merkle_root == actual.root,
        },
    }
}

fn compare_tensors(
    file: &str,
    recorded: &[&TensorEntry],
    now: &[TensorDigest],
) -> Vec<TensorCheck> {
    let old: BTreeMap<&str, Digest> = recorded
        .iter()
        .map(|t| (t.name.as_str(), t.digest))
        .collect();
    let new: BTreeMap<&str, Digest> = now.iter().map(|t| (t.name.as_str(), t.digest)).collect();
    let check = |name: &str, status, expected, actual| TensorCheck {
        file: file.to_string(),
        name: name.to_string(),
        status,
        renamed_from: None,
        expected,
        actual,
    };
    let mut out = Vec::new();
    let mut missing: Vec<(&str, Digest)> = Vec::new();
    for (&name, &e) in &old {
        match new.get(name) {
            Some(&a) if a == e => {}
            Some(&a) => out.push(check(name, Status::Changed, Some(e), Some(a))),
            None => missing.push((name, e)),
        }
    }
    for (&name, &a) in &new {
        if old.contains_key(name) {
            continue;
        }
        // Same content under a new name: a rename, not a loss and a gain.
        if let Some(pos) = missing.iter().position(|(_, d)| *d == a) {
            let (from, e) = missing.remove(pos);
            let mut c = check(name, Status::Renamed, Some(e), Some(a));
            c.renamed_from = Some(from.to_string());
            out.push(c);
        } else {
            out.push(check(name, Status::Extra, None, Some(a)));
        }
    }
    out.extend(
        missing
            .into_iter()
            .map(|(name, e)| check(name, Status::Missing, Some(e), None)),
    );
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}
