//! After a crash only `durable_len` leaves are trusted; whatever the level files hold beyond
//! them (garbage, zeros, torn hashes, nothing) is cut, and appending continues like the model.

use coffre_log::merkle::MemoryTree;
use coffre_log::tree_store::TreeStore;
use coffre_log::{Hash, HashAlgorithm};
use proptest::prelude::*;
use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

const HEADER_LEN: u64 = 32;

fn leaf(alg: HashAlgorithm, i: u64) -> Hash {
    alg.leaf_hash(&i.to_le_bytes())
}

fn level_path(dir: &Path, level: u32) -> PathBuf {
    dir.join("tree").join(format!("level-{level:02}.hashes"))
}

#[derive(Debug, Clone, Copy)]
enum Damage {
    /// Unsynced writes lost: files end where the head says.
    Cut,
    /// Pseudo-random bytes over everything past the durable hashes, and a bit more.
    Garbage(u8),
    /// The file size grew but the data never landed: zeros.
    Zeros,
    /// A torn final hash: a length that is not a whole number of hashes.
    Ragged,
}

/// What a crash may leave past the durable hashes of every level file.
fn crash(dir: &Path, durable: u64, damage: Damage) {
    for level in 0..64u32 {
        let path = level_path(dir, level);
        let Ok(file) = OpenOptions::new().read(true).write(true).open(&path) else { continue };
        let keep = HEADER_LEN + (durable >> level) * 32;
        let size = file.metadata().unwrap().len();
        match damage {
            Damage::Cut => file.set_len(keep).unwrap(),
            Damage::Garbage(seed) => {
                let extra = 96 + u64::from(seed);
                let bytes: Vec<u8> = (0..size.max(keep) - keep + extra)
                    .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
                    .collect();
                file.write_all_at(&bytes, keep).unwrap();
            }
            Damage::Zeros => {
                file.set_len(keep).unwrap();
                file.set_len(keep + 5 * 32).unwrap();
            }
            Damage::Ragged => file.set_len(keep + 17).unwrap(),
        }
    }
}

fn model_of(alg: HashAlgorithm, leaves: &[Hash]) -> MemoryTree {
    let mut model = MemoryTree::new(alg);
    leaves.iter().for_each(|&l| model.push_leaf_hash(l));
    model
}

fn assert_matches(store: &TreeStore, model: &MemoryTree) {
    assert_eq!(store.len(), model.len());
    let len = model.len();
    for size in 1..=len {
        assert_eq!(store.root(size).unwrap(), model.root(size), "root at {size}");
    }
    for index in 0..len {
        assert_eq!(store.inclusion_path(index, len).unwrap(), model.inclusion_path(index, len));
    }
    for old in 1..=len {
        assert_eq!(store.consistency_path(old, len).unwrap(), model.consistency_path(old, len));
    }
    store.recompute_check(len).unwrap();
}

fn recover_and_continue(alg: HashAlgorithm, damage: Damage) {
    let dir = tempfile::tempdir().unwrap();
    let leaves: Vec<Hash> = (0..300).map(|i| leaf(alg, i)).collect();
    let store = TreeStore::create(dir.path(), alg).unwrap();
    store.append_leaves(&leaves[..100]).unwrap();
    store.sync().unwrap();
    // Unsynced: grows the tree past 128 and 256 leaves, creating new level files.
    store.append_leaves(&leaves[100..290]).unwrap();
    drop(store);
    crash(dir.path(), 100, damage);

    let store = TreeStore::open(dir.path(), alg).unwrap();
    assert_eq!(store.durable_len(), 100);
    assert_eq!(store.len(), 100);
    assert_matches(&store, &model_of(alg, &leaves[..100]));
    // The log re-appends the leaf hashes of its records beyond the durable count.
    store.append_leaves(&leaves[100..]).unwrap();
    assert_matches(&store, &model_of(alg, &leaves));
    store.sync().unwrap();
    drop(store);
    let store = TreeStore::open(dir.path(), alg).unwrap();
    assert_matches(&store, &model_of(alg, &leaves));
}

#[test]
fn lost_unsynced_writes_recover_to_durable_len() {
    recover_and_continue(HashAlgorithm::Blake3, Damage::Cut);
}

#[test]
fn garbage_past_the_durable_hashes_is_cut() {
    recover_and_continue(HashAlgorithm::Sha256, Damage::Garbage(7));
}

#[test]
fn zeros_past_the_durable_hashes_are_cut() {
    recover_and_continue(HashAlgorithm::Blake3, Damage::Zeros);
}

#[test]
fn a_torn_final_hash_is_cut() {
    recover_and_continue(HashAlgorithm::Blake3, Damage::Ragged);
}

