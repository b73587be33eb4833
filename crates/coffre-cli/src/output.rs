//! Everything printed: stdout lines (flushed, so receipts reach a pipe at once), JSON values
//! for `--json`, and progress bars drawn only when stderr is a terminal.

use crate::error::CliError;
use coffre_clock::{format_utc, Source, SourceSet, TimeStatus, Timestamp};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{json, Value};
use std::io::{IsTerminal as _, Write as _};

/// Writes `text` and a newline to stdout and flushes.
pub fn line(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").and_then(|()| out.flush()).map_err(stdout_error)
}

/// Writes raw bytes to stdout and flushes.
pub fn bytes(data: &[u8]) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    out.write_all(data).and_then(|()| out.flush()).map_err(stdout_error)
}

/// Writes a JSON value on one line.
pub fn json_line(value: &Value) -> Result<(), CliError> {
    line(&value.to_string())
}

/// Writes a JSON value pretty-printed (single results; streams use [`json_line`]).
pub fn json_pretty(value: &Value) -> Result<(), CliError> {
    line(&serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string()))
}

fn stdout_error(e: std::io::Error) -> CliError {
    CliError::usage("stdout", e)
}

/// Name of a time status as written in checkpoints.
pub fn status_name(status: TimeStatus) -> &'static str {
    match status {
        TimeStatus::Synchronized => "synchronized",
        TimeStatus::Holdover => "holdover",
        TimeStatus::Unsynchronized => "unsynchronized",
        _ => "unknown",
    }
}

fn source_names(set: SourceSet) -> Vec<&'static str> {
    set.iter().map(Source::name).collect()
}

/// A timestamp interval for JSON: both bounds, the midpoint as RFC 3339, sources, status.
pub fn timestamp_json(t: &Timestamp) -> Value {
    json!({
        "time": format_utc(t.midpoint_ns()),
        "earliest_ns": t.earliest_ns(),
        "latest_ns": t.latest_ns(),
        "uncertainty_ns": t.uncertainty_ns(),
        "status": status_name(t.status()),
        "agreed": source_names(t.agreed()),
        "rejected": source_names(t.rejected()),
    })
}

/// A timestamp for text output: `2025-01-02T03:04:05.000000006Z ±1.000 ms (synchronized)`.
pub fn timestamp_text(t: &Timestamp) -> String {
    let us = t.uncertainty_ns() / 1_000;
    format!(
        "{} ±{}.{:03} ms ({})",
        format_utc(t.midpoint_ns()),
        us / 1_000,
        us % 1_000,
        status_name(t.status())
    )
}

/// A spinner on stderr for work that reports no progress of its own (opening a vault,
/// exporting or verifying an audit bundle), hidden unless stderr is a terminal. It ticks from
/// its own thread so it moves while the work runs; finish it with `finish_and_clear`.
pub fn spinner(message: &'static str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let spinner = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
        spinner.set_style(style);
    }
    spinner.set_message(message);
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    spinner
}

/// A progress bar over `len` steps on stderr, hidden unless stderr is a terminal (so scripts
/// and tests see clean output).
pub fn progress(len: u64, message: &'static str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(message);
    bar
}
