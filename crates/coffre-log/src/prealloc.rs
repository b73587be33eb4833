//! The preallocator thread: zero-fills and syncs the active segment's next chunk ahead of the
//! committer (under [`crate::Preallocation::ZeroFill`]), so neither the zeros' writes nor their
//! flush land on a commit group's critical path (docs/PERFORMANCE.md, finding 1).
//!
//! It writes through its own handle on the segment (opened through the backend), in pieces of
//! [`PIECE_BYTES`], each followed by `fdatasync`. A failed write or sync poisons the log.
//! Because a failed `fdatasync` may drop *any* dirty page of the file, the committer's own
//! pending records included (the simulated disk models exactly that), the committer, after
//! its group's sync succeeded, checks with [`Preallocator::check_after_sync`] that no sync of
//! the preallocator failed or is still running before it acknowledges the group.

use crate::backend::StorageFile;
use crate::error::LogError;
use crate::log::Shared;
use parking_lot::{Condvar, Mutex};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;

/// Zeros written, then synced, per step: bounds how long a group may wait on a sync.
const PIECE_BYTES: u64 = 1 << 20;

/// One chunk to zero-fill.
struct Job {
    file: Arc<dyn StorageFile>,
    path: PathBuf,
    to: u64,
}

#[derive(Default)]
struct State {
    /// The chunk asked for and not finished.
    job: Option<Job>,
    /// Zero-filled and synced up to here (in the current segment).
    ready_end: u64,
    /// A sync of the preallocator is running.
    syncing: bool,
    /// A write or sync failed: the log is poisoned.
    failed: Option<LogError>,
    stop: bool,
}

struct Inner {
    state: Mutex<State>,
    cv: Condvar,
    shared: Arc<Shared>,
}

/// Handle on the preallocator thread (owned by the committer; joined when dropped).
pub(crate) struct Preallocator {
    inner: Arc<Inner>,
    handle: Option<JoinHandle<()>>,
}

impl Preallocator {
    /// Starts the thread; the active segment is ready (zero-filled and synced) to `ready_end`.
    pub(crate) fn start(shared: Arc<Shared>, ready_end: u64) -> Result<Preallocator, LogError> {
        let inner = Arc::new(Inner {
            state: Mutex::new(State { ready_end, ..State::default() }),
            cv: Condvar::new(),
            shared,
        });
        let worker = Arc::clone(&inner);
        let handle = std::thread::Builder::new()
            .name("coffre-prealloc".into())
            .spawn(move || worker.run())
            .map_err(|e| LogError::io("spawn preallocator", &inner.shared.dir, e))?;
        Ok(Preallocator { inner, handle: Some(handle) })
    }

    /// Where the zero-filled, synced space ends now.
    pub(crate) fn ready_end(&self) -> u64 {
        self.inner.state.lock().ready_end
    }

    /// Asks for `[ready_end, to)` of `file` to be zero-filled, unless a chunk is already
    /// under way.
    pub(crate) fn request(&self, file: &Arc<dyn StorageFile>, path: &Path, to: u64) {
        let mut s = self.inner.state.lock();
        if s.job.is_some() || s.failed.is_some() || to <= s.ready_end {
            return;
        }
        s.job = Some(Job { file: Arc::clone(file), path: path.to_path_buf(), to });
        drop(s);
        self.inner.cv.notify_all();
    }

    /// Waits until the space is ready up to `end` if the chunk under way covers it; returns
    /// the ready end (which may be below `end` when no chunk covers it).
    pub(crate) fn wait_ready(&self, end: u64) -> Result<u64, LogError> {
        let mut s = self.inner.state.lock();
        loop {
            if let Some(e) = &s.failed {
                return Err(e.duplicate());
            }
            if s.ready_end >= end || s.job.is_none() {
                return Ok(s.ready_end);
            }
            self.inner.cv.wait(&mut s);
        }
    }

    /// Records that the committer itself made the space ready up to `end` (only while no
    /// chunk is under way, see [`Preallocator::wait_ready`]).
    pub(crate) fn set_ready(&self, end: u64) {
        let mut s = self.inner.state.lock();
        s.ready_end = s.ready_end.max(end);
    }

    /// After a group's own sync succeeded: fails if a sync of the preallocator failed or
    /// could still fail (it is waited for), since that failure may have dropped the group's
    /// pages.
    pub(crate) fn check_after_sync(&self) -> Result<(), LogError> {
        let mut s = self.inner.state.lock();
        while s.syncing && s.failed.is_none() {
            self.inner.cv.wait(&mut s);
        }
        match &s.failed {
            Some(e) => Err(e.duplicate()),
            None => Ok(()),
        }
    }

