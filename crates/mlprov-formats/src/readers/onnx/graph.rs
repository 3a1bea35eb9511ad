//! `GraphProto`, `NodeProto` and `AttributeProto`: where tensors hide in a model.

use std::path::Path;

use crate::dtype::DType;
use crate::error::ErrorKind;
use crate::parsed::{ParsedTensor, TensorData};

use super::dataflow::{FlowNode, FlowOp};
use super::external::ExternalFiles;
use super::fields::{invalid, len, text, varint, wire_error};
use super::notes::Notes;
use super::quant::{QuantNode, QuantOp};
use super::tensor::{self, Decoded};
use super::wire::{Msg, Value};

/// Deepest nesting of subgraphs we follow; real models nest two or three levels. A limit
/// turns a recursion bomb (an `If` inside an `If`… thousands deep) into an error.
const MAX_GRAPH_DEPTH: usize = 32;

/// Inputs of a node we keep: `QLinearConv`, the widest operator we link, has nine.
const KEPT_INPUTS: usize = 9;

/// Walks graphs depth-first, collecting tensors and quantization nodes.
pub(super) struct Parser {
    file_len: usize,
    pub external: ExternalFiles,
    pub tensors: Vec<ParsedTensor>,
    pub quant_nodes: Vec<QuantNode>,
    /// Nodes on plain dequantization paths (`Cast`, `Sub`, `Mul`, `MatMulInteger`).
    pub flow_nodes: Vec<FlowNode>,
    pub notes: Notes,
    /// `GraphProto.name` of the top-level graph.
    pub main_graph_name: Option<String>,
}

/// The fields of a node that say what it is.
#[derive(Default)]
struct Head<'a> {
    name: &'a str,
    op: &'a str,
    domain: &'a str,
    inputs: Vec<&'a str>,
    output: Option<&'a str>,
}

impl Parser {
    pub fn new(file_len: usize, model_path: &Path) -> Self {
        Parser {
            file_len,
            external: ExternalFiles::new(model_path),
            tensors: Vec::new(),
            quant_nodes: Vec::new(),
            flow_nodes: Vec::new(),
            notes: Notes::default(),
            main_graph_name: None,
        }
    }

    /// Collects the tensors of graph `g` (initializers first, then nodes in order, each
    /// node's subgraphs where the node is), `depth` levels below the main graph.
    pub fn graph(&mut self, g: Msg<'_>, depth: usize, label: &str) -> Result<(), ErrorKind> {
        if depth > MAX_GRAPH_DEPTH {
            return Err(invalid(format!(
                "subgraphs are nested more than {MAX_GRAPH_DEPTH} deep ({label})"
            )));
        }
        let mut name = None;
        for f in g.fields() {
            let f = f.map_err(|e| wire_error(e, self.file_len, label))?;
            match f.number {
                2 => name = Some(String::from_utf8_lossy(len(&f, "GraphProto.name")?.bytes)),
                5 => self.tensor(len(&f, "GraphProto.initializer")?, None, "initializer")?,
                15 => self.sparse(len(&f, "GraphProto.sparse_initializer")?)?,
                _ => {}
            }
        }
        let label = match &name {
            Some(n) if !n.is_empty() => format!("graph `{n}`"),
            _ => label.to_string(),
        };
        if depth == 0 {
            self.main_graph_name = name.map(|n| n.into_owned());
        }
        let mut index = 0usize;
        for f in g.fields() {
            let f = f.map_err(|e| wire_error(e, self.file_len, &label))?;
            if f.number == 1 {
                self.node(len(&f, "GraphProto.node")?, depth, &label, index)?;
                index += 1;
            }
        }
        Ok(())
    }

