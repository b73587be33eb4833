//! [`OsBackend`]: `std::fs` files, one call each.

use super::{LockGuard, OpenMode, StorageBackend, StorageFile};
use std::ffi::OsString;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, ErrorKind};
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

/// The operating system's file system (the default backend).
#[derive(Clone, Copy, Debug, Default)]
pub struct OsBackend;

impl StorageFile for File {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        FileExt::read_exact_at(self, buf, offset)
    }
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        FileExt::write_all_at(self, buf, offset)
    }
    fn sync_data(&self) -> io::Result<()> {
        File::sync_data(self)
    }
    fn sync_all(&self) -> io::Result<()> {
        File::sync_all(self)
    }
    fn set_len(&self, len_bytes: u64) -> io::Result<()> {
        File::set_len(self, len_bytes)
    }
    fn len_bytes(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }
    fn as_os_file(&self) -> Option<&File> {
        Some(self)
    }
}

impl StorageBackend for OsBackend {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn StorageFile>> {
        let mut o = OpenOptions::new();
        o.read(true);
        match mode {
            OpenMode::Read => {}
            OpenMode::ReadWrite => {
                o.write(true);
            }
            OpenMode::CreateNew => {
                o.write(true).create_new(true);
            }
            OpenMode::CreateOrOpen => {
                o.write(true).create(true).truncate(false);
            }
            OpenMode::CreateTruncate => {
                o.write(true).create(true).truncate(true);
            }
        }
        Ok(Box::new(o.open(path)?))
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        File::open(path)?.sync_all()
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_dir_all(path)
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<OsString>> {
        std::fs::read_dir(path)?.map(|e| e.map(|e| e.file_name())).collect()
    }

    fn set_read_only(&self, path: &Path) -> io::Result<()> {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o444))
    }

    fn set_immutable(&self, path: &Path, on: bool) -> io::Result<()> {
        // The command rather than the FS_IOC_SETFLAGS ioctl: the crate keeps `unsafe` to its
        // mmap module.
        let flag = if on { "+i" } else { "-i" };
        let out = Command::new("chattr").arg(flag).arg(path).output()?;
        if out.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        Err(io::Error::new(
            ErrorKind::PermissionDenied,
            format!("chattr {flag}: {}", stderr.trim()),
        ))
    }

    fn try_lock(&self, path: &Path) -> io::Result<Option<LockGuard>> {
        let file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Box::new(file))),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(e),
        }
    }
}
