//! A model: one weight file, or a directory of them (including sharded checkpoints).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use crate::budget::Budget;
use crate::error::{Error, ErrorKind};
use crate::file::{open_in, WeightFile};
use crate::readers::sniff::{sniff_path, Sniffed};
use crate::walk::{has_weight_extension, walk_model};

/// Hugging Face's index of a sharded safetensors checkpoint.
const SHARD_INDEX: &str = "model.safetensors.index.json";
/// Largest index file we read (real ones are well under a megabyte).
const MAX_INDEX_BYTES: u64 = 64 << 20;

/// Whether the model was given as one file or as a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// A single weight file.
    File,
    /// A directory of weight files.
    Directory,
}

impl Layout {
    /// Lower-case name used in output and manifests.
    pub fn name(self) -> &'static str {
        match self {
            Layout::File => "file",
            Layout::Directory => "directory",
        }
    }
}

/// One weight file of a model, with its path relative to the model root.
#[derive(Debug)]
pub struct ModelFile {
    /// Path relative to the model root, `/`-separated (for a single file: its file name).
    pub rel_path: String,
    /// The opened file.
    pub file: WeightFile,
}

/// A file left out of the model, and why.
#[derive(Debug)]
pub struct Skipped {
    /// Path relative to the model root.
    pub rel_path: String,
    /// Why it was not read.
    pub error: Error,
}

/// How to open a model.
#[derive(Debug, Clone, Copy)]
pub struct OpenOptions {
    /// Record files that fail to open in [`Model::unreadable`] instead of failing.
    /// Verification uses this: a damaged file is a finding, not a usage error. The shard
    /// index is not checked either: verification compares the contents themselves.
    pub keep_going: bool,
    /// The memory budget: the most bytes the model's files may decode or inflate into
    /// memory together (deflated zip members, gathered strided views, byte-swapped
    /// arrays, unpacked ONNX fields); mapped bytes do not count. A model that needs more
    /// is refused, naming the bytes it needs. Default [`crate::DEFAULT_MEMORY_BUDGET`].
    pub memory_budget: u64,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            keep_going: false,
            memory_budget: crate::DEFAULT_MEMORY_BUDGET,
        }
    }
}

/// An opened model: its weight files in path order.
#[derive(Debug)]
pub struct Model {
    /// The path the model was opened from.
    pub root: PathBuf,
    /// File or directory.
    pub layout: Layout,
    /// Weight files, sorted by relative path.
    pub files: Vec<ModelFile>,
    /// Weight files of formats this build cannot read yet.
    pub skipped: Vec<Skipped>,
    /// Files that looked like weights but failed to open (only with `keep_going`).
    pub unreadable: Vec<Skipped>,
}

impl Model {
    /// The base name of the model path (file or directory name).
    pub fn name(&self) -> String {
        self.root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| ".".to_string())
    }

    /// Total tensors across files.
    pub fn tensor_count(&self) -> usize {
        self.files.iter().map(|f| f.file.tensor_infos().len()).sum()
    }
}

