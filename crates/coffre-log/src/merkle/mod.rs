//! The RFC 6962 Merkle tree: algorithms, proof types and pure verification.

pub mod tree_math;

pub use tree_math::{
    consistency_path, inclusion_path, range_hash, root, MemoryTree, SubtreeHashes,
};
