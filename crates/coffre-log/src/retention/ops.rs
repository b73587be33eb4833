//! Retention extension, legal holds, and the two-step protocol every system record follows:
//! announce it in the state file (`pending`), append it (synced), fold it into the state.

use super::state::{write_state, SystemEntry};
use super::{HoldId, LegalHold, RetentionPolicy};
use crate::error::LogError;
use crate::log::Log;
use crate::record::Receipt;
use crate::system::{check_reason, SystemRecord};
use std::ops::Range;
use std::time::Duration;

impl Log {
    /// The retention policy in force (derived from the manifest and the system records).
    pub fn retention(&self) -> RetentionPolicy {
        self.shared().retention.state.read().policy.clone()
    }

    /// Legal holds in force (released ones are not listed), in placing order.
    pub fn holds(&self) -> Vec<LegalHold> {
        self.shared().retention.state.read().active()
    }

    /// Every record before this index was purged: readers get [`LogError::Purged`], and
    /// verification must skip those leaves' records while still checking the stored tree.
    pub fn purged_until(&self) -> u64 {
        self.shared().retention.purged_until()
    }

    /// Lengthens the retention to `new` for this record and every later one (it can never be
    /// shortened: [`LogError::RetentionNotExtended`] unless `new` is longer, in whole seconds).
    /// Records written before keep the retention in force when they were written; place a
    /// legal hold to keep them longer. Returns the extension record's receipt.
    pub fn extend_retention(&self, new: Duration, reason: &str) -> Result<Receipt, LogError> {
        check_reason(reason).map_err(LogError::InvalidRetentionRequest)?;
        let _op = self.shared().retention.op.lock();
        let current = self.retention().current.as_secs();
        if new.as_secs() <= current {
            return Err(LogError::RetentionNotExtended {
                current_seconds: current,
                requested_seconds: new.as_secs(),
            });
        }
        let rec = SystemRecord::RetentionExtended {
            previous_seconds: current,
            retention_seconds: new.as_secs(),
            reason: reason.to_string(),
        };
        self.append_tracked(&rec)
    }

    /// Places a legal hold on the records `range` (it may reach past the current end to hold
    /// records not yet written). Held records are never purged. Returns the hold's id.
    pub fn place_hold(&self, range: Range<u64>, reason: &str) -> Result<HoldId, LogError> {
        check_reason(reason).map_err(LogError::InvalidRetentionRequest)?;
        if range.start >= range.end {
            return Err(LogError::InvalidRetentionRequest(format!(
                "empty hold range {}..{}",
                range.start, range.end
            )));
        }
        let _op = self.shared().retention.op.lock();
        let purged_until = self.purged_until();
        if range.start < purged_until {
            return Err(LogError::InvalidRetentionRequest(format!(
                "hold range starts at {}, but records before {purged_until} were purged",
                range.start
            )));
        }
        let rec = SystemRecord::HoldPlaced {
            start: range.start,
            end: range.end,
            reason: reason.to_string(),
        };
        Ok(HoldId(self.append_tracked(&rec)?.index))
    }

    /// Releases the hold `id`. Returns the release record's receipt.
    pub fn release_hold(&self, id: HoldId, reason: &str) -> Result<Receipt, LogError> {
        check_reason(reason).map_err(LogError::InvalidRetentionRequest)?;
        let _op = self.shared().retention.op.lock();
        if !self.holds().iter().any(|h| h.id == id) {
            return Err(LogError::HoldNotFound { id: id.0 });
        }
        self.append_tracked(&SystemRecord::HoldReleased { hold: id.0, reason: reason.to_string() })
    }

    /// Appends `rec` with the full protocol. The caller holds the `op` lock.
    pub(crate) fn append_tracked(&self, rec: &SystemRecord) -> Result<Receipt, LogError> {
        let payload = rec.encode();
        let receipt = self.announce_and_append(&payload)?;
        self.fold(receipt, payload)?;
        Ok(receipt)
    }

