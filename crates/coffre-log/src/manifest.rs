//! The manifest: the log's fixed parameters, written once at creation (docs/FORMAT.md).

use crate::error::LogError;
use crate::hash::HashAlgorithm;
use crate::options::validate_origin;
use coffre_clock::{Timestamp, TIMESTAMP_LEN};
use std::path::Path;

/// File name of the manifest inside the log directory.
pub const MANIFEST_FILE: &str = "coffre.manifest";
/// First 8 bytes of a manifest.
pub(crate) const MANIFEST_MAGIC: [u8; 8] = *b"COFFRELG";
/// Format version written by this code.
pub const FORMAT_VERSION: u32 = 1;
/// Bytes before the origin string.
const FIXED_LEN: usize = 53;
/// Longest possible manifest: fixed part, 255 origin bytes, crc.
pub(crate) const MANIFEST_LEN_MAX: usize = FIXED_LEN + 255 + 4;

/// The log's fixed parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// Format version of the files.
    pub format_version: u32,
    /// Merkle tree hash.
    pub hash_algorithm: HashAlgorithm,
    /// Size at which segments are sealed.
    pub segment_size_bytes: u64,
    /// How long records must be kept.
    pub retention_seconds: u64,
    /// When the log was created.
    pub created_at: Timestamp,
    /// Origin line of the log's checkpoints.
    pub origin: String,
}

impl Manifest {
    /// The manifest's bytes (docs/FORMAT.md, "Manifest").
    pub(crate) fn encode(&self) -> Vec<u8> {
        let origin = self.origin.as_bytes();
        let mut out = Vec::with_capacity(FIXED_LEN + origin.len() + 4);
        out.extend_from_slice(&MANIFEST_MAGIC);
        out.extend_from_slice(&self.format_version.to_le_bytes());
        out.extend_from_slice(&[self.hash_algorithm.code(), 0, 0, 0]);
        out.extend_from_slice(&self.segment_size_bytes.to_le_bytes());
        out.extend_from_slice(&self.retention_seconds.to_le_bytes());
        out.extend_from_slice(&self.created_at.to_bytes());
        // validate_origin bounds the length to 255 before a manifest is built.
        out.push(u8::try_from(origin.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(origin);
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Parses and checks manifest bytes read from `path`.
    pub(crate) fn decode(bytes: &[u8], path: &Path) -> Result<Manifest, LogError> {
        let bad = |offset: usize, detail: &str| LogError::corruption(path, offset as u64, detail);
        let fixed = bytes.get(..FIXED_LEN).ok_or_else(|| bad(0, "manifest too short"))?;
        if fixed[0..8] != MANIFEST_MAGIC {
            return Err(bad(0, "bad manifest magic"));
        }
        let origin_len = usize::from(fixed[52]);
        let end = FIXED_LEN + origin_len;
        let crc_bytes = bytes.get(end..end + 4).ok_or_else(|| bad(end, "manifest truncated"))?;
        if bytes.len() != end + 4 {
            return Err(bad(end + 4, "trailing bytes after the manifest"));
        }
        if crc32fast::hash(&bytes[..end]).to_le_bytes() != crc_bytes {
            return Err(bad(end, "manifest checksum mismatch"));
        }
        let format_version = le_u32(&fixed[8..12]);
        if format_version != FORMAT_VERSION {
            return Err(LogError::UnsupportedVersion {
                path: path.to_path_buf(),
                version: format_version,
            });
        }
        let hash_algorithm =
            HashAlgorithm::from_code(fixed[12]).ok_or_else(|| bad(12, "unknown hash algorithm"))?;
        let created_at = Timestamp::from_bytes(&fixed[32..32 + TIMESTAMP_LEN])
            .map_err(|e| bad(32, &format!("bad creation timestamp: {e}")))?;
        let origin = std::str::from_utf8(&bytes[FIXED_LEN..end])
            .map_err(|_| bad(FIXED_LEN, "origin is not UTF-8"))?
            .to_string();
        validate_origin(&origin).map_err(|e| bad(FIXED_LEN, &e))?;
        Ok(Manifest {
            format_version,
            hash_algorithm,
            segment_size_bytes: le_u64(&fixed[16..24]),
            retention_seconds: le_u64(&fixed[24..32]),
            created_at,
            origin,
        })
    }
}

/// Little-endian u32 from exactly 4 bytes (callers slice with constant bounds).
pub(crate) fn le_u32(bytes: &[u8]) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(bytes);
    u32::from_le_bytes(b)
}

/// Little-endian u64 from exactly 8 bytes (callers slice with constant bounds).
pub(crate) fn le_u64(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(bytes);
    u64::from_le_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffre_clock::{Source, SourceSet, TimeStatus};

    fn sample() -> Manifest {
        Manifest {
            format_version: FORMAT_VERSION,
            hash_algorithm: HashAlgorithm::Sha256,
            segment_size_bytes: 1 << 20,
            retention_seconds: 42,
            created_at: Timestamp::new(
                1,
                2,
                SourceSet::only(Source::System),
                SourceSet::EMPTY,
                TimeStatus::Synchronized,
            )
            .unwrap(),
            origin: "example.org/log".into(),
        }
    }

    #[test]
    fn manifest_round_trips_and_every_flipped_byte_is_caught() {
        let m = sample();
        let bytes = m.encode();
        assert_eq!(Manifest::decode(&bytes, Path::new("m")).unwrap(), m);
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x40;
            assert!(Manifest::decode(&bad, Path::new("m")).is_err(), "byte {i}");
        }
        for cut in 0..bytes.len() {
            assert!(Manifest::decode(&bytes[..cut], Path::new("m")).is_err());
        }
    }
}
