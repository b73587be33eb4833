//! The committer thread: takes appends from the channel, gathers them into one commit group
//! and commits it under the write path's lock (crate::commit). See docs/ARCHITECTURE.md,
//! "Write path".

use crate::commit::{Append, Committer, Request};
use crate::log::Shared;
use crate::options::Durability;
use crate::poison::PoisonUnlessDisarmed;
use crossbeam_channel::{select_biased, Receiver};
use parking_lot::Mutex;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most records in one commit group (bounds the group's buffers and waiters).
const GROUP_RECORDS_MAX: usize = 8192;
/// Longest a group waits for in-flight appends not yet queued (a fraction of one fdatasync,
/// ~100 µs on the machines measured in docs/PERFORMANCE.md).
const COMMIT_DELAY_MAX: Duration = Duration::from_micros(60);
/// How often the wait re-reads the number of appends in flight.
const COMMIT_DELAY_POLL: Duration = Duration::from_micros(10);

/// What the committer thread owns: the channels, and a share of the write path's state.
pub(crate) struct CommitLoop {
    pub state: Arc<Mutex<Committer>>,
    pub shared: Arc<Shared>,
    pub rx: Receiver<Append>,
    /// The checkpointer's requests (rare): polled beside `rx`.
    pub legacy_rx: Receiver<Request>,
    pub durability: Durability,
}

impl CommitLoop {
    /// Serves requests until the appenders' channel is closed, then syncs what is pending.
    pub(crate) fn run(mut self) {
        // A panic anywhere on this thread (a user `StorageBackend` in a periodic sync, say)
        // poisons the log, so lone appends, which do not need this thread, stop too.
        let shared = Arc::clone(&self.shared);
        let poison_on_panic = PoisonUnlessDisarmed::arm(&shared.poisoned);
        loop {
            let first = match self.next_request() {
                Some(Some(r)) => r,
                Some(None) => {
                    self.state.lock().sync_if_unsynced();
                    continue;
                }
                None => break,
            };
            let mut requests = vec![first];
            let mut records = requests[0].payloads.len();
            while records < GROUP_RECORDS_MAX {
                let next = match self.rx.try_recv() {
                    Ok(r) => r,
                    Err(_) => match self.legacy_rx.try_recv() {
                        Ok(r) => r.into(),
                        Err(_) => break,
                    },
                };
                records += next.payloads.len();
                requests.push(next);
            }
            self.gather_stragglers(&mut requests, records);
            self.state.lock().commit(requests);
        }
        // Requests still queued by the checkpointer get a Poisoned answer when dropped.
        self.state.lock().finish();
        poison_on_panic.disarm();
    }

    /// Adaptive commit delay. Writers answered by the previous group re-submit a few
    /// microseconds later; without a wait they miss this group and writers split into two
    /// cohorts taking turns (half-size groups, twice the syncs). So while fewer requests are
    /// gathered than appends are in flight, wait for the missing ones, at most
    /// [`COMMIT_DELAY_MAX`]: a lone writer (nothing else in flight) never waits. One of those
    /// in flight may be a lone append committing on its own thread, which never comes through
    /// the channel; the wait then ends at the deadline, no later than the mutex would let
    /// this group start anyway.
    fn gather_stragglers(&mut self, requests: &mut Vec<Append>, mut records: usize) {
        if !matches!(self.durability, Durability::Immediate) {
            return;
        }
        let deadline = Instant::now() + COMMIT_DELAY_MAX;
        while records < GROUP_RECORDS_MAX {
            let in_flight = self.shared.appends_in_flight.load(Ordering::Acquire);
            if requests.len() as u64 >= in_flight {
                return;
            }
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            match self.rx.recv_timeout((deadline - now).min(COMMIT_DELAY_POLL)) {
                Ok(next) => {
                    records += next.payloads.len();
                    requests.push(next);
                }
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    /// Blocks for the next request: `None` once the appenders' channel is closed,
    /// `Some(None)` when a periodic sync is due.
    fn next_request(&mut self) -> Option<Option<Append>> {
        let wait = match self.durability {
            Durability::Immediate => None,
            Durability::Periodic { interval } => {
                let since_sync = self.state.lock().last_sync.elapsed();
                Some(interval.saturating_sub(since_sync).max(Duration::from_millis(1)))
            }
        };
        // Appenders first: the checkpointer's channel is looked at on every group anyway.
        if let Ok(r) = self.rx.try_recv() {
            return Some(Some(r));
        }
        let timeout = wait.map_or_else(crossbeam_channel::never, crossbeam_channel::after);
        select_biased! {
            recv(self.rx) -> r => r.ok().map(Some),
            recv(self.legacy_rx) -> r => match r {
                Ok(r) => Some(Some(r.into())),
                Err(_) => {
                    // The checkpointer closed its side: stop listening to it.
                    self.legacy_rx = crossbeam_channel::never();
                    Some(None)
                }
            },
            recv(timeout) -> _ => Some(None),
        }
    }
}
