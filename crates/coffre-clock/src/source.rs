//! The [`TimeSource`] trait every clock source implements, and [`SourceError`], why a source
//! gave no usable time.

use crate::gps::GpsError;
use crate::ntp::NtpError;
use crate::{MonotonicClock, Sample, Source};

/// Something that can tell the time as an interval: a GPS receiver, an NTP server, a script.
///
/// `sample` blocks for at most the source's own configured timeout; it is called by the
/// arbiter's poller, never on the hot path of [`crate::Clock::now`].
pub trait TimeSource: Send {
    /// Which kind of source this is (the bit recorded in stamps).
    fn kind(&self) -> Source;

    /// A human-readable name, unique within an arbiter (`ntp 127.0.0.1:123`, `gpsd ...`).
    fn name(&self) -> &str;

    /// Takes one reading, timed against `mono`.
    fn sample(&mut self, mono: &dyn MonotonicClock) -> Result<Sample, SourceError>;
}

impl<T: TimeSource + ?Sized> TimeSource for Box<T> {
    fn kind(&self) -> Source {
        (**self).kind()
    }

    fn name(&self) -> &str {
        (**self).name()
    }

    fn sample(&mut self, mono: &dyn MonotonicClock) -> Result<Sample, SourceError> {
        (**self).sample(mono)
    }
}

/// Why a source gave no usable time. A fault is never time: the arbiter counts the source as
/// silent and reports the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// Network or device I/O failed.
    #[error("{during}: {message}")]
    Io {
        /// What was being done (`connect`, `send`, `read`...).
        during: &'static str,
        /// The operating system's message.
        message: String,
    },
    /// No answer within the configured timeout.
    #[error("no answer within {waited_ms} ms")]
    Timeout {
        /// How long the source was waited for.
        waited_ms: u64,
    },
    /// The NTP server's answer was rejected.
    #[error("ntp: {0}")]
    Ntp(#[from] NtpError),
    /// The GPS receiver's data was rejected.
    #[error("gps: {0}")]
    Gps(#[from] GpsError),
    /// The reported interval is outside the plausible dates (before the floor or too far
    /// ahead).
    #[error("implausible date {earliest_ns}..={latest_ns} ns")]
    Implausible {
        /// Reported earliest bound, UTC ns.
        earliest_ns: u64,
        /// Reported latest bound, UTC ns.
        latest_ns: u64,
    },
    /// The source has nothing to say (a scripted outage).
    #[error("silent")]
    Silent,
}

impl SourceError {
    /// An I/O error, keeping only what is needed to report it (the error itself is not Clone).
    pub fn io(during: &'static str, err: &std::io::Error) -> SourceError {
        SourceError::Io { during, message: err.to_string() }
    }
}
