//! What the arbiter reports as it happens: faults, falsetickers, steps back, status changes,
//! kept in a bounded ring buffer.

use crate::{SourceError, TimeStatus};
use std::collections::VecDeque;

/// Something the arbiter noticed, at monotonic instant `mono_ns`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClockEvent {
    /// Monotonic instant of the event.
    pub mono_ns: u64,
    /// What happened.
    pub kind: ClockEventKind,
}

/// The kinds of [`ClockEvent`]. Source events fire on transitions, not at every poll.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClockEventKind {
    /// A source started failing, or fails differently.
    SourceFault {
        /// Source name.
        source: String,
        /// Why.
        error: SourceError,
    },
    /// A failing source gives samples again.
    SourceRecovered {
        /// Source name.
        source: String,
    },
    /// A source's interval does not overlap the majority: excluded.
    Falseticker {
        /// Source name.
        source: String,
        /// Its interval at the vote, earliest UTC ns.
        earliest_ns: u64,
        /// Its interval at the vote, latest UTC ns.
        latest_ns: u64,
    },
    /// No instant is contained in a strict majority of the voters.
    NoMajority {
        /// Voters with a fresh interval (the quartz included when it votes).
        live: usize,
        /// Agreeing voters needed.
        quorum: usize,
        /// Whether live voters contradict each other (stamping is refused) rather than too
        /// few being live (holdover).
        disagreeing: bool,
    },
    /// The quartz's interval missed the agreement of the external sources: it is
    /// re-disciplined to that agreement (it never outvotes agreeing external sources).
    QuartzStep {
        /// The quartz's interval at the vote, earliest UTC ns.
        earliest_ns: u64,
        /// The quartz's interval at the vote, latest UTC ns.
        latest_ns: u64,
        /// The agreement it is set to, earliest UTC ns.
        agreed_earliest_ns: u64,
        /// The agreement it is set to, latest UTC ns.
        agreed_latest_ns: u64,
    },
    /// The sources agree on a time entirely before a stamp already issued: the clock is not
    /// moved back; stamps stay at the issued bound until time catches up.
    StepBack {
        /// Earliest bound of the latest issued stamp (or floor).
        issued_earliest_ns: u64,
        /// Latest bound of the new agreement.
        agreed_latest_ns: u64,
    },
    /// The status of issued time changed.
    StatusChanged {
        /// Previous status (`None` at start).
        from: Option<TimeStatus>,
        /// New status.
        to: TimeStatus,
    },
    /// `set_floor` raised the lowest time the arbiter may issue.
    FloorRaised {
        /// New earliest bound.
        earliest_ns: u64,
        /// New latest bound.
        latest_ns: u64,
    },
}

/// A bounded log of events: the oldest are dropped (and counted) when full.
#[derive(Debug)]
pub(crate) struct EventLog {
    ring: VecDeque<ClockEvent>,
    capacity: usize,
    dropped: u64,
}

impl EventLog {
    pub(crate) fn new(capacity: usize) -> EventLog {
        EventLog { ring: VecDeque::with_capacity(capacity.min(1024)), capacity, dropped: 0 }
    }

    pub(crate) fn push(&mut self, event: ClockEvent) {
        if self.capacity == 0 {
            self.dropped += 1;
            return;
        }
        if self.ring.len() == self.capacity {
            self.ring.pop_front();
            self.dropped += 1;
        }
        self.ring.push_back(event);
    }

    pub(crate) fn snapshot(&self) -> Vec<ClockEvent> {
        self.ring.iter().cloned().collect()
    }

    pub(crate) fn drain(&mut self) -> Vec<ClockEvent> {
        self.ring.drain(..).collect()
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped
    }
}
