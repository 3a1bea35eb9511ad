//! From an archive's member list to jobs: which members make one unit (a weight file, an
//! ONNX model with its external data, a sharded checkpoint), which are archives to open.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use mlprov_formats::Sniffed;

use crate::classify::{is_shard_index, Class};
use crate::found::{Problem, ProblemKind};
use crate::names::{local_file_name, parent, resolve, safe_relative};
use crate::options::WalkOptions;

/// Where a member's bytes are: entry `ordinal` of blob `blob` (0 for a plain archive, a
/// layer for an image).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Loc {
    pub blob: usize,
    pub ordinal: u64,
}

/// A regular file inside an archive (or in the merged view of an image).
#[derive(Debug, Clone)]
pub(crate) struct Member {
    /// Normalized path, for matching.
    pub path: String,
    /// Shown after the archive's `!/`.
    pub display: String,
    pub size: u64,
    pub class: Class,
    /// External data names, for an ONNX member.
    pub onnx: Vec<String>,
    /// The shards a `*.safetensors.index.json` member lists (or why it could not be read).
    pub shards: Option<Result<Vec<String>, String>>,
    pub loc: Loc,
}

/// A file of a job and where it goes in the job's temp slot.
#[derive(Debug, Clone)]
pub(crate) struct JobFile {
    pub member: usize,
    pub dest: PathBuf,
    pub display: String,
}

/// Work for the extraction pass.
#[derive(Debug)]
pub(crate) enum Job {
    /// A unit: `files[0]` is the weight file (or the index, when `folder`).
    Unit {
        display: String,
        format: Sniffed,
        files: Vec<JobFile>,
        folder: bool,
    },
    /// A member that is (or may be) an archive: extracted, then walked.
    Nested { file: JobFile },
}

impl Job {
    pub(crate) fn files(&self) -> &[JobFile] {
        match self {
            Job::Unit { files, .. } => files,
            Job::Nested { file } => std::slice::from_ref(file),
        }
    }

    pub(crate) fn display(&self) -> &str {
        match self {
            Job::Unit { display, .. } => display,
            Job::Nested { file } => &file.display,
        }
    }
}

/// Jobs and problems of one archive.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub jobs: Vec<Job>,
    pub problems: Vec<Problem>,
}

/// Plans the members of an archive at nesting `level`; displays start with `prefix`.
pub(crate) fn plan(members: &[Member], prefix: &str, level: usize, options: &WalkOptions) -> Plan {
    let mut out = Plan::default();
    let show = |m: &Member| format!("{prefix}{}", m.display);
    let by_path: HashMap<&str, usize> = members
        .iter()
        .enumerate()
        .map(|(i, m)| (m.path.as_str(), i))
        .collect();
    let mut consumed = BTreeSet::new();
    // Sharded checkpoints first: their shards are not units of their own.
    for (i, m) in members.iter().enumerate() {
        let Some(shards) = &m.shards else { continue };
        if m.class != Class::Other || !is_shard_index(&m.path) {
            continue;
        }
        let names = match shards {
            Ok(names) => names,
            Err(msg) => {
                out.problems.push(Problem {
                    display: show(m),
                    kind: ProblemKind::ShardIndex,
                    message: format!("{msg}; its shards are reported one by one"),
                });
                continue;
            }
        };
        let dir = parent(&m.path);
        let mut files = vec![JobFile {
            member: i,
            dest: local_file_name(&m.path),
            display: show(m),
        }];
        for name in names {
            let Some(full) = resolve(dir, name) else {
                continue;
            };
            let Some(&s) = by_path.get(full.as_str()) else {
                continue;
            };
            let (Some(dest), true) = (safe_relative(&normalize_rel(name)), s != i) else {
                continue;
            };
            consumed.insert(s);
            files.push(JobFile {
                member: s,
                dest,
                display: show(&members[s]),
            });
        }
        if files.len() == 1 {
            continue; // no shard present: nothing to open
        }
        if let Some(p) = over_limit(members, &files, options) {
            out.problems.push(p);
            continue;
        }
        out.jobs.push(Job::Unit {
            display: format!("{prefix}{}", dir_display(members, i, dir)),
            format: Sniffed::Safetensors,
            files,
            folder: true,
        });
    }
    for (i, m) in members.iter().enumerate() {
        if consumed.contains(&i) {
            continue;
        }
        let main = JobFile {
            member: i,
            dest: local_file_name(&m.path),
            display: show(m),
        };
        match m.class {
            Class::Weight(format) => {
                let mut files = vec![main];
                // An ONNX model keeps its external data beside it, at the names it uses.
                for loc in &m.onnx {
                    let Some(full) = resolve(parent(&m.path), loc) else {
                        continue;
                    };
                    let (Some(&x), Some(dest)) = (
                        by_path.get(full.as_str()),
                        safe_relative(&normalize_rel(loc)),
                    ) else {
                        continue;
                    };
                    if x != i && dest != files[0].dest {
                        files.push(JobFile {
                            member: x,
                            dest,
                            display: show(&members[x]),
                        });
                    }
                }
                if let Some(p) = over_limit(members, &files, options) {
                    out.problems.push(p);
                    continue;
                }
                out.jobs.push(Job::Unit {
                    display: show(m),
                    format,
                    files,
                    folder: false,
                });
            }
            Class::Zip | Class::Tar(_) => {
                // A zip may be a model whatever the depth; a tar is only ever an archive.
                if matches!(m.class, Class::Tar(_)) && level + 1 > options.max_depth_archives {
                    out.problems.push(too_deep(show(m), options));
                    continue;
                }
                if let Some(p) = over_limit(members, std::slice::from_ref(&main), options) {
                    out.problems.push(p);
                    continue;
                }
                out.jobs.push(Job::Nested { file: main });
            }
            Class::CompressedWeight(c, format) => out.problems.push(Problem {
                display: show(m),
                kind: ProblemKind::CompressedWeight,
                message: format!(
                    "a {} file compressed with {}: not decompressed (decompress it to scan it)",
                    crate::walker::format_name(format),
                    c.name()
                ),
            }),
            Class::Damaged(c) => out.problems.push(Problem {
                display: show(m),
                kind: ProblemKind::DamagedArchive,
                message: format!("damaged {} stream", c.name()),
            }),
            Class::Other => {}
        }
    }
    out
}

