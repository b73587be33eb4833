//! Options of [`crate::Log::create`] and [`crate::Log::open`].

use crate::backend::{os_backend, StorageBackend};
use crate::hash::HashAlgorithm;
use crate::note::{NoteSigner, NoteVerifier};
use coffre_clock::{Clock, SystemClock};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Default segment size: 128 MiB.
pub const DEFAULT_SEGMENT_SIZE_BYTES: u64 = 128 * 1024 * 1024;
/// Default payload limit: 1 MiB.
pub const DEFAULT_PAYLOAD_SIZE_BYTES_MAX: u32 = 1024 * 1024;
/// Default retention: 5 years of 365.2425 days.
pub const DEFAULT_RETENTION_SECONDS: u64 = 157_784_760;
/// Default checkpoint origin line.
pub const DEFAULT_ORIGIN: &str = "coffre.local/log";
/// Longest origin the manifest stores.
pub const ORIGIN_LEN_MAX: usize = 255;

/// When an acknowledged append is on stable storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Durability {
    /// Default. `append` returns `Ok` only after the record's group was written and
    /// `fdatasync` returned.
    #[default]
    Immediate,
    /// FOR BENCHMARKS AND TESTS ONLY: `append` returns once the record is written to the page
    /// cache; the committer calls `fdatasync` at most every `interval` (and at seal and close).
    /// A power failure loses the acknowledged records of the last `interval`.
    Periodic {
        /// Longest time between two syncs while appends arrive.
        interval: Duration,
    },
}

/// How the active segment's space is reserved ahead of the writes (see docs/FORMAT.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Preallocation {
    /// The file grows with each write (every fdatasync also commits a size change).
    None,
    /// The file is extended with `set_len` a chunk ahead (sparse).
    SetLen,
    /// Default. A chunk ahead is written with zeros, so later writes overwrite allocated
    /// blocks and `fdatasync` has no metadata to commit (1.7-1.9x on this machine kind).
    #[default]
    ZeroFill,
}

/// Options of a log. Fields marked *creation only* are stored in the manifest by
/// [`crate::Log::create`] and ignored by [`crate::Log::open`].
#[derive(Clone)]
pub struct LogOptions {
    /// Tree hash. At creation `None` means BLAKE3; at open, `Some(alg)` must match the
    /// manifest ([`crate::LogError::HashAlgorithmMismatch`] otherwise), `None` accepts it.
    pub hash_algorithm: Option<HashAlgorithm>,
    /// *Creation only.* Segment size at which a segment is sealed (default 128 MiB).
    pub segment_size_bytes: u64,
    /// Largest payload accepted by `append` (default 1 MiB).
    pub payload_size_bytes_max: u32,
    /// When an `Ok` from `append` means durable.
    pub durability: Durability,
    /// How the active segment's space is reserved.
    pub preallocation: Preallocation,
    /// The clock that stamps records (default [`SystemClock`]).
    pub clock: Arc<dyn Clock>,
    /// *Creation only.* Origin line of the log's checkpoints (≤ 255 bytes, no newline).
    pub origin: String,
    /// *Creation only.* How long records must be kept (default 5 years).
    pub retention_seconds: u64,
    /// Key that signs the log's checkpoints ([`crate::Log::checkpoint`] and automatic ones).
    /// Its verifier key is recorded at the first checkpoint; another key is refused later
    /// ([`crate::LogError::CheckpointKeyMismatch`]).
    pub checkpoint_signer: Option<Arc<NoteSigner>>,
    /// Key that signed `trusted_checkpoint` (default: the log's recorded key).
    pub trusted_verifier: Option<NoteVerifier>,
    /// A signed checkpoint note kept outside the log (by an auditor): `open` fails with
    /// [`crate::LogError::TamperDetected`] if the log is shorter or has another root at its
    /// size.
    pub trusted_checkpoint: Option<String>,
    /// Checkpoints signed automatically by a background thread (needs `checkpoint_signer`).
    pub auto_checkpoint: Option<AutoCheckpoint>,
    /// Where the log's files live: the operating system's files by default
    /// ([`crate::backend::OsBackend`]); tests pass a [`crate::backend::sim::SimBackend`].
    pub backend: Arc<dyn StorageBackend>,
    /// Sets the Linux immutable attribute (`chattr +i`) on each segment when it is sealed.
    /// Needs CAP_LINUX_IMMUTABLE: without it the segment stays 0444 only, and the refusal
    /// is counted in [`crate::LogStats::immutable_refused`]. Purge clears the attribute
    /// before deleting (docs/RETENTION.md, "WORM").
    pub immutable: bool,
    /// BENCHMARK ONLY (issue 3's "tree vs storage-only" figure; default `true`). With `false`
    /// the handle keeps no Merkle tree: no leaf hash is handed to the tree store, nothing is
    /// written to or synced in the tree files, and `root`, `prove_*` and `checkpoint` return
    /// [`crate::LogError::NoMerkleIndex`]. The records are written exactly as usual; the next
    /// open with `true` rebuilds the missing tree leaves from them.
    #[doc(hidden)]
    pub merkle_index: bool,
    /// BENCHMARK ONLY (default `true`); honoured only with `merkle_index: false`. With `false`
    /// the committer does not compute the leaf hash either and receipts carry an all-zero
    /// leaf hash: the log is then storage only (stamp, frame, CRC, write, fdatasync).
    #[doc(hidden)]
    pub receipt_leaf_hash: bool,
}

