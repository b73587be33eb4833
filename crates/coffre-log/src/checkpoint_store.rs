//! The log's stored checkpoints: the append-only file `checkpoints.notes` and the verifier key
//! recorded at the first checkpoint, `checkpoint.vkey` (docs/FORMAT.md, "Checkpoint file").
//!
//! `checkpoints.notes` is a 16-byte file header (`COFFCKPT`, format version u32, crc32 of the
//! first 12 bytes) followed by frames, one per signed note: magic `CfCk`, note length u32,
//! crc32 of the note, crc32 of the first 12 frame bytes, then the note's bytes. All integers
//! little-endian. A frame is appended with one write and `fdatasync`ed before the checkpoint is
//! returned, so only the last frame can be torn by a crash.

use crate::backend::{read_bounded, OpenMode, StorageBackend, StorageFile};
use crate::checkpoint::{Checkpoint, SignedCheckpoint};
use crate::error::LogError;
use crate::manifest::le_u32;
use crate::note::{NoteVerifier, NOTE_SIZE_BYTES_MAX};
use crate::segment::sync_dir;
use parking_lot::Mutex;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// File holding the log's signed checkpoints.
pub const CHECKPOINTS_FILE: &str = "checkpoints.notes";
/// File holding the verifier key of the log's checkpoint signer (written once, 0444).
pub const VKEY_FILE: &str = "checkpoint.vkey";
const VKEY_TMP_FILE: &str = "checkpoint.vkey.tmp";
/// Bound on the verifier key file (a key line is about 100 bytes).
const VKEY_LEN_MAX: u64 = 4096;
const FILE_MAGIC: [u8; 8] = *b"COFFCKPT";
const FILE_VERSION: u32 = 1;
pub(crate) const FILE_HEADER_LEN: u64 = 16;
const FRAME_MAGIC: [u8; 4] = *b"CfCk";
pub(crate) const FRAME_HEADER_LEN: u64 = 16;
/// A torn write leaves whole sectors unwritten (zero), never single bytes.
const SECTOR_BYTES: u64 = 512;

/// A checkpoint the log signed and stored: the parsed checkpoint and its signed note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// The checkpoint (origin, size, root, time).
    pub checkpoint: Checkpoint,
    /// The signed note, as stored and published.
    pub note: String,
}

/// The checkpoint file of one log directory. Appends are serialised by its mutex.
#[derive(Debug)]
pub(crate) struct CheckpointStore {
    backend: Arc<dyn StorageBackend>,
    dir: PathBuf,
    path: PathBuf,
    origin: String,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    vkey: Option<NoteVerifier>,
    /// The writer's handle (`None` until the file exists, and for a read-only store).
    file: Option<Box<dyn StorageFile>>,
    /// Byte offset of each frame.
    frames: Vec<u64>,
    /// End of the last frame.
    end: u64,
    latest: Option<StoredCheckpoint>,
}

