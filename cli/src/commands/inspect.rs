//! `mlprov inspect`: formats, tensors and totals.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use mlprov::formats::{Source, TensorView, WeightFile};
use serde_json::json;

use crate::output::{human_bytes, print_json, shape};
use crate::Outcome;

/// Where a tensor's bytes are, for people and for JSON.
fn location(file: &WeightFile, t: &TensorView<'_>) -> String {
    match t.source {
        Source::File => "file".to_string(),
        Source::External(i) => format!("external:{}", file.externals()[i].location),
        Source::Decoded(_) => "decoded".to_string(),
    }
}

/// Element types present but not decodable to f32, with how many tensors use each.
fn undecodable(file: &WeightFile) -> BTreeMap<&'static str, usize> {
    let mut out = BTreeMap::new();
    for t in file.tensors().filter(|t| !t.dtype.decodable()) {
        *out.entry(t.dtype.name()).or_insert(0) += 1;
    }
    out
}

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
                    "location": location(&f.file, &t),
                    "offset": t.offset,
                    "bytes": t.bytes.len(),
                })
            })
            .collect();
        total_bytes += f.file.len() as u64;
        let links: Vec<_> = f
            .file
            .quant_links()
            .iter()
            .map(|l| json!({"quantized": l.quantized, "scale": l.scale, "zero_point": l.zero_point, "axis": l.axis}))
            .collect();
        files.push(json!({
            "path": f.rel_path,
            "format": f.file.format().name(),
            "format_detail": f.file.format().description(),
            "size": f.file.len(),
            "header_bytes": f.file.header_range().len(),
            "metadata": f.file.metadata(),
            "tensors": tensors,
            "external_files": f.file.externals().iter().map(|e| e.location.clone()).collect::<Vec<_>>(),
            "quantized_pairs": links,
            "undecodable_dtypes": undecodable(&f.file),
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
        say!(
            "{}  {}  {}  header {} B  {} tensors",
            f.rel_path,
            f.file.format().description(),
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
        say!(
            "  {:<name_w$}  {:<8}  {:<20}  {:>12}  WHERE",
            "NAME",
            "DTYPE",
            "SHAPE",
            "BYTES"
        );
        for t in f.file.tensors() {
            say!(
                "  {:<name_w$}  {:<8}  {:<20}  {:>12}  {}",
                t.name,
                t.dtype.name(),
                shape(t.shape),
                t.bytes.len(),
                location(&f.file, &t)
            );
        }
        for l in f.file.quant_links() {
            say!(
                "  quantized pair: {} = ({} - {}) x {}",
                l.quantized,
                l.quantized,
                l.zero_point.as_deref().unwrap_or("0"),
                l.scale
            );
        }
        let missing = undecodable(&f.file);
        if !missing.is_empty() {
            let list: Vec<String> = missing
                .iter()
                .map(|(d, n)| format!("{d} ({n} tensors)"))
                .collect();
            say!(
                "  listed and hashed, not decodable to f32: {}",
                list.join(", ")
            );
        }
    }
    say!(
        "total: {} files, {} tensors, {} parameters, {}",
        model.files.len(),
        model.tensor_count(),
        total_params,
        human_bytes(total_bytes)
    );
    Ok(Outcome::Fine)
}
