//! A whole file as one record: image, audio and document datasets. The bytes are read
//! (decompressed if the file is gzip or zstd) and handed on as they are; the record's
//! canonical form decides text, image or other bytes.

use std::io::Read;

use mlprov_hash::Digest;

use super::{stream, Batcher, DataFile, RawContent, Sink};
use crate::error::{Error, Result};

/// Largest single file read as a record (its bytes are held in memory while hashed).
pub const MAX_FILE_RECORD: u64 = 1 << 30;

pub(crate) fn read(file: &DataFile, sink: &dyn Sink) -> Result<Digest> {
    if file.size > MAX_FILE_RECORD {
        return Err(Error::input(
            &file.path,
            format!(
                "{} bytes is more than the {} a whole-file record may hold",
                file.size, MAX_FILE_RECORD
            ),
        ));
    }
    let (reader, hashed) = stream::open(file, sink)?;
    let mut bytes = Vec::with_capacity(file.size as usize);
    reader
        .take(MAX_FILE_RECORD + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(&file.path, e))?;
    if bytes.len() as u64 > MAX_FILE_RECORD {
        return Err(Error::input(&file.path, "decompresses to more than 1 GiB"));
    }
    let mut batcher = Batcher::new(file, sink);
    batcher.push(1, RawContent::Bytes(bytes))?;
    batcher.flush()?;
    hashed.finish(file, sink)
}
