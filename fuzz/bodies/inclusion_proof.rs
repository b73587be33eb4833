//! Target `inclusion_proof`: RFC 6962 inclusion proof verification and its JSON form.
//!
//! Input layout: `mode(u8)` then, by `mode % 3`:
//! 0. JSON of an `InclusionProof`: if it parses, it must re-serialise to an equal value, and
//!    a proof whose root computes must verify against that root.
//! 1. Raw fields: `alg(u8) leaf_index(u64 LE) tree_size(u64 LE) leaf_hash[32] root[32]`,
//!    then path hashes of 32 bytes: `verify_inclusion` must agree with `root_from_inclusion`.
//! 2. Tamper: `size(u8) index(u8) bit(u16 LE)`: a real tree of `size % 40 + 1` leaves, a
//!    valid proof for leaf `index % size` (which must verify), then one bit flipped in
//!    the proof's leaf hash, path or root, the index changed, or the path made one hash
//!    shorter or longer: it must not verify.

use coffre_log::merkle::{root_from_inclusion, verify_inclusion, InclusionProof, MemoryTree};
use coffre_log::{Hash, HashAlgorithm, HASH_LEN};

/// Path hashes read at most in raw mode (a valid path has at most 64).
const PATH_LEN_MAX: usize = 80;

/// A hash from 32 bytes at the start of `bytes` (zero-padded).
pub fn hash_at(bytes: &[u8]) -> Hash {
    let mut h = [0u8; HASH_LEN];
    let n = bytes.len().min(HASH_LEN);
    h[..n].copy_from_slice(&bytes[..n]);
    Hash(h)
}

/// A little-endian u64 from up to 8 bytes (zero-padded).
pub fn u64_at(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = bytes.len().min(8);
    b[..n].copy_from_slice(&bytes[..n]);
    u64::from_le_bytes(b)
}

/// One of the hash algorithms, chosen by a byte.
pub fn alg_of(byte: u8) -> HashAlgorithm {
    if byte & 1 == 0 {
        HashAlgorithm::Blake3
    } else {
        HashAlgorithm::Sha256
    }
}

/// The raw layout both proof targets share: `alg(u8) a(u64 LE) b(u64 LE) h1[32] h2[32]`, then
/// up to [`PATH_LEN_MAX`] path hashes (short fields are zero-padded).
pub struct RawProof {
    /// Hash algorithm.
    pub alg: HashAlgorithm,
    /// First number (leaf index, or old size).
    pub a: u64,
    /// Second number (tree size, or new size).
    pub b: u64,
    /// First hash (leaf hash, or old root).
    pub h1: Hash,
    /// Second hash (root, or new root).
    pub h2: Hash,
    /// Path hashes.
    pub path: Vec<Hash>,
}

impl RawProof {
    /// Decodes `data` in the raw layout.
    pub fn decode(data: &[u8]) -> RawProof {
        let field =
            |at: usize, len: usize| data.get(at..).map_or(&[][..], |s| &s[..s.len().min(len)]);
        RawProof {
            alg: alg_of(field(0, 1).first().copied().unwrap_or(0)),
            a: u64_at(field(1, 8)),
            b: u64_at(field(9, 8)),
            h1: hash_at(field(17, 32)),
            h2: hash_at(field(49, 32)),
            path: data
                .get(81..)
                .unwrap_or_default()
                .chunks(HASH_LEN)
                .take(PATH_LEN_MAX)
                .map(hash_at)
                .collect(),
        }
    }
}

/// A tree of `size` distinct leaves.
pub fn tree_of(alg: HashAlgorithm, size: u64) -> MemoryTree {
    let mut tree = MemoryTree::new(alg);
    for i in 0..size {
        tree.push_leaf_hash(alg.leaf_hash(&i.to_le_bytes()));
    }
    tree
}

