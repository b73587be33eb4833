//! Coffre's core: a durable, segmented, write-once log with an RFC 6962 Merkle index,
//! standard inclusion and consistency proofs, and signed checkpoints (C2SP formats).
//!
//! Verification code ([`merkle`], [`note`], [`checkpoint`]) is pure: it does no I/O and can
//! be used by an auditor's program without opening a log.

pub mod hash;
pub mod merkle;
pub mod note;
pub mod tree_store;

pub use hash::{Hash, HashAlgorithm, HASH_LEN};
