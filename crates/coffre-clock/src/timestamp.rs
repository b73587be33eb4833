//! The timestamp interval and its fixed 20-byte encoding.

use serde::{Deserialize, Serialize};

/// Length in bytes of [`Timestamp::to_bytes`].
pub const TIMESTAMP_LEN: usize = 20;

/// A time source that can take part in dating a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Source {
    /// A GNSS receiver (through gpsd or raw NMEA).
    Gps,
    /// An NTP server.
    Ntp,
    /// The local quartz oscillator (monotonic clock), disciplined by the other sources.
    Quartz,
    /// The operating system's wall clock, trusted as configured.
    System,
}

impl Source {
    /// All sources, in bit order.
    pub const ALL: [Source; 4] = [Source::Gps, Source::Ntp, Source::Quartz, Source::System];

    const fn bit(self) -> u8 {
        match self {
            Source::Gps => 1,
            Source::Ntp => 2,
            Source::Quartz => 4,
            Source::System => 8,
        }
    }

    /// Short lowercase name (`gps`, `ntp`, `quartz`, `system`).
    pub const fn name(self) -> &'static str {
        match self {
            Source::Gps => "gps",
            Source::Ntp => "ntp",
            Source::Quartz => "quartz",
            Source::System => "system",
        }
    }
}

/// A set of [`Source`]s, stored as one byte (bit 0 GPS, 1 NTP, 2 quartz, 3 system).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SourceSet(u8);

impl SourceSet {
    /// The empty set.
    pub const EMPTY: SourceSet = SourceSet(0);

    /// A set holding exactly `source`.
    pub const fn only(source: Source) -> SourceSet {
        SourceSet(source.bit())
    }

    /// This set with `source` added.
    #[must_use]
    pub const fn with(self, source: Source) -> SourceSet {
        SourceSet(self.0 | source.bit())
    }

    /// Whether `source` is in the set.
    pub const fn contains(self, source: Source) -> bool {
        self.0 & source.bit() != 0
    }

    /// The raw byte.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Builds a set from its byte; `None` if a bit outside the four known sources is set.
    pub const fn from_bits(bits: u8) -> Option<SourceSet> {
        if bits & !0x0f != 0 {
            None
        } else {
            Some(SourceSet(bits))
        }
    }

    /// Number of sources in the set.
    pub const fn len(self) -> u32 {
        self.0.count_ones()
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The sources in the set, in bit order.
    pub fn iter(self) -> impl Iterator<Item = Source> {
        Source::ALL.into_iter().filter(move |s| self.contains(*s))
    }
}

/// How trustworthy the time was when the stamp was issued.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum TimeStatus {
    /// A majority of live sources agreed.
    Synchronized,
    /// Carried by the quartz since the last agreement, within the configured bound.
    Holdover,
    /// No defensible time (only for reports: the arbiter refuses to stamp in this state).
    Unsynchronized,
}

impl TimeStatus {
    const fn code(self) -> u8 {
        match self {
            TimeStatus::Synchronized => 0,
            TimeStatus::Holdover => 1,
            TimeStatus::Unsynchronized => 2,
        }
    }

    const fn from_code(code: u8) -> Option<TimeStatus> {
        match code {
            0 => Some(TimeStatus::Synchronized),
            1 => Some(TimeStatus::Holdover),
            2 => Some(TimeStatus::Unsynchronized),
            _ => None,
        }
    }
}

/// Why bytes or bounds do not form a [`Timestamp`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimestampError {
    /// `earliest` is after `latest`.
    #[error("timestamp interval is inverted: earliest {earliest_ns} > latest {latest_ns}")]
    Inverted {
        /// Earliest bound, UTC ns since the Unix epoch.
        earliest_ns: u64,
        /// Latest bound, UTC ns since the Unix epoch.
        latest_ns: u64,
    },
    /// A source bit outside the known sources is set.
    #[error("unknown time source bits {0:#04x}")]
    UnknownSources(u8),
    /// The status byte is not a known status.
    #[error("unknown time status {0}")]
    UnknownStatus(u8),
    /// The reserved byte is not zero.
    #[error("reserved timestamp byte is {0}, expected 0")]
    Reserved(u8),
    /// Fewer than [`TIMESTAMP_LEN`] bytes.
    #[error("timestamp needs {TIMESTAMP_LEN} bytes, got {0}")]
    Length(usize),
}

/// A time interval that contains the true UTC time of an event: `earliest..=latest`, in
/// nanoseconds since the Unix epoch (UTC, leap seconds not counted), with the sources that
/// agreed on it, those rejected, and the arbiter's status.
///
/// ```
/// use coffre_clock::{Timestamp, TimeStatus, SourceSet, Source};
/// let t = Timestamp::new(1_000, 3_000, SourceSet::only(Source::System), SourceSet::EMPTY,
///     TimeStatus::Synchronized).unwrap();
/// assert_eq!(t.midpoint_ns(), 2_000);
/// assert_eq!(Timestamp::from_bytes(&t.to_bytes()).unwrap(), t);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Timestamp {
    earliest_ns: u64,
    latest_ns: u64,
    agreed: SourceSet,
    rejected: SourceSet,
    status: TimeStatus,
}

