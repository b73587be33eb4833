//! Key files and key arguments: `--key` is a `PRIVATE+KEY+...` file, `--vkey` is a verifier
//! key given as text or as the path of a file holding it.

use crate::error::CliError;
use coffre_log::note::{NoteSigner, NoteVerifier};
use std::io::Read as _;
use std::path::{Path, PathBuf};

/// Longest key file read; real keys are under 200 bytes.
const KEY_FILE_BYTES_MAX: u64 = 4096;

/// Reads a small text file, bounded, naming the file in any error.
pub fn read_small_text(path: &Path, what: &str) -> Result<String, CliError> {
    let file = std::fs::File::open(path)
        .map_err(|e| CliError::usage(format!("{what} {}", path.display()), e))?;
    let mut text = String::new();
    file.take(KEY_FILE_BYTES_MAX + 1)
        .read_to_string(&mut text)
        .map_err(|e| CliError::usage(format!("{what} {}", path.display()), e))?;
    if text.len() as u64 > KEY_FILE_BYTES_MAX {
        return Err(CliError::usage(
            format!("{what} {}", path.display()),
            format!("larger than {KEY_FILE_BYTES_MAX} bytes: not a key file"),
        ));
    }
    Ok(text)
}

/// Loads the signing key of a `--key` file.
pub fn load_signer(path: &Path) -> Result<NoteSigner, CliError> {
    let text = read_small_text(path, "key file")?;
    NoteSigner::from_private_key(text.trim()).map_err(|e| {
        CliError::usage(
            format!("key file {}", path.display()),
            format!("{e} (expected a PRIVATE+KEY+... line, as written by `coffre keygen`)"),
        )
    })
}

/// Loads a `--vkey`: the verifier key text itself, or a file holding it.
pub fn load_verifier(arg: &str) -> Result<NoteVerifier, CliError> {
    if let Ok(verifier) = NoteVerifier::from_verifier_key(arg.trim()) {
        return Ok(verifier);
    }
    let path = Path::new(arg);
    if !path.exists() {
        return Err(CliError::usage(
            "--vkey",
            format!("{arg:?} is neither a verifier key (NAME+ID+KEY) nor an existing file"),
        ));
    }
    let text = read_small_text(path, "verifier key file")?;
    NoteVerifier::from_verifier_key(text.trim())
        .map_err(|e| CliError::usage(format!("verifier key file {}", path.display()), e))
}

/// `path` made absolute with symlinks resolved as far as it exists, so a key path can be
/// compared with a vault directory that may not exist yet.
pub fn resolved(path: &Path) -> PathBuf {
    if let Ok(p) = path.canonicalize() {
        return p;
    }
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) if !parent.as_os_str().is_empty() => resolved(parent).join(name),
        _ => std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
    }
}

/// Refuses to write a private key into a vault: `path`'s directory, or one above it, holds a
/// log (`coffre.manifest`) or an attendance vault (`vault.meta`).
pub fn refuse_key_in_any_vault(path: &Path) -> Result<(), CliError> {
    let resolved = resolved(path);
    // Bounded: one step per path component.
    for dir in resolved.ancestors().skip(1) {
        let is_vault = dir.join(coffre_log::MANIFEST_FILE).exists()
            || dir.join(coffre_attendance::vault::meta::META_FILE).exists();
        if is_vault {
            return Err(CliError::usage(
                format!("--out {}", path.display()),
                format!(
                    "{} is (inside) a vault directory; keep private keys outside the vault",
                    dir.display()
                ),
            ));
        }
    }
    Ok(())
}

/// Refuses a private key stored inside the vault directory: whoever gets a copy of the vault
/// (a backup, an auditor) must not get the power to sign its checkpoints.
pub fn refuse_key_inside(dir: &Path, key: &Path) -> Result<(), CliError> {
    let (dir_abs, key_abs) = (resolved(dir), resolved(key));
    if key_abs.starts_with(&dir_abs) {
        return Err(CliError::usage(
            format!("--key {}", key.display()),
            format!(
                "private key is inside the vault directory {}; keep it outside the vault",
                dir.display()
            ),
        ));
    }
    Ok(())
}
