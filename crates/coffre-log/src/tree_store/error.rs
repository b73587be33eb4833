//! The one error type of the tree store.

use std::path::PathBuf;

/// Why a tree store operation failed.
///
/// `Corruption` means a stored file cannot be trusted. The tree is derived data: the log can
/// discard it ([`TreeStore::replace`](super::TreeStore::replace)) and re-append every leaf hash
/// from its records.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TreeStoreError {
    /// An operating-system I/O error on `path`.
    #[error("tree store I/O error on {path}: {source}")]
    Io {
        /// File or directory the operation was on.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A tree file is damaged, truncated, or belongs to another tree or algorithm.
    #[error("corrupt tree file {file} at offset {offset}: {detail}")]
    Corruption {
        /// The damaged file.
        file: PathBuf,
        /// Byte offset in `file` where the damage was found.
        offset: u64,
        /// What was wrong.
        detail: String,
    },
    /// `open` found no tree store (no `tree/head`) in the log directory.
    #[error("no tree store at {path}")]
    NotFound {
        /// The head file that is missing.
        path: PathBuf,
    },
    /// `create` found an existing tree store.
    #[error("a tree store already exists at {path}")]
    AlreadyExists {
        /// The existing head file.
        path: PathBuf,
    },
    /// A leaf index at or beyond the tree size it was asked in.
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange {
        /// The leaf index asked for.
        index: u64,
        /// The tree size it was asked in.
        size: u64,
    },
    /// A tree size beyond the leaves stored.
    #[error("tree size {size} exceeds the {len} leaves stored")]
    SizeTooLarge {
        /// The size asked for.
        size: u64,
        /// Leaves stored.
        len: u64,
    },
    /// A consistency proof was asked with `old_size == 0` or `old_size > new_size`.
    #[error("no consistency proof from size {old_size} to size {new_size}")]
    InvalidConsistencyRange {
        /// The older size.
        old_size: u64,
        /// The newer size.
        new_size: u64,
    },
    /// A complete subtree that does not lie inside the stored leaves.
    #[error("subtree (level {level}, index {index}) lies outside the {len} stored leaves")]
    SubtreeOutOfRange {
        /// Height of the subtree.
        level: u32,
        /// Index of the subtree within its level.
        index: u64,
        /// Leaves stored.
        len: u64,
    },
    /// `recompute_check` found a stored parent that is not the node hash of its two children.
    #[error("stored hash at level {level}, index {index} does not match its children")]
    ParentMismatch {
        /// Level of the wrong parent (at least 1).
        level: u32,
        /// Its index within the level.
        index: u64,
    },
    /// Appending would exceed [`LEAVES_MAX`](super::LEAVES_MAX).
    #[error("the tree store holds at most {max} leaves")]
    TooManyLeaves {
        /// The limit.
        max: u64,
    },
    /// A write was attempted on a store opened with `open_read_only`.
    #[error("the tree store was opened read-only")]
    ReadOnly,
    /// An earlier sync or recovery failed, so what is on disk is unknown: close and reopen.
    #[error("the tree store refused writes after an earlier failure; reopen it")]
    Poisoned,
}
