//! Target `ntp_packet_parse`: NTP reply packets (`NtpPacket::parse`, `check_reply`,
//! `to_sample`). Bytes after the 48-byte header, if any, supply the exchange:
//! `t1_mono_ns(u64 LE) t4_mono_ns(u64 LE) client_error_ns(u32 LE) drift_ppm(u32 LE)`.
//! Invariants: 48 bytes or more always parse; a sample that is produced is an interval.

use coffre_clock::ntp::{NtpPacket, NtpTimestamp, NTP_PACKET_LEN};
use std::time::Duration;

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    if let Some(s) = bytes.get(at..at + 8) {
        b.copy_from_slice(s);
    }
    u64::from_le_bytes(b)
}

/// The fuzz body.
pub fn run(data: &[u8]) {
    let packet = match NtpPacket::parse(data) {
        Ok(p) => p,
        Err(e) => {
            assert!(data.len() < NTP_PACKET_LEN, "a full-length packet did not parse: {e}");
            return;
        }
    };
    let _ = packet.check_reply(packet.origin);
    let _ = packet.check_reply(NtpTimestamp(u64_at(data, 24) ^ 1));
    let extra = &data[NTP_PACKET_LEN..];
    let (t1, t4) = (u64_at(extra, 0), u64_at(extra, 8));
    let client_error = Duration::from_nanos(u64_at(extra, 16) & 0xffff_ffff);
    let drift_ppm = (u64_at(extra, 20) & 0xffff_ffff) as u32;
    if let Ok(sample) = packet.to_sample(t1, t4, client_error, drift_ppm) {
        assert!(sample.earliest_ns() <= sample.latest_ns(), "sample interval is reversed");
    }
    let _ = packet.transmit.to_unix_ns();
}

/// Seeds: a server reply for a request sent at a fixed time, with a plausible exchange.
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    let sent = NtpTimestamp::from_unix_ns(1_796_028_639_000_000_000);
    let mut reply = NtpPacket::request(sent).to_vec();
    reply[0] = 0x24; // leap 0, version 4, mode 4 (server)
    reply[1] = 2; // stratum
    reply[24..32].copy_from_slice(&sent.0.to_be_bytes());
    let t2 = NtpTimestamp::from_unix_ns(1_796_028_639_000_500_000);
    let t3 = NtpTimestamp::from_unix_ns(1_796_028_639_000_600_000);
    reply[32..40].copy_from_slice(&t2.0.to_be_bytes());
    reply[40..48].copy_from_slice(&t3.0.to_be_bytes());
    let mut with_exchange = reply.clone();
    with_exchange.extend_from_slice(&1_000_000u64.to_le_bytes());
    with_exchange.extend_from_slice(&2_200_000u64.to_le_bytes());
    with_exchange.extend_from_slice(&50_000u32.to_le_bytes());
    with_exchange.extend_from_slice(&30u32.to_le_bytes());
    vec![
        ("reply".to_string(), reply),
        ("reply-exchange".to_string(), with_exchange),
        ("request".to_string(), NtpPacket::request(sent).to_vec()),
    ]
}
