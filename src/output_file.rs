//! Writing an output file so that an interrupted or failed run never leaves a half-written
//! file in place of the user's, and never writes through a planted link: the bytes go to a
//! new file with a random name created exclusively in the target's folder (`tempfile`:
//! `O_CREAT | O_EXCL`, so an existing name or symlink is never opened), then are renamed over
//! the target.

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// Refuses to replace an existing `target` (or a dangling link there) unless `force`.
pub fn check_target(target: &Path, force: bool) -> Result<()> {
    if !force && target.symlink_metadata().is_ok() {
        return Err(Error::Exists {
            path: target.to_path_buf(),
        });
    }
    Ok(())
}

/// Calls `write` with a fresh temporary path next to `target`, then renames it into place;
/// returns what `write` returned. On any error the temporary file is removed.
pub fn replace_with<T>(target: &Path, write: impl FnOnce(&Path) -> Result<T>) -> Result<T> {
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = target
        .file_name()
        .ok_or_else(|| Error::input(target, "not a file path"))?;
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{}.", name.to_string_lossy()))
        .suffix(".part")
        .tempfile_in(dir)
        .map_err(|e| Error::io(target, "cannot write", e))?;
    let value = write(tmp.path())?;
    tmp.persist(target)
        .map_err(|e| Error::io(target, "cannot write", e.error))?;
    Ok(value)
}

/// Writes `bytes` to `target` atomically (synced before the rename).
pub fn write_bytes(target: &Path, bytes: &[u8]) -> Result<()> {
    replace_with(target, |tmp| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(tmp)
            .map_err(|e| Error::io(target, "cannot write", e))?;
        f.write_all(bytes)
            .and_then(|()| f.sync_all())
            .map_err(|e| Error::io(target, "cannot write", e))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_atomically_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.json");
        write_bytes(&target, b"one").unwrap();
        assert!(check_target(&target, false).is_err());
        write_bytes(&target, b"two").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_failed_write_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.json");
        write_bytes(&target, b"old").unwrap();
        let r: Result<()> = replace_with(&target, |_| Err(Error::input("x", "failed")));
        assert!(r.is_err());
        assert_eq!(std::fs::read(&target).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn a_planted_symlink_is_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let target = dir.path().join("out.json");
        std::os::unix::fs::symlink(&victim, &target).unwrap();
        assert!(check_target(&target, false).is_err());
        write_bytes(&target, b"manifest").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert_eq!(std::fs::read(&target).unwrap(), b"manifest");
    }
}
