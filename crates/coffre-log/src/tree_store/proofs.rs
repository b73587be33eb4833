//! Roots and proofs over the stored tree: argument checks, then `merkle::tree_math`.
//!
//! Each walk down the tree folds at most one right-edge subtree (one piece per set bit of the
//! size) and otherwise reads one complete sibling per level, so a proof costs at most about
//! 2·log2(n) reads of stored hashes (counted in `read_count_tests`).

use super::{TreeStore, TreeStoreError};
use crate::hash::Hash;
use crate::merkle::tree_math;

impl TreeStore {
    /// RFC 6962 root of the first `size` leaves (the empty-string hash for `size == 0`).
    /// Reads one stored hash per set bit of `size`.
    pub fn root(&self, size: u64) -> Result<Hash, TreeStoreError> {
        self.check_size(size)?;
        tree_math::root(self.alg, &self.reader(), size)
    }

    /// RFC 6962 audit path (leaf to root) of leaf `index` in the tree of the first `size`
    /// leaves. O(log n) reads of stored hashes, no leaf re-hashed.
    pub fn inclusion_path(&self, index: u64, size: u64) -> Result<Vec<Hash>, TreeStoreError> {
        self.check_size(size)?;
        if index >= size {
            return Err(TreeStoreError::IndexOutOfRange { index, size });
        }
        tree_math::inclusion_path(self.alg, &self.reader(), index, size)
    }

    /// RFC 6962 consistency proof from the tree of `old_size` leaves to the tree of
    /// `new_size` leaves; empty when the sizes are equal. O(log n) reads of stored hashes.
    pub fn consistency_path(
        &self,
        old_size: u64,
        new_size: u64,
    ) -> Result<Vec<Hash>, TreeStoreError> {
        self.check_size(new_size)?;
        if old_size == 0 || old_size > new_size {
            return Err(TreeStoreError::InvalidConsistencyRange { old_size, new_size });
        }
        tree_math::consistency_path(self.alg, &self.reader(), old_size, new_size)
    }

    fn check_size(&self, size: u64) -> Result<(), TreeStoreError> {
        let len = self.len();
        if size > len {
            return Err(TreeStoreError::SizeTooLarge { size, len });
        }
        Ok(())
    }
}
