//! gpsd's JSON protocol (gpsd_json(5)) over TCP: `?WATCH` then TPV (and TOFF/PPS) reports.

use super::{Freshness, GpsConfig, GpsError};
use crate::civil::parse_rfc3339_utc;
use crate::sample::duration_ns;
use crate::{MonotonicClock, Sample, Source, SourceError, TimeSource};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// gpsd's default address.
pub const GPSD_DEFAULT_ADDR: &str = "127.0.0.1:2947";
/// A gpsd JSON line is at most a few KB (SKY reports are the largest).
const LINE_BYTES_MAX: usize = 16 * 1024;
/// Bytes discarded when draining reports buffered since the last sample.
const DRAIN_BYTES_MAX: usize = 1 << 20;
const NS_PER_S: u64 = 1_000_000_000;

/// What one gpsd JSON line says about time.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GpsdReport {
    /// A TPV report: fix `mode` (0/1 none, 2 2D, 3 3D) and its `time`, if any.
    Tpv {
        /// Fix mode.
        mode: u8,
        /// UTC ns of the fix, when present.
        time_ns: Option<u64>,
    },
    /// TOFF (serial time message) or PPS (pulse edge): GPS time `real_ns` and this host's
    /// system clock `clock_ns` at the same instant.
    Offset {
        /// Whether it is a PPS report (else TOFF).
        pps: bool,
        /// GPS time, UTC ns.
        real_ns: u64,
        /// System clock at the same instant, ns since the Unix epoch.
        clock_ns: u64,
    },
    /// An ERROR report.
    Error(String),
    /// Any other report class, or a line that is not JSON.
    Other,
}

fn u64_field(v: &serde_json::Value, key: &str) -> Option<u64> {
    v.get(key)?.as_u64()
}

fn sec_nsec(v: &serde_json::Value, prefix: &str) -> Option<u64> {
    let secs = u64_field(v, &format!("{prefix}_sec"))?;
    let nanos = u64_field(v, &format!("{prefix}_nsec"))?;
    secs.checked_mul(NS_PER_S)?.checked_add(nanos)
}

/// Classifies one line of gpsd output (pure: no I/O).
///
/// ```
/// use coffre_clock::gps::{parse_gpsd_line, GpsdReport};
/// let line = r#"{"class":"TPV","mode":2,"time":"2026-11-30T08:50:39.790Z"}"#;
/// assert_eq!(parse_gpsd_line(line),
///     GpsdReport::Tpv { mode: 2, time_ns: Some(1_796_028_639_790_000_000) });
/// ```
pub fn parse_gpsd_line(line: &str) -> GpsdReport {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
        return GpsdReport::Other;
    };
    match v.get("class").and_then(|c| c.as_str()) {
        Some("TPV") => GpsdReport::Tpv {
            mode: u8::try_from(u64_field(&v, "mode").unwrap_or(0)).unwrap_or(0),
            time_ns: v.get("time").and_then(|t| t.as_str()).and_then(parse_rfc3339_utc),
        },
        Some(class @ ("TOFF" | "PPS")) => match (sec_nsec(&v, "real"), sec_nsec(&v, "clock")) {
            (Some(real_ns), Some(clock_ns)) => {
                GpsdReport::Offset { pps: class == "PPS", real_ns, clock_ns }
            }
            _ => GpsdReport::Other,
        },
        Some("ERROR") => GpsdReport::Error(
            v.get("message")
                .and_then(|m| m.as_str())
                .unwrap_or_default()
                .chars()
                .take(200)
                .collect(),
        ),
        _ => GpsdReport::Other,
    }
}

/// A GPS receiver behind gpsd. Keeps one TCP connection in watcher mode; each sample drops
/// reports buffered since the last sample (their arrival time is unknown) and waits for the
/// next fresh one, timestamped on arrival.
#[derive(Debug)]
pub struct GpsdSource {
    addr: SocketAddr,
    name: String,
    config: GpsConfig,
    stream: Option<TcpStream>,
    pending: Vec<u8>,
    freshness: Freshness,
}

