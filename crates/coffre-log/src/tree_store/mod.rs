//! The persistent RFC 6962 Merkle tree of a log: one file of complete-subtree hashes per level.
//!
//! Level `k` (`tree/level-KK.hashes`) holds, after a 32-byte header, the hashes of the complete
//! subtrees of `2^k` leaves in order: entry `i` covers leaves `i << k .. (i + 1) << k`. Level 0
//! holds the leaf hashes. Appending a leaf writes it and every parent it completes, computed
//! from an in-memory frontier (O(1) amortised hashes, no reads). A root or proof reads O(log n)
//! stored hashes and re-hashes no leaf; nothing but the O(log n) frontier is kept in memory.
//! A writable store on OS files reads them through read-only memory maps of the level files
//! (module `maps`; no system call per hash); a read-only store, or one on a backend without
//! OS files, reads them with `pread`.
//!
//! # Durability
//!
//! The tree is derived data: the log can always recompute it from its records. Appends are
//! not synced. [`TreeStore::sync`] fdatasyncs the level files, then durably records the leaf
//! count they cover in `tree/head` ([`TreeStore::durable_len`]). After a crash, `open` trusts
//! only that many leaves, cuts the level files to what it implies, and the log re-appends the
//! leaf hashes of its later records.
//!
//! # Concurrency
//!
//! Reads take `&self` and run while one writer appends (appends are serialised by a mutex).
//! A hash becomes visible to readers once [`TreeStore::len`] covers it, which happens only
//! after it and all its parents are written. One process may open a directory for writing at
//! a time; the log's directory lock ensures it. Any number may [`TreeStore::open_read_only`].

mod append;
mod check;
mod edge_cache;
mod error;
mod files;
mod format;
mod maps;
mod proofs;

pub use error::TreeStoreError;

use crate::backend::{os_backend, OpenMode, StorageBackend, StorageFile};
use crate::hash::{Hash, HashAlgorithm, HASH_LEN};
use crate::merkle::SubtreeHashes;
use crate::poison::PoisonUnlessDisarmed;
use append::{plan_append, Frontier, LEVELS_MAX};
use edge_cache::EdgeCache;
use files::{
    admit_level, corruption, create_level, install_head, io_error, level_path, open_level,
    read_head, sync_dir, write_head_slot, LevelFile, HEAD_FILE_NAME, TREE_DIR_NAME,
};
use format::{entry_offset, HeadSlot, LevelHeader, TreeId};
use maps::LevelMaps;
use parking_lot::{Mutex, RwLock, RwLockReadGuard};
use std::fmt;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// Most leaves a tree store holds (2^56): keeps every file offset far from `u64` overflow.
pub const LEAVES_MAX: u64 = 1 << 56;

/// Leaves planned and written per round of a large `append_leaves`, bounding its buffers.
const APPEND_CHUNK_LEAVES: usize = 1 << 16;

/// The persistent Merkle tree of one log. See the [module docs](self).
pub struct TreeStore {
    backend: Arc<dyn StorageBackend>,
    tree_dir: PathBuf,
    alg: HashAlgorithm,
    tree_id: TreeId,
    /// Level files, set once each; a writer creates them as the tree grows.
    levels: [OnceLock<Box<dyn StorageFile>>; LEVELS_MAX],
    head: Box<dyn StorageFile>,
    /// Leaves whose hashes (and parents) are written and readable.
    len: AtomicU64,
    /// Leaves covered by the last durable head write.
    durable_len: AtomicU64,
    /// `None` for a read-only store.
    writer: Option<Mutex<Writer>>,
    /// Set after a failed sync or recovery: what is on disk is unknown.
    poisoned: AtomicBool,
    /// Read-only maps of the level files; only a writable store maps (a read-only one may
    /// share its files with a writer in another process, which can cut them under it).
    /// Soundness rests on three rules: a reader loads `len` only after taking the read side
    /// and reads through a map only entries below `len`; the writer publishes `len` only after
    /// writing every entry below it, and never rewrites an entry below `len`; `truncate`
    /// lowers `len` and cuts the files under the write side. Only the writer (holding
    /// `writer`) replaces maps.
    maps: RwLock<LevelMaps>,
    /// Right-edge range hashes of the last proof size (writable stores only; cleared by
    /// `truncate` under the maps' write lock, taken after `maps` when both are held).
    edge_cache: Mutex<EdgeCache>,
    /// Held for the whole of a sync (taken before `writer`): a concurrent sync must not see
    /// levels as clean while another is still fdatasyncing them.
    sync_lock: Mutex<()>,
    /// Test hook: runs inside `sync_concurrently`, after the fdatasyncs, before the head.
    #[cfg(test)]
    before_concurrent_head: Mutex<Option<ConcurrentSyncHook>>,
}

