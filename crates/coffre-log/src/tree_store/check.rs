//! Full re-verification of the stored parents, for the log's `verify()`.

use super::{TreeStore, TreeStoreError, LEVELS_MAX};
use crate::hash::{HashAlgorithm, HASH_LEN};

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
        let mut bufs = CheckBuffers::default();
        for level in 1..LEVELS_MAX as u32 {
            let parent_count = upto >> level;
            if parent_count == 0 {
                break;
            }
            self.check_range(
                ParentRange { level, first: 0, end: parent_count },
                &mut bufs,
                threads,
            )
            .map_err(|(_, e)| e)?;
        }
        Ok(())
    }

    /// Splits the check of every stored parent over the first `upto` leaves into parts that can
    /// run in any order and on any thread: one per aligned block of `2^12` leaves (its levels 1 to
    /// 12, about 4095 node hashes), and one last part with the partial block's parents and every
    /// level above 12. Together they cover each parent exactly once.
    pub(crate) fn parent_check_parts(upto: u64) -> Vec<ParentCheckPart> {
        let blocks = upto >> PART_LEVELS;
        let mut parts: Vec<ParentCheckPart> = (0..blocks)
            .map(|b| ParentCheckPart {
                ranges: (1..=PART_LEVELS)
                    .map(|level| {
                        let shift = PART_LEVELS - level;
                        ParentRange { level, first: b << shift, end: (b + 1) << shift }
                    })
                    .collect(),
            })
            .collect();
        let mut rest = Vec::new();
        for level in 1..LEVELS_MAX as u32 {
            let end = upto >> level;
            if end == 0 {
                break;
            }
            let first = if level <= PART_LEVELS { blocks << (PART_LEVELS - level) } else { 0 };
            if first < end {
                rest.push(ParentRange { level, first, end });
            }
        }
        if !rest.is_empty() {
            parts.push(ParentCheckPart { ranges: rest });
        }
        parts
    }

    /// Checks one part of [`TreeStore::parent_check_parts`] on the calling thread. On failure, returns
    /// the error with its order key `(level, index)`: the parts' smallest key is the error
    /// [`TreeStore::recompute_check`] would report first.
    pub(crate) fn check_part(&self, part: &ParentCheckPart) -> Result<(), PartFailure> {
        let mut bufs = CheckBuffers::default();
        for range in &part.ranges {
            self.check_range(*range, &mut bufs, 1)?;
        }
        Ok(())
    }

    /// Checks parents `range.first..range.end` of `range.level` against their stored
    /// children, reading them in rounds of [`CHECK_CHUNK_PARENTS`].
    fn check_range(
        &self,
        range: ParentRange,
        bufs: &mut CheckBuffers,
        threads: usize,
    ) -> Result<(), PartFailure> {
        let ParentRange { level, mut first, end } = range;
        while first < end {
            let count = CHECK_CHUNK_PARENTS.min(end - first);
            // count <= 2^15, so these lengths fit any usize.
            bufs.children.resize(2 * count as usize * HASH_LEN, 0);
            bufs.parents.resize(count as usize * HASH_LEN, 0);
            let at = |e| ((level, first), e);
            self.read_entries_into(level - 1, 2 * first, &mut bufs.children).map_err(at)?;
            self.read_entries_into(level, first, &mut bufs.parents).map_err(at)?;
            if let Some(offset) = first_mismatch(self.alg, &bufs.children, &bufs.parents, threads) {
                let index = first + offset;
                return Err(((level, index), TreeStoreError::ParentMismatch { level, index }));
            }
            first += count;
        }
        Ok(())
    }
}

/// Levels below this are checked in aligned blocks of `2^PART_LEVELS` leaves, one part each.
const PART_LEVELS: u32 = 12;

/// A failed part check: its order key `(level, index)` and the error.
pub(crate) type PartFailure = ((u32, u64), TreeStoreError);

/// Parents `first..end` of one level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ParentRange {
    level: u32,
    first: u64,
    end: u64,
}

/// Reusable read buffers of a parent check.
#[derive(Default)]
struct CheckBuffers {
    children: Vec<u8>,
    parents: Vec<u8>,
}

/// An independent share of the parent check, for callers that spread it over their own
/// threads (the log's `verify()`): its parent ranges, lowest level first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ParentCheckPart {
    ranges: Vec<ParentRange>,
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
    let pairs: Vec<[&[u8]; 2]> = children
        .chunks_exact(2 * HASH_LEN)
        .map(|pair| {
            let (left, right) = pair.split_at(HASH_LEN);
            [left, right]
        })
        .collect();
    let mut expected = Vec::with_capacity(pairs.len());
    alg.node_hashes_into(&pairs, &mut expected);
    (0u64..)
        .zip(parents.chunks_exact(HASH_LEN).zip(&expected))
        .find_map(|(i, (parent, want))| (want.as_bytes()[..] != parent[..]).then_some(i))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::Hash;

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
    fn parent_check_parts_cover_every_parent_once() {
        for upto in [0u64, 1, 2, 3, 4095, 4096, 4097, 3 * 4096 + 5, 1 << 14, (1 << 16) + 777] {
            let mut seen = std::collections::BTreeMap::new();
            for part in TreeStore::parent_check_parts(upto) {
                let mut previous = (0, 0);
                for r in part.ranges {
                    assert!((r.level, r.first) >= previous, "ranges of a part in order");
                    previous = (r.level, r.end);
                    for i in r.first..r.end {
                        *seen.entry((r.level, i)).or_insert(0u32) += 1;
                    }
                }
            }
            let want: Vec<(u32, u64)> =
                (1..64u32).flat_map(|level| (0..upto >> level).map(move |i| (level, i))).collect();
            assert_eq!(seen.keys().copied().collect::<Vec<_>>(), want, "upto {upto}");
            assert!(seen.values().all(|&n| n == 1), "upto {upto}");
        }
    }

    /// The smallest failure over all parts, as `verify()` picks it.
    fn first_part_failure(store: &TreeStore, upto: u64) -> Option<(u32, u64)> {
        let parts = TreeStore::parent_check_parts(upto);
        parts.iter().filter_map(|p| store.check_part(p).err()).map(|(key, _)| key).min()
    }

    #[test]
    fn parts_report_the_same_first_mismatch_as_recompute_check() {
        let alg = HashAlgorithm::Blake3;
        let dir = tempfile::tempdir().unwrap();
        let store = TreeStore::create(dir.path(), alg).unwrap();
        let n = 3 * 4096 + 1000;
        let leaves: Vec<Hash> = (0..n).map(|i: u64| alg.leaf_hash(&i.to_le_bytes())).collect();
        store.append_leaves(&leaves).unwrap();
        store.sync().unwrap();
        assert_eq!(first_part_failure(&store, n), None);
        let flip = |level: u32, index: u64| {
            let path = store.level_file(level);
            let mut bytes = std::fs::read(&path).unwrap();
            bytes[32 + index as usize * HASH_LEN] ^= 1;
            std::fs::write(&path, bytes).unwrap();
        };
        // Level 5 in the third block, level 2 in the partial block, level 13 above the blocks.
        for (level, index) in [(13, 0), (5, 2 * 128 + 3), (2, 3 * 1024 + 10)] {
            flip(level, index);
            let store = TreeStore::open(dir.path(), alg).unwrap();
            let Err(TreeStoreError::ParentMismatch { level: l, index: i }) =
                store.recompute_check(n)
            else {
                panic!("recompute_check missed the flip at level {level}");
            };
            assert_eq!(first_part_failure(&store, n), Some((l, i)), "flip at level {level}");
        }
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
