//! Time for Coffre: every record is dated with a [`Timestamp`], an interval
//! `earliest..=latest` of UTC nanoseconds that contains the true time, issued by a [`Clock`].
//!
//! The three-source arbiter (GPS, NTP, quartz) builds on these types; [`SystemClock`] is the
//! plain operating-system clock with an honest, configured uncertainty.

mod clock;
mod timestamp;

pub use clock::{Clock, ClockError, SystemClock};
pub use timestamp::{Source, SourceSet, TimeStatus, Timestamp, TimestampError, TIMESTAMP_LEN};
