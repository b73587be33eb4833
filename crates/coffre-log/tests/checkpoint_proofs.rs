//! Proofs handed out by the log verify with the pure verifier, for every (index, size) and
//! every (old, new) pair of a small log, across reopens and segment rolls, in both hash modes.

mod checkpoint_support;

use checkpoint_support::{append, options, payload};
use coffre_log::merkle::{verify_consistency, verify_inclusion};
use coffre_log::{HashAlgorithm, Log, LogError};

fn check_all_proofs(log: &Log) {
    let alg = log.hash_algorithm();
    let n = log.len();
    let roots: Vec<_> = (0..=n).map(|s| log.root(s).unwrap()).collect();
    for size in 1..=n {
        for index in 0..size {
            let proof = log.prove_inclusion(index, size).unwrap();
            let record = log.read(index).unwrap();
            assert_eq!(proof.leaf_hash, record.leaf_hash(alg));
            let ts = record.timestamp.to_bytes();
            proof.verify_leaf(&[&ts, &record.payload], &roots[size as usize]).unwrap();
            verify_inclusion(
                alg,
                index,
                size,
                &proof.leaf_hash,
                &proof.path,
                &roots[size as usize],
            )
            .unwrap();
            // The same path does not prove the leaf in a neighbouring tree.
            if size > 1 {
                assert!(proof.verify(&roots[size as usize - 1]).is_err());
            }
        }
        for old in 1..=size {
            let proof = log.prove_consistency(old, size).unwrap();
            verify_consistency(
                alg,
                old,
                size,
                &roots[old as usize],
                &roots[size as usize],
                &proof.path,
            )
            .unwrap();
        }
    }
}

fn proofs_hold_across_reopen_and_rolls(alg: HashAlgorithm) {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::create(dir.path(), options(alg)).unwrap();
    append(&log, 0, 13);
    check_all_proofs(&log);
    drop(log);
    let (log, _) = Log::open(dir.path(), options(alg)).unwrap();
    append(&log, 13, 29);
    assert!(log.stats().segments_sealed >= 2, "the test needs segment rolls");
    check_all_proofs(&log);
    drop(log);
    let ro = Log::open_read_only(dir.path(), options(alg)).unwrap();
    check_all_proofs(&ro);
}

#[test]
fn proofs_verify_for_every_pair_blake3() {
    proofs_hold_across_reopen_and_rolls(HashAlgorithm::Blake3);
}

#[test]
fn proofs_verify_for_every_pair_sha256() {
    proofs_hold_across_reopen_and_rolls(HashAlgorithm::Sha256);
}

#[test]
fn bad_proof_arguments_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::create(dir.path(), options(HashAlgorithm::Blake3)).unwrap();
    append(&log, 0, 5);
    assert!(matches!(log.prove_inclusion(0, 6), Err(LogError::SizeOutOfRange { size: 6, len: 5 })));
    assert!(matches!(
        log.prove_inclusion(5, 5),
        Err(LogError::LeafNotInTree { index: 5, size: 5 })
    ));
    assert!(matches!(log.prove_inclusion(0, 0), Err(LogError::LeafNotInTree { .. })));
    assert!(matches!(
        log.prove_consistency(0, 3),
        Err(LogError::InvalidConsistencyRange { old_size: 0, new_size: 3 })
    ));
    assert!(matches!(log.prove_consistency(4, 3), Err(LogError::InvalidConsistencyRange { .. })));
    assert!(matches!(log.prove_consistency(3, 9), Err(LogError::SizeOutOfRange { .. })));
    assert_eq!(log.prove_consistency(5, 5).unwrap().path, vec![]);
    assert_eq!(log.read(4).unwrap().payload, payload(4));
}
