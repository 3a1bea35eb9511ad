//! The one error type of the application layer: an input that cannot be used, named.

use std::path::{Path, PathBuf};

/// A security finding: a file holding a pickle that would run code when loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecurityFinding<'a> {
    /// The file.
    pub path: &'a Path,
    /// The global it would import and call (`os.system`).
    pub global: &'a str,
    /// The pickle opcode that would call it (`REDUCE`, `INST`, `OBJ`, `NEWOBJ`…).
    pub opcode: &'a str,
}

/// Why an operation could not run. The CLI exits 2 on every one of these, except a
/// security finding ([`Error::is_security_finding`]), which is a finding (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A weight file or model folder that cannot be read (the error names the file).
    #[error(transparent)]
    Format(#[from] mlprov_formats::Error),
    /// A dataset file or record that cannot be read (the error names the file and record).
    #[error(transparent)]
    Data(#[from] mlprov_data::Error),
    /// A file that cannot be read or written.
    #[error("{}: {what}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done (`cannot read`, `cannot write`).
        what: &'static str,
        /// The system's error.
        source: std::io::Error,
    },
    /// A manifest that cannot be read.
    #[error("{}: {source}", path.display())]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong with it.
        source: mlprov_manifest::ManifestError,
    },
    /// An output file that exists already, without `force`.
    #[error("{}: already exists (pass --force to replace it)", path.display())]
    Exists {
        /// The output file.
        path: PathBuf,
    },
    /// The registry failed (cannot be opened, or a database error).
    #[error(transparent)]
    Registry(#[from] mlprov_registry::Error),
    /// Any other unusable input, with the file (and line) it is in.
    #[error("{}: {message}", path.display())]
    Input {
        /// The file (or `path:line`).
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// The result of an operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Whether the input is hostile rather than unusable: a pickle that would run code.
    pub fn is_security_finding(&self) -> bool {
        self.security_finding().is_some()
    }

    /// The file and the global, when this is a security finding.
    pub fn security_finding(&self) -> Option<SecurityFinding<'_>> {
        match self {
            Error::Format(e) => match &e.kind {
                mlprov_formats::ErrorKind::CodeExecution { global, opcode } => {
                    Some(SecurityFinding {
                        path: &e.path,
                        global,
                        opcode,
                    })
                }
                _ => None,
            },
            _ => None,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, what: &'static str, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            what,
            source,
        }
    }

    pub(crate) fn input(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Input {
            path: path.into(),
            message: message.into(),
        }
    }
}
