//! `graph`: the lineage as a picture: models, datasets and terms as nodes, edges labelled
//! with the relation (and the lineage test's verdict), each asset coloured by its `check`
//! answer for a given use. Graphviz DOT, or self-contained SVG / HTML laid out here
//! (layers by distance from the subject), so no external tool is needed.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use mlprov_terms::{AssetKind, Decision, Query, Report, Step};

use crate::check::{lineage_graph, LineageGraph};
use crate::error::Result;

/// An output format of [`graph`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphFormat {
    /// Graphviz DOT.
    Dot,
    /// A standalone SVG image.
    Svg,
    /// A standalone HTML page: the SVG, a legend and the reasons.
    Html,
}

struct Node {
    /// For terms: the asset they govern (drawn right after it).
    beside: Option<usize>,
    label: Vec<String>,
    kind: &'static str,
    decision: Option<Decision>,
    layer: usize,
}

struct Edge {
    from: usize,
    to: usize,
    label: String,
    dashed: bool,
}

/// The lineage graph of the manifest at `manifest` in `format`; with `query`, each asset
/// is coloured by its answer.
pub fn graph(
    manifest: &Path,
    lineage: &[PathBuf],
    query: Option<&Query>,
    format: GraphFormat,
) -> Result<String> {
    let g = lineage_graph(manifest, lineage)?;
    let report = query.map(|q| {
        let assets: Vec<_> = g.nodes.iter().map(|n| n.asset.clone()).collect();
        mlprov_terms::check(&assets, q)
    });
    let (nodes, edges) = layout_input(&g, report.as_ref());
    Ok(match format {
        GraphFormat::Dot => dot(&nodes, &edges),
        GraphFormat::Svg => svg(&nodes, &edges),
        GraphFormat::Html => html(&nodes, &edges, report.as_ref(), query),
    })
}

fn layout_input(g: &LineageGraph, report: Option<&Report>) -> (Vec<Node>, Vec<Edge>) {
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    for (i, n) in g.nodes.iter().enumerate() {
        let a = &n.asset;
        let mut label = vec![a.name.clone()];
        label.push(a.licence.clone().unwrap_or_else(|| {
            if a.missing {
                "manifest not found".into()
            } else {
                "no licence".into()
            }
        }));
        let decision = report.and_then(|r| r.assets.get(i)).map(|r| r.decision);
        if let Some(d) = decision {
            label.push(d.name().to_string());
        }
        nodes.push(Node {
            beside: None,
            label,
            kind: match a.kind {
                AssetKind::Model => "model",
                AssetKind::Dataset => "dataset",
            },
            decision,
            layer: a.path.len(),
        });
    }
    for (i, n) in g.nodes.iter().enumerate() {
        if let Some(Ok(t)) = &n.asset.terms {
            let mut label = vec!["terms".to_string()];
            if let (Some(a), Some(b)) = (&t.licensor, &t.licensee) {
                label.push(format!("{a} to {b}"));
            }
            if let (Some(s), Some(e)) = (t.term.start, t.term.end) {
                label.push(format!("{s} to {e}"));
            }
            if let Some(u) = &t.grant.uses {
                let names: Vec<&str> = u.iter().map(|u| u.name()).collect();
                label.push(names.join(", "));
            }
            let j = nodes.len();
            nodes.push(Node {
                beside: Some(i),
                label,
                kind: "terms",
                decision: None,
                // Beside its asset, in the same row: edges to the next row pass clear of it.
                layer: nodes[i].layer,
            });
            edges.push(Edge {
                from: j,
                to: i,
                label: "governs".into(),
                dashed: true,
            });
        }
    }
    for e in &g.edges {
        let mut label = match &e.step {
            Step::DerivedFrom { relation } => relation.clone(),
            Step::TrainedOn { role } => format!("trained on ({role})"),
        };
        if let Some((verdict, p)) = &e.evidence {
            let _ = write!(label, ", {verdict}, log10 p {p}");
        }
        edges.push(Edge {
            from: e.from,
            to: e.to,
            label,
            dashed: false,
        });
    }
    (nodes, edges)
}

