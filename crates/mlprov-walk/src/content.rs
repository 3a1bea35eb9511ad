//! What the walk reads inside a few files: the shards a safetensors index lists and the
//! external data files an ONNX model names.

use std::collections::BTreeSet;
use std::io::{self, Read};

/// Largest shard index read (real ones are well under a megabyte); as mlprov-formats.
pub(crate) const MAX_INDEX_BYTES: u64 = 64 << 20;
/// Bytes of an ONNX file searched for external data names: the names sit in initializers,
/// which in a model with external data are small.
pub(crate) const ONNX_SCAN_BYTES: u64 = 256 << 20;
/// Longest external data name kept.
const MAX_LOCATION: usize = 4096;

/// The shard file names a `*.safetensors.index.json` lists in its `weight_map`, sorted.
pub(crate) fn shard_names(json: &[u8]) -> Result<Vec<String>, String> {
    let value: serde_json::Value =
        serde_json::from_slice(json).map_err(|e| format!("shard index is not JSON: {e}"))?;
    let map = value
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or("shard index has no `weight_map` object")?;
    let mut shards = BTreeSet::new();
    for (tensor, shard) in map {
        let shard = shard
            .as_str()
            .ok_or_else(|| format!("shard of tensor `{tensor}` is not a string"))?;
        shards.insert(shard.to_string());
    }
    Ok(shards.into_iter().collect())
}

/// Reads at most `cap` bytes of `r`; an error if there are more.
pub(crate) fn read_capped(r: &mut dyn Read, cap: u64) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    Read::take(r, cap + 1).read_to_end(&mut out)?;
    if out.len() as u64 > cap {
        return Err(io::Error::other(format!("larger than {cap} bytes")));
    }
    Ok(out)
}

/// The external data file names (`location` entries of `TensorProto.external_data`) in the
/// first [`ONNX_SCAN_BYTES`] of an ONNX file, found by their protobuf encoding: key field
/// `0a 08 "location"`, then value field `12 <varint length> <text>`. Best effort: a name
/// beyond the scanned bytes is missed (and the model then fails to open, naming it).
pub(crate) fn onnx_locations(r: &mut dyn Read) -> io::Result<Vec<String>> {
    const KEY: &[u8] = b"\x0a\x08location\x12";
    const CHUNK: usize = 1 << 20;
    let keep = KEY.len() + 3 + MAX_LOCATION;
    let mut found = BTreeSet::new();
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK + keep);
    let mut limited = Read::take(r, ONNX_SCAN_BYTES);
    let finder = memchr::memmem::Finder::new(KEY);
    loop {
        let start = buf.len();
        buf.resize(start + CHUNK, 0);
        let n = crate::source::read_full(&mut limited, &mut buf[start..])?;
        buf.truncate(start + n);
        let at_end = n == 0;
        for pos in finder.find_iter(&buf) {
            let rest = &buf[pos + KEY.len()..];
            if let Some((len, used)) = varint(rest) {
                if len == 0 || len > MAX_LOCATION {
                    continue;
                }
                if let Some(text) = rest.get(used..used + len) {
                    if let Ok(s) = std::str::from_utf8(text) {
                        found.insert(s.to_string());
                    }
                }
            }
        }
        if at_end {
            break;
        }
        // Keep a tail so a name split between reads is found in the next round.
        let cut = buf.len().saturating_sub(keep);
        buf.drain(..cut);
    }
    Ok(found.into_iter().collect())
}

fn varint(b: &[u8]) -> Option<(usize, usize)> {
    let mut v: usize = 0;
    for (i, &c) in b.iter().take(3).enumerate() {
        v |= usize::from(c & 0x7f) << (7 * i);
        if c & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_onnx_fixture_names_its_external_data() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/onnx/external/model.onnx"
        );
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(onnx_locations(&mut &bytes[..]).unwrap(), ["weights.bin"]);
    }

    #[test]
    fn shard_indexes_list_their_files() {
        let j = br#"{"weight_map": {"a": "x.safetensors", "b": "y.safetensors", "c": "x.safetensors"}}"#;
        assert_eq!(shard_names(j).unwrap(), ["x.safetensors", "y.safetensors"]);
        assert!(shard_names(b"{}").is_err());
    }
}