impl CheckpointStore {
    /// Loads the checkpoint file and key of `dir`, checking every frame's checksums and the
    /// latest note's signature and origin. A torn last frame is cut (writable) or ignored
    /// (read-only); returns the bytes cut.
    pub(crate) fn load(
        be: &Arc<dyn StorageBackend>,
        dir: &Path,
        origin: &str,
        writable: bool,
    ) -> Result<(CheckpointStore, u64), LogError> {
        let path = dir.join(CHECKPOINTS_FILE);
        if writable {
            // A key write that crashed before its rename: never trusted, safe to drop.
            let tmp = dir.join(VKEY_TMP_FILE);
            match be.remove_file(&tmp) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(LogError::io("remove", tmp, e)),
            }
        }
        let vkey = read_vkey(&**be, dir)?;
        let mode = if writable { OpenMode::ReadWrite } else { OpenMode::Read };
        let opened = be.open(&path, mode);
        let file = match opened {
            Ok(f) => Some(f),
            Err(e) if e.kind() == ErrorKind::NotFound => None,
            Err(e) => return Err(LogError::io("open checkpoints", &path, e)),
        };
        let (frames, end, cut) = match &file {
            Some(f) => scan(&**f, &path, writable)?,
            None => (Vec::new(), 0, 0),
        };
        let inner = Inner { vkey, file: file.filter(|_| writable), frames, end, latest: None };
        let store = CheckpointStore {
            backend: Arc::clone(be),
            dir: dir.to_path_buf(),
            path,
            origin: origin.to_owned(),
            inner: Mutex::new(inner),
        };
        let last = {
            let inner = store.inner.lock();
            let index = (inner.frames.len() as u64).checked_sub(1);
            inner.frames.last().copied().zip(index).map(|(o, i)| (o, i, inner.vkey.clone()))
        };
        if let Some((offset, index, vkey)) = last {
            let vkey = vkey.ok_or_else(|| {
                LogError::tamper(
                    dir.join(VKEY_FILE),
                    "checkpoints exist but the key file is missing",
                )
            })?;
            let file = be
                .open(&store.path, OpenMode::Read)
                .map_err(|e| LogError::io("open", &store.path, e))?;
            let note = read_frame(&*file, &store.path, offset)?;
            let latest = store.open_note(&vkey, note, offset, index)?;
            store.inner.lock().latest = Some(latest);
        }
        Ok((store, cut))
    }

    /// The verifier key recorded at the first checkpoint.
    pub(crate) fn vkey(&self) -> Option<NoteVerifier> {
        self.inner.lock().vkey.clone()
    }

    /// The latest stored checkpoint.
    pub(crate) fn latest(&self) -> Option<StoredCheckpoint> {
        self.inner.lock().latest.clone()
    }

    /// Size of the latest stored checkpoint (0 without one).
    pub(crate) fn latest_size(&self) -> u64 {
        self.inner.lock().latest.as_ref().map_or(0, |s| s.checkpoint.size)
    }

    /// Number of stored checkpoints.
    pub(crate) fn count(&self) -> u64 {
        self.inner.lock().frames.len() as u64
    }

    /// Path of the checkpoint file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Every stored checkpoint, each opened with the recorded key (signature and origin).
    pub(crate) fn read_all(&self) -> Result<Vec<StoredCheckpoint>, LogError> {
        let (frames, vkey) = {
            let inner = self.inner.lock();
            (inner.frames.clone(), inner.vkey.clone())
        };
        if frames.is_empty() {
            return Ok(Vec::new());
        }
        let vkey = vkey.ok_or_else(|| {
            LogError::tamper(self.dir.join(VKEY_FILE), "checkpoints exist but no key is recorded")
        })?;
        let file = self
            .backend
            .open(&self.path, OpenMode::Read)
            .map_err(|e| LogError::io("open", &self.path, e))?;
        let mut out = Vec::with_capacity(frames.len());
        for (index, &offset) in (0u64..).zip(frames.iter()) {
            let note = read_frame(&*file, &self.path, offset)?;
            out.push(self.open_note(&vkey, note, offset, index)?);
        }
        Ok(out)
    }

    /// Opens one stored note: signature by `vkey`, then the log's origin.
    fn open_note(
        &self,
        vkey: &NoteVerifier,
        note: Vec<u8>,
        offset: u64,
        index: u64,
    ) -> Result<StoredCheckpoint, LogError> {
        let tamper = |detail: String| LogError::TamperDetected {
            file: self.path.clone(),
            offset: Some(offset),
            index: Some(index),
            level: None,
            detail,
        };
        let opened = SignedCheckpoint::open(&note, &[vkey]).map_err(|e| {
            tamper(format!("checkpoint does not verify with the log's key {vkey}: {e}"))
        })?;
        if opened.checkpoint.origin != self.origin {
            return Err(tamper(format!(
                "checkpoint origin {:?} is not the log's origin {:?}",
                opened.checkpoint.origin, self.origin
            )));
        }
        let note = String::from_utf8(note).map_err(|_| tamper("note is not UTF-8".into()))?;
        Ok(StoredCheckpoint { checkpoint: opened.checkpoint, note })
    }

    /// Records `vkey` as the log's checkpoint key: written to a temporary file, synced, made
    /// read-only, renamed into place, directory synced. Only the writer calls it, once.
    pub(crate) fn record_vkey(&self, vkey: &NoteVerifier) -> Result<(), LogError> {
        let mut inner = self.inner.lock();
        if inner.vkey.is_some() {
            return Ok(());
        }
        let tmp = self.dir.join(VKEY_TMP_FILE);
        let path = self.dir.join(VKEY_FILE);
        let text = format!("{vkey}\n");
        let be = &*self.backend;
        let f = be
            .open(&tmp, OpenMode::CreateTruncate)
            .map_err(|e| LogError::io("create key file", &tmp, e))?;
        f.write_all_at(text.as_bytes(), 0)
            .and_then(|()| f.sync_all())
            .map_err(|e| LogError::io("write key file", &tmp, e))?;
        be.set_read_only(&tmp).map_err(|e| LogError::io("chmod 0444", &tmp, e))?;
        be.rename(&tmp, &path).map_err(|e| LogError::io("rename key file", &path, e))?;
        // DIRECTORY FSYNC: the key must be durable before any checkpoint it verifies, or a
        // power failure could leave checkpoints that nothing can check.
        sync_dir(be, &self.dir)?;
        inner.vkey = Some(vkey.clone());
        Ok(())
    }

    /// Appends a signed note and `fdatasync`s it (creating the file on first use).
    pub(crate) fn append(&self, stored: StoredCheckpoint) -> Result<(), LogError> {
        let note = stored.note.as_bytes();
        let note_len = u32::try_from(note.len())
            .ok()
            .filter(|&n| n as usize <= NOTE_SIZE_BYTES_MAX)
            .ok_or_else(|| LogError::InvalidOptions("checkpoint note too large".into()))?;
        let mut inner = self.inner.lock();
        if inner.file.is_none() {
            let f = self
                .backend
                .open(&self.path, OpenMode::CreateOrOpen)
                .map_err(|e| LogError::io("create checkpoints", &self.path, e))?;
            inner.file = Some(f);
        }
        if inner.end < FILE_HEADER_LEN {
            let f = inner.file.as_ref().ok_or(LogError::ReadOnly)?;
            let mut header = [0u8; FILE_HEADER_LEN as usize];
            header[..8].copy_from_slice(&FILE_MAGIC);
            header[8..12].copy_from_slice(&FILE_VERSION.to_le_bytes());
            let crc = crc32fast::hash(&header[..12]);
            header[12..16].copy_from_slice(&crc.to_le_bytes());
            f.write_all_at(&header, 0)
                .and_then(|()| f.set_len(FILE_HEADER_LEN))
                .and_then(|()| f.sync_all())
                .map_err(|e| LogError::io("write checkpoints header", &self.path, e))?;
            // DIRECTORY FSYNC: the checkpoint file's name must be durable before a checkpoint
            // in it is acknowledged, or a power failure could lose every checkpoint at once.
            sync_dir(&*self.backend, &self.dir)?;
            inner.end = FILE_HEADER_LEN;
        }
        let mut frame = Vec::with_capacity(FRAME_HEADER_LEN as usize + note.len());
        frame.extend_from_slice(&FRAME_MAGIC);
        frame.extend_from_slice(&note_len.to_le_bytes());
        frame.extend_from_slice(&crc32fast::hash(note).to_le_bytes());
        let crc = crc32fast::hash(&frame[..12]);
        frame.extend_from_slice(&crc.to_le_bytes());
        frame.extend_from_slice(note);
        let at = inner.end;
        let file = inner.file.as_ref().ok_or(LogError::ReadOnly)?;
        file.write_all_at(&frame, at)
            .and_then(|()| file.sync_data())
            .map_err(|e| LogError::io("write checkpoint", &self.path, e))?;
        inner.frames.push(at);
        inner.end = at + frame.len() as u64;
        inner.latest = Some(stored);
        Ok(())
    }
}

