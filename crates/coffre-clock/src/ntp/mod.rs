//! SNTP v4 (RFC 5905 / RFC 4330): a pure packet codec and checks ([`packet`]) and a UDP client
//! source ([`SntpSource`]).

mod client;
pub mod packet;

pub use client::{NtpConfig, SntpSource};
pub use packet::{NtpError, NtpPacket, NtpTimestamp, NTP_PACKET_LEN};
