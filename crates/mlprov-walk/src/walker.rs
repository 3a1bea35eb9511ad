//! The walk's state and the step every path goes through: one file, classified by its
//! first bytes, becomes a unit, an archive to open, a problem or nothing.

use std::collections::HashSet;
use std::io::{self, Read};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use mlprov_formats::Sniffed;

use crate::budget::Budget;
use crate::classify::{classify_stream, Class};
use crate::content::onnx_locations;
use crate::error::Error;
use crate::extract::{Slot, TempSpace};
use crate::found::{Counter, DataFile, Found, Problem, ProblemKind, Progress, Unit, UnitFile};
use crate::names::safe_relative;
use crate::options::WalkOptions;
use crate::plan::{Job, Member};
use crate::source::open_regular;

/// Why a step stopped.
#[derive(Debug)]
pub(crate) enum Stop {
    /// The visitor asked to stop.
    Halt,
    /// The temp folder failed: the walk ends with this error.
    Fatal(Error),
    /// The archive (or file) being read is bad: reported as a problem where it is caught.
    Bad(ProblemKind, String),
}

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Stop::Fatal(e)
    }
}

pub(crate) type Flow = Result<(), Stop>;

/// State of one walk.
pub(crate) struct Walker<'v> {
    pub options: WalkOptions,
    pub temp: TempSpace,
    visit: &'v mut dyn FnMut(Found) -> ControlFlow<()>,
    pub own: Progress,
    /// The budget of the current top-level file.
    pub budget: Rc<Budget>,
    /// Canonical roots: a link resolving inside one is not reported.
    pub roots: Vec<PathBuf>,
    /// Shards already reported within a sharded unit.
    pub consumed: HashSet<PathBuf>,
}

impl<'v> Walker<'v> {
    pub(crate) fn new(
        options: &WalkOptions,
        roots: &[PathBuf],
        visit: &'v mut dyn FnMut(Found) -> ControlFlow<()>,
    ) -> Result<Self, Error> {
        Ok(Walker {
            options: options.clone(),
            temp: TempSpace::new(options.temp_dir.as_deref())?,
            visit,
            own: Progress::default(),
            budget: Budget::new(options.max_total_extract_bytes),
            roots: roots
                .iter()
                .filter_map(|r| std::fs::canonicalize(r).ok())
                .collect(),
            consumed: HashSet::new(),
        })
    }

    pub(crate) fn count(&self, counter: Counter, n: u64) {
        self.own.add(counter, n);
        if let Some(p) = &self.options.progress {
            p.add(counter, n);
        }
    }

    fn emit(&mut self, found: Found) -> Flow {
        match (self.visit)(found) {
            ControlFlow::Continue(()) => Ok(()),
            ControlFlow::Break(()) => Err(Stop::Halt),
        }
    }

    /// Reports a problem.
    pub(crate) fn problem(
        &mut self,
        display: impl Into<String>,
        kind: ProblemKind,
        message: impl Into<String>,
    ) -> Flow {
        self.count(Counter::Problems, 1);
        self.emit(Found::Problem(Problem {
            display: display.into(),
            kind,
            message: message.into(),
        }))
    }

    pub(crate) fn report(&mut self, p: Problem) -> Flow {
        self.problem(p.display, p.kind, p.message)
    }

    /// Reports a unit.
    pub(crate) fn unit(&mut self, unit: Unit) -> Flow {
        self.count(Counter::Units, 1);
        self.emit(Found::Unit(unit))
    }

    /// Turns a bad archive at nesting `level` into a problem named `display`; a spent budget
    /// goes up to the top-level archive, which reports it once.
    pub(crate) fn contain(&mut self, display: &str, level: usize, r: Flow) -> Flow {
        match r {
            Err(Stop::Bad(ProblemKind::OverBudget, m)) if level > 1 => {
                Err(Stop::Bad(ProblemKind::OverBudget, m))
            }
            Err(Stop::Bad(kind, message)) => self.problem(display, kind, message),
            other => other,
        }
    }

