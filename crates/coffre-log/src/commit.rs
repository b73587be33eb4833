//! The write path's state and the commit of one group: stamp, frame, one `pwrite` per
//! segment touched, one `fdatasync`, then answer every waiter. Groups come from the committer
//! thread (crate::commit_loop); a lone append is committed by its own thread (`Log::submit`).
//! See docs/ARCHITECTURE.md, "Write path".

use crate::ack::{Answer, Reply};
use crate::backend::OpenMode;
use crate::backend::StorageFile;
use crate::error::LogError;
use crate::hash::Hash;
use crate::leaf_hasher::{hash_leaves, HasherThread, Stamped, PARALLEL_RECORDS_MIN};
use crate::log::{ActiveView, Shared};
use crate::options::{Durability, Preallocation};
use crate::poison::PoisonUnlessDisarmed;
use crate::prealloc::Preallocator;
use crate::record::{encode_frame, frame_len, Receipt};
use crate::segment::{
    create_segment, preallocate, seal_segment, sync_dir, SealedSegment, FOOTER_LEN,
    SEGMENT_HEADER_LEN, TABLE_ENTRY_LEN,
};
use crate::tree_syncer::TreeSyncer;
use coffre_clock::{Clock, Timestamp};
use crossbeam_channel::Sender;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

/// Buffered bytes that trigger a `pwrite` inside a group (still one fdatasync per group).
const FLUSH_BYTES: usize = 4 << 20;
/// Space reserved ahead of the writes when the active segment grows.
pub(crate) const PREALLOC_CHUNK_BYTES: u64 = 8 << 20;
/// Unsynced tree leaves that trigger a tree sync.
const TREE_SYNC_LEAVES: u64 = 65_536;

/// The payloads of one request.
pub(crate) enum Payloads {
    One(Vec<u8>),
    Many(Vec<Vec<u8>>),
}

impl Payloads {
    pub(crate) fn len(&self) -> usize {
        match self {
            Payloads::One(_) => 1,
            Payloads::Many(v) => v.len(),
        }
    }

    pub(crate) fn get(&self, i: usize) -> &[u8] {
        match self {
            Payloads::One(p) => p,
            Payloads::Many(v) => v.get(i).map_or(&[][..], |p| p),
        }
    }
}

/// Where the committer answers a request.
pub(crate) type ReplyTo = Sender<Result<Vec<Receipt>, LogError>>;

/// What the checkpointer sends the committer (answered through a channel).
pub(crate) struct Request {
    pub payloads: Payloads,
    /// Sync even under [`Durability::Periodic`].
    pub force_sync: bool,
    pub reply: ReplyTo,
}

/// How one request is answered.
pub(crate) enum Answerer {
    /// An appender waiting on its ticket (crate::ack).
    Slot(Reply),
    /// A channel (the checkpointer's requests).
    Channel(ReplyTo),
}

impl Answerer {
    fn send(self, answer: Answer) {
        match self {
            Answerer::Slot(r) => r.fill(answer),
            Answerer::Channel(c) => {
                let _ = c.send(answer);
            }
        }
    }
}

/// What an appender (or `sync`) sends the committer.
pub(crate) struct Append {
    pub payloads: Payloads,
    /// Sync even under [`Durability::Periodic`].
    pub force_sync: bool,
    pub reply: Answerer,
}

impl From<Request> for Append {
    fn from(r: Request) -> Append {
        Append { payloads: r.payloads, force_sync: r.force_sync, reply: Answerer::Channel(r.reply) }
    }
}

/// Where the committer writes: the active segment.
pub(crate) struct ActiveWriter {
    pub file: Arc<dyn StorageFile>,
    pub path: PathBuf,
    pub first_index: u64,
    /// Records in the segment, written or buffered.
    pub record_count: u64,
    /// End of the bytes handed to the file.
    pub write_pos: u64,
    /// End of the space reserved ahead.
    pub prealloc_end: u64,
    /// crc32 of the record bytes written so far.
    pub records_crc: crc32fast::Hasher,
    /// The preallocator's own handle on the segment (opened on its first chunk).
    pub prealloc_file: Option<Arc<dyn StorageFile>>,
}

