//! Errors that end a walk: only the private temp folder failing (everything about the
//! files walked is a [`crate::Problem`] instead).

use std::io;
use std::path::PathBuf;

/// Why a walk stopped before its end.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The private temp folder could not be created.
    #[error("{}: cannot create the walk's temp folder: {source}", path.display())]
    TempDir {
        /// The folder it was to be made in.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// An extracted file could not be written (disk full, quota).
    #[error("{}: cannot write an extracted file: {source}", path.display())]
    TempWrite {
        /// The file being written.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
}
