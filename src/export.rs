//! `export`: a manifest as SPDX 3.0.1 JSON-LD or CycloneDX 1.6 JSON, with the licences of
//! its bases and datasets taken from their manifests (given, or beside it).

use std::path::{Path, PathBuf};

use mlprov_manifest::export::{to_cyclonedx, to_spdx, LineageLicences};
use mlprov_manifest::{to_pretty_json, Manifest};

use crate::check::lineage_graph;
use crate::error::{Error, Result};

/// A bill-of-materials format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// SPDX 3.0.1 JSON-LD (AI and Dataset profiles).
    Spdx,
    /// CycloneDX 1.6 JSON (ML-BOM).
    CycloneDx,
}

/// The manifest at `manifest` in `format`, as JSON text (keys sorted, newline-terminated).
pub fn export(manifest: &Path, lineage: &[PathBuf], format: ExportFormat) -> Result<String> {
    let graph = lineage_graph(manifest, lineage)?;
    let node = graph.nodes[0]
        .manifest
        .as_ref()
        .ok_or_else(|| Error::input(manifest, "no manifest"))?;
    let m = Manifest::parse(&node.value.to_string()).map_err(|source| Error::Manifest {
        path: manifest.to_path_buf(),
        source,
    })?;
    let mut licences = LineageLicences::new();
    for n in graph.nodes.iter().skip(1) {
        if let (Some(doc), Some(expr)) = (&n.manifest, &n.asset.licence) {
            licences.insert(doc.digest, expr.clone());
        }
    }
    let value = match format {
        ExportFormat::Spdx => to_spdx(&m, &licences),
        ExportFormat::CycloneDx => to_cyclonedx(&m, &licences),
    };
    Ok(to_pretty_json(&value))
}