    fn node(
        &mut self,
        n: Msg<'_>,
        depth: usize,
        graph: &str,
        index: usize,
    ) -> Result<(), ErrorKind> {
        let mut head = Head::default();
        let ctx = || format!("node #{index} of {graph}");
        for f in n.fields() {
            let f = f.map_err(|e| wire_error(e, self.file_len, &ctx()))?;
            match f.number {
                1 if head.inputs.len() < KEPT_INPUTS => {
                    head.inputs.push(text(&f, "NodeProto.input")?)
                }
                2 if head.output.is_none() => head.output = Some(text(&f, "NodeProto.output")?),
                3 => head.name = text(&f, "NodeProto.name")?,
                4 => head.op = text(&f, "NodeProto.op_type")?,
                7 => head.domain = text(&f, "NodeProto.domain")?,
                _ => {}
            }
        }
        let label = if head.name.is_empty() {
            format!("{} node #{index} of {graph}", head.op)
        } else {
            format!("node `{}` ({})", head.name, head.op)
        };
        let standard = matches!(head.domain, "" | "ai.onnx");
        let constant = standard && head.op == "Constant";
        let mut quant = QuantOp::of(head.op)
            .filter(|_| standard || head.domain == "com.microsoft")
            .map(|op| QuantNode {
                op,
                inputs: head.inputs.iter().map(|s| s.to_string()).collect(),
                axis: None,
                block_size: None,
                label: label.clone(),
            });
        if let Some(op) = FlowOp::of(head.op).filter(|_| standard) {
            self.flow_nodes.push(FlowNode {
                op,
                inputs: head.inputs.iter().map(|s| s.to_string()).collect(),
                output: head.output.unwrap_or_default().to_string(),
            });
        }
        // A Constant is named by its output (its TensorProto's own name is ignored).
        let out_name = head.output.filter(|s| !s.is_empty()).unwrap_or(head.name);
        let mut values = 0usize;
        for f in n.fields() {
            let f = f.map_err(|e| wire_error(e, self.file_len, &label))?;
            if f.number != 5 {
                continue;
            }
            let a = len(&f, "NodeProto.attribute")?;
            let attr = self.attribute(a, depth, &label)?;
            if constant && self.constant(attr, a, out_name, &label)? {
                values += 1;
                if values > 1 {
                    return Err(invalid(format!(
                        "{label} has more than one value attribute"
                    )));
                }
            }
            if let Some(q) = quant.as_mut() {
                match attr {
                    "axis" => q.axis = Some(int_attr(a, self.file_len, &label)?),
                    "block_size" => q.block_size = Some(int_attr(a, self.file_len, &label)?),
                    _ => {}
                }
            }
        }
        if constant && values == 0 {
            self.notes.add(
                "skipped",
                out_name,
                format!("{label} has no value attribute"),
            );
        }
        self.quant_nodes.extend(quant);
        Ok(())
    }