    /// Steps 1 and 2: the state file announces `payload`, then it is appended and synced.
    /// A crash between them is settled at the next open (crate::retention::finish_open).
    pub(crate) fn announce_and_append(&self, payload: &[u8]) -> Result<Receipt, LogError> {
        if self.is_read_only() {
            return Err(LogError::ReadOnly);
        }
        if payload.len() as u64 > u64::from(self.payload_size_bytes_max()) {
            return Err(LogError::PayloadTooLarge {
                size_bytes: payload.len() as u64,
                limit_bytes: u64::from(self.payload_size_bytes_max()),
            });
        }
        if self.is_poisoned() {
            // Nothing may be announced either: the state file must not name a record that a
            // poisoned handle will never append.
            return Err(LogError::Poisoned);
        }
        self.settle_pending()?;
        let file = {
            let mut st = self.shared().retention.state.write();
            st.pending = Some(payload.to_vec());
            st.known_len = self.len();
            st.to_file()
        };
        self.poison_on_error(write_state(&*self.shared().backend, self.dir(), &file))?;
        self.poison_on_error(self.failpoint(super::PurgeFailpoint::AfterAnnounce))?;
        self.append_system(payload.to_vec())
    }

    /// Step 3: the appended record joins the state, which is saved.
    ///
    /// The record is durable in the log once this is called, so it joins the in-memory policy
    /// (and readers' purge bound) whatever happens to the state file. A failed state write
    /// poisons the handle: the file on disk still announces the record (`pending`), and the
    /// next open folds it in from the log. Before, the in-memory state kept the record while
    /// the published bound did not, and a second purge on the same handle appended a purge
    /// record starting at the old bound with segments from the new one, which no open could
    /// replay ("purged segments are not contiguous", found by tests/sim_crash.rs).
    pub(crate) fn fold(&self, receipt: Receipt, payload: Vec<u8>) -> Result<(), LogError> {
        let cell = &self.shared().retention;
        let file = {
            let mut st = cell.state.write();
            let entry = SystemEntry { index: receipt.index, timestamp: receipt.timestamp, payload };
            let applied = st.apply(entry).map_err(|d| LogError::corruption(self.dir(), 0, d));
            self.poison_on_error(applied)?;
            st.pending = None;
            st.known_len = self.len();
            st.to_file()
        };
        cell.publish();
        self.poison_on_error(write_state(&*self.shared().backend, self.dir(), &file))
    }

    /// Poisons the handle if `result` is an error: a system operation that failed half-way
    /// (a state file or tree write, a deletion, a directory fsync) must not be followed by
    /// another one on the same handle; a reopen settles it from what is durable.
    pub(crate) fn poison_on_error<T>(&self, result: Result<T, LogError>) -> Result<T, LogError> {
        if result.is_err() {
            self.shared().poisoned.store(true, std::sync::atomic::Ordering::Release);
        }
        result
    }

    /// A previous system append failed without an answer: look for its record before
    /// announcing another one (only the latest announcement is kept).
    fn settle_pending(&self) -> Result<(), LogError> {
        let cell = &self.shared().retention;
        let (pending, from) = {
            let st = cell.state.read();
            match &st.pending {
                None => return Ok(()),
                Some(p) => (p.clone(), st.known_len),
            }
        };
        for index in from..self.len() {
            let r = self.read(index)?;
            if r.payload == pending {
                let receipt = Receipt {
                    index,
                    timestamp: r.timestamp,
                    leaf_hash: r.leaf_hash(self.hash_algorithm()),
                };
                return self.fold(receipt, pending);
            }
        }
        let mut st = cell.state.write();
        st.pending = None;
        Ok(())
    }

    /// Returns the simulated crash error if `at` is the armed failpoint.
    pub(crate) fn failpoint(&self, at: super::PurgeFailpoint) -> Result<(), LogError> {
        let mut fp = self.shared().retention.failpoint.lock();
        if *fp == Some(at) {
            *fp = None;
            return Err(LogError::io(
                "failpoint",
                self.dir(),
                std::io::Error::other(format!("simulated crash at {at:?}")),
            ));
        }
        Ok(())
    }
}
