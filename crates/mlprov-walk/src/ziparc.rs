//! Zip files: a PyTorch/TorchScript/npz model is a unit; any other zip (wheels included)
//! is an archive whose members are walked.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use mlprov_formats::Sniffed;
use zip::ZipArchive;

use crate::budget::Metered;
use crate::classify::{classify_stream, is_shard_index, zip_is_model, Class};
use crate::content::{onnx_locations, read_capped, shard_names, MAX_INDEX_BYTES};
use crate::extract::read_error;
use crate::found::{Counter, ProblemKind, Unit, UnitFile};
use crate::names::{display_name, is_unsafe, normalize};
use crate::plan::{plan, Loc, Member};
use crate::source::open_regular;
use crate::walker::{Flow, Stop, Walker};

impl Walker<'_> {
    /// A zip file on disk inside `depth` archives.
    pub(crate) fn zip_file(&mut self, path: &Path, display: &str, depth: usize, len: u64) -> Flow {
        let file = match open_regular(path, false) {
            Ok(f) => f,
            Err(e) => return self.unreadable(display.to_string(), &e),
        };
        let mut zip = match ZipArchive::new(file) {
            Ok(z) => z,
            Err(e) => {
                return self.problem(
                    display,
                    ProblemKind::DamagedArchive,
                    format!("damaged zip archive: {e}"),
                )
            }
        };
        if zip.len() as u64 > self.options.max_entries {
            return self.problem(
                display,
                ProblemKind::TooManyEntries,
                format!(
                    "{} entries, more than max_entries ({})",
                    zip.len(),
                    self.options.max_entries
                ),
            );
        }
        let mut names = Vec::with_capacity(zip.len());
        for i in 0..zip.len() {
            match zip.by_index_raw(i) {
                Ok(f) => names.push(f.name_raw().to_vec()),
                Err(e) => {
                    return self.problem(
                        display,
                        ProblemKind::DamagedArchive,
                        format!("damaged zip archive: {e}"),
                    )
                }
            }
        }
        if zip_is_model(names.iter().map(Vec::as_slice)) {
            return self.unit(Unit {
                display: display.to_string(),
                local: path.to_path_buf(),
                format: Sniffed::Zip,
                files: vec![UnitFile {
                    display: display.to_string(),
                    local: path.to_path_buf(),
                    bytes: len,
                }],
                bytes: len,
                within_archive: depth > 0,
            });
        }
        let level = depth + 1;
        if level > self.options.max_depth_archives {
            return self.report(crate::plan::too_deep(display.to_string(), &self.options));
        }
        let r = self.zip_archive(&mut zip, &names, display, level);
        self.contain(display, level, r)
    }

    fn zip_archive(
        &mut self,
        zip: &mut ZipArchive<File>,
        names: &[Vec<u8>],
        display: &str,
        level: usize,
    ) -> Flow {
        self.count(Counter::Archives, 1);
        let prefix = format!("{display}!/");
        let mut members = Vec::new();
        for (i, raw) in names.iter().enumerate() {
            let shown = format!("{prefix}{}", display_name(raw));
            let step = self.zip_member(zip, i, raw, &shown);
            match step {
                Ok(Some(m)) => members.push(m),
                Ok(None) => {}
                Err(Stop::Bad(kind, msg)) if kind != ProblemKind::OverBudget => {
                    self.problem(shown, kind, msg)?
                }
                Err(e) => return Err(e),
            }
        }
        let plan = plan(&members, &prefix, level, &self.options);
        for p in plan.problems {
            self.report(p)?;
        }
        for job in &plan.jobs {
            let slot = self.temp.slot()?;
            let mut ok = true;
            for f in job.files() {
                let m = &members[f.member];
                let dest = slot.path.join(&f.dest);
                let step = match zip.by_index(m.loc.ordinal as usize) {
                    Ok(zf) => {
                        let mut r = Metered::new(zf, self.budget.clone());
                        self.copy_member(&mut r, &dest, m.size)
                    }
                    Err(e) => Err(Stop::Bad(ProblemKind::DamagedArchive, e.to_string())),
                };
                if !self.member_ok(&f.display, step)? {
                    ok = false;
                    break;
                }
            }
            if ok {
                self.run_job(job, &members, slot, level)?;
            }
        }
        Ok(())
    }

    /// Lists member `i`: `None` for folders and links.
    fn zip_member(
        &mut self,
        zip: &mut ZipArchive<File>,
        i: usize,
        raw: &[u8],
        shown: &str,
    ) -> Result<Option<Member>, Stop> {
        let bad = |e: zip::result::ZipError| Stop::Bad(ProblemKind::DamagedArchive, e.to_string());
        let (size, class) = {
            let f = zip.by_index(i).map_err(bad)?;
            if f.is_dir() || f.is_symlink() {
                return Ok(None);
            }
            let size = f.size();
            self.count(Counter::Files, 1);
            self.count(Counter::Bytes, size);
            let mut r = Metered::new(f, self.budget.clone());
            let mut head = Vec::new();
            (
                size,
                classify_stream(&mut r, size, &mut head).map_err(read_error)?,
            )
        };
        if is_unsafe(raw) {
            self.problem(
                shown,
                ProblemKind::UnsafeName,
                "member name is absolute or climbs out with `..`: looked at under a generated name",
            )?;
        }
        let path = normalize(raw);
        let mut member = Member {
            display: display_name(raw),
            size,
            class,
            onnx: Vec::new(),
            shards: None,
            loc: Loc {
                blob: 0,
                ordinal: i as u64,
            },
            path,
        };
        if class == Class::Weight(Sniffed::Onnx) {
            let f = zip.by_index(i).map_err(bad)?;
            let mut r = Metered::new(f, self.budget.clone());
            member.onnx = onnx_locations(&mut r).map_err(read_error)?;
        } else if class == Class::Other && is_shard_index(&member.path) {
            member.shards = Some(if size > MAX_INDEX_BYTES {
                Err(format!("shard index larger than {MAX_INDEX_BYTES} bytes"))
            } else {
                let f = zip.by_index(i).map_err(bad)?;
                let mut r = Metered::new(f, self.budget.clone());
                let bytes =
                    read_capped(&mut r as &mut dyn Read, MAX_INDEX_BYTES).map_err(read_error)?;
                shard_names(&bytes)
            });
        }
        Ok(Some(member))
    }
}
