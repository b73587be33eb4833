//! `coffre keygen`: a fresh signed-note key pair; the private key goes to a 0600 file.

use crate::cli::KeygenArgs;
use crate::error::CliError;
use crate::keys::refuse_key_in_any_vault;
use crate::output;
use coffre_log::note::NoteSigner;
use serde_json::json;
use std::fs::OpenOptions;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;

/// Writes the private key (never over an existing file) and prints the verifier key.
pub fn run(args: &KeygenArgs, json: bool) -> Result<(), CliError> {
    refuse_key_in_any_vault(&args.out)?;
    let signer = NoteSigner::generate(&args.name).map_err(|e| CliError::usage("NAME", e))?;
    let at = format!("--out {}", args.out.display());
    // create_new: a key file is never overwritten (that would orphan every checkpoint the
    // old key signed); mode 0600 from the start, so the key is never readable by others.
    let mut file =
        OpenOptions::new().write(true).create_new(true).mode(0o600).open(&args.out).map_err(
            |e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => {
                    CliError::usage(&at, "file exists; refusing to overwrite a key")
                }
                _ => CliError::usage(&at, e),
            },
        )?;
    writeln!(file, "{}", signer.to_private_key())
        .and_then(|()| file.sync_all())
        .map_err(|e| CliError::usage(&at, e))?;
    let vkey = signer.verifier().to_verifier_key();
    if json {
        output::json_pretty(&json!({
            "name": signer.name(),
            "key_id": format!("{:08x}", signer.key_id()),
            "vkey": vkey,
            "key_file": args.out.display().to_string(),
        }))
    } else {
        eprintln!("private key written to {} (mode 0600); verifier key:", args.out.display());
        output::line(&vkey)
    }
}
