//! The leaf-hash stage of the write path: the BLAKE3/SHA-256 leaf hash of each record
//! (timestamp bytes, then payload) and the tree appends, run beside the committer's write and
//! `fdatasync` for large groups, on a thread kept for the log's life. See
//! docs/ARCHITECTURE.md, "Write path".

use crate::commit::Payloads;
use crate::error::LogError;
use crate::hash::{Hash, HashAlgorithm};
use crate::log::Shared;
use crate::tree_store::TreeStore;
use coffre_clock::Timestamp;
use crossbeam_channel::{Receiver, Sender};
use std::sync::Arc;

/// Records from which a group's leaves are hashed on the hasher thread: below it, the two
/// thread wake-ups cost more than the hashing they would hide (~0.1 µs per 256 B leaf).
pub(crate) const PARALLEL_RECORDS_MIN: usize = 128;

/// One request of a commit group, stamped: its payloads and one timestamp per payload.
pub(crate) struct Stamped {
    pub payloads: Payloads,
    pub stamps: Vec<Timestamp>,
}

/// Appends the leaf hash of every record of `group`, in index order, to `leaves` (hashed
/// several at a time, see `HashAlgorithm::leaf_hashes_into`).
pub(crate) fn hash_leaves(alg: HashAlgorithm, group: &[Stamped], leaves: &mut Vec<Hash>) {
    let stamps: Vec<_> = group.iter().flat_map(|r| r.stamps.iter().map(|t| t.to_bytes())).collect();
    let payloads = group.iter().flat_map(|r| (0..r.stamps.len()).map(|i| r.payloads.get(i)));
    let parts: Vec<[&[u8]; 2]> = stamps.iter().zip(payloads).map(|(t, p)| [&t[..], p]).collect();
    alg.leaf_hashes_into(&parts, leaves);
}

/// Hashes the group's leaves and appends them to `tree` (if any), in index order. Run while
/// the committer writes and syncs the same records: the caller cuts the tree back if the
/// group does not become durable, and publishes nothing before both sides are done.
pub(crate) fn hash_and_append(
    alg: HashAlgorithm,
    tree: Option<&TreeStore>,
    group: &[Stamped],
    mut leaves: Vec<Hash>,
) -> (Vec<Hash>, Result<(), LogError>) {
    hash_leaves(alg, group, &mut leaves);
    let appended = match tree {
        Some(tree) => tree.append_leaves(&leaves).map_err(LogError::from),
        None => Ok(()),
    };
    (leaves, appended)
}

/// What the hasher thread hands back: the group's leaf hashes and the tree append's result.
pub(crate) type Hashed = (Vec<Hash>, Result<(), LogError>);

/// A group sent to the hasher thread.
struct Job {
    group: Arc<Vec<Stamped>>,
    leaves: Vec<Hash>,
}

/// The thread that hashes large groups and appends them to the tree while the committer
/// writes and syncs them. It is started on the first large group and kept: spawning one per
/// group cost the committer ~50-150 µs per group (stack mapping, clone, a cold start on the
/// committer's own core), about as much as the hashing it was meant to hide.
pub(crate) struct HasherThread {
    /// `None` only while dropping: closing it ends the thread.
    jobs: Option<Sender<Job>>,
    done: Receiver<Hashed>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HasherThread {
    /// Starts the thread; `None` if the OS refuses one (the committer then hashes inline).
    pub(crate) fn start(shared: Arc<Shared>) -> Option<HasherThread> {
        let (jobs, job_rx) = crossbeam_channel::bounded::<Job>(1);
        let (done_tx, done) = crossbeam_channel::bounded::<Hashed>(1);
        let thread = std::thread::Builder::new()
            .name("coffre-hasher".into())
            .spawn(move || {
                // Ends when the committer drops its sender.
                for job in job_rx {
                    let hashed =
                        hash_and_append(shared.alg, shared.tree.as_ref(), &job.group, job.leaves);
                    drop(job.group);
                    if done_tx.send(hashed).is_err() {
                        return;
                    }
                }
            })
            .ok()?;
        Some(HasherThread { jobs: Some(jobs), done, thread: Some(thread) })
    }

    /// Hands `group` over; `Err` gives the leaves buffer back if the thread is gone.
    pub(crate) fn submit(
        &self,
        group: Arc<Vec<Stamped>>,
        leaves: Vec<Hash>,
    ) -> Result<(), Vec<Hash>> {
        let job = Job { group, leaves };
        match &self.jobs {
            Some(jobs) => jobs.send(job).map_err(|e| e.into_inner().leaves),
            None => Err(job.leaves),
        }
    }

    /// Waits for the submitted group's result; `None` if the thread died (a panic).
    pub(crate) fn wait(&self) -> Option<Hashed> {
        self.done.recv().ok()
    }
}

impl Drop for HasherThread {
    /// Stops and joins the thread, so nothing of the log (files, tree) outlives its close.
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
