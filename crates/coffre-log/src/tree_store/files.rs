//! Opening, creating and validating the tree's files, and the head writes.

use super::format::{
    choose_head, entry_offset, HeadSlot, LevelHeader, TreeId, HEAD_FILE_LEN, HEAD_SLOT_LEN,
    LEVEL_HEADER_LEN,
};
use super::TreeStoreError;
use crate::backend::{OpenMode, StorageBackend, StorageFile};
use crate::hash::HashAlgorithm;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// Name of the subdirectory of the log directory that holds the tree.
pub(crate) const TREE_DIR_NAME: &str = "tree";
/// Name of the head file inside the tree directory.
pub(crate) const HEAD_FILE_NAME: &str = "head";

/// Path of the file of `level` (`level-00.hashes`, `level-01.hashes`, ...).
pub(crate) fn level_path(tree_dir: &Path, level: u32) -> PathBuf {
    tree_dir.join(format!("level-{level:02}.hashes"))
}

pub(crate) fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> TreeStoreError + '_ {
    move |source| TreeStoreError::Io { path: path.to_path_buf(), source }
}

pub(crate) fn corruption(file: &Path, offset: u64, detail: impl Into<String>) -> TreeStoreError {
    TreeStoreError::Corruption { file: file.to_path_buf(), offset, detail: detail.into() }
}

/// Makes a directory entry durable: a new or renamed file is only guaranteed to exist after a
/// crash once the directory that names it has been fsynced.
pub(crate) fn sync_dir(be: &dyn StorageBackend, dir: &Path) -> Result<(), TreeStoreError> {
    be.sync_dir(dir).map_err(io_error(dir))
}

/// Reads both head slots and returns the slot to trust with its index.
pub(crate) fn read_head(head: &dyn StorageFile, path: &Path) -> Result<HeadSlot, TreeStoreError> {
    let mut bytes = [0u8; HEAD_FILE_LEN as usize];
    head.read_exact_at(&mut bytes, 0).map_err(|e| {
        if e.kind() == ErrorKind::UnexpectedEof {
            corruption(path, 0, "head file shorter than its two slots")
        } else {
            TreeStoreError::Io { path: path.to_path_buf(), source: e }
        }
    })?;
    let (first, second) = bytes.split_at(HEAD_SLOT_LEN as usize);
    let decode = |slot: &[u8]| {
        let mut fixed = [0u8; HEAD_SLOT_LEN as usize];
        fixed.copy_from_slice(slot);
        HeadSlot::decode(&fixed)
    };
    let (_, slot) = choose_head([decode(first), decode(second)])
        .map_err(|detail| corruption(path, 0, detail))?;
    Ok(slot)
}

/// Writes `slot` into its half of the head file and waits until it is durable.
pub(crate) fn write_head_slot(
    head: &dyn StorageFile,
    path: &Path,
    slot: &HeadSlot,
) -> Result<(), TreeStoreError> {
    let offset = (slot.sequence % 2) * HEAD_SLOT_LEN;
    head.write_all_at(&slot.encode(), offset).map_err(io_error(path))?;
    head.sync_data().map_err(io_error(path))
}

/// Creates (or empties) the file of `level` and writes its header. Not synced: the caller
/// syncs the file and the directory before any head names leaves that need it.
pub(crate) fn create_level(
    be: &dyn StorageBackend,
    tree_dir: &Path,
    header: &LevelHeader,
) -> Result<Box<dyn StorageFile>, TreeStoreError> {
    let path = level_path(tree_dir, header.level);
    let file = be.open(&path, OpenMode::CreateTruncate).map_err(io_error(&path))?;
    file.write_all_at(&header.encode(), 0).map_err(io_error(&path))?;
    Ok(file)
}

/// What opening an existing level file found.
pub(crate) enum LevelFile {
    /// No file.
    Missing,
    /// A file whose header is not this tree's level header (the reason given).
    Foreign(String),
    /// A file with this tree's header, holding `size_bytes` bytes.
    Valid(Box<dyn StorageFile>, u64),
}