pub(crate) fn too_deep(display: String, options: &WalkOptions) -> Problem {
    Problem {
        display,
        kind: ProblemKind::TooDeep,
        message: format!(
            "archive nested more than {} deep (max_depth_archives): not opened",
            options.max_depth_archives
        ),
    }
}

/// A problem if any file of a unit is over `max_extract_bytes`.
fn over_limit(members: &[Member], files: &[JobFile], options: &WalkOptions) -> Option<Problem> {
    let f = files
        .iter()
        .find(|f| members[f.member].size > options.max_extract_bytes)?;
    Some(Problem {
        display: f.display.clone(),
        kind: ProblemKind::TooLarge,
        message: format!(
            "{} bytes, more than max_extract_bytes ({}): not extracted",
            members[f.member].size, options.max_extract_bytes
        ),
    })
}

/// A folder as shown: the index's own display without its file name.
fn dir_display(members: &[Member], index: usize, dir: &str) -> String {
    let shown = &members[index].display;
    match shown.rsplit_once('/') {
        Some((d, _)) => d.to_string(),
        None if dir.is_empty() => String::new(),
        None => dir.to_string(),
    }
}

fn normalize_rel(name: &str) -> String {
    crate::names::normalize(name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(i: u64, path: &str, class: Class) -> Member {
        Member {
            path: path.into(),
            display: path.into(),
            size: 10,
            class,
            onnx: vec![],
            shards: None,
            loc: Loc {
                blob: 0,
                ordinal: i,
            },
        }
    }

    #[test]
    fn shards_join_their_index_and_onnx_keeps_its_data() {
        let mut idx = member(0, "m/model.safetensors.index.json", Class::Other);
        idx.shards = Some(Ok(vec!["a.safetensors".into(), "b.safetensors".into()]));
        let mut onnx = member(4, "o/model.onnx", Class::Weight(Sniffed::Onnx));
        onnx.onnx = vec!["w.bin".into(), "../escape".into()];
        let members = vec![
            idx,
            member(1, "m/a.safetensors", Class::Weight(Sniffed::Safetensors)),
            member(2, "m/b.safetensors", Class::Weight(Sniffed::Safetensors)),
            member(3, "x.gguf", Class::Weight(Sniffed::Gguf)),
            onnx,
            member(5, "o/w.bin", Class::Other),
        ];
        let p = plan(&members, "t.tar!/", 1, &WalkOptions::default());
        assert!(p.problems.is_empty());
        let shown: Vec<(&str, usize)> = p
            .jobs
            .iter()
            .map(|j| (j.display(), j.files().len()))
            .collect();
        assert_eq!(
            shown,
            [
                ("t.tar!/m", 3),
                ("t.tar!/x.gguf", 1),
                ("t.tar!/o/model.onnx", 2)
            ]
        );
        assert_eq!(p.jobs[2].files()[1].dest, PathBuf::from("w.bin"));
    }
}
