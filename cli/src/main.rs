//! `mlprov`: a thin command line over the mlprov crates. Only this crate prints.

/// `println!` for human-readable output: one line, control characters escaped.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::output::say_line(format_args!($($arg)*))
    };
}

mod commands;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Provenance for machine-learning assets: exact identity of model weights and datasets.
#[derive(Parser)]
#[command(name = "mlprov", version, about, propagate_version = true)]
struct Cli {
    /// Print machine-readable JSON on stdout instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the tensors of a weight file or model directory.
    Inspect {
        /// A weight file, or a directory of them.
        path: PathBuf,
    },
    /// Print exact digests: per file, per tensor, and the model's Merkle root.
    Hash {
        /// A weight file, or a directory of them.
        path: PathBuf,
        /// Also print each file's plain BLAKE3 (the hex `b3sum` prints); reads the files again.
        #[arg(long)]
        plain: bool,
        /// Print the Merkle inclusion proof of this tensor instead of the digest listing.
        #[arg(long, value_name = "TENSOR")]
        proof: Option<String>,
    },
    /// Write a provenance manifest (mlprov.manifest/v1) for a model.
    Manifest {
        /// A weight file, or a directory of them.
        path: PathBuf,
        /// Where to write the manifest.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Replace FILE if it already exists.
        #[arg(long)]
        force: bool,
    },
    /// Robust fingerprint: a sampled sketch and SimHash key per tensor (reads only samples).
    Fingerprint {
        /// A weight file, or a directory of them.
        path: PathBuf,
        /// Also compute the permutation- and rotation-robust invariants: Gram sketches and
        /// anchored kernels (reads every weight of the residual-stream matrices).
        #[arg(long)]
        invariants: bool,
    },
    /// Lineage test: is model B the same as, re-encoded from, or derived from model A?
    Compare {
        /// The reference model (for example the licensed one).
        a: PathBuf,
        /// The suspect model.
        b: PathBuf,
        /// List every matched tensor pair, not only the summary.
        #[arg(long)]
        pairs: bool,
    },
    /// Evaluate the lineage test on a list of pairs with known relations (exit 1 on any miss).
    Eval {
        /// Tab-separated lines: model A, model B, expected verdict (`#` starts a comment).
        pairs: PathBuf,
        /// Folder the model paths are relative to (default: the list's folder).
        #[arg(long)]
        root: Option<PathBuf>,
    },
    /// Write any readable model as one safetensors file (source format and digest in its metadata).
    Convert {
        /// A weight file, or a directory of them, in any supported format.
        input: PathBuf,
        /// The safetensors file to write.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// How to store tensors.
        #[arg(long, value_enum, default_value = "keep")]
        dtype: commands::convert::DtypeArg,
        /// Leave out tensors that can be neither decoded nor stored as a safetensors dtype
        /// (they are listed); without it, such tensors fail the conversion (exit 2).
        #[arg(long)]
        skip_undecodable: bool,
        /// Replace FILE if it already exists.
        #[arg(long)]
        force: bool,
    },
    /// Datasets: fingerprint (manifest), compare (overlap and near-duplicate containment), merge shards.
    Dataset {
        #[command(subcommand)]
        command: commands::dataset::DatasetCommand,
    },
    /// Re-hash a model and report what differs from its manifest (exit 1 on any difference).
    Verify {
        /// The manifest to check against.
        manifest: PathBuf,
        /// The model; defaults to the manifest's subject name next to the manifest.
        path: Option<PathBuf>,
    },
}

/// What a command found: the exit code says it.
pub enum Outcome {
    /// Nothing to report (exit 0).
    Fine,
    /// A finding such as a mismatch (exit 1).
    Finding,
}

fn main() -> ExitCode {
    // Like other Unix tools, stop quietly when the reader of our output goes away
    // (`mlprov inspect big.gguf | head`) instead of panicking on a broken pipe.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inspect { path } => commands::inspect::run(&path, cli.json),
        Command::Hash { path, plain, proof } => {
            commands::hash::run(&path, plain, proof.as_deref(), cli.json)
        }
        Command::Manifest {
            path,
            output,
            force,
        } => commands::manifest::run(&path, &output, force, cli.json),
        Command::Fingerprint { path, invariants } => {
            commands::fingerprint::run(&path, invariants, cli.json)
        }
        Command::Compare { a, b, pairs } => commands::compare::run(&a, &b, pairs, cli.json),
        Command::Eval { pairs, root } => commands::eval::run(&pairs, root.as_deref(), cli.json),
        Command::Convert {
            input,
            output,
            dtype,
            skip_undecodable,
            force,
        } => commands::convert::run(&input, &output, dtype, skip_undecodable, force, cli.json),
        Command::Dataset { command } => commands::dataset::run(command, cli.json),
        Command::Verify { manifest, path } => {
            commands::verify::run(&manifest, path.as_deref(), cli.json)
        }
    };
    match result {
        Ok(Outcome::Fine) => ExitCode::SUCCESS,
        Ok(Outcome::Finding) => ExitCode::from(1),
        Err(err) => {
            // One line naming the file, whatever the file's names hold.
            output::warn_line(format_args!("mlprov: error: {err:#}"));
            ExitCode::from(2)
        }
    }
}
