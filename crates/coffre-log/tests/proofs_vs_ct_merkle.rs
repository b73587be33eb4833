//! Cross-check against an independent RFC 6962 implementation, the `ct-merkle` crate
//! (SHA-256): on random trees, roots are byte-equal, our inclusion and consistency paths are
//! byte-equal to ct-merkle's, ct-merkle's verifier accepts ours and ours accepts theirs.
//!
//! ct-merkle proves consistency only from an old size to the full size of its tree, so the
//! cross-check builds a tree of exactly `size2` leaves for each pair of sizes.

use coffre_log::merkle::{verify_consistency, verify_inclusion, MemoryTree};
use coffre_log::{Hash, HashAlgorithm};
use ct_merkle::mem_backed_tree::MemoryBackedTree;
use ct_merkle::{ConsistencyProof, InclusionProof, RootHash};
use proptest::prelude::*;
use sha2_digest011::Sha256;

const ALG: HashAlgorithm = HashAlgorithm::Sha256;

struct Trees {
    ours: MemoryTree,
    theirs: MemoryBackedTree<Sha256, Vec<u8>>,
}

fn build(leaves: &[Vec<u8>]) -> Trees {
    let mut ours = MemoryTree::new(ALG);
    let mut theirs = MemoryBackedTree::new();
    for leaf in leaves {
        ours.push_leaf_hash(ALG.leaf_hash(leaf));
        theirs.push(leaf.clone());
    }
    Trees { ours, theirs }
}

fn their_root(trees: &Trees) -> RootHash<Sha256> {
    trees.theirs.root()
}

fn as_hash(bytes: &[u8]) -> Hash {
    Hash(bytes.try_into().unwrap())
}

fn split(bytes: &[u8]) -> Vec<Hash> {
    bytes.chunks(32).map(as_hash).collect()
}

fn concat(path: &[Hash]) -> Vec<u8> {
    path.iter().flat_map(|h| h.0).collect()
}

fn leaves_strategy() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..24), 1..130)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn roots_and_inclusion_proofs_agree_with_ct_merkle(
        leaves in leaves_strategy(),
        index_seed in any::<u64>(),
    ) {
        let trees = build(&leaves);
        let size = leaves.len() as u64;
        let root = trees.ours.root(size);
        let theirs_root = their_root(&trees);
        prop_assert_eq!(theirs_root.as_bytes().to_vec(), root.0.to_vec());

        let index = index_seed % size;
        let leaf = &leaves[index as usize];
        let ours = trees.ours.inclusion_path(index, size);
        let theirs = trees.theirs.prove_inclusion(index as usize);
        prop_assert_eq!(theirs.as_bytes().to_vec(), concat(&ours));

        // ct-merkle verifies our path ...
        let ours_for_them = InclusionProof::<Sha256>::try_from_bytes(concat(&ours)).unwrap();
        prop_assert!(theirs_root.verify_inclusion(leaf, index, &ours_for_them).is_ok());
        // ... and we verify theirs.
        let theirs_for_us = split(theirs.as_bytes());
        prop_assert_eq!(
            verify_inclusion(ALG, index, size, &ALG.leaf_hash(leaf), &theirs_for_us, &root),
            Ok(())
        );
        // Both reject the path for another leaf.
        let other = [leaf.as_slice(), b"!"].concat();
        prop_assert!(theirs_root.verify_inclusion(&other, index, &ours_for_them).is_err());
        prop_assert!(
            verify_inclusion(ALG, index, size, &ALG.leaf_hash(&other), &theirs_for_us, &root)
                .is_err()
        );
    }

    #[test]
    fn consistency_proofs_agree_with_ct_merkle(
        leaves in leaves_strategy(),
        size1_seed in any::<u64>(),
    ) {
        let size2 = leaves.len() as u64;
        let size1 = 1 + size1_seed % size2;
        let new = build(&leaves);
        let old = build(&leaves[..size1 as usize]);
        let (root1, root2) = (new.ours.root(size1), new.ours.root(size2));
        prop_assert_eq!(their_root(&old).as_bytes().to_vec(), root1.0.to_vec());

        let ours = new.ours.consistency_path(size1, size2);
        let theirs = new.theirs.prove_consistency((size2 - size1) as usize);
        prop_assert_eq!(theirs.as_bytes().to_vec(), concat(&ours));

        let ours_for_them = ConsistencyProof::<Sha256>::try_from_bytes(concat(&ours)).unwrap();
        prop_assert!(their_root(&new).verify_consistency(&their_root(&old), &ours_for_them).is_ok());
        let theirs_for_us = split(theirs.as_bytes());
        prop_assert_eq!(
            verify_consistency(ALG, size1, size2, &root1, &root2, &theirs_for_us),
            Ok(())
        );
        // Both reject a proof against a wrong old root.
        let wrong = ALG.leaf_hash(b"not the old root");
        prop_assert!(verify_consistency(ALG, size1, size2, &wrong, &root2, &theirs_for_us).is_err());
        let wrong_old = RootHash::<Sha256>::new(wrong.0.into(), size1);
        prop_assert!(their_root(&new).verify_consistency(&wrong_old, &ours_for_them).is_err());
    }
}
