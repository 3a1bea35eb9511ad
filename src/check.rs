//! `check`: may an intended use be made of a model, along its whole lineage? Walks the
//! lineage graph from a manifest (manifests given, those beside it, then the registry when
//! one is given), then asks `mlprov-terms` for the answer per asset.

use std::collections::{BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

use mlprov_hash::Digest;
use mlprov_terms::{terms_from_json, Asset, AssetKind, Query, Report, Step};
use serde_json::Value;

use crate::error::Result;
use crate::lineage::LineageNode;

/// One asset of a lineage graph.
#[derive(Debug, Clone)]
pub struct GraphNode {
    /// What the check sees.
    pub asset: Asset,
    /// Its manifest, when one was found.
    pub manifest: Option<LineageNode>,
}

/// An edge: `from` derives from, or was trained on, `to`.
#[derive(Debug, Clone)]
pub struct GraphEdge {
    /// Index of the derived or trained asset.
    pub from: usize,
    /// Index of the base or dataset.
    pub to: usize,
    /// The relation or role.
    pub step: Step,
    /// The lineage test's verdict and log10 p-value, when recorded.
    pub evidence: Option<(String, String)>,
}

/// The lineage graph of a subject: `nodes[0]` is the subject.
#[derive(Debug, Clone)]
pub struct LineageGraph {
    /// Assets, the subject first, then in breadth-first order.
    pub nodes: Vec<GraphNode>,
    /// Edges.
    pub edges: Vec<GraphEdge>,
}

/// Reads the manifests that may hold `subject`'s lineage: those given, then every other
/// `*.json` manifest in the subject's folder (files that are not manifests are passed over).
pub(crate) fn candidates(subject: &Path, given: &[PathBuf]) -> Result<Vec<LineageNode>> {
    let mut out = Vec::new();
    for p in given {
        out.push(LineageNode::read(p)?);
    }
    let dir = match subject.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if let Ok(entries) = std::fs::read_dir(&dir) {
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json") && p.is_file())
            .collect();
        paths.sort();
        for p in paths {
            if let Ok(node) = LineageNode::read(&p) {
                out.push(node);
            }
        }
    }
    Ok(out)
}

fn asset_of(node: &LineageNode, path: Vec<Step>, via_data: bool) -> Asset {
    let kind = if node.kind == "dataset" || via_data {
        AssetKind::Dataset
    } else {
        AssetKind::Model
    };
    Asset {
        name: node.name.clone(),
        id: node.digest.to_string(),
        kind,
        licence: node.licence.expression.clone(),
        terms: node
            .licence
            .terms
            .as_ref()
            .map(|m| terms_from_json(&Value::Object(m.clone())).map_err(|e| e.to_string())),
        path,
        missing: false,
    }
}

/// One lineage entry of a manifest, model or dataset alike.
struct Link {
    name: String,
    manifest: Option<Digest>,
    root: Option<Digest>,
    step: Step,
    evidence: Option<(String, String)>,
    data: bool,
}

/// Builds the lineage graph of the manifest at `subject`, looking up its bases and
/// datasets among `lineage` and the manifests beside it.
pub fn lineage_graph(subject: &Path, lineage: &[PathBuf]) -> Result<LineageGraph> {
    lineage_graph_in(subject, lineage, None)
}

/// A registered manifest for a lineage entry: an asset whose content root is the entry's
/// root (the content is what the entry names; the registered manifest may be another
/// writing of it).
fn registered(
    registry: &mut dyn mlprov_registry::Store,
    root: Option<&Digest>,
) -> Result<Option<LineageNode>> {
    let Some(root) = root else {
        return Ok(None);
    };
    for id in registry.find_by_digest(root)? {
        let Some(asset) = registry.asset(id)? else {
            continue;
        };
        let where_ = PathBuf::from(format!("registry asset {id}"));
        let value: Value = serde_json::from_str(&asset.manifest)
            .map_err(|e| crate::Error::input(&where_, format!("stored manifest: {e}")))?;
        let node = LineageNode::from_value(&where_, value)?;
        if node.merkle_root.as_ref() == Some(root) {
            return Ok(Some(node));
        }
    }
    Ok(None)
}

/// [`lineage_graph`], also looking up in `registry` the bases and datasets found in no
/// manifest file (by their content root).
pub fn lineage_graph_in(
    subject: &Path,
    lineage: &[PathBuf],
    mut registry: Option<&mut dyn mlprov_registry::Store>,
) -> Result<LineageGraph> {
    let root = LineageNode::read(subject)?;
    let mut pool = candidates(subject, lineage)?;
    let mut nodes = vec![GraphNode {
        asset: asset_of(&root, Vec::new(), false),
        manifest: Some(root.clone()),
    }];
    let mut edges = Vec::new();
    let mut seen: BTreeSet<String> = BTreeSet::from([root.digest.to_string()]);
    let mut queue = VecDeque::from([0usize]);
    while let Some(i) = queue.pop_front() {
        let Some(node) = nodes[i].manifest.clone() else {
            continue;
        };
        let parent_path = nodes[i].asset.path.clone();
        let mut links: Vec<Link> = Vec::new();
        for b in &node.lineage.derived_from {
            links.push(Link {
                name: b.name.clone(),
                manifest: b.manifest,
                root: b.merkle_root,
                step: Step::DerivedFrom {
                    relation: b.relation.name().to_string(),
                },
                evidence: b
                    .lineage_test
                    .as_ref()
                    .map(|t| (t.verdict.clone(), t.log10_p.clone())),
                data: false,
            });
        }
        for d in &node.lineage.trained_on {
            links.push(Link {
                name: d.name.clone(),
                manifest: d.manifest,
                root: d.content_root,
                step: Step::TrainedOn {
                    role: d.role.name().to_string(),
                },
                evidence: None,
                data: true,
            });
        }
        for Link {
            name,
            manifest,
            root: root_digest,
            step,
            evidence,
            data,
        } in links
        {
            let mut path = parent_path.clone();
            path.push(step.clone());
            let via_data = data || path.iter().any(|s| matches!(s, Step::TrainedOn { .. }));
            let mut found = pool
                .iter()
                .find(|n| n.is(manifest.as_ref(), root_digest.as_ref()))
                .cloned();
            if found.is_none() {
                if let Some(store) = registry.as_deref_mut() {
                    found = registered(store, root_digest.as_ref())?;
                    if let Some(n) = &found {
                        pool.push(n.clone());
                    }
                }
            }
            let found = found.as_ref();
            let key = match (found, manifest, root_digest) {
                (Some(n), _, _) => n.digest.to_string(),
                (None, Some(m), _) => m.to_string(),
                (None, None, Some(r)) => r.to_string(),
                (None, None, None) => name.clone(),
            };
            if let Some(j) = nodes.iter().position(|n| n.asset.id == key) {
                edges.push(GraphEdge {
                    from: i,
                    to: j,
                    step,
                    evidence,
                });
                continue;
            }
            if !seen.insert(key.clone()) {
                continue;
            }
            let j = nodes.len();
            match found {
                Some(n) => {
                    nodes.push(GraphNode {
                        asset: asset_of(n, path, via_data),
                        manifest: Some(n.clone()),
                    });
                    queue.push_back(j);
                }
                None => nodes.push(GraphNode {
                    asset: Asset {
                        name,
                        id: key,
                        kind: if via_data {
                            AssetKind::Dataset
                        } else {
                            AssetKind::Model
                        },
                        licence: None,
                        terms: None,
                        path,
                        missing: true,
                    },
                    manifest: None,
                }),
            }
            edges.push(GraphEdge {
                from: i,
                to: j,
                step,
                evidence,
            });
        }
    }
    Ok(LineageGraph { nodes, edges })
}

/// Checks an intended use of the asset whose manifest is `subject`, along its lineage.
pub fn check(subject: &Path, lineage: &[PathBuf], query: &Query) -> Result<Report> {
    check_in(subject, lineage, None, query)
}

/// [`check`], also finding bases and datasets in `registry`.
pub fn check_in(
    subject: &Path,
    lineage: &[PathBuf],
    registry: Option<&mut dyn mlprov_registry::Store>,
    query: &Query,
) -> Result<Report> {
    let graph = lineage_graph_in(subject, lineage, registry)?;
    let assets: Vec<Asset> = graph.nodes.into_iter().map(|n| n.asset).collect();
    Ok(mlprov_terms::check(&assets, query))
}
