//! CSV and TSV with a header row: `--field` picks a column by name; without it a row is the
//! JSON object of its columns.

use std::io::BufRead;

use serde_json::{Map, Value};

use super::{Batcher, DataFile, RawContent, ReadOptions};
use crate::error::{Error, Result};

pub(crate) fn read(
    file: &DataFile,
    reader: Box<dyn BufRead + '_>,
    delimiter: u8,
    opts: &ReadOptions,
    batcher: &mut Batcher<'_>,
) -> Result<()> {
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .from_reader(reader);
    let headers: Vec<String> = rdr
        .headers()
        .map_err(|e| Error::record(&file.path, 1, format!("bad header row: {e}")))?
        .iter()
        .map(str::to_string)
        .collect();
    let column = match &opts.field {
        Some(name) => Some(headers.iter().position(|h| h == name).ok_or_else(|| {
            Error::input(
                &file.path,
                format!("no column `{name}` (columns: {})", headers.join(", ")),
            )
        })?),
        None => None,
    };
    let mut row = csv::StringRecord::new();
    let mut index = 0u64;
    loop {
        match rdr.read_record(&mut row) {
            Ok(false) => return Ok(()),
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(index + 2, |p| p.line());
                return Err(Error::record(&file.path, line, e.to_string()));
            }
        }
        index += 1;
        let content = match column {
            Some(c) => RawContent::Text(row.get(c).unwrap_or_default().to_string()),
            None => RawContent::Json(Value::Object(
                headers
                    .iter()
                    .zip(row.iter())
                    .map(|(h, v)| (h.clone(), Value::String(v.to_string())))
                    .collect::<Map<String, Value>>(),
            )),
        };
        batcher.push(index, content)?;
    }
}
