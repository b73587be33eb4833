//! `coffre read`: one record's payload (raw) or metadata (`--json`).

use crate::cli::ReadArgs;
use crate::error::CliError;
use crate::output;
use crate::vault::open_read;
use base64::Engine as _;
use coffre_log::system::SystemRecord;
use serde_json::json;

/// Prints record `args.index`.
pub fn run(args: &ReadArgs, json: bool) -> Result<(), CliError> {
    let log = open_read(&args.dir)?;
    let record = log
        .read(args.index)
        .map_err(|e| CliError::from_log(format!("record {}", args.index), e))?;
    if !json {
        return output::bytes(&record.payload);
    }
    // A log-internal record (retention, hold, purge) is shown decoded as well.
    let system = record
        .is_system()
        .then(|| SystemRecord::decode(&record.payload).map(|s| format!("{s:?}")))
        .map(|r| r.unwrap_or_else(|e| format!("undecodable system record: {e}")));
    output::json_pretty(&json!({
        "index": record.index,
        "timestamp": output::timestamp_json(&record.timestamp),
        "leaf_hash": record.leaf_hash(log.hash_algorithm()).to_base64(),
        "size_bytes": record.payload.len(),
        "payload": base64::engine::general_purpose::STANDARD.encode(&record.payload),
        "system": system,
    }))
}