/// The write path's state: the active segment, the next index and group, the hasher and tree
/// syncer. Behind a mutex, taken by the committer thread (crate::commit_loop) for each group
/// and by a lone appender that commits its own record (`Log::submit`).
pub(crate) struct Committer {
    pub shared: Arc<Shared>,
    pub clock: Arc<dyn Clock>,
    pub durability: Durability,
    pub preallocation: Preallocation,
    /// Zero-fills ahead under [`Preallocation::ZeroFill`] (crate::prealloc).
    pub prealloc: Option<Preallocator>,
    pub active: ActiveWriter,
    pub next_index: u64,
    /// Sync epoch: records written between two syncs share it (see FORMAT.md).
    pub group: u64,
    pub buf: Vec<u8>,
    pub buf_offsets: Vec<u64>,
    pub leaves: Vec<Hash>,
    pub unsynced: bool,
    pub last_sync: Instant,
    pub tree_unsynced: u64,
    /// Computes each record's leaf hash (false only under the benchmark-only storage-only
    /// options, see `LogOptions::receipt_leaf_hash`).
    pub leaf_hashes: bool,
    /// Hashes large groups beside the write and sync (started on the first one).
    pub hasher: Option<HasherThread>,
    /// Syncs the tree store every [`TREE_SYNC_LEAVES`] in the background (started on the
    /// first such sync).
    pub tree_syncer: Option<TreeSyncer>,
}

impl Committer {
    /// After the appenders' channel closed: syncs what is pending, lets a background tree
    /// sync finish, and syncs the tree so the next open need not re-hash.
    pub(crate) fn finish(&mut self) {
        self.sync_if_unsynced();
        // Finishes a background tree sync under way before the last one.
        drop(self.tree_syncer.take());
        if let Some(tree) = self.shared.tree.as_ref() {
            if self.tree_unsynced > 0 && !self.shared.poisoned.load(Ordering::Acquire) {
                // Saves the next open from re-hashing; a failure here only costs that.
                let _ = tree.sync();
            }
        }
    }

    /// Syncs what was written and not yet synced (periodic syncs, close). Never on a poisoned
    /// log: after a failed write or sync a later sync proves nothing (the kernel may have
    /// dropped the pages), and the poison does not say which failure set it. Under
    /// `Durability::Periodic` the records written since the last sync of a log poisoned for
    /// another reason (a panic, a tree error) are therefore left to the kernel's writeback:
    /// that durability never promised them to be synced before the next interval.
    pub(crate) fn sync_if_unsynced(&mut self) {
        if self.unsynced && !self.shared.poisoned.load(Ordering::Acquire) && self.sync().is_err() {
            self.shared.poisoned.store(true, Ordering::Release);
        }
    }

    /// Commits one group and answers its waiters. Runs on the committer thread, or on an
    /// appender's own thread for a lone append (crate::log, `Log::submit`); either way under
    /// the lock on this state. A panic inside (from a user `Clock` or `StorageBackend`)
    /// poisons the log.
    pub(crate) fn commit(&mut self, requests: Vec<Append>) {
        // A panic half-way leaves this state out of step with the files: whichever thread
        // takes the lock next must find the log poisoned.
        let shared = Arc::clone(&self.shared);
        let poison_on_panic = PoisonUnlessDisarmed::arm(&shared.poisoned);
        if self.shared.poisoned.load(Ordering::Acquire) {
            for r in requests {
                r.reply.send(Err(LogError::Poisoned));
            }
            poison_on_panic.disarm();
            return;
        }
        let mut answered = Vec::with_capacity(requests.len());
        let force_sync = requests.iter().any(|r| r.force_sync);
        let result = self.write_group(requests, &mut answered, force_sync);
        match result {
            Ok(tree_result) => {
                let records: u64 = answered.iter().map(|(_, r): &(_, Vec<_>)| r.len() as u64).sum();
                // Release: a reader that sees the new length sees the view and tree updates.
                self.shared.len.store(self.next_index, Ordering::Release);
                self.shared.stats.groups.fetch_add(1, Ordering::Relaxed);
                self.shared.stats.records.fetch_add(records, Ordering::Relaxed);
                if tree_result.is_err() {
                    // The records are durable, so their waiters get their receipts; the tree
                    // no longer matches, so further appends are refused until a reopen
                    // rebuilds it from the records.
                    self.shared.poisoned.store(true, Ordering::Release);
                }
                for (reply, receipts) in answered {
                    reply.send(Ok(receipts));
                }
            }
            Err(e) => {
                // Never retry a failed write or fsync: the kernel may have dropped the dirty
                // pages, so a later success would not mean the bytes are on disk.
                self.shared.poisoned.store(true, Ordering::Release);
                for (reply, _) in answered {
                    reply.send(Err(e.duplicate()));
                }
            }
        }
        poison_on_panic.disarm();
    }

