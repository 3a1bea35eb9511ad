//! Links stored-quantized tensors to their scales and zero points.
//!
//! Three sources, in this order, each for what the one before left unlinked: operators that
//! dequantize a stored tensor (`DequantizeLinear`, and the weight inputs of
//! `QLinearMatMul`/`QLinearConv`); the data flow of exports that dequantize with plain
//! `Cast`/`Sub`/`Mul` nodes or `MatMulInteger` ([`super::dataflow`]); and, only for a
//! tensor the graph does not link (a graph stripped of those nodes), the names int8
//! exporters give the pieces (`X_quantized`/`X_q` with `X_scale` and `X_zero_point`/`X_zp`).

use std::collections::{HashMap, HashSet};

use crate::dtype::DType;
use crate::parsed::{ParsedTensor, QuantLink};

use super::dataflow::{self, FlowNode};
use super::notes::Notes;

/// An operator that turns a stored quantized tensor into real values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum QuantOp {
    /// `DequantizeLinear(x, x_scale, x_zero_point)`, attributes `axis` (default 1), `block_size`.
    Dequantize,
    /// `QLinearMatMul(a, a_scale, a_zp, b, b_scale, b_zp, …)`: per-column scales of `b`.
    MatMul,
    /// `QLinearConv(x, x_scale, x_zp, w, w_scale, w_zp, …)`: per-output-channel scales of `w`.
    Conv,
}

impl QuantOp {
    pub fn of(op_type: &str) -> Option<QuantOp> {
        match op_type {
            "DequantizeLinear" => Some(QuantOp::Dequantize),
            "QLinearMatMul" => Some(QuantOp::MatMul),
            "QLinearConv" => Some(QuantOp::Conv),
            _ => None,
        }
    }
}

/// One dequantizing node as found in a graph.
#[derive(Debug, Clone)]
pub(super) struct QuantNode {
    pub op: QuantOp,
    /// Its first inputs (empty strings for omitted optional inputs).
    pub inputs: Vec<String>,
    pub axis: Option<i64>,
    pub block_size: Option<i64>,
    pub label: String,
}

/// Stored (quantized) name suffix, scale suffix, zero-point suffixes.
const NAMING: [(&str, &str, &[&str]); 3] = [
    ("_quantized", "_scale", &["_zero_point", "_zp"]),
    ("_q", "_scale", &["_zero_point", "_zp"]),
    ("quantized", "scale", &["zero_point", "zp"]),
];

