//! Roots and proofs over the stored tree: argument checks, then `merkle::tree_math`.
//!
//! `tree_math` folds every right-edge subtree from complete ones, and successive steps of one
//! proof ask for the same complete subtrees again (O(log² n) requests). [`Memo`] remembers the
//! hashes read during one call, so each distinct subtree is read once: O(log n) reads.

use super::{TreeStore, TreeStoreError};
use crate::hash::{Hash, HashAlgorithm};
use crate::merkle::{tree_math, SubtreeHashes};
use std::cell::RefCell;

/// Distinct subtrees one proof can touch: at most one complete sibling per level plus one
/// piece per set bit of each size involved (two sizes for a consistency proof).
const MEMO_ENTRIES_MAX: usize = 3 * 64;

/// Remembers the subtree hashes read during one proof; lives for one call only.
pub(crate) struct Memo<'a, S> {
    inner: &'a S,
    seen: RefCell<Vec<(u32, u64, Hash)>>,
}

impl<'a, S: SubtreeHashes> Memo<'a, S> {
    pub(crate) fn new(inner: &'a S) -> Self {
        Memo { inner, seen: RefCell::new(Vec::new()) }
    }
}

impl<S: SubtreeHashes> SubtreeHashes for Memo<'_, S> {
    type Error = S::Error;

    fn subtree_hash(&self, level: u32, index: u64) -> Result<Hash, Self::Error> {
        let found = self.seen.borrow().iter().find(|e| e.0 == level && e.1 == index).map(|e| e.2);
        if let Some(hash) = found {
            return Ok(hash);
        }
        let hash = self.inner.subtree_hash(level, index)?;
        let mut seen = self.seen.borrow_mut();
        // Beyond the bound (never reached by the RFC 6962 walks) it just stops remembering.
        if seen.len() < MEMO_ENTRIES_MAX {
            seen.push((level, index, hash));
        }
        Ok(hash)
    }
}

/// Audit path with the reads memoised; `index < size` is checked by the caller.
pub(crate) fn inclusion_path_memo<S: SubtreeHashes>(
    alg: HashAlgorithm,
    store: &S,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, S::Error> {
    tree_math::inclusion_path(alg, &Memo::new(store), index, size)
}

/// Consistency proof with the reads memoised; `0 < old_size <= new_size` is checked by the
/// caller.
pub(crate) fn consistency_path_memo<S: SubtreeHashes>(
    alg: HashAlgorithm,
    store: &S,
    old_size: u64,
    new_size: u64,
) -> Result<Vec<Hash>, S::Error> {
    tree_math::consistency_path(alg, &Memo::new(store), old_size, new_size)
}

impl TreeStore {
    /// RFC 6962 root of the first `size` leaves (the empty-string hash for `size == 0`).
    /// Reads one stored hash per set bit of `size`.
    pub fn root(&self, size: u64) -> Result<Hash, TreeStoreError> {
        self.check_size(size)?;
        tree_math::root(self.alg, self, size)
    }

    /// RFC 6962 audit path (leaf to root) of leaf `index` in the tree of the first `size`
    /// leaves. O(log n) reads of stored hashes, no leaf re-hashed.
    pub fn inclusion_path(&self, index: u64, size: u64) -> Result<Vec<Hash>, TreeStoreError> {
        self.check_size(size)?;
        if index >= size {
            return Err(TreeStoreError::IndexOutOfRange { index, size });
        }
        inclusion_path_memo(self.alg, self, index, size)
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
        consistency_path_memo(self.alg, self, old_size, new_size)
    }

    fn check_size(&self, size: u64) -> Result<(), TreeStoreError> {
        let len = self.len();
        if size > len {
            return Err(TreeStoreError::SizeTooLarge { size, len });
        }
        Ok(())
    }
}