    /// Stamps, frames, writes and (per durability) syncs the requests, and hashes their leaves
    /// into the receipts and the tree store. `Ok` means the records are written (and synced
    /// when due); it carries the tree's result, whose failure does not undo that.
    fn write_group(
        &mut self,
        requests: Vec<Append>,
        answered: &mut Vec<(Answerer, Vec<Receipt>)>,
        force_sync: bool,
    ) -> Result<Result<(), LogError>, LogError> {
        let mut group: Vec<Stamped> = Vec::with_capacity(requests.len());
        for request in requests {
            let n = request.payloads.len();
            let mut stamps = Vec::with_capacity(n);
            // Stamp the whole request first: a clock error fails it before any byte is framed.
            let stamped: Result<(), _> =
                (0..n).try_for_each(|_| self.clock.now().map(|t| stamps.push(t)));
            if let Err(e) = stamped {
                request.reply.send(Err(LogError::Clock(e)));
                continue;
            }
            answered.push((request.reply, Vec::new()));
            group.push(Stamped { payloads: request.payloads, stamps });
        }
        let records: usize = group.iter().map(|r| r.stamps.len()).sum();
        let first_index = self.next_index;
        let mut leaves = std::mem::take(&mut self.leaves);
        leaves.clear();
        let beside = self.leaf_hashes && records >= PARALLEL_RECORDS_MIN;
        if beside && self.hasher.is_none() {
            self.hasher = HasherThread::start(Arc::clone(&self.shared));
        }
        // Taken for the group and put back once it answered (dropped if it failed).
        let hasher = if beside { self.hasher.take() } else { None };
        let group = Arc::new(group);
        let submitted = match &hasher {
            // The hashes and tree appends (~0.3 µs per 256 B record) run on the second core
            // while this thread frames, writes and syncs the same records.
            Some(h) => h.submit(Arc::clone(&group), leaves).map_err(|leaves| self.leaves = leaves),
            None => {
                self.leaves = leaves;
                Err(())
            }
        };
        let tree_result = if let (Some(h), Ok(())) = (hasher, submitted) {
            let written = self.frame_write_sync(&group, answered, force_sync);
            let appended = match h.wait() {
                Some((hashed, appended)) => {
                    self.leaves = hashed;
                    self.hasher = Some(h);
                    appended
                }
                None => {
                    // The thread panicked: the receipts still get their leaf hashes; the tree
                    // may hold part of the group, so the log refuses appends until reopened.
                    self.leaves.clear();
                    hash_leaves(self.shared.alg, &group, &mut self.leaves);
                    Err(LogError::Poisoned)
                }
            };
            if let Err(e) = written {
                // The tree may hold leaves of records that are not durable: cut them, so the
                // tree never runs ahead of the records (a failure here is repaired on open,
                // which cuts the tree to the records; the log is poisoned meanwhile).
                if let Some(tree) = self.shared.tree.as_ref() {
                    let _ = tree.truncate(first_index);
                }
                return Err(e);
            }
            appended.and_then(|()| self.count_tree_leaves())
        } else {
            self.frame_write_sync(&group, answered, force_sync)?;
            if self.leaf_hashes {
                hash_leaves(self.shared.alg, &group, &mut self.leaves);
            }
            self.feed_tree()
        };
        if self.leaf_hashes {
            let receipts = answered.iter_mut().flat_map(|(_, r)| r.iter_mut());
            for (receipt, leaf_hash) in receipts.zip(self.leaves.iter()) {
                receipt.leaf_hash = *leaf_hash;
            }
        }
        Ok(tree_result)
    }

    /// Frames and writes the stamped requests, then syncs them when due; fills `answered`'s
    /// receipts (leaf hashes still zero).
    fn frame_write_sync(
        &mut self,
        group: &[Stamped],
        answered: &mut [(Answerer, Vec<Receipt>)],
        force_sync: bool,
    ) -> Result<(), LogError> {
        for (request, (_, receipts)) in group.iter().zip(answered.iter_mut()) {
            receipts.reserve_exact(request.stamps.len());
            for (i, timestamp) in request.stamps.iter().enumerate() {
                let receipt = self.add_record(request.payloads.get(i), *timestamp)?;
                receipts.push(receipt);
            }
        }
        self.flush()?;
        let due = match self.durability {
            Durability::Immediate => true,
            Durability::Periodic { interval } => force_sync || self.last_sync.elapsed() >= interval,
        };
        if due && self.unsynced {
            self.sync()?;
        }
        Ok(())
    }

