//! Proofs read O(log n) stored hashes: counted, not timed. The store's proof methods call
//! these same `tree_math` functions with the store itself.

use super::TreeStore;
use crate::hash::{Hash, HashAlgorithm};
use crate::merkle::{consistency_path, inclusion_path, MemoryTree, SubtreeHashes};
use std::cell::Cell;

/// Counts the reads that reach the store.
struct Counting<'a> {
    store: &'a TreeStore,
    reads: Cell<u64>,
}

impl SubtreeHashes for Counting<'_> {
    type Error = super::TreeStoreError;

    fn subtree_hash(&self, level: u32, index: u64) -> Result<Hash, Self::Error> {
        self.reads.set(self.reads.get() + 1);
        self.store.subtree_hash(level, index)
    }
}

fn ceil_log2(n: u64) -> u64 {
    u64::from(64 - (n - 1).leading_zeros())
}

fn build(alg: HashAlgorithm, n: u64) -> (tempfile::TempDir, TreeStore, MemoryTree) {
    let dir = tempfile::tempdir().unwrap();
    let store = TreeStore::create(dir.path(), alg).unwrap();
    let mut model = MemoryTree::new(alg);
    let leaves: Vec<Hash> = (0..n).map(|i| alg.leaf_hash(&i.to_le_bytes())).collect();
    store.append_leaves(&leaves).unwrap();
    leaves.iter().for_each(|&l| model.push_leaf_hash(l));
    (dir, store, model)
}

#[test]
fn inclusion_and_consistency_proofs_read_at_most_two_hashes_per_level() {
    let alg = HashAlgorithm::Blake3;
    let n = 1000u64;
    let (_dir, store, model) = build(alg, n);
    let mut worst_inclusion = 0;
    let mut worst_consistency = 0;
    for size in [1u64, 2, 3, 7, 255, 256, 257, 511, 683, 999, 1000] {
        let bound = 2 * ceil_log2(size.max(2)) + 1;
        for index in 0..size {
            let counting = Counting { store: &store, reads: Cell::new(0) };
            let path = inclusion_path(alg, &counting, index, size).unwrap();
            assert_eq!(path, model.inclusion_path(index, size));
            assert!(
                counting.reads.get() <= bound,
                "{} reads for {index}/{size}",
                counting.reads.get()
            );
            worst_inclusion = worst_inclusion.max(counting.reads.get());
        }
        for old in 1..=size {
            let counting = Counting { store: &store, reads: Cell::new(0) };
            let proof = consistency_path(alg, &counting, old, size).unwrap();
            assert_eq!(proof, model.consistency_path(old, size));
            assert!(
                counting.reads.get() <= bound,
                "{} reads for {old}->{size}",
                counting.reads.get()
            );
            worst_consistency = worst_consistency.max(counting.reads.get());
        }
    }
    // The bound is not vacuous: a tree this size needs several reads per proof.
    assert!(worst_inclusion >= ceil_log2(n));
    assert!(worst_consistency >= ceil_log2(n));
}

#[test]
fn proof_reads_grow_with_log_n_not_n() {
    let alg = HashAlgorithm::Blake3;
    let n = (1u64 << 16) - 1; // all bits set: the most right-edge pieces
    let (_dir, store, _model) = build(alg, n);
    for index in [0, 1, n / 3, n / 2, n - 2, n - 1] {
        let counting = Counting { store: &store, reads: Cell::new(0) };
        inclusion_path(alg, &counting, index, n).unwrap();
        assert!(counting.reads.get() <= 2 * 16, "{} reads for leaf {index}", counting.reads.get());
    }
    for old in [1, 2, 3, 1000, n / 2, n - 1] {
        let counting = Counting { store: &store, reads: Cell::new(0) };
        consistency_path(alg, &counting, old, n).unwrap();
        assert!(counting.reads.get() <= 2 * 16 + 1, "{} reads from {old}", counting.reads.get());
    }
}
