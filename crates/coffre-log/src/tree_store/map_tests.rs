//! Hashes and proofs served through the level-file maps equal those served by `pread`,
//! across remaps on growth, syncs and a truncate that cuts durable leaves.

use super::format::entry_offset;
use super::TreeStore;
use crate::hash::{Hash, HashAlgorithm, HASH_LEN};
use crate::merkle::{MemoryTree, SubtreeHashes};

fn leaf(alg: HashAlgorithm, tag: u8, i: u64) -> Hash {
    alg.leaf_hash(&[&[tag][..], &i.to_le_bytes()].concat())
}

/// Every stored hash read through the store's reader (map when covered) equals the one read
/// by `pread`, and the model agrees; returns how many reads the maps served.
fn assert_map_matches_pread(store: &TreeStore, model: &MemoryTree) -> u64 {
    let len = store.len();
    assert_eq!(model.len(), len);
    let reader = store.reader();
    let mut mapped = 0;
    for level in 0..64u32 {
        for index in 0..len >> level {
            let mut by_pread = [0u8; HASH_LEN];
            store.read_entries_into(level, index, &mut by_pread).unwrap();
            let mut by_map = [0u8; HASH_LEN];
            if reader.maps.copy_at(level, entry_offset(index), &mut by_map) {
                assert_eq!(by_map, by_pread, "level {level} index {index}");
                mapped += 1;
            }
            let got = reader.subtree_hash(level, index).unwrap();
            assert_eq!(got, Hash(by_pread));
            assert_eq!(got, model.subtree_hash(level, index).unwrap());
        }
    }
    drop(reader);
    for size in [1, len / 3, len / 2 + 1, len - 1, len].into_iter().filter(|&s| s > 0) {
        assert_eq!(store.root(size).unwrap(), model.root(size));
        for index in [0, size / 2, size - 1] {
            assert_eq!(
                store.inclusion_path(index, size).unwrap(),
                model.inclusion_path(index, size)
            );
        }
        for old in [1, size / 2 + 1, size] {
            let old = old.min(size);
            assert_eq!(
                store.consistency_path(old, size).unwrap(),
                model.consistency_path(old, size)
            );
        }
    }
    mapped
}

#[test]
fn proofs_from_the_maps_equal_pread_proofs_across_sync_remap_and_truncate() {
    let alg = HashAlgorithm::Blake3;
    let dir = tempfile::tempdir().unwrap();
    let store = TreeStore::create(dir.path(), alg).unwrap();
    let mut model = MemoryTree::new(alg);
    let mut appended = 0u64;

    append(&store, &mut model, &mut appended, 0, 700);
    let first_capacity = covered_bytes(&store, 0);
    assert!(first_capacity >= entry_offset(700));
    let mapped = assert_map_matches_pread(&store, &model);
    assert_eq!(mapped, 2 * 700 - 700u64.count_ones() as u64, "every stored hash is mapped");

    // Past the first map of level 0 (64 KiB = ~2,000 hashes): a remap on growth.
    store.sync().unwrap();
    append(&store, &mut model, &mut appended, 0, 2900);
    assert!(covered_bytes(&store, 0) > first_capacity);
    assert!(covered_bytes(&store, 0) >= entry_offset(3600));
    assert_map_matches_pread(&store, &model);
    store.sync().unwrap();
    let reader = TreeStore::open_read_only(dir.path(), alg).unwrap();
    assert!(!reader.maps.read().covers(0, 1), "a read-only store never maps");
    assert_eq!(
        reader.inclusion_path(1234, 3600).unwrap(),
        store.inclusion_path(1234, 3600).unwrap()
    );
    assert_eq!(
        reader.consistency_path(77, 3600).unwrap(),
        store.consistency_path(77, 3600).unwrap()
    );

    // Cut durable leaves, then grow again with other leaves: nothing stale through the maps.
    store.truncate(1500).unwrap();
    let mut cut = MemoryTree::new(alg);
    (0..1500).for_each(|i| cut.push_leaf_hash(leaf(alg, 0, i)));
    assert_map_matches_pread(&store, &cut);
    appended = 1500;
    append(&store, &mut cut, &mut appended, 1, 2600);
    assert_map_matches_pread(&store, &cut);
    store.sync().unwrap();

    // Reopened: mapped from the start.
    drop(store);
    let store = TreeStore::open(dir.path(), alg).unwrap();
    assert!(covered_bytes(&store, 0) >= entry_offset(4100));
    assert_map_matches_pread(&store, &cut);
}

fn append(store: &TreeStore, model: &mut MemoryTree, appended: &mut u64, tag: u8, n: u64) {
    let alg = store.algorithm();
    let leaves: Vec<Hash> = (*appended..*appended + n).map(|i| leaf(alg, tag, i)).collect();
    store.append_leaves(&leaves).unwrap();
    leaves.iter().for_each(|&l| model.push_leaf_hash(l));
    *appended += n;
}

fn covered_bytes(store: &TreeStore, level: u32) -> u64 {
    let maps = store.maps.read();
    let mut bytes = 1u64;
    while maps.covers(level, bytes * 2) {
        bytes *= 2;
    }
    bytes
}

