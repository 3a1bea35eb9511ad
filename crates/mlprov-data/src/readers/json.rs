//! JSON Lines (a value per line, blank lines skipped) and JSON arrays (streamed element by
//! element, never the whole array in memory).

use std::io::BufRead;

use serde::de::{DeserializeSeed, SeqAccess, Visitor};

use super::lines::next_line;
use super::{Batcher, DataFile, RawContent};
use crate::error::{Error, Result};

/// Reads JSON Lines; each line is parsed later, in parallel, where its field is picked.
pub(crate) fn read_lines(
    file: &DataFile,
    mut reader: Box<dyn BufRead + '_>,
    batcher: &mut Batcher<'_>,
) -> Result<()> {
    let mut line_no = 0u64;
    let mut line = Vec::new();
    while next_line(file, &mut reader, &mut line, &mut line_no)? {
        if !line.trim_ascii().is_empty() {
            batcher.push(line_no, RawContent::JsonLine(std::mem::take(&mut line)))?;
        }
    }
    Ok(())
}

struct Elements<'b, 'c> {
    batcher: &'b mut Batcher<'c>,
    failed: &'b mut Option<Error>,
}

impl<'de> Visitor<'de> for Elements<'_, '_> {
    type Value = u64;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON array of records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<u64, A::Error> {
        let mut index = 0u64;
        while let Some(value) = seq.next_element::<serde_json::Value>()? {
            index += 1;
            if let Err(e) = self.batcher.push(index, RawContent::Json(value)) {
                *self.failed = Some(e);
                return Err(serde::de::Error::custom("stopped"));
            }
        }
        Ok(index)
    }
}

impl<'de> DeserializeSeed<'de> for Elements<'_, '_> {
    type Value = u64;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<u64, D::Error> {
        d.deserialize_seq(self)
    }
}

/// Reads one JSON array, element by element.
pub(crate) fn read_array(
    file: &DataFile,
    reader: Box<dyn BufRead + '_>,
    batcher: &mut Batcher<'_>,
) -> Result<()> {
    let mut de = serde_json::Deserializer::from_reader(reader);
    let mut failed = None;
    let seed = Elements {
        batcher,
        failed: &mut failed,
    };
    let result = seed.deserialize(&mut de).and_then(|n| de.end().map(|()| n));
    if let Some(e) = failed {
        return Err(e);
    }
    result
        .map(|_| ())
        .map_err(|e| Error::input(&file.path, format!("not a JSON array of records: {e}")))
}
