//! Scale links found from the graph's data flow, whatever the tensors are called.
//!
//! Int8 exports that dequantize without `DequantizeLinear` still say in their graph which
//! scale belongs to which stored tensor:
//!
//! - `Cast(q)`, optionally `Sub(·, zero_point)` (the zero point stored, or a `Cast` of a
//!   stored one), then `Mul(·, scale)` (either input order), the pattern of weight-only int8
//!   exports such as the corpus's all-MiniLM-L6-v2 int8 file;
//! - `MatMulInteger(a, q, a_zp, q_zp)`, `Cast`, then `Mul(·, s)` where `s` is the stored
//!   scale or `Mul(a_scale, scale)` with the stored one among its inputs (ONNX Runtime's
//!   dynamic quantization).
//!
//! A link is made only when the scale's shape broadcasts onto one axis of the stored
//! tensor ([`super::quant::infer_axis`]). Names are not read here: a renamed scale
//! (`_sca1e`) is linked all the same, and a name that points elsewhere cannot override it
//! (the name-based pass runs after this one, on what is left).

use std::collections::HashMap;

use crate::parsed::{ParsedTensor, QuantLink};

use super::quant::{infer_axis, is_scale, is_stored_quantized};

/// An operator on the dequantization paths above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FlowOp {
    Cast,
    Sub,
    Mul,
    MatMulInteger,
}

impl FlowOp {
    pub fn of(op_type: &str) -> Option<FlowOp> {
        match op_type {
            "Cast" => Some(FlowOp::Cast),
            "Sub" => Some(FlowOp::Sub),
            "Mul" => Some(FlowOp::Mul),
            "MatMulInteger" => Some(FlowOp::MatMulInteger),
            _ => None,
        }
    }
}

/// One node of those kinds: its inputs (empty for omitted ones) and first output.
#[derive(Debug, Clone)]
pub(super) struct FlowNode {
    pub op: FlowOp,
    pub inputs: Vec<String>,
    pub output: String,
}

/// Links for the stored quantized tensors not in `linked`, from the data flow; adds what it
/// links to `linked`.
pub(super) fn link<'t>(
    by_name: &HashMap<&str, &'t ParsedTensor>,
    flow: &[FlowNode],
    linked: &mut std::collections::HashSet<&'t str>,
) -> Vec<QuantLink> {
    let mut consumers: HashMap<&str, Vec<&FlowNode>> = HashMap::new();
    let mut producer: HashMap<&str, &FlowNode> = HashMap::new();
    for n in flow {
        for i in n.inputs.iter().filter(|i| !i.is_empty()) {
            consumers.entry(i.as_str()).or_default().push(n);
        }
        if !n.output.is_empty() {
            producer.entry(n.output.as_str()).or_insert(n);
        }
    }
    let graph = Graph {
        by_name,
        consumers,
        producer,
    };
    let mut links = Vec::new();
    for n in flow {
        let (stored, zero_point, after) = match n.op {
            FlowOp::Cast => (n.inputs.first(), None, graph.through_zero_point(&n.output)),
            FlowOp::MatMulInteger => {
                let zp = n.inputs.get(3).filter(|z| graph.stored(z).is_some());
                let cast = graph.next(&n.output, FlowOp::Cast);
                (
                    n.inputs.get(1),
                    zp.cloned(),
                    cast.map(|c| (c.output.as_str(), None)),
                )
            }
            _ => continue,
        };
        let Some(q) = stored.and_then(|s| graph.stored(s)) else {
            continue;
        };
        if !is_stored_quantized(q.dtype) || linked.contains(q.name.as_str()) {
            continue;
        }
        let Some((value, sub_zero_point)) = after else {
            continue;
        };
        let deep = n.op == FlowOp::MatMulInteger;
        let Some((scale, axis)) = graph.scale_for(value, q, deep) else {
            continue;
        };
        linked.insert(q.name.as_str());
        links.push(QuantLink {
            quantized: q.name.clone(),
            scale: scale.name.clone(),
            zero_point: zero_point.or(sub_zero_point),
            axis,
        });
    }
    links
}

struct Graph<'g, 't> {
    by_name: &'g HashMap<&'g str, &'t ParsedTensor>,
    consumers: HashMap<&'g str, Vec<&'g FlowNode>>,
    producer: HashMap<&'g str, &'g FlowNode>,
}

impl<'g, 't> Graph<'g, 't> {
    fn stored(&self, name: &str) -> Option<&'t ParsedTensor> {
        self.by_name.get(name).copied()
    }

    /// The only consumer of `value` with operator `op`.
    fn next(&self, value: &str, op: FlowOp) -> Option<&'g FlowNode> {
        let mut it = self
            .consumers
            .get(value)?
            .iter()
            .copied()
            .filter(|n| n.op == op);
        match (it.next(), it.next()) {
            (Some(n), None) => Some(n),
            _ => None,
        }
    }

    /// The value after an optional `Sub(value, zero_point)`, and that zero point's name.
    fn through_zero_point(&self, value: &'g str) -> Option<(&'g str, Option<String>)> {
        let Some(sub) = self.next(value, FlowOp::Sub) else {
            return Some((value, None));
        };
        if sub.inputs.first().map(String::as_str) != Some(value) {
            return Some((value, None));
        }
        let z = sub.inputs.get(1)?;
        let stored = self.stored(z).map(|t| t.name.clone()).or_else(|| {
            let cast = self.producer.get(z.as_str())?;
            (cast.op == FlowOp::Cast)
                .then(|| cast.inputs.first())
                .flatten()
                .and_then(|i| self.stored(i))
                .map(|t| t.name.clone())
        })?;
        Some((sub.output.as_str(), Some(stored)))
    }

    /// The stored scale a `Mul` applies to `value` (with `deep`, also one input of a `Mul`
    /// producing the factor), when it fits an axis of `q`.
    fn scale_for(
        &self,
        value: &str,
        q: &ParsedTensor,
        deep: bool,
    ) -> Option<(&'t ParsedTensor, Option<usize>)> {
        let mul = self.next(value, FlowOp::Mul)?;
        let other = mul.inputs.iter().find(|i| i.as_str() != value)?;
        let fits = |name: &str| {
            let s = self.stored(name).filter(|s| is_scale(s.dtype))?;
            infer_axis(&q.shape, &s.shape).map(|axis| (s, axis))
        };
        if let Some(found) = fits(other) {
            return Some(found);
        }
        if !deep {
            return None;
        }
        let product = self.producer.get(other.as_str())?;
        if product.op != FlowOp::Mul {
            return None;
        }
        let mut candidates = product.inputs.iter().filter_map(|i| fits(i));
        match (candidates.next(), candidates.next()) {
            (Some(found), None) => Some(found),
            _ => None,
        }
    }
}