/// Reads the recorded key, if any: exactly one verifier key line.
fn read_vkey(be: &dyn StorageBackend, dir: &Path) -> Result<Option<NoteVerifier>, LogError> {
    let path = dir.join(VKEY_FILE);
    let file = match be.open(&path, OpenMode::Read) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(LogError::io("open key file", &path, e)),
    };
    let bytes =
        read_bounded(&*file, VKEY_LEN_MAX).map_err(|e| LogError::io("read key file", &path, e))?;
    let bad = |detail: &str| LogError::tamper(&path, detail);
    let text = std::str::from_utf8(&bytes).map_err(|_| bad("key file is not UTF-8"))?;
    let line = text.strip_suffix('\n').ok_or_else(|| bad("key file does not end in a newline"))?;
    let vkey = NoteVerifier::from_verifier_key(line)
        .map_err(|e| bad(&format!("key file does not hold a verifier key: {e}")))?;
    if vkey.to_verifier_key() != line {
        return Err(bad("key file is not in canonical form"));
    }
    Ok(Some(vkey))
}

/// Reads the note of the frame at `offset` (its checksums were checked by `scan`, and are
/// checked again: the file may have changed since).
fn read_frame(file: &dyn StorageFile, path: &Path, offset: u64) -> Result<Vec<u8>, LogError> {
    let mut h = [0u8; FRAME_HEADER_LEN as usize];
    file.read_exact_at(&mut h, offset).map_err(|e| LogError::io("read checkpoint", path, e))?;
    let len = check_frame_header(&h).map_err(|d| frame_damage(path, offset, d))?;
    let mut note = vec![0u8; len as usize];
    file.read_exact_at(&mut note, offset + FRAME_HEADER_LEN)
        .map_err(|e| LogError::io("read checkpoint", path, e))?;
    if crc32fast::hash(&note) != le_u32(&h[8..12]) {
        return Err(frame_damage(path, offset, "checkpoint note checksum mismatch"));
    }
    Ok(note)
}

fn frame_damage(path: &Path, offset: u64, detail: &str) -> LogError {
    LogError::TamperDetected {
        file: path.to_path_buf(),
        offset: Some(offset),
        index: None,
        level: None,
        detail: detail.to_string(),
    }
}

