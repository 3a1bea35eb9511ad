//! A minimal protobuf wire-format walker over borrowed bytes.
//!
//! No protobuf crate: prost and rust-protobuf need `onnx.proto` compiled at build time and
//! decode into owned messages (copying every `raw_data`, hundreds of megabytes for a large
//! model), and neither lets us cap nesting or report where in the file a length went wrong.
//! ONNX needs only the wire format: tags, varints, fixed 32/64-bit values and length-delimited
//! fields, each of which this walker bounds-checks against its enclosing message before
//! slicing, so a sub-message is a sub-slice of the map and its absolute offset is known.

use std::ops::Range;

/// The longest varint protobuf allows (a 64-bit value in 7-bit groups).
pub(super) const MAX_VARINT_BYTES: usize = 10;

/// One message (or packed payload): its bytes and their absolute offset in the file.
#[derive(Clone, Copy, Debug)]
pub(super) struct Msg<'a> {
    pub bytes: &'a [u8],
    pub start: usize,
}

/// A field's value, by wire type. Groups (wire types 3 and 4) are rejected: proto3-era
/// schemas such as ONNX never use them.
#[derive(Clone, Copy, Debug)]
pub(super) enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    Len(Msg<'a>),
    Fixed32(u32),
}

impl Value<'_> {
    /// Human name of the wire type, for errors.
    pub fn wire_name(&self) -> &'static str {
        match self {
            Value::Varint(_) => "varint",
            Value::Fixed64(_) => "64-bit",
            Value::Len(_) => "length-delimited",
            Value::Fixed32(_) => "32-bit",
        }
    }
}

/// One field: its number, value and the absolute offset of its tag.
#[derive(Clone, Copy, Debug)]
pub(super) struct Field<'a> {
    pub number: u32,
    pub value: Value<'a>,
    pub at: usize,
}

/// Why the bytes are not a well-formed protobuf message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum WireError {
    /// A value needs `need` bytes at `at` but its enclosing message ends at `end`.
    Overrun { at: usize, need: u64, end: usize },
    /// A varint longer than 10 bytes, or a 10-byte varint that overflows 64 bits.
    VarintTooLong { at: usize },
    /// A wire type protobuf does not define, or a (deprecated) group.
    WireType { at: usize, wire_type: u8 },
    /// Field number 0 or above 2^29 - 1.
    FieldNumber { at: usize, number: u64 },
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireError::Overrun { at, need, end } => write!(
                f,
                "a value at byte {at} needs {need} bytes but its enclosing message ends at byte {end}"
            ),
            WireError::VarintTooLong { at } => {
                write!(f, "varint at byte {at} is longer than {MAX_VARINT_BYTES} bytes or overflows 64 bits")
            }
            WireError::WireType { at, wire_type } => {
                write!(f, "unsupported protobuf wire type {wire_type} at byte {at}")
            }
            WireError::FieldNumber { at, number } => {
                write!(f, "invalid protobuf field number {number} at byte {at}")
            }
        }
    }
}

impl<'a> Msg<'a> {
    pub fn new(bytes: &'a [u8], start: usize) -> Self {
        Msg { bytes, start }
    }

    /// Absolute offset one past the last byte.
    pub fn end(&self) -> usize {
        self.start + self.bytes.len()
    }

    /// Absolute byte range.
    pub fn range(&self) -> Range<usize> {
        self.start..self.end()
    }

    /// The fields in order; iteration stops after the first error.
    pub fn fields(&self) -> Fields<'a> {
        Fields {
            msg: *self,
            pos: 0,
            failed: false,
        }
    }

    /// The payload as a sequence of varints (a packed repeated varint field).
    pub fn packed_varints(&self) -> PackedVarints<'a> {
        PackedVarints {
            msg: *self,
            pos: 0,
            failed: false,
        }
    }

    /// The payload as UTF-8, if it is.
    pub fn as_str(&self) -> Option<&'a str> {
        std::str::from_utf8(self.bytes).ok()
    }
}

/// Iterator over the fields of a message.
pub(super) struct Fields<'a> {
    msg: Msg<'a>,
    pos: usize,
    failed: bool,
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<Field<'a>, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.msg.bytes.len() {
            return None;
        }
        let r = self.read_field();
        self.failed = r.is_err();
        Some(r)
    }
}

impl<'a> Fields<'a> {
    fn read_field(&mut self) -> Result<Field<'a>, WireError> {
        let at = self.msg.start + self.pos;
        let tag = read_varint(self.msg, &mut self.pos)?;
        let number = tag >> 3;
        if number == 0 || number > (1 << 29) - 1 {
            return Err(WireError::FieldNumber { at, number });
        }
        let number = number as u32;
        let value = match (tag & 7) as u8 {
            0 => Value::Varint(read_varint(self.msg, &mut self.pos)?),
            1 => Value::Fixed64(u64::from_le_bytes(self.take::<8>()?)),
            2 => {
                let len_at = self.msg.start + self.pos;
                let len = read_varint(self.msg, &mut self.pos)?;
                let avail = self.msg.bytes.len() - self.pos;
                if len > avail as u64 {
                    return Err(WireError::Overrun {
                        at: len_at,
                        need: len,
                        end: self.msg.end(),
                    });
                }
                // len <= avail, so it fits usize and the slice is in bounds.
                let len = len as usize;
                let start = self.pos;
                self.pos += len;
                Value::Len(Msg::new(
                    &self.msg.bytes[start..self.pos],
                    self.msg.start + start,
                ))
            }
            5 => Value::Fixed32(u32::from_le_bytes(self.take::<4>()?)),
            wire_type => return Err(WireError::WireType { at, wire_type }),
        };
        Ok(Field { number, value, at })
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let rest = &self.msg.bytes[self.pos..];
        let chunk: [u8; N] =
            rest.get(..N)
                .and_then(|c| c.try_into().ok())
                .ok_or(WireError::Overrun {
                    at: self.msg.start + self.pos,
                    need: N as u64,
                    end: self.msg.end(),
                })?;
        self.pos += N;
        Ok(chunk)
    }
}

