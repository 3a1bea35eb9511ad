//! `verify`: re-hash a model and report every difference from its manifest.

use std::path::{Path, PathBuf};

use mlprov_formats::{open_model, Layout, Model, OpenOptions};
use mlprov_manifest::{Manifest, VerifyReport};

use crate::error::{Error, Result};
use crate::progress::Progress;

/// Largest manifest read: a manifest of a 7B-class model (about 300 tensors) is about
/// 200 KiB; one of a sharded checkpoint of thousands of tensors a few MiB.
pub const MAX_MANIFEST_BYTES: u64 = 64 << 20;

/// The outcome of [`verify`].
#[derive(Debug)]
pub struct Verification {
    /// The manifest checked against.
    pub manifest: Manifest,
    /// The model (file or folder) that was checked.
    pub target: PathBuf,
    /// Files left out of the model because they are not weight files.
    pub skipped: Vec<mlprov_formats::Skipped>,
    /// Every difference.
    pub report: VerifyReport,
}

impl Verification {
    /// No difference at all.
    pub fn is_ok(&self) -> bool {
        self.report.is_ok()
    }
}

/// Reads a manifest file (a regular file of at most [`MAX_MANIFEST_BYTES`]; a FIFO or a
/// device is refused without blocking).
pub fn read_manifest(path: &Path) -> Result<Manifest> {
    let bytes = mlprov_formats::read_regular_file(path, MAX_MANIFEST_BYTES)?;
    let text = String::from_utf8(bytes).map_err(|_| Error::input(path, "not UTF-8 text"))?;
    Manifest::parse(&text).map_err(|source| Error::Manifest {
        path: path.to_path_buf(),
        source,
    })
}

/// Re-hashes the model at `path` (by default the manifest's subject next to the manifest)
/// and compares it with the manifest. A damaged weight file is a difference, not an error.
/// The model is opened with `options` (its memory budget; `keep_going` is always set).
pub fn verify(
    manifest_path: &Path,
    path: Option<&Path>,
    options: OpenOptions,
    progress: &dyn Progress,
) -> Result<Verification> {
    let manifest = read_manifest(manifest_path)?;
    let target: PathBuf = match path {
        Some(p) => p.to_path_buf(),
        None => subject_beside(manifest_path, &manifest.subject.name)?,
    };
    verify_against(manifest, target, options, progress)
}

/// Re-hashes the model at `target` and compares it with `manifest` (already read).
pub(crate) fn verify_against(
    manifest: Manifest,
    target: PathBuf,
    options: OpenOptions,
    progress: &dyn Progress,
) -> Result<Verification> {
    if !target.exists() {
        return Err(Error::input(
            &target,
            "model not found (give its path after the manifest)",
        ));
    }
    let mut model = open_model(
        &target,
        OpenOptions {
            keep_going: true,
            ..options
        },
    )?;
    apply_single_file_rename(&mut model, &manifest);
    let mut digests = crate::hash_unchecked(&model, false, progress);
    let mut unreadable: Vec<(String, String)> = model
        .unreadable
        .iter()
        .map(|u| (u.rel_path.clone(), u.error.kind.to_string()))
        .collect();
    // A file that changed while it was hashed is a difference (its digest means nothing).
    let changed: Vec<(String, String)> = model
        .files
        .iter()
        .filter_map(|f| {
            let err = f.file.check_unchanged().err()?;
            Some((f.rel_path.clone(), err.kind.to_string()))
        })
        .collect();
    if !changed.is_empty() {
        let files = std::mem::take(&mut digests.files)
            .into_iter()
            .filter(|d| !changed.iter().any(|(p, _)| *p == d.path))
            .collect();
        digests = mlprov_hash::ModelDigest::from_files(files);
        unreadable.extend(changed);
    }
    let report = mlprov_manifest::verify(&manifest, &digests, &unreadable);
    Ok(Verification {
        manifest,
        target,
        skipped: std::mem::take(&mut model.skipped),
        report,
    })
}

/// The model a manifest describes when no path is given: its subject, in the manifest's own
/// folder. A subject name that is not one plain file or folder name (`../x`, `/etc`, `a/b`)
/// would send the check to another tree, so it is refused.
pub(crate) fn subject_beside(manifest_path: &Path, name: &str) -> Result<PathBuf> {
    let mut parts = Path::new(name).components();
    match (parts.next(), parts.next()) {
        (Some(std::path::Component::Normal(_)), None) => {}
        _ => {
            return Err(Error::input(
                manifest_path,
                format!(
                    "its subject `{name}` is not a name in the manifest's folder; \
                     give the model's path after the manifest"
                ),
            ))
        }
    }
    let folder = match manifest_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Ok(folder.join(name))
}

/// The rename rule: a single file is compared with the manifest's single file whatever it
/// is called now (a renamed copy of a licensed file is still that file).
fn apply_single_file_rename(model: &mut Model, manifest: &Manifest) {
    if model.layout == Layout::File
        && manifest.subject.layout == "file"
        && manifest.files.len() == 1
    {
        let recorded = &manifest.files[0].path;
        model
            .files
            .iter_mut()
            .for_each(|f| f.rel_path = recorded.clone());
        model
            .unreadable
            .iter_mut()
            .for_each(|f| f.rel_path = recorded.clone());
    }
}
