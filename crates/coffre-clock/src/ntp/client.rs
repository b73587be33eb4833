//! The SNTP client source: one request per sample over UDP, answered or timed out.

use super::packet::{NtpError, NtpPacket, NtpTimestamp};
use crate::sample::duration_ns;
use crate::{MonotonicClock, Sample, Source, SourceError, TimeSource};
use std::io::ErrorKind;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::Duration;

/// Datagrams read per sample before giving up on stray packets (bounds the loop).
const DATAGRAMS_MAX: usize = 16;

/// How an SNTP source queries its server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NtpConfig {
    /// How long to wait for the reply.
    pub timeout: Duration,
    /// Our own timestamping error, added to every interval.
    pub client_error: Duration,
    /// Oscillator drift bound during the exchange, parts per million.
    pub drift_ppm: u32,
}

impl Default for NtpConfig {
    fn default() -> Self {
        NtpConfig {
            timeout: Duration::from_secs(1),
            client_error: Duration::from_millis(1),
            drift_ppm: 50,
        }
    }
}

/// An NTP server queried with SNTP v4 over UDP.
#[derive(Debug)]
pub struct SntpSource {
    server: SocketAddr,
    name: String,
    config: NtpConfig,
}

impl SntpSource {
    /// A source for the server at `server`.
    pub fn new(server: SocketAddr, config: NtpConfig) -> SntpSource {
        SntpSource { server, name: format!("ntp {server}"), config }
    }

    /// Resolves `host:port` (DNS happens here, once, not at each sample).
    pub fn resolve(host_port: &str, config: NtpConfig) -> Result<SntpSource, SourceError> {
        let addr =
            host_port.to_socket_addrs().map_err(|e| SourceError::io("resolve", &e))?.next().ok_or(
                SourceError::Io {
                    during: "resolve",
                    message: format!("no address for {host_port}"),
                },
            )?;
        let mut source = SntpSource::new(addr, config);
        source.name = format!("ntp {host_port}");
        Ok(source)
    }

    /// The server's address.
    pub fn server(&self) -> SocketAddr {
        self.server
    }

    fn random_transmit() -> Result<NtpTimestamp, SourceError> {
        let mut bytes = [0u8; 8];
        getrandom::getrandom(&mut bytes).map_err(|e| SourceError::Io {
            during: "random transmit timestamp",
            message: e.to_string(),
        })?;
        // Zero would read as "unknown" to the server.
        Ok(NtpTimestamp(u64::from_le_bytes(bytes).max(1)))
    }

    fn timeout_error(&self) -> SourceError {
        SourceError::Timeout {
            waited_ms: u64::try_from(self.config.timeout.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

impl TimeSource for SntpSource {
    fn kind(&self) -> Source {
        Source::Ntp
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn sample(&mut self, mono: &dyn MonotonicClock) -> Result<Sample, SourceError> {
        let local: SocketAddr = if self.server.is_ipv4() {
            SocketAddr::from(([0, 0, 0, 0], 0))
        } else {
            SocketAddr::from(([0u16; 8], 0))
        };
        let socket = UdpSocket::bind(local).map_err(|e| SourceError::io("bind", &e))?;
        // connect() makes the kernel drop datagrams from any other peer.
        socket.connect(self.server).map_err(|e| SourceError::io("connect", &e))?;
        let sent = Self::random_transmit()?;
        let t1 = mono.now_ns();
        socket.send(&NtpPacket::request(sent)).map_err(|e| SourceError::io("send", &e))?;
        let deadline = t1.saturating_add(duration_ns(self.config.timeout));
        let mut buf = [0u8; 1024];
        for _ in 0..DATAGRAMS_MAX {
            let left = deadline.saturating_sub(mono.now_ns());
            if left == 0 {
                break;
            }
            socket
                .set_read_timeout(Some(Duration::from_nanos(left)))
                .map_err(|e| SourceError::io("set timeout", &e))?;
            let len = match socket.recv(&mut buf) {
                Ok(len) => len,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
                Err(e) => return Err(SourceError::io("recv", &e)),
            };
            let t4 = mono.now_ns();
            let packet = NtpPacket::parse(buf.get(..len).unwrap_or_default())?;
            match packet.check_reply(sent) {
                // A late answer to an earlier request, or spoofing: keep waiting for ours.
                Err(NtpError::OriginMismatch) => continue,
                Err(e) => return Err(e.into()),
                Ok(()) => {}
            }
            return Ok(packet.to_sample(
                t1,
                t4,
                self.config.client_error,
                self.config.drift_ppm,
            )?);
        }
        Err(self.timeout_error())
    }
}