fn colour(d: Option<Decision>) -> &'static str {
    match d {
        Some(Decision::Allow) => "#b7e1a1",
        Some(Decision::Review) => "#ffe08a",
        Some(Decision::Deny) => "#f4a3a3",
        None => "#e8e8e8",
    }
}

/// A DOT string literal's contents: quotes and backslashes escaped, control characters
/// shown as `\u{..}` so a name can never break out of the label.
fn dot_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

fn dot(nodes: &[Node], edges: &[Edge]) -> String {
    let mut out = String::from("digraph lineage {\n  rankdir=TB;\n  node [fontname=\"Helvetica\", fontsize=11];\n  edge [fontname=\"Helvetica\", fontsize=9];\n");
    for (i, n) in nodes.iter().enumerate() {
        let shape = match n.kind {
            "dataset" => "cylinder",
            "terms" => "note",
            _ => "box",
        };
        let label: Vec<String> = n.label.iter().map(|l| dot_escape(l)).collect();
        let _ = writeln!(
            out,
            "  n{i} [label=\"{}\", shape={shape}, style=filled, fillcolor=\"{}\"];",
            label.join("\\n"),
            if n.kind == "terms" {
                "#ffffff"
            } else {
                colour(n.decision)
            }
        );
    }
    for e in edges {
        let _ = writeln!(
            out,
            "  n{} -> n{} [label=\"{}\"{}];",
            e.from,
            e.to,
            dot_escape(&e.label),
            if e.dashed { ", style=dashed" } else { "" }
        );
    }
    out.push_str("}\n");
    out
}

fn xml_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

const W: f64 = 220.0;
const LINE: f64 = 15.0;
const GAP_X: f64 = 70.0;
const GAP_Y: f64 = 70.0;

/// Positions: one row per layer, nodes side by side in order of appearance.
fn positions(nodes: &[Node]) -> (Vec<(f64, f64, f64)>, f64, f64) {
    let layers = nodes.iter().map(|n| n.layer).max().unwrap_or(0) + 1;
    let mut rows: Vec<Vec<usize>> = vec![Vec::new(); layers];
    for (i, n) in nodes.iter().enumerate() {
        rows[n.layer].push(i);
    }
    // Terms right after the asset they govern.
    for row in &mut rows {
        row.sort_by_key(|&i| (nodes[i].beside.unwrap_or(i), nodes[i].beside.is_some()));
    }
    let height = |n: &Node| 12.0 + LINE * n.label.len() as f64;
    let widest = rows.iter().map(Vec::len).max().unwrap_or(1) as f64;
    let total_w = widest * (W + GAP_X) + GAP_X;
    let mut pos = vec![(0.0, 0.0, 0.0); nodes.len()];
    let mut y = 20.0;
    for row in &rows {
        if row.is_empty() {
            continue;
        }
        let row_w = row.len() as f64 * (W + GAP_X) - GAP_X;
        let mut x = (total_w - row_w) / 2.0;
        let mut tallest: f64 = 0.0;
        for &i in row {
            let h = height(&nodes[i]);
            pos[i] = (x, y, h);
            tallest = tallest.max(h);
            x += W + GAP_X;
        }
        y += tallest + GAP_Y;
    }
    (pos, total_w, y)
}

