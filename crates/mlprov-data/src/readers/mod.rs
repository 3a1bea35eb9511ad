//! Readers: every supported format behind one table. A reader streams a file's records in
//! batches to a [`Sink`], so memory stays bounded by the batch, whatever the file's size;
//! the sink canonicalizes and hashes each batch in parallel. Compressed inputs (`.gz`,
//! `.zst`, recognized by their magic bytes) are decompressed as a stream.

mod csv;
mod files;
mod json;
mod lines;
mod listing;
mod mapped;
mod parquet;
mod stream;
mod text;

use std::path::PathBuf;

use mlprov_hash::Digest;
use serde::{Deserialize, Serialize};

use crate::error::Result;

pub(crate) use lines::too_long as line_too_long;
pub use listing::{list_files, ReadOptions, Shard};
pub(crate) use mapped::{for_each_range, line_at, lines, map_uncompressed, RangeStart};

/// Records a batch holds at most before it is handed on.
pub(crate) const BATCH_RECORDS: usize = 2048;
/// Longest line of a line format (JSON Lines, text): memory per record is bounded.
pub(crate) const MAX_LINE: u64 = 256 << 20;
/// Bytes a batch holds at most before it is handed on.
pub(crate) const BATCH_BYTES: usize = 8 << 20;

/// A file format: how a file is split into records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// JSON Lines: one JSON value per line.
    Jsonl,
    /// One JSON array of records.
    JsonArray,
    /// Comma-separated values with a header row.
    Csv,
    /// Tab-separated values with a header row.
    Tsv,
    /// Apache Parquet: one record per row.
    Parquet,
    /// Plain text: one record per non-blank line.
    TextLines,
    /// A whole file is one record (text canonicalized, images and other bytes as they are).
    File,
}

/// The format table: name (as in `--format` and manifests) and file extensions.
pub const FORMATS: &[(Format, &str, &[&str])] = &[
    (Format::Jsonl, "jsonl", &["jsonl", "ndjson"]),
    (Format::JsonArray, "json", &["json"]),
    (Format::Csv, "csv", &["csv"]),
    (Format::Tsv, "tsv", &["tsv", "tab"]),
    (Format::Parquet, "parquet", &["parquet", "pq"]),
    (Format::TextLines, "text", &["txt", "text"]),
    (Format::File, "file", &[]),
];

impl Format {
    /// The name used in `--format` and in manifests.
    pub fn name(self) -> &'static str {
        FORMATS
            .iter()
            .find(|(f, _, _)| *f == self)
            .map_or("file", |(_, n, _)| n)
    }

    /// The format of a name.
    pub fn from_name(name: &str) -> Option<Format> {
        FORMATS
            .iter()
            .find(|(_, n, _)| *n == name)
            .map(|(f, _, _)| *f)
    }

    /// The format of an extension (lower-case, without the dot).
    pub fn from_extension(ext: &str) -> Option<Format> {
        FORMATS
            .iter()
            .find(|(_, _, exts)| exts.contains(&ext))
            .map(|(f, _, _)| *f)
    }
}

/// How a file is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// Not compressed.
    None,
    /// gzip (`.gz`).
    Gzip,
    /// Zstandard (`.zst`).
    Zstd,
}

/// One file of a dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    /// Where it is.
    pub path: PathBuf,
    /// Its path relative to the dataset root, `/`-separated (the file's name for a single file).
    pub rel: String,
    /// How it is split into records.
    pub format: Format,
    /// Its size on disk.
    pub size: u64,
}

/// A record as read, before its canonical form.
#[derive(Debug, Clone)]
pub struct RawRecord {
    /// Its number in its file (1-based: the line for line formats, the row or element
    /// otherwise; 1 for a whole file).
    pub index: u64,
    /// Its content.
    pub content: RawContent,
}

/// A record's content as read.
#[derive(Debug, Clone)]
pub enum RawContent {
    /// One JSON Lines line, parsed later (in parallel).
    JsonLine(Vec<u8>),
    /// A JSON value (an array element, a CSV row as an object, a Parquet row).
    Json(serde_json::Value),
    /// Text (a line, a CSV or Parquet column's value).
    Text(String),
    /// A whole file's bytes.
    Bytes(Vec<u8>),
}

impl RawContent {
    /// Approximate bytes held, for batching.
    fn weight(&self) -> usize {
        match self {
            RawContent::JsonLine(b) | RawContent::Bytes(b) => b.len(),
            RawContent::Text(s) => s.len(),
            RawContent::Json(_) => 256,
        }
    }
}

/// Receives a file's records in batches and its bytes as they are read.
pub trait Sink: Sync {
    /// A batch of records of `file`.
    fn batch(&self, file: &DataFile, records: Vec<RawRecord>) -> Result<()>;
    /// `n` more bytes of the file were read from disk.
    fn bytes(&self, _n: u64) {}
}

/// Collects records into batches and hands full ones to the sink.
pub(crate) struct Batcher<'a> {
    file: &'a DataFile,
    sink: &'a dyn Sink,
    records: Vec<RawRecord>,
    weight: usize,
}

impl<'a> Batcher<'a> {
    pub(crate) fn new(file: &'a DataFile, sink: &'a dyn Sink) -> Self {
        Batcher {
            file,
            sink,
            records: Vec::new(),
            weight: 0,
        }
    }

    pub(crate) fn push(&mut self, index: u64, content: RawContent) -> Result<()> {
        self.weight += content.weight();
        self.records.push(RawRecord { index, content });
        if self.records.len() >= BATCH_RECORDS || self.weight >= BATCH_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    pub(crate) fn flush(&mut self) -> Result<()> {
        if !self.records.is_empty() {
            self.weight = 0;
            self.sink
                .batch(self.file, std::mem::take(&mut self.records))?;
        }
        Ok(())
    }
}

/// Reads every record of `file` into `sink`; returns the plain BLAKE3 of the file's bytes
/// on disk (what `b3sum` prints).
pub fn read_file(file: &DataFile, opts: &ReadOptions, sink: &dyn Sink) -> Result<Digest> {
    match file.format {
        Format::Parquet => parquet::read(file, opts, sink),
        Format::File => files::read(file, sink),
        Format::Jsonl | Format::TextLines => match mapped::map_uncompressed(file) {
            Some(map) => mapped::read(file, &map, sink),
            None => streamed(file, opts, sink),
        },
        _ => streamed(file, opts, sink),
    }
}

/// Reads a file as a stream of (decompressed) bytes, hashing it as it is read.
fn streamed(file: &DataFile, opts: &ReadOptions, sink: &dyn Sink) -> Result<Digest> {
    let (reader, hashed) = stream::open(file, sink)?;
    let mut batcher = Batcher::new(file, sink);
    match file.format {
        Format::Jsonl => json::read_lines(file, reader, &mut batcher)?,
        Format::JsonArray => json::read_array(file, reader, &mut batcher)?,
        Format::Csv => csv::read(file, reader, b',', opts, &mut batcher)?,
        Format::Tsv => csv::read(file, reader, b'\t', opts, &mut batcher)?,
        _ => text::read_lines(file, reader, &mut batcher)?,
    }
    batcher.flush()?;
    hashed.finish(file, sink)
}
