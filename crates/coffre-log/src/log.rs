//! [`Log`]: the public handle. Creation, opening (with recovery), appends through the
//! committer thread ([`crate::commit`]), and reads.

use crate::ack::ticket;
use crate::backend::{read_bounded, LockGuard, OpenMode, StorageBackend, StorageFile};
use crate::checkpoint_store::CheckpointStore;
use crate::checkpointing::{check_length, check_roots, AutoCheckpointer, Checkpointer};
use crate::commit::{initial_prealloc_end, ActiveWriter, Answerer, Append, Committer, Payloads};
use crate::commit_loop::CommitLoop;
use crate::error::LogError;
use crate::hash::{Hash, HashAlgorithm};
use crate::manifest::{Manifest, FORMAT_VERSION, MANIFEST_FILE, MANIFEST_LEN_MAX};
use crate::options::{validate_origin, LogOptions, Preallocation};
use crate::prealloc::Preallocator;
use crate::record::{frame_len, Receipt, Record};
use crate::recovery::{scan_active, RecoveryReport, TornTail};
use crate::segment::{
    check_segment_header, create_segment, initialise_segment, is_unfinished_segment, list_segments,
    read_footer, read_frame, segment_file_name, sync_dir, write_zeros, SealedSegment, FOOTER_LEN,
    SEGMENT_HEADER_LEN, TABLE_ENTRY_LEN,
};
use crate::tree_store::{TreeStore, TreeStoreError};
use crossbeam_channel::Sender;
use parking_lot::{Mutex, RwLock};
use std::ops::{Bound, RangeBounds};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

/// Name of the lock file a writer holds an exclusive OS lock on.
pub const LOCK_FILE: &str = "coffre.lock";
/// Leaves re-hashed per round when the tree store is rebuilt from the records at open.
const REHASH_CHUNK: u64 = 65_536;
/// Payload bytes read into memory at once while re-hashing leaves on open.
const REHASH_BATCH_BYTES: usize = 4 << 20;

/// Group-commit counters since the log was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogStats {
    /// Commit groups written.
    pub groups_committed: u64,
    /// Records acknowledged.
    pub records_committed: u64,
    /// `fdatasync` calls on segments (group syncs and seals).
    pub fsyncs: u64,
    /// Record bytes written (frames, padding included).
    pub bytes_written: u64,
    /// Segments sealed.
    pub segments_sealed: u64,
    /// Segments sealed while [`crate::LogOptions::immutable`] is set whose immutable
    /// attribute could not be set (no CAP_LINUX_IMMUTABLE, no `chattr`, or a filesystem
    /// without it): they are only 0444. A warning, not an error.
    pub immutable_refused: u64,
}

impl LogStats {
    /// Mean records per commit group (0 before the first group).
    pub fn mean_group_records(&self) -> f64 {
        if self.groups_committed == 0 {
            return 0.0;
        }
        self.records_committed as f64 / self.groups_committed as f64
    }
}

#[derive(Debug, Default)]
pub(crate) struct StatCounters {
    pub groups: AtomicU64,
    pub records: AtomicU64,
    pub fsyncs: AtomicU64,
    pub bytes: AtomicU64,
    pub segments_sealed: AtomicU64,
    pub immutable_refused: AtomicU64,
}

/// The active segment as readers see it.
#[derive(Debug)]
pub(crate) struct ActiveView {
    pub path: PathBuf,
    pub file: Arc<dyn StorageFile>,
    pub first_index: u64,
    pub offsets: Vec<u64>,
    pub records_end: u64,
}

/// Segments as readers see them.
#[derive(Debug, Default)]
pub(crate) struct View {
    pub sealed: Vec<Arc<SealedSegment>>,
    /// `None` for a read-only view whose last segment is sealed.
    pub active: Option<ActiveView>,
}

/// State shared by the handle, the committer and readers.
pub(crate) struct Shared {
    /// Where the files live (crate::backend).
    pub backend: Arc<dyn StorageBackend>,
    /// Sets the immutable attribute on sealed segments ([`LogOptions::immutable`]).
    pub immutable: bool,
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub alg: HashAlgorithm,
    /// Bound on any frame read (the segment size).
    pub frame_len_max: u64,
    pub view: RwLock<View>,
    /// Records visible to readers (durable under the default durability).
    pub len: AtomicU64,
    pub poisoned: AtomicBool,
    /// Appends submitted and not yet answered-and-returned: the committer waits briefly for
    /// those not yet in its queue, so concurrent writers share one sync (crate::commit).
    pub appends_in_flight: AtomicU64,
    pub stats: StatCounters,
    pub tree: Option<TreeStore>,
    /// Retention policy, holds and purge bound (crate::retention).
    pub retention: crate::retention::RetentionCell,
    /// Test hook: the next segment write fails.
    #[cfg(test)]
    pub fail_next_write: AtomicBool,
    /// Test hook: every append goes through the committer thread (no lone-append path).
    #[cfg(test)]
    pub committer_only: AtomicBool,
}

