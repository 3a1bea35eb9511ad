//! Shared output helpers: progress on stderr, JSON on stdout, human sizes, warnings.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};
use mlprov::formats::Skipped;

/// The library's progress reports as bars and spinners on stderr, only when it is a terminal.
#[derive(Default)]
pub struct Terminal {
    bar: Mutex<Option<ProgressBar>>,
    /// The current stage's name and records so far (dataset operations).
    records: Mutex<(String, u64)>,
}

impl Terminal {
    fn show(&self, bar: Option<ProgressBar>) {
        if let Ok(mut slot) = self.bar.lock() {
            if let Some(old) = slot.take() {
                old.finish_and_clear();
            }
            *slot = bar;
        }
    }
}

impl mlprov::Progress for Terminal {
    fn bytes(&self, what: &str, total: u64) {
        if let Ok(mut r) = self.records.lock() {
            *r = (what.to_string(), 0);
        }
        self.show(byte_progress(total, what));
    }

    fn records(&self, n: u64) {
        let Ok(mut r) = self.records.lock() else {
            return;
        };
        r.1 += n;
        if let Ok(slot) = self.bar.lock() {
            if let Some(bar) = slot.as_ref() {
                bar.set_message(format!("{} ({} records)", r.0, r.1));
            }
        }
    }

    fn advance(&self, n: u64) {
        if let Ok(slot) = self.bar.lock() {
            if let Some(bar) = slot.as_ref() {
                bar.inc(n);
            }
        }
    }

    fn stage(&self, what: &str) {
        self.show(spinner(what));
    }

    fn done(&self) {
        self.show(None);
    }

    fn scanned(&self, files: u64, bytes: u64, models: u64, findings: u64) {
        if !std::io::stderr().is_terminal() {
            return;
        }
        let Ok(mut slot) = self.bar.lock() else {
            return;
        };
        let bar =
            slot.get_or_insert_with(|| spinner("scanning").unwrap_or_else(ProgressBar::hidden));
        bar.set_message(format!(
            "scanning: {files} files, {}, {models} models, {findings} findings",
            human_bytes(bytes)
        ));
    }
}

/// A byte-progress bar on stderr, or nothing when stderr is not a terminal.
fn byte_progress(total: u64, what: &str) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() || total < (64 << 20) {
        return None;
    }
    let bar = ProgressBar::new(total);
    let style = ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(what.to_string());
    Some(bar)
}

/// A spinner with elapsed time on stderr for work without a byte count (the invariants),
/// or nothing when stderr is not a terminal.
fn spinner(what: &str) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new_spinner();
    let style = ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    bar.set_style(style);
    bar.set_message(what.to_string());
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    Some(bar)
}

/// Prints one line on stdout, every control character in it escaped: names read from files
/// can then never forge a line or drive the terminal. Use it (through `say!`) for every
/// human-readable line; a line that should be blank is `say!("")`.
pub fn say_line(args: std::fmt::Arguments<'_>) {
    let line = args.to_string();
    let mut out = std::io::stdout().lock();
    // A closed pipe ends the process (SIGPIPE is restored in main); nothing else to do.
    let _ = writeln!(out, "{}", mlprov::printable(&line));
}

/// One line on stderr, escaped like [`say_line`].
pub fn warn_line(args: std::fmt::Arguments<'_>) {
    let line = args.to_string();
    eprintln!("{}", mlprov::printable(&line));
}

/// Prints a value as pretty JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// Tells the user on stderr about files left out of a model.
pub fn warn_skipped(skipped: &[Skipped]) {
    for s in skipped {
        warn_line(format_args!(
            "mlprov: warning: skipped {}: {}",
            s.rel_path, s.error.kind
        ));
    }
}

/// `1.5 MiB`-style sizes for tables.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// `[2, 3]`-style shapes.
pub fn shape(dims: &[usize]) -> String {
    let parts: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
    format!("[{}]", parts.join(", "))
}
