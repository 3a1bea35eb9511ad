//! Tests of the ONNX reader on hand-built files: typed-field encodings the `onnx` package
//! never writes, and hostile inputs (overruns, long varints, recursion bombs, escaping
//! external paths, inconsistent dims), each of which must be an error that says what is wrong.

use super::read as parse;
use super::tests::{check_invariants, fixtures, link, tensor, values};
use super::wire::put_varint;
use crate::error::ErrorKind;
use crate::parsed::{ParsedFile, TensorData};

fn vfield(num: u32, v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    put_varint(&mut out, u64::from(num) << 3);
    put_varint(&mut out, v);
    out
}

fn lfield(num: u32, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    put_varint(&mut out, (u64::from(num) << 3) | 2);
    put_varint(&mut out, bytes.len() as u64);
    out.extend_from_slice(bytes);
    out
}

fn f32field(num: u32, v: f32) -> Vec<u8> {
    let mut out = Vec::new();
    put_varint(&mut out, (u64::from(num) << 3) | 5);
    out.extend_from_slice(&v.to_le_bytes());
    out
}

fn packed(vals: &[u64]) -> Vec<u8> {
    let mut out = Vec::new();
    for &v in vals {
        put_varint(&mut out, v);
    }
    out
}

/// A TensorProto: name, data_type, dims (packed), then `extra` fields.
fn tensor_proto(name: &str, data_type: u64, dims: &[i64], extra: &[Vec<u8>]) -> Vec<u8> {
    let dims: Vec<u64> = dims.iter().map(|&d| d as u64).collect();
    let mut t = [lfield(1, &packed(&dims)), vfield(2, data_type)].concat();
    t.extend(lfield(8, name.as_bytes()));
    extra.iter().for_each(|e| t.extend_from_slice(e));
    t
}

fn graph(inits: &[Vec<u8>], nodes: &[Vec<u8>]) -> Vec<u8> {
    let mut g: Vec<u8> = nodes.iter().flat_map(|n| lfield(1, n)).collect();
    g.extend(lfield(2, b"g"));
    g.extend(inits.iter().flat_map(|t| lfield(5, t)));
    g
}

fn model(graph: &[u8]) -> Vec<u8> {
    [vfield(1, 8), lfield(7, graph)].concat()
}

fn node(op: &str, inputs: &[&str], outputs: &[&str], attrs: &[Vec<u8>]) -> Vec<u8> {
    let mut n: Vec<u8> = inputs
        .iter()
        .flat_map(|i| lfield(1, i.as_bytes()))
        .collect();
    n.extend(outputs.iter().flat_map(|o| lfield(2, o.as_bytes())));
    n.extend(lfield(4, op.as_bytes()));
    n.extend(attrs.iter().flat_map(|a| lfield(5, a)));
    n
}

fn parse_here(buf: &[u8]) -> Result<ParsedFile, ErrorKind> {
    parse(buf, &fixtures().join("hand-built.onnx"))
}

fn err(buf: &[u8]) -> String {
    match parse_here(buf) {
        Ok(r) => panic!("parsed: {:?}", r.tensors),
        Err(e) => e.to_string(),
    }
}

fn f32_raw(name: &str, dims: &[i64], n: usize) -> Vec<u8> {
    let raw: Vec<u8> = (0..n).flat_map(|i| (i as f32).to_le_bytes()).collect();
    tensor_proto(name, 1, dims, &[lfield(9, &raw)])
}

#[test]
fn hand_built_model_parses() {
    let buf = model(&graph(&[f32_raw("w", &[2, 2], 4)], &[]));
    let raw = parse_here(&buf).unwrap();
    assert_eq!(raw.tensors.len(), 1);
    assert_eq!(values(&buf, &raw.tensors[0]), vec![0.0, 1.0, 2.0, 3.0]);
}

fn raw_tensor(name: &str, data_type: u64, dims: &[i64], raw: &[u8]) -> Vec<u8> {
    tensor_proto(name, data_type, dims, &[lfield(9, raw)])
}

