//! Hashes of incomplete (right-edge) subtrees computed for proofs, kept for the next proof at
//! the same tree size.
//!
//! A proof in a tree whose size is not a power of two needs the hashes of ranges
//! `[start, size)` along the tree's right edge; each is folded from up to log2(n) stored
//! subtree hashes (one node hash per fold). Proofs are mostly asked at one size, the latest
//! checkpoint's, where these ranges are the same for every proof: at most one per level.
//! Stored hashes never change below the tree's length except through `truncate`, which
//! clears this cache under the maps' write lock, so an entry is never stale.

use crate::hash::Hash;

/// Right-edge ranges of one size: at most one per level.
const ENTRIES_MAX: usize = 64;

/// Cached hashes of ranges `[start, end)` for one `end`.
#[derive(Debug, Default)]
pub(super) struct EdgeCache {
    end: u64,
    entries: Vec<(u64, Hash)>,
}

impl EdgeCache {
    /// The hash of `[start, end)`, if cached.
    pub(super) fn get(&self, start: u64, end: u64) -> Option<Hash> {
        if self.end != end {
            return None;
        }
        self.entries.iter().find(|(s, _)| *s == start).map(|(_, h)| *h)
    }

    /// Remembers the hash of `[start, end)`; a new `end` replaces the cached size.
    pub(super) fn insert(&mut self, start: u64, end: u64, hash: Hash) {
        if self.end != end {
            self.end = end;
            self.entries.clear();
        }
        if self.entries.len() < ENTRIES_MAX && self.get(start, end).is_none() {
            self.entries.push((start, hash));
        }
    }

    /// Forgets everything (the tree was cut).
    pub(super) fn clear(&mut self) {
        self.entries.clear();
        self.end = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_kept_per_size_and_cleared() {
        let mut cache = EdgeCache::default();
        let h = Hash([7; 32]);
        cache.insert(4, 7, h);
        assert_eq!(cache.get(4, 7), Some(h));
        assert_eq!(cache.get(4, 8), None, "another size");
        assert_eq!(cache.get(6, 7), None, "another range");
        cache.insert(8, 9, Hash([1; 32]));
        assert_eq!(cache.get(4, 7), None, "a new size replaces the old one");
        cache.clear();
        assert_eq!(cache.get(8, 9), None);
    }
}