/// Iterator over a packed varint payload.
pub(super) struct PackedVarints<'a> {
    msg: Msg<'a>,
    pos: usize,
    failed: bool,
}

impl Iterator for PackedVarints<'_> {
    type Item = Result<u64, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.msg.bytes.len() {
            return None;
        }
        let r = read_varint(self.msg, &mut self.pos);
        self.failed = r.is_err();
        Some(r)
    }
}

/// Reads a varint at `*pos` of `msg`, advancing `pos`.
fn read_varint(msg: Msg<'_>, pos: &mut usize) -> Result<u64, WireError> {
    let at = msg.start + *pos;
    let mut value = 0u64;
    for i in 0..MAX_VARINT_BYTES {
        let Some(&b) = msg.bytes.get(*pos + i) else {
            return Err(WireError::Overrun {
                at,
                need: i as u64 + 1,
                end: msg.end(),
            });
        };
        // The tenth byte may only contribute the 64th bit.
        if i == MAX_VARINT_BYTES - 1 && b > 1 {
            return Err(WireError::VarintTooLong { at });
        }
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            *pos += i + 1;
            return Ok(value);
        }
    }
    Err(WireError::VarintTooLong { at })
}

/// Encodes `v` as a varint (tests and fixture builders).
#[cfg(test)]
pub(super) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(bytes: &[u8]) -> Vec<Result<Field<'_>, WireError>> {
        Msg::new(bytes, 100).fields().collect()
    }

    #[test]
    fn walks_every_wire_type_with_absolute_offsets() {
        let mut b = vec![0x08, 0x96, 0x01]; // 1: varint 150
        b.push(0x11); // 2: fixed64
        b.extend_from_slice(&7u64.to_le_bytes());
        b.extend_from_slice(&[0x1a, 0x03, b'a', b'b', b'c']); // 3: "abc"
        b.push(0x25); // 4: fixed32
        b.extend_from_slice(&9u32.to_le_bytes());
        let f: Vec<_> = fields(&b).into_iter().map(Result::unwrap).collect();
        assert_eq!(f.len(), 4);
        assert!(matches!(f[0].value, Value::Varint(150)));
        assert!(matches!(f[1].value, Value::Fixed64(7)));
        let Value::Len(m) = f[2].value else { panic!() };
        assert_eq!((m.bytes, m.range()), (&b"abc"[..], 114..117));
        assert!(matches!(f[3].value, Value::Fixed32(9)));
        assert_eq!(f[3].at, 117);
    }

    #[test]
    fn rejects_overruns_long_varints_groups_and_field_zero() {
        let e = fields(&[0x1a, 0x05, b'a']).pop().unwrap().unwrap_err();
        assert_eq!(
            e,
            WireError::Overrun {
                at: 101,
                need: 5,
                end: 103
            }
        );
        let mut long = vec![0x08];
        long.extend_from_slice(&[0xff; 10]);
        long.push(0x01);
        assert_eq!(
            fields(&long).pop().unwrap().unwrap_err(),
            WireError::VarintTooLong { at: 101 }
        );
        // Ten bytes whose last one carries more than the 64th bit.
        let mut over = vec![0x08];
        over.extend_from_slice(&[0xff; 9]);
        over.push(0x02);
        assert!(matches!(
            fields(&over).pop().unwrap(),
            Err(WireError::VarintTooLong { .. })
        ));
        // u64::MAX is exactly ten bytes and fine.
        let mut max = vec![0x08];
        put_varint(&mut max, u64::MAX);
        assert!(matches!(
            fields(&max)[0],
            Ok(Field {
                value: Value::Varint(u64::MAX),
                ..
            })
        ));
        assert!(matches!(
            fields(&[0x0b]).pop().unwrap(),
            Err(WireError::WireType { wire_type: 3, .. })
        ));
        assert!(matches!(
            fields(&[0x00]).pop().unwrap(),
            Err(WireError::FieldNumber { number: 0, .. })
        ));
        assert!(fields(&[0x11, 1, 2, 3]).pop().unwrap().is_err());
        // A length that does not fit in usize on any platform.
        let mut huge = vec![0x0a];
        put_varint(&mut huge, u64::MAX);
        assert!(matches!(
            fields(&huge).pop().unwrap(),
            Err(WireError::Overrun { .. })
        ));
    }

    #[test]
    fn stops_after_the_first_error() {
        let f = fields(&[0x0b, 0x08, 0x01]);
        assert_eq!(f.len(), 1);
        let v: Vec<_> = Msg::new(&[0x80], 0).packed_varints().collect();
        assert_eq!(v.len(), 1);
        assert!(v[0].is_err());
    }
}