#[test]
fn qlinear_nodes_sparse_and_unnamed_constants() {
    let value = [lfield(1, b"value_float"), f32field(2, 1.0)].concat();
    let mm = ["a", "a_s", "a_zp", "b_q", "b_s", "b_zp", "y_s", "y_zp"];
    let conv = ["x", "x_s", "x_zp", "w_q", "w_s", "", "y_s", "y_zp"];
    let sparse = lfield(1, &f32_raw("sp", &[2], 2));
    let mut g = graph(
        &[
            raw_tensor("b_q", 3, &[3, 4], &[1; 12]),
            f32_raw("b_s", &[4], 4),
            raw_tensor("b_zp", 3, &[4], &[0; 4]),
            raw_tensor("w_q", 3, &[2, 3, 1, 1], &[1; 6]),
            f32_raw("w_s", &[2], 2),
            f32_raw("a_s", &[], 1),
        ],
        &[
            node("Constant", &[], &[], &[value]),
            node("QLinearMatMul", &mm, &["y"], &[]),
            node("QLinearConv", &conv, &["z"], &[]),
        ],
    );
    g.extend(lfield(15, &sparse));
    let buf = model(&g);
    let raw = parse_here(&buf).unwrap();
    assert_eq!(raw.tensors.len(), 6);
    assert_eq!(
        raw.quant_links,
        vec![
            link("b_q", "b_s", Some("b_zp"), Some(1)),
            link("w_q", "w_s", None, Some(0)),
        ]
    );
    assert!(raw.metadata["skipped.sp"].contains("sparse"));
    assert!(raw
        .metadata
        .iter()
        .any(|(k, v)| k.starts_with("skipped.(unnamed") && v.contains("no output name")));
    assert_eq!(raw.metadata["skipped_count"], "2");
}

#[test]
fn unpacked_and_split_typed_fields_are_gathered() {
    // float_data as single fixed32 fields, then as two packed runs.
    let single: Vec<Vec<u8>> = (0..3).map(|i| f32field(4, i as f32 + 0.5)).collect();
    let runs = vec![
        lfield(4, &1f32.to_le_bytes()),
        lfield(4, &[2f32.to_le_bytes(), 3f32.to_le_bytes()].concat()),
    ];
    // int32_data for FLOAT16 as single varints (bit patterns of 1.0, -2.0).
    let f16 = vec![vfield(5, 0x3c00), vfield(5, 0xc000)];
    // INT8 from sign-extended 10-byte varints.
    let i8s = vec![lfield(5, &packed(&[(-5i64) as u64, 7]))];
    let buf = model(&graph(
        &[
            tensor_proto("single", 1, &[3], &single),
            tensor_proto("runs", 1, &[3], &runs),
            tensor_proto("half", 10, &[2], &f16),
            tensor_proto("small", 3, &[2], &i8s),
        ],
        &[],
    ));
    let raw = parse_here(&buf).unwrap();
    check_invariants(&buf, &raw);
    let v = |n: &str| values(&buf, tensor(&raw, n));
    assert_eq!(v("single"), vec![0.5, 1.5, 2.5]);
    assert_eq!(v("runs"), vec![1.0, 2.0, 3.0]);
    assert_eq!(v("half"), vec![1.0, -2.0]);
    assert_eq!(v("small"), vec![-5.0, 7.0]);
    assert!(matches!(tensor(&raw, "runs").data, TensorData::Owned(_)));
}

