//! Pure verification of RFC 6962 / RFC 9162 inclusion and consistency proofs.
//!
//! The algorithms follow RFC 9162 §2.1.3.2 and §2.1.4.2 in the decomposed form used by
//! transparency-dev/merkle (`proof/verify.go`): a path is split into an *inner* part, below the
//! point where the path to the leaf leaves the tree's right border, and a *border* part, whose
//! hashes are all left siblings. Every length is checked before any hash is computed, so a
//! malformed proof costs no hashing and never panics.

use crate::hash::{Hash, HashAlgorithm};

/// Why a proof does not verify. Returned by every function of this module.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// The leaf index is not inside the tree (`leaf_index >= tree_size`, which includes every
    /// index of the empty tree).
    #[error("leaf index {leaf_index} is outside a tree of size {tree_size}")]
    IndexOutOfRange {
        /// Index of the leaf, 0-based.
        leaf_index: u64,
        /// Number of leaves in the tree.
        tree_size: u64,
    },
    /// The path has the wrong number of hashes for the index and size (or sizes).
    #[error("proof has {got} hashes, expected {want}")]
    WrongPathLength {
        /// Hashes in the proof.
        got: usize,
        /// Hashes an RFC 6962 proof for these parameters has.
        want: usize,
    },
    /// A consistency proof from a larger tree to a smaller one.
    #[error("old tree size {size1} is larger than new tree size {size2}")]
    SizesOutOfOrder {
        /// The older (first) tree size.
        size1: u64,
        /// The newer (second) tree size.
        size2: u64,
    },
    /// A consistency proof from the empty tree to a non-empty one: RFC 6962 defines no such
    /// proof (every tree extends the empty tree), so a verifier that accepted one would accept
    /// any `root2`.
    #[error("consistency proof from the empty tree to size {size2} is meaningless")]
    EmptyOldTree {
        /// The newer tree size.
        size2: u64,
    },
    /// A root claimed for the empty tree is not the hash of the empty string.
    #[error("root {root} claimed for the empty tree is not the empty-tree hash")]
    EmptyTreeRootMismatch {
        /// The claimed root.
        root: Hash,
    },
    /// The leaf data given does not hash to the proof's leaf hash.
    #[error("leaf data hashes to {computed}, proof is for leaf hash {expected}")]
    LeafHashMismatch {
        /// Leaf hash carried by the proof.
        expected: Hash,
        /// Leaf hash computed from the data.
        computed: Hash,
    },
    /// The consistency proof does not lead to the old root.
    #[error("proof leads to old root {computed}, expected {expected}")]
    OldRootMismatch {
        /// The old root given to the verifier.
        expected: Hash,
        /// The old root recomputed from the proof.
        computed: Hash,
    },
    /// The proof leads to another root than the one given (the new root, for a consistency
    /// proof).
    #[error("proof leads to root {computed}, expected {expected}")]
    RootMismatch {
        /// The root given to the verifier.
        expected: Hash,
        /// The root recomputed from the proof.
        computed: Hash,
    },
}

/// Root of the tree of `tree_size` leaves implied by an inclusion proof of the leaf hash
/// `leaf_hash` at `leaf_index` (RFC 9162 §2.1.3.2). Fails on a malformed proof; the caller
/// compares the result with a trusted root ([`verify_inclusion`] does).
pub fn root_from_inclusion(
    alg: HashAlgorithm,
    leaf_index: u64,
    tree_size: u64,
    leaf_hash: &Hash,
    path: &[Hash],
) -> Result<Hash, ProofError> {
    if leaf_index >= tree_size {
        return Err(ProofError::IndexOutOfRange { leaf_index, tree_size });
    }
    let (inner, border) = decompose_inclusion(leaf_index, tree_size);
    check_len(path, inner + border)?;
    let (inner_path, border_path) = path.split_at(inner);
    let hash = chain_inner(alg, *leaf_hash, inner_path, leaf_index);
    Ok(chain_border_right(alg, hash, border_path))
}