fn svg(nodes: &[Node], edges: &[Edge]) -> String {
    let (pos, width, height) = positions(nodes);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"Helvetica, Arial, sans-serif\">"
    );
    out.push_str("<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"8\" markerHeight=\"8\" orient=\"auto-start-reverse\"><path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#555\"/></marker></defs>\n");
    for e in edges {
        let (fx, fy, fh) = pos[e.from];
        let (tx, ty, th) = pos[e.to];
        // Leave the bottom of the upper box and enter the top of the lower one; in one row,
        // join the facing sides.
        let (x1, y1, x2, y2) = if fy < ty {
            (fx + W / 2.0, fy + fh, tx + W / 2.0, ty)
        } else if fy > ty {
            (fx + W / 2.0, fy, tx + W / 2.0, ty + th)
        } else if fx < tx {
            (fx + W, fy + fh / 2.0, tx, ty + th / 2.0)
        } else {
            (fx, fy + fh / 2.0, tx + W, ty + th / 2.0)
        };
        let _ = writeln!(
            out,
            "<line x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{x2:.1}\" y2=\"{y2:.1}\" stroke=\"#555\" stroke-width=\"1.3\"{} marker-end=\"url(#arrow)\"/>",
            if e.dashed { " stroke-dasharray=\"5,4\"" } else { "" }
        );
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" fill=\"#333\" text-anchor=\"middle\">{}</text>",
            (x1 + x2) / 2.0,
            (y1 + y2) / 2.0 - 3.0,
            xml_escape(&e.label)
        );
    }
    for (i, n) in nodes.iter().enumerate() {
        let (x, y, h) = pos[i];
        let fill = if n.kind == "terms" {
            "#ffffff"
        } else {
            colour(n.decision)
        };
        let (rx, dash) = match n.kind {
            "dataset" => (18.0, ""),
            "terms" => (2.0, " stroke-dasharray=\"3,2\""),
            _ => (4.0, ""),
        };
        let _ = writeln!(
            out,
            "<g class=\"{}\"><rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{W:.0}\" height=\"{h:.1}\" rx=\"{rx}\" fill=\"{fill}\" stroke=\"#333\"{dash}/>",
            n.kind
        );
        for (k, l) in n.label.iter().enumerate() {
            let weight = if k == 0 { " font-weight=\"bold\"" } else { "" };
            let _ = writeln!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\"{weight}>{}</text>",
                x + W / 2.0,
                y + 18.0 + LINE * k as f64,
                xml_escape(&clip(l, 34))
            );
        }
        out.push_str("</g>\n");
    }
    out.push_str("</svg>\n");
    out
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

fn html(nodes: &[Node], edges: &[Edge], report: Option<&Report>, query: Option<&Query>) -> String {
    let mut out = String::from("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>mlprov lineage</title>\n<style>body{font-family:Helvetica,Arial,sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}.allow{background:#b7e1a1}.review{background:#ffe08a}.deny{background:#f4a3a3}</style></head><body>\n<h1>Lineage</h1>\n");
    if let (Some(r), Some(q)) = (report, query) {
        let _ = writeln!(
            out,
            "<p>{} use in {} on {}: <span class=\"{}\">{}</span></p>",
            q.use_.name(),
            xml_escape(&q.territory),
            q.date,
            r.decision.name(),
            r.decision.name()
        );
    }
    out.push_str(&svg(nodes, edges));
    out.push_str("<p>Green: allow. Yellow: review. Red: deny. Grey: not checked. Boxes are models, rounded boxes datasets, dashed boxes the agreed terms.</p>\n");
    if let Some(r) = report {
        out.push_str("<h2>Reasons</h2>\n<table><tr><th>asset</th><th>answer</th><th>clause</th><th>source</th><th>reason</th></tr>\n");
        for a in &r.assets {
            for x in &a.reasons {
                let _ = writeln!(
                    out,
                    "<tr><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    xml_escape(&a.name),
                    x.decision.name(),
                    x.decision.name(),
                    xml_escape(&x.clause),
                    xml_escape(&x.source),
                    xml_escape(&x.message)
                );
            }
        }
        out.push_str("</table>\n<h2>Obligations</h2>\n<ul>\n");
        for o in &r.obligations {
            let _ = writeln!(
                out,
                "<li>{} <small>({}, {})</small></li>",
                xml_escape(&o.text),
                xml_escape(&o.asset),
                xml_escape(&o.clause)
            );
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_cannot_break_out() {
        assert_eq!(dot_escape("a\"b\\c\nd"), "a\\\"b\\\\c\\\\u{a}d");
        assert_eq!(xml_escape("<script>&\"'"), "&lt;script&gt;&amp;&quot;&#39;");
    }
}