impl Shared {
    /// With [`LogOptions::immutable`], sets the immutable attribute on a sealed segment;
    /// a refusal is counted, not an error (the segment is 0444 either way).
    pub(crate) fn make_immutable(&self, path: &Path) {
        if self.immutable && self.backend.set_immutable(path, true).is_err() {
            self.stats.immutable_refused.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn read(&self, index: u64) -> Result<Record, LogError> {
        let len = self.len.load(Ordering::Acquire);
        if index >= len {
            return Err(LogError::IndexOutOfRange { index, len });
        }
        if let Some(purge_record) = self.retention.purged(index) {
            return Err(LogError::Purged { index, purge_record });
        }
        let view = self.view.read();
        if let Some(a) = view.active.as_ref().filter(|a| index >= a.first_index) {
            let k = (index - a.first_index) as usize;
            let offset = *a.offsets.get(k).ok_or(LogError::IndexOutOfRange { index, len })?;
            let end = a.offsets.get(k + 1).copied().unwrap_or(a.records_end);
            let (file, path) = (Arc::clone(&a.file), a.path.clone());
            drop(view);
            return read_frame(
                |buf, at| file.read_exact_at(buf, at),
                &path,
                index,
                offset,
                end,
                self.frame_len_max,
            );
        }
        let at = view.sealed.partition_point(|s| s.end_index() <= index);
        let seg = view
            .sealed
            .get(at)
            .filter(|s| s.first_index <= index)
            .cloned()
            .ok_or(LogError::IndexOutOfRange { index, len })?;
        drop(view);
        seg.read(index, self.frame_len_max)
    }
}

/// A segmented, write-once, Merkle-indexed log in one directory. `Send + Sync`: share it as
/// `Arc<Log>`; concurrent appends are committed in groups by one committer thread.
///
/// ```
/// use coffre_log::{Log, LogOptions};
/// let dir = tempfile::tempdir().unwrap();
/// let log = Log::create(dir.path(), LogOptions::default()).unwrap();
/// let receipt = log.append(b"hello").unwrap();
/// assert_eq!(receipt.index, 0);
/// assert_eq!(log.read(0).unwrap().payload, b"hello");
/// ```
pub struct Log {
    shared: Arc<Shared>,
    tx: Option<Sender<Append>>,
    /// The write path's state, shared with the committer thread (crate::commit_loop).
    write_path: Option<Arc<Mutex<Committer>>>,
    committer: Option<JoinHandle<()>>,
    payload_size_bytes_max: u32,
    /// Holds the directory's exclusive lock while the log is open for writing.
    _lock: Option<LockGuard>,
    /// Stored checkpoints and what signing one needs (crate::checkpointing).
    checkpointer: Arc<Checkpointer>,
    /// The automatic checkpointer thread, when configured.
    auto: Option<AutoCheckpointer>,
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log")
            .field("dir", &self.shared.dir)
            .field("len", &self.len())
            .field("read_only", &self.is_read_only())
            .finish_non_exhaustive()
    }
}

impl Log {
    /// Creates a new log in `dir` (created if missing). Fails with
    /// [`LogError::AlreadyExists`] if a manifest or segment is already there.
    pub fn create(dir: impl AsRef<Path>, options: LogOptions) -> Result<Log, LogError> {
        let dir = dir.as_ref();
        let be = Arc::clone(&options.backend);
        let alg = options.hash_algorithm.unwrap_or_default();
        validate_origin(&options.origin).map_err(LogError::InvalidOptions)?;
        crate::retention::validate_retention(options.retention_seconds)?;
        check_sizes(options.segment_size_bytes, options.payload_size_bytes_max)?;
        // Before anything is written: a bad option must not leave a half-made directory.
        crate::checkpointing::validate_auto_checkpoint(&options)?;
        be.create_dir_all(dir).map_err(|e| LogError::io("create dir", dir, e))?;
        // DIRECTORY FSYNC: the log directory's own name lives in its parent; without this a
        // power failure could lose the whole new log (found by tests/sim_crash.rs).
        let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        sync_dir(&*be, parent)?;
        let manifest_path = dir.join(MANIFEST_FILE);
        if be.exists(&manifest_path) {
            return Err(LogError::AlreadyExists { path: manifest_path });
        }
        let lock = lock_dir(&*be, dir)?;
        if let Some(&first) = list_segments(&*be, dir)?.first() {
            return Err(LogError::AlreadyExists { path: dir.join(segment_file_name(first)) });
        }
        let manifest = Manifest {
            format_version: FORMAT_VERSION,
            hash_algorithm: alg,
            segment_size_bytes: options.segment_size_bytes,
            retention_seconds: options.retention_seconds,
            created_at: options.clock.now()?,
            origin: options.origin.clone(),
        };
        let prealloc_end = initial_prealloc_end(options.segment_size_bytes);
        create_segment(&*be, dir, alg, 0, options.preallocation, prealloc_end)?;
        TreeStore::replace_with_backend(&be, dir, alg)?;
        // DIRECTORY FSYNC: segment 0 must be durable before the manifest that promises it,
        // or a power failure could leave a manifest whose first segment is missing.
        sync_dir(&*be, dir)?;
        write_manifest(&*be, &manifest_path, &manifest)?;
        // DIRECTORY FSYNC: without it the manifest itself may vanish on power failure.
        sync_dir(&*be, dir)?;
        let (log, _report) = Log::open_locked(dir, options, lock)?;
        Ok(log)
    }

    /// Opens the log in `dir` for appending, recovering from a crash: a torn final write is
    /// cut off and reported; any other damage is a [`LogError::Corruption`]. Fails with
    /// [`LogError::Locked`] while another writer has it open.
    pub fn open(
        dir: impl AsRef<Path>,
        options: LogOptions,
    ) -> Result<(Log, RecoveryReport), LogError> {
        let dir = dir.as_ref();
        crate::checkpointing::validate_auto_checkpoint(&options)?;
        let manifest_path = dir.join(MANIFEST_FILE);
        if !options.backend.exists(&manifest_path) {
            return Err(LogError::NotFound { path: manifest_path });
        }
        let lock = lock_dir(&*options.backend, dir)?;
        Log::open_locked(dir, options, lock)
    }

