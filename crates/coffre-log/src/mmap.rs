//! Read access to sealed segments: a read-only memory map, or positioned reads when mapping
//! fails. The only module of the crate with `unsafe` code.

use crate::backend::StorageFile;
use std::fs::File;
use std::io;

/// The bytes of one sealed segment.
#[derive(Debug)]
pub(crate) enum SealedBytes {
    /// Read-only map of the whole file.
    Mapped(memmap2::Mmap),
    /// Fallback: positioned reads (a map failed, or the backend has no OS file).
    File(Box<dyn StorageFile>),
}

impl SealedBytes {
    /// Maps `file` (a sealed segment of `len_bytes` bytes) read-only, or keeps it for
    /// positioned reads when the map fails (or the file is empty).
    pub(crate) fn open(file: Box<dyn StorageFile>, len_bytes: u64) -> SealedBytes {
        let Some(os_file) = file.as_os_file().filter(|_| len_bytes > 0) else {
            return SealedBytes::File(file);
        };
        match map_read_only(os_file) {
            Ok(map) if map.len() as u64 == len_bytes => SealedBytes::Mapped(map),
            _ => SealedBytes::File(file),
        }
    }

    /// The whole file as a slice, when it is mapped (no copy).
    pub(crate) fn as_slice(&self) -> Option<&[u8]> {
        match self {
            SealedBytes::Mapped(map) => Some(map),
            SealedBytes::File(_) => None,
        }
    }

    /// Fills `buf` from `offset`; an `UnexpectedEof` error if the range is past the end.
    pub(crate) fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        match self {
            SealedBytes::Mapped(map) => {
                let start = usize::try_from(offset).map_err(|_| eof())?;
                let end = start.checked_add(buf.len()).ok_or_else(eof)?;
                let src = map.get(start..end).ok_or_else(eof)?;
                buf.copy_from_slice(src);
                Ok(())
            }
            SealedBytes::File(file) => file.read_exact_at(buf, offset),
        }
    }
}

fn eof() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "read past the end of a sealed segment")
}

#[allow(unsafe_code)]
fn map_read_only(file: &File) -> io::Result<memmap2::Mmap> {
    // SAFETY: memmap2 requires that the mapped file is not modified or truncated while the map
    // lives, or reads could see changing bytes or fault (SIGBUS). The log maps a segment only
    // after it is sealed: its footer was written, the file was cut to its final length,
    // fdatasync'ed and made read-only (0444), and the log's code never opens a sealed segment
    // for writing or truncates it again (retention deletes whole files, and unlinking keeps
    // the mapped inode alive). A reader in another process maps only files whose footer is
    // valid at the file's end, which the writer makes true only with its final `set_len`.
    // What remains is outside the log's control and is an assumption stated in
    // docs/FORMAT.md: no other program writes or truncates a sealed segment. The map is
    // private and read-only, and all access goes through bounds-checked slices.
    unsafe { memmap2::MmapOptions::new().map(file) }
}

/// A read-only shared map of the first `capacity` bytes of a tree level file
/// (crate::tree_store), which may extend past the file's current end so that the file can
/// grow into it without a remap.
///
/// Contract for the caller (the tree store upholds it; see its `maps` field): only bytes that
/// lie inside the file *and* are no longer written to are ever read through the map. Bytes of
/// the map past the end of the file fault (SIGBUS) when touched, so [`LevelMap::copy_at`]
/// itself only checks the map's bounds.
#[derive(Debug)]
pub(crate) struct LevelMap {
    map: memmap2::Mmap,
}

impl LevelMap {
    /// Maps `capacity_bytes` bytes of `file` from offset 0, read-only and shared (the writer's
    /// later `pwrite`s land in the same page-cache pages, so they become readable here).
    pub(crate) fn map(file: &File, capacity_bytes: usize) -> io::Result<LevelMap> {
        map_level(file, capacity_bytes).map(|map| LevelMap { map })
    }

    /// Bytes the map spans (some possibly past the end of the file).
    pub(crate) fn capacity_bytes(&self) -> usize {
        self.map.len()
    }

    /// Loads the byte at `offset` (nothing when it is outside the map) and discards it: the
    /// load brings its page's translation and cache line in for a read that follows.
    pub(crate) fn touch(&self, offset: u64) {
        if let Some(byte) = usize::try_from(offset).ok().and_then(|i| self.map.get(i)) {
            std::hint::black_box(*byte);
        }
    }

    /// Copies `buf.len()` bytes from `offset`, or returns `false` (copying nothing) when the
    /// range is not inside the map.
    pub(crate) fn copy_at(&self, buf: &mut [u8], offset: u64) -> bool {
        let Ok(start) = usize::try_from(offset) else { return false };
        let Some(src) = start.checked_add(buf.len()).and_then(|end| self.map.get(start..end))
        else {
            return false;
        };
        buf.copy_from_slice(src);
        true
    }
}

#[allow(unsafe_code)]
fn map_level(file: &File, capacity_bytes: usize) -> io::Result<memmap2::Mmap> {
    // SAFETY: memmap2's conditions are that the mapped bytes are neither modified while
    // borrowed nor cut from the file (a read past the end of the file raises SIGBUS). A level
    // file is mapped only by the one writable TreeStore of its directory (the log's directory
    // lock, held for the store's whole life, excludes a second writer in any process; a
    // read-only store never maps, because another process may truncate under it), and the
    // store reads through the map only entries `< len >> level`, after loading `len` under
    // the read side of its map lock:
    // - Not modified: every hash below `len` was written (by `pwrite`, into the same page
    //   cache pages the map shows) before `len` was published with Release, and is never
    //   written again while it stays below `len`; appends write only at or past `len`.
    // - Not cut: those bytes lie inside the file (a level file holds at least the entries
    //   `len` implies: `admit_level` at open, `append_leaves` before publishing). The only
    //   in-place shrink while a map lives, `TreeStore::truncate`, lowers `len` and cuts the
    //   files while holding the write side of the map lock, so no read is in flight over the
    //   bytes it cuts and no later read asks for them. `replace` unlinks files (a map keeps
    //   its inode alive) before creating new ones. Mapping past the current end is allowed
    //   (POSIX); those pages are never touched until appends have filled them.
    // What remains outside the store's control, as for sealed segments (docs/FORMAT.md): no
    // other program writes or truncates the tree's files while the log is open.
    unsafe { memmap2::MmapOptions::new().len(capacity_bytes).map(file) }
}