    /// Frames one record into the buffer, sealing the segment first if it would not fit.
    fn add_record(&mut self, payload: &[u8], timestamp: Timestamp) -> Result<Receipt, LogError> {
        let len = frame_len(payload.len() as u64);
        let end = self.active.write_pos + self.buf.len() as u64 + len;
        let sealed_len = end + (self.active.record_count + 1) * TABLE_ENTRY_LEN + FOOTER_LEN;
        if sealed_len > self.shared.manifest.segment_size_bytes && self.active.record_count > 0 {
            self.flush()?;
            self.roll()?;
        }
        let offset = self.active.write_pos + self.buf.len() as u64;
        let ts = timestamp.to_bytes();
        let index = self.next_index;
        encode_frame(&mut self.buf, index, self.group, &ts, payload);
        self.buf_offsets.push(offset);
        self.active.record_count += 1;
        self.next_index += 1;
        if self.buf.len() >= FLUSH_BYTES {
            self.flush()?;
        }
        // The leaf hash is filled in by write_group once known.
        Ok(Receipt { index, timestamp, leaf_hash: Hash([0; crate::hash::HASH_LEN]) })
    }

    /// Writes the buffer at the end of the active segment (no sync) and publishes the offsets
    /// to readers' view (records stay invisible until `len` covers them).
    fn flush(&mut self) -> Result<(), LogError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let a = &mut self.active;
        let end = a.write_pos + self.buf.len() as u64;
        if end > a.prealloc_end && self.preallocation != Preallocation::None {
            if let Some(p) = self.prealloc.as_ref() {
                a.prealloc_end = a.prealloc_end.max(p.wait_ready(end)?);
            }
        }
        if end > a.prealloc_end && self.preallocation != Preallocation::None {
            // No chunk under way covers it (a write larger than the chunk ahead, or the first
            // writes of a segment): reserve on the committer, as the preallocator is idle.
            let target = end.div_ceil(PREALLOC_CHUNK_BYTES) * PREALLOC_CHUNK_BYTES;
            let new_end = target.min(self.shared.manifest.segment_size_bytes).max(end);
            preallocate(&*a.file, self.preallocation, a.prealloc_end, new_end)
                .map_err(|e| LogError::io("preallocate", &a.path, e))?;
            a.prealloc_end = new_end;
            if let Some(p) = self.prealloc.as_ref() {
                p.set_ready(new_end);
            }
        }
        self.unsynced = true;
        #[cfg(test)]
        if self.shared.fail_next_write.swap(false, Ordering::AcqRel) {
            let e = std::io::Error::other("injected write failure");
            return Err(LogError::io("write", &a.path, e));
        }
        a.file
            .write_all_at(&self.buf, a.write_pos)
            .map_err(|e| LogError::io("write", &a.path, e))?;
        a.records_crc.update(&self.buf);
        a.write_pos = end;
        self.shared.stats.bytes.fetch_add(self.buf.len() as u64, Ordering::Relaxed);
        {
            let mut view = self.shared.view.write();
            if let Some(av) = view.active.as_mut() {
                av.offsets.extend_from_slice(&self.buf_offsets);
                av.records_end = end;
            }
        }
        self.buf.clear();
        self.buf_offsets.clear();
        self.zero_fill_ahead();
        Ok(())
    }

    /// Past half of the reserved space, asks the preallocator for the next chunk.
    fn zero_fill_ahead(&mut self) {
        let Some(p) = self.prealloc.as_ref() else {
            return;
        };
        let a = &mut self.active;
        let segment_end = self.shared.manifest.segment_size_bytes;
        if a.prealloc_end >= segment_end || a.write_pos + PREALLOC_CHUNK_BYTES / 2 < a.prealloc_end
        {
            return;
        }
        if a.prealloc_file.is_none() {
            // Without its own handle the chunk is reserved on the committer when needed.
            let Ok(f) = self.shared.backend.open(&a.path, OpenMode::ReadWrite) else {
                return;
            };
            a.prealloc_file = Some(Arc::from(f));
        }
        if let Some(f) = a.prealloc_file.as_ref() {
            a.prealloc_end = a.prealloc_end.max(p.ready_end());
            p.request(f, &a.path, (a.prealloc_end + PREALLOC_CHUNK_BYTES).min(segment_end));
        }
    }

    fn sync(&mut self) -> Result<(), LogError> {
        let a = &self.active;
        a.file.sync_data().map_err(|e| LogError::io("fdatasync", &a.path, e))?;
        if let Some(p) = self.prealloc.as_ref() {
            p.check_after_sync()?;
        }
        self.shared.stats.fsyncs.fetch_add(1, Ordering::Relaxed);
        self.unsynced = false;
        self.last_sync = Instant::now();
        self.group = self.group.saturating_add(1);
        Ok(())
    }

    /// Seals the active segment and starts the next one at `next_index`.
    fn roll(&mut self) -> Result<(), LogError> {
        let shared = Arc::clone(&self.shared);
        let prealloc_end = initial_prealloc_end(shared.manifest.segment_size_bytes);
        if let Some(p) = self.prealloc.as_ref() {
            // The seal cuts the file: no zeros may be written past it afterwards.
            p.reset(prealloc_end)?;
        }
        let offsets = shared.view.read().active.as_ref().map(|a| a.offsets.clone());
        let offsets = offsets.unwrap_or_default();
        let a = &self.active;
        let records_crc = a.records_crc.clone().finalize();
        let be = &*shared.backend;
        let file_len =
            seal_segment(be, &*a.file, &a.path, a.first_index, &offsets, a.write_pos, records_crc)?;
        shared.make_immutable(&a.path);
        shared.stats.fsyncs.fetch_add(1, Ordering::Relaxed);
        self.unsynced = false;
        self.last_sync = Instant::now();
        self.group = self.group.saturating_add(1);
        let sealed = SealedSegment::from_seal(
            Arc::clone(&shared.backend),
            a.path.clone(),
            a.first_index,
            offsets.len() as u64,
            a.write_pos,
            file_len,
        );
        if let Some(tree) = shared.tree.as_ref() {
            tree.sync()?;
            self.tree_unsynced = 0;
        }
        let first_index = self.next_index;
        let (file, path) = create_segment(
            be,
            &shared.dir,
            shared.alg,
            first_index,
            self.preallocation,
            prealloc_end,
        )?;
        // DIRECTORY FSYNC: the new segment's name must be durable before any append written
        // into it is acknowledged, or a power failure could lose the whole file.
        sync_dir(be, &shared.dir)?;
        let file: Arc<dyn StorageFile> = Arc::from(file);
        {
            let mut view = shared.view.write();
            view.sealed.push(Arc::new(sealed));
            view.active = Some(ActiveView {
                path: path.clone(),
                file: Arc::clone(&file),
                first_index,
                offsets: Vec::new(),
                records_end: SEGMENT_HEADER_LEN,
            });
        }
        shared.stats.segments_sealed.fetch_add(1, Ordering::Relaxed);
        self.active = ActiveWriter {
            file,
            path,
            first_index,
            record_count: 0,
            write_pos: SEGMENT_HEADER_LEN,
            prealloc_end: if self.preallocation == Preallocation::None { 0 } else { prealloc_end },
            records_crc: crc32fast::Hasher::new(),
            prealloc_file: None,
        };
        Ok(())
    }

    /// Hands the group's leaf hashes to the tree store, in index order.
    fn feed_tree(&mut self) -> Result<(), LogError> {
        let Some(tree) = self.shared.tree.as_ref() else {
            return Ok(());
        };
        tree.append_leaves(&self.leaves)?;
        self.count_tree_leaves()
    }

    /// Counts the group's leaves, just appended to the tree store, and has the tree synced
    /// every [`TREE_SYNC_LEAVES`], in the background (crate::tree_syncer).
    fn count_tree_leaves(&mut self) -> Result<(), LogError> {
        let Some(tree) = self.shared.tree.as_ref() else {
            return Ok(());
        };
        self.tree_unsynced += self.leaves.len() as u64;
        if self.tree_unsynced >= TREE_SYNC_LEAVES {
            if self.tree_syncer.is_none() {
                self.tree_syncer = TreeSyncer::start(Arc::clone(&self.shared));
            }
            if !self.tree_syncer.as_ref().is_some_and(TreeSyncer::request) {
                self.tree_syncer = None;
                tree.sync()?;
            }
            self.tree_unsynced = 0;
        }
        Ok(())
    }
}

