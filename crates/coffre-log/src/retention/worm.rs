//! Write-once protections on files: the Linux immutable attribute through `chattr` (no ioctl
//! here: the crate has no `unsafe` outside its mmap module). See docs/RETENTION.md, "WORM".

use crate::error::LogError;
use std::io::ErrorKind;
use std::path::Path;
use std::process::Command;

/// Sets (`on`) or clears the immutable attribute of `path` with `chattr +i` / `chattr -i`.
/// Needs CAP_LINUX_IMMUTABLE (root) and a filesystem that supports it (ext4, xfs, btrfs).
pub(crate) fn set_immutable(path: &Path, on: bool) -> Result<(), LogError> {
    let flag = if on { "+i" } else { "-i" };
    let out = Command::new("chattr")
        .arg(flag)
        .arg(path)
        .output()
        .map_err(|e| LogError::io("run chattr", path, e))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    Err(LogError::io(
        "chattr",
        path,
        std::io::Error::new(
            ErrorKind::PermissionDenied,
            format!("chattr {flag}: {}", stderr.trim()),
        ),
    ))
}

/// Deletes a purged segment file. An immutable file refuses deletion even to root: only then is
/// the attribute cleared (purge is the one path allowed to), and the deletion retried.
pub(crate) fn remove_segment(path: &Path) -> Result<(), LogError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) if e.kind() == ErrorKind::PermissionDenied => {
            set_immutable(path, false)
                .map_err(|_| LogError::io("delete purged segment", path, e))?;
            std::fs::remove_file(path).map_err(|e| LogError::io("delete purged segment", path, e))
        }
        Err(e) => Err(LogError::io("delete purged segment", path, e)),
    }
}