/// Every link the nodes, the data flow and the names support, in that order, each quantized
/// tensor once.
pub(super) fn link(
    tensors: &[ParsedTensor],
    nodes: &[QuantNode],
    flow: &[FlowNode],
    notes: &mut Notes,
) -> Vec<QuantLink> {
    let mut by_name: HashMap<&str, &ParsedTensor> = HashMap::new();
    for t in tensors {
        by_name.entry(t.name.as_str()).or_insert(t);
    }
    let mut links = Vec::new();
    let mut linked = HashSet::new();
    for n in nodes {
        let slots: &[(usize, usize, usize, Axis)] = match n.op {
            QuantOp::Dequantize => &[(0, 1, 2, Axis::Attribute)],
            // Activations (a, x) are usually graph inputs and weights (b, w) initializers;
            // link whichever is stored. `a` has per-row scales, `b` per-column, `w` per
            // output channel.
            QuantOp::MatMul => &[(0, 1, 2, Axis::FromEnd(2)), (3, 4, 5, Axis::FromEnd(1))],
            QuantOp::Conv => &[(3, 4, 5, Axis::Fixed(0))],
        };
        for &(qi, si, zi, hint) in slots {
            let input = |i: usize| {
                n.inputs
                    .get(i)
                    .map(String::as_str)
                    .filter(|s| !s.is_empty())
            };
            let (Some(q), Some(s)) = (input(qi).and_then(|q| by_name.get(q)), input(si)) else {
                continue;
            };
            if linked.contains(q.name.as_str()) {
                continue;
            }
            let Some(scale) = by_name.get(s) else {
                notes.add(
                    "quant",
                    &q.name,
                    format!("{}: scale `{s}` is not a stored tensor", n.label),
                );
                continue;
            };
            let zero_point = match input(zi) {
                Some(z) if by_name.contains_key(z) => Some(z.to_string()),
                Some(z) => {
                    notes.add(
                        "quant",
                        &q.name,
                        format!("{}: zero point `{z}` is not a stored tensor", n.label),
                    );
                    continue;
                }
                None => None,
            };
            let axis = match node_axis(n, q, scale, hint) {
                Ok(axis) => axis,
                Err(why) => {
                    notes.add("quant", &q.name, format!("{}: {why}", n.label));
                    continue;
                }
            };
            if let Some(b) = n.block_size.filter(|&b| b > 0) {
                notes.add(
                    "quant_block",
                    &q.name,
                    format!("block_size {b} along axis {axis:?}"),
                );
            }
            linked.insert(q.name.as_str());
            links.push(QuantLink {
                quantized: q.name.clone(),
                scale: scale.name.clone(),
                zero_point,
                axis,
            });
        }
    }
    links.extend(dataflow::link(&by_name, flow, &mut linked));
    for q in tensors {
        if !is_stored_quantized(q.dtype) || linked.contains(q.name.as_str()) {
            continue;
        }
        for (q_suffix, s_suffix, z_suffixes) in NAMING {
            let Some(base) = q.name.strip_suffix(q_suffix).filter(|b| !b.is_empty()) else {
                continue;
            };
            let Some(scale) = by_name.get(format!("{base}{s_suffix}").as_str()) else {
                continue;
            };
            if !is_scale(scale.dtype) {
                continue;
            }
            let Some(axis) = infer_axis(&q.shape, &scale.shape) else {
                notes.add(
                    "quant",
                    &q.name,
                    format!(
                        "scale `{}` {:?} fits no axis of {:?}",
                        scale.name, scale.shape, q.shape
                    ),
                );
                break;
            };
            let scale_count: usize = scale.shape.iter().product();
            let zero_point = z_suffixes
                .iter()
                .filter_map(|z| by_name.get(format!("{base}{z}").as_str()))
                .find(|z| z.shape.iter().product::<usize>() == scale_count)
                .map(|z| z.name.clone());
            if let Some(a) = axis {
                let (qd, sd) = (q.shape.get(a).copied().unwrap_or(scale_count), scale_count);
                if qd != sd && sd != 0 {
                    notes.add(
                        "quant_block",
                        &q.name,
                        format!("block size {} along axis {a}", qd / sd),
                    );
                }
            }
            linked.insert(q.name.as_str());
            links.push(QuantLink {
                quantized: q.name.clone(),
                scale: scale.name.clone(),
                zero_point,
                axis,
            });
            break;
        }
    }
    links
}

/// Where an operator's per-axis scales apply.
#[derive(Debug, Clone, Copy)]
enum Axis {
    /// The node's `axis` attribute (default 1, negative counts from the end).
    Attribute,
    /// A fixed axis.
    Fixed(usize),
    /// The n-th axis from the end (1 = the last).
    FromEnd(usize),
}

