//! Plain text: one record per line (blank lines are not records).

use std::io::BufRead;

use super::lines::next_line;
use super::{Batcher, DataFile, RawContent};
use crate::error::{Error, Result};

/// Reads text lines; blank lines are counted but are not records.
pub(crate) fn read_lines(
    file: &DataFile,
    mut reader: Box<dyn BufRead + '_>,
    batcher: &mut Batcher<'_>,
) -> Result<()> {
    let mut line_no = 0u64;
    let mut line = Vec::new();
    while next_line(file, &mut reader, &mut line, &mut line_no)? {
        if line.trim_ascii().is_empty() {
            continue;
        }
        let text = String::from_utf8(std::mem::take(&mut line))
            .map_err(|_| Error::record(&file.path, line_no, "not UTF-8 text"))?;
        batcher.push(line_no, RawContent::Text(text))?;
    }
    Ok(())
}
