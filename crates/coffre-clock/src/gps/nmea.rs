//! NMEA 0183 time sentences (RMC and ZDA) with checksums, and a source reading them from any
//! [`Read`]er (a serial port, a file, a socket).

use super::{Freshness, GpsConfig, GpsError};
use crate::civil::{parse_fraction, CivilTime};
use crate::{MonotonicClock, Sample, Source, SourceError, TimeSource};
use std::io::{BufRead, BufReader, Read};

/// NMEA allows 82 characters; receivers overstep a little.
const LINE_BYTES_MAX: usize = 256;
/// Lines read per sample before giving up (bounds a sample on a chatty receiver).
const LINES_PER_SAMPLE_MAX: usize = 64;

fn checked_body(line: &str) -> Result<&str, GpsError> {
    let line = line.trim_end_matches(['\r', '\n']);
    let rest = line.strip_prefix('$').ok_or(GpsError::Malformed { what: "sentence start" })?;
    let (body, sum) = rest.split_once('*').ok_or(GpsError::Malformed { what: "checksum" })?;
    // from_str_radix alone would take "+A" as a checksum.
    if sum.len() != 2 || !sum.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(GpsError::Malformed { what: "checksum" });
    }
    let found =
        u8::from_str_radix(sum, 16).map_err(|_| GpsError::Malformed { what: "checksum" })?;
    let computed = body.bytes().fold(0u8, |acc, b| acc ^ b);
    if found != computed {
        return Err(GpsError::Checksum { found, computed });
    }
    Ok(body)
}

/// The whole of `field` as a number of exactly `len` digits.
fn exact(field: &str, len: usize) -> Option<u32> {
    if field.len() != len {
        return None;
    }
    digits(field, 0, len)
}

fn digits(field: &str, from: usize, len: usize) -> Option<u32> {
    let s = field.get(from..from + len)?;
    if !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `hhmmss[.sss]` into (hour, minute, second, nanos).
fn time_of_day(field: &str) -> Option<(u32, u32, u32, u32)> {
    let frac = parse_fraction(field.get(6..)?)?;
    Some((digits(field, 0, 2)?, digits(field, 2, 2)?, digits(field, 4, 2)?, frac))
}

fn civil(date: (i64, u32, u32), time: &str) -> Result<u64, GpsError> {
    let (hour, minute, second, nanos) =
        time_of_day(time).ok_or(GpsError::Malformed { what: "time field" })?;
    CivilTime { year: date.0, month: date.1, day: date.2, hour, minute, second, nanos }
        .to_unix_ns()
        .ok_or(GpsError::Malformed { what: "date" })
}

/// Parses one NMEA line. `Ok(Some(utc_ns))` for a valid RMC or ZDA sentence with a fix,
/// `Ok(None)` for any other well-formed sentence, an error for a bad checksum, a malformed
/// time sentence or no fix. RMC's two-digit year is taken in 2000..=2099; the date window
/// catches anything wrong with that.
///
/// ```
/// use coffre_clock::gps::parse_nmea_time;
/// let zda = "$GPZDA,085039.79,30,11,2026,00,00*6A";
/// assert_eq!(parse_nmea_time(zda), Ok(Some(1_796_028_639_790_000_000)));
/// ```
pub fn parse_nmea_time(line: &str) -> Result<Option<u64>, GpsError> {
    let body = checked_body(line)?;
    let fields: Vec<&str> = body.split(',').take(16).collect();
    // A standard address is a two-letter talker and a three-letter type; proprietary ones
    // start with P (Garmin's $PGRMC is configuration, not RMC).
    let address = fields.first().copied().unwrap_or_default();
    let kind = match address.get(2..) {
        Some(kind) if address.len() == 5 && !address.starts_with('P') => kind,
        _ => return Ok(None),
    };
    let field = |i: usize| fields.get(i).copied().unwrap_or_default();
    match kind {
        "RMC" => {
            if field(2) != "A" {
                return Err(GpsError::NoFix);
            }
            let (time, date) = (field(1), field(9));
            if time.is_empty() || date.is_empty() {
                return Err(GpsError::NoFix);
            }
            let bad = GpsError::Malformed { what: "RMC date" };
            if date.len() != 6 {
                return Err(bad);
            }
            let day = digits(date, 0, 2).ok_or(bad.clone())?;
            let month = digits(date, 2, 2).ok_or(bad.clone())?;
            let yy = digits(date, 4, 2).ok_or(bad)?;
            civil((2000 + i64::from(yy), month, day), time).map(Some)
        }
        "ZDA" => {
            if field(1).is_empty() || field(4).is_empty() {
                return Err(GpsError::NoFix);
            }
            let bad = GpsError::Malformed { what: "ZDA date" };
            let day = exact(field(2), 2).ok_or(bad.clone())?;
            let month = exact(field(3), 2).ok_or(bad.clone())?;
            let year = exact(field(4), 4).ok_or(bad)?;
            civil((i64::from(year), month, day), field(1)).map(Some)
        }
        _ => Ok(None),
    }
}

/// A GPS receiver speaking raw NMEA 0183 on any reader. Each sample reads lines until a valid
/// RMC or ZDA sentence arrives, skips ahead to the newest time sentence already buffered, and
/// timestamps it on the monotonic clock when it is read.
///
/// A plain [`Read`] cannot tell how long a line waited in the operating system's buffer
/// before the sample read it: sample the source at least as often as the receiver emits time
/// sentences, and let [`GpsConfig::sentence_latency`] cover that wait as well as the
/// receiver's own latency. gpsd ([`super::GpsdSource`]) has no such blind spot: its stream
/// is drained without blocking before each sample.
pub struct NmeaSource<R: Read> {
    reader: BufReader<R>,
    name: String,
    config: GpsConfig,
    freshness: Freshness,
}

impl<R: Read> std::fmt::Debug for NmeaSource<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NmeaSource").field("name", &self.name).finish_non_exhaustive()
    }
}

