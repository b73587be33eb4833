//! The benchmark-only `merkle_index: false` / `receipt_leaf_hash: false` options: records are
//! kept as usual, tree operations are refused with a typed error, and the next open with a
//! tree rebuilds the leaves it lacks.

use coffre_log::{Log, LogError, LogOptions};

fn no_tree() -> LogOptions {
    LogOptions { merkle_index: false, ..LogOptions::default() }
}

#[test]
fn without_merkle_index_records_are_kept_and_tree_operations_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::create(dir.path(), no_tree()).unwrap();
    let receipt = log.append(b"one").unwrap();
    log.append_batch(&[b"two".to_vec(), b"three".to_vec()]).unwrap();
    assert_eq!(log.len(), 3);
    assert_eq!(log.read(2).unwrap().payload, b"three");
    // The leaf hash is still computed for the receipt.
    assert_ne!(receipt.leaf_hash.0, [0u8; 32]);
    assert!(matches!(log.root(3), Err(LogError::NoMerkleIndex)));
    assert!(matches!(log.prove_inclusion(0, 3), Err(LogError::NoMerkleIndex)));
    assert!(matches!(log.prove_consistency(1, 3), Err(LogError::NoMerkleIndex)));
}

#[test]
fn storage_only_receipts_carry_a_zero_leaf_hash() {
    let dir = tempfile::tempdir().unwrap();
    let opts = LogOptions { receipt_leaf_hash: false, ..no_tree() };
    let log = Log::create(dir.path(), opts).unwrap();
    assert_eq!(log.append(b"x").unwrap().leaf_hash.0, [0u8; 32]);
}

#[test]
fn receipt_leaf_hash_is_ignored_while_the_tree_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let opts = LogOptions { receipt_leaf_hash: false, ..LogOptions::default() };
    let log = Log::create(dir.path(), opts).unwrap();
    let receipt = log.append(b"x").unwrap();
    assert_ne!(receipt.leaf_hash.0, [0u8; 32]);
    assert_eq!(log.root(1).unwrap(), receipt.leaf_hash);
}

#[test]
fn reopening_with_the_tree_rebuilds_the_leaves_appended_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let bare = Log::create(dir.path(), no_tree()).unwrap();
    let receipts: Vec<_> = (0..50u32).map(|i| bare.append(&i.to_le_bytes()).unwrap()).collect();
    drop(bare);
    let (reopened, report) = Log::open(dir.path(), LogOptions::default()).unwrap();
    assert_eq!(report.tree_leaves_rehashed, 50);
    for r in &receipts {
        assert_eq!(reopened.prove_inclusion(r.index, 50).unwrap().leaf_hash, r.leaf_hash);
    }
    assert_eq!(reopened.verify(&|_| {}).unwrap().records, 50);
}
