//! The right edge of the tree while appending: which hashes a batch of leaves adds to each
//! level, computed from the in-memory frontier alone (no reads). Pure: no I/O.

use crate::hash::{Hash, HashAlgorithm};

/// Levels a store of at most [`super::LEAVES_MAX`] leaves can have, with room to spare.
pub(crate) const LEVELS_MAX: usize = 64;

/// For a tree of `len` leaves, `hashes[k]` is the hash of the complete subtree
/// `(k, (len >> k) - 1)` when bit `k` of `len` is set: the left child still waiting for its
/// right sibling. Other entries are meaningless. This is all appending needs: O(log n) memory.
#[derive(Clone, Debug)]
pub(crate) struct Frontier {
    pub hashes: [Hash; LEVELS_MAX],
}

impl Default for Frontier {
    fn default() -> Self {
        Frontier { hashes: [Hash::default(); LEVELS_MAX] }
    }
}

/// New hashes for one level: entries `first_index ..` of that level, concatenated.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct LevelRun {
    pub first_index: u64,
    pub bytes: Vec<u8>,
}

impl LevelRun {
    /// Number of hashes in the run.
    #[cfg(test)]
    pub fn count(&self) -> u64 {
        (self.bytes.len() / crate::hash::HASH_LEN) as u64
    }
}

/// Appends `leaves` to a tree of `len` leaves whose frontier is `frontier`: updates the
/// frontier and returns, per level, the run of new hashes (empty runs for untouched levels).
/// Each leaf costs one node hash per subtree it completes: O(1) amortised. A level's new
/// parents are independent of each other, so they are hashed together, one level at a time
/// (`HashAlgorithm::node_hashes_into`).
/// Requires `len + leaves.len()` to fit below 2^63 (the caller bounds it far lower).
pub(crate) fn plan_append(
    alg: HashAlgorithm,
    frontier: &mut Frontier,
    len: u64,
    leaves: &[Hash],
) -> Vec<LevelRun> {
    let mut runs: Vec<LevelRun> = Vec::new();
    let mut current: Vec<Hash> = leaves.to_vec();
    let mut parents: Vec<Hash> = Vec::new();
    let mut level = 0usize;
    while !current.is_empty() && level < LEVELS_MAX {
        runs.push(LevelRun {
            first_index: len >> level,
            bytes: current.iter().flat_map(|h| h.0).collect(),
        });
        // Bit `level` of `len` set: the level's last old node is a left child still waiting
        // for its sibling, which is the first new one (binary addition, carried upwards).
        let waiting = ((len >> level) & 1 == 1).then(|| frontier.hashes[level]);
        let row: Vec<&Hash> = waiting.iter().chain(current.iter()).collect();
        let pairs: Vec<[&[u8]; 2]> =
            row.chunks_exact(2).map(|p| [&p[0].0[..], &p[1].0[..]]).collect();
        if let [last] = row.chunks_exact(2).remainder() {
            frontier.hashes[level] = **last;
        }
        parents.clear();
        alg.node_hashes_into(&pairs, &mut parents);
        std::mem::swap(&mut current, &mut parents);
        level += 1;
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::HASH_LEN;
    use crate::merkle::{MemoryTree, SubtreeHashes};

    fn leaf(i: u64) -> Hash {
        HashAlgorithm::Blake3.leaf_hash(&i.to_le_bytes())
    }

    #[test]
    fn runs_hold_exactly_the_new_complete_subtrees_in_order() {
        let alg = HashAlgorithm::Blake3;
        let mut model = MemoryTree::new(alg);
        let mut frontier = Frontier::default();
        let mut len = 0u64;
        for batch in [1usize, 2, 3, 7, 1, 16, 5, 0, 33] {
            let leaves: Vec<Hash> = (len..len + batch as u64).map(leaf).collect();
            let runs = plan_append(alg, &mut frontier, len, &leaves);
            for &l in &leaves {
                model.push_leaf_hash(l);
            }
            let new_len = len + batch as u64;
            for (level, run) in runs.iter().enumerate() {
                assert_eq!(run.first_index, len >> level);
                assert_eq!(run.count(), (new_len >> level) - (len >> level));
                for i in 0..run.count() {
                    let got = &run.bytes[(i as usize) * HASH_LEN..][..HASH_LEN];
                    let want = model.subtree_hash(level as u32, run.first_index + i).unwrap();
                    assert_eq!(got, want.as_bytes());
                }
            }
            for level in runs.len()..LEVELS_MAX {
                assert_eq!(new_len >> level, len >> level, "level {level} missing a run");
            }
            len = new_len;
        }
    }
}