/// What a test runs in the window of a concurrent sync.
#[cfg(test)]
pub(crate) type ConcurrentSyncHook = Box<dyn FnOnce(&TreeStore) + Send>;

/// State only the writer touches.
struct Writer {
    frontier: Frontier,
    /// Sequence number of the head slot written last.
    head_sequence: u64,
    /// Bit `k` set: level `k` written since the last sync.
    dirty_levels: u64,
    /// A level file was created since the last sync, so the directory must be synced.
    dir_dirty: bool,
    /// Truncations so far: a concurrent sync whose snapshot predates one writes no head.
    cuts: u64,
}

impl fmt::Debug for TreeStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TreeStore")
            .field("tree_dir", &self.tree_dir)
            .field("alg", &self.alg)
            .field("len", &self.len())
            .field("durable_len", &self.durable_len())
            .field("read_only", &self.writer.is_none())
            .finish_non_exhaustive()
    }
}

/// Whether a removal removed something: a path already absent is not an error.
fn removed(result: std::io::Result<()>, path: &Path) -> Result<bool, TreeStoreError> {
    match result {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(TreeStoreError::Io { path: path.to_path_buf(), source: e }),
    }
}

impl TreeStore {
    /// Creates an empty tree store in `dir/tree/` (`dir` is the log directory, which must
    /// exist). Fails with [`TreeStoreError::AlreadyExists`] if a store is already there.
    pub fn create(dir: &Path, alg: HashAlgorithm) -> Result<TreeStore, TreeStoreError> {
        TreeStore::create_with_backend(&os_backend(), dir, alg)
    }

    /// [`TreeStore::create`] through a storage backend (crate::backend).
    pub fn create_with_backend(
        be: &Arc<dyn StorageBackend>,
        dir: &Path,
        alg: HashAlgorithm,
    ) -> Result<TreeStore, TreeStoreError> {
        let tree_dir = dir.join(TREE_DIR_NAME);
        let head_path = tree_dir.join(HEAD_FILE_NAME);
        if be.exists(&head_path) {
            return Err(TreeStoreError::AlreadyExists { path: head_path });
        }
        be.create_dir_all(&tree_dir).map_err(io_error(&tree_dir))?;
        let tree_id = files::new_tree_id(&tree_dir)?;
        let level0 = create_level(&**be, &tree_dir, &LevelHeader { alg, level: 0, tree_id })?;
        let level0_path = level_path(&tree_dir, 0);
        level0.sync_data().map_err(io_error(&level0_path))?;
        // The head is installed last, by rename: a tree directory without a head is an
        // unfinished `create` and is never opened.
        install_head(&**be, &tree_dir, alg, tree_id)?;
        // DIRECTORY FSYNC: without it the rename (and level-00) may vanish on power loss.
        sync_dir(&**be, &tree_dir)?;
        // DIRECTORY FSYNC: makes the new `tree/` entry itself durable in the log directory.
        sync_dir(&**be, dir)?;
        TreeStore::open_with_backend(be, dir, alg)
    }

