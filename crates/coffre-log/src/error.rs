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
    /// This handle has no Merkle tree: opened with the benchmark-only
    /// `LogOptions::merkle_index: false`, or read-only without a readable tree store.
    #[error("this log handle has no Merkle tree")]
    NoMerkleIndex,
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
    /// A user payload starts with [`crate::SYSTEM_RECORD_PREFIX`], reserved for the log's own
    /// system records; nothing was written.
    #[error("payload starts with the prefix reserved for system records")]
    ReservedPayload,
    /// The record was deleted by a purge after its retention expired (docs/RETENTION.md).
    #[error("record {index} was purged (purge record {purge_record})")]
    Purged {
        /// The index asked for.
        index: u64,
        /// Index of the purge system record that deleted it.
        purge_record: u64,
    },
    /// A retention change that does not lengthen the retention (it can never be shortened).
    #[error("retention of {requested_seconds} s does not extend the current {current_seconds} s")]
    RetentionNotExtended {
        /// Retention in force.
        current_seconds: u64,
        /// Retention asked for.
        requested_seconds: u64,
    },
    /// No hold in force has this id.
    #[error("no legal hold in force with id {id}")]
    HoldNotFound {
        /// The id given (index of a hold record).
        id: u64,
    },
    /// A hold range or a reason is not acceptable (empty, purged, too long).
    #[error("invalid retention request: {0}")]
    InvalidRetentionRequest(String),
    /// The Merkle tree store failed.
    #[error("tree store: {0}")]
    Tree(#[from] TreeStoreError),
    /// A proof or root was asked for a tree size larger than the log.
    #[error("tree size {size} exceeds the {len} records of the log")]
    SizeOutOfRange {
        /// The size asked for.
        size: u64,
        /// Records in the log.
        len: u64,
    },
    /// An inclusion proof was asked for a leaf outside the tree it should be proved in.
    #[error("leaf {index} is not in the tree of size {size}")]
    LeafNotInTree {
        /// The leaf index asked for.
        index: u64,
        /// The tree size asked for.
        size: u64,
    },
    /// A consistency proof was asked with `old_size == 0` or `old_size > new_size`.
    #[error("no consistency proof from size {old_size} to size {new_size}")]
    InvalidConsistencyRange {
        /// The older size.
        old_size: u64,
        /// The newer size.
        new_size: u64,
    },
    /// `checkpoint()` was called but the options name no `checkpoint_signer`.
    #[error("no checkpoint signer configured")]
    NoSigner,
    /// The signer's key is not the verifier key recorded at the log's first checkpoint (key
    /// rotation is not supported).
    #[error("checkpoint key {given} differs from the log's recorded key {recorded}")]
    CheckpointKeyMismatch {
        /// The recorded verifier key (`name+id+key`).
        recorded: String,
        /// The verifier key of the signer given.
        given: String,
    },
    /// A checkpoint could not be built or signed.
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] crate::checkpoint::CheckpointError),
    /// The stored log disagrees with a checkpoint or with itself: records, tree hashes,
    /// checkpoints or the recorded key were altered, removed or replaced.
    #[error("tamper detected in {}{}: {detail}", file.display(), tamper_location(*offset, *index, *level))]
    TamperDetected {
        /// The file where the mismatch was found.
        file: PathBuf,
        /// Byte offset in `file`, when known.
        offset: Option<u64>,
        /// Record (leaf) index or checkpoint number, when known.
        index: Option<u64>,
        /// Tree level, for a tree hash.
        level: Option<u32>,
        /// What disagrees.
        detail: String,
    },
}

fn tamper_location(offset: Option<u64>, index: Option<u64>, level: Option<u32>) -> String {
    let mut out = String::new();
    if let Some(o) = offset {
        out.push_str(&format!(" at offset {o}"));
    }
    if let Some(i) = index {
        out.push_str(&format!(", index {i}"));
    }
    if let Some(l) = level {
        out.push_str(&format!(", level {l}"));
    }
    out
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

    /// Shorthand for [`LogError::TamperDetected`] with only a file and a detail.
    pub(crate) fn tamper(file: impl Into<PathBuf>, detail: impl Into<String>) -> LogError {
        LogError::TamperDetected {
            file: file.into(),
            offset: None,
            index: None,
            level: None,
            detail: detail.into(),
        }
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