impl GpsdSource {
    /// A source for gpsd at `addr` (connects lazily, at the first sample).
    pub fn new(addr: SocketAddr, config: GpsConfig) -> GpsdSource {
        GpsdSource {
            addr,
            name: format!("gpsd {addr}"),
            config,
            stream: None,
            pending: Vec::new(),
            freshness: Freshness::default(),
        }
    }

    /// Resolves `host:port` once.
    pub fn resolve(host_port: &str, config: GpsConfig) -> Result<GpsdSource, SourceError> {
        let addr =
            host_port.to_socket_addrs().map_err(|e| SourceError::io("resolve", &e))?.next().ok_or(
                SourceError::Io {
                    during: "resolve",
                    message: format!("no address for {host_port}"),
                },
            )?;
        Ok(GpsdSource::new(addr, config))
    }

    fn connect(&mut self) -> Result<(), SourceError> {
        if self.stream.is_some() {
            return Ok(());
        }
        let mut stream = TcpStream::connect_timeout(&self.addr, self.config.connect_timeout)
            .map_err(|e| SourceError::io("connect to gpsd", &e))?;
        let _ = stream.set_nodelay(true);
        stream
            .set_write_timeout(Some(self.config.connect_timeout))
            .map_err(|e| SourceError::io("set timeout", &e))?;
        let watch: &[u8] = if self.config.pps_uncertainty.is_some() {
            b"?WATCH={\"enable\":true,\"json\":true,\"pps\":true};\n"
        } else {
            b"?WATCH={\"enable\":true,\"json\":true};\n"
        };
        stream.write_all(watch).map_err(|e| SourceError::io("send WATCH", &e))?;
        self.pending.clear();
        self.stream = Some(stream);
        Ok(())
    }

    /// Discards everything already buffered: those reports arrived at unknown past instants.
    fn drain(&mut self) -> Result<(), SourceError> {
        let Some(stream) = self.stream.as_mut() else { return Ok(()) };
        stream.set_nonblocking(true).map_err(|e| SourceError::io("set nonblocking", &e))?;
        let mut scratch = [0u8; 8192];
        let mut drained = 0usize;
        let result = loop {
            match stream.read(&mut scratch) {
                Ok(0) => break Err(GpsError::EndOfStream.into()),
                Ok(n) => {
                    drained += n;
                    if drained > DRAIN_BYTES_MAX {
                        break Ok(());
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break Ok(()),
                Err(e) => break Err(SourceError::io("drain gpsd", &e)),
            }
        };
        stream.set_nonblocking(false).map_err(|e| SourceError::io("set blocking", &e))?;
        self.pending.clear();
        result
    }

    fn wait_for_time(&mut self, mono: &dyn MonotonicClock) -> Result<Sample, SourceError> {
        let deadline = mono.now_ns().saturating_add(duration_ns(self.config.read_timeout));
        let mut buf = [0u8; 8192];
        loop {
            let left = deadline.saturating_sub(mono.now_ns());
            if left == 0 {
                return Err(SourceError::Timeout {
                    waited_ms: duration_ns(self.config.read_timeout) / 1_000_000,
                });
            }
            let Some(stream) = self.stream.as_mut() else {
                return Err(GpsError::EndOfStream.into());
            };
            stream
                .set_read_timeout(Some(Duration::from_nanos(left)))
                .map_err(|e| SourceError::io("set timeout", &e))?;
            let n = match stream.read(&mut buf) {
                Ok(0) => return Err(GpsError::EndOfStream.into()),
                Ok(n) => n,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    continue
                }
                Err(e) => return Err(SourceError::io("read gpsd", &e)),
            };
            let arrived = mono.now_ns();
            self.pending.extend_from_slice(buf.get(..n).unwrap_or_default());
            while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=end).collect();
                let text = String::from_utf8_lossy(&line);
                if let Some(sample) = self.interpret(parse_gpsd_line(text.trim()), arrived)? {
                    return Ok(sample);
                }
            }
            if self.pending.len() > LINE_BYTES_MAX {
                return Err(GpsError::LineTooLong(LINE_BYTES_MAX).into());
            }
        }
    }

    fn interpret(
        &mut self,
        report: GpsdReport,
        arrived: u64,
    ) -> Result<Option<Sample>, SourceError> {
        let c = self.config;
        match report {
            GpsdReport::Tpv { mode, .. } if mode < 2 => Err(GpsError::NoFix.into()),
            GpsdReport::Tpv { time_ns: Some(t), .. } => {
                Ok(Some(self.freshness.accept(t, arrived, c.sentence_latency, &c.dates)?))
            }
            GpsdReport::Offset { pps, real_ns, clock_ns } => {
                let Some(pps_uncertainty) = c.pps_uncertainty else { return Ok(None) };
                // GPS time at this host's system-clock instant `clock_ns`, carried to now on
                // the system clock (short: the report arrived just now).
                let sys_now = SystemTime::now().duration_since(UNIX_EPOCH).map_err(|_| {
                    SourceError::Io { during: "read system clock", message: "before 1970".into() }
                })?;
                let since = duration_ns(sys_now).saturating_sub(clock_ns);
                let at_now = real_ns.saturating_add(since);
                if pps {
                    let s = Sample::centred(arrived, at_now, pps_uncertainty);
                    if !c.dates.contains(s.earliest_ns(), s.latest_ns()) {
                        return Err(GpsError::ImplausibleDate { utc_ns: real_ns }.into());
                    }
                    Ok(Some(s))
                } else {
                    Ok(Some(self.freshness.accept(
                        at_now,
                        arrived,
                        c.sentence_latency,
                        &c.dates,
                    )?))
                }
            }
            GpsdReport::Error(message) => Err(GpsError::Daemon(message).into()),
            GpsdReport::Tpv { time_ns: None, .. } | GpsdReport::Other => Ok(None),
        }
    }
}

