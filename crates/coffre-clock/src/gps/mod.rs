//! GPS time: raw NMEA 0183 sentences from any reader ([`NmeaSource`]) or gpsd's JSON protocol
//! over TCP ([`GpsdSource`]). A receiver's time is trusted only with a fix, a valid checksum,
//! a plausible date and a clock that advances; everything else is a typed [`GpsError`].

mod gpsd;
pub mod nmea;

pub use gpsd::{parse_gpsd_line, GpsdReport, GpsdSource, GPSD_DEFAULT_ADDR};
pub use nmea::{parse_nmea_time, NmeaSource};

use crate::sample::duration_ns;
use crate::{DateWindow, Sample};
use std::time::Duration;

/// Why a GPS reading is not time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GpsError {
    /// The NMEA checksum does not match the sentence.
    #[error("NMEA checksum {found:#04x}, computed {computed:#04x}")]
    Checksum {
        /// The checksum written after `*`.
        found: u8,
        /// The checksum of the sentence's bytes.
        computed: u8,
    },
    /// The sentence or message is not well formed.
    #[error("malformed {what}")]
    Malformed {
        /// Which part was wrong.
        what: &'static str,
    },
    /// The receiver reports no fix (RMC status V, TPV mode < 2, empty time fields).
    #[error("no fix")]
    NoFix,
    /// The date is outside the plausible window (e.g. GPS week-number rollover).
    #[error("implausible receiver date {utc_ns} ns")]
    ImplausibleDate {
        /// The reported UTC time, ns since the Unix epoch.
        utc_ns: u64,
    },
    /// The receiver's time did not advance while the local clock did: frozen data.
    #[error("stale data: receiver time stuck at {utc_ns} ns")]
    Stale {
        /// The repeated UTC time, ns.
        utc_ns: u64,
    },
    /// The stream ended.
    #[error("end of stream")]
    EndOfStream,
    /// A line exceeded the length bound.
    #[error("line longer than {0} bytes")]
    LineTooLong(usize),
    /// gpsd answered with an ERROR message.
    #[error("gpsd error: {0}")]
    Daemon(String),
}

/// How GPS readings turn into intervals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GpsConfig {
    /// Upper bound on how late a time sentence arrives after the instant it names (serial
    /// NMEA without PPS: 100 ms to several hundred). A sentence for second `t` received at
    /// local instant `m` gives `t..=t + sentence_latency` at `m`.
    pub sentence_latency: Duration,
    /// When `Some(u)`, gpsd's PPS messages are used with ±`u` and TOFF messages with
    /// `sentence_latency`; both relate GPS time to *this host's* system clock, so enable only
    /// when gpsd runs on this host. `None` ignores them.
    pub pps_uncertainty: Option<Duration>,
    /// Plausible dates.
    pub dates: DateWindow,
    /// Longest wait for a time message in one sample.
    pub read_timeout: Duration,
    /// Longest wait to connect to gpsd.
    pub connect_timeout: Duration,
}

impl Default for GpsConfig {
    fn default() -> Self {
        GpsConfig {
            sentence_latency: Duration::from_millis(500),
            pps_uncertainty: None,
            dates: DateWindow::default(),
            read_timeout: Duration::from_secs(3),
            connect_timeout: Duration::from_secs(1),
        }
    }
}

/// The last receiver time seen and when it was first seen, to detect data that stopped
/// advancing (a frozen receiver repeating its last fix). A receiver time that jumps, forwards
/// or backwards, is not stale: the arbiter judges it against the other sources.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Freshness {
    last: Option<(u64, u64)>,
}

/// Local time that must pass with the receiver time standing still before data is stale.
const STALE_AFTER_NS: u64 = 1_500_000_000;

impl Freshness {
    /// Checks a receiver time `utc_ns` received at `mono_ns` and turns it into a sample
    /// `utc..=utc + latency` after the date and staleness checks. A repeated receiver time is
    /// anchored where it was first seen.
    pub(crate) fn accept(
        &mut self,
        utc_ns: u64,
        mono_ns: u64,
        latency: Duration,
        dates: &DateWindow,
    ) -> Result<Sample, GpsError> {
        let latest = utc_ns.saturating_add(duration_ns(latency));
        if !dates.contains(utc_ns, latest) {
            return Err(GpsError::ImplausibleDate { utc_ns });
        }
        let at_mono_ns = match self.last {
            Some((last_utc, since_mono)) if last_utc == utc_ns => {
                if mono_ns.saturating_sub(since_mono) >= STALE_AFTER_NS {
                    return Err(GpsError::Stale { utc_ns });
                }
                // A repeat says nothing new: the receiver named this second when it was
                // first seen, so the interval holds at that instant, not at the repeat's
                // arrival (which may be most of a second later).
                since_mono
            }
            _ => {
                self.last = Some((utc_ns, mono_ns));
                mono_ns
            }
        };
        Sample::new(at_mono_ns, utc_ns, latest).ok_or(GpsError::ImplausibleDate { utc_ns })
    }
}
