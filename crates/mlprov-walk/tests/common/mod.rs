//! Helpers shared by the walk's tests: fixtures, archive builders, a recording visitor.
#![allow(dead_code)]

use std::io::Write;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use mlprov_formats::Sniffed;
use mlprov_walk::{walk, Found, ProblemKind, WalkOptions, WalkSummary};

/// The bytes of a file under `fixtures/`.
pub fn fixture(rel: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// What the visitor saw of one unit or problem.
#[derive(Debug, Clone)]
pub struct Rec {
    pub display: String,
    /// Units: their format; problems: `None`.
    pub format: Option<Sniffed>,
    /// Units: each file's display and bytes as read while the visitor ran.
    pub files: Vec<(String, Vec<u8>)>,
    pub local: PathBuf,
    pub within: bool,
    /// Units: weight files `open_model(local)` found, or its error.
    pub opened: Result<usize, String>,
    pub kind: Option<ProblemKind>,
    pub message: String,
}

impl Rec {
    pub fn is_unit(&self) -> bool {
        self.format.is_some()
    }
}

/// Walks `roots` and records everything found.
pub fn run(roots: &[PathBuf], options: &WalkOptions) -> (Vec<Rec>, WalkSummary) {
    let mut out = Vec::new();
    let summary = walk(roots, options, &mut |f| {
        out.push(record(f));
        ControlFlow::Continue(())
    })
    .expect("walk");
    (out, summary)
}

fn record(f: Found) -> Rec {
    match f {
        Found::Unit(u) => {
            let files = u
                .files
                .iter()
                .map(|f| {
                    (
                        f.display.clone(),
                        std::fs::read(&f.local).expect("unit file readable"),
                    )
                })
                .collect();
            let opened = mlprov_formats::open_model(&u.local, Default::default())
                .map(|m| m.files.len())
                .map_err(|e| e.to_string());
            Rec {
                display: u.display,
                format: Some(u.format),
                files,
                local: u.local,
                within: u.within_archive,
                opened,
                kind: None,
                message: String::new(),
            }
        }
        Found::Data(d) => Rec {
            display: d.display,
            format: None,
            files: Vec::new(),
            local: d.local,
            within: false,
            opened: Err("data".into()),
            kind: None,
            message: String::new(),
        },
        Found::Problem(p) => Rec {
            display: p.display,
            format: None,
            files: Vec::new(),
            local: PathBuf::new(),
            within: false,
            opened: Err(String::new()),
            kind: Some(p.kind),
            message: p.message,
        },
    }
}

pub fn units(recs: &[Rec]) -> Vec<&Rec> {
    recs.iter().filter(|r| r.is_unit()).collect()
}

pub fn problems(recs: &[Rec]) -> Vec<&Rec> {
    recs.iter().filter(|r| r.kind.is_some()).collect()
}

/// Data files (`Found::Data`).
pub fn data_files(recs: &[Rec]) -> Vec<&Rec> {
    recs.iter()
        .filter(|r| !r.is_unit() && r.kind.is_none())
        .collect()
}

/// Displays relative to `base` (a temp dir prefix removed).
pub fn shown(recs: &[&Rec], base: &Path) -> Vec<String> {
    let prefix = format!("{}/", base.display());
    recs.iter()
        .map(|r| {
            r.display
                .strip_prefix(&prefix)
                .unwrap_or(&r.display)
                .to_string()
        })
        .collect()
}

/// Options whose temp folder is `dir` (so a test can check it is left empty).
pub fn options_in(dir: &Path) -> WalkOptions {
    WalkOptions {
        temp_dir: Some(dir.to_path_buf()),
        ..WalkOptions::default()
    }
}

/// A tar (GNU headers) of `(name, bytes)` regular files.
pub fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

/// A tar entry whose name is written as is (no path checks), for hostile names.
pub fn append_raw(b: &mut tar::Builder<Vec<u8>>, name: &[u8], data: &[u8], kind: tar::EntryType) {
    let mut h = tar::Header::new_ustar();
    h.as_ustar_mut().unwrap().name[..name.len()].copy_from_slice(name);
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_entry_type(kind);
    h.set_cksum();
    b.append(&h, data).unwrap();
}

pub fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

pub fn zst(bytes: &[u8]) -> Vec<u8> {
    zstd::encode_all(bytes, 3).unwrap()
}

/// A zip of `(name, bytes)` files, deflated.
pub fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in entries {
        w.start_file(*name, opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// The files left under `dir`, recursively.
pub fn leftovers(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p.clone());
            }
            out.push(p);
        }
    }
    out
}

/// Whether this process ignores file permissions (root).
pub fn privileged(dir: &Path) -> bool {
    let p = dir.join("probe");
    std::fs::write(&p, b"x").unwrap();
    let mut perm = std::fs::metadata(&p).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o000);
    std::fs::set_permissions(&p, perm).unwrap();
    let readable = std::fs::File::open(&p).is_ok();
    std::fs::remove_file(&p).unwrap();
    readable
}