    /// Looks at one file on disk, inside `depth` archives: a real file (`depth` 0) or one
    /// extracted into the temp folder.
    pub(crate) fn file(
        &mut self,
        path: &Path,
        display: String,
        depth: usize,
        nofollow: bool,
    ) -> Flow {
        let mut file = match open_regular(path, nofollow) {
            Ok(f) => f,
            Err(e) => return self.unreadable(display, &e),
        };
        let len = match file.metadata() {
            Ok(m) => m.len(),
            Err(e) => return self.unreadable(display, &e),
        };
        if depth == 0 {
            self.count(Counter::Files, 1);
            self.count(Counter::Bytes, len);
            self.budget = Budget::new(self.options.max_total_extract_bytes);
        }
        let mut head = Vec::new();
        let class = match classify_stream(&mut file, len, &mut head) {
            Ok(c) => c,
            Err(e) => return self.unreadable(display, &e),
        };
        drop(file);
        let within = depth > 0;
        match class {
            Class::Weight(format) => {
                let mut files = vec![UnitFile {
                    display: display.clone(),
                    local: path.to_path_buf(),
                    bytes: len,
                }];
                if format == Sniffed::Onnx {
                    files.extend(onnx_external_files(path, &display));
                }
                let bytes = files.iter().map(|f| f.bytes).sum();
                self.unit(Unit {
                    display,
                    local: path.to_path_buf(),
                    format,
                    files,
                    bytes,
                    within_archive: within,
                })
            }
            Class::Zip => self.zip_file(path, &display, depth, len),
            Class::Tar(compression) => {
                if depth + 1 > self.options.max_depth_archives {
                    return self.report(crate::plan::too_deep(display, &self.options));
                }
                let r = self.tar_file(path, &display, compression, depth + 1);
                self.contain(&display, depth + 1, r)
            }
            Class::CompressedWeight(c, format) => self.problem(
                display,
                ProblemKind::CompressedWeight,
                format!(
                    "a {} file compressed with {}: not decompressed (decompress it to scan it)",
                    format_name(format),
                    c.name()
                ),
            ),
            Class::Damaged(c) => self.problem(
                display,
                ProblemKind::DamagedArchive,
                format!("damaged or truncated {} stream", c.name()),
            ),
            Class::Other if depth == 0 && self.options.data_files => {
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if !crate::found::is_data_file_name(name) {
                    return Ok(());
                }
                self.emit(Found::Data(DataFile {
                    display,
                    local: path.to_path_buf(),
                    bytes: len,
                }))
            }
            Class::Other => Ok(()),
        }
    }

    pub(crate) fn unreadable(&mut self, display: String, e: &io::Error) -> Flow {
        let kind = if e.to_string() == "not a regular file" {
            ProblemKind::NotRegularFile
        } else {
            ProblemKind::Unreadable
        };
        self.problem(display, kind, e.to_string())
    }

    /// Runs a job whose files are all in `slot`: reports the unit, or walks the archive.
    pub(crate) fn run_job(
        &mut self,
        job: &Job,
        members: &[Member],
        slot: Slot,
        level: usize,
    ) -> Flow {
        match job {
            Job::Unit {
                display,
                format,
                files,
                folder,
            } => {
                let files: Vec<UnitFile> = files
                    .iter()
                    .map(|f| UnitFile {
                        display: f.display.clone(),
                        local: slot.path.join(&f.dest),
                        bytes: members[f.member].size,
                    })
                    .collect();
                let local = if *folder {
                    slot.path.clone()
                } else {
                    files[0].local.clone()
                };
                let bytes = files.iter().map(|f| f.bytes).sum();
                self.unit(Unit {
                    display: display.clone(),
                    local,
                    format: *format,
                    files,
                    bytes,
                    within_archive: true,
                })
            }
            Job::Nested { file } => {
                let path = slot.path.join(&file.dest);
                self.file(&path, file.display.clone(), level, true)
            }
        }
    }
}

/// The external data files an ONNX model on disk names, found beside it.
fn onnx_external_files(path: &Path, display: &str) -> Vec<UnitFile> {
    let Ok(mut f) = open_regular(path, false) else {
        return Vec::new();
    };
    let Ok(names) = onnx_locations(&mut f as &mut dyn Read) else {
        return Vec::new();
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let shown_dir = display.rsplit_once('/').map_or("", |(d, _)| d);
    names
        .iter()
        .filter_map(|name| {
            let rel = safe_relative(&crate::names::normalize(name.as_bytes()))?;
            if name.starts_with('/') || name.split('/').any(|c| c == "..") {
                return None;
            }
            let local = dir.join(&rel);
            let meta = std::fs::symlink_metadata(&local).ok()?;
            meta.is_file().then(|| UnitFile {
                display: if shown_dir.is_empty() {
                    name.clone()
                } else {
                    format!("{shown_dir}/{name}")
                },
                local,
                bytes: meta.len(),
            })
        })
        .collect()
}

/// A format's name for messages.
pub(crate) fn format_name(s: Sniffed) -> &'static str {
    match s {
        Sniffed::Safetensors => "safetensors",
        Sniffed::Gguf => "GGUF",
        Sniffed::Ggml => "GGML",
        Sniffed::Zip => "zip",
        Sniffed::Npy => "NumPy .npy",
        Sniffed::Pickle => "pickle",
        Sniffed::Onnx => "ONNX",
        Sniffed::KnownUnsupported(name) => name,
        Sniffed::Unknown => "unknown",
    }
}
