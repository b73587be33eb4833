//! Coffre's core: a durable, segmented, write-once log with an RFC 6962 Merkle index,
//! standard inclusion and consistency proofs, and signed checkpoints (C2SP formats).
//!
//! Verification code ([`merkle`], [`note`], [`checkpoint`]) is pure: it does no I/O and can
//! be used by an auditor's program without opening a log.

pub mod backend;
pub mod checkpoint;
pub mod hash;
pub mod merkle;
pub mod note;
pub mod tree_store;

pub use hash::{Hash, HashAlgorithm, HASH_LEN};

// Storage: segments, records, group commit, recovery (docs/FORMAT.md).
mod ack;
mod blake3_lanes;
mod commit;
mod commit_loop;
pub mod error;
mod leaf_hasher;
mod log;
pub mod manifest;
mod mmap;
pub mod options;
mod poison;
mod prealloc;
pub mod record;
pub mod recovery;
mod segment;
mod tree_syncer;

pub use error::LogError;
// Checkpoints of the log, proofs from it, verification (docs/VERIFY.md).
mod checkpoint_store;
mod checkpointing;
mod prove;
pub mod verify;
pub use checkpoint_store::{StoredCheckpoint, CHECKPOINTS_FILE, VKEY_FILE};
pub use options::AutoCheckpoint;
pub use verify::{VerifyPhase, VerifyProgress, VerifyReport};
// Retention, legal holds and purge (docs/RETENTION.md); system records (docs/FORMAT.md).
pub mod retention;
pub mod system;
pub use log::{Log, LogIter, LogStats, LOCK_FILE};
pub use manifest::{Manifest, FORMAT_VERSION, MANIFEST_FILE};
pub use options::{Durability, LogOptions, Preallocation};
pub use record::{Receipt, Record};
pub use recovery::{RecoveryReport, TornTail};
pub use retention::{HoldId, LegalHold, PurgeReport, RetentionPolicy};
pub use system::SYSTEM_RECORD_PREFIX;