/// Opens a model file or directory, failing on the first unreadable weight file.
pub fn open_model(path: impl AsRef<Path>, options: OpenOptions) -> Result<Model, Error> {
    let root = path.as_ref();
    // Every file of the model draws on one budget.
    let budget = Budget::new(options.memory_budget);
    let open = |p: &Path| open_in(p, &budget);
    let meta = fs::metadata(root).map_err(|e| Error::io(root, e))?;
    let mut model = Model {
        root: root.to_path_buf(),
        layout: if meta.is_dir() {
            Layout::Directory
        } else {
            Layout::File
        },
        files: Vec::new(),
        skipped: Vec::new(),
        unreadable: Vec::new(),
    };
    if !meta.is_dir() {
        // Named lossily: a non-UTF-8 name is still the file the user gave.
        let name = root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| Error::new(root, ErrorKind::NonUtf8Name))?;
        match open(root) {
            Ok(file) => model.files.push(ModelFile {
                rel_path: name,
                file,
            }),
            Err(error) if options.keep_going && !error.is_security_finding() => {
                model.unreadable.push(Skipped {
                    rel_path: name,
                    error,
                })
            }
            Err(error) => return Err(error),
        }
        return Ok(model);
    }

    let walked = walk_model(root)?;
    // Folder symlinks, links leaving the model and folders too deep are not read: in a
    // verification they are entries the manifest does not cover (differences); otherwise
    // they are listed as skipped (and warned about).
    for (rel_path, error) in walked.reported {
        if options.keep_going {
            model.unreadable.push(Skipped { rel_path, error });
        } else {
            model.skipped.push(Skipped { rel_path, error });
        }
    }
    let mut unplaced = Vec::new();
    for (rel_path, full) in walked.files {
        let (sniffed, _, _) = match sniff_path(&full) {
            Ok(s) => s,
            Err(error) if options.keep_going => {
                model.unreadable.push(Skipped { rel_path, error });
                continue;
            }
            Err(error) => return Err(error),
        };
        let promised = has_weight_extension(&full);
        let opened = match sniffed {
            Sniffed::KnownUnsupported(name) => {
                let error = Error::new(&full, ErrorKind::Unsupported(name));
                model.skipped.push(Skipped { rel_path, error });
                continue;
            }
            Sniffed::Unknown => {
                if promised {
                    unplaced.push((rel_path, full));
                }
                continue;
            }
            // Zip and pickle magics and ONNX's first fields are weak evidence: an archive of
            // something else is no error unless its name promised weights.
            Sniffed::Zip | Sniffed::Pickle | Sniffed::Onnx if !promised => match open(&full) {
                Ok(file) => Ok(file),
                Err(error) if error.is_security_finding() => return Err(error),
                Err(error) => {
                    model.skipped.push(Skipped { rel_path, error });
                    continue;
                }
            },
            _ => open(&full),
        };
        match opened {
            Ok(file) => model.files.push(ModelFile { rel_path, file }),
            // A pickle that would run code is reported as such, never passed over.
            Err(error) if error.is_security_finding() => return Err(error),
            Err(error) if options.keep_going => model.unreadable.push(Skipped { rel_path, error }),
            Err(error) => return Err(error),
        }
    }
    // Files named like weights that no reader recognized: an ONNX model's external data
    // belongs to that model; anything else is a broken weight file.
    let external: BTreeSet<PathBuf> = model
        .files
        .iter()
        .flat_map(|f| {
            f.file
                .externals()
                .iter()
                .filter_map(|e| fs::canonicalize(&e.path).ok())
        })
        .collect();
    for (rel_path, full) in unplaced {
        if fs::canonicalize(&full).is_ok_and(|c| external.contains(&c)) {
            continue;
        }
        match open(&full) {
            Ok(file) => model.files.push(ModelFile { rel_path, file }),
            Err(error) if options.keep_going => model.unreadable.push(Skipped { rel_path, error }),
            Err(error) => return Err(error),
        }
    }
    model.files.sort_by(|a, b| a.rel_path.cmp(&b.rel_path));
    // Verification compares contents itself; a stale index is not a reason to stop it.
    if !options.keep_going {
        check_shard_index(root, &model)?;
    }
    if model.files.is_empty() && model.unreadable.is_empty() {
        let detail = if model.skipped.is_empty() {
            String::new()
        } else {
            format!(
                " that this build can read ({} skipped: {})",
                model.skipped.len(),
                model.skipped[0].error.kind
            )
        };
        return Err(Error::new(root, ErrorKind::NoWeights(detail)));
    }
    Ok(model)
}

/// Checks `model.safetensors.index.json` (if present) against the shards found.
fn check_shard_index(root: &Path, model: &Model) -> Result<(), Error> {
    let index_path = root.join(SHARD_INDEX);
    if fs::symlink_metadata(&index_path).is_err() {
        return Ok(());
    }
    let bad = |detail: String| Error::new(&index_path, ErrorKind::InvalidIndex(detail));
    // Non-blocking and regular files only: a FIFO named like the index must not hang us.
    let text = crate::regular::read_regular_file(&index_path, MAX_INDEX_BYTES)?;
    let index: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
    let map = index
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| bad("no `weight_map` object".into()))?;
    let mut by_shard: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (tensor, shard) in map {
        let shard = shard
            .as_str()
            .ok_or_else(|| bad(format!("shard of tensor `{tensor}` is not a string")))?;
        by_shard.entry(shard).or_default().insert(tensor);
    }
    for (shard, tensors) in by_shard {
        if shard.contains("..") || shard.starts_with('/') {
            return Err(bad(format!(
                "shard path `{shard}` leaves the model directory"
            )));
        }
        let Some(file) = model.files.iter().find(|f| f.rel_path == shard) else {
            return Err(bad(format!("shard `{shard}` is listed but not present")));
        };
        let present: BTreeSet<&str> = file
            .file
            .tensor_infos()
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        if let Some(missing) = tensors.iter().find(|t| !present.contains(*t)) {
            return Err(bad(format!(
                "tensor `{missing}` is mapped to `{shard}` but that shard does not hold it"
            )));
        }
    }
    Ok(())
}

impl Model {
    /// `Ok` unless one of the model's files changed since it was opened (see
    /// [`WeightFile::check_unchanged`](crate::WeightFile::check_unchanged)).
    pub fn check_unchanged(&self) -> Result<(), Error> {
        self.files.iter().try_for_each(|f| f.file.check_unchanged())
    }
}
