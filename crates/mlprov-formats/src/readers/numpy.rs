//! NumPy `.npy` (format versions 1-3) and `.npz` (a zip of `.npy` members).
//!
//! An `.npy` file is a magic string, a header length, a Python dict literal
//! (`{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`) and the raw array.
//! Little-endian C-order arrays are mapped in place; big-endian arrays are converted to
//! little-endian and Fortran-order arrays gathered into row-major order, both owned.
//! Object arrays (`|O`) are pickles and are refused, as are structured dtypes.

use std::collections::BTreeMap;
use std::path::Path;

use crate::budget::Budget;
use crate::dtype::DType;
use crate::error::ErrorKind;
use crate::format::Format;
use crate::parsed::{ParsedFile, ParsedTensor, TensorData};
use crate::readers::strided;
use crate::readers::zip::{MemberBytes, ZipArchive};

const FORMAT: &str = "NumPy";
const MAGIC: &[u8] = b"\x93NUMPY";
/// Nesting allowed in the header literal (the real header nests two levels).
const MAX_LITERAL_DEPTH: usize = 8;

/// The parsed header of one `.npy` array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NpyHeader {
    pub dtype: DType,
    pub big_endian: bool,
    pub fortran_order: bool,
    pub shape: Vec<usize>,
    /// Offset of the array data from the start of the `.npy` bytes.
    pub data_start: usize,
    /// Byte length of the array data.
    pub nbytes: usize,
    pub version: (u8, u8),
}

/// Reads a standalone NumPy `.npy` file (one tensor, named `array`).
pub(crate) fn read_npy(buf: &[u8], _path: &Path) -> Result<ParsedFile, ErrorKind> {
    parse_npy(buf)
}

/// Reads a standalone `.npy` file as one tensor named `array`.
pub(crate) fn parse_npy(buf: &[u8]) -> Result<ParsedFile, ErrorKind> {
    let h = read_header(buf, "array")?;
    let data = mapped_or_converted(buf, 0, &h);
    let mut metadata = BTreeMap::new();
    metadata.insert(
        "npy_version".to_string(),
        format!("{}.{}", h.version.0, h.version.1),
    );
    Ok(ParsedFile {
        header: Some(0..h.data_start),
        tensors: vec![ParsedTensor {
            name: "array".to_string(),
            dtype: h.dtype,
            shape: h.shape,
            data,
        }],
        metadata,
        ..ParsedFile::new(Format::Npy)
    })
}

/// Reads every `.npy` member of an `.npz` archive; tensor names are the member names
/// without `.npy`. Other members are skipped.
pub(crate) fn parse_npz(zip: &ZipArchive<'_>, budget: &Budget) -> Result<ParsedFile, ErrorKind> {
    let mut tensors = Vec::new();
    for entry in zip.entries() {
        let Some(name) = entry.name.strip_suffix(".npy") else {
            continue;
        };
        let t = match zip.read_in(entry, budget)? {
            MemberBytes::Stored(r) => {
                let npy = zip.buf().get(r.clone()).unwrap_or(&[]);
                let h = read_header(npy, name)?;
                if h.big_endian || h.fortran_order {
                    budget.charge(h.nbytes as u64)?;
                }
                let data = mapped_or_converted(npy, r.start, &h);
                (h, data)
            }
            MemberBytes::Inflated(mut v) => {
                let h = read_header(&v, name)?;
                let data = if !h.big_endian && !h.fortran_order {
                    v.truncate(h.data_start + h.nbytes);
                    v.drain(..h.data_start);
                    TensorData::Owned(v)
                } else {
                    budget.charge(h.nbytes as u64)?;
                    TensorData::Owned(convert(&v, &h))
                };
                (h, data)
            }
        };
        tensors.push(ParsedTensor {
            name: name.to_string(),
            dtype: t.0.dtype,
            shape: t.0.shape,
            data: t.1,
        });
    }
    let mut metadata = BTreeMap::new();
    metadata.insert("archive".to_string(), "npz".to_string());
    Ok(ParsedFile {
        tensors,
        metadata,
        ..ParsedFile::new(Format::Npz)
    })
}

/// The data of an array whose `.npy` bytes start at absolute offset `base`: mapped if
/// little-endian C-order, else converted into owned bytes.
fn mapped_or_converted(npy: &[u8], base: usize, h: &NpyHeader) -> TensorData {
    if !h.big_endian && !h.fortran_order {
        let start = base + h.data_start;
        TensorData::Mapped(start..start + h.nbytes)
    } else {
        TensorData::Owned(convert(npy, h))
    }
}

