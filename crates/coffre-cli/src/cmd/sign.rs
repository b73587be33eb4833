//! `coffre checkpoint` and the checkpoint `append --key` signs after appending.

use crate::cli::CheckpointArgs;
use crate::error::CliError;
use crate::keys::{load_signer, refuse_key_inside};
use crate::output;
use crate::vault::open_write;
use coffre_log::note::NoteSigner;
use coffre_log::{Log, LogError, StoredCheckpoint};
use serde_json::{json, Value};
use std::path::Path;

/// Signs and stores a checkpoint, prints the note.
pub fn run(args: &CheckpointArgs, json: bool) -> Result<(), CliError> {
    refuse_key_inside(&args.dir, &args.key)?;
    let signer = load_signer(&args.key)?;
    let log = open_write(&args.dir)?;
    let stored = sign(&log, &signer, &args.dir)?;
    if json {
        output::json_pretty(&checkpoint_json(&stored))
    } else {
        output::bytes(stored.note.as_bytes())
    }
}

/// Signs and stores a checkpoint of `log` with `signer`.
pub fn sign(log: &Log, signer: &NoteSigner, dir: &Path) -> Result<StoredCheckpoint, CliError> {
    log.checkpoint_with(signer).map_err(|e| match e {
        LogError::CheckpointKeyMismatch { recorded, given } => key_mismatch(recorded, given),
        e => CliError::from_log(format!("vault {}", dir.display()), e),
    })
}

/// Refuses `signer` unless it is the key the vault recorded (or the vault has none yet). Run
/// before a write whose checkpoint it will sign, so a wrong key changes nothing.
pub fn check_signer(log: &Log, signer: &NoteSigner) -> Result<(), CliError> {
    match log.verifier_key() {
        Some(recorded) if recorded != signer.verifier() => {
            Err(key_mismatch(recorded.to_verifier_key(), signer.verifier().to_verifier_key()))
        }
        _ => Ok(()),
    }
}

fn key_mismatch(recorded: impl std::fmt::Display, given: impl std::fmt::Display) -> CliError {
    CliError::usage(
        "--key",
        format!("this vault's checkpoints are signed by {recorded}, not {given}"),
    )
}

/// Signs and stores a checkpoint after an append; reports it on stderr (stdout holds the
/// receipts).
pub fn checkpoint_after_append(log: &Log, signer: &NoteSigner, dir: &Path) -> Result<(), CliError> {
    let stored = sign(log, signer, dir)?;
    eprintln!(
        "coffre: checkpoint signed: size {} root {}",
        stored.checkpoint.size,
        stored.checkpoint.root.to_base64()
    );
    Ok(())
}

/// A stored checkpoint for JSON: its fields and the signed note.
pub fn checkpoint_json(stored: &StoredCheckpoint) -> Value {
    let c = &stored.checkpoint;
    json!({
        "origin": c.origin,
        "size": c.size,
        "root": c.root.to_base64(),
        "timestamp": c.timestamp.as_ref().map(output::timestamp_json),
        "note": stored.note,
    })
}