    /// Discards any tree store in `dir/tree/` and creates an empty one: how the log rebuilds a
    /// tree it found corrupt, by re-appending the leaf hashes of its records.
    pub fn replace(dir: &Path, alg: HashAlgorithm) -> Result<TreeStore, TreeStoreError> {
        TreeStore::replace_with_backend(&os_backend(), dir, alg)
    }

    /// [`TreeStore::replace`] through a storage backend (crate::backend).
    pub fn replace_with_backend(
        be: &Arc<dyn StorageBackend>,
        dir: &Path,
        alg: HashAlgorithm,
    ) -> Result<TreeStore, TreeStoreError> {
        let tree_dir = dir.join(TREE_DIR_NAME);
        let head_path = tree_dir.join(HEAD_FILE_NAME);
        if removed(be.remove_file(&head_path), &head_path)? {
            // DIRECTORY FSYNC: the head must be gone for good before any level file is
            // rewritten, or a crash could pair the old head with new level files.
            sync_dir(&**be, &tree_dir)?;
        }
        removed(be.remove_dir_all(&tree_dir), &tree_dir)?;
        TreeStore::create_with_backend(be, dir, alg)
    }

    /// Opens the tree store of the log directory `dir` for appending. Trusts
    /// [`durable_len`](Self::durable_len) leaves, cuts the level files after them, and rebuilds
    /// the frontier with O(log n) reads. The log then re-appends its later leaf hashes.
    pub fn open(dir: &Path, alg: HashAlgorithm) -> Result<TreeStore, TreeStoreError> {
        TreeStore::open_impl(&os_backend(), dir, alg, true)
    }

    /// [`TreeStore::open`] through a storage backend (crate::backend).
    pub fn open_with_backend(
        be: &Arc<dyn StorageBackend>,
        dir: &Path,
        alg: HashAlgorithm,
    ) -> Result<TreeStore, TreeStoreError> {
        TreeStore::open_impl(be, dir, alg, true)
    }

    /// [`TreeStore::open_read_only`] through a storage backend (crate::backend).
    pub fn open_read_only_with_backend(
        be: &Arc<dyn StorageBackend>,
        dir: &Path,
        alg: HashAlgorithm,
    ) -> Result<TreeStore, TreeStoreError> {
        TreeStore::open_impl(be, dir, alg, false)
    }

    /// Opens the tree store of `dir` for reading only: never writes, cuts or creates a file,
    /// and works while a writer appends. It sees the durable leaves as of opening;
    /// [`refresh`](Self::refresh) catches up with later syncs.
    pub fn open_read_only(dir: &Path, alg: HashAlgorithm) -> Result<TreeStore, TreeStoreError> {
        TreeStore::open_impl(&os_backend(), dir, alg, false)
    }

