//! The private temp folder and copying members into it under bounded sizes.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::budget::is_over_budget;
use crate::error::Error;
use crate::found::{Counter, ProblemKind};
use crate::plan::{Job, Loc, Member};
use crate::walker::{Flow, Stop, Walker};

/// The walk's private temp folder (mode 0700): extracted files live in numbered slots.
pub(crate) struct TempSpace {
    dir: tempfile::TempDir,
    next: u64,
}

impl TempSpace {
    pub(crate) fn new(parent: Option<&Path>) -> Result<TempSpace, Error> {
        let parent = parent.map_or_else(std::env::temp_dir, Path::to_path_buf);
        let dir = tempfile::Builder::new()
            .prefix(".mlprov-walk-")
            .tempdir_in(&parent)
            .map_err(|source| Error::TempDir {
                path: parent,
                source,
            })?;
        Ok(TempSpace { dir, next: 0 })
    }

    /// A new empty folder for one job, removed when the returned slot is dropped.
    pub(crate) fn slot(&mut self) -> Result<Slot, Error> {
        self.next += 1;
        let path = self.dir.path().join(format!("{:08}", self.next));
        fs::create_dir(&path).map_err(|source| Error::TempWrite {
            path: path.clone(),
            source,
        })?;
        Ok(Slot { path })
    }
}

/// One job's folder in the temp space.
#[derive(Debug)]
pub(crate) struct Slot {
    pub path: PathBuf,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Creates `dest` (a new file; its folders inside the slot are made) for writing.
pub(crate) fn create_new(dest: &Path) -> Result<fs::File, Stop> {
    let fatal = |source| {
        Stop::Fatal(Error::TempWrite {
            path: dest.to_path_buf(),
            source,
        })
    };
    if let Some(dir) = dest.parent() {
        fs::create_dir_all(dir).map_err(fatal)?;
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    options.open(dest).map_err(fatal)
}

/// A read error while reading an archive, as a problem of that archive.
pub(crate) fn read_error(e: io::Error) -> Stop {
    if is_over_budget(&e) {
        Stop::Bad(ProblemKind::OverBudget, e.to_string())
    } else if e.kind() == io::ErrorKind::UnexpectedEof {
        Stop::Bad(
            ProblemKind::DamagedArchive,
            "truncated archive (ends inside a member)".into(),
        )
    } else {
        Stop::Bad(ProblemKind::DamagedArchive, e.to_string())
    }
}

impl Walker<'_> {
    /// Copies a member of `size` bytes (exact for tar, declared for zip) from `r` into a new
    /// file `dest`: a member yielding more than `size` bytes is refused (a zip bomb lying
    /// about its size), one yielding fewer is truncated.
    pub(crate) fn copy_member(&mut self, r: &mut dyn Read, dest: &Path, size: u64) -> Flow {
        let mut out = create_new(dest)?;
        let mut buf = vec![0u8; 256 << 10];
        let mut limited = Read::take(r, size.saturating_add(1));
        let mut written: u64 = 0;
        loop {
            let n = match limited.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_error(e)),
            };
            written += n as u64;
            if written > size {
                return Err(Stop::Bad(
                    ProblemKind::TooLarge,
                    format!("inflates past its declared size of {size} bytes: not extracted"),
                ));
            }
            self.budget.charge(n as u64).map_err(read_error)?;
            out.write_all(&buf[..n]).map_err(|source| {
                Stop::Fatal(Error::TempWrite {
                    path: dest.to_path_buf(),
                    source,
                })
            })?;
            self.count(Counter::Extracted, n as u64);
        }
        if written < size {
            return Err(Stop::Bad(
                ProblemKind::DamagedArchive,
                format!("member ends after {written} of its {size} bytes"),
            ));
        }
        Ok(())
    }

    /// `Ok(true)` if a member step went well, `Ok(false)` once a problem with it (not its
    /// archive) is reported; budget and fatal stops pass through.
    pub(crate) fn member_ok(&mut self, display: &str, r: Flow) -> Result<bool, Stop> {
        match r {
            Ok(()) => Ok(true),
            Err(Stop::Bad(kind, message)) if kind != ProblemKind::OverBudget => {
                self.problem(display, kind, message)?;
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }
}

/// Extraction from a stream: members arrive in archive order; a job runs (and its slot is
/// freed) as soon as its last file has arrived, so the temp folder holds at most the jobs
/// in progress.
pub(crate) struct Streamer<'p> {
    jobs: &'p [Job],
    members: &'p [Member],
    needed: HashMap<Loc, Vec<(usize, usize)>>,
    remaining: Vec<usize>,
    slots: Vec<Option<Slot>>,
    failed: Vec<bool>,
    level: usize,
}

