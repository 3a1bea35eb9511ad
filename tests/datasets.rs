//! Dataset operations on generated datasets with known truth: a licensed dataset A and a
//! derived B (shuffled, a 30% subset, re-serialized as CSV and Parquet, 10% lightly edited,
//! unrelated records added); every reported containment must fall inside its interval
//! around the truth, and over many seeds the intervals must cover the truth at about
//! their stated rate. Also: shuffle invariance, format independence, keyed digests,
//! shard merging, images.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mlprov::data::readers::Shard;
use mlprov::{
    dataset_compare, dataset_fingerprint, dataset_identity, dataset_merge, DatasetOptions, Quiet,
};
use mlprov_testkit::Rng;
use serde_json::json;

const VOCAB: usize = 5000;

fn sentence(rng: &mut Rng, words: usize, prefix: &str) -> String {
    (0..words)
        .map(|_| format!("{prefix}{}", rng.below(VOCAB)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A light edit: one typo (a changed character), and sometimes doubled spaces or a
/// capitalized word, which the canonical form or the shingling ignore.
fn edit(rng: &mut Rng, text: &str) -> String {
    let mut words: Vec<String> = text.split(' ').map(str::to_string).collect();
    let i = rng.below(words.len());
    words[i].push('x');
    if rng.below(2) == 0 {
        let j = rng.below(words.len());
        words[j] = words[j].to_uppercase();
    }
    let sep = if rng.below(2) == 0 { " " } else { "  " };
    words.join(sep)
}

fn write_jsonl(path: &Path, texts: &[String]) {
    let mut out = String::new();
    for (i, t) in texts.iter().enumerate() {
        out.push_str(&json!({"id": i, "text": t}).to_string());
        out.push('\n');
    }
    fs::write(path, out).unwrap();
}

fn write_csv(path: &Path, texts: &[String]) {
    let mut out = String::from("text,source\n");
    for t in texts {
        out.push_str(&format!("\"{}\",web\n", t.replace('"', "\"\"")));
    }
    fs::write(path, out).unwrap();
}

fn write_parquet(path: &Path, texts: &[String], row_group: usize) {
    use parquet::data_type::{ByteArray, ByteArrayType};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;
    let schema = Arc::new(
        parse_message_type("message schema { REQUIRED BYTE_ARRAY text (UTF8); }").unwrap(),
    );
    let props = Arc::new(WriterProperties::builder().build());
    let mut w = SerializedFileWriter::new(fs::File::create(path).unwrap(), schema, props).unwrap();
    for chunk in texts.chunks(row_group.max(1)) {
        let mut rg = w.next_row_group().unwrap();
        while let Some(mut col) = rg.next_column().unwrap() {
            let values: Vec<ByteArray> =
                chunk.iter().map(|t| ByteArray::from(t.as_str())).collect();
            col.typed::<ByteArrayType>()
                .write_batch(&values, None, None)
                .unwrap();
            col.close().unwrap();
        }
        rg.close().unwrap();
    }
    w.close().unwrap();
}

/// The truth of a generated pair.
struct Truth {
    exact_b_in_a: f64,
    exact_a_in_b: f64,
    near_b_in_a: f64,
    near_a_in_b: f64,
}

/// Writes A (JSONL) and B (a folder of a CSV and a Parquet shard) under `dir`.
fn generate(dir: &Path, seed: u64, n_a: usize) -> (PathBuf, PathBuf, Truth) {
    let mut rng = Rng::new(seed);
    let a: Vec<String> = (0..n_a).map(|_| sentence(&mut rng, 80, "w")).collect();
    let order = rng.permutation(n_a);
    let kept = n_a * 3 / 10;
    let edited = kept / 10;
    let mut b: Vec<String> = Vec::new();
    for (n, &i) in order.iter().take(kept).enumerate() {
        b.push(if n < edited {
            edit(&mut rng, &a[i])
        } else if n < 2 * edited {
            a[i].replace(' ', " \t ")
        } else {
            a[i].clone()
        });
    }
    let unrelated = n_a / 5;
    b.extend((0..unrelated).map(|_| sentence(&mut rng, 80, "u")));
    let perm = rng.permutation(b.len());
    let b: Vec<String> = perm.iter().map(|&i| b[i].clone()).collect();
    let pa = dir.join("a.jsonl");
    write_jsonl(&pa, &a);
    let pb = dir.join("b");
    fs::create_dir_all(&pb).unwrap();
    let half = b.len() / 2;
    write_csv(&pb.join("part-0.csv"), &b[..half]);
    write_parquet(&pb.join("part-1.parquet"), &b[half..], 200);
    fs::write(pb.join("README.md"), "not data").unwrap();
    let nb = b.len() as f64;
    let exact = (kept - edited) as f64;
    let truth = Truth {
        exact_b_in_a: exact / nb,
        exact_a_in_b: exact / n_a as f64,
        near_b_in_a: kept as f64 / nb,
        near_a_in_b: kept as f64 / n_a as f64,
    };
    (pa, pb, truth)
}

fn small_sketches() -> DatasetOptions {
    let mut o = DatasetOptions {
        k: 400,
        sample: 300,
        ..DatasetOptions::default()
    };
    o.read.field = Some("text".into());
    o
}

/// (value, interval, truth) for the four containments of a comparison.
fn containments(
    r: &mlprov::DatasetComparison,
    t: &Truth,
) -> Vec<(&'static str, f64, [f64; 2], f64)> {
    vec![
        (
            "exact B in A",
            r.exact_containment_b_in_a,
            r.exact_containment_b_in_a_interval,
            t.exact_b_in_a,
        ),
        (
            "exact A in B",
            r.exact_containment_a_in_b,
            r.exact_containment_a_in_b_interval,
            t.exact_a_in_b,
        ),
        (
            "near B in A",
            r.near_containment_b_in_a.unwrap(),
            r.near_containment_b_in_a_interval.unwrap(),
            t.near_b_in_a,
        ),
        (
            "near A in B",
            r.near_containment_a_in_b.unwrap(),
            r.near_containment_a_in_b_interval.unwrap(),
            t.near_a_in_b,
        ),
    ]
}

fn run_pair(seed: u64, n_a: usize) -> (mlprov::DatasetComparison, Truth) {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, truth) = generate(dir.path(), seed, n_a);
    let opts = small_sketches();
    let manifest = dir.path().join("a.manifest.json");
    dataset_fingerprint(&a, &manifest, false, None, &opts, &Quiet).unwrap();
    // A licensor checks B's data against A's manifest alone.
    let r = dataset_compare(&manifest, &b, &opts, &Quiet).unwrap();
    (r, truth)
}

#[test]
fn derived_dataset_containments_fall_in_their_intervals() {
    let (r, truth) = run_pair(7, 3000);
    assert!(r.overlap_found && !r.identical);
    assert_eq!(r.a.records, 3000);
    assert_eq!(r.b.records, 900 + 600);
    for (what, v, [lo, hi], t) in containments(&r, &truth) {
        assert!(lo <= v && v <= hi, "{what}: {v} not in [{lo}, {hi}]");
        assert!(
            lo <= t && t <= hi,
            "{what}: truth {t} not in [{lo}, {hi}] (estimate {v})"
        );
        assert!(hi - lo < 0.25, "{what}: interval too wide [{lo}, {hi}]");
    }
    assert!(!r.examples.is_empty());
    assert!(r.examples.iter().all(|e| e.a.starts_with("a.jsonl#")));
}

#[test]
fn intervals_cover_the_truth_at_their_stated_rate() {
    let (mut covered, mut total) = (0, 0);
    for seed in 100..116 {
        let (r, truth) = run_pair(seed, 1500);
        for (_, _, [lo, hi], t) in containments(&r, &truth) {
            total += 1;
            covered += usize::from(lo <= t && t <= hi);
        }
    }
    // 95% intervals: with 64 of them, fewer than 56 covering would be very unlikely
    // (binomial tail below 1%) if the rate were right.
    assert!(
        covered >= 56,
        "{covered} of {total} intervals covered the truth"
    );
}

#[test]
fn shuffled_and_reserialized_copies_have_the_same_root() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(3);
    let texts: Vec<String> = (0..500).map(|_| sentence(&mut rng, 30, "w")).collect();
    let shuffled: Vec<String> = rng
        .permutation(500)
        .into_iter()
        .map(|i| texts[i].clone())
        .collect();
    write_jsonl(&dir.path().join("a.jsonl"), &texts);
    write_csv(&dir.path().join("b.csv"), &shuffled);
    write_parquet(&dir.path().join("c.parquet"), &shuffled, 64);
    let gz = dir.path().join("d.jsonl.gz");
    {
        use std::io::Write;
        let mut e =
            flate2::write::GzEncoder::new(fs::File::create(&gz).unwrap(), Default::default());
        e.write_all(&fs::read(dir.path().join("a.jsonl")).unwrap())
            .unwrap();
        e.finish().unwrap();
    }
    let array: Vec<serde_json::Value> = texts.iter().map(|t| json!({"text": t, "n": 1})).collect();
    fs::write(
        dir.path().join("e.json"),
        serde_json::to_vec_pretty(&array).unwrap(),
    )
    .unwrap();
    let jsonl = fs::read(dir.path().join("a.jsonl")).unwrap();
    fs::write(
        dir.path().join("f.jsonl.zst"),
        zstd::encode_all(&jsonl[..], 3).unwrap(),
    )
    .unwrap();
    fs::write(dir.path().join("g.txt"), shuffled.join("\n\n") + "\n").unwrap();
    let opts = small_sketches();
    let root = |name: &str| {
        let out = dir.path().join(format!("{name}.manifest.json"));
        dataset_fingerprint(&dir.path().join(name), &out, true, None, &opts, &Quiet)
            .unwrap()
            .root
    };
    let r = root("a.jsonl");
    assert_eq!(r, root("b.csv"));
    assert_eq!(r, root("c.parquet"));
    assert_eq!(r, root("d.jsonl.gz"));
    assert_eq!(r, root("e.json"));
    assert_eq!(r, root("f.jsonl.zst"));
    let text_opts = DatasetOptions {
        read: Default::default(),
        ..small_sketches()
    };
    let out = dir.path().join("g.manifest.json");
    let g = dataset_fingerprint(
        &dir.path().join("g.txt"),
        &out,
        true,
        None,
        &text_opts,
        &Quiet,
    )
    .unwrap();
    assert_eq!((g.root, g.records), (r, 500));
    let cmp = dataset_compare(
        &dir.path().join("a.jsonl"),
        &dir.path().join("c.parquet"),
        &opts,
        &Quiet,
    )
    .unwrap();
    assert!(cmp.identical);
    assert_eq!(cmp.exact_containment_b_in_a, 1.0);
}

#[test]
fn shards_merge_into_the_one_machine_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    fs::create_dir_all(data.join("train")).unwrap();
    let mut rng = Rng::new(5);
    for i in 0..5 {
        let texts: Vec<String> = (0..300).map(|_| sentence(&mut rng, 40, "w")).collect();
        write_jsonl(&data.join(format!("train/shard-{i}.jsonl")), &texts);
    }
    let opts = small_sketches();
    let whole = dir.path().join("whole.json");
    dataset_fingerprint(&data, &whole, false, None, &opts, &Quiet).unwrap();
    let mut parts = Vec::new();
    for k in [2u32, 0, 1] {
        let out = dir.path().join(format!("shard{k}.json"));
        let shard = Shard { index: k, count: 3 };
        dataset_fingerprint(&data, &out, false, Some(shard), &opts, &Quiet).unwrap();
        parts.push(out);
    }
    let merged = dir.path().join("merged.json");
    let m = dataset_merge(&parts, &merged, false).unwrap();
    assert_eq!(m.records, 1500);
    let read = |p: &Path| {
        let mut v: serde_json::Value = serde_json::from_slice(&fs::read(p).unwrap()).unwrap();
        v["created"] = json!("");
        v
    };
    assert_eq!(read(&whole), read(&merged));
    // A missing or repeated shard is refused.
    assert!(dataset_merge(&parts[..2], &dir.path().join("x.json"), false).is_err());
    let twice = vec![parts[0].clone(), parts[0].clone(), parts[1].clone()];
    assert!(dataset_merge(&twice, &dir.path().join("y.json"), false).is_err());
}

