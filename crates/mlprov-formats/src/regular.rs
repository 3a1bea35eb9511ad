//! Opening inputs without blocking: a FIFO or a device given as a model, a shard, an index
//! or a manifest would otherwise block `open(2)` (or every read) forever.

use std::fs::{self, File};
use std::path::Path;

use crate::error::{Error, ErrorKind};

/// Opens `path` for reading without blocking and checks it is a regular file before any
/// byte is read. `O_NONBLOCK` makes `open(2)` on a FIFO return at once; it has no effect
/// on reads of a regular file.
pub(crate) fn open_regular(path: &Path) -> Result<File, Error> {
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(|e| Error::io(path, e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(Error::new(path, ErrorKind::NotRegularFile));
    }
    Ok(file)
}

/// The whole of a regular file of at most `max` bytes, opened without blocking and checked
/// to be a regular file before any byte is read; a file that grows past `max` while read
/// is refused.
pub fn read_regular_file(path: &Path, max: u64) -> Result<Vec<u8>, Error> {
    use std::io::Read;
    let file = open_regular(path)?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let too_big = |n: u64| Error::new(path, ErrorKind::TooLarge { len: n, max });
    if len > max {
        return Err(too_big(len));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > max {
        return Err(too_big(bytes.len() as u64));
    }
    Ok(bytes)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_and_a_device_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("model.safetensors");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success());
        for p in [fifo.as_path(), Path::new("/dev/zero"), dir.path()] {
            let e = read_regular_file(p, 10).unwrap_err();
            assert!(
                matches!(e.kind, ErrorKind::NotRegularFile | ErrorKind::Io(_)),
                "{e}"
            );
        }
        let e = crate::open(&fifo).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        let e = crate::open("/dev/zero").unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
    }
}
