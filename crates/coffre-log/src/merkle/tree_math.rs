//! RFC 6962 §2.1 algorithms (MTH, PATH, PROOF) over any store of complete-subtree hashes.
//!
//! A *complete subtree* `(level, index)` covers the leaves `index << level .. (index + 1) << level`.
//! Every hash these algorithms need is a complete subtree or a right-edge subtree, and a
//! right-edge subtree is folded from at most `log2(n)` complete ones, so a proof costs
//! O(log² n) reads at worst and no leaf is re-hashed.

use crate::hash::{Hash, HashAlgorithm};

/// A source of complete-subtree hashes (the log's stored tree, or an in-memory one in tests).
pub trait SubtreeHashes {
    /// Error from the underlying store.
    type Error;

    /// Hash of the complete subtree of height `level` whose leaves start at `index << level`.
    /// Callers only ask for subtrees that lie entirely inside the tree.
    fn subtree_hash(&self, level: u32, index: u64) -> Result<Hash, Self::Error>;

    /// MTH of the leaves `start..end` (the ranges RFC 6962 recursion visits, see
    /// [`range_hash`]). The default folds complete subtrees; a store may answer the right-edge
    /// ranges of a size it was asked about before from a cache.
    fn range_hash(&self, alg: HashAlgorithm, start: u64, end: u64) -> Result<Hash, Self::Error>
    where
        Self: Sized,
    {
        range_hash(alg, self, start, end)
    }

    /// A hint that [`SubtreeHashes::range_hash`] of `start..end` follows soon: a store that
    /// reads from memory may start loading it, so the reads of one proof overlap instead of
    /// waiting for each other. Does nothing by default.
    fn prefetch_range(&self, _start: u64, _end: u64) {}
}

/// Largest power of two strictly less than `n` (for `n >= 2`).
pub(crate) fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// MTH of the leaves `start..end`, where `start` is a multiple of a power of two at least
/// `end - start` (true of every subtree RFC 6962 recursion visits), `end > start`.
pub fn range_hash<S: SubtreeHashes>(
    alg: HashAlgorithm,
    store: &S,
    start: u64,
    end: u64,
) -> Result<Hash, S::Error> {
    debug_assert!(end > start);
    // Decompose end - start into its binary digits from the largest: each is a complete,
    // aligned subtree; the RFC 6962 hash folds them from the right.
    let mut parts: [(u32, u64); 64] = [(0, 0); 64];
    let mut count = 0usize;
    let mut pos = start;
    let mut remaining = end - start;
    while remaining > 0 {
        let level = 63 - remaining.leading_zeros();
        parts[count] = (level, pos >> level);
        count += 1;
        pos += 1u64 << level;
        remaining -= 1u64 << level;
    }
    let (last_level, last_index) = parts[count - 1];
    let mut acc = store.subtree_hash(last_level, last_index)?;
    for &(level, index) in parts[..count - 1].iter().rev() {
        let left = store.subtree_hash(level, index)?;
        acc = alg.node_hash(&left, &acc);
    }
    Ok(acc)
}

/// Root of the tree of the first `size` leaves (the empty-string hash for `size == 0`).
pub fn root<S: SubtreeHashes>(alg: HashAlgorithm, store: &S, size: u64) -> Result<Hash, S::Error> {
    if size == 0 {
        return Ok(alg.empty_root());
    }
    store.range_hash(alg, 0, size)
}

/// RFC 6962 audit path of leaf `index` in the tree of `size` leaves, leaf to root order.
/// Requires `index < size`.
pub fn inclusion_path<S: SubtreeHashes>(
    alg: HashAlgorithm,
    store: &S,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, S::Error> {
    debug_assert!(index < size);
    for (start, end) in inclusion_siblings(index, size) {
        store.prefetch_range(start, end);
    }
    let mut path = Vec::with_capacity(64);
    for (start, end) in inclusion_siblings(index, size) {
        path.push(store.range_hash(alg, start, end)?);
    }
    // The walk goes from the root down; an audit path is in leaf-to-root order.
    path.reverse();
    Ok(path)
}

/// The leaf ranges of the siblings on leaf `index`'s audit path in the tree of `size`
/// leaves, from the root down.
fn inclusion_siblings(index: u64, size: u64) -> impl Iterator<Item = (u64, u64)> {
    let (mut start, mut end) = (0u64, size);
    std::iter::from_fn(move || {
        if end - start <= 1 {
            return None;
        }
        let k = split_point(end - start);
        Some(if index < start + k {
            let sibling = (start + k, end);
            end = start + k;
            sibling
        } else {
            let sibling = (start, start + k);
            start += k;
            sibling
        })
    })
}

/// RFC 6962 consistency proof from `old_size` to `new_size`. Requires
/// `0 < old_size <= new_size`; equal sizes give an empty proof.
pub fn consistency_path<S: SubtreeHashes>(
    alg: HashAlgorithm,
    store: &S,
    old_size: u64,
    new_size: u64,
) -> Result<Vec<Hash>, S::Error> {
    debug_assert!(0 < old_size && old_size <= new_size);
    for (start, end) in consistency_ranges(old_size, new_size) {
        store.prefetch_range(start, end);
    }
    let mut proof = Vec::with_capacity(64);
    for (start, end) in consistency_ranges(old_size, new_size) {
        proof.push(store.range_hash(alg, start, end)?);
    }
    // The walk goes from the root down; RFC 6962 lists the proof bottom up.
    proof.reverse();
    Ok(proof)
}

/// The leaf ranges whose hashes make the consistency proof from `old_size` to `new_size`,
/// from the root down (RFC 6962 section 2.1.2, SUBPROOF).
fn consistency_ranges(old_size: u64, new_size: u64) -> impl Iterator<Item = (u64, u64)> {
    let (mut start, mut end, mut m) = (0u64, new_size, old_size);
    let mut whole_old_tree = true;
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        let n = end - start;
        if m == n {
            done = true;
            if whole_old_tree {
                return None;
            }
            return Some((start, end));
        }
        let k = split_point(n);
        if m <= k {
            let range = (start + k, end);
            end = start + k;
            return Some(range);
        }
        let range = (start, start + k);
        start += k;
        m -= k;
        whole_old_tree = false;
        Some(range)
    })
}