/// When the log signs checkpoints by itself. A checkpoint is written when either limit is
/// reached and records were added since the last checkpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AutoCheckpoint {
    /// After this many records since the last checkpoint.
    pub every_records: Option<u64>,
    /// After this much time since the last checkpoint (or since opening).
    pub every: Option<Duration>,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            hash_algorithm: None,
            segment_size_bytes: DEFAULT_SEGMENT_SIZE_BYTES,
            payload_size_bytes_max: DEFAULT_PAYLOAD_SIZE_BYTES_MAX,
            durability: Durability::Immediate,
            preallocation: Preallocation::ZeroFill,
            clock: Arc::new(SystemClock::default()),
            origin: DEFAULT_ORIGIN.to_string(),
            retention_seconds: DEFAULT_RETENTION_SECONDS,
            checkpoint_signer: None,
            trusted_verifier: None,
            trusted_checkpoint: None,
            auto_checkpoint: None,
            backend: os_backend(),
            immutable: false,
            merkle_index: true,
            receipt_leaf_hash: true,
        }
    }
}

impl fmt::Debug for LogOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogOptions")
            .field("hash_algorithm", &self.hash_algorithm)
            .field("segment_size_bytes", &self.segment_size_bytes)
            .field("payload_size_bytes_max", &self.payload_size_bytes_max)
            .field("durability", &self.durability)
            .field("preallocation", &self.preallocation)
            .field("origin", &self.origin)
            .field("retention_seconds", &self.retention_seconds)
            .field("checkpoint_signer", &self.checkpoint_signer)
            .field("trusted_verifier", &self.trusted_verifier)
            .field("trusted_checkpoint", &self.trusted_checkpoint.is_some())
            .field("auto_checkpoint", &self.auto_checkpoint)
            .field("backend", &self.backend)
            .field("immutable", &self.immutable)
            .field("merkle_index", &self.merkle_index)
            .field("receipt_leaf_hash", &self.receipt_leaf_hash)
            .finish_non_exhaustive()
    }
}

/// Checks an origin line: 1..=255 bytes, no newline (checkpoint notes are line-based).
pub(crate) fn validate_origin(origin: &str) -> Result<(), String> {
    if origin.is_empty() || origin.len() > ORIGIN_LEN_MAX {
        return Err(format!("origin must be 1..={ORIGIN_LEN_MAX} bytes, got {}", origin.len()));
    }
    if origin.contains('\n') || origin.contains('\r') {
        return Err("origin must not contain a newline".to_string());
    }
    Ok(())
}
