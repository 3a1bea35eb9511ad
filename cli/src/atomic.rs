//! Writing an output file so that an interrupted or failed run never leaves a half-written
//! file in place of the user's: write beside it under a temporary name, then rename.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// Refuses to replace an existing `target` unless `force`.
pub fn check_target(target: &Path, force: bool) -> Result<()> {
    if target.exists() && !force {
        bail!(
            "{}: already exists (pass --force to replace it)",
            target.display()
        );
    }
    Ok(())
}

/// Calls `write` with a temporary path next to `target`, then renames it into place;
/// returns what `write` returned.
pub fn replace_with<T>(target: &Path, write: impl FnOnce(&Path) -> Result<T>) -> Result<T> {
    let tmp = temporary_path(target)?;
    let result = write(&tmp).and_then(|value| {
        fs::rename(&tmp, target)
            .with_context(|| format!("{}: cannot write", target.display()))
            .map(|()| value)
    });
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Writes `bytes` to `target` atomically (synced before the rename).
pub fn write_bytes(target: &Path, bytes: &[u8]) -> Result<()> {
    replace_with(target, |tmp| {
        use std::io::Write;
        let mut f =
            fs::File::create(tmp).with_context(|| format!("{}: cannot write", target.display()))?;
        f.write_all(bytes)?;
        f.sync_all()?;
        Ok(())
    })
}

fn temporary_path(target: &Path) -> Result<PathBuf> {
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = target
        .file_name()
        .with_context(|| format!("{}: not a file path", target.display()))?;
    Ok(dir.join(format!(
        ".{}.{}.part",
        name.to_string_lossy(),
        std::process::id()
    )))
}