/// Opens the file of `level` and checks its header against the tree's identity.
pub(crate) fn open_level(
    be: &dyn StorageBackend,
    tree_dir: &Path,
    expected: &LevelHeader,
    writable: bool,
) -> Result<LevelFile, TreeStoreError> {
    let path = level_path(tree_dir, expected.level);
    let mode = if writable { OpenMode::ReadWrite } else { OpenMode::Read };
    let file = match be.open(&path, mode) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(LevelFile::Missing),
        Err(e) => return Err(TreeStoreError::Io { path, source: e }),
    };
    let size_bytes = file.len_bytes().map_err(io_error(&path))?;
    if size_bytes < LEVEL_HEADER_LEN {
        return Ok(LevelFile::Foreign("file shorter than its header".into()));
    }
    let mut bytes = [0u8; LEVEL_HEADER_LEN as usize];
    file.read_exact_at(&mut bytes, 0).map_err(io_error(&path))?;
    let problem = match LevelHeader::decode(&bytes) {
        Err(detail) => Some(detail),
        Ok(found) if found.alg != expected.alg => Some(format!(
            "file is for hash algorithm {}, the log uses {}",
            found.alg.name(),
            expected.alg.name()
        )),
        Ok(found) if found.level != expected.level => {
            Some(format!("header says level {}, file name says {}", found.level, expected.level))
        }
        Ok(found) if found.tree_id != expected.tree_id => {
            Some("file belongs to another tree (tree id differs from the head)".into())
        }
        Ok(_) => None,
    };
    Ok(match problem {
        Some(detail) => LevelFile::Foreign(detail),
        None => LevelFile::Valid(file, size_bytes),
    })
}

/// Checks that a level file holds at least the `entries` hashes the head vouches for, and in
/// a writable store cuts whatever follows them (crash residue: garbage, zeros, torn hashes).
pub(crate) fn admit_level(
    tree_dir: &Path,
    level: u32,
    file: &dyn StorageFile,
    size_bytes: u64,
    entries: u64,
    writable: bool,
) -> Result<(), TreeStoreError> {
    let path = level_path(tree_dir, level);
    let needed_bytes = entry_offset(entries);
    if size_bytes < needed_bytes {
        return Err(corruption(
            &path,
            size_bytes,
            format!("file holds {size_bytes} bytes, the head implies {entries} hashes ({needed_bytes} bytes)"),
        ));
    }
    if writable && size_bytes > needed_bytes {
        file.set_len(needed_bytes).map_err(io_error(&path))?;
    }
    Ok(())
}

/// A fresh random tree identity, so that files of two trees are never mixed up.
pub(crate) fn new_tree_id(tree_dir: &Path) -> Result<TreeId, TreeStoreError> {
    let mut id = [0u8; 16];
    getrandom::getrandom(&mut id).map_err(|e| TreeStoreError::Io {
        path: tree_dir.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    })?;
    Ok(id)
}

/// Writes a new head file atomically: a temporary file, synced, renamed over `head`.
pub(crate) fn install_head(
    be: &dyn StorageBackend,
    tree_dir: &Path,
    alg: HashAlgorithm,
    tree_id: TreeId,
) -> Result<(), TreeStoreError> {
    let tmp = tree_dir.join("head.tmp");
    let path = tree_dir.join(HEAD_FILE_NAME);
    let slot = HeadSlot { alg, tree_id, sequence: 0, durable_leaves: 0 };
    let mut bytes = [0u8; HEAD_FILE_LEN as usize];
    bytes[..HEAD_SLOT_LEN as usize].copy_from_slice(&slot.encode());
    let file = be.open(&tmp, OpenMode::CreateTruncate).map_err(io_error(&tmp))?;
    file.write_all_at(&bytes, 0).map_err(io_error(&tmp))?;
    file.sync_all().map_err(io_error(&tmp))?;
    be.rename(&tmp, &path).map_err(io_error(&path))?;
    Ok(())
}
