//! Typed metadata values (GGUF key-value pairs, legacy GGML hyperparameters).

use std::fmt;

/// One metadata value with its type kept: integers widened to 64 bits, floats to `f64`.
#[derive(Debug, Clone, PartialEq)]
pub enum MetaValue {
    /// An unsigned integer (GGUF `uint8` … `uint64`).
    U64(u64),
    /// A signed integer (GGUF `int8` … `int64`).
    I64(i64),
    /// A floating-point number (GGUF `float32`, `float64`).
    F64(f64),
    /// A boolean.
    Bool(bool),
    /// A string (invalid UTF-8 in a file is replaced by U+FFFD).
    Str(String),
    /// An array; GGUF arrays hold items of one type, and may nest.
    Array(Vec<MetaValue>),
}

impl MetaValue {
    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            MetaValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The items, if this is an array.
    pub fn as_array(&self) -> Option<&[MetaValue]> {
        match self {
            MetaValue::Array(a) => Some(a),
            _ => None,
        }
    }

    /// Every item as a string, if this is an array of strings (e.g. `tokenizer.ggml.tokens`).
    pub fn as_str_array(&self) -> Option<Vec<&str>> {
        self.as_array()?.iter().map(MetaValue::as_str).collect()
    }

    /// The value as an unsigned integer, if it is a non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            MetaValue::U64(v) => Some(v),
            MetaValue::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as a signed integer, if it is an integer that fits.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            MetaValue::I64(v) => Some(v),
            MetaValue::U64(v) => i64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as a float, if it is a number (integers converted, possibly rounding).
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            MetaValue::F64(v) => Some(v),
            MetaValue::U64(v) => Some(v as f64),
            MetaValue::I64(v) => Some(v as f64),
            _ => None,
        }
    }

    /// Display text for tables: scalars as themselves, arrays as `[array of N str]` (the item
    /// kind taken from the first item; GGUF's parser names the stored type instead).
    pub(crate) fn summary(&self) -> String {
        match self {
            MetaValue::Array(a) => {
                let kind = match a.first() {
                    Some(MetaValue::U64(_)) => " u64",
                    Some(MetaValue::I64(_)) => " i64",
                    Some(MetaValue::F64(_)) => " f64",
                    Some(MetaValue::Bool(_)) => " bool",
                    Some(MetaValue::Str(_)) => " str",
                    Some(MetaValue::Array(_)) => " array",
                    None => "",
                };
                format!("[array of {}{kind}]", a.len())
            }
            other => other.to_string(),
        }
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            MetaValue::Bool(b) => Some(b),
            _ => None,
        }
    }
}

impl fmt::Display for MetaValue {
    /// Scalars as themselves; arrays as a summary (`[array of 3]`), never their items.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetaValue::U64(v) => write!(f, "{v}"),
            MetaValue::I64(v) => write!(f, "{v}"),
            MetaValue::F64(v) => write!(f, "{v}"),
            MetaValue::Bool(v) => write!(f, "{v}"),
            MetaValue::Str(s) => f.write_str(s),
            MetaValue::Array(a) => write!(f, "[array of {}]", a.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors_convert_only_what_fits() {
        assert_eq!(MetaValue::I64(-1).as_u64(), None);
        assert_eq!(MetaValue::I64(7).as_u64(), Some(7));
        assert_eq!(MetaValue::U64(u64::MAX).as_i64(), None);
        assert_eq!(MetaValue::U64(3).as_f64(), Some(3.0));
        assert_eq!(MetaValue::Str("x".into()).as_u64(), None);
        let tokens = MetaValue::Array(vec![MetaValue::Str("a".into()), MetaValue::Str("b".into())]);
        assert_eq!(tokens.as_str_array(), Some(vec!["a", "b"]));
        assert_eq!(tokens.to_string(), "[array of 2]");
        let mixed = MetaValue::Array(vec![MetaValue::Str("a".into()), MetaValue::U64(1)]);
        assert_eq!(mixed.as_str_array(), None);
    }
}