    fn open_locked(
        dir: &Path,
        options: LogOptions,
        lock: LockGuard,
    ) -> Result<(Log, RecoveryReport), LogError> {
        let be = Arc::clone(&options.backend);
        // DIRECTORY FSYNC: a previous writer may have created a file (a segment at a roll, the
        // checkpoint file) whose directory fsync failed: it is visible now but not durable,
        // and nothing below would sync the directory again before appending into it (found
        // by tests/sim_crash.rs).
        sync_dir(&*be, dir)?;
        let manifest = read_manifest(&*be, dir, &options)?;
        check_sizes(manifest.segment_size_bytes, options.payload_size_bytes_max)?;
        let alg = manifest.hash_algorithm;
        let mut report = RecoveryReport::default();
        let mut immutable_refused = 0u64;
        let firsts = list_segments(&*be, dir)?;
        let policy = crate::retention::load_state(&*be, dir, &manifest, &firsts)?;
        let purged_until = policy.policy.purged_until;
        let sealed = check_sealed(&be, dir, &manifest, &firsts, purged_until)?;
        let mut next_first = sealed.last().map_or(purged_until, |s| s.end_index());
        let mut sealed: Vec<Arc<SealedSegment>> = sealed.into_iter().map(Arc::new).collect();
        let last_first = *firsts.last().ok_or_else(|| missing_segment(dir, 0))?;
        if last_first != next_first {
            return Err(missing_segment(dir, next_first));
        }
        let mut path = dir.join(segment_file_name(last_first));
        let mut file = open_rw(&*be, &path)?;
        let mut len = file_len(&*file, &path)?;
        if !has_valid_header(&*file, len, &path, alg, last_first)? {
            // A segment created by a roll whose header never fully reached the disk (only its
            // name did, or a torn or failed header write left part of it): its predecessor is
            // sealed and synced, so this one held nothing.
            if sealed.is_empty() || !unfinished_segment(&*file, len, &path, alg, last_first)? {
                return Err(bad_header(&*file, len, &path, alg, last_first));
            }
            let end = initial_prealloc_end(manifest.segment_size_bytes);
            initialise_segment(&*file, alg, last_first, options.preallocation, end)
                .map_err(|e| LogError::io("initialise segment", &path, e))?;
            len = file_len(&*file, &path)?;
            report.resumed_roll = true;
        }
        if read_footer(&*file, len).map_err(|e| LogError::io("read", &path, e))?.is_some() {
            // The last segment was sealed but the next one never appeared: finish the roll.
            let seg = SealedSegment::check(
                &be,
                path.clone(),
                alg,
                last_first,
                manifest.segment_size_bytes,
            )?;
            // The seal's fsync covered the bytes; the mode and attribute may not have landed.
            be.set_read_only(&path).map_err(|e| LogError::io("chmod 0444", &path, e))?;
            if options.immutable && be.set_immutable(&path, true).is_err() {
                immutable_refused += 1;
            }
            next_first = seg.end_index();
            sealed.push(Arc::new(seg));
            let end = initial_prealloc_end(manifest.segment_size_bytes);
            let (f, p) = create_segment(&*be, dir, alg, next_first, options.preallocation, end)?;
            // DIRECTORY FSYNC: the new active segment must survive before appends land in it.
            sync_dir(&*be, dir)?;
            (file, path) = (f, p);
            len = file_len(&*file, &path)?;
            report.resumed_roll = true;
        }
        let scan = scan_active(&*file, &path, len, next_first, manifest.segment_size_bytes)?;
        let (checkpoints, cut) = CheckpointStore::load(&be, dir, &manifest.origin, true)?;
        report.checkpoint_bytes_cut = cut;
        // Recovery never cuts records a checkpoint covers: that is tampering, not a torn write.
        check_length(&checkpoints, next_first + scan.offsets.len() as u64)?;
        if let Some(torn) = &scan.torn {
            cut_torn_tail(&*file, &path, torn, scan.dirty_end)?;
        }
        let active_records = scan.offsets.len() as u64;
        let records = next_first + active_records;
        report.records = records;
        report.sealed_segments = sealed.len() as u64;
        report.active_records = active_records;
        report.torn_tail = scan.torn.clone();

        let file: Arc<dyn StorageFile> = Arc::from(file);
        let view = View {
            sealed,
            active: Some(ActiveView {
                path: path.clone(),
                file: Arc::clone(&file),
                first_index: next_first,
                offsets: scan.offsets,
                records_end: scan.records_end,
            }),
        };
        // Benchmark-only `merkle_index: false`: the tree files are left as they are (behind the
        // records), and the next open with a tree re-derives the missing leaves.
        let tree = match options.merkle_index {
            true => Some(open_tree(&be, dir, alg, purged_until)?),
            false => None,
        };
        let stats = StatCounters::default();
        stats.immutable_refused.store(immutable_refused, Ordering::Relaxed);
        let shared = Arc::new(Shared {
            backend: Arc::clone(&be),
            immutable: options.immutable,
            dir: dir.to_path_buf(),
            frame_len_max: manifest.segment_size_bytes,
            manifest,
            alg,
            view: RwLock::new(view),
            len: AtomicU64::new(records),
            poisoned: AtomicBool::new(false),
            appends_in_flight: AtomicU64::new(0),
            stats,
            tree,
            retention: crate::retention::RetentionCell::new(policy),
            #[cfg(test)]
            fail_next_write: AtomicBool::new(false),
            #[cfg(test)]
            committer_only: AtomicBool::new(false),
        });
        report.tree_leaves_rehashed = align_tree(&shared, records)?;
        crate::retention::finish_open(&shared, Some(&mut report))?;
        check_roots(&shared, &checkpoints, &options, records)?;
        let preallocation = options.preallocation;
        let committer = Committer {
            shared: Arc::clone(&shared),
            clock: Arc::clone(&options.clock),
            durability: options.durability,
            preallocation,
            prealloc: match preallocation {
                Preallocation::ZeroFill => Some(Preallocator::start(Arc::clone(&shared), len)?),
                _ => None,
            },
            active: ActiveWriter {
                file,
                path,
                first_index: next_first,
                record_count: active_records,
                write_pos: scan.records_end,
                prealloc_end: if preallocation == Preallocation::None { 0 } else { len },
                records_crc: scan.records_crc,
                prealloc_file: None,
            },
            next_index: records,
            group: scan.last_group.map_or(0, |g| g.saturating_add(1)),
            buf: Vec::new(),
            buf_offsets: Vec::new(),
            leaves: Vec::new(),
            unsynced: false,
            last_sync: Instant::now(),
            tree_unsynced: 0,
            leaf_hashes: options.merkle_index || options.receipt_leaf_hash,
            hasher: None,
            tree_syncer: None,
        };
        let (tx, rx) = crossbeam_channel::bounded(4096);
        let (legacy_tx, legacy_rx) = crossbeam_channel::bounded(64);
        let write_path = Arc::new(Mutex::new(committer));
        let commit_loop = CommitLoop {
            state: Arc::clone(&write_path),
            shared: Arc::clone(&shared),
            rx,
            legacy_rx,
            durability: options.durability,
        };
        let handle = std::thread::Builder::new()
            .name("coffre-committer".into())
            .spawn(move || commit_loop.run())
            .map_err(|e| LogError::io("spawn committer", dir, e))?;
        let checkpointer =
            Checkpointer::new(Arc::clone(&shared), checkpoints, &options, Some(legacy_tx));
        let mut log = Log {
            shared,
            tx: Some(tx),
            write_path: Some(write_path),
            committer: Some(handle),
            payload_size_bytes_max: options.payload_size_bytes_max,
            _lock: Some(lock),
            checkpointer: Arc::new(checkpointer),
            auto: None,
        };
        if let Some(auto) = options.auto_checkpoint {
            log.auto = Some(AutoCheckpointer::start(Arc::clone(&log.checkpointer), auto)?);
        }
        Ok((log, report))
    }

