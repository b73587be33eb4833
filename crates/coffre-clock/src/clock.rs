//! The [`Clock`] trait the log dates records with, and the plain [`SystemClock`].

use crate::{Source, SourceSet, TimeStatus, Timestamp};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Why a clock could not issue a timestamp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClockError {
    /// No time can be defended now (no majority, or holdover bound exceeded).
    #[error("unsynchronized: {reason}")]
    Unsynchronized {
        /// Why the arbiter refused.
        reason: String,
    },
    /// The system clock reads before the Unix epoch or beyond what a u64 of ns holds.
    #[error("system clock out of range")]
    OutOfRange,
}

/// Issues timestamps. Implementations must be strictly monotonic: each interval issued has an
/// `earliest` bound at least the previous one's and a `latest` bound at least the previous one's.
pub trait Clock: Send + Sync {
    /// The current time as an interval that contains the true UTC time.
    fn now(&self) -> Result<Timestamp, ClockError>;
}

impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now(&self) -> Result<Timestamp, ClockError> {
        (**self).now()
    }
}

/// The operating system's wall clock with a configured uncertainty (default ±100 ms, what a
/// host kept by NTP on a public network can usually defend).
///
/// Monotonic: if the system clock steps back, stamps stay at the last issued value.
#[derive(Debug)]
pub struct SystemClock {
    uncertainty_ns: u64,
    last: std::sync::Mutex<(u64, u64)>,
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock::new(Duration::from_millis(100))
    }
}

impl SystemClock {
    /// A system clock whose stamps span `now ± uncertainty`.
    pub fn new(uncertainty: Duration) -> SystemClock {
        let uncertainty_ns = u64::try_from(uncertainty.as_nanos()).unwrap_or(u64::MAX / 4);
        SystemClock { uncertainty_ns, last: std::sync::Mutex::new((0, 0)) }
    }

    /// The configured half-width of the stamps.
    pub fn uncertainty(&self) -> Duration {
        Duration::from_nanos(self.uncertainty_ns)
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Result<Timestamp, ClockError> {
        let since =
            SystemTime::now().duration_since(UNIX_EPOCH).map_err(|_| ClockError::OutOfRange)?;
        let now_ns = u64::try_from(since.as_nanos()).map_err(|_| ClockError::OutOfRange)?;
        let earliest = now_ns.saturating_sub(self.uncertainty_ns);
        let latest = now_ns.checked_add(self.uncertainty_ns).ok_or(ClockError::OutOfRange)?;
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let earliest = earliest.max(last.0);
        let latest = latest.max(last.1).max(earliest);
        *last = (earliest, latest);
        Timestamp::new(
            earliest,
            latest,
            SourceSet::only(Source::System),
            SourceSet::EMPTY,
            TimeStatus::Synchronized,
        )
        .map_err(|_| ClockError::OutOfRange)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_clock_is_monotonic_and_honours_uncertainty() {
        let c = SystemClock::new(Duration::from_millis(5));
        let a = c.now().unwrap();
        let b = c.now().unwrap();
        assert!(b.earliest_ns() >= a.earliest_ns() && b.latest_ns() >= a.latest_ns());
        assert!(a.latest_ns() - a.earliest_ns() == 10_000_000);
        assert!(a.agreed().contains(Source::System));
    }
}