fn json(data: &[u8]) {
    let Ok(proof) = serde_json::from_slice::<InclusionProof>(data) else {
        return;
    };
    let text = serde_json::to_string(&proof).expect("a parsed proof serialises");
    let again: InclusionProof = serde_json::from_str(&text).expect("own JSON parses");
    assert_eq!(again, proof, "JSON round trip changed the proof");
    if let Ok(root) = proof.root() {
        assert_eq!(proof.verify(&root), Ok(()), "a proof does not verify against its own root");
    }
}

fn raw(data: &[u8]) {
    let RawProof { alg, a: leaf_index, b: tree_size, h1: leaf, h2: root, path } =
        RawProof::decode(data);
    let verified = verify_inclusion(alg, leaf_index, tree_size, &leaf, &path, &root);
    let computed = root_from_inclusion(alg, leaf_index, tree_size, &leaf, &path);
    assert_eq!(verified.is_ok(), computed == Ok(root), "verify and root_from disagree");
}

fn tamper(data: &[u8]) {
    let byte = |i: usize| data.get(i).copied().unwrap_or(0);
    let alg = alg_of(byte(0));
    let size = u64::from(byte(1) % 40) + 1;
    let index = u64::from(byte(2)) % size;
    let bit = usize::from(u16::from_le_bytes([byte(3), byte(4)]));
    let tree = tree_of(alg, size);
    let mut proof = InclusionProof {
        algorithm: alg,
        leaf_index: index,
        tree_size: size,
        leaf_hash: alg.leaf_hash(&index.to_le_bytes()),
        path: tree.inclusion_path(index, size),
    };
    let mut root = tree.root(size);
    assert_eq!(proof.verify(&root), Ok(()), "a valid proof was refused");
    // Bits of the leaf hash, the path and the root, then two non-bit changes.
    let hash_bits = (proof.path.len() + 2) * HASH_LEN * 8;
    let choice = bit % (hash_bits + 2);
    if choice < hash_bits {
        let (which, bit) = (choice / (HASH_LEN * 8), choice % (HASH_LEN * 8));
        let h = if which == 0 {
            &mut proof.leaf_hash
        } else if which == 1 {
            &mut root
        } else {
            &mut proof.path[which - 2]
        };
        h.0[bit / 8] ^= 1 << (bit % 8);
    } else if choice == hash_bits {
        proof.leaf_index = (index + 1 + u64::from(byte(5))) % (size + 1);
        if proof.leaf_index == index {
            return;
        }
    } else if proof.path.pop().is_none() {
        // A changed tree size is deliberately not a tamper case: a root does not commit to
        // its size (leaf 0 of 3 and of 4 leaves share a path shape), which is why
        // checkpoints sign the size with the root. A path with a hash too few or too many is.
        proof.path.push(root);
    }
    assert!(proof.verify(&root).is_err(), "a tampered inclusion proof verified");
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
    let alg = HashAlgorithm::Sha256;
    let tree = tree_of(alg, 7);
    let proof = InclusionProof {
        algorithm: alg,
        leaf_index: 3,
        tree_size: 7,
        leaf_hash: alg.leaf_hash(&3u64.to_le_bytes()),
        path: tree.inclusion_path(3, 7),
    };
    let mut out = vec![(
        "json".to_string(),
        [&[0u8][..], serde_json::to_string(&proof).expect("json").as_bytes()].concat(),
    )];
    let mut raw = vec![1u8, 1];
    raw.extend_from_slice(&3u64.to_le_bytes());
    raw.extend_from_slice(&7u64.to_le_bytes());
    raw.extend_from_slice(&proof.leaf_hash.0);
    raw.extend_from_slice(&tree.root(7).0);
    for h in &proof.path {
        raw.extend_from_slice(&h.0);
    }
    out.push(("raw-valid".to_string(), raw));
    out.push(("tamper-leaf".to_string(), vec![2, 0, 12, 5, 3, 0, 0]));
    out.push(("tamper-path".to_string(), vec![2, 1, 30, 9, 200, 1, 0]));
    out.push(("tamper-index".to_string(), vec![2, 0, 17, 4, 0xff, 0xff, 2]));
    out
}
