//! `coffre init`: creates an empty vault.

use crate::cli::{HashName, InitArgs};
use crate::duration::format_seconds;
use crate::error::CliError;
use crate::keys::{load_signer, refuse_key_inside};
use crate::output;
use crate::vault::payload_limit_for;
use coffre_log::{HashAlgorithm, Log, LogError, LogOptions};
use serde_json::json;

/// Creates the vault and prints its parameters.
pub fn run(args: &InitArgs, json: bool) -> Result<(), CliError> {
    if args.dir.exists() && !args.dir.is_dir() {
        return Err(CliError::usage(
            format!("vault {}", args.dir.display()),
            "exists and is not a directory",
        ));
    }
    refuse_key_inside(&args.dir, &args.key)?;
    let signer = load_signer(&args.key)?;
    let origin = args.origin.clone().unwrap_or_else(|| signer.name().to_string());
    let hash_algorithm = match args.hash {
        HashName::Blake3 => HashAlgorithm::Blake3,
        HashName::Sha256 => HashAlgorithm::Sha256,
    };
    let mut options = LogOptions {
        hash_algorithm: Some(hash_algorithm),
        origin: origin.clone(),
        retention_seconds: args.retention,
        ..LogOptions::default()
    };
    if let Some(segment_size_bytes) = args.segment_size {
        if payload_limit_for(segment_size_bytes) == 0 {
            return Err(CliError::usage(
                "--segment-size",
                format!("{segment_size_bytes} bytes cannot hold a single non-empty record"),
            ));
        }
        options.segment_size_bytes = segment_size_bytes;
        options.payload_size_bytes_max = payload_limit_for(segment_size_bytes);
    }
    let at = format!("vault {}", args.dir.display());
    let log = Log::create(&args.dir, options).map_err(|e| match e {
        LogError::InvalidOptions(detail) => CliError::usage(option_at_fault(&detail), detail),
        e => CliError::from_log(&at, e),
    })?;
    // The empty tree's checkpoint records the vault's key: from now on a checkpoint by any
    // other key, or a vault re-keyed behind the auditor's back, is detected.
    let first = super::sign::sign(&log, &signer, &args.dir)?;
    let vkey = signer.verifier().to_verifier_key();
    let root = first.checkpoint.root;
    if json {
        output::json_pretty(&json!({
            "dir": args.dir.display().to_string(),
            "origin": origin,
            "hash": hash_algorithm.name(),
            "retention": format_seconds(args.retention),
            "retention_seconds": args.retention,
            "size": 0,
            "root": root.to_base64(),
            "vkey": vkey,
        }))
    } else {
        output::line(&format!(
            "created vault {} (origin {origin}, {}, retention {})\nverifier key: {vkey}",
            args.dir.display(),
            hash_algorithm.name(),
            format_seconds(args.retention)
        ))
    }
}

/// The flag a log-options refusal is about, from the library's message (it names the field).
fn option_at_fault(detail: &str) -> &'static str {
    if detail.starts_with("origin") {
        "--origin"
    } else if detail.starts_with("segment size") {
        "--segment-size"
    } else if detail.starts_with("retention") {
        "--retention"
    } else {
        "options"
    }
}