    /// Opens the log in `dir` for reading only, without taking the lock: works while a
    /// writer appends. Sees the records present at opening (a torn or in-flight final write
    /// is ignored, not cut). Never writes to the directory.
    pub fn open_read_only(dir: impl AsRef<Path>, options: LogOptions) -> Result<Log, LogError> {
        let dir = dir.as_ref();
        let be = Arc::clone(&options.backend);
        let manifest_path = dir.join(MANIFEST_FILE);
        if !be.exists(&manifest_path) {
            return Err(LogError::NotFound { path: manifest_path });
        }
        let manifest = read_manifest(&*be, dir, &options)?;
        let alg = manifest.hash_algorithm;
        let firsts = list_segments(&*be, dir)?;
        let policy = crate::retention::load_state(&*be, dir, &manifest, &firsts)?;
        let purged_until = policy.policy.purged_until;
        let mut sealed = check_sealed(&be, dir, &manifest, &firsts, purged_until)?;
        let mut next_first = sealed.last().map_or(purged_until, |s| s.end_index());
        let last_first = *firsts.last().ok_or_else(|| missing_segment(dir, 0))?;
        if last_first != next_first {
            return Err(missing_segment(dir, next_first));
        }
        let path = dir.join(segment_file_name(last_first));
        let file =
            be.open(&path, OpenMode::Read).map_err(|e| LogError::io("open segment", &path, e))?;
        let len = file_len(&*file, &path)?;
        let mut active = None;
        if read_footer(&*file, len).map_err(|e| LogError::io("read", &path, e))?.is_some() {
            let seg =
                SealedSegment::check(&be, path, alg, last_first, manifest.segment_size_bytes)?;
            next_first = seg.end_index();
            sealed.push(seg);
        } else if has_valid_header(&*file, len, &path, alg, last_first)? {
            let scan = scan_active(&*file, &path, len, next_first, manifest.segment_size_bytes)?;
            active = Some(ActiveView {
                path,
                file: Arc::from(file),
                first_index: next_first,
                records_end: scan.records_end,
                offsets: scan.offsets,
            });
        } else if !sealed.is_empty() && unfinished_segment(&*file, len, &path, alg, last_first)? {
            // A roll in progress: the new segment has no whole header yet, so no records.
        } else {
            return Err(bad_header(&*file, len, &path, alg, last_first));
        }
        let records = next_first + active.as_ref().map_or(0, |a| a.offsets.len() as u64);
        // The tree lags the records by what the writer has not synced yet; without a tree
        // (none, or one being rebuilt) the records stay readable and roots are unavailable.
        let tree = TreeStore::open_read_only_with_backend(&be, dir, alg).ok();
        let shared = Arc::new(Shared {
            backend: Arc::clone(&be),
            immutable: false,
            dir: dir.to_path_buf(),
            frame_len_max: manifest.segment_size_bytes,
            manifest,
            alg,
            view: RwLock::new(View { sealed: sealed.into_iter().map(Arc::new).collect(), active }),
            len: AtomicU64::new(records),
            poisoned: AtomicBool::new(false),
            appends_in_flight: AtomicU64::new(0),
            stats: StatCounters::default(),
            tree,
            retention: crate::retention::RetentionCell::new(policy),
            #[cfg(test)]
            fail_next_write: AtomicBool::new(false),
            #[cfg(test)]
            committer_only: AtomicBool::new(false),
        });
        crate::retention::finish_open(&shared, None)?;
        let (checkpoints, _torn_bytes_ignored) =
            CheckpointStore::load(&be, dir, &shared.manifest.origin, false)?;
        check_roots(&shared, &checkpoints, &options, records)?;
        let checkpointer = Checkpointer::new(Arc::clone(&shared), checkpoints, &options, None);
        Ok(Log {
            shared,
            tx: None,
            write_path: None,
            committer: None,
            payload_size_bytes_max: options.payload_size_bytes_max,
            _lock: None,
            checkpointer: Arc::new(checkpointer),
            auto: None,
        })
    }

