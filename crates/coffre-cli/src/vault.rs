//! Opening a vault directory for the commands: read-only for those that only look, for
//! writing (with crash recovery) for those that append.

use crate::error::CliError;
use coffre_attendance::vault::meta::META_FILE;
use coffre_attendance::vault::LOG_DIR;
use coffre_log::note::NoteVerifier;
use coffre_log::options::DEFAULT_PAYLOAD_SIZE_BYTES_MAX;
use coffre_log::tree_store::TreeStoreError;
use coffre_log::{Hash, Log, LogError, LogOptions, CHECKPOINTS_FILE, MANIFEST_FILE};
use std::path::{Path, PathBuf};

/// Bytes a segment needs besides one record's payload: segment header (32), record header
/// (56), alignment padding (< 8), one offset-table entry (4), footer (48); rounded up.
const SEGMENT_OVERHEAD_BYTES: u64 = 160;

/// Largest payload a log with `segment_size_bytes` segments can hold, capped at the library
/// default, so a vault created with small segments (`init --segment-size`) still opens.
pub fn payload_limit_for(segment_size_bytes: u64) -> u32 {
    let fit = segment_size_bytes.saturating_sub(SEGMENT_OVERHEAD_BYTES) / 8 * 8;
    u32::try_from(fit.min(u64::from(DEFAULT_PAYLOAD_SIZE_BYTES_MAX)))
        .unwrap_or(DEFAULT_PAYLOAD_SIZE_BYTES_MAX)
}

/// Options to open an existing vault with (creation-only fields are ignored by open). With a
/// trusted key, opening fails as tampered if the vault's recorded checkpoint key differs.
pub fn open_options(trusted: Option<&NoteVerifier>) -> LogOptions {
    LogOptions { trusted_verifier: trusted.cloned(), ..LogOptions::default() }
}

/// The log directory of `dir`: `dir` itself for a plain log, `dir/log` for an attendance
/// vault (a directory holding `vault.meta`), so every log command works on both.
pub fn log_dir(dir: &Path) -> PathBuf {
    if !dir.join(MANIFEST_FILE).exists() && dir.join(META_FILE).exists() {
        return dir.join(LOG_DIR);
    }
    dir.to_path_buf()
}

/// Opens `dir` read-only: no lock, no repair, nothing written.
pub fn open_read(dir: &Path) -> Result<Log, CliError> {
    open_read_trusted(dir, None)
}

/// [`open_read`], checking the vault's recorded checkpoint key against `trusted`.
pub fn open_read_trusted(dir: &Path, trusted: Option<&NoteVerifier>) -> Result<Log, CliError> {
    Log::open_read_only(log_dir(dir), open_options(trusted)).map_err(|e| open_error(dir, e))
}

/// Opens `dir` for appending. Recovery's repairs (a torn final write cut off) are reported
/// on stderr: they are legitimate after a crash, but an operator should know.
pub fn open_write(dir: &Path) -> Result<Log, CliError> {
    let result = match Log::open(log_dir(dir), open_options(None)) {
        Err(LogError::InvalidOptions(_)) => {
            // Small segments: the default payload limit does not fit; size it from the manifest.
            let segment_size_bytes = open_read(dir)?.manifest().segment_size_bytes;
            let options = LogOptions {
                payload_size_bytes_max: payload_limit_for(segment_size_bytes),
                ..open_options(None)
            };
            Log::open(log_dir(dir), options)
        }
        other => other,
    };
    let (log, report) = result.map_err(|e| open_error(dir, e))?;
    if let Some(torn) = &report.torn_tail {
        eprintln!(
            "coffre: warning: recovery cut a torn final write in {} at offset {} ({} bytes, {}): \
             it was never acknowledged",
            torn.file.display(),
            torn.offset,
            torn.bytes_cut,
            torn.detail
        );
    }
    Ok(log)
}

fn open_error(dir: &Path, e: LogError) -> CliError {
    match e {
        LogError::NotFound { .. } => CliError::usage(
            format!("vault {}", dir.display()),
            "no vault here (no coffre.manifest); create one with `coffre init`",
        ),
        LogError::TamperDetected { ref file, ref detail, .. }
            if file.ends_with(CHECKPOINTS_FILE) && detail.starts_with("the log holds") =>
        {
            // The library names the checkpoint file, whose signed size the segments no longer
            // reach; but the damage is at the segments' end (a read-only open takes damage in
            // the last commit group for a torn write). Point the auditor there too.
            let segment = last_segment(&log_dir(dir))
                .map_or_else(String::new, |p| format!(" (last segment file {})", p.display()));
            CliError::failed(
                format!("vault {}", dir.display()),
                format!("{e}: records at the end of the segments{segment} are damaged or missing"),
            )
        }
        e => CliError::from_log(format!("vault {}", dir.display()), e),
    }
}

/// The segment file holding the newest records (names sort by first index), if any.
fn last_segment(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("seg-") && n.ends_with(".log"))
        })
        .max()
}

/// The largest tree size whose root `log` can compute, and that root. A writer syncs its
/// tree file only every many thousand leaves (the tree is rebuilt from the records after a
/// crash), so a read-only handle opened while a service appends sees durable records whose
/// leaves are not on disk yet: its roots and proofs stop at the leaves it has.
pub fn latest_root(log: &Log) -> Result<(u64, Hash), LogError> {
    let len = log.len();
    match log.root(len) {
        Ok(root) => Ok((len, root)),
        Err(LogError::Tree(TreeStoreError::SizeTooLarge { len: leaves, .. })) if leaves < len => {
            Ok((leaves, log.root(leaves)?))
        }
        Err(e) => Err(e),
    }
}

/// Segment files in `dir` (`seg-<first index>.log`), counted by name.
pub fn segment_count(dir: &Path) -> Result<u64, CliError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| CliError::usage(format!("vault {}", dir.display()), e))?;
    let mut count = 0u64;
    for entry in entries {
        let entry = entry.map_err(|e| CliError::usage(format!("vault {}", dir.display()), e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("seg-") && name.ends_with(".log") {
            count += 1;
        }
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_limit_fits_small_segments_and_caps_at_the_default() {
        assert_eq!(payload_limit_for(4096), 3936);
        assert_eq!(payload_limit_for(1 << 30), DEFAULT_PAYLOAD_SIZE_BYTES_MAX);
        let log_dir = tempfile::tempdir().unwrap();
        let options = LogOptions {
            segment_size_bytes: 4096,
            payload_size_bytes_max: payload_limit_for(4096),
            ..LogOptions::default()
        };
        Log::create(log_dir.path(), options).unwrap();
    }
}
