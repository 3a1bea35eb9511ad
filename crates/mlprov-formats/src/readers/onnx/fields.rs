//! Typed access to the fields of a protobuf message, with wire errors phrased as ONNX
//! header errors (or truncation when a value runs past the end of the file).

use crate::error::ErrorKind;

use super::wire::{Field, Msg, Value, WireError};

const FORMAT: &str = "ONNX";

/// A malformed ONNX model.
pub(super) fn invalid(detail: impl Into<String>) -> ErrorKind {
    ErrorKind::InvalidHeader {
        format: FORMAT,
        detail: detail.into(),
    }
}

/// A wire error inside `what`: a value running past the end of the file is truncation,
/// anything else is a malformed message.
pub(super) fn wire_error(e: WireError, file_len: usize, what: &str) -> ErrorKind {
    match e {
        WireError::Overrun { at, need, end } if end == file_len => ErrorKind::Truncated(format!(
            "{what}: a value at byte {at} needs {need} bytes but the file ends at byte {end}"
        )),
        e => invalid(format!("{what}: {e}")),
    }
}

/// The field's payload, which must be length-delimited.
pub(super) fn len<'a>(f: &Field<'a>, what: &str) -> Result<Msg<'a>, ErrorKind> {
    match f.value {
        Value::Len(m) => Ok(m),
        v => Err(wrong_wire_type(f, v, what, "length-delimited")),
    }
}

/// The field's value, which must be a varint.
pub(super) fn varint(f: &Field<'_>, what: &str) -> Result<u64, ErrorKind> {
    match f.value {
        Value::Varint(v) => Ok(v),
        v => Err(wrong_wire_type(f, v, what, "varint")),
    }
}

/// The field's payload as UTF-8 text (names must be exact, so no lossy conversion).
pub(super) fn text<'a>(f: &Field<'a>, what: &str) -> Result<&'a str, ErrorKind> {
    let m = len(f, what)?;
    m.as_str()
        .ok_or_else(|| invalid(format!("{what} at byte {} is not valid UTF-8", f.at)))
}

fn wrong_wire_type(f: &Field<'_>, v: Value<'_>, what: &str, want: &str) -> ErrorKind {
    invalid(format!(
        "{what} at byte {} is {}, expected {want}",
        f.at,
        v.wire_name()
    ))
}