    /// Appends one record. With the default durability, `Ok` means it is on stable storage.
    pub fn append(&self, payload: &[u8]) -> Result<Receipt, LogError> {
        self.check_payload(payload)?;
        let receipts = self.submit(Payloads::One(payload.to_vec()), false)?;
        receipts.into_iter().next().ok_or(LogError::Poisoned)
    }

    /// Appends records with consecutive indexes, committed together: all or none are
    /// acknowledged. An empty batch returns no receipts.
    pub fn append_batch<P: AsRef<[u8]>>(&self, payloads: &[P]) -> Result<Vec<Receipt>, LogError> {
        for p in payloads {
            self.check_payload(p.as_ref())?;
        }
        if payloads.is_empty() {
            return Ok(Vec::new());
        }
        let owned = payloads.iter().map(|p| p.as_ref().to_vec()).collect();
        self.submit(Payloads::Many(owned), false)
    }

    /// Forces an `fdatasync` of what was written (only useful under
    /// [`crate::Durability::Periodic`]).
    pub fn sync(&self) -> Result<(), LogError> {
        self.submit(Payloads::Many(Vec::new()), true).map(|_| ())
    }

    fn check_payload(&self, payload: &[u8]) -> Result<(), LogError> {
        if crate::system::is_system_payload(payload) {
            return Err(LogError::ReservedPayload);
        }
        self.check_payload_size(payload)
    }

    fn check_payload_size(&self, payload: &[u8]) -> Result<(), LogError> {
        if payload.len() as u64 > u64::from(self.payload_size_bytes_max) {
            return Err(LogError::PayloadTooLarge {
                size_bytes: payload.len() as u64,
                limit_bytes: u64::from(self.payload_size_bytes_max),
            });
        }
        Ok(())
    }

    fn submit(&self, payloads: Payloads, force_sync: bool) -> Result<Vec<Receipt>, LogError> {
        let tx = self.tx.as_ref().ok_or(LogError::ReadOnly)?;
        if self.shared.poisoned.load(Ordering::Acquire) {
            return Err(LogError::Poisoned);
        }
        let (ticket, reply) = ticket();
        let append = Append { payloads, force_sync, reply: Answerer::Slot(reply) };
        let in_flight = InFlight::count(&self.shared.appends_in_flight);
        let sent = match self.commit_alone(append, in_flight.others == 0, tx) {
            None => Ok(()),
            Some(append) => tx.send(append).map_err(|_| LogError::Poisoned),
        };
        // A reply dropped unanswered (the committer gave up on the group) answers Poisoned.
        let receipts = sent.and_then(|()| ticket.wait());
        drop(in_flight);
        let receipts = receipts?;
        if let Some(auto) = &self.auto {
            auto.after_append(self.len(), self.checkpointer.store.latest_size());
        }
        Ok(receipts)
    }

    /// Commits a lone append on the calling thread, when no other append is in flight or
    /// queued and the write path's mutex is free; otherwise gives it back for the committer.
    /// Handing a lone append to the committer and back costs two thread wake-ups, 15-30 µs
    /// against a ~100 µs `fdatasync` on the machines measured (docs/PERFORMANCE.md);
    /// concurrent appends still go through the committer, which is what groups them.
    ///
    /// A panic while committing (from a user `Clock` or `StorageBackend`) is caught here: the
    /// log is poisoned and the append answered [`LogError::Poisoned`], as when the same panic
    /// ends the committer thread.
    fn commit_alone(&self, append: Append, alone: bool, tx: &Sender<Append>) -> Option<Append> {
        #[cfg(test)]
        if self.shared.committer_only.load(Ordering::Acquire) {
            return Some(append);
        }
        if !alone || !tx.is_empty() {
            return Some(append);
        }
        let Some(mut write_path) = self.write_path.as_ref().and_then(|w| w.try_lock()) else {
            return Some(append);
        };
        // Unwinding drops the append's reply, which answers it Poisoned, and `commit`'s guard
        // poisons the log: nothing else to do with the panic.
        let committed =
            std::panic::catch_unwind(AssertUnwindSafe(|| write_path.commit(vec![append])));
        debug_assert!(committed.is_ok() || self.shared.poisoned.load(Ordering::Acquire));
        None
    }

