//! Damaged or foreign tree files are reported as typed corruption, never a panic.

use coffre_log::tree_store::{TreeStore, TreeStoreError};
use coffre_log::{Hash, HashAlgorithm};
use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

fn leaf(alg: HashAlgorithm, i: u64) -> Hash {
    alg.leaf_hash(&i.to_le_bytes())
}

fn level_path(dir: &Path, level: u32) -> PathBuf {
    dir.join("tree").join(format!("level-{level:02}.hashes"))
}

/// A synced store of `n` leaves, closed.
fn synced_store(alg: HashAlgorithm, n: u64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let store = TreeStore::create(dir.path(), alg).unwrap();
    let leaves: Vec<Hash> = (0..n).map(|i| leaf(alg, i)).collect();
    store.append_leaves(&leaves).unwrap();
    store.sync().unwrap();
    dir
}

fn write_at(path: &Path, offset: u64, bytes: &[u8]) {
    let file = OpenOptions::new().write(true).open(path).unwrap();
    file.write_all_at(bytes, offset).unwrap();
}

/// Both `open` and `open_read_only` refuse the store with a corruption naming `file`.
fn assert_corrupt(dir: &Path, alg: HashAlgorithm, file: &Path, detail_part: &str) {
    for result in [TreeStore::open(dir, alg), TreeStore::open_read_only(dir, alg)] {
        match result {
            Err(TreeStoreError::Corruption { file: f, detail, .. }) => {
                assert_eq!(f, file);
                assert!(detail.contains(detail_part), "detail {detail:?} lacks {detail_part:?}");
            }
            other => panic!("expected corruption of {}, got {other:?}", file.display()),
        }
    }
}

#[test]
fn bad_level_magic_is_corruption() {
    let alg = HashAlgorithm::Blake3;
    let dir = synced_store(alg, 20);
    write_at(&level_path(dir.path(), 1), 0, b"XXXX");
    assert_corrupt(dir.path(), alg, &level_path(dir.path(), 1), "magic");
}

#[test]
fn a_flipped_header_bit_is_corruption() {
    let alg = HashAlgorithm::Blake3;
    let dir = synced_store(alg, 20);
    write_at(&level_path(dir.path(), 0), 13, &[0xFF]);
    assert_corrupt(dir.path(), alg, &level_path(dir.path(), 0), "checksum");
}

#[test]
fn a_level_file_of_another_tree_is_corruption() {
    let alg = HashAlgorithm::Blake3;
    let ours = synced_store(alg, 20);
    let theirs = synced_store(alg, 20);
    std::fs::copy(level_path(theirs.path(), 2), level_path(ours.path(), 2)).unwrap();
    assert_corrupt(ours.path(), alg, &level_path(ours.path(), 2), "another tree");
}

#[test]
fn a_level_file_under_another_level_name_is_corruption() {
    let alg = HashAlgorithm::Blake3;
    let dir = synced_store(alg, 20);
    std::fs::copy(level_path(dir.path(), 1), level_path(dir.path(), 2)).unwrap();
    assert_corrupt(dir.path(), alg, &level_path(dir.path(), 2), "level 1");
}

#[test]
fn opening_with_another_algorithm_is_corruption() {
    let dir = synced_store(HashAlgorithm::Blake3, 5);
    let head = dir.path().join("tree/head");
    assert_corrupt(dir.path(), HashAlgorithm::Sha256, &head, "blake3");
}

#[test]
fn a_level_file_shorter_than_the_head_implies_is_corruption() {
    let alg = HashAlgorithm::Sha256;
    let dir = synced_store(alg, 20);
    let path = level_path(dir.path(), 0);
    let file = OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(32 + 19 * 32).unwrap();
    assert_corrupt(dir.path(), alg, &path, "implies 20 hashes");
    file.set_len(32 + 19 * 32 + 5).unwrap();
    assert_corrupt(dir.path(), alg, &path, "implies 20 hashes");
}

#[test]
fn a_missing_level_file_the_head_needs_is_corruption() {
    let alg = HashAlgorithm::Blake3;
    let dir = synced_store(alg, 20);
    std::fs::remove_file(level_path(dir.path(), 4)).unwrap();
    assert_corrupt(dir.path(), alg, &level_path(dir.path(), 4), "missing");
}

#[test]
fn an_unreadable_head_is_corruption() {
    let alg = HashAlgorithm::Blake3;
    let dir = synced_store(alg, 20);
    let head = dir.path().join("tree/head");
    write_at(&head, 0, &[0u8; 128]);
    assert_corrupt(dir.path(), alg, &head, "no valid head slot");
    OpenOptions::new().write(true).open(&head).unwrap().set_len(40).unwrap();
    assert_corrupt(dir.path(), alg, &head, "shorter");
}

#[test]
fn a_flipped_stored_parent_is_found_by_recompute_check() {
    let alg = HashAlgorithm::Blake3;
    let dir = synced_store(alg, 5000);
    // Level 3, entry 400: leaves 3200..3208.
    write_at(&level_path(dir.path(), 3), 32 + 400 * 32 + 9, &[0x42]);
    let store = TreeStore::open(dir.path(), alg).unwrap();
    assert!(matches!(
        store.recompute_check(5000),
        Err(TreeStoreError::ParentMismatch { level: 3, index: 400 })
    ));
    // The parent of the flipped hash disagrees with its children too, but level 3 is first.
    assert!(store.recompute_check(3199).is_ok(), "the damage lies beyond 3199 leaves");
}

#[test]
fn a_flipped_leaf_hash_shows_as_its_parent_mismatching() {
    let alg = HashAlgorithm::Sha256;
    let dir = synced_store(alg, 9000);
    write_at(&level_path(dir.path(), 0), 32 + 8191 * 32, &[0x01]);
    let store = TreeStore::open_read_only(dir.path(), alg).unwrap();
    assert!(matches!(
        store.recompute_check(9000),
        Err(TreeStoreError::ParentMismatch { level: 1, index: 4095 })
    ));
}

#[test]
fn a_damaged_store_can_be_replaced_and_rebuilt() {
    let alg = HashAlgorithm::Blake3;
    let dir = synced_store(alg, 20);
    write_at(&dir.path().join("tree/head"), 0, &[0u8; 128]);
    assert!(TreeStore::open(dir.path(), alg).is_err());
    let store = TreeStore::replace(dir.path(), alg).unwrap();
    let leaves: Vec<Hash> = (0..20).map(|i| leaf(alg, i)).collect();
    store.append_leaves(&leaves).unwrap();
    store.sync().unwrap();
    drop(store);
    assert_eq!(TreeStore::open(dir.path(), alg).unwrap().durable_len(), 20);
}