#[test]
fn keyed_digests_hide_records_and_must_match_to_compare() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(9);
    let texts: Vec<String> = (0..200).map(|_| sentence(&mut rng, 20, "w")).collect();
    let data = dir.path().join("a.jsonl");
    write_jsonl(&data, &texts);
    let key = dir.path().join("key");
    fs::write(&key, b"a secret key").unwrap();
    let plain = small_sketches();
    let keyed = DatasetOptions {
        key_file: Some(key.clone()),
        ..small_sketches()
    };
    let (mp, mk) = (dir.path().join("p.json"), dir.path().join("k.json"));
    let rp = dataset_fingerprint(&data, &mp, false, None, &plain, &Quiet).unwrap();
    let rk = dataset_fingerprint(&data, &mk, false, None, &keyed, &Quiet).unwrap();
    assert_ne!(rp.root, rk.root);
    let text = fs::read_to_string(&mk).unwrap();
    assert!(!text.contains("a secret key"));
    assert!(text.contains("\"keyed\": true"));
    // Keyed manifest against keyed data: fine; against plain data: refused.
    assert!(
        dataset_compare(&mk, &data, &keyed, &Quiet)
            .unwrap()
            .identical
    );
    assert!(dataset_compare(&mk, &data, &plain, &Quiet).is_err());
}