/// Little-endian, row-major bytes of a big-endian and/or Fortran-order array.
fn convert(npy: &[u8], h: &NpyHeader) -> Vec<u8> {
    let esize = h.dtype.block().1;
    let data = &npy[h.data_start..h.data_start + h.nbytes];
    let swap = h.big_endian && esize > 1;
    let strides = if h.fortran_order {
        strided::column_major_strides(&h.shape)
    } else {
        strided::row_major_strides(&h.shape)
    };
    // The header check bounded every product by the bytes present.
    let strides = strides.unwrap_or_else(|| vec![0; h.shape.len()]);
    strided::gather(data, esize, 0, &h.shape, &strides, swap)
}

/// Parses and checks the header of the `.npy` bytes `npy` (of the array called `name`).
pub(crate) fn read_header(npy: &[u8], name: &str) -> Result<NpyHeader, ErrorKind> {
    if !npy.starts_with(MAGIC) {
        return Err(invalid(format!("`{name}`: no \\x93NUMPY magic")));
    }
    let (major, minor) = match (npy.get(6), npy.get(7)) {
        (Some(&a), Some(&b)) => (a, b),
        _ => return Err(truncated(name, "the version")),
    };
    let (len, start) = match major {
        1 => match npy.get(8..10) {
            Some(b) => (u16::from_le_bytes([b[0], b[1]]) as usize, 10),
            None => return Err(truncated(name, "the header length")),
        },
        2 | 3 => match npy.get(8..12) {
            Some(b) => (u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize, 12),
            None => return Err(truncated(name, "the header length")),
        },
        v => {
            return Err(invalid(format!(
                "`{name}`: format version {v}.{minor} is not supported"
            )))
        }
    };
    let data_start = start + len;
    let Some(text) = npy.get(start..data_start) else {
        return Err(ErrorKind::Truncated(format!(
            "`{name}`: header of {len} bytes runs past the end ({} bytes)",
            npy.len()
        )));
    };
    // Versions 1 and 2 are latin-1, version 3 is UTF-8; dtype text is ASCII either way.
    let text: String = text.iter().map(|&b| b as char).collect();
    let lit = Parser::new(&text)
        .literal(0)
        .map_err(|e| invalid(format!("`{name}`: header {e}: {}", text.trim_end())))?;
    let Literal::Dict(fields) = lit else {
        return Err(invalid(format!("`{name}`: header is not a dict")));
    };
    let field = |k: &str| fields.iter().find(|(key, _)| key == k).map(|(_, v)| v);
    let descr = match field("descr") {
        Some(Literal::Str(s)) => s.as_str(),
        Some(_) => {
            return Err(invalid(format!(
                "`{name}`: structured dtypes are not supported"
            )))
        }
        None => return Err(invalid(format!("`{name}`: header has no `descr`"))),
    };
    let (dtype, big_endian) = parse_descr(descr).map_err(|e| invalid(format!("`{name}`: {e}")))?;
    let fortran_order = match field("fortran_order") {
        Some(Literal::Bool(b)) => *b,
        _ => {
            return Err(invalid(format!(
                "`{name}`: header has no boolean `fortran_order`"
            )))
        }
    };
    let shape = match field("shape") {
        Some(Literal::Tuple(items)) => items
            .iter()
            .map(|i| match i {
                Literal::Int(n) => usize::try_from(*n).ok(),
                _ => None,
            })
            .collect::<Option<Vec<_>>>(),
        _ => None,
    }
    .ok_or_else(|| invalid(format!("`{name}`: `shape` is not a tuple of integers")))?;
    let esize = dtype.block().1;
    let nbytes = shape
        .iter()
        .try_fold(esize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| invalid(format!("`{name}`: shape {shape:?} overflows")))?;
    let have = npy.len() - data_start;
    if nbytes > have {
        return Err(ErrorKind::Truncated(format!(
            "`{name}`: shape {shape:?} of {dtype} needs {nbytes} bytes but {have} follow the header"
        )));
    }
    Ok(NpyHeader {
        dtype,
        big_endian,
        fortran_order,
        shape,
        data_start,
        nbytes,
        version: (major, minor),
    })
}

