//! ONNX models (`.onnx`: one protobuf `ModelProto`), read straight from the map.
//!
//! Weights live in graph initializers, in `Constant` nodes, and inside the subgraphs of
//! control-flow nodes (`If`, `Loop`, `Scan`, any graph-valued attribute), optionally in
//! external files beside the model. `raw_data` and packed `float_data`/`double_data` become
//! zero-copy ranges of the map; varint fields (`int32_data`, `int64_data`, `uint64_data`) are
//! converted to little-endian bytes. Quantized weights are linked to their scales through
//! `DequantizeLinear`/`QLinearMatMul`/`QLinearConv` nodes, or by the `X_q`/`X_scale` naming
//! that int8 exports without such nodes use.
//!
//! Field numbers follow `onnx/onnx.proto` (onnx 1.23, IR version 11).

mod dataflow;
mod external;
mod fields;
mod graph;
mod notes;
mod quant;
mod tensor;
mod wire;

#[cfg(test)]
mod hostile_tests;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::ErrorKind;
use crate::format::Format;
use crate::parsed::ParsedFile;

use self::fields::{invalid, len, varint, wire_error};
use self::notes::{clip, Notes, MAX_NOTES};
use self::wire::{Field, Msg};

/// Parses a whole ONNX file. `model_path` is where it was read from: external data is
/// resolved against its folder and must stay inside it.
pub(crate) fn read(buf: &[u8], model_path: &Path) -> Result<ParsedFile, ErrorKind> {
    let file_len = buf.len();
    let model = Msg::new(buf, 0);
    let mut metadata = BTreeMap::new();
    let mut notes = Notes::default();
    let mut graph = None;
    let mut graphs = 0usize;
    let mut opsets = Vec::new();
    let mut props = 0usize;
    for f in model.fields() {
        let f = f.map_err(|e| wire_error(e, file_len, "ModelProto"))?;
        match f.number {
            1 => put(
                &mut metadata,
                "ir_version",
                varint(&f, "ModelProto.ir_version")?,
            ),
            2 => put_text(
                &mut metadata,
                "producer_name",
                &f,
                "ModelProto.producer_name",
            )?,
            3 => put_text(
                &mut metadata,
                "producer_version",
                &f,
                "ModelProto.producer_version",
            )?,
            4 => put_text(&mut metadata, "domain", &f, "ModelProto.domain")?,
            5 => put(
                &mut metadata,
                "model_version",
                varint(&f, "ModelProto.model_version")? as i64,
            ),
            6 => put_text(&mut metadata, "doc_string", &f, "ModelProto.doc_string")?,
            7 => {
                graphs += 1;
                graph = Some(len(&f, "ModelProto.graph")?);
            }
            8 => opsets.push(opset(len(&f, "ModelProto.opset_import")?, file_len)?),
            14 => {
                let (k, v) = key_value(len(&f, "ModelProto.metadata_props")?, file_len)?;
                props += 1;
                if props <= MAX_NOTES {
                    metadata.insert(format!("metadata_props.{}", clip(&k)), clip(&v));
                }
            }
            20 => notes.add(
                "unread",
                "training_info",
                "training graphs are not read".into(),
            ),
            25 => notes.add(
                "unread",
                "functions",
                "tensors inside model-local functions are not read".into(),
            ),
            _ => {}
        }
    }
    if !opsets.is_empty() {
        metadata.insert("opset_import".into(), opsets.join(", "));
    }
    let graph = match (graph, graphs) {
        (Some(g), 1) => g,
        (None, _) => return Err(invalid("the model has no graph (field 7 of ModelProto)")),
        (Some(_), n) => {
            return Err(invalid(format!(
                "the model has {n} graph fields; merging repeated messages is not supported"
            )))
        }
    };
    let mut parser = graph::Parser::new(file_len, model_path);
    parser.graph(graph, 0, "the main graph")?;
    let graph::Parser {
        tensors,
        quant_nodes,
        flow_nodes,
        external,
        notes: graph_notes,
        main_graph_name,
        ..
    } = parser;
    if let Some(name) = main_graph_name {
        metadata.insert("graph_name".into(), clip(&name));
    }
    notes.merge(graph_notes);
    let quant_links = quant::link(&tensors, &quant_nodes, &flow_nodes, &mut notes);
    let locations: Vec<&str> = external.locations().collect();
    if !locations.is_empty() {
        metadata.insert("external_data".into(), locations.join(", "));
    }
    notes.finish(&mut metadata);
    Ok(ParsedFile {
        tensors,
        quant_links,
        metadata,
        ..ParsedFile::new(Format::Onnx)
    })
}

