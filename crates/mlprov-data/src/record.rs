//! From a record as read to what the sketch keeps: its canonical form, exact digest,
//! privacy flags, and its MinHash signature (text) or perceptual hash (images).

use mlprov_hash::Digest;
use serde_json::Value;

use crate::canonical::{canonical_json, canonical_string, canonical_text, CanonicalOptions};
use crate::canonical_fast;
use crate::error::{Error, Result};
use crate::identity::{ContentKind, RecordHasher};
use crate::minhash::{MinHasher, Signature};
use crate::phash;
use crate::privacy::{self, Flags};
use crate::readers::{DataFile, RawContent, RawRecord};

/// A record's near-duplicate key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NearKey {
    /// No key: empty text, bytes that are neither text nor a decodable image.
    None,
    /// A text record's MinHash signature.
    Text(Signature),
    /// An image's perceptual hash.
    Image(u64),
}

/// One record, processed.
#[derive(Debug, Clone)]
pub struct Processed {
    /// Its number in its file.
    pub index: u64,
    /// Exact digest of its canonical form.
    pub digest: Digest,
    /// Length of its canonical form in bytes.
    pub len: u64,
    /// Privacy patterns found (text records only).
    pub privacy: Flags,
    /// Near-duplicate key.
    pub near: NearKey,
}

/// How records are processed.
#[derive(Debug, Clone)]
pub struct RecordOptions {
    /// The content field, if any.
    pub field: Option<String>,
    /// Canonical form options.
    pub canonical: CanonicalOptions,
    /// Keyed or plain digests.
    pub hasher: RecordHasher,
    /// The MinHash permutations.
    pub minhasher: MinHasher,
}

fn text_record(text: &str, raw_index: u64, opts: &RecordOptions) -> Processed {
    let digest = opts.hasher.digest(ContentKind::Text, text.as_bytes());
    let near = if text.is_empty() {
        NearKey::None
    } else {
        NearKey::Text(opts.minhasher.signature(text))
    };
    Processed {
        index: raw_index,
        digest,
        len: text.len() as u64,
        privacy: privacy::scan(text),
        near,
    }
}

fn json_content(value: Value, file: &DataFile, index: u64, opts: &RecordOptions) -> Result<String> {
    let value = match &opts.field {
        None => value,
        Some(field) => match value {
            Value::Object(mut map) => map.remove(field).ok_or_else(|| {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                let keys: Vec<&str> = keys.into_iter().take(20).map(String::as_str).collect();
                Error::record(
                    &file.path,
                    index,
                    format!("no field `{field}` (fields: {})", keys.join(", ")),
                )
            })?,
            other => {
                return Err(Error::record(
                    &file.path,
                    index,
                    format!(
                        "not a JSON object (a {}), so it has no field `{field}`",
                        kind(&other)
                    ),
                ))
            }
        },
    };
    Ok(match value {
        Value::String(s) => canonical_string(s, opts.canonical),
        other => canonical_json(&other, opts.canonical),
    })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A record's canonical form, borrowed from where it was read or built.
#[derive(Debug, Clone, Copy)]
pub enum Canonical<'a> {
    /// Canonical text (a line, a field, canonical JSON).
    Text(&'a str),
    /// An image file's bytes.
    Image(&'a [u8]),
    /// Other bytes that are not UTF-8 text.
    Bytes(&'a [u8]),
}

/// Calls `f` with the canonical form of a record of `file`.
pub fn with_canonical<T>(
    raw: RawRecord,
    file: &DataFile,
    opts: &RecordOptions,
    f: impl FnOnce(Canonical<'_>) -> T,
) -> Result<T> {
    let index = raw.index;
    match raw.content {
        RawContent::JsonLine(line) => {
            // Most lines are canonical as written: no JSON tree for them.
            if let Some(t) = canonical_fast::json_line(&line, opts.field.as_deref(), opts.canonical)
            {
                return Ok(f(Canonical::Text(t)));
            }
            // Most others are valid JSON that is only not canonical as written.
            let mut written = Vec::with_capacity(line.len());
            if canonical_fast::json_line_into(
                &line,
                opts.field.as_deref(),
                opts.canonical,
                &mut written,
            )
            .is_some()
            {
                if let Ok(t) = std::str::from_utf8(&written) {
                    return Ok(f(Canonical::Text(t)));
                }
            }
            let value: Value = serde_json::from_slice(&line)
                .map_err(|e| Error::record(&file.path, index, format!("not JSON: {e}")))?;
            Ok(f(Canonical::Text(&json_content(value, file, index, opts)?)))
        }
        RawContent::Json(value) => Ok(f(Canonical::Text(&json_content(value, file, index, opts)?))),
        RawContent::Text(text) => Ok(f(Canonical::Text(&canonical_string(text, opts.canonical)))),
        RawContent::Bytes(bytes) => {
            if phash::is_image(&bytes) {
                return Ok(f(Canonical::Image(&bytes)));
            }
            match std::str::from_utf8(&bytes) {
                Ok(text) => Ok(f(Canonical::Text(&canonical_text(text, opts.canonical)))),
                Err(_) => Ok(f(Canonical::Bytes(&bytes))),
            }
        }
    }
}

/// Processes one record of `file`.
pub fn process(raw: RawRecord, file: &DataFile, opts: &RecordOptions) -> Result<Processed> {
    let index = raw.index;
    with_canonical(raw, file, opts, |c| match c {
        Canonical::Text(text) => text_record(text, index, opts),
        Canonical::Image(bytes) => Processed {
            index,
            digest: opts.hasher.digest(ContentKind::Bytes, bytes),
            len: bytes.len() as u64,
            privacy: 0,
            // An image that does not decode is still a record, without a near key.
            near: phash::phash(bytes).map_or(NearKey::None, NearKey::Image),
        },
        Canonical::Bytes(bytes) => Processed {
            index,
            digest: opts.hasher.digest(ContentKind::Bytes, bytes),
            len: bytes.len() as u64,
            privacy: 0,
            near: NearKey::None,
        },
    })
}

/// A record's exact digest and canonical length only (what the dataset's identity needs).
pub fn identity(raw: RawRecord, file: &DataFile, opts: &RecordOptions) -> Result<(Digest, u64)> {
    with_canonical(raw, file, opts, |c| digest_of(c, &opts.hasher))
}

/// The digest and length of a canonical form.
pub fn digest_of(c: Canonical<'_>, hasher: &RecordHasher) -> (Digest, u64) {
    match c {
        Canonical::Text(t) => (
            hasher.digest(ContentKind::Text, t.as_bytes()),
            t.len() as u64,
        ),
        Canonical::Image(b) | Canonical::Bytes(b) => {
            (hasher.digest(ContentKind::Bytes, b), b.len() as u64)
        }
    }
}
