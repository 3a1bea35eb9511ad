//! Find the weight files a deployment holds: folders walked, archives and container images
//! opened in place.
//!
//! [`walk`] goes through files and folders and calls a visitor with each [`Found`]: a
//! [`Unit`] (one model to open with `mlprov_formats::open_model(&unit.local, ..)`) or a
//! [`Problem`] (something that could not be looked at, and why). Weight files are
//! recognized by their first bytes (`mlprov_formats::sniff`), never their names.
//!
//! Archives are recognized by their bytes too and opened in place: zip (wheels too), tar
//! (ustar, GNU, pax), `.tar.gz` and `.tar.zst`, nested up to
//! [`WalkOptions::max_depth_archives`]. A zip holding a `data.pkl` or `constants.pkl` at the
//! top or one folder down (PyTorch, TorchScript) or only `.npy` members (NumPy `.npz`) is a
//! weight file, not an archive. OCI image layouts (folders or tars) and `docker save`
//! tarballs are merged layer by layer, whiteouts respected, and only the weight files that
//! survive are reported (see the `image` module's rules).
//!
//! With [`WalkOptions::data_files`], files outside archives whose names are a data
//! format's (`.jsonl`, `.ndjson`, `.csv`, `.tsv`, `.parquet`, each possibly `.gz` or `.zst`:
//! text formats have no magic bytes) are reported as [`Found::Data`], for dataset lookups.
//!
//! Folders: every regular file is looked at (dot files too); `.git` folders are not
//! entered (git-lfs keeps a second copy of each weight file there). Symbolic links are
//! never followed: one resolving inside a walked root is skipped (its target is walked
//! anyway), one leaving every root is a [`ProblemKind::LinkLeavesTree`], a dangling one is
//! skipped; a root given as a link is followed. FIFOs, sockets and devices are reported
//! ([`ProblemKind::NotRegularFile`]) and never opened; files are opened with `O_NONBLOCK`
//! (and `O_NOFOLLOW` below a root) and checked to be regular first. A folder holding an
//! `*.safetensors.index.json` gives one unit per index (its `local` is the folder, its
//! `files` the index and the shards it lists that are present). An ONNX file's unit lists
//! the external data files it names that sit beside it. Every format `sniff` recognizes is
//! a unit, including legacy pickles and formats mlprov cannot read (`Unit::format` says
//! which; opening then explains). Zip and tar members that are links are not followed.
//!
//! Inside archives, the members a unit needs are extracted into a private temp folder
//! (mode 0700) under generated folder names, and deleted when the visitor returns: the
//! temp folder holds at most the units in progress. A sharded safetensors checkpoint (an
//! `*.safetensors.index.json` and the shards it lists, in its folder) is one unit, its
//! files extracted together at the names the index uses; an ONNX model's external data
//! files (the names its initializers give) are extracted beside it. Member names are never
//! used as paths outside that folder: a name with `..` or a leading `/` is reported
//! ([`ProblemKind::UnsafeName`]) and looked at under its last component.
//!
//! Limits ([`WalkOptions`]): members larger than `max_extract_bytes` are not extracted,
//! and a member yielding more bytes than it declares is refused (zip bombs); everything a
//! top-level archive decompresses or extracts is charged to `max_total_extract_bytes`; an
//! archive (or image layer) with more than `max_entries` entries is refused. Tar headers
//! are read by a reader of our own that caps long names and pax headers. A truncated or
//! corrupt archive is a problem of that archive and the walk goes on.

#![deny(unsafe_code)]

mod budget;
mod classify;
mod content;
mod error;
mod extract;
mod found;
mod fswalk;
mod image;
mod names;
mod options;
mod plan;
mod source;
mod tar;
mod tararc;
mod walker;
mod ziparc;

use std::ops::ControlFlow;
use std::path::PathBuf;

pub use error::Error;
pub use found::{
    is_data_file_name, DataFile, Found, Problem, ProblemKind, Progress, Unit, UnitFile, WalkSummary,
};
pub use options::{
    WalkOptions, DEFAULT_MAX_DEPTH_ARCHIVES, DEFAULT_MAX_ENTRIES, DEFAULT_MAX_EXTRACT_BYTES,
    DEFAULT_MAX_TOTAL_EXTRACT_BYTES,
};

use walker::{Stop, Walker};

/// Walks `roots` (files or folders) in order, calling `visit` with each unit and problem
/// found; `visit` returning `Break` ends the walk early. Files extracted for a unit exist
/// only while `visit` runs. Fails only if the private temp folder cannot be made or
/// written; everything about the walked files is reported through `visit`.
pub fn walk(
    roots: &[PathBuf],
    options: &WalkOptions,
    visit: &mut dyn FnMut(Found) -> ControlFlow<()>,
) -> Result<WalkSummary, Error> {
    let mut walker = Walker::new(options, roots, visit)?;
    let mut stopped = false;
    for root in roots {
        match walker.walk_root(root) {
            Ok(()) => {}
            Err(Stop::Halt) => {
                stopped = true;
                break;
            }
            Err(Stop::Fatal(e)) => return Err(e),
            Err(Stop::Bad(kind, message)) => {
                let display = root.to_string_lossy().into_owned();
                match walker.problem(display, kind, message) {
                    Err(Stop::Halt) => {
                        stopped = true;
                        break;
                    }
                    Err(Stop::Fatal(e)) => return Err(e),
                    _ => {}
                }
            }
        }
    }
    let mut summary = walker.own.snapshot();
    summary.stopped = stopped;
    Ok(summary)
}
