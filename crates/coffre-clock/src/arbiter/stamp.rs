//! The arbiter's detailed answer: the [`Timestamp`] plus what every source said.

use crate::{Sample, Source, SourceError, TimeStatus, Timestamp};
use std::time::Duration;

/// What a source contributed to the last vote.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SourceOutcome {
    /// Not sampled yet.
    NotPolled,
    /// Its sample overlaps the majority (a truechimer). The sample as taken.
    Agreed(Sample),
    /// Its sample does not overlap the majority: excluded.
    Falseticker(Sample),
    /// Live, but no majority existed, so nobody could be told honest.
    NoMajority(Sample),
    /// Its last sample is older than the configured maximum age: counted as silent.
    Stale(Sample),
    /// Its last sampling failed.
    Faulty(SourceError),
}

impl SourceOutcome {
    /// The sample, when there is one.
    pub fn sample(&self) -> Option<Sample> {
        match self {
            SourceOutcome::Agreed(s)
            | SourceOutcome::Falseticker(s)
            | SourceOutcome::NoMajority(s)
            | SourceOutcome::Stale(s) => Some(*s),
            SourceOutcome::NotPolled | SourceOutcome::Faulty(_) => None,
        }
    }

    /// A short word for reports: `agreed`, `falseticker`, `no-majority`, `stale`, `faulty`,
    /// `not-polled`.
    pub fn label(&self) -> &'static str {
        match self {
            SourceOutcome::NotPolled => "not-polled",
            SourceOutcome::Agreed(_) => "agreed",
            SourceOutcome::Falseticker(_) => "falseticker",
            SourceOutcome::NoMajority(_) => "no-majority",
            SourceOutcome::Stale(_) => "stale",
            SourceOutcome::Faulty(_) => "faulty",
        }
    }
}

/// One source's state in a report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceReport {
    /// The source's name.
    pub name: String,
    /// Its kind.
    pub kind: Source,
    /// What it contributed to the last vote.
    pub outcome: SourceOutcome,
}

/// An issued stamp with the evidence behind it. Converts to the 20-byte [`Timestamp`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub(crate) timestamp: Timestamp,
    pub(crate) sources: Vec<SourceReport>,
    pub(crate) quorum: usize,
    pub(crate) voters: usize,
    pub(crate) agreement_age: Duration,
    pub(crate) clamped: bool,
}

impl Stamp {
    /// The issued timestamp.
    pub fn timestamp(&self) -> Timestamp {
        self.timestamp
    }

    /// The status it was issued with.
    pub fn status(&self) -> TimeStatus {
        self.timestamp.status()
    }

    /// Every configured source and its outcome at the last vote, the quartz last.
    pub fn sources(&self) -> &[SourceReport] {
        &self.sources
    }

    /// How many voters had to agree at the last vote: a strict majority of [`Stamp::voters`]
    /// (or of the external sources alone, which the quartz can never veto).
    pub fn quorum(&self) -> usize {
        self.quorum
    }

    /// Voters at the last vote: the configured external sources (silent ones included), plus
    /// the quartz when it was disciplined within the holdover bound.
    pub fn voters(&self) -> usize {
        self.voters
    }

    /// Monotonic time since the agreement the stamp is carried from.
    pub fn agreement_age(&self) -> Duration {
        self.agreement_age
    }

    /// Whether monotonicity or the floor raised a bound above what the sources say (after a
    /// step back).
    pub fn was_clamped(&self) -> bool {
        self.clamped
    }
}

impl From<&Stamp> for Timestamp {
    fn from(stamp: &Stamp) -> Timestamp {
        stamp.timestamp
    }
}

impl From<Stamp> for Timestamp {
    fn from(stamp: Stamp) -> Timestamp {
        stamp.timestamp
    }
}
