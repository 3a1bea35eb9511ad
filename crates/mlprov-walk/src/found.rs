//! What the walk reports: units to open, problems, and counts.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use mlprov_formats::Sniffed;

/// One thing the walk found.
#[derive(Debug)]
pub enum Found {
    /// A model to open with `mlprov_formats::open_model(&unit.local, ..)`.
    Unit(Unit),
    /// Something that could not be looked at, and why.
    Problem(Problem),
    /// A data file (with [`crate::WalkOptions::data_files`]): JSON Lines, CSV, TSV or
    /// Parquet by its name, possibly `.gz` or `.zst`, outside archives.
    Data(DataFile),
}

/// A data file a dataset may have been copied into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    /// The path, as a report shows it.
    pub display: String,
    /// Where it is on disk.
    pub local: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
}

/// Extensions of data files (text formats have no magic bytes, so the name decides).
const DATA_EXTENSIONS: [&str; 5] = ["jsonl", "ndjson", "csv", "tsv", "parquet"];

/// Whether a file name is a data file's: one of [`DATA_EXTENSIONS`], optionally followed
/// by `.gz` or `.zst` (case ignored).
pub fn is_data_file_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let name = name
        .strip_suffix(".gz")
        .or_else(|| name.strip_suffix(".zst"))
        .unwrap_or(&name);
    name.rsplit_once('.')
        .is_some_and(|(stem, ext)| !stem.is_empty() && DATA_EXTENSIONS.contains(&ext))
}

/// One model: a weight file, or the index and shards of a sharded safetensors checkpoint.
#[derive(Debug)]
pub struct Unit {
    /// What a report shows: the path for plain files, `archive!/inner/path` inside
    /// archives (nested: `a.tar!/b.zip!/m.safetensors`; images: `image.tar!/path`).
    pub display: String,
    /// The file (or, for a sharded checkpoint, the folder) to open. Inside an archive, a
    /// copy in the walk's private temp folder, deleted when the visitor returns.
    pub local: PathBuf,
    /// The format the first bytes say (`Sniffed::Zip` for a PyTorch, TorchScript or npz zip).
    pub format: Sniffed,
    /// Every file of the unit: the weight file itself, an ONNX model's external data files,
    /// a sharded checkpoint's index and shards.
    pub files: Vec<UnitFile>,
    /// Total bytes of `files`.
    pub bytes: u64,
    /// Whether the unit was found inside an archive or a container image.
    pub within_archive: bool,
}

/// One file of a unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitFile {
    /// What a report shows for this file.
    pub display: String,
    /// Where it is on disk now (valid while the visitor runs).
    pub local: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
}

/// Something the walk could not look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file, folder or member, named as in [`Unit::display`].
    pub display: String,
    /// What kind of problem.
    pub kind: ProblemKind,
    /// What went wrong, for people.
    pub message: String,
}

/// Kinds of problems.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProblemKind {
    /// Could not be read: permission denied, vanished, I/O error.
    Unreadable,
    /// A FIFO, socket or device: never opened.
    NotRegularFile,
    /// A symbolic link whose target lies outside the walked roots: never followed.
    LinkLeavesTree,
    /// An archive (or a compressed stream, or a member) that is truncated or corrupt.
    DamagedArchive,
    /// A member larger than `max_extract_bytes`, or one inflating past its declared size.
    TooLarge,
    /// An archive with more than `max_entries` entries.
    TooManyEntries,
    /// Archives nested deeper than `max_depth_archives`, or folders deeper than the walk goes.
    TooDeep,
    /// An archive whose members together decompress past `max_total_extract_bytes`.
    OverBudget,
    /// A member named with `..` or an absolute path (looked at under a generated name).
    UnsafeName,
    /// A gzip or zstd file holding a weight file: reported, not decompressed.
    CompressedWeight,
    /// A container image whose manifests or layers cannot be followed.
    Image,
    /// A sharded checkpoint's index that cannot be read (its shards are reported one by one).
    ShardIndex,
}

impl ProblemKind {
    /// A short lower-case name (stable, for `--json`).
    pub fn name(self) -> &'static str {
        match self {
            ProblemKind::Unreadable => "unreadable",
            ProblemKind::NotRegularFile => "not-regular-file",
            ProblemKind::LinkLeavesTree => "link-leaves-tree",
            ProblemKind::DamagedArchive => "damaged-archive",
            ProblemKind::TooLarge => "too-large",
            ProblemKind::TooManyEntries => "too-many-entries",
            ProblemKind::TooDeep => "too-deep",
            ProblemKind::OverBudget => "over-budget",
            ProblemKind::UnsafeName => "unsafe-name",
            ProblemKind::CompressedWeight => "compressed-weight",
            ProblemKind::Image => "image",
            ProblemKind::ShardIndex => "shard-index",
        }
    }
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Counts of a walk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WalkSummary {
    /// Regular files looked at (plain files and archive members).
    pub files: u64,
    /// Their bytes (members: their sizes as stored).
    pub bytes: u64,
    /// Archives opened (container images included; their layers not counted).
    pub archives: u64,
    /// Units reported.
    pub units: u64,
    /// Problems reported.
    pub problems: u64,
    /// Bytes written to the temp folder.
    pub extracted_bytes: u64,
    /// Whether the visitor stopped the walk.
    pub stopped: bool,
}

/// Live counters another thread may read while a walk runs (for a progress bar).
#[derive(Debug, Default)]
pub struct Progress {
    files: AtomicU64,
    bytes: AtomicU64,
    archives: AtomicU64,
    units: AtomicU64,
    problems: AtomicU64,
    extracted_bytes: AtomicU64,
}

/// Which counter to add to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Counter {
    Files,
    Bytes,
    Archives,
    Units,
    Problems,
    Extracted,
}

impl Progress {
    /// The counts so far.
    pub fn snapshot(&self) -> WalkSummary {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        WalkSummary {
            files: get(&self.files),
            bytes: get(&self.bytes),
            archives: get(&self.archives),
            units: get(&self.units),
            problems: get(&self.problems),
            extracted_bytes: get(&self.extracted_bytes),
            stopped: false,
        }
    }

    pub(crate) fn add(&self, counter: Counter, n: u64) {
        let c = match counter {
            Counter::Files => &self.files,
            Counter::Bytes => &self.bytes,
            Counter::Archives => &self.archives,
            Counter::Units => &self.units,
            Counter::Problems => &self.problems,
            Counter::Extracted => &self.extracted_bytes,
        };
        c.fetch_add(n, Ordering::Relaxed);
    }
}