impl TimeSource for GpsdSource {
    fn kind(&self) -> Source {
        Source::Gps
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn sample(&mut self, mono: &dyn MonotonicClock) -> Result<Sample, SourceError> {
        let result =
            self.connect().and_then(|()| self.drain()).and_then(|()| self.wait_for_time(mono));
        if matches!(
            result,
            Err(SourceError::Io { .. }
                | SourceError::Gps(GpsError::EndOfStream | GpsError::LineTooLong(_)))
        ) {
            // Reconnect next time rather than reuse a broken or desynchronised stream.
            self.stream = None;
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpsd_reports_are_classified() {
        let toff = r#"{"class":"TOFF","device":"x","real_sec":1796028639, "real_nsec":790000000,"clock_sec":1796028639,"clock_nsec":796341911}"#;
        assert_eq!(
            parse_gpsd_line(toff),
            GpsdReport::Offset {
                pps: false,
                real_ns: 1_796_028_639_790_000_000,
                clock_ns: 1_796_028_639_796_341_911
            }
        );
        assert_eq!(
            parse_gpsd_line(r#"{"class":"TPV","mode":1}"#),
            GpsdReport::Tpv { mode: 1, time_ns: None }
        );
        assert_eq!(parse_gpsd_line(r#"{"class":"VERSION"}"#), GpsdReport::Other);
        assert_eq!(parse_gpsd_line("not json"), GpsdReport::Other);
        assert_eq!(
            parse_gpsd_line(r#"{"class":"ERROR","message":"bad"}"#),
            GpsdReport::Error("bad".into())
        );
    }

    #[test]
    fn tpv_without_fix_is_a_fault_not_time() {
        let mut src = GpsdSource::new(SocketAddr::from(([127, 0, 0, 1], 1)), GpsConfig::default());
        assert!(matches!(
            src.interpret(GpsdReport::Tpv { mode: 1, time_ns: Some(1_796_028_639_000_000_000) }, 5),
            Err(SourceError::Gps(GpsError::NoFix))
        ));
        let ok = src
            .interpret(GpsdReport::Tpv { mode: 3, time_ns: Some(1_796_028_639_000_000_000) }, 5)
            .unwrap()
            .unwrap();
        assert_eq!((ok.mono_ns(), ok.earliest_ns()), (5, 1_796_028_639_000_000_000));
    }
}
