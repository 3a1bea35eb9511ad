//! Tensor records of a legacy GGML file and how they chain from one offset to the end of
//! the file: `i32 n_dims, i32 name_len, i32 ggml_type, i32 dims[n_dims] (innermost first),
//! name, [ggjt/ggla: zero padding to a 32-byte file offset], data`.

use std::collections::HashSet;
use std::ops::Range;

use crate::readers::cursor::{Cursor, Short};

use super::blocks::{block_of, type_label, Sizes};

/// ggjt and ggla align tensor data to this file offset.
const DATA_ALIGNMENT: usize = 32;
/// Legacy ggml tensors have at most 4 dimensions.
const MAX_DIMS: i32 = 4;
/// Longest tensor name accepted (ggml used 32–64; converters asserted < 4096).
const MAX_NAME_LEN: i32 = 512;

/// One tensor record as chained.
pub(super) struct Record {
    pub name: String,
    pub type_id: u32,
    /// Innermost first, as stored.
    pub dims: Vec<usize>,
    pub data: Range<usize>,
}

/// How the records of one file are laid out.
#[derive(Debug, Clone, Copy)]
pub(super) struct Rules {
    /// Tensor data starts at a 32-byte file offset (ggjt, ggla).
    pub padded: bool,
    /// The block sizes to assume.
    pub sizes: Sizes,
    /// A record may have no dimensions (one element): whisper.cpp's VAD loader accepts
    /// `0 <= n_dims <= 4`, and its converter writes the squeezed one-element final bias so.
    pub scalars: bool,
}

/// Why a chain of records failed. The scan meets one at almost every offset it tries,
/// so the common cases carry numbers and are only put into words when reported.
pub(super) enum ChainError {
    /// A field before the name is implausible.
    Field {
        pos: usize,
        what: &'static str,
        value: i64,
    },
    /// The file ends inside the record at `pos`.
    Cut { pos: usize, short: Short },
    /// The chain reached a record already found to lead nowhere.
    Seen { pos: usize },
    /// A record with a readable name is inconsistent.
    Detail { detail: String, truncated: bool },
}

impl ChainError {
    /// The file ended inside a record (rather than a field being implausible).
    pub(super) fn truncated(&self) -> bool {
        matches!(
            self,
            ChainError::Cut { .. }
                | ChainError::Detail {
                    truncated: true,
                    ..
                }
        )
    }

    /// The failure in words.
    pub(super) fn describe(&self) -> String {
        match self {
            ChainError::Field { pos, what, value } => {
                format!("tensor record at offset {pos}: {what} is {value}")
            }
            ChainError::Cut { pos, short } => {
                format!("tensor record at offset {pos} {}", short.describe())
            }
            ChainError::Seen { pos } => {
                format!("records from offset {pos} were already found inconsistent")
            }
            ChainError::Detail { detail, .. } => detail.clone(),
        }
    }
}

/// Whether the 12 bytes at `pos` could open a tensor record: the scan's cheap first test.
pub(super) fn plausible_record(buf: &[u8], pos: usize) -> bool {
    let field = |i: usize| {
        buf.get(pos + 4 * i..pos + 4 * i + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(i32::from_le_bytes)
    };
    matches!(
        (field(0), field(1), field(2)),
        (Some(1..=MAX_DIMS), Some(1..=MAX_NAME_LEN), Some(0..=15))
    )
}

/// Follows records from `start` to the end of `buf`. Record starts of a failed chain go
/// into `dead`: a chain through them fails the same way, so the scan stays linear.
pub(super) fn chain(
    buf: &[u8],
    start: usize,
    rules: Rules,
    dead: &mut HashSet<usize>,
) -> Result<Vec<Record>, ChainError> {
    let mut records = Vec::new();
    let mut visited = Vec::new();
    let mut pos = start;
    let result = loop {
        if pos == buf.len() {
            break Ok(());
        }
        // Parse first: most scanned offsets fail here, before any set lookup.
        let r = match record(buf, pos, rules) {
            Ok(r) => r,
            Err(e) => break Err(e),
        };
        if dead.contains(&pos) {
            break Err(ChainError::Seen { pos });
        }
        visited.push(pos);
        pos = r.data.end;
        records.push(r);
    };
    match result {
        Ok(()) => Ok(records),
        Err(e) => {
            dead.extend(visited);
            Err(e)
        }
    }
}

fn record(buf: &[u8], pos: usize, rules: Rules) -> Result<Record, ChainError> {
    let mut c = Cursor::new(buf, pos);
    let field = |what, value: i64| ChainError::Field { pos, what, value };
    let cut = |short| ChainError::Cut { pos, short };
    let n_dims = c.i32().map_err(cut)?;
    let name_len = c.i32().map_err(cut)?;
    let type_id = c.i32().map_err(cut)?;
    if rules.scalars && !(0..=MAX_DIMS).contains(&n_dims) {
        return Err(field("n_dims (0 to 4 expected)", n_dims.into()));
    }
    if !rules.scalars && !(1..=MAX_DIMS).contains(&n_dims) {
        return Err(field("n_dims (1 to 4 expected)", n_dims.into()));
    }
    if !(1..=MAX_NAME_LEN).contains(&name_len) {
        return Err(field(
            "the name length (1 to 512 expected)",
            name_len.into(),
        ));
    }
    let type_id = type_id as u32;
    let (per_block, block_bytes) = block_of(type_id, rules.sizes).ok_or_else(|| {
        field(
            "the GGML type id (not one legacy files use)",
            type_id.into(),
        )
    })?;
    let mut dims = Vec::with_capacity(n_dims as usize);
    for _ in 0..n_dims {
        let d = c.i32().map_err(cut)?;
        let d = usize::try_from(d)
            .ok()
            .filter(|&d| d > 0)
            .ok_or_else(|| field("a dimension (positive expected)", d.into()))?;
        dims.push(d);
    }
    let name = c.take(name_len as u64).map_err(cut)?;
    let name = std::str::from_utf8(name)
        .ok()
        .filter(|n| !n.chars().any(char::is_control))
        .ok_or_else(|| {
            field(
                "the length of a name that is not printable UTF-8",
                name_len.into(),
            )
        })?
        .to_string();
    let bad = |detail: String| ChainError::Detail {
        detail,
        truncated: false,
    };
    let shape = |dims: &[usize]| dims.iter().rev().copied().collect::<Vec<_>>();
    let elements = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    let ne0 = dims.first().copied().unwrap_or(1);
    let bytes = elements
        .filter(|e| ne0 % per_block == 0 && e % per_block == 0)
        .and_then(|e| (e / per_block).checked_mul(block_bytes))
        .ok_or_else(|| {
            bad(format!(
                "tensor `{name}` has shape {:?} that does not hold whole {} blocks",
                shape(&dims),
                type_label(type_id)
            ))
        })?;
    let mut data_start = c.pos();
    if rules.padded {
        data_start = data_start
            .checked_next_multiple_of(DATA_ALIGNMENT)
            .ok_or_else(|| bad(format!("tensor `{name}` data offset overflows")))?;
    }
    let data_end = data_start
        .checked_add(bytes)
        .ok_or_else(|| bad(format!("tensor `{name}` data size overflows")))?;
    if data_end > buf.len() {
        return Err(ChainError::Detail {
            detail: format!(
                "tensor `{name}` ({}, shape {:?}) needs bytes {data_start}..{data_end} but the file has {} bytes",
                type_label(type_id),
                shape(&dims),
                buf.len()
            ),
            truncated: true,
        });
    }
    Ok(Record {
        name,
        type_id,
        dims,
        data: data_start..data_end,
    })
}