impl Timestamp {
    /// Builds a timestamp; fails if `earliest_ns > latest_ns`.
    pub fn new(
        earliest_ns: u64,
        latest_ns: u64,
        agreed: SourceSet,
        rejected: SourceSet,
        status: TimeStatus,
    ) -> Result<Timestamp, TimestampError> {
        if earliest_ns > latest_ns {
            return Err(TimestampError::Inverted { earliest_ns, latest_ns });
        }
        Ok(Timestamp { earliest_ns, latest_ns, agreed, rejected, status })
    }

    /// Earliest possible true time, UTC ns since the Unix epoch.
    pub const fn earliest_ns(&self) -> u64 {
        self.earliest_ns
    }

    /// Latest possible true time, UTC ns since the Unix epoch.
    pub const fn latest_ns(&self) -> u64 {
        self.latest_ns
    }

    /// Centre of the interval.
    pub const fn midpoint_ns(&self) -> u64 {
        self.earliest_ns + (self.latest_ns - self.earliest_ns) / 2
    }

    /// Half the interval's width: the uncertainty around [`Timestamp::midpoint_ns`].
    pub const fn uncertainty_ns(&self) -> u64 {
        (self.latest_ns - self.earliest_ns).div_ceil(2)
    }

    /// Sources whose samples agreed on this interval.
    pub const fn agreed(&self) -> SourceSet {
        self.agreed
    }

    /// Live sources that were rejected as falsetickers or faulty.
    pub const fn rejected(&self) -> SourceSet {
        self.rejected
    }

    /// The arbiter's status when the stamp was issued.
    pub const fn status(&self) -> TimeStatus {
        self.status
    }

    /// Whether every instant of `self` is strictly after every instant of `other`.
    pub const fn is_definitely_after(&self, other: &Timestamp) -> bool {
        self.earliest_ns > other.latest_ns
    }

    /// The fixed 20-byte little-endian encoding: earliest u64, latest u64, agreed u8,
    /// rejected u8, status u8, reserved u8 (zero). See docs/FORMAT.md.
    pub fn to_bytes(&self) -> [u8; TIMESTAMP_LEN] {
        let mut out = [0u8; TIMESTAMP_LEN];
        out[0..8].copy_from_slice(&self.earliest_ns.to_le_bytes());
        out[8..16].copy_from_slice(&self.latest_ns.to_le_bytes());
        out[16] = self.agreed.bits();
        out[17] = self.rejected.bits();
        out[18] = self.status.code();
        out
    }

    /// Decodes [`Timestamp::to_bytes`]; extra bytes after the first 20 are an error.
    pub fn from_bytes(bytes: &[u8]) -> Result<Timestamp, TimestampError> {
        let bytes: &[u8; TIMESTAMP_LEN] =
            bytes.try_into().map_err(|_| TimestampError::Length(bytes.len()))?;
        let (early, rest) = bytes.split_at(8);
        let (late, rest) = rest.split_at(8);
        let mut e = [0u8; 8];
        e.copy_from_slice(early);
        let mut l = [0u8; 8];
        l.copy_from_slice(late);
        let [agreed, rejected, status, reserved] = [rest[0], rest[1], rest[2], rest[3]];
        if reserved != 0 {
            return Err(TimestampError::Reserved(reserved));
        }
        let agreed = SourceSet::from_bits(agreed).ok_or(TimestampError::UnknownSources(agreed))?;
        let rejected =
            SourceSet::from_bits(rejected).ok_or(TimestampError::UnknownSources(rejected))?;
        let status = TimeStatus::from_code(status).ok_or(TimestampError::UnknownStatus(status))?;
        Timestamp::new(u64::from_le_bytes(e), u64::from_le_bytes(l), agreed, rejected, status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_and_reject_bad_fields() {
        let t = Timestamp::new(
            5,
            9,
            SourceSet::only(Source::Gps).with(Source::Ntp),
            SourceSet::only(Source::Quartz),
            TimeStatus::Holdover,
        )
        .unwrap();
        let b = t.to_bytes();
        assert_eq!(Timestamp::from_bytes(&b).unwrap(), t);
        let mut bad = b;
        bad[19] = 1;
        assert_eq!(Timestamp::from_bytes(&bad), Err(TimestampError::Reserved(1)));
        let mut bad = b;
        bad[18] = 7;
        assert_eq!(Timestamp::from_bytes(&bad), Err(TimestampError::UnknownStatus(7)));
        let mut bad = b;
        bad[16] = 0x10;
        assert_eq!(Timestamp::from_bytes(&bad), Err(TimestampError::UnknownSources(0x10)));
        let mut bad = b;
        bad[0] = 10;
        assert!(matches!(Timestamp::from_bytes(&bad), Err(TimestampError::Inverted { .. })));
        assert_eq!(Timestamp::from_bytes(&b[..19]), Err(TimestampError::Length(19)));
    }
}
