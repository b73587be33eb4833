//! The error type of the storage API ([`crate::Log`]).

use crate::hash::HashAlgorithm;
use crate::tree_store::TreeStoreError;
use coffre_clock::ClockError;
use std::io;
use std::path::PathBuf;

/// Why a log operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// An operating-system I/O call failed.
    #[error("I/O error during {op} on {}: {source}", path.display())]
    Io {
        /// What the log was doing (`write`, `fdatasync`, `open`, ...).
        op: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Stored bytes are damaged, missing or out of order. Never repaired silently.
    #[error("corruption in {} at offset {offset}: {detail}", file.display())]
    Corruption {
        /// The damaged (or missing) file.
        file: PathBuf,
        /// Byte offset of the damage inside `file`.
        offset: u64,
        /// What is wrong.
        detail: String,
    },
    /// Another writer holds the directory's lock.
    #[error("another writer holds the log at {}", path.display())]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// `create` found a log already there.
    #[error("a log already exists at {}", path.display())]
    AlreadyExists {
        /// The existing manifest.
        path: PathBuf,
    },
    /// `open` found no log (no manifest).
    #[error("no log at {}", path.display())]
    NotFound {
        /// The manifest path looked for.
        path: PathBuf,
    },
    /// The payload is larger than the configured limit; nothing was written.
    #[error("payload of {size_bytes} bytes exceeds the limit of {limit_bytes} bytes")]
    PayloadTooLarge {
        /// Size of the refused payload.
        size_bytes: u64,
        /// The configured limit.
        limit_bytes: u64,
    },
    /// The log's clock refused to issue a timestamp; nothing was written.
    #[error("clock refused to stamp the record: {0}")]
    Clock(#[from] ClockError),
    /// An earlier write or fsync failed; the handle refuses appends until the log is reopened.
    #[error("log poisoned by an earlier I/O failure; close and reopen it")]
    Poisoned,
    /// The log was opened read-only.
    #[error("log opened read-only")]
    ReadOnly,
    /// The options ask for a hash algorithm other than the one stored in the manifest.
    #[error("log uses {}, options ask for {}", stored.name(), requested.name())]
    HashAlgorithmMismatch {
        /// Algorithm in the manifest.
        stored: HashAlgorithm,
        /// Algorithm the options asked for.
        requested: HashAlgorithm,
    },
    /// The manifest or a segment has a format version this code does not read.
    #[error("unsupported format version {version} in {}", path.display())]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// Version found.
        version: u32,
    },
    /// Options are inconsistent (for example a segment too small for the payload limit).
    #[error("invalid options: {0}")]
    InvalidOptions(String),
    /// The index is not (yet) in the log.
    #[error("index {index} out of range: the log holds {len} records")]
    IndexOutOfRange {
        /// The index asked for.
        index: u64,
        /// Number of records in the log.
        len: u64,
    },
    /// The Merkle tree store failed.
    #[error("tree store: {0}")]
    Tree(#[from] TreeStoreError),
}

impl LogError {
    /// Shorthand for [`LogError::Io`].
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> LogError {
        LogError::Io { op, path: path.into(), source }
    }

    /// Shorthand for [`LogError::Corruption`].
    pub(crate) fn corruption(
        file: impl Into<PathBuf>,
        offset: u64,
        detail: impl Into<String>,
    ) -> LogError {
        LogError::Corruption { file: file.into(), offset, detail: detail.into() }
    }

    /// A copy of this error for another waiter of a failed commit group (I/O errors are not
    /// `Clone`; the copy keeps the kind and message).
    pub(crate) fn duplicate(&self) -> LogError {
        match self {
            LogError::Io { op, path, source } => LogError::Io {
                op,
                path: path.clone(),
                source: io::Error::new(source.kind(), source.to_string()),
            },
            LogError::Corruption { file, offset, detail } => {
                LogError::Corruption { file: file.clone(), offset: *offset, detail: detail.clone() }
            }
            LogError::Clock(c) => LogError::Clock(c.clone()),
            _ => LogError::Poisoned,
        }
    }
}
