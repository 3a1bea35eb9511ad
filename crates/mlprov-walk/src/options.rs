//! Limits of a walk.

use std::path::PathBuf;
use std::sync::Arc;

use crate::found::Progress;

/// Default nesting of archives opened (an archive in an archive in ... four deep).
pub const DEFAULT_MAX_DEPTH_ARCHIVES: usize = 4;
/// Default largest member extracted: 64 GiB.
pub const DEFAULT_MAX_EXTRACT_BYTES: u64 = 64 << 30;
/// Default budget of one top-level archive: 1 TiB decompressed or extracted.
pub const DEFAULT_MAX_TOTAL_EXTRACT_BYTES: u64 = 1 << 40;
/// Default most entries per archive (per layer of an image): one million.
pub const DEFAULT_MAX_ENTRIES: u64 = 1_000_000;

/// How far a walk goes.
#[derive(Debug, Clone)]
pub struct WalkOptions {
    /// Archives nested at most this deep are opened (a top-level archive is depth 1).
    pub max_depth_archives: usize,
    /// Largest member extracted (declared size; a member inflating past its declared
    /// size is refused too).
    pub max_extract_bytes: u64,
    /// Bytes one top-level archive, with all it nests, may decompress or extract: every
    /// byte out of a gzip/zstd/zip decompressor and every byte written to the temp folder
    /// counts (a `.tar.gz` read twice counts twice).
    pub max_total_extract_bytes: u64,
    /// Most entries per archive (zip members, tar entries, entries of one image layer).
    pub max_entries: u64,
    /// Where the private temp folder is made (default: the system temp folder).
    pub temp_dir: Option<PathBuf>,
    /// Counters updated as the walk goes, for a progress display.
    pub progress: Option<Arc<Progress>>,
    /// Also report data files ([`crate::Found::Data`]) found outside archives.
    pub data_files: bool,
}

impl Default for WalkOptions {
    fn default() -> Self {
        WalkOptions {
            max_depth_archives: DEFAULT_MAX_DEPTH_ARCHIVES,
            max_extract_bytes: DEFAULT_MAX_EXTRACT_BYTES,
            max_total_extract_bytes: DEFAULT_MAX_TOTAL_EXTRACT_BYTES,
            max_entries: DEFAULT_MAX_ENTRIES,
            temp_dir: None,
            progress: None,
            data_files: false,
        }
    }
}