#[test]
fn hostile_lengths_varints_and_nesting_are_errors() {
    // A length larger than the file.
    let mut b = vfield(1, 8);
    b.extend([0x3a]);
    put_varint(&mut b, 1 << 40);
    b.extend([0x0a, 0x00]);
    assert!(matches!(parse_here(&b), Err(ErrorKind::Truncated(_))));
    assert!(err(&b).contains("file ends at byte"));
    // An 11-byte varint.
    let mut b = vec![0x08];
    b.extend([0xff; 10]);
    b.push(0x01);
    assert!(err(&b).contains("varint at byte 1"));
    // Recursion bomb: an If in the then_branch of an If, 10000 deep.
    let e = err(&nested_ifs(10_000));
    assert!(e.contains("nested more than 32 deep"), "{e}");
    assert!(err(&nested_ifs(33)).contains("nested more than 32 deep"));
    assert!(parse_here(&nested_ifs(32)).is_ok());
    // No graph, two graphs, a graph of the wrong wire type, nothing at all.
    assert!(err(&vfield(1, 8)).contains("no graph"));
    assert!(err(&[]).contains("no graph"));
    let g = graph(&[], &[]);
    assert!(err(&[model(&g), lfield(7, &g)].concat()).contains("2 graph fields"));
    assert!(err(&[vfield(1, 8), vfield(7, 3)].concat()).contains("expected length-delimited"));
    // A group (wire type 3).
    assert!(err(&[0x08, 0x08, 0x0b]).contains("wire type 3"));
}

#[test]
fn hostile_tensors_are_errors_naming_them() {
    let one = |t: Vec<u8>| err(&model(&graph(&[t], &[])));
    let e = one(tensor_proto("big", 1, &[1 << 40, 1 << 40], &[]));
    assert!(e.contains("`big`") && e.contains("overflows"), "{e}");
    let e = one(tensor_proto("neg", 1, &[2, -1], &[]));
    assert!(e.contains("`neg`") && e.contains("dimension -1"), "{e}");
    let e = one(f32_raw("short", &[4], 2));
    assert!(e.contains("`short`") && e.contains("8 bytes of raw_data but its dims need 16"));
    let e = one(f32_raw("long", &[1], 2));
    assert!(e.contains("`long`"), "{e}");
    let five: Vec<Vec<u8>> = (0..5).map(|i| f32field(4, i as f32)).collect();
    let e = one(tensor_proto("extra", 1, &[4], &five));
    assert!(e.contains("`extra`") && e.contains("more values"), "{e}");
    let e = one(tensor_proto(
        "few",
        7,
        &[4],
        &[lfield(7, &packed(&[1, 2, 3]))],
    ));
    assert!(e.contains("`few`") && e.contains("holds 3 values"), "{e}");
    let e = one(tensor_proto("none", 1, &[4], &[]));
    assert!(e.contains("`none`") && e.contains("no raw_data"), "{e}");
    let e = one(tensor_proto("odd", 1, &[3], &[lfield(4, &[0; 10])]));
    assert!(e.contains("`odd`"), "{e}");
    let deep: Vec<i64> = vec![1; 65];
    assert!(one(tensor_proto("deep", 1, &deep, &[])).contains("more than 64 dims"));
    let e = one(tensor_proto("loc", 1, &[1], &[vfield(14, 7)]));
    assert!(e.contains("data_location 7"), "{e}");
    // Two value attributes on one Constant.
    let a = [lfield(1, b"value_float"), f32field(2, 1.0)].concat();
    let b = [lfield(1, b"value_int"), vfield(3, 1)].concat();
    let e = err(&model(&graph(
        &[],
        &[node("Constant", &[], &["c"], &[a, b])],
    )));
    assert!(e.contains("more than one value"), "{e}");
}

/// A model whose graph holds an `If` whose then_branch holds an `If`…, `levels` deep, built
/// outside-in in linear time: every nested message is the last field of its parent.
fn nested_ifs(levels: usize) -> Vec<u8> {
    let mut heads = Vec::with_capacity(levels);
    let mut size = 0u64; // the innermost graph is empty
    for _ in 0..levels {
        let mut attr = [lfield(1, b"then_branch"), vfield(20, 5)].concat();
        attr.push(0x32); // field 6 (g), length-delimited
        put_varint(&mut attr, size);
        let attr_size = attr.len() as u64 + size;
        let mut node = [lfield(2, b"o"), lfield(4, b"If")].concat();
        node.push(0x2a); // field 5 (attribute)
        put_varint(&mut node, attr_size);
        let node_size = node.len() as u64 + attr_size;
        let mut graph = vec![0x0a]; // field 1 (node)
        put_varint(&mut graph, node_size);
        size = graph.len() as u64 + node_size;
        heads.push([graph, node, attr].concat());
    }
    let mut out = vfield(1, 8);
    out.push(0x3a); // field 7 (graph)
    put_varint(&mut out, size);
    heads.iter().rev().for_each(|h| out.extend_from_slice(h));
    out
}