impl<R: Read> NmeaSource<R> {
    /// A source named `name` reading sentences from `reader`.
    pub fn new(name: impl Into<String>, reader: R, config: GpsConfig) -> NmeaSource<R> {
        NmeaSource {
            reader: BufReader::new(reader),
            name: name.into(),
            config,
            freshness: Freshness::default(),
        }
    }

    fn read_line(&mut self) -> Result<String, SourceError> {
        let mut line = Vec::new();
        let limit = u64::try_from(LINE_BYTES_MAX).unwrap_or(u64::MAX) + 1;
        let read = (&mut self.reader)
            .take(limit)
            .read_until(b'\n', &mut line)
            .map_err(|e| SourceError::io("read NMEA", &e))?;
        if read == 0 {
            return Err(GpsError::EndOfStream.into());
        }
        if line.len() > LINE_BYTES_MAX {
            return Err(GpsError::LineTooLong(LINE_BYTES_MAX).into());
        }
        String::from_utf8(line).map_err(|_| GpsError::Malformed { what: "non-UTF-8 line" }.into())
    }
}

impl<R: Read + Send> TimeSource for NmeaSource<R> {
    fn kind(&self) -> Source {
        Source::Gps
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn sample(&mut self, mono: &dyn MonotonicClock) -> Result<Sample, SourceError> {
        for _ in 0..LINES_PER_SAMPLE_MAX {
            let line = self.read_line()?;
            if let Some(mut utc_ns) = parse_nmea_time(&line)? {
                // Lines already buffered arrived together with (or before) this one: serving
                // them one per sample would date each backlogged second as if it had just
                // arrived, further behind at every poll. Take the newest buffered time.
                // Bounded: only whole lines already in the buffer are read, without I/O.
                while self.reader.buffer().contains(&b'\n') {
                    let line = self.read_line()?;
                    if let Some(newer) = parse_nmea_time(&line)? {
                        utc_ns = newer;
                    }
                }
                let arrived = mono.now_ns();
                let c = &self.config;
                return Ok(self.freshness.accept(utc_ns, arrived, c.sentence_latency, &c.dates)?);
            }
        }
        Err(GpsError::NoFix.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FakeMonotonic;

    fn with_checksum(body: &str) -> String {
        let sum = body.bytes().fold(0u8, |a, b| a ^ b);
        format!("${body}*{sum:02X}\r\n")
    }

    /// A serial line delivering one sentence per read, as a 1 Hz receiver polled in step.
    struct OnePerRead(std::collections::VecDeque<String>);

    impl Read for OnePerRead {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let Some(line) = self.0.pop_front() else { return Ok(0) };
            buf[..line.len()].copy_from_slice(line.as_bytes());
            Ok(line.len())
        }
    }

    fn one_per_read(lines: &[String]) -> OnePerRead {
        OnePerRead(lines.iter().cloned().collect())
    }

    #[test]
    fn rmc_and_zda_give_utc_and_other_sentences_are_ignored() {
        let rmc = with_checksum("GPRMC,085039.79,A,4851.000,N,00221.000,E,0.0,0.0,301126,,,A");
        assert_eq!(parse_nmea_time(&rmc), Ok(Some(1_796_028_639_790_000_000)));
        let zda = with_checksum("GNZDA,085039,30,11,2026,00,00");
        assert_eq!(parse_nmea_time(&zda), Ok(Some(1_796_028_639_000_000_000)));
        let gga = with_checksum("GPGGA,085039.79,4851.000,N,00221.000,E,1,08,0.9,35.0,M,,,,");
        assert_eq!(parse_nmea_time(&gga), Ok(None));
    }

    #[test]
    fn bad_checksum_no_fix_and_garbage_are_typed_faults() {
        let mut rmc = with_checksum("GPRMC,085039.79,A,4851.000,N,00221.000,E,0.0,0.0,301126,,,A");
        rmc.replace_range(8..9, "1");
        assert!(matches!(parse_nmea_time(&rmc), Err(GpsError::Checksum { .. })));
        let void = with_checksum("GPRMC,085039.79,V,,,,,,,301126,,,N");
        assert_eq!(parse_nmea_time(&void), Err(GpsError::NoFix));
        let empty = with_checksum("GPZDA,,,,,,");
        assert_eq!(parse_nmea_time(&empty), Err(GpsError::NoFix));
        let bad_date = with_checksum("GPZDA,085039,31,02,2026,00,00");
        assert_eq!(parse_nmea_time(&bad_date), Err(GpsError::Malformed { what: "date" }));
        assert!(parse_nmea_time("GPZDA,085039,30,11,2026,00,00").is_err());
        assert!(parse_nmea_time("$GPZDA,085039,30,11,2026,00,00").is_err());
    }

    #[test]
    fn malformed_fields_and_proprietary_sentences_are_not_time() {
        let long_year = with_checksum("GPZDA,085039,30,11,20261,00,00");
        assert_eq!(parse_nmea_time(&long_year), Err(GpsError::Malformed { what: "ZDA date" }));
        let short_day = with_checksum("GPZDA,085039,3,11,2026,00,00");
        assert_eq!(parse_nmea_time(&short_day), Err(GpsError::Malformed { what: "ZDA date" }));
        let long_date =
            with_checksum("GPRMC,085039.79,A,4851.000,N,00221.000,E,0.0,0.0,3011267,,,A");
        assert_eq!(parse_nmea_time(&long_date), Err(GpsError::Malformed { what: "RMC date" }));
        let garmin = with_checksum("PGRMC,A,218.8,100,6378137.000,298.257223563,0.0,0.0,0.0,A,A");
        assert_eq!(parse_nmea_time(&garmin), Ok(None));
        let body = "GNRMC,085039.79,A,4851.000,N,00221.000,E,0.0,0.0,301126,,,";
        assert_eq!(body.bytes().fold(0u8, |a, b| a ^ b), 0x06);
        // from_str_radix reads "+6" as 6; it is not a two-hex-digit checksum.
        let signed = format!("${body}*+6");
        assert!(matches!(parse_nmea_time(&signed), Err(GpsError::Malformed { .. })));
    }

    #[test]
    fn a_backlog_of_buffered_sentences_yields_the_newest_time() {
        let mut text = with_checksum("GPZDA,085039.00,30,11,2026,00,00");
        text += &with_checksum("GPGSV,1,1,00");
        text += &with_checksum("GPZDA,085040.00,30,11,2026,00,00");
        text += &with_checksum("GPZDA,085041.00,30,11,2026,00,00");
        let mono = FakeMonotonic::new(1_000);
        let mut src = NmeaSource::new("nmea", text.as_bytes(), GpsConfig::default());
        let s = src.sample(&mono).unwrap();
        assert_eq!(s.earliest_ns(), 1_796_028_641_000_000_000);
        assert!(matches!(src.sample(&mono), Err(SourceError::Gps(GpsError::EndOfStream))));
    }

    #[test]
    fn week_rollover_date_is_rejected_as_implausible() {
        // 1024 weeks before 2026-11-30 is 2007-04-16.
        let text = with_checksum("GPZDA,085039,16,04,2007,00,00");
        let mono = FakeMonotonic::new(1_000);
        let mut src = NmeaSource::new("nmea", text.as_bytes(), GpsConfig::default());
        assert!(matches!(
            src.sample(&mono),
            Err(SourceError::Gps(GpsError::ImplausibleDate { .. }))
        ));
    }

    #[test]
    fn repeated_receiver_time_is_anchored_where_it_was_first_seen() {
        let t = 1_796_028_639_000_000_000;
        let zda = with_checksum("GPZDA,085039.00,30,11,2026,00,00");
        let mono = FakeMonotonic::new(1_000);
        let reader = one_per_read(&[zda.clone(), zda]);
        let mut src = NmeaSource::new("nmea", reader, GpsConfig::default());
        let first = src.sample(&mono).unwrap();
        mono.advance(std::time::Duration::from_secs(1));
        let repeat = src.sample(&mono).unwrap();
        // One second after the receiver named second `t`, true UTC is past `t + 1 s`: the
        // repeat must not claim `t..=t + 500 ms` now.
        assert_eq!(repeat.mono_ns(), first.mono_ns());
        assert!(repeat.at(mono.now_ns(), 50).latest_ns() >= t + 1_000_000_000);
    }

    #[test]
    fn reader_source_skips_other_sentences_and_detects_frozen_time() {
        let zda = with_checksum("GPZDA,085039.00,30,11,2026,00,00");
        let reader = one_per_read(&[with_checksum("GPGSV,1,1,00"), zda.clone(), zda]);
        let mono = FakeMonotonic::new(1_000);
        let mut src = NmeaSource::new("nmea", reader, GpsConfig::default());
        let s = src.sample(&mono).unwrap();
        assert_eq!(s.earliest_ns(), 1_796_028_639_000_000_000);
        assert_eq!(s.latest_ns(), 1_796_028_639_500_000_000);
        assert_eq!(s.mono_ns(), 1_000);
        mono.advance(std::time::Duration::from_secs(2));
        assert!(matches!(src.sample(&mono), Err(SourceError::Gps(GpsError::Stale { .. }))));
        assert!(matches!(src.sample(&mono), Err(SourceError::Gps(GpsError::EndOfStream))));
    }
}