#[test]
fn a_store_on_a_backend_without_os_files_reads_with_pread() {
    let alg = HashAlgorithm::Sha256;
    let be: std::sync::Arc<dyn crate::backend::StorageBackend> =
        std::sync::Arc::new(crate::backend::sim::SimBackend::new(7));
    let dir = std::path::Path::new("/sim");
    be.create_dir_all(dir).unwrap();
    let store = TreeStore::create_with_backend(&be, dir, alg).unwrap();
    let mut model = MemoryTree::new(alg);
    let leaves: Vec<Hash> = (0..300).map(|i| leaf(alg, 2, i)).collect();
    store.append_leaves(&leaves).unwrap();
    leaves.iter().for_each(|&l| model.push_leaf_hash(l));
    assert_eq!(assert_map_matches_pread(&store, &model), 0, "nothing mapped");
}

#[test]
fn proofs_after_a_truncate_and_different_leaves_at_the_same_size_use_the_new_hashes() {
    // Right-edge hashes of a size are cached between proofs; a cut followed by other leaves
    // up to the same size must not serve the old ones.
    let alg = HashAlgorithm::Blake3;
    let dir = tempfile::tempdir().unwrap();
    let store = TreeStore::create(dir.path(), alg).unwrap();
    let (mut model, mut appended) = (MemoryTree::new(alg), 0);
    append(&store, &mut model, &mut appended, 1, 1000);
    for index in [0, 500, 999] {
        assert_eq!(store.inclusion_path(index, 1000).unwrap(), model.inclusion_path(index, 1000));
    }
    assert_eq!(store.consistency_path(3, 1000).unwrap(), model.consistency_path(3, 1000));
    store.truncate(900).unwrap();
    let mut other = MemoryTree::new(alg);
    (0..900).for_each(|i| other.push_leaf_hash(leaf(alg, 1, i)));
    let mut at = 900;
    append(&store, &mut other, &mut at, 9, 100);
    assert_ne!(other.root(1000), model.root(1000), "the test needs different leaves");
    assert_eq!(store.root(1000).unwrap(), other.root(1000));
    for index in [0, 500, 950, 999] {
        assert_eq!(store.inclusion_path(index, 1000).unwrap(), other.inclusion_path(index, 1000));
    }
    assert_eq!(store.consistency_path(3, 1000).unwrap(), other.consistency_path(3, 1000));
}

/// The store of `sim_store`'s disk, reopened after a power loss.
fn reopened_after_power_loss(
    sim: &std::sync::Arc<crate::backend::sim::SimBackend>,
    store: TreeStore,
) -> TreeStore {
    let alg = store.algorithm();
    drop(store);
    sim.power_loss();
    let be: std::sync::Arc<dyn crate::backend::StorageBackend> = sim.clone();
    TreeStore::open_with_backend(&be, std::path::Path::new("/sim"), alg).unwrap()
}

/// A store on a fresh simulated disk holding `n` leaves tagged `tag`, and its model.
fn sim_store(
    alg: HashAlgorithm,
    tag: u8,
    n: u64,
) -> (std::sync::Arc<crate::backend::sim::SimBackend>, TreeStore, MemoryTree) {
    let sim = std::sync::Arc::new(crate::backend::sim::SimBackend::new(11));
    let be: std::sync::Arc<dyn crate::backend::StorageBackend> = sim.clone();
    let dir = std::path::Path::new("/sim");
    be.create_dir_all(dir).unwrap();
    let store = TreeStore::create_with_backend(&be, dir, alg).unwrap();
    let (mut model, mut appended) = (MemoryTree::new(alg), 0);
    append(&store, &mut model, &mut appended, tag, n);
    (sim, store, model)
}

#[test]
fn a_concurrent_sync_makes_every_leaf_before_it_survive_a_power_loss() {
    let alg = HashAlgorithm::Blake3;
    let (sim, store, synced) = sim_store(alg, 3, 5000);
    store.sync_concurrently().unwrap();
    assert_eq!(store.durable_len(), 5000);
    // Leaves after the sync are not vouched for; the power loss may take them.
    let more: Vec<Hash> = (5000..5700).map(|i| leaf(alg, 3, i)).collect();
    store.append_leaves(&more).unwrap();
    let reopened = survives_a_power_loss_with(&sim, store, &synced, 5000);
    assert_eq!(reopened.inclusion_path(4321, 5000).unwrap(), synced.inclusion_path(4321, 5000));
}

#[test]
fn a_failed_concurrent_sync_poisons_the_store() {
    let alg = HashAlgorithm::Sha256;
    let (sim, store, _) = sim_store(alg, 4, 300);
    sim.inject(crate::backend::sim::FaultOp::Sync, 1, crate::backend::sim::FaultError::Eio);
    assert!(store.sync_concurrently().is_err());
    assert_eq!(store.durable_len(), 0, "nothing vouched for after the failure");
    assert!(matches!(
        store.append_leaves(&[leaf(alg, 4, 300)]),
        Err(super::TreeStoreError::Poisoned)
    ));
    assert!(matches!(store.sync(), Err(super::TreeStoreError::Poisoned)));
}

