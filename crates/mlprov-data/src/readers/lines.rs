//! The bounded line reader shared by the line formats (JSON Lines, text): a line longer
//! than [`MAX_LINE`](super::MAX_LINE) is an error naming the file and the line, never an
//! unbounded allocation.

use std::io::{BufRead, Read};

use super::DataFile;
use crate::error::{Error, Result};

/// Reads the next line (with its `\n`, if any) into `line`, which is cleared first; counts
/// it in `line_no`. `Ok(false)` at the end of the input.
pub(crate) fn next_line(
    file: &DataFile,
    reader: &mut dyn BufRead,
    line: &mut Vec<u8>,
    line_no: &mut u64,
) -> Result<bool> {
    line.clear();
    let n = reader
        .take(super::MAX_LINE + 1)
        .read_until(b'\n', line)
        .map_err(|e| Error::record(&file.path, *line_no + 1, e.to_string()))?;
    if n == 0 {
        return Ok(false);
    }
    if n as u64 > super::MAX_LINE {
        return Err(too_long(file, *line_no + 1));
    }
    *line_no += 1;
    Ok(true)
}

/// The error of a line longer than [`MAX_LINE`](super::MAX_LINE).
pub(crate) fn too_long(file: &DataFile, line_no: u64) -> Error {
    Error::record(
        &file.path,
        line_no,
        format!("a line longer than {} MiB", super::MAX_LINE >> 20),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::readers::Format;

    fn file() -> DataFile {
        DataFile {
            path: "big.jsonl".into(),
            rel: "big.jsonl".into(),
            format: Format::Jsonl,
            size: 0,
        }
    }

    #[test]
    fn lines_are_counted_and_the_last_may_lack_a_newline() {
        let mut r: &[u8] = b"a\n\nb";
        let (mut line, mut n) = (Vec::new(), 0);
        let mut got = Vec::new();
        while next_line(&file(), &mut r, &mut line, &mut n).unwrap() {
            got.push((n, line.clone()));
        }
        assert_eq!(
            got,
            [
                (1, b"a\n".to_vec()),
                (2, b"\n".to_vec()),
                (3, b"b".to_vec())
            ]
        );
    }

    #[test]
    fn a_line_over_the_bound_is_an_error_naming_file_and_line() {
        // An endless line: the reader must stop at the bound, not allocate without end.
        let mut r = std::io::BufReader::new(std::io::repeat(b'x'));
        let (mut line, mut n) = (Vec::new(), 0);
        let e = next_line(&file(), &mut r, &mut line, &mut n).unwrap_err();
        assert_eq!(
            e.to_string(),
            "big.jsonl: record 1: a line longer than 256 MiB"
        );
        assert!(line.len() as u64 <= crate::readers::MAX_LINE + 1);
    }
}
