//! The retention state file (`retention.state`): a checksummed copy of every system record
//! (index, timestamp, payload), so opening never scans the log for them. Each copy is checked
//! against the Merkle tree's leaf hash at its index at open (docs/RETENTION.md, "State file").

use crate::backend::{read_bounded, OpenMode, StorageBackend};
use crate::error::LogError;
use crate::manifest::{le_u32, le_u64};
use crate::segment::sync_dir;
use coffre_clock::{Timestamp, TIMESTAMP_LEN};
use std::path::{Path, PathBuf};

/// File name of the retention state inside the log directory.
pub const RETENTION_STATE_FILE: &str = "retention.state";
const TMP_FILE: &str = "retention.state.tmp";
const MAGIC: [u8; 8] = *b"COFFRET1";
/// Bound on the state file read at open (untrusted bytes).
const STATE_LEN_MAX: u64 = 64 << 20;

/// A system record as the state file keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SystemEntry {
    pub index: u64,
    pub timestamp: Timestamp,
    pub payload: Vec<u8>,
}

/// What the state file holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct StateFile {
    /// Log length when the file was written: every system record before it is in `entries`.
    pub known_len: u64,
    /// A system record being appended: it may or may not have reached the log.
    pub pending: Option<Vec<u8>>,
    /// Every system record, in index order.
    pub entries: Vec<SystemEntry>,
}

pub(crate) fn state_path(dir: &Path) -> PathBuf {
    dir.join(RETENTION_STATE_FILE)
}

impl StateFile {
    fn encode(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&self.known_len.to_le_bytes());
        match &self.pending {
            None => out.push(0),
            Some(p) => {
                out.push(1);
                put_bytes(&mut out, p);
            }
        }
        out.extend_from_slice(&(self.entries.len() as u64).to_le_bytes());
        for e in &self.entries {
            out.extend_from_slice(&e.index.to_le_bytes());
            out.extend_from_slice(&e.timestamp.to_bytes());
            put_bytes(&mut out, &e.payload);
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    fn decode(bytes: &[u8], path: &Path) -> Result<StateFile, LogError> {
        let bad = |at: usize, detail: &str| LogError::corruption(path, at as u64, detail);
        let body_len = bytes.len().checked_sub(4).ok_or_else(|| bad(0, "state file too short"))?;
        let (body, crc) = bytes.split_at(body_len);
        if crc32fast::hash(body) != le_u32(crc) {
            return Err(bad(body_len, "retention state checksum mismatch"));
        }
        let mut r = Cursor { bytes: body, at: 0 };
        if r.take(8).map_err(|d| bad(0, d))? != MAGIC {
            return Err(bad(0, "bad retention state magic"));
        }
        let mut state =
            StateFile { known_len: r.u64().map_err(|d| bad(r.at, d))?, ..Default::default() };
        match r.take(1).map_err(|d| bad(r.at, d))?[0] {
            0 => {}
            1 => state.pending = Some(r.bytes_field().map_err(|d| bad(r.at, d))?.to_vec()),
            _ => return Err(bad(r.at, "bad pending flag")),
        }
        let count = r.u64().map_err(|d| bad(r.at, d))?;
        // Each entry takes at least 32 bytes: the count is bounded by the bytes present.
        if count > (body.len() / 32) as u64 {
            return Err(bad(r.at, "entry count exceeds the file"));
        }
        for _ in 0..count {
            let at = r.at;
            let index = r.u64().map_err(|d| bad(at, d))?;
            let ts = r.take(TIMESTAMP_LEN).map_err(|d| bad(at, d))?;
            let timestamp = Timestamp::from_bytes(ts).map_err(|_| bad(at, "bad timestamp"))?;
            let payload = r.bytes_field().map_err(|d| bad(at, d))?.to_vec();
            if state.entries.last().is_some_and(|l| l.index >= index) {
                return Err(bad(at, "system record indexes not increasing"));
            }
            state.entries.push(SystemEntry { index, timestamp, payload });
        }
        if r.at != body.len() {
            return Err(bad(r.at, "trailing bytes in retention state"));
        }
        Ok(state)
    }
}

/// Reads the state file: `Ok(None)` if it does not exist, `Err(Corruption)` if damaged.
pub(crate) fn read_state(
    be: &dyn StorageBackend,
    dir: &Path,
) -> Result<Option<StateFile>, LogError> {
    let path = state_path(dir);
    let file = match be.open(&path, OpenMode::Read) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(LogError::io("open retention state", &path, e)),
    };
    let bytes = read_bounded(&*file, STATE_LEN_MAX + 1)
        .map_err(|e| LogError::io("read retention state", &path, e))?;
    if bytes.len() as u64 > STATE_LEN_MAX {
        return Err(LogError::corruption(&path, STATE_LEN_MAX, "retention state too large"));
    }
    StateFile::decode(&bytes, &path).map(Some)
}

/// Replaces the state file atomically: temp file written and synced, renamed over, directory
/// synced. A crash leaves either the old or the new file whole.
pub(crate) fn write_state(
    be: &dyn StorageBackend,
    dir: &Path,
    state: &StateFile,
) -> Result<(), LogError> {
    let tmp = dir.join(TMP_FILE);
    let path = state_path(dir);
    // A temp file left by a crash is read-only (0444, below): remove it rather than open it.
    match be.remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(LogError::io("remove retention state temp", &tmp, e)),
    }
    let file = be
        .open(&tmp, OpenMode::CreateTruncate)
        .map_err(|e| LogError::io("create retention state", &tmp, e))?;
    file.write_all_at(&state.encode(), 0)
        .and_then(|()| file.sync_all())
        .map_err(|e| LogError::io("write retention state", &tmp, e))?;
    // Each version is written once: read-only like sealed segments (replaced by rename only).
    be.set_read_only(&tmp).map_err(|e| LogError::io("chmod 0444", &tmp, e))?;
    be.rename(&tmp, &path).map_err(|e| LogError::io("rename retention state", &path, e))?;
    // DIRECTORY FSYNC: the rename must be durable before the state is relied upon (a purge
    // deletes segment files right after this returns).
    sync_dir(be, dir)
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    // Payloads are bounded by the u32 payload limit.
    out.extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(bytes);
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        let end =
            self.at.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or("state truncated")?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn u64(&mut self) -> Result<u64, &'static str> {
        self.take(8).map(le_u64)
    }

    fn bytes_field(&mut self) -> Result<&'a [u8], &'static str> {
        let len = le_u32(self.take(4)?) as usize;
        self.take(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffre_clock::{Source, SourceSet, TimeStatus};

    #[test]
    fn state_round_trips_and_every_flipped_byte_is_caught() {
        let ts = Timestamp::new(
            1,
            2,
            SourceSet::only(Source::System),
            SourceSet::EMPTY,
            TimeStatus::Synchronized,
        )
        .unwrap();
        let s = StateFile {
            known_len: 9,
            pending: Some(vec![1, 2, 3]),
            entries: vec![
                SystemEntry { index: 2, timestamp: ts, payload: b"abc".to_vec() },
                SystemEntry { index: 5, timestamp: ts, payload: Vec::new() },
            ],
        };
        let bytes = s.encode();
        assert_eq!(StateFile::decode(&bytes, Path::new("s")).unwrap(), s);
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x04;
            assert!(StateFile::decode(&bad, Path::new("s")).is_err(), "byte {i}");
        }
    }
}
