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