/// `(dtype, big_endian)` for a NumPy type string such as `<f4`.
fn parse_descr(descr: &str) -> Result<(DType, bool), String> {
    let (order, code) = match descr.as_bytes().first() {
        Some(b'<' | b'>' | b'|' | b'=') => (descr.as_bytes()[0], &descr[1..]),
        _ => (b'=', descr),
    };
    let dtype = match code {
        "f2" | "e" => DType::F16,
        "f4" | "f" => DType::F32,
        "f8" | "d" => DType::F64,
        "i1" | "b" => DType::I8,
        "u1" | "B" => DType::U8,
        "i2" | "h" => DType::I16,
        "u2" | "H" => DType::U16,
        "i4" | "i" => DType::I32,
        "u4" | "I" => DType::U32,
        "i8" | "q" => DType::I64,
        "u8" | "Q" => DType::U64,
        "b1" | "?" => DType::Bool,
        "O" | "O8" | "O4" => {
            return Err(
                "object arrays (`|O`) are pickles and are not read; save a numeric array"
                    .to_string(),
            )
        }
        _ => return Err(format!("dtype `{descr}` is not supported")),
    };
    // `=` (native) never appears in files np.save writes; read it as little-endian,
    // the byte order of every platform NumPy ships for.
    Ok((dtype, order == b'>' && dtype.block().1 > 1))
}

/// A Python literal as found in `.npy` headers.
#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Str(String),
    Int(i128),
    Bool(bool),
    None,
    Tuple(Vec<Literal>),
    Dict(Vec<(String, Literal)>),
}

struct Parser<'t> {
    s: &'t [u8],
    pos: usize,
}

impl<'t> Parser<'t> {
    fn new(text: &'t str) -> Self {
        Parser {
            s: text.as_bytes(),
            pos: 0,
        }
    }

    fn skip_ws(&mut self) {
        while self
            .s
            .get(self.pos)
            .is_some_and(|c| c.is_ascii_whitespace())
        {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.s.get(self.pos).copied()
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(format!("expected `{}` at byte {}", c as char, self.pos))
        }
    }

    fn literal(&mut self, depth: usize) -> Result<Literal, String> {
        if depth > MAX_LITERAL_DEPTH {
            return Err("nests too deeply".to_string());
        }
        match self.peek() {
            Some(b'{') => {
                self.pos += 1;
                let mut fields = Vec::new();
                while self.peek() != Some(b'}') {
                    let Literal::Str(k) = self.literal(depth + 1)? else {
                        return Err(format!("dict key is not a string at byte {}", self.pos));
                    };
                    self.expect(b':')?;
                    fields.push((k, self.literal(depth + 1)?));
                    if self.peek() == Some(b',') {
                        self.pos += 1;
                    } else if self.peek() != Some(b'}') {
                        return Err(format!("expected `,` or `}}` at byte {}", self.pos));
                    }
                }
                self.pos += 1;
                Ok(Literal::Dict(fields))
            }
            Some(open @ (b'(' | b'[')) => {
                let close = if open == b'(' { b')' } else { b']' };
                self.pos += 1;
                let mut items = Vec::new();
                while self.peek() != Some(close) {
                    items.push(self.literal(depth + 1)?);
                    if self.peek() == Some(b',') {
                        self.pos += 1;
                    } else if self.peek() != Some(close) {
                        return Err(format!(
                            "expected `,` or `{}` at byte {}",
                            close as char, self.pos
                        ));
                    }
                }
                self.pos += 1;
                Ok(Literal::Tuple(items))
            }
            Some(q @ (b'\'' | b'"')) => {
                self.pos += 1;
                let mut out = String::new();
                loop {
                    match self.s.get(self.pos).copied() {
                        None => return Err("unterminated string".to_string()),
                        Some(c) if c == q => break,
                        Some(b'\\') => {
                            self.pos += 1;
                            match self.s.get(self.pos) {
                                Some(&c) => out.push(c as char),
                                None => return Err("unterminated string".to_string()),
                            }
                        }
                        Some(c) => out.push(c as char),
                    }
                    self.pos += 1;
                }
                self.pos += 1;
                Ok(Literal::Str(out))
            }
            Some(c) if c.is_ascii_alphanumeric() || c == b'-' => {
                let start = self.pos;
                while self
                    .s
                    .get(self.pos)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_')
                {
                    self.pos += 1;
                }
                let word = std::str::from_utf8(&self.s[start..self.pos]).unwrap_or("");
                match word {
                    "True" => Ok(Literal::Bool(true)),
                    "False" => Ok(Literal::Bool(false)),
                    "None" => Ok(Literal::None),
                    // Python 2 headers write longs as `3L`.
                    w => w
                        .trim_end_matches('L')
                        .parse::<i128>()
                        .map(Literal::Int)
                        .map_err(|_| format!("unexpected `{w}`")),
                }
            }
            Some(c) => Err(format!("unexpected `{}` at byte {}", c as char, self.pos)),
            None => Err("ends early".to_string()),
        }
    }
}

fn truncated(name: &str, what: &str) -> ErrorKind {
    ErrorKind::Truncated(format!("`{name}`: file ends before {what}"))
}

fn invalid(detail: String) -> ErrorKind {
    ErrorKind::InvalidHeader {
        format: FORMAT,
        detail,
    }
}

#[cfg(test)]
mod tests;