    fn open_impl(
        be: &Arc<dyn StorageBackend>,
        dir: &Path,
        alg: HashAlgorithm,
        writable: bool,
    ) -> Result<TreeStore, TreeStoreError> {
        let tree_dir = dir.join(TREE_DIR_NAME);
        let head_path = tree_dir.join(HEAD_FILE_NAME);
        if writable && be.exists(&tree_dir) {
            // DIRECTORY FSYNC: a level file created by a previous writer whose directory fsync
            // failed is visible but not durable; later heads must not name its hashes.
            sync_dir(&**be, &tree_dir)?;
        }
        let mode = if writable { OpenMode::ReadWrite } else { OpenMode::Read };
        let head = match be.open(&head_path, mode) {
            Ok(file) => file,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(TreeStoreError::NotFound { path: head_path })
            }
            Err(e) => return Err(TreeStoreError::Io { path: head_path, source: e }),
        };
        let slot = read_head(&*head, &head_path)?;
        if slot.alg != alg {
            return Err(corruption(
                &head_path,
                0,
                format!("tree uses {}, the log uses {}", slot.alg.name(), alg.name()),
            ));
        }
        let durable = slot.durable_leaves;
        if durable > LEAVES_MAX {
            return Err(corruption(&head_path, 0, format!("head names {durable} leaves")));
        }
        let levels: [OnceLock<Box<dyn StorageFile>>; LEVELS_MAX] =
            std::array::from_fn(|_| OnceLock::new());
        let mut dirty_levels = 0u64;
        for (level, cell) in (0u32..).zip(levels.iter()) {
            let header = LevelHeader { alg, level, tree_id: slot.tree_id };
            let entries = durable >> level;
            let file = match open_level(&**be, &tree_dir, &header, writable)? {
                LevelFile::Valid(file, size_bytes) => {
                    admit_level(&tree_dir, level, &*file, size_bytes, entries, writable)?;
                    Some(file)
                }
                LevelFile::Missing if entries > 0 => {
                    return Err(corruption(
                        &level_path(&tree_dir, level),
                        0,
                        format!("level file missing, the head implies {entries} hashes"),
                    ));
                }
                LevelFile::Foreign(detail) if entries > 0 => {
                    return Err(corruption(&level_path(&tree_dir, level), 0, detail));
                }
                // A level the head does not vouch for: an unsynced file left by a crash.
                LevelFile::Foreign(_) if writable => {
                    dirty_levels |= 1 << level;
                    Some(create_level(&**be, &tree_dir, &header)?)
                }
                LevelFile::Foreign(_) | LevelFile::Missing => None,
            };
            if let Some(file) = file {
                let _ = cell.set(file);
            }
        }
        let store = TreeStore {
            backend: Arc::clone(be),
            tree_dir,
            alg,
            tree_id: slot.tree_id,
            levels,
            head,
            len: AtomicU64::new(durable),
            durable_len: AtomicU64::new(durable),
            writer: None,
            poisoned: AtomicBool::new(false),
            maps: RwLock::new(LevelMaps::empty()),
            edge_cache: Mutex::new(EdgeCache::default()),
            sync_lock: Mutex::new(()),
            #[cfg(test)]
            before_concurrent_head: Mutex::new(None),
        };
        if !writable {
            return Ok(store);
        }
        {
            let mut maps = store.maps.write();
            for (level, cell) in (0u32..).zip(store.levels.iter()) {
                if let Some(file) = cell.get() {
                    maps.remap(level, &**file, entry_offset(durable >> level));
                }
            }
        }
        let frontier = store.read_frontier(durable)?;
        let writer = Writer {
            frontier,
            head_sequence: slot.sequence,
            dirty_levels,
            dir_dirty: false,
            cuts: 0,
        };
        Ok(TreeStore { writer: Some(Mutex::new(writer)), ..store })
    }

    /// Leaves appended (and readable).
    pub fn len(&self) -> u64 {
        self.len.load(Ordering::Acquire)
    }

    /// Whether no leaf has been appended.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Leaves whose hashes survive a crash: those covered by the last successful
    /// [`sync`](Self::sync) (or found durable at open).
    pub fn durable_len(&self) -> u64 {
        self.durable_len.load(Ordering::Acquire)
    }

    /// The tree's hash algorithm.
    pub fn algorithm(&self) -> HashAlgorithm {
        self.alg
    }

    /// Whether the store was opened with [`open_read_only`](Self::open_read_only).
    pub fn is_read_only(&self) -> bool {
        self.writer.is_none()
    }

    /// The stored hash of leaf `index` (its RFC 6962 leaf hash).
    pub fn leaf_hash(&self, index: u64) -> Result<Hash, TreeStoreError> {
        let size = self.len();
        if index >= size {
            return Err(TreeStoreError::IndexOutOfRange { index, size });
        }
        self.read_hash(0, index)
    }

    /// Appends leaf hashes: writes each at level 0 and every parent it completes, with one
    /// `pwrite` per level per batch. O(1) amortised node hashes per leaf, no reads, no sync.
    /// On error nothing is appended (`len` is unchanged); bytes already written past `len` are
    /// overwritten by the next append.
    pub fn append_leaves(&self, leaves: &[Hash]) -> Result<(), TreeStoreError> {
        let mut writer = self.lock_writer()?;
        let len = self.len.load(Ordering::Relaxed);
        let new_len = u64::try_from(leaves.len())
            .ok()
            .and_then(|n| len.checked_add(n))
            .filter(|&n| n <= LEAVES_MAX)
            .ok_or(TreeStoreError::TooManyLeaves { max: LEAVES_MAX })?;
        let mut frontier = writer.frontier.clone();
        let mut position = len;
        for chunk in leaves.chunks(APPEND_CHUNK_LEAVES) {
            let runs = plan_append(self.alg, &mut frontier, position, chunk);
            for (level, run) in (0u32..).zip(runs.iter()) {
                if run.bytes.is_empty() {
                    continue;
                }
                let file = self.writable_level(level, &mut writer)?;
                file.write_all_at(&run.bytes, entry_offset(run.first_index))
                    .map_err(io_error(&level_path(&self.tree_dir, level)))?;
                writer.dirty_levels |= 1 << level;
            }
            position += chunk.len() as u64;
        }
        self.grow_maps(new_len);
        writer.frontier = frontier;
        // Release: readers that see the new length also see every hash written above.
        self.len.store(new_len, Ordering::Release);
        Ok(())
    }

    /// Makes every appended leaf durable: fdatasyncs the level files written since the last
    /// sync, then records the leaf count in `tree/head` and syncs it. After a failure the store
    /// refuses writes ([`TreeStoreError::Poisoned`]): reopen it.
    pub fn sync(&self) -> Result<(), TreeStoreError> {
        let _sync = self.sync_lock.lock();
        let mut writer = self.lock_writer()?;
        let result = self.sync_locked(&mut writer);
        if result.is_err() {
            // A failed fsync may have dropped dirty pages; retrying could report success for
            // data that never reached the disk.
            self.poisoned.store(true, Ordering::Release);
        }
        result
    }

    /// Like [`TreeStore::sync`], but holds the writer lock only to take a snapshot (the
    /// length, the levels written) and to write the head: the level files are fdatasynced
    /// while appends go on, so a background thread can sync without stalling the writer.
    /// The head then vouches for the leaves appended before the snapshot, all written before
    /// it and synced after it. A `truncate` in between cancels the head write (a later sync
    /// covers the store). Once the snapshot is taken, a failure (or a panic) poisons the store
    /// like `sync`: the levels it was syncing are no longer marked as written, so no later
    /// sync could be trusted.
    pub fn sync_concurrently(&self) -> Result<(), TreeStoreError> {
        let _sync = self.sync_lock.lock();
        let (dirty_levels, dir_dirty, len, cuts) = {
            let mut writer = self.lock_writer()?;
            let snapshot = (
                writer.dirty_levels,
                writer.dir_dirty,
                self.len.load(Ordering::Relaxed),
                writer.cuts,
            );
            writer.dirty_levels = 0;
            writer.dir_dirty = false;
            snapshot
        };
        // Poisons the store on every early return (and unwind) from here on: the written
        // levels were taken out of the writer's record.
        let poison = PoisonUnlessDisarmed::arm(&self.poisoned);
        for (level, cell) in (0u32..).zip(self.levels.iter()) {
            if dirty_levels & (1 << level) == 0 {
                continue;
            }
            if let Some(file) = cell.get() {
                file.sync_data().map_err(io_error(&level_path(&self.tree_dir, level)))?;
            }
        }
        if dir_dirty {
            // DIRECTORY FSYNC: as in `sync_locked`, before the head names the new files.
            sync_dir(&*self.backend, &self.tree_dir)?;
        }
        #[cfg(test)]
        if let Some(hook) = self.before_concurrent_head.lock().take() {
            hook(self);
        }
        let mut writer = self.lock_writer()?;
        if writer.cuts == cuts && len != self.durable_len() {
            self.write_head(&mut writer, len)?;
        }
        poison.disarm();
        Ok(())
    }

    fn sync_locked(&self, writer: &mut Writer) -> Result<(), TreeStoreError> {
        for (level, cell) in (0u32..).zip(self.levels.iter()) {
            if writer.dirty_levels & (1 << level) == 0 {
                continue;
            }
            if let Some(file) = cell.get() {
                file.sync_data().map_err(io_error(&level_path(&self.tree_dir, level)))?;
            }
        }
        writer.dirty_levels = 0;
        if writer.dir_dirty {
            // DIRECTORY FSYNC: level files created since the last sync exist after a crash
            // only once the tree directory is synced; the head must not name their hashes
            // before that.
            sync_dir(&*self.backend, &self.tree_dir)?;
            writer.dir_dirty = false;
        }
        let len = self.len.load(Ordering::Relaxed);
        if len != self.durable_len() {
            self.write_head(writer, len)?;
        }
        Ok(())
    }

    /// Forgets every leaf from `leaves` on (recovery, when the log cut records). If durable
    /// leaves are cut, the head is lowered durably first, so later appends can never be mixed
    /// with the old hashes after a crash. Rebuilds the frontier with O(log n) reads. Readers
    /// proving in a size above `leaves` meanwhile get errors.
    pub fn truncate(&self, leaves: u64) -> Result<(), TreeStoreError> {
        let mut writer = self.lock_writer()?;
        let len = self.len.load(Ordering::Relaxed);
        if leaves > len {
            return Err(TreeStoreError::SizeTooLarge { size: leaves, len });
        }
        if leaves == len {
            return Ok(());
        }
        let result = self.truncate_locked(&mut writer, leaves);
        if result.is_err() {
            self.poisoned.store(true, Ordering::Release);
        }
        result
    }

    fn truncate_locked(&self, writer: &mut Writer, leaves: u64) -> Result<(), TreeStoreError> {
        writer.cuts += 1;
        if leaves < self.durable_len() {
            self.write_head(writer, leaves)?;
        }
        {
            // No reader is inside a map while its files shrink, and every later reader sees
            // the lowered length: see the `maps` field. The maps themselves stay: they only
            // span bytes past the new ends, which no reader asks for until appends refill them.
            let _maps = self.maps.write();
            self.edge_cache.lock().clear();
            self.len.store(leaves, Ordering::Release);
            for (level, cell) in (0u32..).zip(self.levels.iter()) {
                if let Some(file) = cell.get() {
                    let path = level_path(&self.tree_dir, level);
                    file.set_len(entry_offset(leaves >> level)).map_err(io_error(&path))?;
                    writer.dirty_levels |= 1 << level;
                }
            }
        }
        writer.frontier = self.read_frontier(leaves)?;
        Ok(())
    }

    /// Remaps the levels whose entries for a tree of `len` leaves outgrew their maps. Writer
    /// only; a no-op for read-only stores (they never map).
    fn grow_maps(&self, len: u64) {
        let outgrown = |maps: &LevelMaps, level: u32| {
            len >> level > 0 && !maps.covers(level, entry_offset(len >> level))
        };
        // Levels holding at least one entry; one read lock for the whole check, which runs
        // on every append.
        let levels = 0..(u64::BITS - len.leading_zeros()).min(LEVELS_MAX as u32);
        if self.writer.is_none() {
            return;
        }
        let any_outgrown = {
            let maps = self.maps.read();
            levels.clone().any(|l| outgrown(&maps, l))
        };
        if !any_outgrown {
            return;
        }
        let mut maps = self.maps.write();
        for (level, cell) in levels.zip(self.levels.iter()) {
            if let Some(file) = cell.get().filter(|_| outgrown(&maps, level)) {
                maps.remap(level, &**file, entry_offset(len >> level));
            }
        }
    }

    /// Re-reads the head of a read-only store and exposes the leaves it now names as durable
    /// (a writer's later syncs). Returns the new [`len`](Self::len). A writable store's
    /// length is already current; it returns it unchanged.
    pub fn refresh(&self) -> Result<u64, TreeStoreError> {
        if self.writer.is_some() {
            return Ok(self.len());
        }
        let head_path = self.tree_dir.join(HEAD_FILE_NAME);
        let slot = read_head(&*self.head, &head_path)?;
        if slot.tree_id != self.tree_id || slot.alg != self.alg {
            return Err(corruption(&head_path, 0, "the head now belongs to another tree"));
        }
        if slot.durable_leaves > LEAVES_MAX {
            return Err(corruption(&head_path, 0, "head names too many leaves"));
        }
        self.durable_len.store(slot.durable_leaves, Ordering::Release);
        self.len.store(slot.durable_leaves, Ordering::Release);
        Ok(slot.durable_leaves)
    }

    fn lock_writer(&self) -> Result<parking_lot::MutexGuard<'_, Writer>, TreeStoreError> {
        let writer = self.writer.as_ref().ok_or(TreeStoreError::ReadOnly)?.lock();
        if self.poisoned.load(Ordering::Acquire) {
            return Err(TreeStoreError::Poisoned);
        }
        Ok(writer)
    }

    fn write_head(&self, writer: &mut Writer, durable_leaves: u64) -> Result<(), TreeStoreError> {
        let slot = HeadSlot {
            alg: self.alg,
            tree_id: self.tree_id,
            sequence: writer.head_sequence + 1,
            durable_leaves,
        };
        write_head_slot(&*self.head, &self.tree_dir.join(HEAD_FILE_NAME), &slot)?;
        writer.head_sequence = slot.sequence;
        self.durable_len.store(durable_leaves, Ordering::Release);
        Ok(())
    }

    /// The file of `level`, created (with its header) if the tree just grew to it.
    fn writable_level(
        &self,
        level: u32,
        writer: &mut Writer,
    ) -> Result<&dyn StorageFile, TreeStoreError> {
        let cell = self.level_cell(level)?;
        if cell.get().is_none() {
            let header = LevelHeader { alg: self.alg, level, tree_id: self.tree_id };
            let _ = cell.set(create_level(&*self.backend, &self.tree_dir, &header)?);
            writer.dir_dirty = true;
        }
        cell.get()
            .map(|f| &**f)
            .ok_or_else(|| corruption(&level_path(&self.tree_dir, level), 0, "no level file"))
    }

    fn level_cell(&self, level: u32) -> Result<&OnceLock<Box<dyn StorageFile>>, TreeStoreError> {
        self.levels.get(level as usize).ok_or(TreeStoreError::SubtreeOutOfRange {
            level,
            index: 0,
            len: self.len(),
        })
    }

    /// The file of `level` for reading; a read-only store opens files a writer created later.
    fn readable_level(&self, level: u32) -> Result<&dyn StorageFile, TreeStoreError> {
        let cell = self.level_cell(level)?;
        if cell.get().is_none() && self.writer.is_none() {
            let header = LevelHeader { alg: self.alg, level, tree_id: self.tree_id };
            match open_level(&*self.backend, &self.tree_dir, &header, false)? {
                LevelFile::Valid(file, _) => {
                    let _ = cell.set(file);
                }
                LevelFile::Foreign(detail) => {
                    return Err(corruption(&level_path(&self.tree_dir, level), 0, detail))
                }
                LevelFile::Missing => {}
            }
        }
        cell.get()
            .map(|f| &**f)
            .ok_or_else(|| corruption(&level_path(&self.tree_dir, level), 0, "level file missing"))
    }

    /// Reads the stored hash `(level, index)`, which must lie inside the current length.
    fn read_hash(&self, level: u32, index: u64) -> Result<Hash, TreeStoreError> {
        self.reader().subtree_hash(level, index)
    }

    /// A view for a run of reads (a whole proof) under one hold of the map lock.
    fn reader(&self) -> Reader<'_> {
        Reader { store: self, maps: self.maps.read() }
    }

    /// Reads consecutive entries of `level` from `first_index` to fill `buf` (a multiple of
    /// 32 bytes). A short file is corruption: the length promised the entries exist.
    fn read_entries_into(
        &self,
        level: u32,
        first_index: u64,
        buf: &mut [u8],
    ) -> Result<(), TreeStoreError> {
        let file = self.readable_level(level)?;
        let offset = entry_offset(first_index);
        file.read_exact_at(buf, offset).map_err(|e| {
            let path = level_path(&self.tree_dir, level);
            if e.kind() == ErrorKind::UnexpectedEof {
                corruption(&path, offset, "level file shorter than the tree length implies")
            } else {
                TreeStoreError::Io { path, source: e }
            }
        })
    }

    /// The frontier of a tree of `len` leaves: one read per set bit of `len`.
    fn read_frontier(&self, len: u64) -> Result<Frontier, TreeStoreError> {
        let mut frontier = Frontier::default();
        for (level, slot) in (0u32..).zip(frontier.hashes.iter_mut()) {
            if (len >> level) & 1 == 1 {
                *slot = self.read_hash(level, (len >> level) - 1)?;
            }
        }
        Ok(frontier)
    }
}

