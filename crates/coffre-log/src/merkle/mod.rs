//! The RFC 6962 Merkle tree: algorithms, proof types and pure verification.

pub mod proof;
pub mod tree_math;
pub mod verify;

pub use proof::{ConsistencyProof, InclusionProof};
pub use tree_math::{
    consistency_path, inclusion_path, range_hash, root, MemoryTree, SubtreeHashes,
};
pub use verify::{
    root_from_consistency, root_from_inclusion, verify_consistency, verify_inclusion, ProofError,
};