/// A model in `dir` with one external F32 tensor `w` of `n` elements.
fn external_model(entries: &[(&str, &str)], n: i64) -> Vec<u8> {
    let mut extra: Vec<Vec<u8>> = entries
        .iter()
        .map(|(k, v)| {
            lfield(
                13,
                &[lfield(1, k.as_bytes()), lfield(2, v.as_bytes())].concat(),
            )
        })
        .collect();
    extra.push(vfield(14, 1));
    model(&graph(&[tensor_proto("w", 1, &[n], &extra)], &[]))
}

#[test]
fn external_data_must_stay_inside_the_model_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("model");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(tmp.path().join("outside.bin"), [0u8; 64]).unwrap();
    std::fs::write(dir.join("weights.bin"), [0u8; 16]).unwrap();
    let path = dir.join("model.onnx");
    let try_ = |entries: &[(&str, &str)], n: i64| parse(&external_model(entries, n), &path);
    let msg = |entries: &[(&str, &str)], n: i64| match try_(entries, n) {
        Ok(_) => panic!("{entries:?} parsed"),
        Err(e) => e.to_string(),
    };
    let ok = try_(
        &[
            ("location", "weights.bin"),
            ("offset", "8"),
            ("length", "8"),
        ],
        2,
    )
    .unwrap();
    let TensorData::External { range, .. } = &ok.tensors[0].data else {
        panic!()
    };
    assert_eq!(range.clone(), 8..16);
    // Without `length`, the dims say how much.
    assert!(try_(&[("location", "./weights.bin")], 4).is_ok());
    assert!(msg(&[("location", "../outside.bin")], 4).contains("contains `..`"));
    let abs = tmp.path().join("outside.bin");
    let e = msg(&[("location", abs.to_str().unwrap())], 4);
    assert!(e.contains("is absolute") && e.contains("`w`"), "{e}");
    assert!(msg(&[("location", "sub\\..\\..\\x")], 4).contains("backslash"));
    assert!(msg(&[("location", "")], 4).contains("is empty"));
    assert!(msg(&[("offset", "0")], 4).contains("no `location`"));
    assert!(msg(&[("location", "missing.bin")], 4).contains("cannot open"));
    let e = msg(
        &[
            ("location", "weights.bin"),
            ("offset", "8"),
            ("length", "16"),
        ],
        4,
    );
    assert!(e.contains("past its end"), "{e}");
    assert!(matches!(
        try_(
            &[
                ("location", "weights.bin"),
                ("offset", "8"),
                ("length", "16")
            ],
            4
        ),
        Err(ErrorKind::Truncated(_))
    ));
    let huge = u64::MAX.to_string();
    let e = msg(
        &[
            ("location", "weights.bin"),
            ("offset", &huge),
            ("length", "16"),
        ],
        4,
    );
    assert!(e.contains("past its end"), "{e}");
    let e = msg(&[("location", "weights.bin"), ("length", "12")], 4);
    assert!(e.contains("length 12 differs"), "{e}");
    assert!(msg(&[("location", "weights.bin"), ("offset", "+8")], 2).contains("not a decimal"));
    assert!(msg(
        &[
            ("location", "weights.bin"),
            ("offset", "1"),
            ("offset", "2")
        ],
        2
    )
    .contains("repeats"));
    assert!(msg(&[("location", ".")], 4).contains("outside the model's folder"));
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink("../outside.bin", dir.join("link.bin")).unwrap();
        let e = msg(&[("location", "link.bin")], 4);
        assert!(e.contains("outside the model's folder"), "{e}");
    }
}
