//! Write-once protections on files: the Linux immutable attribute through `chattr` (no ioctl
//! here: the crate has no `unsafe` outside its mmap module). See docs/RETENTION.md, "WORM".

use crate::backend::StorageBackend;
use crate::error::LogError;
use std::io::ErrorKind;
use std::path::Path;

/// Deletes a purged segment file. An immutable file refuses deletion even to root: only then is
/// the attribute cleared (purge is the one path allowed to), and the deletion retried.
pub(crate) fn remove_segment(be: &dyn StorageBackend, path: &Path) -> Result<(), LogError> {
    match be.remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) if e.kind() == ErrorKind::PermissionDenied => {
            be.set_immutable(path, false)
                .map_err(|_| LogError::io("delete purged segment", path, e))?;
            be.remove_file(path).map_err(|e| LogError::io("delete purged segment", path, e))
        }
        Err(e) => Err(LogError::io("delete purged segment", path, e)),
    }
}