/// End of the space reserved when a segment is created.
pub(crate) fn initial_prealloc_end(segment_size_bytes: u64) -> u64 {
    PREALLOC_CHUNK_BYTES.min(segment_size_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::sim::{FaultError, FaultOp, SimBackend};
    use crate::merkle::MemoryTree;
    use crate::{Log, LogOptions};
    use std::path::Path;
    use std::time::Duration;

    /// Records enough for the leaves to be hashed beside the write and sync.
    const BATCH: usize = PARALLEL_RECORDS_MIN * 2 + 3;

    fn batch() -> Vec<Vec<u8>> {
        (0..BATCH).map(|i| vec![i as u8; 20 + i % 50]).collect()
    }

    fn sim_options(sim: &SimBackend) -> LogOptions {
        LogOptions {
            preallocation: Preallocation::None,
            backend: Arc::new(sim.clone()),
            ..Default::default()
        }
    }

    #[test]
    fn a_large_batch_across_segment_rolls_gets_its_leaf_hashes_in_receipts_and_tree() {
        let dir = tempfile::tempdir().unwrap();
        let opts = || LogOptions {
            segment_size_bytes: 4096,
            payload_size_bytes_max: 512,
            ..Default::default()
        };
        let log = Log::create(dir.path(), opts()).unwrap();
        log.append(b"first").unwrap();
        let payloads = batch();
        let receipts = log.append_batch(&payloads).unwrap();
        assert!(log.stats().segments_sealed > 3);
        let alg = log.hash_algorithm();
        let mut mem = MemoryTree::new(alg);
        mem.push_leaf_hash(log.read(0).unwrap().leaf_hash(alg));
        for (i, r) in receipts.iter().enumerate() {
            assert_eq!(r.index, i as u64 + 1);
            assert_eq!(r.leaf_hash, log.read(r.index).unwrap().leaf_hash(alg));
            mem.push_leaf_hash(r.leaf_hash);
        }
        let len = BATCH as u64 + 1;
        assert_eq!(log.root(len).unwrap(), mem.root(len));
        drop(log);
        let (log, _) = Log::open(dir.path(), opts()).unwrap();
        assert_eq!(log.root(len).unwrap(), mem.root(len));
    }

    #[test]
    fn a_failed_write_or_sync_in_a_large_batch_cuts_its_leaves_from_the_tree() {
        // The committer's write fails through the test hook: a sim write fault could hit the
        // tree store's writes instead (they run on the hasher at the same time).
        // Both paths: the appender's own thread (a lone append) and the committer thread.
        for (write_fails, committer_only) in
            [(false, false), (true, false), (false, true), (true, true)]
        {
            let sim = SimBackend::new(7);
            sim.mkdir_durable(Path::new("/sim"));
            let dir = Path::new("/sim/log");
            let log = Log::create(dir, sim_options(&sim)).unwrap();
            if committer_only {
                log.commit_on_the_committer_only();
            }
            log.append(b"kept").unwrap();
            match write_fails {
                true => log.fail_next_write(),
                // Tree appends do not sync: the first sync is the group's fdatasync.
                false => sim.inject(FaultOp::Sync, 1, FaultError::Eio),
            }
            let op = format!(
                "{} on the {}",
                if write_fails { "write" } else { "sync" },
                if committer_only { "committer" } else { "appender" }
            );
            assert!(matches!(log.append_batch(&batch()), Err(LogError::Io { .. })), "{op}");
            assert!(log.is_poisoned());
            assert_eq!(log.len(), 1);
            assert_eq!(log.tree().map(|t| t.len()), Some(1), "{op}: leaves of a failed group");
            drop(log);
            sim.power_loss();
            let (log, _) = Log::open(dir, sim_options(&sim)).unwrap();
            assert_eq!(log.len(), 1);
            assert_eq!(log.append_batch(&batch()).unwrap()[0].index, 1);
            log.verify(&|_| {}).unwrap();
        }
    }

    #[test]
    fn a_failed_sync_on_the_committer_fails_its_whole_group_and_loses_no_acknowledged_record() {
        let (sim, log) = sim_log(11);
        log.commit_on_the_committer_only();
        log.append(b"kept").unwrap();
        // The next sync is a group's fdatasync: the group made of the appends then waiting.
        sim.inject(FaultOp::Sync, 1, FaultError::Eio);
        let start = std::sync::Barrier::new(6);
        /// A payload and what its append returned.
        type Outcome = (Vec<u8>, Result<Receipt, LogError>);
        let results: Vec<Vec<Outcome>> = std::thread::scope(|s| {
            let writers: Vec<_> = (0..6u8)
                .map(|t| {
                    let (log, start) = (&log, &start);
                    s.spawn(move || {
                        start.wait();
                        (0..20u8).map(|k| (vec![t, k], log.append(&[t, k]))).collect()
                    })
                })
                .collect();
            writers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        let results: Vec<_> = results.into_iter().flatten().collect();
        let failed_io = results.iter().filter(|(_, r)| matches!(r, Err(LogError::Io { .. })));
        assert!(failed_io.count() >= 1, "the failed sync's group gets the I/O error");
        assert!(results
            .iter()
            .all(|(_, r)| matches!(r, Ok(_) | Err(LogError::Io { .. } | LogError::Poisoned))));
        assert!(log.is_poisoned());
        let acknowledged: Vec<(Vec<u8>, u64)> = results
            .iter()
            .filter_map(|(p, r)| r.as_ref().ok().map(|r| (p.clone(), r.index)))
            .collect();
        let (log, _) = reopened_after_power_loss(&sim, log);
        for (payload, index) in acknowledged {
            assert_eq!(log.read(index).unwrap().payload, payload);
        }
        log.verify(&|_| {}).unwrap();
    }

    /// Waits up to 10 s for `done`; the background tree sync runs on its own thread.
    fn eventually(done: impl Fn() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if done() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        done()
    }

    /// Where the simulated-disk logs of these tests live.
    const SIM_LOG: &str = "/sim/log";

    /// A new log on a fresh simulated disk.
    fn sim_log(seed: u64) -> (SimBackend, Log) {
        let sim = SimBackend::new(seed);
        sim.mkdir_durable(Path::new("/sim"));
        let log = Log::create(Path::new(SIM_LOG), sim_options(&sim)).unwrap();
        (sim, log)
    }

    /// The log reopened after a power loss.
    fn reopened_after_power_loss(sim: &SimBackend, log: Log) -> (Log, crate::RecoveryReport) {
        drop(log);
        sim.power_loss();
        Log::open(Path::new(SIM_LOG), sim_options(sim)).unwrap()
    }

    /// Appends exactly [`TREE_SYNC_LEAVES`] small records in groups of 1,024, the last one
    /// after `before_last` ran.
    fn append_up_to_a_tree_sync(log: &Log, before_last: impl FnOnce()) {
        let groups = TREE_SYNC_LEAVES / 1024;
        let payloads: Vec<Vec<u8>> = (0..1024u32).map(|i| i.to_le_bytes().to_vec()).collect();
        for _ in 1..groups {
            log.append_batch(&payloads).unwrap();
        }
        before_last();
        log.append_batch(&payloads).unwrap();
    }

    #[test]
    fn the_tree_is_synced_in_the_background_while_the_log_stays_open() {
        let (sim, log) = sim_log(9);
        append_up_to_a_tree_sync(&log, || {});
        let tree = log.tree().unwrap();
        assert!(eventually(|| tree.durable_len() == TREE_SYNC_LEAVES), "tree head never synced");
        // What the head vouches for survives a power loss without a re-hash.
        let (log, report) = reopened_after_power_loss(&sim, log);
        assert_eq!(log.len(), TREE_SYNC_LEAVES);
        assert_eq!(report.tree_leaves_rehashed, 0);
        log.verify(&|_| {}).unwrap();
    }

    #[test]
    fn a_failed_background_tree_sync_poisons_the_log_and_loses_no_record() {
        let (sim, log) = sim_log(10);
        // The last group's fdatasync is the first sync after the fault is armed; the second
        // is the tree sync's first level file.
        append_up_to_a_tree_sync(&log, || sim.inject(FaultOp::Sync, 2, FaultError::Eio));
        assert!(eventually(|| log.is_poisoned()), "a failed tree sync must poison the log");
        assert!(matches!(log.append(b"refused"), Err(LogError::Poisoned)));
        let (log, _) = reopened_after_power_loss(&sim, log);
        assert_eq!(log.len(), TREE_SYNC_LEAVES, "every acknowledged record is kept");
        log.verify(&|_| {}).unwrap();
        log.append(b"accepted after the reopen").unwrap();
    }
}
