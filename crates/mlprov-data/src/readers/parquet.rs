//! Apache Parquet through the `parquet` crate's record API (no Arrow): one record per row,
//! `--field` reads one column by name, row groups are read in parallel (each through its
//! own file handle). Only one row group's pages per thread are in memory at a time.

use std::fs::File;
use std::panic::{catch_unwind, AssertUnwindSafe};

use mlprov_hash::Digest;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use parquet::schema::types::Type;
use rayon::prelude::*;

use super::{stream, Batcher, DataFile, RawContent, ReadOptions, Sink};
use crate::error::{Error, Result};

pub(crate) fn read(file: &DataFile, opts: &ReadOptions, sink: &dyn Sink) -> Result<Digest> {
    let f = File::open(&file.path).map_err(|e| Error::io(&file.path, e))?;
    let reader = SerializedFileReader::new(f)
        .map_err(|e| Error::input(&file.path, format!("not a readable Parquet file: {e}")))?;
    let meta = reader.metadata();
    let schema = meta.file_metadata().schema();
    let projection = match &opts.field {
        Some(name) => {
            let field = schema
                .get_fields()
                .iter()
                .find(|f| f.name() == name)
                .ok_or_else(|| {
                    let names: Vec<&str> = schema.get_fields().iter().map(|f| f.name()).collect();
                    Error::input(
                        &file.path,
                        format!("no column `{name}` (columns: {})", names.join(", ")),
                    )
                })?;
            Some(
                Type::group_type_builder(schema.name())
                    .with_fields(vec![field.clone()])
                    .build()
                    .map_err(|e| Error::input(&file.path, e.to_string()))?,
            )
        }
        None => None,
    };
    // The first row number of each row group.
    let mut starts = Vec::with_capacity(meta.num_row_groups());
    let mut next = 0u64;
    for g in meta.row_groups() {
        starts.push(next);
        next = next.saturating_add(u64::try_from(g.num_rows()).unwrap_or(0));
    }
    let digest = stream::plain_digest(file, &NoBytes(sink))?;
    starts.par_iter().enumerate().try_for_each(|(g, &start)| {
        // Each row group through its own file handle: handles cloned from one `File`
        // share one offset, so parallel reads through a shared reader would interleave.
        let run = || {
            let f = File::open(&file.path).map_err(|e| Error::io(&file.path, e))?;
            let own = SerializedFileReader::new(f).map_err(|e| {
                Error::input(&file.path, format!("not a readable Parquet file: {e}"))
            })?;
            read_group(file, &own, g, start, projection.clone(), sink)
        };
        catch_unwind(AssertUnwindSafe(run)).unwrap_or_else(|_| {
            Err(Error::input(
                &file.path,
                format!("row group {g}: the Parquet decoder failed on malformed data"),
            ))
        })
    })?;
    Ok(digest)
}

/// Forwards batches but not bytes: a Parquet file's progress is counted per row group.
struct NoBytes<'a>(&'a dyn Sink);

impl Sink for NoBytes<'_> {
    fn batch(&self, file: &DataFile, records: Vec<super::RawRecord>) -> Result<()> {
        self.0.batch(file, records)
    }
}

fn read_group(
    file: &DataFile,
    reader: &SerializedFileReader<File>,
    g: usize,
    start: u64,
    projection: Option<Type>,
    sink: &dyn Sink,
) -> Result<()> {
    let bad = |row: u64, e: &dyn std::fmt::Display| Error::record(&file.path, row, e.to_string());
    let group = reader
        .get_row_group(g)
        .map_err(|e| Error::input(&file.path, format!("row group {g}: {e}")))?;
    let field_mode = projection.is_some();
    let rows = group
        .get_row_iter(projection)
        .map_err(|e| Error::input(&file.path, format!("row group {g}: {e}")))?;
    let mut batcher = Batcher::new(file, sink);
    for (i, row) in rows.enumerate() {
        let index = start + i as u64 + 1;
        let row = row.map_err(|e| bad(index, &e))?;
        let content = if field_mode {
            match row.get_column_iter().next() {
                Some((_, Field::Str(s))) => RawContent::Text(s.clone()),
                Some((_, other)) => RawContent::Json(other.to_json_value()),
                None => RawContent::Json(serde_json::Value::Null),
            }
        } else {
            RawContent::Json(row.to_json_value())
        };
        batcher.push(index, content)?;
    }
    batcher.flush()?;
    sink.bytes(
        reader
            .metadata()
            .row_group(g)
            .compressed_size()
            .try_into()
            .unwrap_or(0),
    );
    Ok(())
}
