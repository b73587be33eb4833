//! The vault's own file (`vault.meta`) and the QR master key derivation.
//!
//! The QR master key is derived from a secret the caller passes in
//! [`super::VaultOptions::qr_secret`] and is never written anywhere. The vault directory
//! keeps only a *key check*: a one-way derivation of the master key, so that reopening a
//! vault with another secret (which would make every QR code already shown unverifiable)
//! is refused instead of silently accepted. The key check reveals nothing usable about the
//! key (BLAKE3 in key-derivation mode, 256-bit output of a 256-bit key).
//!
//! Layout (64 bytes, little-endian):
//!
//! ```text
//! 0   8  magic "CfVault1"
//! 8   4  u32 format version (1)
//! 12  32 QR key check: BLAKE3-derive_key(KEY_CHECK_CONTEXT, master key)
//! 44  4  reserved, zero
//! 48  16 BLAKE3 of bytes 0..48, first 16 bytes (detects a damaged file)
//! ```

use super::VaultError;
use crate::qr::MasterKey;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;

/// Name of the vault's file inside its directory.
pub const META_FILE: &str = "vault.meta";
/// Magic of `vault.meta`.
const MAGIC: &[u8; 8] = b"CfVault1";
/// Format version of `vault.meta`.
const META_VERSION: u32 = 1;
const META_LEN: usize = 64;
/// Fewest bytes of QR secret accepted.
pub const QR_SECRET_BYTES_MIN: usize = 16;

const MASTER_CONTEXT: &str = "coffre-attendance 2025-09 vault QR master key v1";
const KEY_CHECK_CONTEXT: &str = "coffre-attendance 2025-09 vault QR key check v1";

/// The QR master key and its key check, from the caller's secret.
pub(crate) fn derive_master(secret: &[u8]) -> Result<(MasterKey, [u8; 32]), VaultError> {
    if secret.len() < QR_SECRET_BYTES_MIN {
        return Err(VaultError::QrSecretTooShort {
            size_bytes: secret.len(),
            size_bytes_min: QR_SECRET_BYTES_MIN,
        });
    }
    let master = blake3::derive_key(MASTER_CONTEXT, secret);
    let check = blake3::derive_key(KEY_CHECK_CONTEXT, &master);
    Ok((MasterKey::new(master), check))
}

fn encode(key_check: &[u8; 32]) -> [u8; META_LEN] {
    let mut out = [0u8; META_LEN];
    out[0..8].copy_from_slice(MAGIC);
    out[8..12].copy_from_slice(&META_VERSION.to_le_bytes());
    out[12..44].copy_from_slice(key_check);
    let digest = blake3::hash(&out[0..48]);
    out[48..64].copy_from_slice(&digest.as_bytes()[..16]);
    out
}

/// Writes `vault.meta` durably (temporary file, fsync, rename, directory fsync).
pub(crate) fn write(dir: &Path, key_check: &[u8; 32]) -> Result<(), VaultError> {
    let path = dir.join(META_FILE);
    let tmp = dir.join("vault.meta.tmp");
    let io = |e| VaultError::Io { path: path.clone(), source: e };
    let mut file = OpenOptions::new().write(true).create_new(true).open(&tmp).map_err(io)?;
    file.write_all(&encode(key_check)).map_err(io)?;
    file.sync_all().map_err(io)?;
    drop(file);
    fs::rename(&tmp, &path).map_err(io)?;
    // DIRECTORY FSYNC: without it the renamed file may vanish on power failure.
    File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    Ok(())
}

/// Reads `vault.meta` and returns its QR key check.
pub(crate) fn read(dir: &Path) -> Result<[u8; 32], VaultError> {
    let path = dir.join(META_FILE);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(VaultError::NotFound { path })
        }
        Err(e) => return Err(VaultError::Io { path, source: e }),
    };
    let bad = |detail: &'static str| VaultError::BadMeta { path: path.clone(), detail };
    let bytes: &[u8; META_LEN] = bytes.as_slice().try_into().map_err(|_| bad("wrong length"))?;
    if &bytes[0..8] != MAGIC {
        return Err(bad("not a vault file (magic)"));
    }
    if blake3::hash(&bytes[0..48]).as_bytes()[..16] != bytes[48..64] {
        return Err(bad("checksum mismatch"));
    }
    let mut version = [0u8; 4];
    version.copy_from_slice(&bytes[8..12]);
    if u32::from_le_bytes(version) != META_VERSION {
        return Err(bad("unsupported version"));
    }
    if bytes[44..48] != [0; 4] {
        return Err(bad("reserved bytes not zero"));
    }
    let mut check = [0u8; 32];
    check.copy_from_slice(&bytes[12..44]);
    Ok(check)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_round_trips_and_detects_a_flipped_byte() {
        let dir = tempfile::tempdir().unwrap();
        let (_, check) = derive_master(&[7; 32]).unwrap();
        write(dir.path(), &check).unwrap();
        assert_eq!(read(dir.path()).unwrap(), check);
        let path = dir.path().join(META_FILE);
        let mut bytes = fs::read(&path).unwrap();
        bytes[20] ^= 1;
        fs::write(&path, &bytes).unwrap();
        assert!(matches!(read(dir.path()), Err(VaultError::BadMeta { .. })));
    }

    #[test]
    fn short_secrets_are_refused_and_secrets_give_distinct_checks() {
        assert!(matches!(derive_master(&[1; 15]), Err(VaultError::QrSecretTooShort { .. })));
        let (_, a) = derive_master(&[1; 16]).unwrap();
        let (_, b) = derive_master(&[2; 16]).unwrap();
        assert_ne!(a, b);
    }
}
