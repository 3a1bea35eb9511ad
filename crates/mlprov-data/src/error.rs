//! The data crate's error: always names the file, and the record where there is one.

use std::path::PathBuf;

/// Why a dataset could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file that cannot be opened or read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// A record that cannot be read (a broken JSON line, a CSV row of the wrong width).
    #[error("{}: record {record}: {message}", path.display())]
    Record {
        /// The file.
        path: PathBuf,
        /// The record's number in the file (1-based: the line for line formats, the row
        /// otherwise).
        record: u64,
        /// What is wrong.
        message: String,
    },
    /// A file or option that cannot be used as a whole (a corrupt Parquet footer, a
    /// column name that does not exist).
    #[error("{}: {message}", path.display())]
    Input {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn input(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Input {
            path: path.into(),
            message: message.into(),
        }
    }

    pub(crate) fn record(
        path: impl Into<PathBuf>,
        record: u64,
        message: impl Into<String>,
    ) -> Self {
        Error::Record {
            path: path.into(),
            record,
            message: message.into(),
        }
    }
}

/// The crate's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