/// Whether `head` (the first bytes of a file, 16 are enough) looks like an ONNX model.
///
/// ONNX has no magic number. Serializers (protobuf C++, Python, onnx's own) write fields in
/// number order, so a `ModelProto` starts with field 1 `ir_version` (tag `0x08`) and a small
/// one-byte varint (1 to 63; IR versions are 3 to 11 today), followed by the tag of another
/// `ModelProto` field: a string (2, 3, 4, 6), `model_version` (5), the graph (7) or an opset
/// (8). A string's visible bytes must be printable ASCII. Limits: a model written without
/// `ir_version` first is not recognized, and any other protobuf whose first field is a small
/// varint 1 followed by such a tag would be taken for ONNX, so run this after the checks for
/// formats that have magic bytes and after the safetensors check.
pub(crate) fn looks_like_onnx(head: &[u8]) -> bool {
    let [0x08, ir, tag, rest @ ..] = head else {
        return false;
    };
    if !(1..=63).contains(ir) {
        return false;
    }
    match tag {
        // model_version: a varint.
        0x28 => !rest.is_empty(),
        // producer_name, producer_version, domain, doc_string: length, then text.
        0x12 | 0x1a | 0x22 | 0x32 => {
            let Some((&len, text)) = rest.split_first() else {
                return false;
            };
            if len & 0x80 != 0 {
                // A string of 128 bytes or more; unusual for the producer fields but valid.
                return *tag == 0x32;
            }
            text.iter()
                .take(len as usize)
                .all(|b| b.is_ascii_graphic() || *b == b' ')
        }
        // graph, opset_import: a length varint follows.
        0x3a | 0x42 => !rest.is_empty(),
        _ => false,
    }
}

fn put(metadata: &mut BTreeMap<String, String>, key: &str, value: impl ToString) {
    metadata.insert(key.to_string(), value.to_string());
}

fn put_text(
    metadata: &mut BTreeMap<String, String>,
    key: &str,
    f: &Field<'_>,
    what: &str,
) -> Result<(), ErrorKind> {
    // Display text only: invalid UTF-8 is replaced rather than refused.
    let m = len(f, what)?;
    metadata.insert(key.to_string(), clip(&String::from_utf8_lossy(m.bytes)));
    Ok(())
}

/// An `OperatorSetIdProto` as `domain:version` (the default domain shown as `ai.onnx`).
fn opset(m: Msg<'_>, file_len: usize) -> Result<String, ErrorKind> {
    let mut domain = String::new();
    let mut version = 0i64;
    for f in m.fields() {
        let f = f.map_err(|e| wire_error(e, file_len, "OperatorSetIdProto"))?;
        match f.number {
            1 => domain = clip(&String::from_utf8_lossy(len(&f, "opset domain")?.bytes)),
            2 => version = varint(&f, "opset version")? as i64,
            _ => {}
        }
    }
    if domain.is_empty() {
        domain = "ai.onnx".into();
    }
    Ok(format!("{domain}:{version}"))
}

/// A `StringStringEntryProto` as display text.
fn key_value(m: Msg<'_>, file_len: usize) -> Result<(String, String), ErrorKind> {
    let (mut k, mut v) = (String::new(), String::new());
    for f in m.fields() {
        let f = f.map_err(|e| wire_error(e, file_len, "StringStringEntryProto"))?;
        match f.number {
            1 => k = String::from_utf8_lossy(len(&f, "key")?.bytes).into_owned(),
            2 => v = String::from_utf8_lossy(len(&f, "value")?.bytes).into_owned(),
            _ => {}
        }
    }
    Ok((k, v))
}
