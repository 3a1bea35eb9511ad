//! The one error type of this crate: a file and what was wrong with it.

use std::path::{Path, PathBuf};

/// A problem with one input file or directory, naming it.
#[derive(Debug, thiserror::Error)]
#[error("{}: {kind}", path.display())]
pub struct Error {
    /// The file or directory the problem is in.
    pub path: PathBuf,
    /// What was wrong.
    pub kind: ErrorKind,
}

/// What was wrong with an input.
#[derive(Debug, thiserror::Error)]
pub enum ErrorKind {
    /// The file could not be opened, read or mapped.
    #[error("cannot read: {0}")]
    Io(#[source] std::io::Error),
    /// Not a regular file (a FIFO, a device, a socket): refused before any byte is read,
    /// since reading one could block forever.
    #[error("not a regular file")]
    NotRegularFile,
    /// A file larger than anything of its kind can honestly be.
    #[error("{len} bytes is more than the {max} this file may have")]
    TooLarge {
        /// Its length (or what was read of it).
        len: u64,
        /// The most allowed.
        max: u64,
    },
    /// A pickle that would run code when loaded (`pickle.load`, `torch.load` without
    /// `weights_only`): a security finding, not a damaged file. Nothing was run.
    #[error("would run `{global}` when loaded ({opcode} opcode)")]
    CodeExecution {
        /// The global it would import and call (`os.system`, `builtins.exec`…).
        global: String,
        /// The pickle opcode that would call it (or name it, if nothing calls it).
        opcode: &'static str,
    },
    /// Decoding the file would take more memory than the budget allows.
    #[error(
        "needs {needed} bytes of decoded data, more than the memory budget of {budget} \
         (raise it with --memory-budget)"
    )]
    OverBudget {
        /// Bytes of decoded and inflated data the model needs so far.
        needed: u64,
        /// The budget in bytes.
        budget: u64,
    },
    /// A symbolic link to a folder inside a model: never followed, and not covered.
    #[error("a symbolic link to a folder; not followed, so not part of the model")]
    FolderSymlink,
    /// A symbolic link that resolves outside the model folder: refused unread.
    #[error("a symbolic link that leads outside the model folder; not read")]
    LinkLeavesModel,
    /// A folder nested deeper than the walk goes.
    #[error("folder nested more than {0} levels deep; not walked")]
    TooDeep(usize),
    /// The file has no bytes.
    #[error("file is empty")]
    Empty,
    /// The bytes do not start like any weight format we know.
    #[error("not a recognized weight file (first bytes: {0})")]
    UnknownFormat(String),
    /// A weight format we recognize but cannot read yet.
    #[error("{0} files are not supported yet")]
    Unsupported(&'static str),
    /// The file is shorter than its own header says.
    #[error("truncated: {0}")]
    Truncated(String),
    /// A header field is malformed or inconsistent.
    #[error("invalid {format} header: {detail}")]
    InvalidHeader {
        /// Format whose header is broken.
        format: &'static str,
        /// What exactly is wrong.
        detail: String,
    },
    /// A sharded checkpoint's index file is malformed or disagrees with its shards.
    #[error("invalid shard index: {0}")]
    InvalidIndex(String),
    /// A directory holds no weight file we can read.
    #[error("no weight files found{0}")]
    NoWeights(String),
    /// The file was truncated, grown or rewritten while it was being read: what was read
    /// may mix old and new bytes.
    #[error("changed while being read")]
    Changed,
    /// A file name that is not UTF-8 (manifests record paths as UTF-8 text).
    #[error("file name is not valid UTF-8")]
    NonUtf8Name,
    /// Tensors a conversion cannot write: no `f32` decoder for their dtype and no
    /// safetensors dtype to store them as they are (each `file: tensor (dtype)`).
    #[error(
        "cannot convert {} tensor(s), no decoder and no safetensors dtype for them: {}",
        .0.len(),
        first_few(.0)
    )]
    Undecodable(Vec<String>),
}

/// The first few items of a list, then how many more.
fn first_few(items: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut s = items
        .iter()
        .take(SHOWN)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > SHOWN {
        s.push_str(&format!(" and {} more", items.len() - SHOWN));
    }
    s
}

impl Error {
    /// Builds an error for `path`.
    pub fn new(path: impl AsRef<Path>, kind: ErrorKind) -> Self {
        Error {
            path: path.as_ref().to_path_buf(),
            kind,
        }
    }

    /// Whether this is a security finding (a pickle that would run code) rather than an
    /// unreadable input.
    pub fn is_security_finding(&self) -> bool {
        matches!(self.kind, ErrorKind::CodeExecution { .. })
    }

    pub(crate) fn io(path: impl AsRef<Path>, err: std::io::Error) -> Self {
        Error::new(path, ErrorKind::Io(err))
    }
}
