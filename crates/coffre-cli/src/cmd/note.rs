//! `coffre note sign` and `coffre note verify`: any C2SP signed note.

use crate::cli::{NoteCommand, NoteSignArgs, NoteVerifyArgs};
use crate::error::CliError;
use crate::keys::{load_signer, load_verifier};
use crate::output;
use coffre_log::note::{open_note, sign_note, NOTE_SIZE_BYTES_MAX};
use serde_json::json;
use std::io::Read as _;
use std::path::Path;

/// Runs a note subcommand.
pub fn run(command: &NoteCommand, json: bool) -> Result<(), CliError> {
    match command {
        NoteCommand::Sign(args) => sign(args, json),
        NoteCommand::Verify(args) => verify(args, json),
    }
}

fn read_note_file(path: &Path) -> Result<Vec<u8>, CliError> {
    let at = format!("note {}", path.display());
    let file = std::fs::File::open(path).map_err(|e| CliError::usage(&at, e))?;
    let mut bytes = Vec::new();
    file.take(NOTE_SIZE_BYTES_MAX as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| CliError::usage(&at, e))?;
    if bytes.len() > NOTE_SIZE_BYTES_MAX {
        return Err(CliError::usage(&at, format!("larger than {NOTE_SIZE_BYTES_MAX} bytes")));
    }
    Ok(bytes)
}

fn sign(args: &NoteSignArgs, json: bool) -> Result<(), CliError> {
    let signer = load_signer(&args.key)?;
    let at = format!("note {}", args.file.display());
    let text = String::from_utf8(read_note_file(&args.file)?)
        .map_err(|_| CliError::usage(&at, "not valid UTF-8"))?;
    let note = sign_note(&text, &[&signer]).map_err(|e| CliError::usage(&at, e))?;
    if json {
        output::json_pretty(&json!({
            "vkey": signer.verifier().to_verifier_key(),
            "note": note,
        }))
    } else {
        output::bytes(note.as_bytes())
    }
}

fn verify(args: &NoteVerifyArgs, json: bool) -> Result<(), CliError> {
    let verifier = load_verifier(&args.vkey)?;
    let bytes = read_note_file(&args.file)?;
    let at = format!("note {}", args.file.display());
    // Any refusal, malformed note or bad signature alike, is a failed verification.
    let note = open_note(&bytes, &[&verifier]).map_err(|e| CliError::failed(&at, e))?;
    if json {
        let signatures: Vec<_> = note
            .signatures
            .iter()
            .map(|s| json!({"name": s.name, "key_id": format!("{:08x}", s.key_id)}))
            .collect();
        output::json_pretty(&json!({"ok": true, "text": note.text, "signatures": signatures}))
    } else {
        output::bytes(note.text.as_bytes())
    }
}
