//! Inclusion and consistency proofs from the log's stored tree (RFC 6962), checked by the
//! pure verifier in [`crate::merkle`].

use crate::error::LogError;
use crate::log::Log;
use crate::merkle::{ConsistencyProof, InclusionProof};
use crate::tree_store::TreeStore;

impl Log {
    /// Proof that record `index` is leaf `index` of the tree of the first `size` records.
    /// O(log n) reads of stored hashes. [`LogError::SizeOutOfRange`] if `size > len()`,
    /// [`LogError::LeafNotInTree`] if `index >= size`.
    pub fn prove_inclusion(&self, index: u64, size: u64) -> Result<InclusionProof, LogError> {
        let tree = self.proof_tree(size)?;
        if index >= size {
            return Err(LogError::LeafNotInTree { index, size });
        }
        Ok(InclusionProof {
            algorithm: self.hash_algorithm(),
            leaf_index: index,
            tree_size: size,
            leaf_hash: tree.leaf_hash(index)?,
            path: tree.inclusion_path(index, size)?,
        })
    }

    /// Proof that the tree of the first `new_size` records extends the tree of the first
    /// `old_size` records. [`LogError::InvalidConsistencyRange`] unless
    /// `0 < old_size <= new_size`; [`LogError::SizeOutOfRange`] if `new_size > len()`.
    pub fn prove_consistency(
        &self,
        old_size: u64,
        new_size: u64,
    ) -> Result<ConsistencyProof, LogError> {
        if old_size == 0 || old_size > new_size {
            return Err(LogError::InvalidConsistencyRange { old_size, new_size });
        }
        let tree = self.proof_tree(new_size)?;
        Ok(ConsistencyProof {
            algorithm: self.hash_algorithm(),
            size1: old_size,
            size2: new_size,
            path: tree.consistency_path(old_size, new_size)?,
        })
    }

    /// The tree store, if it holds `size` leaves.
    fn proof_tree(&self, size: u64) -> Result<&TreeStore, LogError> {
        let len = self.len();
        if size > len {
            return Err(LogError::SizeOutOfRange { size, len });
        }
        let tree = self.tree().ok_or(LogError::NoMerkleIndex)?;
        if size > tree.len() {
            // A read-only handle whose tree lags the writer's unsynced leaves.
            return Err(LogError::SizeOutOfRange { size, len: tree.len() });
        }
        Ok(tree)
    }
}