    /// Reads an attribute's name and walks the subgraphs it holds; returns the name.
    fn attribute<'a>(
        &mut self,
        a: Msg<'a>,
        depth: usize,
        node: &str,
    ) -> Result<&'a str, ErrorKind> {
        let mut name = "";
        for f in a.fields() {
            let f = f.map_err(|e| wire_error(e, self.file_len, node))?;
            if f.number == 1 {
                name = text(&f, "AttributeProto.name")?;
            }
        }
        for f in a.fields() {
            let f = f.map_err(|e| wire_error(e, self.file_len, node))?;
            // g (a graph) and graphs (a list): If's branches, Loop's and Scan's body, and
            // any other operator's graph attribute.
            if f.number == 6 || f.number == 11 {
                let g = len(&f, "AttributeProto.g")?;
                self.graph(g, depth + 1, &format!("attribute `{name}` of {node}"))?;
            }
        }
        Ok(name)
    }

    /// Emits the tensor of a Constant node's value attribute `attr` (content `a`) as `name`;
    /// returns whether `attr` was a value attribute.
    fn constant(
        &mut self,
        attr: &str,
        a: Msg<'_>,
        name: &str,
        node: &str,
    ) -> Result<bool, ErrorKind> {
        let fields = || {
            a.fields()
                .filter_map(Result::ok)
                .filter(|f| matches!(f.number, 2 | 3 | 5 | 7 | 8))
        };
        let owned = |dtype, shape, bytes| ParsedTensor {
            name: name.to_string(),
            dtype,
            shape,
            data: TensorData::Owned(bytes),
        };
        let is_value = matches!(
            attr,
            "value"
                | "value_float"
                | "value_int"
                | "value_floats"
                | "value_ints"
                | "value_string"
                | "value_strings"
                | "sparse_value"
        );
        if is_value && name.is_empty() {
            self.notes.add(
                "skipped",
                &format!("(unnamed at byte {})", a.start),
                format!("{node} has no output name"),
            );
            return Ok(true);
        }
        match attr {
            "value" => {
                let mut tensors = fields().filter(|f| f.number == 5);
                let (Some(t), None) = (tensors.next(), tensors.next()) else {
                    return Err(invalid(format!(
                        "{node}: attribute `value` must hold exactly one tensor"
                    )));
                };
                self.tensor(len(&t, "AttributeProto.t")?, Some(name), node)?;
            }
            "value_float" => {
                let mut v = 0f32;
                for f in fields().filter(|f| f.number == 2) {
                    match f.value {
                        Value::Fixed32(b) => v = f32::from_bits(b),
                        _ => return Err(invalid(format!("{node}: value_float is not a float"))),
                    }
                }
                let t = owned(DType::F32, vec![], v.to_le_bytes().to_vec());
                self.tensors.push(t);
            }
            "value_int" => {
                let mut v = 0u64;
                for f in fields().filter(|f| f.number == 3) {
                    v = varint(&f, "AttributeProto.i")?;
                }
                let t = owned(DType::I64, vec![], v.to_le_bytes().to_vec());
                self.tensors.push(t);
            }
            "value_floats" => {
                let mut bytes = Vec::new();
                for f in fields().filter(|f| f.number == 7) {
                    match f.value {
                        Value::Fixed32(b) => bytes.extend_from_slice(&b.to_le_bytes()),
                        Value::Len(m) if m.bytes.len() % 4 == 0 => bytes.extend_from_slice(m.bytes),
                        _ => return Err(invalid(format!("{node}: value_floats is malformed"))),
                    }
                }
                let t = owned(DType::F32, vec![bytes.len() / 4], bytes);
                self.tensors.push(t);
            }
            "value_ints" => {
                let mut bytes = Vec::new();
                for f in fields().filter(|f| f.number == 8) {
                    match f.value {
                        Value::Varint(v) => bytes.extend_from_slice(&v.to_le_bytes()),
                        Value::Len(m) => {
                            for v in m.packed_varints() {
                                let v = v.map_err(|e| wire_error(e, self.file_len, node))?;
                                bytes.extend_from_slice(&v.to_le_bytes());
                            }
                        }
                        _ => return Err(invalid(format!("{node}: value_ints is malformed"))),
                    }
                }
                let t = owned(DType::I64, vec![bytes.len() / 8], bytes);
                self.tensors.push(t);
            }
            "value_string" | "value_strings" => {
                self.notes.add(
                    "skipped",
                    name,
                    format!("{node} holds strings, not weights"),
                );
            }
            "sparse_value" => {
                self.notes.add(
                    "skipped",
                    name,
                    format!("{node} holds a sparse tensor, which is not decoded"),
                );
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Decodes a `TensorProto` and records it, or records why it was skipped.
    fn tensor(&mut self, t: Msg<'_>, name: Option<&str>, origin: &str) -> Result<(), ErrorKind> {
        match tensor::decode(t, self.file_len, name, &mut self.external)? {
            Decoded::Tensor(raw) => self.tensors.push(raw),
            Decoded::Skipped { name, reason } => {
                let subject = if name.is_empty() {
                    format!("(unnamed at byte {})", t.start)
                } else {
                    name
                };
                self.notes
                    .add("skipped", &subject, format!("{origin}: {reason}"));
            }
        }
        Ok(())
    }

    /// Notes a sparse initializer (COO values and indices): not decoded into a dense tensor.
    fn sparse(&mut self, s: Msg<'_>) -> Result<(), ErrorKind> {
        let mut name = String::new();
        for f in s.fields() {
            let f = f.map_err(|e| wire_error(e, self.file_len, "a sparse initializer"))?;
            if f.number != 1 {
                continue;
            }
            for g in len(&f, "SparseTensorProto.values")?.fields() {
                let g = g.map_err(|e| wire_error(e, self.file_len, "a sparse initializer"))?;
                if g.number == 8 {
                    name = text(&g, "TensorProto.name")?.to_string();
                }
            }
        }
        if name.is_empty() {
            name = format!("(unnamed at byte {})", s.start);
        }
        self.notes.add(
            "skipped",
            &name,
            "sparse initializer: not decoded into a dense tensor".into(),
        );
        Ok(())
    }
}

/// The `i` of an integer attribute (protobuf default 0 when absent).
fn int_attr(a: Msg<'_>, file_len: usize, node: &str) -> Result<i64, ErrorKind> {
    let mut v = 0i64;
    for f in a.fields() {
        let f = f.map_err(|e| wire_error(e, file_len, node))?;
        if f.number == 3 {
            v = varint(&f, "AttributeProto.i")? as i64;
        }
    }
    Ok(v)
}
