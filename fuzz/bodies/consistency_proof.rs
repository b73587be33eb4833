//! Target `consistency_proof`: RFC 6962 consistency proof verification and its JSON form.
//!
//! Input layout: `mode(u8)` then, by `mode % 3`:
//! 0. JSON of a `ConsistencyProof`: if it parses, it must re-serialise to an equal value, and
//!    a proof whose new root computes from some old root must verify between the two.
//! 1. Raw fields: `alg(u8) size1(u64 LE) size2(u64 LE) root1[32] root2[32]`, then path hashes:
//!    `verify_consistency` must agree with `root_from_consistency`.
//! 2. Tamper: `size1(u8) size2(u8) bit(u16 LE)`: a real tree, a valid proof between two
//!    sizes (which must verify), then one bit flipped in a root or the path, or a path one
//!    hash shorter or longer: it must not verify.

use super::inclusion_proof::{alg_of, tree_of, RawProof};
use coffre_log::merkle::{root_from_consistency, verify_consistency, ConsistencyProof};
use coffre_log::{Hash, HashAlgorithm, HASH_LEN};

fn json(data: &[u8]) {
    let Ok(proof) = serde_json::from_slice::<ConsistencyProof>(data) else {
        return;
    };
    let text = serde_json::to_string(&proof).expect("a parsed proof serialises");
    let again: ConsistencyProof = serde_json::from_str(&text).expect("own JSON parses");
    assert_eq!(again, proof, "JSON round trip changed the proof");
    // With size1 = 0 or a path, the old root is either the empty root or the first hash.
    let candidates =
        [proof.algorithm.empty_root(), proof.path.first().copied().unwrap_or(Hash([0; HASH_LEN]))];
    for root1 in candidates {
        if let Ok(root2) = proof.new_root(&root1) {
            assert_eq!(proof.verify(&root1, &root2), Ok(()), "proof refused between its own roots");
        }
    }
}

fn raw(data: &[u8]) {
    let RawProof { alg, a: size1, b: size2, h1: root1, h2: root2, path } = RawProof::decode(data);
    let verified = verify_consistency(alg, size1, size2, &root1, &root2, &path);
    let computed = root_from_consistency(alg, size1, size2, &root1, &path);
    assert_eq!(verified.is_ok(), computed == Ok(root2), "verify and root_from disagree");
}

fn tamper(data: &[u8]) {
    let byte = |i: usize| data.get(i).copied().unwrap_or(0);
    let alg = alg_of(byte(0));
    let size2 = u64::from(byte(2) % 40) + 2;
    // Strictly between 0 and size2, so the proof is not trivially empty.
    let size1 = u64::from(byte(1)) % (size2 - 1) + 1;
    let bit = usize::from(u16::from_le_bytes([byte(3), byte(4)]));
    let tree = tree_of(alg, size2);
    let mut proof = ConsistencyProof {
        algorithm: alg,
        size1,
        size2,
        path: tree.consistency_path(size1, size2),
    };
    let (mut root1, mut root2) = (tree.root(size1), tree.root(size2));
    assert_eq!(proof.verify(&root1, &root2), Ok(()), "a valid proof was refused");
    let hash_bits = (proof.path.len() + 2) * HASH_LEN * 8;
    let choice = bit % (hash_bits + 1);
    if choice < hash_bits {
        let (which, bit) = (choice / (HASH_LEN * 8), choice % (HASH_LEN * 8));
        let h = match which {
            0 => &mut root1,
            1 => &mut root2,
            _ => &mut proof.path[which - 2],
        };
        h.0[bit / 8] ^= 1 << (bit % 8);
    } else if proof.path.pop().is_none() {
        proof.path.push(root1);
    }
    assert!(proof.verify(&root1, &root2).is_err(), "a tampered consistency proof verified");
}

/// The fuzz body.
pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => json(rest),
        1 => raw(rest),
        _ => tamper(rest),
    }
}

/// Seeds: a JSON proof, a raw valid proof, and tamper inputs.
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    let alg = HashAlgorithm::Blake3;
    let tree = tree_of(alg, 11);
    let proof = ConsistencyProof {
        algorithm: alg,
        size1: 4,
        size2: 11,
        path: tree.consistency_path(4, 11),
    };
    let mut out = vec![(
        "json".to_string(),
        [&[0u8][..], serde_json::to_string(&proof).expect("json").as_bytes()].concat(),
    )];
    let mut raw = vec![1u8, 0];
    raw.extend_from_slice(&4u64.to_le_bytes());
    raw.extend_from_slice(&11u64.to_le_bytes());
    raw.extend_from_slice(&tree.root(4).0);
    raw.extend_from_slice(&tree.root(11).0);
    for h in &proof.path {
        raw.extend_from_slice(&h.0);
    }
    out.push(("raw-valid".to_string(), raw));
    out.push(("tamper-root".to_string(), vec![2, 0, 3, 9, 7, 1]));
    out.push(("tamper-path".to_string(), vec![2, 1, 5, 30, 0x10, 2]));
    out
}