impl SubtreeHashes for TreeStore {
    type Error = TreeStoreError;

    fn subtree_hash(&self, level: u32, index: u64) -> Result<Hash, TreeStoreError> {
        self.read_hash(level, index)
    }
}

/// The store with the read side of its map lock held: a `truncate` waits until it is dropped.
/// Never held by the writer while it takes the write side.
struct Reader<'a> {
    store: &'a TreeStore,
    maps: RwLockReadGuard<'a, LevelMaps>,
}

impl SubtreeHashes for Reader<'_> {
    type Error = TreeStoreError;

    fn subtree_hash(&self, level: u32, index: u64) -> Result<Hash, TreeStoreError> {
        // Loaded under the read guard: no entry below this length is cut while it is held.
        let len = self.store.len();
        if level as usize >= LEVELS_MAX || index >= len >> level {
            return Err(TreeStoreError::SubtreeOutOfRange { level, index, len });
        }
        let mut bytes = [0u8; HASH_LEN];
        if !self.maps.copy_at(level, entry_offset(index), &mut bytes) {
            self.store.read_entries_into(level, index, &mut bytes)?;
        }
        Ok(Hash(bytes))
    }

    fn prefetch_range(&self, start: u64, end: u64) {
        // Only a complete subtree is one stored hash; right-edge ranges come from the cache.
        let width = end - start;
        if !width.is_power_of_two() {
            return;
        }
        let level = width.trailing_zeros();
        let index = start >> level;
        // The same bound as `subtree_hash`: only entries below the length are touched.
        if (level as usize) < LEVELS_MAX && index < self.store.len() >> level {
            self.maps.touch(level, entry_offset(index));
        }
    }

    fn range_hash(&self, alg: HashAlgorithm, start: u64, end: u64) -> Result<Hash, TreeStoreError> {
        // A complete subtree is one read; a read-only store may share its files with a writer
        // in another process, whose cuts this process would not see: no cache there.
        if (end - start).is_power_of_two() || self.store.writer.is_none() {
            return crate::merkle::range_hash(alg, self, start, end);
        }
        if let Some(hash) = self.store.edge_cache.lock().get(start, end) {
            // Only `truncate` lowers the length, and it clears the cache.
            debug_assert!(end <= self.store.len(), "cached range past the tree's length");
            return Ok(hash);
        }
        let hash = crate::merkle::range_hash(alg, self, start, end)?;
        // Inserted under the same maps read guard the hash was computed under, so no
        // truncate can fall in between.
        self.store.edge_cache.lock().insert(start, end, hash);
        Ok(hash)
    }
}

#[cfg(test)]
mod map_tests;
#[cfg(test)]
mod read_count_tests;