fn picture(rng: &mut Rng) -> image::RgbImage {
    let small = image::RgbImage::from_fn(8, 8, |_, _| {
        image::Rgb([
            rng.below(256) as u8,
            rng.below(256) as u8,
            rng.below(256) as u8,
        ])
    });
    image::imageops::resize(&small, 256, 256, image::imageops::FilterType::Triangle)
}

#[test]
fn resized_and_reencoded_images_are_near_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    fs::create_dir_all(&a).unwrap();
    fs::create_dir_all(&b).unwrap();
    let mut rng = Rng::new(11);
    for i in 0..40 {
        let img = picture(&mut rng);
        img.save(a.join(format!("img{i:02}.png"))).unwrap();
        if i % 10 < 3 {
            let small =
                image::imageops::resize(&img, 160, 160, image::imageops::FilterType::Lanczos3);
            small.save(b.join(format!("copy{i:02}.jpg"))).unwrap();
        }
    }
    for i in 0..8 {
        picture(&mut rng)
            .save(b.join(format!("new{i}.png")))
            .unwrap();
    }
    let opts = DatasetOptions::default();
    let ma = dir.path().join("a.json");
    dataset_fingerprint(&a, &ma, false, None, &opts, &Quiet).unwrap();
    let r = dataset_compare(&ma, &b, &opts, &Quiet).unwrap();
    assert_eq!(r.exact_containment_b_in_a, 0.0);
    // Every image of A is in its sample (40 < 2401): the shares are exact.
    assert_eq!(r.near_containment_a_in_b, Some(12.0 / 40.0));
    assert_eq!(r.near_containment_b_in_a, Some(12.0 / 20.0));
    assert_eq!(r.b.image_records, 20);
}

