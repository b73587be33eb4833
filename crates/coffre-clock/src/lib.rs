//! Time for Coffre: every record is dated with a [`Timestamp`], an interval
//! `earliest..=latest` of UTC nanoseconds that contains the true time, issued by a [`Clock`].
//!
//! [`SystemClock`] is the plain operating-system clock with a configured uncertainty. The
//! [`Arbiter`] is the trustworthy clock: it samples GPS ([`gps`]), NTP servers ([`ntp`]) and
//! any other [`TimeSource`] as intervals on the local [`MonotonicClock`], keeps the part a
//! strict majority agrees on ([`marzullo`]), with the disciplined [`Quartz`] as a tie-breaking
//! voter that never forms a majority alone, carries time through outages on the quartz
//! (holdover) and refuses to stamp when it cannot defend the time. See docs/CLOCK.md.

mod arbiter;
mod civil;
mod clock;
pub mod gps;
pub mod marzullo;
mod monotonic;
pub mod ntp;
mod quartz;
mod sample;
mod sim;
mod source;
mod status;
mod system_source;
mod timestamp;

pub use arbiter::{
    Arbiter, ArbiterConfig, ClockEvent, ClockEventKind, EventListener, Poller, SourceOutcome,
    SourceReport, Stamp, QUARTZ_NAME,
};
pub use civil::{format_utc, parse_rfc3339_utc, CivilTime};
pub use clock::{Clock, ClockError, SystemClock};
pub use monotonic::{FakeMonotonic, MonotonicClock, SystemMonotonic};
pub use quartz::Quartz;
pub use sample::{DateWindow, Sample};
pub use sim::{Script, ScriptedSource};
pub use source::{SourceError, TimeSource};
pub use status::{format_status, query_status, StatusQuery, StatusReport};
pub use system_source::SystemTimeSource;
pub use timestamp::{Source, SourceSet, TimeStatus, Timestamp, TimestampError, TIMESTAMP_LEN};