/// The axis of a node's scale: `None` for a single scale, else the operator's axis checked
/// against the shapes.
fn node_axis(
    n: &QuantNode,
    q: &ParsedTensor,
    scale: &ParsedTensor,
    hint: Axis,
) -> Result<Option<usize>, String> {
    let count: usize = scale.shape.iter().product();
    if count == 1 {
        return Ok(None);
    }
    let rank = q.shape.len();
    let axis = match hint {
        Axis::FromEnd(k) => rank
            .checked_sub(k)
            .ok_or_else(|| format!("a rank-{rank} tensor has no per-axis scales here"))?,
        Axis::Fixed(a) => a,
        Axis::Attribute => {
            let a = n.axis.unwrap_or(1);
            let a = if a < 0 { a + rank as i64 } else { a };
            usize::try_from(a)
                .ok()
                .filter(|&a| a < rank)
                .ok_or_else(|| format!("axis {} is outside rank {rank}", n.axis.unwrap_or(1)))?
        }
    };
    let dim = *q
        .shape
        .get(axis)
        .ok_or_else(|| format!("axis {axis} is outside rank {rank}"))?;
    let blocked = n.block_size.is_some_and(|b| b > 0);
    if blocked || count == dim {
        Ok(Some(axis))
    } else {
        Err(format!(
            "{count} scales do not match dim {dim} of axis {axis} of {:?}",
            q.shape
        ))
    }
}

/// The axis along which `scale` applies to a tensor of shape `q`, as a `Mul` would broadcast
/// it: `Some(None)` for one scale, `Some(Some(axis))` when exactly one axis of the scale is not
/// 1 and it equals (or, for block-wise scales, divides) that axis of `q`; for a 1-D scale that
/// does not broadcast, the one axis of `q` of its length. `None` when it fits no axis.
pub(super) fn infer_axis(q: &[usize], scale: &[usize]) -> Option<Option<usize>> {
    let count = scale.iter().try_fold(1usize, |a, &d| a.checked_mul(d))?;
    if count == 1 {
        return Some(None);
    }
    if count == 0 || scale.len() > q.len() {
        return None;
    }
    let pad = q.len() - scale.len();
    let mut axes = scale
        .iter()
        .enumerate()
        .filter(|(_, &d)| d != 1)
        .map(|(i, _)| i + pad);
    if let (Some(a), None) = (axes.next(), axes.next()) {
        let (qd, sd) = (q[a], scale[a - pad]);
        if qd == sd || qd % sd == 0 {
            return Some(Some(a));
        }
    }
    if scale.len() == 1 {
        let mut same = q
            .iter()
            .enumerate()
            .filter(|(_, &d)| d == count)
            .map(|(i, _)| i);
        if let (Some(a), None) = (same.next(), same.next()) {
            return Some(Some(a));
        }
    }
    None
}

/// Element types quantized weights are stored in.
pub(super) fn is_stored_quantized(d: DType) -> bool {
    matches!(
        d,
        DType::I8
            | DType::U8
            | DType::I16
            | DType::U16
            | DType::I32
            | DType::U32
            | DType::F8E4M3
            | DType::F8E5M2
    )
}

/// Element types of scales.
pub(super) fn is_scale(d: DType) -> bool {
    matches!(d, DType::F32 | DType::F16 | DType::BF16 | DType::F64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infers_the_axis_like_broadcasting() {
        assert_eq!(infer_axis(&[4, 6], &[]), Some(None));
        assert_eq!(infer_axis(&[4, 6], &[1, 1]), Some(None));
        assert_eq!(infer_axis(&[5, 6], &[5, 1]), Some(Some(0)));
        assert_eq!(infer_axis(&[6, 6], &[1, 6]), Some(Some(1)));
        assert_eq!(infer_axis(&[3, 4], &[4]), Some(Some(1)));
        // 1-D, not broadcastable, one matching axis (DequantizeLinear-style).
        assert_eq!(infer_axis(&[3, 4], &[3]), Some(Some(0)));
        // Block-wise: 2 scales for 8 rows.
        assert_eq!(infer_axis(&[8, 4], &[2, 1]), Some(Some(0)));
        assert_eq!(infer_axis(&[2, 3], &[5]), None);
        assert_eq!(infer_axis(&[2, 3], &[2, 3]), None);
        assert_eq!(infer_axis(&[2, 3], &[0]), None);
        assert_eq!(infer_axis(&[3], &[1, 3]), None);
        assert_eq!(infer_axis(&[3, 3], &[3]), Some(Some(1)));
    }
}
