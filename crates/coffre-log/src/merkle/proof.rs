//! Inclusion and consistency proofs as values: what a log hands out and an auditor checks.
//!
//! Both are plain RFC 6962 proofs (no home-made shapes) tagged with the tree's hash
//! algorithm. In JSON the hashes are standard base64 and the path is the key `proof`.

use serde::{Deserialize, Serialize};

use super::verify::{
    root_from_consistency, root_from_inclusion, verify_consistency, verify_inclusion, ProofError,
};
use crate::hash::{Hash, HashAlgorithm};

/// Proof that the leaf hash `leaf_hash` is leaf `leaf_index` of the tree of `tree_size` leaves
/// (RFC 6962 §2.1.1 audit path, leaf-to-root order).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionProof {
    /// Hash function of the tree.
    pub algorithm: HashAlgorithm,
    /// 0-based index of the leaf.
    pub leaf_index: u64,
    /// Number of leaves of the tree the proof is against.
    pub tree_size: u64,
    /// RFC 6962 leaf hash `H(0x00 || leaf)`.
    pub leaf_hash: Hash,
    /// Sibling hashes from the leaf up to the root.
    #[serde(rename = "proof")]
    pub path: Vec<Hash>,
}

impl InclusionProof {
    /// Root the proof leads to; fails if the proof is malformed for its index and size.
    pub fn root(&self) -> Result<Hash, ProofError> {
        root_from_inclusion(
            self.algorithm,
            self.leaf_index,
            self.tree_size,
            &self.leaf_hash,
            &self.path,
        )
    }

    /// Checks the proof against a trusted root of a tree of `self.tree_size` leaves.
    pub fn verify(&self, root: &Hash) -> Result<(), ProofError> {
        verify_inclusion(
            self.algorithm,
            self.leaf_index,
            self.tree_size,
            &self.leaf_hash,
            &self.path,
            root,
        )
    }

    /// Checks that the leaf given in parts (for a record: its 20 timestamp bytes, then its
    /// payload) hashes to `self.leaf_hash`, then verifies the proof against `root`.
    pub fn verify_leaf(&self, leaf_parts: &[&[u8]], root: &Hash) -> Result<(), ProofError> {
        let computed = self.algorithm.leaf_hash_parts(leaf_parts);
        if computed != self.leaf_hash {
            return Err(ProofError::LeafHashMismatch { expected: self.leaf_hash, computed });
        }
        self.verify(root)
    }
}

/// Proof that the tree of `size2` leaves extends the tree of `size1` leaves
/// (RFC 6962 §2.1.2 `PROOF(size1, D[size2])`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyProof {
    /// Hash function of the tree.
    pub algorithm: HashAlgorithm,
    /// The older tree size.
    pub size1: u64,
    /// The newer tree size.
    pub size2: u64,
    /// The proof's hashes, in RFC 6962 order.
    #[serde(rename = "proof")]
    pub path: Vec<Hash>,
}

impl ConsistencyProof {
    /// Root of the tree of `size2` leaves the proof leads to from `root1`; fails if the proof
    /// is malformed or does not lead back to `root1`.
    pub fn new_root(&self, root1: &Hash) -> Result<Hash, ProofError> {
        root_from_consistency(self.algorithm, self.size1, self.size2, root1, &self.path)
    }

    /// Checks the proof between the trusted roots `root1` (size1) and `root2` (size2).
    pub fn verify(&self, root1: &Hash, root2: &Hash) -> Result<(), ProofError> {
        verify_consistency(self.algorithm, self.size1, self.size2, root1, root2, &self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::MemoryTree;

    #[test]
    fn json_uses_base64_hashes_and_the_proof_key() {
        let alg = HashAlgorithm::Sha256;
        let mut tree = MemoryTree::new(alg);
        for i in 0u8..5 {
            tree.push_leaf_hash(alg.leaf_hash(&[i]));
        }
        let proof = InclusionProof {
            algorithm: alg,
            leaf_index: 2,
            tree_size: 5,
            leaf_hash: alg.leaf_hash(&[2]),
            path: tree.inclusion_path(2, 5),
        };
        let json = serde_json::to_value(&proof).unwrap();
        assert_eq!(json["leaf_index"], 2);
        assert_eq!(json["leaf_hash"], proof.leaf_hash.to_base64());
        assert_eq!(json["proof"][0], proof.path[0].to_base64());
        let back: InclusionProof = serde_json::from_value(json).unwrap();
        assert_eq!(back, proof);
        assert_eq!(back.root(), Ok(tree.root(5)));
        assert_eq!(back.verify_leaf(&[&[2]], &tree.root(5)), Ok(()));
        assert!(matches!(
            back.verify_leaf(&[&[3]], &tree.root(5)),
            Err(ProofError::LeafHashMismatch { .. })
        ));

        let consistency = ConsistencyProof {
            algorithm: alg,
            size1: 3,
            size2: 5,
            path: tree.consistency_path(3, 5),
        };
        let json = serde_json::to_string(&consistency).unwrap();
        let back: ConsistencyProof = serde_json::from_str(&json).unwrap();
        assert_eq!(back.verify(&tree.root(3), &tree.root(5)), Ok(()));
        assert_eq!(back.new_root(&tree.root(3)), Ok(tree.root(5)));
    }
}
