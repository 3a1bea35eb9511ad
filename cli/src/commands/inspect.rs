//! `mlprov inspect`: formats, tensors and totals.

use std::path::Path;

use anyhow::Result;
use serde_json::json;

use crate::output::{human_bytes, print_json, shape};
use crate::Outcome;

pub fn run(path: &Path, json: bool) -> Result<Outcome> {
    let model = super::open(path)?;
    let inv = mlprov::inspect(&model);
    if json {
        print_json(&json!({
            "path": path.display().to_string(),
            "layout": inv.layout,
            "files": inv.files,
            "skipped": inv.skipped,
            "totals": inv.totals,
        }))?;
        return Ok(Outcome::Fine);
    }
    for f in &inv.files {
        say!(
            "{}  {}  {}  header {} B  {} tensors",
            f.path,
            f.format_detail,
            human_bytes(f.size as u64),
            f.header_bytes,
            f.tensors.len()
        );
        let name_w = f
            .tensors
            .iter()
            .map(|t| t.name.len())
            .max()
            .unwrap_or(4)
            .max(4);
        say!(
            "  {:<name_w$}  {:<8}  {:<20}  {:>12}  WHERE",
            "NAME",
            "DTYPE",
            "SHAPE",
            "BYTES"
        );
        for t in &f.tensors {
            say!(
                "  {:<name_w$}  {:<8}  {:<20}  {:>12}  {}",
                t.name,
                t.dtype,
                shape(&t.shape),
                t.bytes,
                t.location
            );
        }
        for l in &f.quantized_pairs {
            say!(
                "  quantized pair: {} = ({} - {}) x {}",
                l.quantized,
                l.quantized,
                l.zero_point.as_deref().unwrap_or("0"),
                l.scale
            );
        }
        if !f.undecodable_dtypes.is_empty() {
            let list: Vec<String> = f
                .undecodable_dtypes
                .iter()
                .map(|(d, n)| format!("{d} ({n} tensors)"))
                .collect();
            say!(
                "  listed and hashed, not decodable to f32: {}",
                list.join(", ")
            );
        }
    }
    let t = &inv.totals;
    say!(
        "total: {} files, {} tensors, {} parameters, {}",
        t.files,
        t.tensors,
        t.parameters,
        human_bytes(t.bytes)
    );
    Ok(Outcome::Fine)
}