/// An in-memory tree of leaf hashes, for tests and for small proofs built without a log.
#[derive(Debug, Clone)]
pub struct MemoryTree {
    alg: HashAlgorithm,
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    /// An empty tree.
    pub fn new(alg: HashAlgorithm) -> MemoryTree {
        MemoryTree { alg, levels: vec![Vec::new()] }
    }

    /// Appends a leaf hash, completing parent subtrees (O(1) amortised node hashes).
    pub fn push_leaf_hash(&mut self, leaf: Hash) {
        self.levels[0].push(leaf);
        let mut level = 0;
        while self.levels[level].len().is_multiple_of(2) {
            let n = self.levels[level].len();
            let parent = self.alg.node_hash(&self.levels[level][n - 2], &self.levels[level][n - 1]);
            if self.levels.len() == level + 1 {
                self.levels.push(Vec::new());
            }
            self.levels[level + 1].push(parent);
            level += 1;
        }
    }

    /// Number of leaves.
    pub fn len(&self) -> u64 {
        self.levels[0].len() as u64
    }

    /// Whether the tree has no leaves.
    pub fn is_empty(&self) -> bool {
        self.levels[0].is_empty()
    }

    /// Root at `size` (must be `<= len()`).
    pub fn root(&self, size: u64) -> Hash {
        match root(self.alg, self, size) {
            Ok(h) => h,
            Err(never) => match never {},
        }
    }

    /// Audit path of `index` in the tree of `size` leaves.
    pub fn inclusion_path(&self, index: u64, size: u64) -> Vec<Hash> {
        match inclusion_path(self.alg, self, index, size) {
            Ok(p) => p,
            Err(never) => match never {},
        }
    }

    /// Consistency proof between two sizes.
    pub fn consistency_path(&self, old_size: u64, new_size: u64) -> Vec<Hash> {
        match consistency_path(self.alg, self, old_size, new_size) {
            Ok(p) => p,
            Err(never) => match never {},
        }
    }
}

impl SubtreeHashes for MemoryTree {
    type Error = std::convert::Infallible;

    fn subtree_hash(&self, level: u32, index: u64) -> Result<Hash, Self::Error> {
        Ok(self.levels[level as usize][index as usize])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference MTH straight from RFC 6962 §2.1, recursive over the leaf hashes.
    fn reference_mth(alg: HashAlgorithm, leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => alg.empty_root(),
            1 => leaves[0],
            n => {
                let k = split_point(n as u64) as usize;
                alg.node_hash(&reference_mth(alg, &leaves[..k]), &reference_mth(alg, &leaves[k..]))
            }
        }
    }

    #[test]
    fn roots_match_the_recursive_definition() {
        for alg in [HashAlgorithm::Sha256, HashAlgorithm::Blake3] {
            let mut tree = MemoryTree::new(alg);
            let mut leaves = Vec::new();
            for i in 0u32..70 {
                let h = alg.leaf_hash(&i.to_le_bytes());
                leaves.push(h);
                tree.push_leaf_hash(h);
                for size in 0..=leaves.len() {
                    assert_eq!(tree.root(size as u64), reference_mth(alg, &leaves[..size]));
                }
            }
        }
    }

    #[test]
    fn rfc6962_sha256_root_of_known_leaves() {
        // Root of the 8 leaves used by the CT reference tests (certificate-transparency-go).
        let inputs: [&[u8]; 8] = [
            b"",
            b"\x00",
            b"\x10",
            b"\x20\x21",
            b"\x30\x31",
            b"\x40\x41\x42\x43",
            b"\x50\x51\x52\x53\x54\x55\x56\x57",
            b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
        ];
        let mut tree = MemoryTree::new(HashAlgorithm::Sha256);
        for i in inputs {
            tree.push_leaf_hash(HashAlgorithm::Sha256.leaf_hash(i));
        }
        assert_eq!(
            tree.root(8).to_hex(),
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
        );
    }
}