    /// Reads record `index`, checking its checksums.
    pub fn read(&self, index: u64) -> Result<Record, LogError> {
        self.shared.read(index)
    }

    /// Iterates over the records in `range` (clamped to the current length).
    pub fn iter(&self, range: impl RangeBounds<u64>) -> LogIter<'_> {
        let len = self.len();
        let start = match range.start_bound() {
            Bound::Included(&s) => s,
            Bound::Excluded(&s) => s.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&e) => e.saturating_add(1),
            Bound::Excluded(&e) => e,
            Bound::Unbounded => len,
        };
        LogIter { log: self, next: start, end: end.min(len) }
    }

    /// Records in the log (acknowledged ones; for a read-only handle, those seen at opening).
    pub fn len(&self) -> u64 {
        self.shared.len.load(Ordering::Acquire)
    }

    /// Whether the log holds no record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Group-commit counters since opening.
    pub fn stats(&self) -> LogStats {
        let s = &self.shared.stats;
        LogStats {
            groups_committed: s.groups.load(Ordering::Relaxed),
            records_committed: s.records.load(Ordering::Relaxed),
            fsyncs: s.fsyncs.load(Ordering::Relaxed),
            bytes_written: s.bytes.load(Ordering::Relaxed),
            segments_sealed: s.segments_sealed.load(Ordering::Relaxed),
            immutable_refused: s.immutable_refused.load(Ordering::Relaxed),
        }
    }

    /// The log's fixed parameters.
    pub fn manifest(&self) -> &Manifest {
        &self.shared.manifest
    }

    /// The Merkle tree's hash algorithm.
    pub fn hash_algorithm(&self) -> HashAlgorithm {
        self.shared.alg
    }

    /// The log's directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Whether the handle was opened with [`Log::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        self.tx.is_none()
    }

    /// Whether an I/O failure made the handle refuse appends.
    pub fn is_poisoned(&self) -> bool {
        self.shared.poisoned.load(Ordering::Acquire)
    }

    /// RFC 6962 root of the first `size` records (`size <= len()`).
    pub fn root(&self, size: u64) -> Result<Hash, LogError> {
        let len = self.len();
        if size > len {
            return Err(LogError::IndexOutOfRange { index: size, len });
        }
        let tree = self.tree().ok_or(LogError::NoMerkleIndex)?;
        Ok(tree.root(size)?)
    }

    /// The log's Merkle tree store: every leaf up to [`Log::len`] for a writer; for a
    /// read-only handle, the leaves the writer had synced (`None` if it could not be opened).
    pub(crate) fn tree(&self) -> Option<&TreeStore> {
        self.shared.tree.as_ref()
    }

    /// Stored checkpoints and signing (crate::checkpointing, crate::verify).
    pub(crate) fn checkpointer(&self) -> &Checkpointer {
        &self.checkpointer
    }

    /// State shared with the committer and readers (for crate::retention).
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Largest payload accepted.
    pub(crate) fn payload_size_bytes_max(&self) -> u32 {
        self.payload_size_bytes_max
    }

    /// Appends a system record (crate::system): bypasses the reserved-prefix check, forces
    /// a sync whatever the durability.
    pub(crate) fn append_system(&self, payload: Vec<u8>) -> Result<Receipt, LogError> {
        self.check_payload_size(&payload)?;
        let receipts = self.submit(Payloads::One(payload), true)?;
        receipts.into_iter().next().ok_or(LogError::Poisoned)
    }

    /// Test hook: makes the committer's next segment write fail.
    #[cfg(test)]
    pub(crate) fn fail_next_write(&self) {
        self.shared.fail_next_write.store(true, Ordering::Release);
    }

    /// Test hook: sends every append through the committer thread.
    #[cfg(test)]
    pub(crate) fn commit_on_the_committer_only(&self) {
        self.shared.committer_only.store(true, Ordering::Release);
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        // Closing the channel stops the committer after the requests already queued; it
        // syncs what is unsynced before exiting, and the lock is released only after. The
        // checkpointer holds a sender too: it stops (after any checkpoint in flight) first.
        if let Some(auto) = self.auto.as_mut() {
            auto.stop();
        }
        self.checkpointer.close();
        self.tx = None;
        if let Some(h) = self.committer.take() {
            let _ = h.join();
        }
        // The last share of the write path: its files, preallocator and hasher are released
        // here, before the directory lock.
        self.write_path = None;
    }
}

/// One append counted in `Shared::appends_in_flight` until dropped, also when a panic (from
/// the `Clock`, on the inline path) unwinds through `Log::submit`.
struct InFlight<'a> {
    counter: &'a AtomicU64,
    /// Appends in flight besides this one when it was counted.
    others: u64,
}

impl InFlight<'_> {
    fn count(counter: &AtomicU64) -> InFlight<'_> {
        let others = counter.fetch_add(1, Ordering::AcqRel);
        InFlight { counter, others }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.counter.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Iterator over a range of records; see [`Log::iter`].
#[derive(Debug)]
pub struct LogIter<'a> {
    log: &'a Log,
    next: u64,
    end: u64,
}

impl Iterator for LogIter<'_> {
    type Item = Result<Record, LogError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.end {
            return None;
        }
        let index = self.next;
        self.next += 1;
        Some(self.log.read(index))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = usize::try_from(self.end.saturating_sub(self.next)).unwrap_or(usize::MAX);
        (n, Some(n))
    }
}

