//! The stored tree answers exactly like the in-memory model, across reopens.

use coffre_log::merkle::MemoryTree;
use coffre_log::tree_store::{TreeStore, TreeStoreError};
use coffre_log::{Hash, HashAlgorithm};
use proptest::prelude::*;

fn leaf(alg: HashAlgorithm, i: u64) -> Hash {
    alg.leaf_hash(&i.to_le_bytes())
}

/// Every root, inclusion path and consistency path of every size up to `len` agrees.
fn assert_same_as_model(store: &TreeStore, model: &MemoryTree) {
    let len = model.len();
    assert_eq!(store.len(), len);
    for size in 0..=len {
        assert_eq!(store.root(size).unwrap(), model.root(size), "root at {size}");
        for index in 0..size {
            assert_eq!(
                store.inclusion_path(index, size).unwrap(),
                model.inclusion_path(index, size),
                "inclusion of {index} in {size}"
            );
        }
        for old in 1..=size {
            assert_eq!(
                store.consistency_path(old, size).unwrap(),
                model.consistency_path(old, size),
                "consistency {old} -> {size}"
            );
        }
    }
    for index in 0..len {
        assert_eq!(store.leaf_hash(index).unwrap(), model.inclusion_leaf(index));
    }
}

trait LeafOf {
    fn inclusion_leaf(&self, index: u64) -> Hash;
}

impl LeafOf for MemoryTree {
    fn inclusion_leaf(&self, index: u64) -> Hash {
        use coffre_log::merkle::SubtreeHashes;
        match self.subtree_hash(0, index) {
            Ok(h) => h,
            Err(never) => match never {},
        }
    }
}

#[derive(Debug, Clone)]
enum Step {
    Append(u8),
    Sync,
    Reopen,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0u8..12).prop_map(Step::Append),
        1 => Just(Step::Sync),
        1 => Just(Step::Reopen),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn store_matches_memory_tree_for_all_sizes_and_indices(
        steps in proptest::collection::vec(step(), 1..10),
        sha in any::<bool>(),
    ) {
        let alg = if sha { HashAlgorithm::Sha256 } else { HashAlgorithm::Blake3 };
        let dir = tempfile::tempdir().unwrap();
        let mut store = TreeStore::create(dir.path(), alg).unwrap();
        let mut model = MemoryTree::new(alg);
        for step in steps {
            match step {
                Step::Append(count) => {
                    let start = model.len();
                    let leaves: Vec<Hash> =
                        (start..start + u64::from(count)).map(|i| leaf(alg, i)).collect();
                    store.append_leaves(&leaves).unwrap();
                    leaves.iter().for_each(|&l| model.push_leaf_hash(l));
                }
                Step::Sync => {
                    store.sync().unwrap();
                    prop_assert_eq!(store.durable_len(), model.len());
                }
                Step::Reopen => {
                    // A clean close is a sync; the model is what was synced.
                    store.sync().unwrap();
                    drop(store);
                    store = TreeStore::open(dir.path(), alg).unwrap();
                    prop_assert_eq!(store.durable_len(), model.len());
                }
            }
            assert_same_as_model(&store, &model);
        }
        store.recompute_check(store.len()).unwrap();
    }
}

#[test]
fn single_leaf_appends_equal_one_batch_append() {
    let alg = HashAlgorithm::Sha256;
    let one = tempfile::tempdir().unwrap();
    let batch = tempfile::tempdir().unwrap();
    let a = TreeStore::create(one.path(), alg).unwrap();
    let b = TreeStore::create(batch.path(), alg).unwrap();
    let leaves: Vec<Hash> = (0..300).map(|i| leaf(alg, i)).collect();
    for l in &leaves {
        a.append_leaves(std::slice::from_ref(l)).unwrap();
    }
    b.append_leaves(&leaves).unwrap();
    for size in [1, 2, 100, 256, 299, 300] {
        assert_eq!(a.root(size).unwrap(), b.root(size).unwrap());
    }
}

#[test]
fn bad_arguments_get_typed_errors() {
    let alg = HashAlgorithm::Blake3;
    let dir = tempfile::tempdir().unwrap();
    let store = TreeStore::create(dir.path(), alg).unwrap();
    store.append_leaves(&[leaf(alg, 0), leaf(alg, 1), leaf(alg, 2)]).unwrap();
    assert!(matches!(
        store.inclusion_path(3, 3),
        Err(TreeStoreError::IndexOutOfRange { index: 3, size: 3 })
    ));
    assert!(matches!(
        store.inclusion_path(0, 4),
        Err(TreeStoreError::SizeTooLarge { size: 4, len: 3 })
    ));
    assert!(matches!(store.root(4), Err(TreeStoreError::SizeTooLarge { .. })));
    assert!(matches!(
        store.consistency_path(0, 2),
        Err(TreeStoreError::InvalidConsistencyRange { old_size: 0, new_size: 2 })
    ));
    assert!(matches!(
        store.consistency_path(3, 2),
        Err(TreeStoreError::InvalidConsistencyRange { .. })
    ));
    assert!(matches!(store.consistency_path(1, 4), Err(TreeStoreError::SizeTooLarge { .. })));
    assert!(matches!(store.leaf_hash(3), Err(TreeStoreError::IndexOutOfRange { .. })));
    assert!(matches!(store.truncate(4), Err(TreeStoreError::SizeTooLarge { .. })));
    assert!(matches!(store.recompute_check(4), Err(TreeStoreError::SizeTooLarge { .. })));
    assert_eq!(store.root(0).unwrap(), alg.empty_root());
    assert!(store.consistency_path(3, 3).unwrap().is_empty());
}

#[test]
fn create_refuses_an_existing_store_and_replace_empties_it() {
    let alg = HashAlgorithm::Blake3;
    let dir = tempfile::tempdir().unwrap();
    let store = TreeStore::create(dir.path(), alg).unwrap();
    store.append_leaves(&[leaf(alg, 0)]).unwrap();
    store.sync().unwrap();
    drop(store);
    assert!(matches!(
        TreeStore::create(dir.path(), alg),
        Err(TreeStoreError::AlreadyExists { .. })
    ));
    let replaced = TreeStore::replace(dir.path(), alg).unwrap();
    assert_eq!(replaced.len(), 0);
    drop(replaced);
    assert_eq!(TreeStore::open(dir.path(), alg).unwrap().len(), 0);
}

#[test]
fn open_without_a_store_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        TreeStore::open(dir.path(), HashAlgorithm::Blake3),
        Err(TreeStoreError::NotFound { .. })
    ));
}

#[test]
fn truncate_then_append_other_leaves_matches_a_fresh_model() {
    let alg = HashAlgorithm::Blake3;
    let dir = tempfile::tempdir().unwrap();
    let store = TreeStore::create(dir.path(), alg).unwrap();
    let first: Vec<Hash> = (0..77).map(|i| leaf(alg, i)).collect();
    store.append_leaves(&first).unwrap();
    store.sync().unwrap();
    store.truncate(45).unwrap();
    assert_eq!(store.len(), 45);
    assert_eq!(store.durable_len(), 45, "cutting durable leaves lowers the head first");
    let second: Vec<Hash> = (1000..1040).map(|i| leaf(alg, i)).collect();
    store.append_leaves(&second).unwrap();
    let mut model = MemoryTree::new(alg);
    first[..45].iter().chain(&second).for_each(|&l| model.push_leaf_hash(l));
    assert_same_as_model(&store, &model);
    store.recompute_check(store.len()).unwrap();
}