/// Checks that `path` proves the leaf hash `leaf_hash` is leaf `leaf_index` of the tree of
/// `tree_size` leaves whose root is `root`.
///
/// ```
/// use coffre_log::{HashAlgorithm, merkle::{MemoryTree, verify_inclusion}};
/// let alg = HashAlgorithm::Sha256;
/// let mut tree = MemoryTree::new(alg);
/// for leaf in [b"a", b"b", b"c"] {
///     tree.push_leaf_hash(alg.leaf_hash(leaf));
/// }
/// let path = tree.inclusion_path(1, 3);
/// assert!(verify_inclusion(alg, 1, 3, &alg.leaf_hash(b"b"), &path, &tree.root(3)).is_ok());
/// assert!(verify_inclusion(alg, 1, 3, &alg.leaf_hash(b"x"), &path, &tree.root(3)).is_err());
/// ```
pub fn verify_inclusion(
    alg: HashAlgorithm,
    leaf_index: u64,
    tree_size: u64,
    leaf_hash: &Hash,
    path: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    let computed = root_from_inclusion(alg, leaf_index, tree_size, leaf_hash, path)?;
    check_root(computed, *root)
}

/// Root of the tree of `size2` leaves implied by a consistency proof from the tree of `size1`
/// leaves whose root is `root1` (RFC 9162 §2.1.4.2). Checks on the way that the proof leads
/// to `root1`. Equal sizes take an empty proof and give `root1` back.
pub fn root_from_consistency(
    alg: HashAlgorithm,
    size1: u64,
    size2: u64,
    root1: &Hash,
    path: &[Hash],
) -> Result<Hash, ProofError> {
    if size2 < size1 {
        return Err(ProofError::SizesOutOfOrder { size1, size2 });
    }
    if size1 == size2 {
        check_len(path, 0)?;
        // transparency-dev accepts any root for two empty trees; the empty tree has exactly
        // one root, so we hold it to that (its golden vectors expect the rejection too).
        if size1 == 0 && *root1 != alg.empty_root() {
            return Err(ProofError::EmptyTreeRootMismatch { root: *root1 });
        }
        return Ok(*root1);
    }
    if size1 == 0 {
        return Err(ProofError::EmptyOldTree { size2 });
    }

    let (inner, border) = decompose_inclusion(size1 - 1, size2);
    let shift = size1.trailing_zeros();
    // shift < inner whenever size1 < size2: the paths to size1 - 1 and size2 - 1 diverge
    // above the complete subtree of 2^shift leaves that ends the old tree.
    let inner = inner.saturating_sub(shift as usize);

    // The proof starts with the hash of that complete subtree, unless it is the whole old tree
    // (size1 a power of two), whose hash the verifier already holds as root1.
    let seeded_by_root1 = size1.is_power_of_two();
    let start = usize::from(!seeded_by_root1);
    check_len(path, start + inner + border)?;
    let (seed, path) = match path.split_first() {
        Some((first, rest)) if !seeded_by_root1 => (*first, rest),
        _ => (*root1, path),
    };
    let (inner_path, border_path) = path.split_at(inner);

    let mask = (size1 - 1) >> shift;
    // The old root (hash1) keeps only the left siblings of the inner path; the new root
    // (hash2) takes every sibling. The two chains are independent, so they are folded in one
    // loop: the CPU overlaps the two compressions of a level (proof checking is a chain of
    // node hashes and nothing else).
    let (mut hash1, mut hash2) = (seed, seed);
    for (level, sibling) in inner_path.iter().enumerate() {
        if (mask >> level) & 1 == 1 {
            hash1 = alg.node_hash(sibling, &hash1);
            hash2 = alg.node_hash(sibling, &hash2);
        } else {
            hash2 = alg.node_hash(&hash2, sibling);
        }
    }
    for sibling in border_path {
        hash1 = alg.node_hash(sibling, &hash1);
        hash2 = alg.node_hash(sibling, &hash2);
    }
    if hash1 != *root1 {
        return Err(ProofError::OldRootMismatch { expected: *root1, computed: hash1 });
    }
    Ok(hash2)
}