/// Segment sizes must hold one largest record and stay below 4 GiB (u32 offsets).
fn check_sizes(segment_size_bytes: u64, payload_size_bytes_max: u32) -> Result<(), LogError> {
    let needed = SEGMENT_HEADER_LEN
        + frame_len(u64::from(payload_size_bytes_max))
        + TABLE_ENTRY_LEN
        + FOOTER_LEN;
    if segment_size_bytes < needed || segment_size_bytes > u64::from(u32::MAX) {
        return Err(LogError::InvalidOptions(format!(
            "segment size {segment_size_bytes} must be in {needed}..=4294967295 for a payload \
             limit of {payload_size_bytes_max} bytes"
        )));
    }
    Ok(())
}

/// Takes the directory's exclusive writer lock.
fn lock_dir(be: &dyn StorageBackend, dir: &Path) -> Result<LockGuard, LogError> {
    let path = dir.join(LOCK_FILE);
    match be.try_lock(&path) {
        Ok(Some(guard)) => Ok(guard),
        Ok(None) => Err(LogError::Locked { path }),
        Err(e) => Err(LogError::io("lock", &path, e)),
    }
}

fn write_manifest(
    be: &dyn StorageBackend,
    path: &Path,
    manifest: &Manifest,
) -> Result<(), LogError> {
    let file =
        be.open(path, OpenMode::CreateNew).map_err(|e| LogError::io("create manifest", path, e))?;
    let written = file.write_all_at(&manifest.encode(), 0).and_then(|()| file.sync_all());
    if let Err(e) = written {
        // Best effort: a half-written manifest would make the directory look like a damaged
        // log instead of an unfinished creation (which `open` reports as NotFound).
        let _ = be.remove_file(path);
        return Err(LogError::io("write manifest", path, e));
    }
    Ok(())
}

/// Reads the manifest and checks the options' hash algorithm against it.
fn read_manifest(
    be: &dyn StorageBackend,
    dir: &Path,
    options: &LogOptions,
) -> Result<Manifest, LogError> {
    let path = dir.join(MANIFEST_FILE);
    let file =
        be.open(&path, OpenMode::Read).map_err(|e| LogError::io("open manifest", &path, e))?;
    let bytes = read_bounded(&*file, MANIFEST_LEN_MAX as u64 + 1)
        .map_err(|e| LogError::io("read manifest", &path, e))?;
    let manifest = Manifest::decode(&bytes, &path)?;
    if let Some(requested) = options.hash_algorithm {
        if requested != manifest.hash_algorithm {
            return Err(LogError::HashAlgorithmMismatch {
                stored: manifest.hash_algorithm,
                requested,
            });
        }
    }
    Ok(manifest)
}

fn missing_segment(dir: &Path, first_index: u64) -> LogError {
    LogError::corruption(
        dir.join(segment_file_name(first_index)),
        0,
        "segment missing (the previous segment ends here)",
    )
}

/// Checks every segment but the last, in order, by name, length and footer. Segments before
/// `purged_until` were deleted by a purge (docs/RETENTION.md): files still named below it are
/// leftovers of an interrupted purge, skipped here and deleted by `retention::finish_open`.
fn check_sealed(
    be: &Arc<dyn StorageBackend>,
    dir: &Path,
    manifest: &Manifest,
    firsts: &[u64],
    purged_until: u64,
) -> Result<Vec<SealedSegment>, LogError> {
    let mut expected = purged_until;
    let mut sealed = Vec::with_capacity(firsts.len().saturating_sub(1));
    for &first in firsts.iter().take(firsts.len().saturating_sub(1)) {
        if first < purged_until {
            continue;
        }
        if first != expected {
            return Err(missing_segment(dir, expected));
        }
        let path = dir.join(segment_file_name(first));
        let seg = SealedSegment::check(
            be,
            path,
            manifest.hash_algorithm,
            first,
            manifest.segment_size_bytes,
        )?;
        expected = seg.end_index();
        sealed.push(seg);
    }
    Ok(sealed)
}

fn open_rw(be: &dyn StorageBackend, path: &Path) -> Result<Box<dyn StorageFile>, LogError> {
    be.open(path, OpenMode::ReadWrite).map_err(|e| LogError::io("open segment", path, e))
}

fn file_len(file: &dyn StorageFile, path: &Path) -> Result<u64, LogError> {
    file.len_bytes().map_err(|e| LogError::io("stat", path, e))
}

fn has_valid_header(
    file: &dyn StorageFile,
    len: u64,
    path: &Path,
    alg: HashAlgorithm,
    first_index: u64,
) -> Result<bool, LogError> {
    if len < SEGMENT_HEADER_LEN {
        return Ok(false);
    }
    let mut h = [0u8; SEGMENT_HEADER_LEN as usize];
    file.read_exact_at(&mut h, 0).map_err(|e| LogError::io("read", path, e))?;
    Ok(check_segment_header(&h, path, alg, first_index).is_ok())
}

fn unfinished_segment(
    file: &dyn StorageFile,
    len: u64,
    path: &Path,
    alg: HashAlgorithm,
    first_index: u64,
) -> Result<bool, LogError> {
    is_unfinished_segment(file, len, alg, first_index).map_err(|e| LogError::io("read", path, e))
}