#[test]
fn a_torn_header_of_an_unsynced_new_level_file_is_rewritten() {
    let alg = HashAlgorithm::Blake3;
    let dir = tempfile::tempdir().unwrap();
    let leaves: Vec<Hash> = (0..40).map(|i| leaf(alg, i)).collect();
    let store = TreeStore::create(dir.path(), alg).unwrap();
    store.append_leaves(&leaves[..10]).unwrap();
    store.sync().unwrap();
    store.append_leaves(&leaves[10..]).unwrap(); // creates levels 4 and 5
    drop(store);
    let torn = OpenOptions::new().write(true).open(level_path(dir.path(), 5)).unwrap();
    torn.set_len(11).unwrap();
    torn.write_all_at(&[0xAB; 11], 0).unwrap();
    crash(dir.path(), 10, Damage::Garbage(3));

    let store = TreeStore::open(dir.path(), alg).unwrap();
    assert_eq!(store.len(), 10);
    store.append_leaves(&leaves[10..]).unwrap();
    store.sync().unwrap();
    drop(store);
    let store = TreeStore::open(dir.path(), alg).unwrap();
    assert_matches(&store, &model_of(alg, &leaves));
}

#[test]
fn a_torn_head_write_falls_back_to_the_previous_durable_count() {
    let alg = HashAlgorithm::Blake3;
    let dir = tempfile::tempdir().unwrap();
    let leaves: Vec<Hash> = (0..30).map(|i| leaf(alg, i)).collect();
    let store = TreeStore::create(dir.path(), alg).unwrap();
    store.append_leaves(&leaves[..10]).unwrap();
    store.sync().unwrap(); // head sequence 1, second slot
    store.append_leaves(&leaves[10..25]).unwrap();
    store.sync().unwrap(); // head sequence 2, first slot
    drop(store);
    // The second sync's head write tore: its slot is half old, half new.
    let head = OpenOptions::new().write(true).open(dir.path().join("tree/head")).unwrap();
    head.write_all_at(&[0x5A; 20], 30).unwrap();

    let store = TreeStore::open(dir.path(), alg).unwrap();
    assert_eq!(store.durable_len(), 10);
    assert_matches(&store, &model_of(alg, &leaves[..10]));
    store.append_leaves(&leaves[10..]).unwrap();
    assert_matches(&store, &model_of(alg, &leaves));
}

#[test]
fn truncating_durable_leaves_survives_a_crash_after_new_appends() {
    let alg = HashAlgorithm::Sha256;
    let dir = tempfile::tempdir().unwrap();
    let old: Vec<Hash> = (0..50).map(|i| leaf(alg, i)).collect();
    let new: Vec<Hash> = (500..530).map(|i| leaf(alg, i)).collect();
    let store = TreeStore::create(dir.path(), alg).unwrap();
    store.append_leaves(&old).unwrap();
    store.sync().unwrap();
    store.truncate(20).unwrap();
    store.append_leaves(&new).unwrap(); // overwrites durable positions 20..50, unsynced
    drop(store);
    crash(dir.path(), 20, Damage::Garbage(1));

    let store = TreeStore::open(dir.path(), alg).unwrap();
    assert_eq!(store.durable_len(), 20, "the head was lowered before old hashes were overwritten");
    assert_matches(&store, &model_of(alg, &old[..20]));
}

#[derive(Debug, Clone)]
enum Step {
    Append(u8),
    Sync,
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        Just(Damage::Cut),
        any::<u8>().prop_map(Damage::Garbage),
        Just(Damage::Zeros),
        Just(Damage::Ragged),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn any_crash_recovers_to_the_last_sync_and_continues_like_the_model(
        steps in proptest::collection::vec(
            prop_oneof![3 => (0u8..20).prop_map(Step::Append), 1 => Just(Step::Sync)],
            1..12,
        ),
        damage in damage(),
    ) {
        let alg = HashAlgorithm::Blake3;
        let dir = tempfile::tempdir().unwrap();
        let store = TreeStore::create(dir.path(), alg).unwrap();
        let mut leaves = Vec::new();
        let mut synced = 0u64;
        for step in steps {
            match step {
                Step::Append(count) => {
                    let start = leaves.len() as u64;
                    let batch: Vec<Hash> =
                        (start..start + u64::from(count)).map(|i| leaf(alg, i)).collect();
                    store.append_leaves(&batch).unwrap();
                    leaves.extend(batch);
                }
                Step::Sync => {
                    store.sync().unwrap();
                    synced = leaves.len() as u64;
                }
            }
        }
        prop_assert_eq!(store.durable_len(), synced);
        drop(store);
        crash(dir.path(), synced, damage);
        let store = TreeStore::open(dir.path(), alg).unwrap();
        prop_assert_eq!(store.len(), synced);
        assert_matches(&store, &model_of(alg, &leaves[..synced as usize]));
        store.append_leaves(&leaves[synced as usize..]).unwrap();
        assert_matches(&store, &model_of(alg, &leaves));
    }
}
