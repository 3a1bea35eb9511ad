//! The folder walk of a model directory: which entries are candidate weight files, and
//! which are reported instead of read.
//!
//! Rules (documented in the README):
//! - Every regular file is a candidate, dot-prefixed ones included; only `.git` folders are
//!   not entered (a git-lfs clone keeps a second copy of every weight file there).
//! - Folders are walked [`MAX_DEPTH`] levels deep; a folder deeper than that is reported as
//!   too deep, not walked.
//! - A symbolic link to a folder is never followed; it is reported as an entry the model
//!   (and so its manifest) does not cover.
//! - A symbolic link to a file is followed only if it resolves inside the model folder (or,
//!   for a Hugging Face cache snapshot `<repo>/snapshots/<rev>`, inside `<repo>`, where its
//!   `blobs/` are); one that leaves it is reported without being opened or read.
//! - File names that are not UTF-8 are named lossily (U+FFFD for bad bytes); files that
//!   are not weights are passed over by their content, whatever their names.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind};

/// Folder depth walked; a model layout is a few levels deep, and a deeper tree is reported.
pub(crate) const MAX_DEPTH: usize = 64;

/// What a walk found: candidate files and entries reported instead of read.
#[derive(Debug, Default)]
pub(crate) struct Walked {
    /// `(relative path, full path)` of every candidate file.
    pub files: Vec<(String, PathBuf)>,
    /// `(relative path, why)` of entries not read: folder symlinks, links leaving the
    /// model, folders too deep.
    pub reported: Vec<(String, Error)>,
}

/// Walks the model folder `root`.
pub(crate) fn walk_model(root: &Path) -> Result<Walked, Error> {
    let confine = confinement(root);
    let mut out = Walked::default();
    walk(root, confine.as_deref(), root, 0, &mut out)?;
    out.files.sort();
    out.reported.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// The folder file symlinks must resolve inside: the model folder, or the repository
/// folder of a Hugging Face cache snapshot. `None` if the root cannot be resolved.
fn confinement(root: &Path) -> Option<PathBuf> {
    let canonical = fs::canonicalize(root).ok()?;
    let parent = canonical.parent();
    let repo = parent.and_then(Path::parent);
    let is_snapshot = parent
        .and_then(Path::file_name)
        .is_some_and(|n| n == "snapshots")
        && repo
            .and_then(Path::file_name)
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("models--") || n.starts_with("datasets--"));
    match (is_snapshot, repo) {
        (true, Some(repo)) => Some(repo.to_path_buf()),
        _ => Some(canonical),
    }
}

fn walk(
    root: &Path,
    confine: Option<&Path>,
    dir: &Path,
    depth: usize,
    out: &mut Walked,
) -> Result<(), Error> {
    if depth > MAX_DEPTH {
        out.reported.push((
            rel_path(root, dir),
            Error::new(dir, ErrorKind::TooDeep(MAX_DEPTH)),
        ));
        return Ok(());
    }
    let entries = fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        let file_type = entry.file_type().map_err(|e| Error::io(&path, e))?;
        if file_type.is_dir() {
            if entry.file_name() != ".git" {
                walk(root, confine, &path, depth + 1, out)?;
            }
            continue;
        }
        let rel = rel_path(root, &path);
        if file_type.is_symlink() {
            match fs::metadata(&path) {
                Ok(m) if m.is_dir() => {
                    out.reported
                        .push((rel, Error::new(&path, ErrorKind::FolderSymlink)));
                    continue;
                }
                Ok(m) if m.is_file() => {
                    let inside = match (confine, fs::canonicalize(&path)) {
                        (Some(c), Ok(target)) => target.starts_with(c),
                        _ => false,
                    };
                    if !inside {
                        out.reported
                            .push((rel, Error::new(&path, ErrorKind::LinkLeavesModel)));
                        continue;
                    }
                }
                // A broken link named like a weight file is a problem to report (opening
                // it fails, naming it), not noise.
                Err(_) if has_weight_extension(&path) => {}
                _ => continue,
            }
        } else if !file_type.is_file() {
            continue; // FIFOs, sockets, devices: never opened
        }
        out.files.push((rel, path));
    }
    Ok(())
}

/// `path` relative to `root`, `/`-separated, non-UTF-8 bytes replaced by U+FFFD.
fn rel_path(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts.join("/")
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    #[test]
    fn hugging_face_snapshots_may_link_into_their_blobs_and_nowhere_else() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("models--org--m");
        let snap = repo.join("snapshots/abc123");
        fs::create_dir_all(&snap).unwrap();
        fs::create_dir_all(repo.join("blobs")).unwrap();
        fs::write(repo.join("blobs/f00d"), b"weights").unwrap();
        fs::write(dir.path().join("secret"), b"secret").unwrap();
        symlink("../../blobs/f00d", snap.join("model.safetensors")).unwrap();
        symlink("../../../secret", snap.join("leak.bin")).unwrap();
        symlink("../../blobs", snap.join("folder")).unwrap();
        let w = walk_model(&snap).unwrap();
        let files: Vec<&str> = w.files.iter().map(|(r, _)| r.as_str()).collect();
        assert_eq!(files, ["model.safetensors"]);
        let reported: Vec<(&str, String)> = w
            .reported
            .iter()
            .map(|(r, e)| (r.as_str(), e.kind.to_string()))
            .collect();
        assert_eq!(reported.len(), 2, "{reported:?}");
        assert!(reported[0].0 == "folder" && reported[0].1.contains("folder"));
        assert!(reported[1].0 == "leak.bin" && reported[1].1.contains("outside"));
        // The same link from an ordinary folder leaves it.
        let plain = dir.path().join("plain");
        fs::create_dir(&plain).unwrap();
        symlink(repo.join("blobs/f00d"), plain.join("model.safetensors")).unwrap();
        let w = walk_model(&plain).unwrap();
        assert!(w.files.is_empty() && w.reported.len() == 1);
    }

    #[test]
    fn dot_files_and_deep_folders_are_walked_to_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::write(root.join(".hidden.gguf"), b"x").unwrap();
        fs::create_dir_all(root.join(".git/lfs")).unwrap();
        fs::write(root.join(".git/lfs/blob"), b"x").unwrap();
        let deep = (0..MAX_DEPTH).fold(root.to_path_buf(), |p, _| p.join("d"));
        fs::create_dir_all(deep.join("d")).unwrap();
        fs::write(deep.join("last.bin"), b"x").unwrap();
        fs::write(deep.join("d/past.bin"), b"x").unwrap();
        let w = walk_model(root).unwrap();
        let files: Vec<&str> = w.files.iter().map(|(r, _)| r.as_str()).collect();
        assert_eq!(files.len(), 2, "{files:?}");
        assert!(files.contains(&".hidden.gguf"));
        assert!(files.iter().any(|f| f.ends_with("/last.bin")));
        assert_eq!(w.reported.len(), 1);
        assert!(matches!(
            w.reported[0].1.kind,
            ErrorKind::TooDeep(MAX_DEPTH)
        ));
    }
}

/// Extensions that promise a weight file: such a file must then open, not be skipped.
const WEIGHT_EXTENSIONS: &[&str] = &[
    "safetensors",
    "gguf",
    "ggml",
    "onnx",
    "pt",
    "pth",
    "bin",
    "npy",
    "npz",
];

/// Whether the file's extension promises a weight file.
pub(crate) fn has_weight_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| WEIGHT_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}
