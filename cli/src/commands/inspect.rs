//! `mlprov inspect`: formats, tensors and totals.

use std::path::Path;

use anyhow::Result;
use serde_json::json;

use crate::output::{human_bytes, print_json, shape};
use crate::Outcome;

pub fn run(path: &Path, json: bool) -> Result<Outcome> {
    let model = super::open(path)?;
    let mut total_params: u64 = 0;
    let mut total_bytes: u64 = 0;
    let mut files = Vec::new();
    for f in &model.files {
        let tensors: Vec<_> = f
            .file
            .tensors()
            .map(|t| {
                total_params = total_params.saturating_add(t.elements() as u64);
                json!({
                    "name": t.name,
                    "dtype": t.dtype.name(),
                    "shape": t.shape,
                    "offset": t.offset,
                    "bytes": t.bytes.len(),
                })
            })
            .collect();
        total_bytes += f.file.len() as u64;
        files.push(json!({
            "path": f.rel_path,
            "format": f.file.format().name(),
            "size": f.file.len(),
            "header_bytes": f.file.header_range().len(),
            "metadata": f.file.metadata(),
            "tensors": tensors,
        }));
    }
    let skipped: Vec<_> = model
        .skipped
        .iter()
        .map(|s| json!({"path": s.rel_path, "reason": s.error.kind.to_string()}))
        .collect();
    let totals = json!({
        "files": model.files.len(),
        "tensors": model.tensor_count(),
        "parameters": total_params,
        "bytes": total_bytes,
    });
    if json {
        print_json(&json!({
            "path": path.display().to_string(),
            "layout": model.layout.name(),
            "files": files,
            "skipped": skipped,
            "totals": totals,
        }))?;
        return Ok(Outcome::Fine);
    }
    for f in &model.files {
        println!(
            "{}  {}  {}  header {} B  {} tensors",
            f.rel_path,
            f.file.format().name(),
            human_bytes(f.file.len() as u64),
            f.file.header_range().len(),
            f.file.tensor_infos().len()
        );
        let name_w = f
            .file
            .tensors()
            .map(|t| t.name.len())
            .max()
            .unwrap_or(4)
            .max(4);
        println!(
            "  {:<name_w$}  {:<7}  {:<20}  {:>12}",
            "NAME", "DTYPE", "SHAPE", "BYTES"
        );
        for t in f.file.tensors() {
            println!(
                "  {:<name_w$}  {:<7}  {:<20}  {:>12}",
                t.name,
                t.dtype.name(),
                shape(t.shape),
                t.bytes.len()
            );
        }
    }
    println!(
        "total: {} files, {} tensors, {} parameters, {}",
        model.files.len(),
        model.tensor_count(),
        total_params,
        human_bytes(total_bytes)
    );
    Ok(Outcome::Fine)
}
