//! Plain text: one record per line (blank lines are not records).

use std::io::{BufRead, Read};

use super::{Batcher, DataFile, RawContent};
use crate::error::{Error, Result};

pub(crate) fn read_lines(
    file: &DataFile,
    mut reader: Box<dyn BufRead + '_>,
    batcher: &mut Batcher<'_>,
) -> Result<()> {
    let mut line_no = 0u64;
    loop {
        let mut line = Vec::new();
        let n = (&mut reader)
            .take(super::MAX_LINE + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::record(&file.path, line_no + 1, e.to_string()))?;
        if n == 0 {
            return Ok(());
        }
        if n as u64 > super::MAX_LINE {
            return Err(Error::record(
                &file.path,
                line_no + 1,
                "a line longer than 256 MiB",
            ));
        }
        line_no += 1;
        if line.trim_ascii().is_empty() {
            continue;
        }
        let text = String::from_utf8(line)
            .map_err(|_| Error::record(&file.path, line_no, "not UTF-8 text"))?;
        batcher.push(line_no, RawContent::Text(text))?;
    }
}
