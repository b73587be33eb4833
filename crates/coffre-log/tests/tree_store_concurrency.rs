//! Readers prove with `&self` while one writer appends; a read-only handle follows syncs.

use coffre_log::merkle::{MemoryTree, SubtreeHashes};
use coffre_log::tree_store::{TreeStore, TreeStoreError};
use coffre_log::{Hash, HashAlgorithm};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

const LEAVES: u64 = 3000;

fn leaves(alg: HashAlgorithm) -> Vec<Hash> {
    (0..LEAVES).map(|i| alg.leaf_hash(&i.to_le_bytes())).collect()
}

fn model(alg: HashAlgorithm, leaves: &[Hash]) -> MemoryTree {
    let mut model = MemoryTree::new(alg);
    leaves.iter().for_each(|&l| model.push_leaf_hash(l));
    model
}

/// Proves against whatever length the store shows now; returns whether it had any leaves.
fn prove_once(store: &TreeStore, model: &MemoryTree, round: u64) -> bool {
    let size = store.len();
    if size == 0 {
        return false;
    }
    let index = (round * 7919) % size;
    let old = 1 + (round * 104_729) % size;
    assert_eq!(store.root(size).unwrap(), model.root(size), "root at {size}");
    assert_eq!(store.inclusion_path(index, size).unwrap(), model.inclusion_path(index, size));
    assert_eq!(store.consistency_path(old, size).unwrap(), model.consistency_path(old, size));
    let want = match model.subtree_hash(0, index) {
        Ok(h) => h,
        Err(never) => match never {},
    };
    assert_eq!(store.leaf_hash(index).unwrap(), want);
    true
}

#[test]
fn readers_prove_consistently_while_one_writer_appends() {
    let alg = HashAlgorithm::Blake3;
    let dir = tempfile::tempdir().unwrap();
    let all = leaves(alg);
    let model = model(alg, &all);
    let store = Arc::new(TreeStore::create(dir.path(), alg).unwrap());
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let writer = {
            let store = Arc::clone(&store);
            let all = &all;
            let done = &done;
            scope.spawn(move || {
                let mut start = 0usize;
                let mut batch = 1usize;
                while start < all.len() {
                    let end = (start + batch).min(all.len());
                    store.append_leaves(&all[start..end]).unwrap();
                    if matches!(batch, 5 | 15 | 25 | 35) {
                        store.sync().unwrap();
                    }
                    start = end;
                    batch = batch % 37 + 1;
                }
                store.sync().unwrap();
                done.store(true, Ordering::Release);
            })
        };
        let readers: Vec<_> = (0..2u64)
            .map(|seed| {
                let store = Arc::clone(&store);
                let (model, done) = (&model, &done);
                scope.spawn(move || {
                    let mut proofs = 0u64;
                    let mut round = seed;
                    while !done.load(Ordering::Acquire) {
                        proofs += u64::from(prove_once(&store, model, round));
                        round += 1;
                    }
                    proofs
                })
            })
            .collect();
        writer.join().unwrap();
        for reader in readers {
            assert!(reader.join().unwrap() > 0, "a reader never saw a leaf");
        }
    });
    assert_eq!(store.len(), LEAVES);
    assert_eq!(store.root(LEAVES).unwrap(), model.root(LEAVES));
}

#[test]
fn a_read_only_handle_sees_synced_leaves_and_never_writes() {
    let alg = HashAlgorithm::Sha256;
    let dir = tempfile::tempdir().unwrap();
    let all = leaves(alg);
    let model = model(alg, &all);
    let writer = TreeStore::create(dir.path(), alg).unwrap();
    writer.append_leaves(&all[..100]).unwrap();
    writer.sync().unwrap();
    writer.append_leaves(&all[100..150]).unwrap();

    let reader = TreeStore::open_read_only(dir.path(), alg).unwrap();
    assert!(reader.is_read_only());
    assert_eq!(reader.len(), 100, "only synced leaves are visible");
    assert!(prove_once(&reader, &model, 3));
    assert!(matches!(reader.append_leaves(&all[..1]), Err(TreeStoreError::ReadOnly)));
    assert!(matches!(reader.sync(), Err(TreeStoreError::ReadOnly)));
    assert!(matches!(reader.truncate(0), Err(TreeStoreError::ReadOnly)));

    // The writer grows the tree past new levels (256, 512, ...) while the reader is open.
    for chunk in all[150..].chunks(311) {
        writer.append_leaves(chunk).unwrap();
        writer.sync().unwrap();
        let visible = reader.refresh().unwrap();
        assert_eq!(visible, writer.durable_len());
        for round in 0..20 {
            assert!(prove_once(&reader, &model, round));
        }
    }
    assert_eq!(reader.len(), LEAVES);
    reader.recompute_check(LEAVES).unwrap();
}

#[test]
fn tree_store_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<TreeStore>();
}