/// Checks that `path` proves the tree of `size2` leaves with root `root2` extends the tree of
/// `size1` leaves with root `root1`. Requires `0 < size1 <= size2`, or `size1 == size2 == 0`
/// with both roots the empty-tree hash.
///
/// ```
/// use coffre_log::{HashAlgorithm, merkle::{MemoryTree, verify_consistency}};
/// let alg = HashAlgorithm::Sha256;
/// let mut tree = MemoryTree::new(alg);
/// for i in 0u8..7 {
///     tree.push_leaf_hash(alg.leaf_hash(&[i]));
/// }
/// let path = tree.consistency_path(3, 7);
/// assert!(verify_consistency(alg, 3, 7, &tree.root(3), &tree.root(7), &path).is_ok());
/// assert!(verify_consistency(alg, 3, 7, &tree.root(4), &tree.root(7), &path).is_err());
/// ```
pub fn verify_consistency(
    alg: HashAlgorithm,
    size1: u64,
    size2: u64,
    root1: &Hash,
    root2: &Hash,
    path: &[Hash],
) -> Result<(), ProofError> {
    let computed = root_from_consistency(alg, size1, size2, root1, path)?;
    check_root(computed, *root2)
}

fn check_len(path: &[Hash], want: usize) -> Result<(), ProofError> {
    if path.len() == want {
        Ok(())
    } else {
        Err(ProofError::WrongPathLength { got: path.len(), want })
    }
}

fn check_root(computed: Hash, expected: Hash) -> Result<(), ProofError> {
    if computed == expected {
        Ok(())
    } else {
        Err(ProofError::RootMismatch { expected, computed })
    }
}

/// Lengths of the inner and border parts of the inclusion path of `index` in a tree of
/// `size` leaves (`index < size`). The inner part ends where the paths to `index` and to
/// `size - 1` meet.
fn decompose_inclusion(index: u64, size: u64) -> (usize, usize) {
    let inner = (u64::BITS - (index ^ (size - 1)).leading_zeros()) as usize;
    // Shifting a u64 by 64 would overflow; every bit is then inner and the border is empty.
    let border = index.checked_shr(inner as u32).unwrap_or(0).count_ones() as usize;
    (inner, border)
}

/// Folds `path` (lowest level first) onto `seed`, the node at `index` on its level: the
/// sibling is on the right where the index bit is 0.
fn chain_inner(alg: HashAlgorithm, seed: Hash, path: &[Hash], index: u64) -> Hash {
    path.iter().enumerate().fold(seed, |acc, (level, sibling)| {
        if (index >> level) & 1 == 0 {
            alg.node_hash(&acc, sibling)
        } else {
            alg.node_hash(sibling, &acc)
        }
    })
}

