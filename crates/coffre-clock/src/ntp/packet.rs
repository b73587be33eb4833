//! The NTP packet header as bytes: building a client request, parsing a reply, checking it
//! answers our request, and turning its four timestamps into a [`Sample`]. Pure functions over
//! bytes, no I/O (fuzzable).

use crate::sample::duration_ns;
use crate::Sample;
use std::time::Duration;

/// Length of the NTP header (extension fields and MACs after it are ignored).
pub const NTP_PACKET_LEN: usize = 48;

/// The protocol version this client speaks and accepts.
const VERSION: u8 = 4;
const MODE_CLIENT: u8 = 3;
const MODE_SERVER: u8 = 4;
const LEAP_ALARM: u8 = 3;
/// Seconds from 1900-01-01 (NTP era 0) to 1970-01-01.
const NTP_UNIX_OFFSET_S: u64 = 2_208_988_800;
const NS_PER_S: u64 = 1_000_000_000;
/// A reply whose computed round-trip delay is more negative than this is nonsense (the server
/// claims to have held the packet longer than it was away); a little is rounding.
const NEGATIVE_DELAY_TOLERANCE_NS: i128 = 1_000_000;

/// Why an NTP reply is not usable time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NtpError {
    /// Fewer than [`NTP_PACKET_LEN`] bytes.
    #[error("packet is {0} bytes, need {NTP_PACKET_LEN}")]
    TooShort(usize),
    /// The reply's version is not the one we sent.
    #[error("version {0} does not match request version 4")]
    Version(u8),
    /// The reply is not in server mode (4).
    #[error("mode {0} is not server mode")]
    Mode(u8),
    /// The origin timestamp does not echo our random transmit timestamp: not an answer to our
    /// request (stale, spoofed or misrouted).
    #[error("origin timestamp does not match our request")]
    OriginMismatch,
    /// Kiss-o'-death: stratum 0 with a four-letter code (`RATE`, `DENY`, `RSTR`...).
    #[error("kiss-o'-death {}", String::from_utf8_lossy(.0))]
    KissOfDeath([u8; 4]),
    /// Stratum 16 or more: the server is not synchronized.
    #[error("server stratum {0} is unsynchronized")]
    Unsynchronized(u8),
    /// Leap indicator 3: the server's clock is not synchronized (alarm).
    #[error("leap indicator alarm")]
    LeapAlarm,
    /// The server's transmit (or receive) timestamp is zero.
    #[error("zero server timestamp")]
    ZeroTimestamp,
    /// A timestamp does not map to a Unix time in range.
    #[error("timestamp out of range")]
    TimestampRange,
    /// The round-trip delay came out negative: the server's timestamps are inconsistent.
    #[error("negative round-trip delay {0} ns")]
    NegativeDelay(i128),
}

/// A 64-bit NTP timestamp: seconds since 1900 (high 32 bits) and a binary fraction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct NtpTimestamp(pub u64);

impl NtpTimestamp {
    /// Whether it is the all-zero "unknown" timestamp.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// Unix nanoseconds. Era: seconds values below 2^31 are taken as era 1 (after 2036-02-07),
    /// the rule most SNTP clients use, valid from 1968 to 2104. `None` before 1970.
    pub fn to_unix_ns(self) -> Option<u64> {
        let secs = self.0 >> 32;
        let frac = self.0 & 0xffff_ffff;
        let secs = if secs < 1 << 31 { secs + (1 << 32) } else { secs };
        let unix_secs = secs.checked_sub(NTP_UNIX_OFFSET_S)?;
        let frac_ns = (frac * NS_PER_S) >> 32;
        unix_secs.checked_mul(NS_PER_S)?.checked_add(frac_ns)
    }

    /// The NTP timestamp of Unix nanoseconds (wrapping into the current era).
    pub fn from_unix_ns(unix_ns: u64) -> NtpTimestamp {
        let secs = (unix_ns / NS_PER_S + NTP_UNIX_OFFSET_S) & 0xffff_ffff;
        let frac = ((unix_ns % NS_PER_S) << 32) / NS_PER_S;
        NtpTimestamp((secs << 32) | frac)
    }
}

/// The fields of an NTP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NtpPacket {
    /// Leap indicator (0..=3; 3 is the alarm).
    pub leap: u8,
    /// Version number.
    pub version: u8,
    /// Association mode (3 client, 4 server).
    pub mode: u8,
    /// Stratum (0 kiss-o'-death, 1 primary, 2..=15 secondary, 16 unsynchronized).
    pub stratum: u8,
    /// Poll exponent.
    pub poll: i8,
    /// Precision exponent (log2 seconds).
    pub precision: i8,
    /// Round-trip delay to the primary reference, NTP short format (16.16 seconds).
    pub root_delay: u32,
    /// Dispersion to the primary reference, NTP short format (16.16 seconds).
    pub root_dispersion: u32,
    /// Reference ID (kiss code when stratum is 0).
    pub reference_id: [u8; 4],
    /// When the server's clock was last set.
    pub reference: NtpTimestamp,
    /// The client's transmit timestamp, echoed by the server.
    pub origin: NtpTimestamp,
    /// When the request reached the server (T2).
    pub receive: NtpTimestamp,
    /// When the reply left the server (T3).
    pub transmit: NtpTimestamp,
}

