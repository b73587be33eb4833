//! Full re-verification of the stored parents, for the log's `verify()`.

use super::{TreeStore, TreeStoreError, LEVELS_MAX};
use crate::hash::{Hash, HashAlgorithm, HASH_LEN};

/// Parents checked per read round: 1 MiB of parents and 2 MiB of children in memory.
const CHECK_CHUNK_PARENTS: u64 = 1 << 15;
/// Below this many parents a round is hashed on the calling thread.
const PARALLEL_PARENTS_MIN: usize = 1 << 11;
/// Threads one round fans out to, at most.
const CHECK_THREADS_MAX: usize = 8;

impl TreeStore {
    /// Recomputes every stored parent covering the first `upto` leaves from its two stored
    /// children and reports the first that differs, lowest level first, as
    /// [`TreeStoreError::ParentMismatch`]. Leaf hashes themselves (level 0) are checked by the
    /// log against its records. Reads each level in large chunks and hashes each chunk on
    /// several threads.
    pub fn recompute_check(&self, upto: u64) -> Result<(), TreeStoreError> {
        let len = self.len();
        if upto > len {
            return Err(TreeStoreError::SizeTooLarge { size: upto, len });
        }
        let threads =
            std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, CHECK_THREADS_MAX);
        let mut children = Vec::new();
        let mut parents = Vec::new();
        for level in 1..LEVELS_MAX as u32 {
            let parent_count = upto >> level;
            if parent_count == 0 {
                break;
            }
            let mut first = 0u64;
            while first < parent_count {
                let count = CHECK_CHUNK_PARENTS.min(parent_count - first);
                // count <= 2^15, so these lengths fit any usize.
                children.resize(2 * count as usize * HASH_LEN, 0);
                parents.resize(count as usize * HASH_LEN, 0);
                self.read_entries_into(level - 1, 2 * first, &mut children)?;
                self.read_entries_into(level, first, &mut parents)?;
                if let Some(offset) = first_mismatch(self.alg, &children, &parents, threads) {
                    return Err(TreeStoreError::ParentMismatch { level, index: first + offset });
                }
                first += count;
            }
        }
        Ok(())
    }
}

impl TreeStore {
    /// Reads the stored leaf hashes from `first_index` into `out` (32 bytes each), for the
    /// log's `verify()`, which compares them with the leaves it recomputes from the records.
    pub(crate) fn read_leaf_hashes(
        &self,
        first_index: u64,
        out: &mut [u8],
    ) -> Result<(), TreeStoreError> {
        let count = (out.len() / HASH_LEN) as u64;
        let len = self.len();
        if !out.len().is_multiple_of(HASH_LEN)
            || first_index.checked_add(count).is_none_or(|e| e > len)
        {
            return Err(TreeStoreError::SizeTooLarge { size: first_index + count, len });
        }
        self.read_entries_into(0, first_index, out)
    }

    /// Path of the file that stores `level`, to name it in reports.
    pub(crate) fn level_file(&self, level: u32) -> std::path::PathBuf {
        super::files::level_path(&self.tree_dir, level)
    }
}

/// Index of the first parent in `parents` that is not the node hash of its two children.
fn first_mismatch(
    alg: HashAlgorithm,
    children: &[u8],
    parents: &[u8],
    threads: usize,
) -> Option<u64> {
    let count = parents.len() / HASH_LEN;
    if count < PARALLEL_PARENTS_MIN {
        return scan(alg, children, parents);
    }
    let per_thread = count.div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = parents
            .chunks(per_thread * HASH_LEN)
            .zip(children.chunks(2 * per_thread * HASH_LEN))
            .map(|(p, c)| scope.spawn(move || scan(alg, c, p)))
            .collect();
        let mut found = None;
        for (part, handle) in handles.into_iter().enumerate() {
            let result = handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            if found.is_none() {
                found = result.map(|i| (part * per_thread) as u64 + i);
            }
        }
        found
    })
}

fn scan(alg: HashAlgorithm, children: &[u8], parents: &[u8]) -> Option<u64> {
    let pairs = children.chunks_exact(2 * HASH_LEN);
    (0u64..).zip(parents.chunks_exact(HASH_LEN).zip(pairs)).find_map(|(i, (parent, pair))| {
        let (left, right) = pair.split_at(HASH_LEN);
        let expected = alg.node_hash(&to_hash(left), &to_hash(right));
        (expected.as_bytes()[..] != parent[..]).then_some(i)
    })
}

fn to_hash(bytes: &[u8]) -> Hash {
    let mut out = [0u8; HASH_LEN];
    out.copy_from_slice(bytes);
    Hash(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level_bytes(alg: HashAlgorithm, leaves: u64) -> (Vec<u8>, Vec<u8>) {
        let mut children = Vec::new();
        let mut parents = Vec::new();
        for i in 0..leaves / 2 {
            let l = alg.leaf_hash(&(2 * i).to_le_bytes());
            let r = alg.leaf_hash(&(2 * i + 1).to_le_bytes());
            children.extend_from_slice(l.as_bytes());
            children.extend_from_slice(r.as_bytes());
            parents.extend_from_slice(alg.node_hash(&l, &r).as_bytes());
        }
        (children, parents)
    }

    #[test]
    fn parallel_scan_reports_the_first_mismatch_across_thread_parts() {
        let alg = HashAlgorithm::Blake3;
        let (children, mut parents) = level_bytes(alg, 2 * 5000);
        assert_eq!(first_mismatch(alg, &children, &parents, 3), None);
        parents[4000 * HASH_LEN] ^= 1;
        parents[4500 * HASH_LEN + 7] ^= 1;
        assert_eq!(first_mismatch(alg, &children, &parents, 3), Some(4000));
        parents[10 * HASH_LEN] ^= 1;
        assert_eq!(first_mismatch(alg, &children, &parents, 4), Some(10));
        assert_eq!(first_mismatch(alg, &children, &parents, 1), Some(10));
    }
}