/// Folds border hashes, all left siblings of the tree's right border, onto `seed`.
fn chain_border_right(alg: HashAlgorithm, seed: Hash, path: &[Hash]) -> Hash {
    path.iter().fold(seed, |acc, sibling| alg.node_hash(sibling, &acc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::MemoryTree;

    fn tree(alg: HashAlgorithm, size: u64) -> MemoryTree {
        let mut t = MemoryTree::new(alg);
        for i in 0..size {
            t.push_leaf_hash(alg.leaf_hash(&i.to_le_bytes()));
        }
        t
    }

    #[test]
    fn every_inclusion_proof_of_small_trees_verifies_and_rejects_tampering() {
        let alg = HashAlgorithm::Blake3;
        let t = tree(alg, 40);
        for size in 1..=40u64 {
            let root = t.root(size);
            for index in 0..size {
                let leaf = alg.leaf_hash(&index.to_le_bytes());
                let mut path = t.inclusion_path(index, size);
                assert_eq!(verify_inclusion(alg, index, size, &leaf, &path, &root), Ok(()));
                let wrong_index = (index + 1) % size;
                if wrong_index != index {
                    assert!(verify_inclusion(alg, wrong_index, size, &leaf, &path, &root).is_err());
                }
                if let Some(first) = path.first_mut() {
                    first.0[0] ^= 1;
                    assert!(matches!(
                        verify_inclusion(alg, index, size, &leaf, &path, &root),
                        Err(ProofError::RootMismatch { .. })
                    ));
                }
            }
        }
    }

    #[test]
    fn every_consistency_proof_of_small_trees_verifies_and_rejects_tampering() {
        let alg = HashAlgorithm::Blake3;
        let t = tree(alg, 40);
        for size2 in 1..=40u64 {
            for size1 in 1..=size2 {
                let (r1, r2) = (t.root(size1), t.root(size2));
                let mut path = t.consistency_path(size1, size2);
                assert_eq!(verify_consistency(alg, size1, size2, &r1, &r2, &path), Ok(()));
                assert!(
                    verify_consistency(alg, size1, size2, &r2, &r1, &path).is_err() || r1 == r2
                );
                if let Some(last) = path.last_mut() {
                    last.0[31] ^= 0x80;
                    assert!(verify_consistency(alg, size1, size2, &r1, &r2, &path).is_err());
                }
            }
        }
    }

    #[test]
    fn malformed_parameters_are_typed_errors() {
        let alg = HashAlgorithm::Sha256;
        let h = alg.leaf_hash(b"x");
        assert_eq!(
            verify_inclusion(alg, 0, 0, &h, &[], &h),
            Err(ProofError::IndexOutOfRange { leaf_index: 0, tree_size: 0 })
        );
        assert_eq!(
            verify_inclusion(alg, 0, 1, &h, &[h], &h),
            Err(ProofError::WrongPathLength { got: 1, want: 0 })
        );
        assert_eq!(
            verify_consistency(alg, 3, 2, &h, &h, &[]),
            Err(ProofError::SizesOutOfOrder { size1: 3, size2: 2 })
        );
        assert_eq!(
            verify_consistency(alg, 0, 2, &h, &h, &[h]),
            Err(ProofError::EmptyOldTree { size2: 2 })
        );
        assert_eq!(
            verify_consistency(alg, 0, 0, &h, &h, &[]),
            Err(ProofError::EmptyTreeRootMismatch { root: h })
        );
        let empty = alg.empty_root();
        assert_eq!(verify_consistency(alg, 0, 0, &empty, &empty, &[]), Ok(()));
        assert_eq!(
            verify_consistency(alg, 2, 2, &h, &h, &[h]),
            Err(ProofError::WrongPathLength { got: 1, want: 0 })
        );
        assert_eq!(
            verify_consistency(alg, 3, 4, &h, &h, &[]),
            Err(ProofError::WrongPathLength { got: 0, want: 3 })
        );
    }

    #[test]
    fn extreme_sizes_do_not_panic() {
        let alg = HashAlgorithm::Sha256;
        let h = alg.leaf_hash(b"x");
        for (index, size) in [(u64::MAX - 1, u64::MAX), (0, u64::MAX), (1 << 63, u64::MAX)] {
            let r = verify_inclusion(alg, index, size, &h, &[h; 3], &h);
            assert!(matches!(r, Err(ProofError::WrongPathLength { .. })), "{r:?}");
        }
        for (s1, s2) in [(1, u64::MAX), (u64::MAX - 1, u64::MAX), (1 << 63, u64::MAX)] {
            let r = verify_consistency(alg, s1, s2, &h, &h, &[h; 2]);
            assert!(matches!(r, Err(ProofError::WrongPathLength { .. })), "{r:?}");
        }
    }
}