impl<'p> Streamer<'p> {
    pub(crate) fn new(jobs: &'p [Job], members: &'p [Member], level: usize) -> Self {
        let mut needed: HashMap<Loc, Vec<(usize, usize)>> = HashMap::new();
        for (j, job) in jobs.iter().enumerate() {
            for (k, f) in job.files().iter().enumerate() {
                needed
                    .entry(members[f.member].loc)
                    .or_default()
                    .push((j, k));
            }
        }
        Streamer {
            jobs,
            members,
            needed,
            remaining: jobs.iter().map(|j| j.files().len()).collect(),
            slots: jobs.iter().map(|_| None).collect(),
            failed: vec![false; jobs.len()],
            level,
        }
    }

    /// Whether any job needs the entry at `loc`.
    pub(crate) fn wants(&self, loc: Loc) -> bool {
        self.needed.contains_key(&loc)
    }

    /// Whether every job has run or failed.
    pub(crate) fn done(&self) -> bool {
        self.remaining
            .iter()
            .zip(&self.failed)
            .all(|(&r, &f)| r == 0 || f)
    }

    /// Takes the entry at `loc` (of `size` bytes) for every job that needs it.
    pub(crate) fn feed(
        &mut self,
        w: &mut Walker<'_>,
        loc: Loc,
        size: u64,
        r: &mut dyn Read,
    ) -> Flow {
        let Some(targets) = self.needed.remove(&loc) else {
            return Ok(());
        };
        let mut first: Option<PathBuf> = None;
        for (j, k) in targets {
            if self.failed[j] {
                continue;
            }
            let file = &self.jobs[j].files()[k];
            let member = &self.members[file.member];
            if self.slots[j].is_none() {
                self.slots[j] = Some(w.temp.slot().map_err(Stop::Fatal)?);
            }
            let dest = match &self.slots[j] {
                Some(slot) => slot.path.join(&file.dest),
                None => continue,
            };
            let step = if member.size != size {
                Err(Stop::Bad(
                    ProblemKind::DamagedArchive,
                    "the archive changed while it was read".into(),
                ))
            } else if let Some(src) = &first {
                create_new(&dest).and_then(|_| {
                    fs::copy(src, &dest).map(|_| ()).map_err(|source| {
                        Stop::Fatal(Error::TempWrite {
                            path: dest.clone(),
                            source,
                        })
                    })
                })
            } else {
                w.copy_member(r, &dest, size)
            };
            if !w.member_ok(&file.display, step)? {
                self.failed[j] = true;
                self.slots[j] = None;
                continue;
            }
            first.get_or_insert(dest);
            self.remaining[j] -= 1;
            if self.remaining[j] == 0 {
                let slot = self.slots[j].take();
                if let Some(slot) = slot {
                    w.run_job(&self.jobs[j], self.members, slot, self.level)?;
                }
            }
        }
        Ok(())
    }

    /// Reports the jobs whose members never arrived.
    pub(crate) fn finish(self, w: &mut Walker<'_>) -> Flow {
        for (j, job) in self.jobs.iter().enumerate() {
            if self.remaining[j] > 0 && !self.failed[j] {
                w.problem(
                    job.display(),
                    ProblemKind::DamagedArchive,
                    "the archive changed while it was read: a member was not found again",
                )?;
            }
        }
        Ok(())
    }
}
