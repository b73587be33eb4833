//! `coffre checkpoint` and the checkpoint `append --key` signs after appending.

use crate::cli::CheckpointArgs;
use crate::error::CliError;
use coffre_log::note::NoteSigner;
use coffre_log::Log;
use std::path::Path;

/// Signs and stores a checkpoint, prints the note.
pub fn run(_args: &CheckpointArgs, _json: bool) -> Result<(), CliError> {
    Err(super::not_yet("checkpoint", "Log::checkpoint_with (engineer E)"))
}

/// Signs and stores a checkpoint after an append; reports it on stderr (stdout holds the
/// receipts).
pub fn checkpoint_after_append(
    _log: &Log,
    _signer: &NoteSigner,
    _dir: &Path,
) -> Result<(), CliError> {
    Err(super::not_yet("append --key", "Log::checkpoint_with (engineer E)"))
}