/// The typed error for the last segment's header, which is neither valid nor an unfinished
/// one: a short file is cut short (never an `Io` error for reading past its end, found by
/// tests/sim_crash.rs), a whole header says what is wrong with it.
fn bad_header(
    file: &dyn StorageFile,
    len: u64,
    path: &Path,
    alg: HashAlgorithm,
    first_index: u64,
) -> LogError {
    let mut h = [0u8; SEGMENT_HEADER_LEN as usize];
    let n = len.min(SEGMENT_HEADER_LEN) as usize;
    if let Err(e) = file.read_exact_at(&mut h[..n], 0) {
        return LogError::io("read", path, e);
    }
    match check_segment_header(&h[..n], path, alg, first_index) {
        Err(e) => e,
        Ok(()) => LogError::corruption(path, 0, "segment header unreadable"),
    }
}

/// Zeroes the torn tail so later scans never see its stale bytes, and syncs.
fn cut_torn_tail(
    file: &dyn StorageFile,
    path: &Path,
    torn: &TornTail,
    dirty_end: u64,
) -> Result<(), LogError> {
    write_zeros(file, torn.offset, dirty_end)
        .and_then(|()| file.sync_data())
        .map_err(|e| LogError::io("cut torn tail", path, e))
}

/// Opens the tree store, or rebuilds it from scratch if it is missing or damaged (only while
/// no record was purged: the purged records' leaves exist nowhere else).
fn open_tree(
    be: &Arc<dyn StorageBackend>,
    dir: &Path,
    alg: HashAlgorithm,
    purged_until: u64,
) -> Result<TreeStore, LogError> {
    match TreeStore::open_with_backend(be, dir, alg) {
        Ok(t) => Ok(t),
        Err(e) if purged_until > 0 => Err(e.into()),
        // Derived data: a missing or damaged tree is rebuilt from the records.
        Err(TreeStoreError::NotFound { .. } | TreeStoreError::Corruption { .. }) => {
            Ok(TreeStore::replace_with_backend(be, dir, alg)?)
        }
        Err(e) => Err(e.into()),
    }
}

/// Cuts the tree to the records kept and re-appends the leaf hashes of records it lacks.
/// Returns how many were re-hashed.
fn align_tree(shared: &Shared, records: u64) -> Result<u64, LogError> {
    let Some(tree) = shared.tree.as_ref() else {
        return Ok(0);
    };
    if tree.len() > records {
        tree.truncate(records)?;
    }
    let from = tree.len();
    let mut leaves = Vec::new();
    let mut index = from;
    while index < records {
        leaves.clear();
        let end = records.min(index + REHASH_CHUNK);
        // Hashed in small batches (several leaves at a time), bounded in bytes as well.
        let mut kept = Vec::new();
        let mut kept_bytes = 0;
        while index + (kept.len() as u64) < end && kept_bytes < REHASH_BATCH_BYTES {
            let record = shared.read(index + kept.len() as u64)?;
            kept_bytes += record.payload.len();
            kept.push(record);
        }
        let end = index + kept.len() as u64;
        let stamps: Vec<_> = kept.iter().map(|r| r.timestamp.to_bytes()).collect();
        let parts: Vec<[&[u8]; 2]> =
            stamps.iter().zip(&kept).map(|(t, r)| [&t[..], &r.payload[..]]).collect();
        shared.alg.leaf_hashes_into(&parts, &mut leaves);
        tree.append_leaves(&leaves)?;
        index = end;
    }
    if records > from {
        tree.sync()?;
    }
    Ok(records - from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> LogOptions {
        LogOptions { segment_size_bytes: 4096, payload_size_bytes_max: 512, ..Default::default() }
    }

    #[test]
    fn write_error_poisons_the_log_and_fails_the_group() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::create(dir.path(), small()).unwrap();
        log.append(b"before").unwrap();
        log.fail_next_write();
        assert!(matches!(log.append(b"lost"), Err(LogError::Io { op: "write", .. })));
        assert!(log.is_poisoned());
        assert!(matches!(log.append(b"after"), Err(LogError::Poisoned)));
        assert!(matches!(log.append_batch(&[b"x"]), Err(LogError::Poisoned)));
        assert_eq!(log.len(), 1);
        assert_eq!(log.read(0).unwrap().payload, b"before");
        drop(log);
        let (log, report) = Log::open(dir.path(), small()).unwrap();
        assert_eq!(report.records, 1);
        assert_eq!(log.append(b"again").unwrap().index, 1);
    }

    #[test]
    fn records_roll_across_segments_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::create(dir.path(), small()).unwrap();
        let payloads: Vec<Vec<u8>> =
            (0..200u32).map(|i| vec![i as u8; (i % 97) as usize]).collect();
        for p in &payloads {
            log.append(p).unwrap();
        }
        assert!(log.stats().segments_sealed > 3);
        for (i, p) in payloads.iter().enumerate() {
            assert_eq!(&log.read(i as u64).unwrap().payload, p);
        }
        let root = log.root(200).unwrap();
        drop(log);
        let (log, report) = Log::open(dir.path(), small()).unwrap();
        assert_eq!(report.records, 200);
        assert_eq!(report.torn_tail, None);
        assert_eq!(log.root(200).unwrap(), root);
        let mut mem = crate::merkle::MemoryTree::new(log.hash_algorithm());
        for r in log.iter(..) {
            mem.push_leaf_hash(r.unwrap().leaf_hash(log.hash_algorithm()));
        }
        assert_eq!(mem.root(200), root);
    }
}
