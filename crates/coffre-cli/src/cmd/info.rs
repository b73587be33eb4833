//! `coffre info`: what a vault holds and how it is configured.

use crate::duration::format_seconds;
use crate::error::CliError;
use crate::output;
use crate::vault::{latest_root, open_read, segment_count};
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::path::Path;

/// Prints the vault's size, root, parameters, latest checkpoint and holds.
pub fn run(dir: &Path, json: bool) -> Result<(), CliError> {
    let log = open_read(dir)?;
    let at = format!("vault {}", dir.display());
    let size = log.len();
    // Below `size` only while a writer appends (its tree lags its records on disk).
    let (root_size, root) = latest_root(&log).map_err(|e| CliError::from_log(&at, e))?;
    let manifest = log.manifest();
    let segments = segment_count(log.dir())?;
    let vkey = log.verifier_key().map(|v| v.to_verifier_key());
    let latest = log.latest_checkpoint().map_err(|e| CliError::from_log(&at, e))?;
    let retention = log.retention();
    let retention_seconds = retention.current.as_secs();
    let holds = log.holds();
    if json {
        let holds: Vec<Value> = holds
            .iter()
            .map(|h| {
                json!({"id": h.id.0, "from": h.range.start, "to": h.range.end,
                            "reason": h.reason})
            })
            .collect();
        return output::json_pretty(&json!({
            "dir": dir.display().to_string(),
            "origin": manifest.origin,
            "size": size,
            "root": root.to_base64(),
            "root_size": root_size,
            "hash": manifest.hash_algorithm.name(),
            "retention": format_seconds(retention_seconds),
            "retention_seconds": retention_seconds,
            "purged_until": retention.purged_until,
            "segments": segments,
            "segment_size_bytes": manifest.segment_size_bytes,
            "format_version": manifest.format_version,
            "created_at": output::timestamp_json(&manifest.created_at),
            "vkey": vkey,
            "checkpoint": latest.as_ref().map(super::sign::checkpoint_json),
            "holds": holds,
        }));
    }
    let mut text = String::new();
    let _ = writeln!(text, "vault       {}", dir.display());
    let _ = writeln!(text, "origin      {}", manifest.origin);
    let _ = writeln!(text, "size        {size} records");
    let _ = writeln!(text, "root        {}", root.to_base64());
    if root_size < size {
        let _ = writeln!(
            text,
            "            (root of the first {root_size} records: a writer is appending and has \
             not synced the rest of its tree yet)"
        );
    }
    let _ = writeln!(text, "hash        {}", manifest.hash_algorithm.name());
    let _ = writeln!(text, "retention   {}", format_seconds(retention_seconds));
    if retention.purged_until > 0 {
        let _ = writeln!(text, "purged      records before {}", retention.purged_until);
    }
    let _ = writeln!(text, "segments    {segments} ({} bytes each)", manifest.segment_size_bytes);
    let _ = writeln!(text, "created     {}", output::timestamp_text(&manifest.created_at));
    let _ = writeln!(text, "vkey        {}", vkey.as_deref().unwrap_or("(no checkpoint yet)"));
    match &latest {
        Some(s) => {
            let c = &s.checkpoint;
            let time = c.timestamp.as_ref().map(output::timestamp_text).unwrap_or_default();
            let behind = size.saturating_sub(c.size);
            let _ = writeln!(
                text,
                "checkpoint  size {} root {} {time}{}",
                c.size,
                c.root.to_base64(),
                match behind {
                    0 => String::new(),
                    1 => " (1 record since)".to_string(),
                    n => format!(" ({n} records since)"),
                }
            );
        }
        None => text.push_str("checkpoint  (none)\n"),
    }
    if holds.is_empty() {
        text.push_str("holds       (none)");
    } else {
        for h in &holds {
            let _ = writeln!(
                text,
                "hold {:<6} records {}..{}: {}",
                h.id.0, h.range.start, h.range.end, h.reason
            );
        }
        text.pop();
    }
    output::line(&text)
}
