//! The file operations the log performs, behind one small trait, so tests can run the whole
//! log over a simulated disk ([`sim::SimBackend`]) that keeps written and durable bytes apart,
//! loses what a power failure would lose, and injects I/O errors. [`OsBackend`] (the default)
//! is a thin layer over `std::fs`: one virtual call per operation and no copy, and sealed
//! segments are still memory-mapped (through [`StorageFile::as_os_file`]).
//!
//! Every segment, the manifest, the tree store, the checkpoint and key files and the retention
//! state go through the backend. Only the `chattr` command run for the immutable attribute is
//! delegated as a whole ([`StorageBackend::set_immutable`]).

mod os;
pub mod sim;

pub use os::OsBackend;

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;

/// How [`StorageBackend::open`] opens a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpenMode {
    /// An existing file, read only.
    Read,
    /// An existing file, read and write.
    ReadWrite,
    /// A new file (fails with `AlreadyExists` if the name exists), read and write.
    CreateNew,
    /// Created if missing, kept as it is otherwise, read and write.
    CreateOrOpen,
    /// Created if missing, emptied otherwise, read and write.
    CreateTruncate,
}

impl OpenMode {
    /// Whether the mode may create the file.
    pub fn creates(self) -> bool {
        matches!(self, OpenMode::CreateNew | OpenMode::CreateOrOpen | OpenMode::CreateTruncate)
    }
}

/// One open file. Positioned reads and writes only: no shared cursor.
pub trait StorageFile: Send + Sync + fmt::Debug {
    /// Fills `buf` from `offset`; an `UnexpectedEof` error if the file ends before.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// Writes all of `buf` at `offset`, growing the file if needed.
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// `fdatasync`: the file's bytes written so far (and its size) are durable.
    fn sync_data(&self) -> io::Result<()>;
    /// `fsync`: as [`StorageFile::sync_data`], plus the file's metadata.
    fn sync_all(&self) -> io::Result<()>;
    /// Truncates or extends (with zeros) the file to `len_bytes`.
    fn set_len(&self, len_bytes: u64) -> io::Result<()>;
    /// The file's current length in bytes.
    fn len_bytes(&self) -> io::Result<u64>;
    /// The OS file behind this handle, when there is one (the log maps sealed segments
    /// through it); `None` makes readers use [`StorageFile::read_exact_at`].
    fn as_os_file(&self) -> Option<&std::fs::File> {
        None
    }
}

/// A held exclusive directory lock; released when dropped.
pub type LockGuard = Box<dyn std::any::Any + Send + Sync>;

/// The file-system operations of a log. See the [module docs](self).
pub trait StorageBackend: Send + Sync + fmt::Debug {
    /// Opens `path` per `mode`.
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn StorageFile>>;
    /// Whether `path` names a file or directory.
    fn exists(&self, path: &Path) -> bool;
    /// Creates directory `path` and its missing parents (not synced).
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Makes the entries of directory `path` (created, renamed, removed names) durable.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
    /// Renames `from` to `to`, replacing `to` (not synced).
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes file `path` (not synced); `NotFound` if there is none.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Removes directory `path` and everything in it (not synced).
    fn remove_dir_all(&self, path: &Path) -> io::Result<()>;
    /// The names in directory `path`, in no particular order.
    fn list_dir(&self, path: &Path) -> io::Result<Vec<OsString>>;
    /// Makes `path` read-only for everyone (mode 0444).
    fn set_read_only(&self, path: &Path) -> io::Result<()>;
    /// Sets (`on`) or clears the Linux immutable attribute of `path` (`chattr +i` / `-i`).
    /// `PermissionDenied` without the privilege or filesystem support.
    fn set_immutable(&self, path: &Path, on: bool) -> io::Result<()>;
    /// Takes an exclusive lock on file `path` (created if missing) without waiting:
    /// `Ok(None)` when another holder has it.
    fn try_lock(&self, path: &Path) -> io::Result<Option<LockGuard>>;
}

/// The default backend: the operating system's files.
pub fn os_backend() -> Arc<dyn StorageBackend> {
    Arc::new(OsBackend)
}

/// Reads a whole file of at most `max_bytes` bytes (more are not read: the caller sees a
/// longer file as `max_bytes` bytes and reports it).
pub(crate) fn read_bounded(file: &dyn StorageFile, max_bytes: u64) -> io::Result<Vec<u8>> {
    let n = file.len_bytes()?.min(max_bytes);
    let mut bytes = vec![0u8; usize::try_from(n).map_err(io::Error::other)?];
    file.read_exact_at(&mut bytes, 0)?;
    Ok(bytes)
}
