//! Periodic tree-store syncs off the write path.
//!
//! The tree store is synced every [`crate::commit`] `TREE_SYNC_LEAVES` leaves so that an open
//! after a crash re-hashes a bounded tail. That sync is an fdatasync per level file written
//! (up to ~17) and one for the head: ~2-4 ms here, which the committer used to spend between
//! two groups (the p99 latency of 1,024-record batches was 6-8 ms, 2 ms without it). The tree
//! is derived data (no acknowledgement waits for it), so this thread runs
//! `TreeStore::sync_concurrently` while appends continue. A failed sync poisons the log,
//! as any failed fsync does.

use crate::log::Shared;
use crossbeam_channel::{Sender, TrySendError};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;

/// The background tree-sync thread of a writable log.
pub(crate) struct TreeSyncer {
    /// `None` only while dropping: closing it ends the thread.
    requests: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl TreeSyncer {
    /// Starts the thread; `None` if the OS refuses one (the committer then syncs inline).
    pub(crate) fn start(shared: Arc<Shared>) -> Option<TreeSyncer> {
        let (requests, rx) = crossbeam_channel::bounded::<()>(1);
        let thread = std::thread::Builder::new()
            .name("coffre-tree-sync".into())
            .spawn(move || {
                for () in rx {
                    let Some(tree) = shared.tree.as_ref() else { continue };
                    if tree.sync_concurrently().is_err() {
                        // What reached the disk is unknown: refuse appends until a reopen.
                        shared.poisoned.store(true, Ordering::Release);
                    }
                }
            })
            .ok()?;
        Some(TreeSyncer { requests: Some(requests), thread: Some(thread) })
    }

    /// Asks for a sync; one already pending covers this request too. `false` if the thread
    /// is gone.
    pub(crate) fn request(&self) -> bool {
        match self.requests.as_ref().map(|r| r.try_send(())) {
            Some(Ok(()) | Err(TrySendError::Full(()))) => true,
            Some(Err(TrySendError::Disconnected(()))) | None => false,
        }
    }
}

impl Drop for TreeSyncer {
    /// Finishes the pending sync, if any, and joins the thread.
    fn drop(&mut self) {
        drop(self.requests.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
