//! Record framing on disk (docs/FORMAT.md, "Record") and the public record types.

use crate::hash::{Hash, HashAlgorithm};
use crate::manifest::{le_u32, le_u64};
use coffre_clock::{Timestamp, TIMESTAMP_LEN};

/// Length of a record header.
pub(crate) const RECORD_HEADER_LEN: usize = 56;
/// First 4 bytes of every record header.
pub(crate) const RECORD_MAGIC: [u8; 4] = *b"CfR1";
/// Frames start at multiples of this, so a forward scan for headers tests few offsets.
pub(crate) const FRAME_ALIGN: u64 = 8;

/// A record read back from the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Position in the log, from 0.
    pub index: u64,
    /// When the log stamped the record.
    pub timestamp: Timestamp,
    /// The bytes appended.
    pub payload: Vec<u8>,
}

impl Record {
    /// The record's RFC 6962 leaf hash: `H(0x00 || timestamp bytes || payload)`.
    pub fn leaf_hash(&self, alg: HashAlgorithm) -> Hash {
        alg.leaf_hash_parts(&[&self.timestamp.to_bytes(), &self.payload])
    }
}

/// What an acknowledged append returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// Index given to the record.
    pub index: u64,
    /// Timestamp given to the record.
    pub timestamp: Timestamp,
    /// The record's leaf hash in the log's Merkle tree.
    pub leaf_hash: Hash,
}

/// Where a frame's 20 timestamp bytes start (docs/FORMAT.md, record frame).
pub(crate) const TIMESTAMP_OFFSET: usize = 24;

/// Bytes a frame with a payload of `payload_len` bytes takes, padding included.
pub(crate) const fn frame_len(payload_len: u64) -> u64 {
    (RECORD_HEADER_LEN as u64 + payload_len).div_ceil(FRAME_ALIGN) * FRAME_ALIGN
}

/// Appends the frame of one record to `out`.
pub(crate) fn encode_frame(
    out: &mut Vec<u8>,
    index: u64,
    group: u64,
    timestamp: &[u8; TIMESTAMP_LEN],
    payload: &[u8],
) {
    let start = out.len();
    // The payload limit is a u32 and is checked before a frame is built.
    let payload_len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&RECORD_MAGIC);
    out.extend_from_slice(&payload_len.to_le_bytes());
    out.extend_from_slice(&index.to_le_bytes());
    out.extend_from_slice(&group.to_le_bytes());
    out.extend_from_slice(timestamp);
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    let header_crc = crc32fast::hash(&out[start..]);
    out.extend_from_slice(&header_crc.to_le_bytes());
    out.extend_from_slice(payload);
    let padded = start + frame_len(u64::from(payload_len)) as usize;
    out.resize(padded, 0);
}

/// A record header whose own checksum holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FrameHeader {
    pub payload_len: u32,
    pub index: u64,
    pub group: u64,
    pub timestamp: [u8; TIMESTAMP_LEN],
    pub payload_crc: u32,
}

impl FrameHeader {
    /// Length of the whole frame.
    pub(crate) fn frame_len(&self) -> u64 {
        frame_len(u64::from(self.payload_len))
    }
}

/// Decodes a header; `Err` says why the bytes are not one.
pub(crate) fn decode_header(bytes: &[u8]) -> Result<FrameHeader, &'static str> {
    let h = bytes.get(..RECORD_HEADER_LEN).ok_or("record header cut short")?;
    if h[0..4] != RECORD_MAGIC {
        return Err("bad record magic");
    }
    if crc32fast::hash(&h[..52]) != le_u32(&h[52..56]) {
        return Err("record header checksum mismatch");
    }
    if le_u32(&h[48..52]) != 0 {
        return Err("reserved record header field is not zero");
    }
    let mut timestamp = [0u8; TIMESTAMP_LEN];
    timestamp.copy_from_slice(&h[TIMESTAMP_OFFSET..TIMESTAMP_OFFSET + TIMESTAMP_LEN]);
    Ok(FrameHeader {
        payload_len: le_u32(&h[4..8]),
        index: le_u64(&h[8..16]),
        group: le_u64(&h[16..24]),
        timestamp,
        payload_crc: le_u32(&h[44..48]),
    })
}

/// Checks a whole frame (`bytes` exactly `header.frame_len()` long, header included) and
/// returns the payload.
pub(crate) fn check_frame<'a>(
    header: &FrameHeader,
    bytes: &'a [u8],
) -> Result<&'a [u8], &'static str> {
    let end = RECORD_HEADER_LEN + header.payload_len as usize;
    let payload = bytes.get(RECORD_HEADER_LEN..end).ok_or("record payload cut short")?;
    if crc32fast::hash(payload) != header.payload_crc {
        return Err("record payload checksum mismatch");
    }
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_round_trips_and_is_aligned() {
        for len in [0usize, 1, 7, 8, 100] {
            let payload = vec![0xabu8; len];
            let mut buf = Vec::new();
            encode_frame(&mut buf, 9, 3, &[1u8; TIMESTAMP_LEN], &payload);
            assert_eq!(buf.len() as u64, frame_len(len as u64));
            assert_eq!(buf.len() as u64 % FRAME_ALIGN, 0);
            let h = decode_header(&buf).unwrap();
            assert_eq!((h.index, h.group, h.payload_len as usize), (9, 3, len));
            assert_eq!(check_frame(&h, &buf).unwrap(), &payload[..]);
        }
    }

    #[test]
    fn any_flipped_header_byte_is_caught() {
        let mut buf = Vec::new();
        encode_frame(&mut buf, 1, 1, &[0u8; TIMESTAMP_LEN], b"hello");
        for i in 0..RECORD_HEADER_LEN {
            let mut bad = buf.clone();
            bad[i] ^= 1;
            assert!(decode_header(&bad).is_err(), "byte {i}");
        }
        let mut bad = buf.clone();
        bad[RECORD_HEADER_LEN] ^= 1;
        let h = decode_header(&bad).unwrap();
        assert!(check_frame(&h, &bad).is_err());
    }
}
