//! Retention, legal holds and purge (docs/RETENTION.md).
//!
//! The policy lives in the log as system records ([`crate::system`]); [`PolicyState`] is what
//! replaying them gives. `retention.state` keeps a copy of those records so opening does not
//! scan the log; each copy is checked against the tree's leaf hash at open.

mod open;
mod ops;
mod purge;
mod state;
mod worm;

pub(crate) use open::{finish_open, load_state};
pub use purge::{PurgeDecision, PurgeFailpoint, PurgeReport, SegmentVerdict};
pub use state::RETENTION_STATE_FILE;

use crate::system::SystemRecord;
use parking_lot::{Mutex, RwLock};
use state::SystemEntry;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Shortest retention a log may be created with: one day.
pub const RETENTION_SECONDS_MIN: u64 = 86_400;
const NS_PER_SECOND: u64 = 1_000_000_000;

/// Checks a retention given at creation: at least [`RETENTION_SECONDS_MIN`].
pub(crate) fn validate_retention(retention_seconds: u64) -> Result<(), crate::LogError> {
    if retention_seconds < RETENTION_SECONDS_MIN {
        return Err(crate::LogError::InvalidOptions(format!(
            "retention of {retention_seconds} s is shorter than the minimum of one day \
             ({RETENTION_SECONDS_MIN} s)"
        )));
    }
    Ok(())
}

/// Identifies a legal hold: the index of the system record that placed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HoldId(pub u64);

/// A legal hold in force: none of its records may be purged until it is released.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LegalHold {
    /// The hold's id (index of its placing record).
    pub id: HoldId,
    /// Held indexes (may extend past the log's current end).
    pub range: Range<u64>,
    /// Why it was placed.
    pub reason: String,
}

/// One retention period: from `from_index` on, records are kept `retention`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetentionPeriod {
    /// First record the period applies to.
    pub from_index: u64,
    /// How long records written in this period are kept.
    pub retention: Duration,
    /// Index of the extension record that started it (`None`: the manifest's, at creation).
    pub set_by: Option<u64>,
}

/// The retention policy in force, derived from the manifest and the system records.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetentionPolicy {
    /// Retention of records written now (the longest so far: it never shrinks).
    pub current: Duration,
    /// Every period since creation, in index order (the first from index 0).
    pub periods: Vec<RetentionPeriod>,
    /// Every record before this index was purged (0: none).
    pub purged_until: u64,
    /// Index of the latest purge record, if any.
    pub last_purge_record: Option<u64>,
}

impl RetentionPolicy {
    /// Retention in force when record `index` was written (by log order).
    pub fn retention_for(&self, index: u64) -> Duration {
        let at = self.periods.partition_point(|p| p.from_index <= index);
        at.checked_sub(1).and_then(|i| self.periods.get(i)).map_or(self.current, |p| p.retention)
    }

    /// Until when (UTC ns) record `index` stamped `latest_ns` (its timestamp's latest bound)
    /// must be kept. Saturates: an overflow means "forever".
    pub fn retain_until_ns(&self, index: u64, latest_ns: u64) -> u64 {
        let secs = self.retention_for(index).as_secs();
        latest_ns.saturating_add(secs.saturating_mul(NS_PER_SECOND))
    }
}

/// Policy derived by replaying the system records, plus the state file bookkeeping.
#[derive(Clone, Debug)]
pub(crate) struct PolicyState {
    pub known_len: u64,
    pub pending: Option<Vec<u8>>,
    pub entries: Vec<SystemEntry>,
    pub policy: RetentionPolicy,
    /// Every hold, released ones with the index of their release record.
    pub holds: Vec<(LegalHold, Option<u64>)>,
    /// No usable state file: `finish_open` rebuilds it by scanning the log.
    pub needs_rebuild: bool,
}

impl PolicyState {
    /// Replays `entries` over the manifest's retention. `Err` names the inconsistent entry.
    pub(crate) fn replay(
        initial_seconds: u64,
        known_len: u64,
        pending: Option<Vec<u8>>,
        entries: Vec<SystemEntry>,
    ) -> Result<PolicyState, String> {
        let mut st = PolicyState {
            known_len,
            pending,
            entries: Vec::new(),
            policy: RetentionPolicy {
                current: Duration::from_secs(initial_seconds),
                periods: vec![RetentionPeriod {
                    from_index: 0,
                    retention: Duration::from_secs(initial_seconds),
                    set_by: None,
                }],
                purged_until: 0,
                last_purge_record: None,
            },
            holds: Vec::new(),
            needs_rebuild: false,
        };
        for e in entries {
            st.apply(e)?;
        }
        Ok(st)
    }