/// The note length of a frame header whose checksum holds.
fn check_frame_header(h: &[u8; FRAME_HEADER_LEN as usize]) -> Result<u64, &'static str> {
    if h[..4] != FRAME_MAGIC {
        return Err("bad checkpoint frame magic");
    }
    if crc32fast::hash(&h[..12]) != le_u32(&h[12..16]) {
        return Err("checkpoint frame header checksum mismatch");
    }
    let len = u64::from(le_u32(&h[4..8]));
    if len > NOTE_SIZE_BYTES_MAX as u64 {
        return Err("checkpoint note longer than the limit");
    }
    Ok(len)
}

/// Scans the frames; returns their offsets, the end of the last whole frame and the bytes of
/// a torn last frame (cut when `writable`).
fn scan(
    file: &dyn StorageFile,
    path: &Path,
    writable: bool,
) -> Result<(Vec<u64>, u64, u64), LogError> {
    let len = file.len_bytes().map_err(|e| LogError::io("stat", path, e))?;
    let mut frames = Vec::new();
    if len == 0 {
        // Created but the header never reached the disk: a crash in the first checkpoint.
        return finish(file, path, writable, frames, 0, 0, len);
    }
    let mut header = [0u8; FILE_HEADER_LEN as usize];
    if len < FILE_HEADER_LEN {
        return finish(file, path, writable, frames, 0, 0, len);
    }
    file.read_exact_at(&mut header, 0).map_err(|e| LogError::io("read", path, e))?;
    if header[..8] != FILE_MAGIC || crc32fast::hash(&header[..12]) != le_u32(&header[12..16]) {
        if header.iter().all(|&b| b == 0) {
            return finish(file, path, writable, frames, 0, 0, len);
        }
        return Err(frame_damage(path, 0, "bad checkpoint file header"));
    }
    let version = le_u32(&header[8..12]);
    if version != FILE_VERSION {
        return Err(LogError::UnsupportedVersion { path: path.to_path_buf(), version });
    }
    let mut pos = FILE_HEADER_LEN;
    let mut note = Vec::new();
    while pos < len {
        let torn = |frames: Vec<u64>| finish(file, path, writable, frames, pos, pos, len);
        if len - pos < FRAME_HEADER_LEN {
            return torn(frames);
        }
        let mut h = [0u8; FRAME_HEADER_LEN as usize];
        file.read_exact_at(&mut h, pos).map_err(|e| LogError::io("read", path, e))?;
        let note_len = match check_frame_header(&h) {
            Ok(n) => n,
            Err(_) if zero_sectors_to_end(file, path, pos, len)? => return torn(frames),
            Err(d) => return Err(frame_damage(path, pos, d)),
        };
        let end = pos + FRAME_HEADER_LEN + note_len;
        if end > len {
            return torn(frames);
        }
        note.resize(note_len as usize, 0);
        file.read_exact_at(&mut note, pos + FRAME_HEADER_LEN)
            .map_err(|e| LogError::io("read", path, e))?;
        if crc32fast::hash(&note) != le_u32(&h[8..12]) {
            if end == len && zero_sectors_to_end(file, path, pos, len)? {
                return torn(frames);
            }
            return Err(frame_damage(path, pos, "checkpoint note checksum mismatch"));
        }
        frames.push(pos);
        pos = end;
    }
    Ok((frames, pos, 0))
}

/// Whether the bytes of `[from, len)` end with a run of zeros that covers at least one whole
/// sector boundary before `len`: what a write cut by power loss leaves. A flipped byte never
/// looks like that (it cannot create a zero run over a sector of non-zero note text).
fn zero_sectors_to_end(
    file: &dyn StorageFile,
    path: &Path,
    from: u64,
    len: u64,
) -> Result<bool, LogError> {
    let span = len - from;
    if span > NOTE_SIZE_BYTES_MAX as u64 + FRAME_HEADER_LEN {
        return Ok(false);
    }
    let mut bytes = vec![0u8; span as usize];
    file.read_exact_at(&mut bytes, from).map_err(|e| LogError::io("read", path, e))?;
    let zeros = bytes.iter().rev().take_while(|&&b| b == 0).count() as u64;
    let zero_start = len - zeros;
    Ok((zeros > 0 && zero_start.div_ceil(SECTOR_BYTES) * SECTOR_BYTES < len) || zero_start == from)
}

/// Ends a scan at `keep`: a writer cuts the torn bytes after it.
#[allow(clippy::too_many_arguments)]
fn finish(
    file: &dyn StorageFile,
    path: &Path,
    writable: bool,
    frames: Vec<u64>,
    keep: u64,
    end: u64,
    len: u64,
) -> Result<(Vec<u64>, u64, u64), LogError> {
    let cut = len - keep;
    if writable && cut > 0 {
        file.set_len(keep)
            .and_then(|()| file.sync_all())
            .map_err(|e| LogError::io("cut torn checkpoint", path, e))?;
    }
    Ok((frames, end, cut))
}