#[test]
fn many_parquet_row_groups_read_in_parallel_agree() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(21);
    let texts: Vec<String> = (0..2000).map(|_| sentence(&mut rng, 12, "w")).collect();
    write_jsonl(&dir.path().join("a.jsonl"), &texts);
    write_parquet(&dir.path().join("a.parquet"), &texts, 10);
    let opts = small_sketches();
    let root = |name: &str| {
        let out = dir.path().join(format!("{name}.json"));
        dataset_fingerprint(&dir.path().join(name), &out, true, None, &opts, &Quiet)
            .unwrap()
            .root
    };
    let want = root("a.jsonl");
    for _ in 0..5 {
        assert_eq!(root("a.parquet"), want);
    }
}

/// A JSON Lines record in one of many shapes: canonical or not (unsorted keys, spaces,
/// escapes, NFD, Unicode spaces, capitals, floats, nesting), sometimes a repeat.
fn messy_line(rng: &mut Rng, i: usize) -> String {
    let words = [
        "plain",
        "Caps",
        "caf\u{e9}",
        "cafe\u{301}",
        "\u{65e5}\u{672c}",
        "a\u{a0}b",
        "tab\tin",
        "q\"uote",
        "back\\slash",
        "\u{1f600}",
    ];
    let mut text: Vec<&str> = (0..1 + rng.below(12))
        .map(|_| words[rng.below(words.len())])
        .collect();
    if rng.below(10) == 0 {
        text.clear();
    }
    let text = text.join(if rng.below(4) == 0 { "  " } else { " " });
    let score = [1.5, -0.0, 1e3][rng.below(3)];
    let value =
        json!({"text": text, "id": i % 97, "score": score, "m": {"b": 1, "a": [true, null]}});
    match rng.below(6) {
        0 => value.to_string(),
        1 => serde_json::to_string_pretty(&value)
            .unwrap()
            .replace('\n', " "),
        2 => format!(r#"{{"id":{},"text":{}}}"#, i % 50, json!(text)),
        3 => format!(
            r#"{{"id": {}, "text": "{}"}}"#,
            i % 50,
            text.replace(['"', '\\', '\t'], "")
        ),
        4 => format!(r#"{{"text":"\u00e9{}","id":1}}"#, i % 7),
        _ => format!(
            "  {}\r",
            json!({"a": i % 13, "text": format!("line {}", i % 300)})
        ),
    }
}

fn messy_dataset(dir: &Path) -> PathBuf {
    let data = dir.join("messy");
    fs::create_dir_all(data.join("sub")).unwrap();
    let mut rng = Rng::new(17);
    // Large enough to be cut into several ranges (4 MiB each).
    let mut big = String::new();
    let mut i = 0;
    while big.len() < 9 << 20 {
        big.push_str(&messy_line(&mut rng, i));
        big.push('\n');
        if i % 1000 == 0 {
            big.push_str("\n  \n");
        }
        i += 1;
    }
    fs::write(data.join("big.jsonl"), &big).unwrap();
    let small: String = (0..300).map(|i| messy_line(&mut rng, i) + "\n").collect();
    let gz = data.join("sub/small.jsonl.gz");
    {
        use std::io::Write;
        let mut e =
            flate2::write::GzEncoder::new(fs::File::create(&gz).unwrap(), Default::default());
        e.write_all(small.as_bytes()).unwrap();
        e.finish().unwrap();
    }
    // No trailing newline on the last line.
    fs::write(data.join("sub/tail.jsonl"), small.trim_end()).unwrap();
    let texts: Vec<String> = (0..200).map(|_| sentence(&mut rng, 12, "W")).collect();
    write_csv(&data.join("c.csv"), &texts);
    data
}

/// The identity fields of a manifest, as `dataset_identity` reports them.
fn manifest_identity(path: &Path) -> serde_json::Value {
    let m: serde_json::Value = serde_json::from_slice(&fs::read(path).unwrap()).unwrap();
    let d = &m["dataset"];
    json!({
        "reader": d["reader"], "records": d["records"], "distinct_records": d["distinct_records"],
        "bytes": d["bytes"], "root": m["merkle_root"], "bottom_k": d["bottom_k"], "files": m["files"],
    })
}

#[test]
fn exact_only_identity_equals_the_full_manifests_identity() {
    let dir = tempfile::tempdir().unwrap();
    let data = messy_dataset(dir.path());
    fs::write(dir.path().join("key"), b"k").unwrap();
    let variants = [
        (Some("text"), false, false, 4096),
        (None, false, false, 300),
        (Some("text"), true, false, 50),
        (Some("text"), false, true, 1000),
    ];
    for (n, (field, case_fold, keyed, k)) in variants.into_iter().enumerate() {
        let mut opts = DatasetOptions {
            k,
            sample: 50,
            case_fold,
            key_file: keyed.then(|| dir.path().join("key")),
            ..DatasetOptions::default()
        };
        opts.read.field = field.map(str::to_string);
        let out = dir.path().join(format!("m{n}.json"));
        let full = dataset_fingerprint(&data, &out, false, None, &opts, &Quiet).unwrap();
        let written = dir.path().join(format!("id{n}.json"));
        let exact = dataset_identity(&data, Some(&written), false, &opts, &Quiet).unwrap();
        assert_eq!(exact.root, full.root, "variant {n}");
        let mut got = serde_json::to_value(&exact).unwrap();
        got.as_object_mut().unwrap().remove("path");
        assert_eq!(got, manifest_identity(&out), "variant {n}");
        let on_disk: serde_json::Value =
            serde_json::from_slice(&fs::read(&written).unwrap()).unwrap();
        assert_eq!(on_disk["root"], got["root"]);
        assert!(exact.records > 15_000 && exact.distinct_records < exact.records);
    }
}

#[test]
fn mapped_and_streamed_reads_number_records_alike_and_report_the_same_errors() {
    let dir = tempfile::tempdir().unwrap();
    let data = messy_dataset(dir.path());
    let big = data.join("big.jsonl");
    let bytes = fs::read(&big).unwrap();
    let gz = dir.path().join("big.jsonl.gz");
    {
        use std::io::Write;
        let mut e =
            flate2::write::GzEncoder::new(fs::File::create(&gz).unwrap(), Default::default());
        e.write_all(&bytes).unwrap();
        e.finish().unwrap();
    }
    let mut opts = small_sketches();
    opts.sample = 2000;
    let near = |p: &Path, name: &str| {
        let out = dir.path().join(format!("{name}.m.json"));
        dataset_fingerprint(p, &out, false, None, &opts, &Quiet).unwrap();
        let m: serde_json::Value = serde_json::from_slice(&fs::read(out).unwrap()).unwrap();
        let names: Vec<String> = m["dataset"]["near"]["text"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                e["record"]
                    .as_str()
                    .unwrap()
                    .split_once('#')
                    .unwrap()
                    .1
                    .to_string()
            })
            .collect();
        (names, m["merkle_root"].clone())
    };
    let (mapped, r1) = near(&big, "plain");
    let (streamed, r2) = near(&gz, "gz");
    assert_eq!(r1, r2);
    assert_eq!(mapped, streamed);
    // Record numbers beyond the first 4 MiB range are line numbers too.
    assert!(mapped.iter().any(|n| n.parse::<u64>().unwrap() > 20_000));
    // A broken line deep in the file: the same error, plain or compressed, full or exact.
    let lines: Vec<&str> = std::str::from_utf8(&bytes).unwrap().lines().collect();
    let bad_at = lines.len() - 10;
    let mut broken = lines[..bad_at - 1].join("\n");
    broken.push_str("\n{\"text\": \"oops\"\n");
    broken.push_str(&lines[bad_at..].join("\n"));
    let bad = dir.path().join("bad.jsonl");
    fs::write(&bad, &broken).unwrap();
    let want = format!("record {bad_at}: not JSON");
    let out = dir.path().join("bad.m.json");
    let e1 = dataset_fingerprint(&bad, &out, false, None, &opts, &Quiet)
        .unwrap_err()
        .to_string();
    let e2 = dataset_identity(&bad, None, false, &opts, &Quiet)
        .unwrap_err()
        .to_string();
    assert!(e1.contains(&want) && e2.contains(&want), "{e1} / {e2}");
    let text = dir.path().join("bad.txt");
    fs::write(&text, b"fine\n\nnot \xff utf-8\n").unwrap();
    let text_opts = DatasetOptions::default();
    let e3 = dataset_identity(&text, None, false, &text_opts, &Quiet)
        .unwrap_err()
        .to_string();
    let e4 = dataset_fingerprint(&text, &out, false, None, &text_opts, &Quiet)
        .unwrap_err()
        .to_string();
    assert!(e3.contains("record 3: not UTF-8 text"), "{e3}");
    assert!(e4.contains("record 3: not UTF-8 text"), "{e4}");
}