    /// Folds one more system record in.
    pub(crate) fn apply(&mut self, e: SystemEntry) -> Result<(), String> {
        if self.entries.last().is_some_and(|l| l.index >= e.index) {
            return Err(format!("system record {} out of order", e.index));
        }
        let rec = SystemRecord::decode(&e.payload)
            .map_err(|err| format!("system record {}: {err}", e.index))?;
        match rec {
            SystemRecord::RetentionExtended { previous_seconds, retention_seconds, .. } => {
                if previous_seconds != self.policy.current.as_secs() {
                    return Err(format!("extension {} does not follow the retention", e.index));
                }
                self.policy.current = Duration::from_secs(retention_seconds);
                self.policy.periods.push(RetentionPeriod {
                    from_index: e.index,
                    retention: self.policy.current,
                    set_by: Some(e.index),
                });
            }
            SystemRecord::HoldPlaced { start, end, reason } => {
                self.holds
                    .push((LegalHold { id: HoldId(e.index), range: start..end, reason }, None));
            }
            SystemRecord::HoldReleased { hold, .. } => {
                let h = self
                    .holds
                    .iter_mut()
                    .find(|(h, released)| h.id.0 == hold && released.is_none())
                    .ok_or_else(|| format!("release {} names no active hold", e.index))?;
                h.1 = Some(e.index);
            }
            SystemRecord::Purge(p) => {
                if p.from != self.policy.purged_until || p.to > e.index {
                    return Err(format!("purge {} does not follow the previous one", e.index));
                }
                if let Some(h) = self.active_holds().find(|h| h.range.start < p.to) {
                    return Err(format!("purge {} deleted records held by {}", e.index, h.id.0));
                }
                self.policy.purged_until = p.to;
                self.policy.last_purge_record = Some(e.index);
            }
        }
        self.entries.push(e);
        Ok(())
    }

    fn active_holds(&self) -> impl Iterator<Item = &LegalHold> {
        self.holds.iter().filter(|(_, r)| r.is_none()).map(|(h, _)| h)
    }

    /// Holds in force, in placing order.
    pub(crate) fn active(&self) -> Vec<LegalHold> {
        self.active_holds().cloned().collect()
    }

    pub(crate) fn to_file(&self) -> state::StateFile {
        state::StateFile {
            known_len: self.known_len,
            pending: self.pending.clone(),
            entries: self.entries.clone(),
        }
    }
}

/// The policy state shared by a log handle's readers and its system operations.
pub(crate) struct RetentionCell {
    pub state: RwLock<PolicyState>,
    /// Copy of `policy.purged_until` for the read path.
    purged_until: AtomicU64,
    /// Index of the latest purge record (`u64::MAX`: none).
    purge_record: AtomicU64,
    /// Serialises system operations (one system record in flight at a time).
    pub op: Mutex<()>,
    pub failpoint: Mutex<Option<PurgeFailpoint>>,
}

impl std::fmt::Debug for RetentionCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetentionCell").field("purged_until", &self.purged_until()).finish()
    }
}

impl RetentionCell {
    pub(crate) fn new(state: PolicyState) -> RetentionCell {
        let cell = RetentionCell {
            purged_until: AtomicU64::new(0),
            purge_record: AtomicU64::new(u64::MAX),
            state: RwLock::new(state),
            op: Mutex::new(()),
            failpoint: Mutex::new(None),
        };
        cell.publish();
        cell
    }

    /// Copies the purge bound of the state to the read path's atomics.
    pub(crate) fn publish(&self) {
        let st = self.state.read();
        self.purge_record.store(st.policy.last_purge_record.unwrap_or(u64::MAX), Ordering::Release);
        self.purged_until.store(st.policy.purged_until, Ordering::Release);
    }

    /// Every record before this index was purged.
    pub(crate) fn purged_until(&self) -> u64 {
        self.purged_until.load(Ordering::Acquire)
    }

    /// `Some(purge record index)` if `index` was purged.
    pub(crate) fn purged(&self, index: u64) -> Option<u64> {
        if index < self.purged_until() {
            Some(self.purge_record.load(Ordering::Acquire))
        } else {
            None
        }
    }
}
