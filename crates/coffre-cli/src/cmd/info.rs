//! `coffre info`: what a vault holds and how it is configured.

use crate::duration::format_seconds;
use crate::error::CliError;
use crate::output;
use crate::vault::{open_read, segment_count};
use serde_json::{json, Value};
use std::path::Path;

/// Prints the vault's size, root, parameters, latest checkpoint and holds.
pub fn run(dir: &Path, json: bool) -> Result<(), CliError> {
    let log = open_read(dir)?;
    let at = format!("vault {}", dir.display());
    let size = log.len();
    let root = log.root(size).map_err(|e| CliError::from_log(&at, e))?;
    let manifest = log.manifest();
    let segments = segment_count(dir)?;
    let vkey: Option<String> = None;
    let checkpoint: Value = Value::Null;
    let holds: Vec<Value> = Vec::new();
    if json {
        return output::json_pretty(&json!({
            "dir": dir.display().to_string(),
            "origin": manifest.origin,
            "size": size,
            "root": root.to_base64(),
            "hash": manifest.hash_algorithm.name(),
            "retention": format_seconds(manifest.retention_seconds),
            "retention_seconds": manifest.retention_seconds,
            "segments": segments,
            "segment_size_bytes": manifest.segment_size_bytes,
            "format_version": manifest.format_version,
            "created_at": output::timestamp_json(&manifest.created_at),
            "vkey": vkey,
            "checkpoint": checkpoint,
            "holds": holds,
        }));
    }
    let mut text = format!(
        "vault       {}\norigin      {}\nsize        {size} records\nroot        {}\n\
         hash        {}\nretention   {}\nsegments    {segments} ({} bytes each)\ncreated     {}\n",
        dir.display(),
        manifest.origin,
        root.to_base64(),
        manifest.hash_algorithm.name(),
        format_seconds(manifest.retention_seconds),
        manifest.segment_size_bytes,
        output::timestamp_text(&manifest.created_at),
    );
    text.push_str(&format!("vkey        {}\n", vkey.as_deref().unwrap_or("(no checkpoint yet)")));
    text.push_str("checkpoint  (none)\nholds       (none)");
    output::line(&text)
}
