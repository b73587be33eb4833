//! The leaf-hash stage of the write path: the BLAKE3/SHA-256 leaf hash of each record
//! (timestamp bytes, then payload) and the tree appends, run beside the committer's write and
//! `fdatasync` for large groups. See docs/ARCHITECTURE.md, "Write path".

use crate::commit::Payloads;
use crate::error::LogError;
use crate::hash::{Hash, HashAlgorithm};
use crate::tree_store::TreeStore;
use coffre_clock::Timestamp;

/// Records from which a group's leaves are hashed on a second thread: below it, a thread
/// spawn (tens of µs) costs more than the hashing it would hide (~0.4 µs per 256 B leaf).
pub(crate) const PARALLEL_RECORDS_MIN: usize = 128;

/// One request of a commit group, stamped: its payloads and one timestamp per payload.
pub(crate) struct Stamped {
    pub payloads: Payloads,
    pub stamps: Vec<Timestamp>,
}

/// Appends the leaf hash of every record of `group`, in index order, to `leaves` (hashed
/// several at a time, see `HashAlgorithm::leaf_hashes_into`).
pub(crate) fn hash_leaves(alg: HashAlgorithm, group: &[Stamped], leaves: &mut Vec<Hash>) {
    let stamps: Vec<_> = group.iter().flat_map(|r| r.stamps.iter().map(|t| t.to_bytes())).collect();
    let payloads = group.iter().flat_map(|r| (0..r.stamps.len()).map(|i| r.payloads.get(i)));
    let parts: Vec<[&[u8]; 2]> = stamps.iter().zip(payloads).map(|(t, p)| [&t[..], p]).collect();
    alg.leaf_hashes_into(&parts, leaves);
}

/// Hashes the group's leaves and appends them to `tree` (if any), in index order. Run while
/// the committer writes and syncs the same records: the caller cuts the tree back if the
/// group does not become durable, and publishes nothing before both sides are done.
pub(crate) fn hash_and_append(
    alg: HashAlgorithm,
    tree: Option<&TreeStore>,
    group: &[Stamped],
    mut leaves: Vec<Hash>,
) -> (Vec<Hash>, Result<(), LogError>) {
    hash_leaves(alg, group, &mut leaves);
    let appended = match tree {
        Some(tree) => tree.append_leaves(&leaves).map_err(LogError::from),
        None => Ok(()),
    };
    (leaves, appended)
}
