//! The folder walk: every regular file looked at by its bytes; links, special files and
//! unreadable entries reported; OCI layout folders and sharded checkpoints recognized.
//!
//! Rules:
//! - Folders are entered at most [`MAX_DIR_DEPTH`] deep; `.git` folders are not entered
//!   (a git-lfs clone keeps a second copy of every weight file there), as mlprov-formats.
//! - A symbolic link is never followed. One whose target resolves inside a walked root is
//!   skipped silently (the target is walked anyway); one leaving every root is reported;
//!   a dangling one is skipped. A root given as a link is followed (the user named it).
//! - FIFOs, sockets and devices are reported, never opened; files are opened with
//!   `O_NONBLOCK | O_NOFOLLOW` and checked to be regular before a byte is read.
//! - A folder holding `*.safetensors.index.json` gives one unit per index: the index and
//!   the shards it lists that are present (`local` is the folder; `files` lists exactly
//!   the unit's files, since the folder may hold other weight files too).

use std::fs;
use std::path::Path;

use mlprov_formats::Sniffed;

use crate::classify::is_shard_index;
use crate::content::{read_capped, shard_names, MAX_INDEX_BYTES};
use crate::found::{ProblemKind, Unit, UnitFile};
use crate::image::is_oci_layout;
use crate::names::{resolve, safe_relative};
use crate::source::open_regular;
use crate::walker::{Flow, Walker};

/// Deepest folder entered.
pub(crate) const MAX_DIR_DEPTH: usize = 256;

fn shown(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

impl Walker<'_> {
    /// Walks one root: a folder, a file, or a link to either.
    pub(crate) fn walk_root(&mut self, root: &Path) -> Flow {
        match fs::metadata(root) {
            Err(e) => self.unreadable(shown(root), &e),
            Ok(m) if m.is_dir() => self.walk_dir(root, 0),
            Ok(m) if m.is_file() => self.file(root, shown(root), 0, false),
            Ok(m) => self.problem(shown(root), ProblemKind::NotRegularFile, special(&m)),
        }
    }

    fn walk_dir(&mut self, dir: &Path, depth: usize) -> Flow {
        if depth > MAX_DIR_DEPTH {
            return self.problem(
                shown(dir),
                ProblemKind::TooDeep,
                format!("folder more than {MAX_DIR_DEPTH} levels deep: not entered"),
            );
        }
        if is_oci_layout(dir) {
            return self.image_folder(dir, &shown(dir));
        }
        let read = match fs::read_dir(dir) {
            Ok(r) => r,
            Err(e) => return self.unreadable(shown(dir), &e),
        };
        let mut entries = Vec::new();
        for entry in read {
            match entry.and_then(|e| Ok((e.file_name(), e.path(), e.file_type()?))) {
                Ok(e) => entries.push(e),
                Err(e) => self.unreadable(shown(dir), &e)?,
            }
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, path, ft) in &entries {
            if ft.is_file() && is_shard_index(&name.to_string_lossy()) {
                self.folder_shards(dir, path)?;
            }
        }
        for (name, path, ft) in entries {
            if ft.is_dir() {
                if name != ".git" {
                    self.walk_dir(&path, depth + 1)?;
                }
            } else if ft.is_symlink() {
                self.symlink(&path)?;
            } else if ft.is_file() {
                if !self.consumed.contains(&path) {
                    self.file(&path, shown(&path), 0, true)?;
                }
            } else {
                let why =
                    fs::symlink_metadata(&path).map_or_else(|e| e.to_string(), |m| special(&m));
                self.problem(shown(&path), ProblemKind::NotRegularFile, why)?;
            }
        }
        Ok(())
    }

    fn symlink(&mut self, path: &Path) -> Flow {
        let Ok(target) = fs::canonicalize(path) else {
            return Ok(()); // dangling: nothing to read
        };
        if self.roots.iter().any(|r| target.starts_with(r)) {
            return Ok(());
        }
        self.problem(
            shown(path),
            ProblemKind::LinkLeavesTree,
            format!(
                "symbolic link to {}, outside the walked folders: not followed",
                target.display()
            ),
        )
    }

    /// A sharded checkpoint in a folder: one unit of the index and its present shards.
    fn folder_shards(&mut self, dir: &Path, index: &Path) -> Flow {
        let bytes = match open_regular(index, true)
            .and_then(|mut f| read_capped(&mut f, MAX_INDEX_BYTES))
        {
            Ok(b) => b,
            Err(e) => return self.unreadable(shown(index), &e),
        };
        let names = match shard_names(&bytes) {
            Ok(n) => n,
            Err(msg) => {
                return self.problem(
                    shown(index),
                    ProblemKind::ShardIndex,
                    format!("{msg}; its shards are reported one by one"),
                )
            }
        };
        let size = |p: &Path| {
            fs::symlink_metadata(p)
                .ok()
                .filter(|m| m.is_file())
                .map(|m| m.len())
        };
        let mut files = vec![UnitFile {
            display: shown(index),
            local: index.to_path_buf(),
            bytes: bytes.len() as u64,
        }];
        for name in names {
            let Some(rel) = resolve("", &name).and_then(|r| safe_relative(&r)) else {
                continue;
            };
            let path = dir.join(rel);
            if let Some(bytes) = size(&path) {
                self.consumed.insert(path.clone());
                files.push(UnitFile {
                    display: shown(&path),
                    local: path,
                    bytes,
                });
            }
        }
        if files.len() == 1 {
            return Ok(());
        }
        let bytes = files.iter().map(|f| f.bytes).sum();
        // The shards are not looked at again on their own: counted here.
        self.count(crate::found::Counter::Files, files.len() as u64 - 1);
        self.count(crate::found::Counter::Bytes, bytes - files[0].bytes);
        self.unit(Unit {
            display: shown(dir),
            local: dir.to_path_buf(),
            format: Sniffed::Safetensors,
            files,
            bytes,
            within_archive: false,
        })
    }
}

/// What kind of special file `m` is.
fn special(m: &fs::Metadata) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = m.file_type();
        let what = if t.is_fifo() {
            "a FIFO"
        } else if t.is_socket() {
            "a socket"
        } else if t.is_block_device() || t.is_char_device() {
            "a device"
        } else {
            "not a regular file"
        };
        format!("{what}: never opened")
    }
    #[cfg(not(unix))]
    {
        let _ = m;
        "not a regular file: never opened".to_string()
    }
}