    /// Before a seal (which cuts the file): waits for the chunk under way to finish, then
    /// starts the next segment's accounting at `ready_end`.
    pub(crate) fn reset(&self, ready_end: u64) -> Result<(), LogError> {
        let mut s = self.inner.state.lock();
        while s.job.is_some() && s.failed.is_none() {
            self.inner.cv.wait(&mut s);
        }
        if let Some(e) = &s.failed {
            return Err(e.duplicate());
        }
        s.ready_end = ready_end;
        Ok(())
    }
}

impl Drop for Preallocator {
    fn drop(&mut self) {
        self.inner.state.lock().stop = true;
        self.inner.cv.notify_all();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Inner {
    fn run(&self) {
        let zeros = vec![0u8; PIECE_BYTES as usize];
        loop {
            let (file, path, from, to) = {
                let mut s = self.state.lock();
                loop {
                    if s.stop {
                        return;
                    }
                    if let Some(j) = s.job.as_ref().filter(|_| s.failed.is_none()) {
                        let to = j.to.min(s.ready_end + PIECE_BYTES);
                        break (Arc::clone(&j.file), j.path.clone(), s.ready_end, to);
                    }
                    self.cv.wait(&mut s);
                }
            };
            let len = (to - from) as usize;
            let written = file.write_all_at(zeros.get(..len).unwrap_or(&zeros), from);
            let result = match written {
                Err(e) => Err(LogError::io("zero-fill ahead", &path, e)),
                Ok(()) => {
                    self.state.lock().syncing = true;
                    file.sync_data().map_err(|e| LogError::io("fdatasync zero-fill", &path, e))
                }
            };
            let mut s = self.state.lock();
            s.syncing = false;
            match result {
                Ok(()) => {
                    s.ready_end = to;
                    if s.job.as_ref().is_some_and(|j| j.to <= to) {
                        s.job = None;
                    }
                }
                Err(e) => {
                    // Never retried (the dirty pages may be gone): the log refuses appends
                    // until reopened; the committer fails its groups from here on.
                    self.shared.poisoned.store(true, Ordering::Release);
                    s.failed = Some(e);
                    s.job = None;
                }
            }
            drop(s);
            self.cv.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::backend::sim::{FaultError, FaultOp, SimBackend};
    use crate::{Log, LogOptions};
    use std::path::Path;
    use std::sync::Arc;

    const RECORD_BYTES: usize = 64 << 10;

    fn options(sim: &SimBackend) -> LogOptions {
        LogOptions {
            backend: Arc::new(sim.clone()),
            segment_size_bytes: 48 << 20,
            payload_size_bytes_max: RECORD_BYTES as u32,
            ..LogOptions::default()
        }
    }

    /// Appends 16 MiB in batches of 1 MiB (so the preallocator fills the second and third
    /// chunks) and returns how many records were acknowledged before the first error.
    fn append_until_error(log: &Log) -> u64 {
        let mut acked = 0;
        for batch in 0..16u8 {
            let payloads: Vec<Vec<u8>> = (0..16u8).map(|i| vec![batch ^ i; RECORD_BYTES]).collect();
            match log.append_batch(&payloads) {
                Ok(r) => acked += r.len() as u64,
                Err(_) => break,
            }
        }
        acked
    }

    #[test]
    fn the_preallocator_fills_ahead_and_records_read_back_after_a_power_loss() {
        let sim = SimBackend::new(7);
        sim.mkdir_durable(Path::new("/p"));
        let log = Log::create("/p/log", options(&sim)).unwrap();
        assert_eq!(append_until_error(&log), 256);
        assert!(!log.is_poisoned());
        drop(log);
        sim.power_loss();
        let (log, report) = Log::open("/p/log", options(&sim)).unwrap();
        assert_eq!((report.records, report.torn_tail), (256, None));
        assert_eq!(log.read(255).unwrap().payload, vec![15 ^ 15; RECORD_BYTES]);
    }

    /// A failed sync may drop every dirty page of the file, the committer's records too: an
    /// acknowledged group must survive whichever thread's sync the fault hits.
    #[test]
    fn no_acknowledged_record_is_lost_when_any_sync_fails() {
        for nth in 1..=24 {
            let sim = SimBackend::new(nth);
            sim.mkdir_durable(Path::new("/p"));
            let log = Log::create("/p/log", options(&sim)).unwrap();
            sim.inject(FaultOp::Sync, nth, FaultError::Eio);
            let acked = append_until_error(&log);
            drop(log);
            sim.power_loss();
            let (log, report) = Log::open("/p/log", options(&sim)).unwrap();
            assert!(report.records >= acked, "sync fault {nth}: {acked} acked, {report:?}");
            for i in 0..acked {
                assert_eq!(log.read(i).unwrap().payload.len(), RECORD_BYTES, "fault {nth}");
            }
        }
    }
}