/// Reopens `store` after a power loss and checks it holds exactly the first `len` leaves of
/// `model`.
fn survives_a_power_loss_with(
    sim: &std::sync::Arc<crate::backend::sim::SimBackend>,
    store: TreeStore,
    model: &MemoryTree,
    len: u64,
) -> TreeStore {
    let reopened = reopened_after_power_loss(sim, store);
    assert_eq!(reopened.len(), len);
    assert_eq!(reopened.root(len).unwrap(), model.root(len));
    reopened
}

fn in_the_concurrent_sync_window(
    store: &TreeStore,
    hook: impl FnOnce(&TreeStore) + Send + 'static,
) {
    *store.before_concurrent_head.lock() = Some(Box::new(hook));
}

#[test]
fn leaves_appended_during_a_concurrent_sync_are_left_to_the_next_one() {
    let alg = HashAlgorithm::Blake3;
    let (sim, store, model) = sim_store(alg, 5, 5000);
    in_the_concurrent_sync_window(&store, |s| {
        let more: Vec<Hash> = (5000..5700).map(|i| leaf(s.algorithm(), 5, i)).collect();
        s.append_leaves(&more).unwrap();
    });
    store.sync_concurrently().unwrap();
    assert_eq!(store.len(), 5700);
    assert_eq!(store.durable_len(), 5000, "the head vouches only for the snapshot");
    survives_a_power_loss_with(&sim, store, &model, 5000);
}

#[test]
fn a_truncate_during_a_concurrent_sync_cancels_its_head() {
    let alg = HashAlgorithm::Blake3;
    let (sim, store, model) = sim_store(alg, 6, 5000);
    in_the_concurrent_sync_window(&store, |s| s.truncate(3000).unwrap());
    store.sync_concurrently().unwrap();
    assert_eq!(store.len(), 3000);
    assert_eq!(store.durable_len(), 0, "no head for 5000 leaves over files cut to 3000");
    store.sync().unwrap();
    assert_eq!(store.durable_len(), 3000);
    survives_a_power_loss_with(&sim, store, &model, 3000);
}

#[test]
fn a_panic_during_a_concurrent_sync_poisons_the_store() {
    let alg = HashAlgorithm::Sha256;
    let (_sim, store, _) = sim_store(alg, 7, 100);
    in_the_concurrent_sync_window(&store, |_| panic!("injected"));
    let unwound =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| store.sync_concurrently()));
    assert!(unwound.is_err());
    // The levels it was syncing are no longer marked: no later sync may write a head.
    assert!(matches!(store.sync(), Err(super::TreeStoreError::Poisoned)));
    assert_eq!(store.durable_len(), 0);
}

#[test]
fn a_read_only_store_refuses_a_concurrent_sync_without_poisoning_itself() {
    let alg = HashAlgorithm::Blake3;
    let dir = tempfile::tempdir().unwrap();
    let store = TreeStore::create(dir.path(), alg).unwrap();
    store.append_leaves(&[leaf(alg, 8, 0)]).unwrap();
    store.sync().unwrap();
    let reader = TreeStore::open_read_only(dir.path(), alg).unwrap();
    assert!(matches!(reader.sync_concurrently(), Err(super::TreeStoreError::ReadOnly)));
    assert!(!reader.poisoned.load(std::sync::atomic::Ordering::Acquire));
}

#[test]
fn a_prefetch_hint_past_the_length_touches_nothing() {
    // A level file's map spans at least 64 KiB, past the end of the file; a byte of the map on
    // a page wholly past the end would raise SIGBUS if touched, so hints must keep to the
    // entries below the length, as reads do. With 127 leaves, level 0 ends exactly at a page
    // boundary (32-byte header + 127 entries = 4,096 bytes): a hint for entry 127 (an
    // off-by-one bound) would touch the next page.
    let alg = HashAlgorithm::Sha256;
    for leaves in [5u64, 127] {
        let dir = tempfile::tempdir().unwrap();
        let store = TreeStore::create(dir.path(), alg).unwrap();
        let hashes: Vec<Hash> = (0..leaves).map(|i| leaf(alg, 7, i)).collect();
        store.append_leaves(&hashes).unwrap();
        let reader = store.reader();
        assert!(reader.maps.covers(0, entry_offset(1024)), "the test needs a map past the file");
        let past = [(leaves, leaves + 1), (1000, 1001), (1024, 2048), (0, 256), (128, 256)];
        for (start, end) in past {
            reader.prefetch_range(start, end);
        }
        // Hints inside the tree are only hints: the hashes read afterwards are the same.
        for (start, end) in [(0, 4), (4, 5), (0, leaves.next_power_of_two() / 2)] {
            reader.prefetch_range(start, end);
        }
        drop(reader);
        let mut model = MemoryTree::new(alg);
        hashes.iter().for_each(|&h| model.push_leaf_hash(h));
        assert_map_matches_pread(&store, &model);
    }
}
