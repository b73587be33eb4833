//! The operating system's wall clock as a voting source, with a configured uncertainty.

use crate::sample::duration_ns;
use crate::{MonotonicClock, Sample, Source, SourceError, TimeSource};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The system clock read as `now ± uncertainty`. Useful as a third voter next to one GPS and
/// one NTP server; when it steps (an operator, a bad NTP daemon), the others outvote it.
#[derive(Debug, Clone)]
pub struct SystemTimeSource {
    uncertainty: Duration,
}

impl SystemTimeSource {
    /// A source claiming the system clock is within `uncertainty` of UTC.
    pub const fn new(uncertainty: Duration) -> SystemTimeSource {
        SystemTimeSource { uncertainty }
    }
}

impl TimeSource for SystemTimeSource {
    fn kind(&self) -> Source {
        Source::System
    }

    fn name(&self) -> &str {
        "system clock"
    }

    fn sample(&mut self, mono: &dyn MonotonicClock) -> Result<Sample, SourceError> {
        let mono_ns = mono.now_ns();
        let since = SystemTime::now().duration_since(UNIX_EPOCH).map_err(|_| SourceError::Io {
            during: "read system clock",
            message: "before 1970".into(),
        })?;
        Ok(Sample::centred(mono_ns, duration_ns(since), self.uncertainty))
    }
}