fn be_u32(b: &[u8; NTP_PACKET_LEN], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn be_u64(b: &[u8; NTP_PACKET_LEN], at: usize) -> u64 {
    (u64::from(be_u32(b, at)) << 32) | u64::from(be_u32(b, at + 4))
}

/// Nanoseconds of an NTP short-format (16.16) duration, rounded up.
fn short_ns(v: u32) -> u64 {
    (u64::from(v) * NS_PER_S).div_ceil(1 << 16)
}

impl NtpPacket {
    /// A client request (version 4, mode 3) whose transmit timestamp is `transmit`: a random
    /// value, so the reply's origin proves it answers this request and reveals nothing of our
    /// clock (RFC 9109 style).
    pub fn request(transmit: NtpTimestamp) -> [u8; NTP_PACKET_LEN] {
        let mut out = [0u8; NTP_PACKET_LEN];
        out[0] = (VERSION << 3) | MODE_CLIENT;
        out[40..48].copy_from_slice(&transmit.0.to_be_bytes());
        out
    }

    /// Parses the 48-byte header at the start of `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<NtpPacket, NtpError> {
        let b: &[u8; NTP_PACKET_LEN] = bytes
            .get(..NTP_PACKET_LEN)
            .and_then(|h| h.try_into().ok())
            .ok_or(NtpError::TooShort(bytes.len()))?;
        Ok(NtpPacket {
            leap: b[0] >> 6,
            version: (b[0] >> 3) & 7,
            mode: b[0] & 7,
            stratum: b[1],
            poll: b[2] as i8,
            precision: b[3] as i8,
            root_delay: be_u32(b, 4),
            root_dispersion: be_u32(b, 8),
            reference_id: [b[12], b[13], b[14], b[15]],
            reference: NtpTimestamp(be_u64(b, 16)),
            origin: NtpTimestamp(be_u64(b, 24)),
            receive: NtpTimestamp(be_u64(b, 32)),
            transmit: NtpTimestamp(be_u64(b, 40)),
        })
    }

    /// Checks that this packet is a usable server answer to the request we sent with
    /// transmit timestamp `sent`.
    pub fn check_reply(&self, sent: NtpTimestamp) -> Result<(), NtpError> {
        if self.mode != MODE_SERVER {
            return Err(NtpError::Mode(self.mode));
        }
        if self.version != VERSION {
            return Err(NtpError::Version(self.version));
        }
        if self.origin != sent {
            return Err(NtpError::OriginMismatch);
        }
        if self.stratum == 0 {
            return Err(NtpError::KissOfDeath(self.reference_id));
        }
        if self.stratum >= 16 {
            return Err(NtpError::Unsynchronized(self.stratum));
        }
        if self.leap == LEAP_ALARM {
            return Err(NtpError::LeapAlarm);
        }
        if self.transmit.is_zero() || self.receive.is_zero() {
            return Err(NtpError::ZeroTimestamp);
        }
        Ok(())
    }

    /// The interval of UTC at monotonic instant `t4_mono_ns` (when the reply arrived), from a
    /// request sent at `t1_mono_ns`.
    ///
    /// Offset θ = ((T2 − T1) + (T3 − T4)) / 2 and delay δ = (T4 − T1) − (T3 − T2) as in
    /// RFC 5905, with T1/T4 on the monotonic clock. The reply left the server at T3 and took
    /// between 0 and δ to arrive, so the half-width is δ/2, plus the server's own error bound
    /// (root delay / 2 + root dispersion), plus `client_error` (our timestamping) and the
    /// oscillator drift during the exchange.
    pub fn to_sample(
        &self,
        t1_mono_ns: u64,
        t4_mono_ns: u64,
        client_error: Duration,
        drift_ppm: u32,
    ) -> Result<Sample, NtpError> {
        let t2 = i128::from(self.receive.to_unix_ns().ok_or(NtpError::TimestampRange)?);
        let t3 = i128::from(self.transmit.to_unix_ns().ok_or(NtpError::TimestampRange)?);
        let (t1, t4) = (i128::from(t1_mono_ns), i128::from(t4_mono_ns));
        let delay = (t4 - t1) - (t3 - t2);
        if delay < -NEGATIVE_DELAY_TOLERANCE_NS || t4 < t1 {
            return Err(NtpError::NegativeDelay(delay));
        }
        let delay = delay.max(0);
        let offset = ((t2 - t1) + (t3 - t4)) / 2;
        let centre = t4 + offset;
        let drift = ((t4 - t1) * i128::from(drift_ppm) + 999_999) / 1_000_000;
        let half = (delay + 1) / 2
            + i128::from(short_ns(self.root_delay).div_ceil(2))
            + i128::from(short_ns(self.root_dispersion))
            + i128::from(duration_ns(client_error))
            + drift
            // Truncating the 2^-32 s fractions of T2 and T3 to ns loses up to 1 ns each.
            + 2;
        let clamp = |v: i128| u64::try_from(v).map_err(|_| NtpError::TimestampRange);
        Sample::new(t4_mono_ns, clamp(centre - half)?, clamp(centre + half)?)
            .ok_or(NtpError::TimestampRange)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: u64 = 1_796_028_639_000_000_000;

    fn reply(sent: NtpTimestamp, t2: u64, t3: u64) -> [u8; NTP_PACKET_LEN] {
        let mut b = [0u8; NTP_PACKET_LEN];
        b[0] = (4 << 3) | 4;
        b[1] = 2;
        b[4..8].copy_from_slice(&0x0000_0800u32.to_be_bytes()); // 1/32 s root delay
        b[8..12].copy_from_slice(&0x0000_0100u32.to_be_bytes()); // 1/256 s dispersion
        b[12..16].copy_from_slice(b"GPS\0");
        b[24..32].copy_from_slice(&sent.0.to_be_bytes());
        b[32..40].copy_from_slice(&NtpTimestamp::from_unix_ns(t2).0.to_be_bytes());
        b[40..48].copy_from_slice(&NtpTimestamp::from_unix_ns(t3).0.to_be_bytes());
        b
    }

    #[test]
    fn request_is_version_4_client_mode_with_our_transmit() {
        let req = NtpPacket::request(NtpTimestamp(0x0102_0304_0506_0708));
        let p = NtpPacket::parse(&req).unwrap();
        assert_eq!((p.version, p.mode), (4, 3));
        assert_eq!(p.transmit, NtpTimestamp(0x0102_0304_0506_0708));
    }

    #[test]
    fn timestamps_convert_across_the_2036_era_boundary() {
        assert_eq!(NtpTimestamp::from_unix_ns(T).to_unix_ns(), Some(T));
        let after_2036 = 2_200_000_000 * NS_PER_S;
        assert_eq!(NtpTimestamp::from_unix_ns(after_2036).to_unix_ns(), Some(after_2036));
        let half = NtpTimestamp::from_unix_ns(T + 500_000_000).to_unix_ns().unwrap();
        assert!(half.abs_diff(T + 500_000_000) <= 1);
    }

    #[test]
    fn offset_and_delay_give_an_interval_containing_server_time() {
        let sent = NtpTimestamp(42);
        // T1 = 1000 ms mono, server 100 ms later on the wire, 10 ms inside, 100 ms back.
        let p = NtpPacket::parse(&reply(sent, T + 100_000_000, T + 110_000_000)).unwrap();
        p.check_reply(sent).unwrap();
        let s = p.to_sample(1_000_000_000, 1_210_000_000, Duration::ZERO, 0).unwrap();
        assert_eq!(s.mono_ns(), 1_210_000_000);
        // Centre: T3 + δ/2 = T + 210 ms; half-width δ/2 + 1/64 s + 1/256 s.
        // (Conversions from the 2^-32 s fraction lose up to 1 ns each.)
        assert!(s.midpoint_ns().abs_diff(T + 210_000_000) <= 2);
        assert!(s.uncertainty_ns().abs_diff(100_000_000 + 15_625_000 + 3_906_250) <= 2);
    }

    #[test]
    fn bad_replies_are_rejected_with_their_reason() {
        let sent = NtpTimestamp(42);
        let good = reply(sent, T, T);
        let check = |b: [u8; NTP_PACKET_LEN]| NtpPacket::parse(&b).unwrap().check_reply(sent);
        assert_eq!(check(good), Ok(()));
        let mut kod = good;
        kod[1] = 0;
        kod[12..16].copy_from_slice(b"RATE");
        assert_eq!(check(kod), Err(NtpError::KissOfDeath(*b"RATE")));
        let mut s16 = good;
        s16[1] = 16;
        assert_eq!(check(s16), Err(NtpError::Unsynchronized(16)));
        let mut alarm = good;
        alarm[0] |= 0xc0;
        assert_eq!(check(alarm), Err(NtpError::LeapAlarm));
        let mut mode = good;
        mode[0] = (4 << 3) | 3;
        assert_eq!(check(mode), Err(NtpError::Mode(3)));
        let mut v3 = good;
        v3[0] = (3 << 3) | 4;
        assert_eq!(check(v3), Err(NtpError::Version(3)));
        let mut zero = good;
        zero[40..48].fill(0);
        assert_eq!(check(zero), Err(NtpError::ZeroTimestamp));
        assert_eq!(
            NtpPacket::parse(&good).unwrap().check_reply(NtpTimestamp(43)),
            Err(NtpError::OriginMismatch)
        );
        assert_eq!(NtpPacket::parse(&good[..47]), Err(NtpError::TooShort(47)));
    }

    #[test]
    fn server_claiming_more_processing_than_round_trip_is_rejected() {
        let sent = NtpTimestamp(42);
        let p = NtpPacket::parse(&reply(sent, T, T + 5_000_000_000)).unwrap();
        assert!(matches!(
            p.to_sample(0, 1_000_000, Duration::ZERO, 0),
            Err(NtpError::NegativeDelay(_))
        ));
    }
}
