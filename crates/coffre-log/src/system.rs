//! System records: log-internal records (retention extension, legal holds, purge) that live in
//! the log itself, so the tree and the signed checkpoints cover them like any other record.
//! Byte layout in docs/FORMAT.md, "System records". Domain code skips them when replaying.

use crate::record::Record;
use coffre_clock::{Timestamp, TIMESTAMP_LEN};

/// First bytes of every system record's payload: `FF 43 4F 46 46 52 45 00` (0xFF "COFFRE" 0x00).
/// [`crate::Log::append`] refuses user payloads that start with it
/// ([`crate::LogError::ReservedPayload`]).
pub const SYSTEM_RECORD_PREFIX: [u8; 8] = [0xFF, b'C', b'O', b'F', b'F', b'R', b'E', 0x00];
/// Longest reason string a system record carries, in bytes.
pub const REASON_LEN_MAX: usize = 1024;

const TYPE_RETENTION_EXTENDED: u8 = 0x01;
const TYPE_HOLD_PLACED: u8 = 0x02;
const TYPE_HOLD_RELEASED: u8 = 0x03;
const TYPE_PURGE: u8 = 0x04;
/// Bytes of one purged segment entry in a purge record.
pub(crate) const PURGED_SEGMENT_LEN: usize = 8 + 8 + 8 + 8 + 32 + 32;
/// Bytes of a purge record before its segment entries.
pub(crate) const PURGE_FIXED_LEN: usize = 8 + 1 + 8 + 8 + TIMESTAMP_LEN + 8 + 4;

/// Why bytes are not a valid system record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SystemRecordError {
    /// The payload does not start with [`SYSTEM_RECORD_PREFIX`].
    #[error("not a system record (no reserved prefix)")]
    NotSystem,
    /// The type byte is not one this code knows.
    #[error("unknown system record type {0:#04x}")]
    UnknownType(u8),
    /// The payload ends before its fields do.
    #[error("system record truncated")]
    Truncated,
    /// Bytes follow the last field.
    #[error("trailing bytes after the system record")]
    TrailingBytes,
    /// A field holds a value the format forbids.
    #[error("invalid system record: {0}")]
    Invalid(&'static str),
}

/// A log-internal record, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SystemRecord {
    /// The retention grows to `retention_seconds` for this record and every later one.
    RetentionExtended {
        /// Retention in force before.
        previous_seconds: u64,
        /// The new, longer retention.
        retention_seconds: u64,
        /// Why (free text, UTF-8).
        reason: String,
    },
    /// A legal hold on the records `start..end`: none of them may be purged until released.
    HoldPlaced {
        /// First held index.
        start: u64,
        /// One past the last held index.
        end: u64,
        /// Why (free text, UTF-8).
        reason: String,
    },
    /// The hold placed by the record at index `hold` is lifted.
    HoldReleased {
        /// Index of the [`SystemRecord::HoldPlaced`] record (the hold's id).
        hold: u64,
        /// Why (free text, UTF-8).
        reason: String,
    },
    /// Segment files holding records `from..to` are deleted (appended before the deletion).
    Purge(PurgeRecord),
}

/// What a purge record states.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PurgeRecord {
    /// First purged index (the previous purge's `to`, or 0).
    pub from: u64,
    /// One past the last purged index: every record before it is gone after this purge.
    pub to: u64,
    /// The caller's "now" the expiry was judged against (its earliest bound).
    pub now: Timestamp,
    /// Retention in force (the longest so far) when the purge was decided.
    pub retention_seconds: u64,
    /// The deleted segment files, in index order.
    pub segments: Vec<PurgedSegment>,
}

/// One deleted segment file, as recorded before its deletion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PurgedSegment {
    /// Index of its first record.
    pub first_index: u64,
    /// Records it held.
    pub record_count: u64,
    /// File length in bytes.
    pub file_len: u64,
    /// Newest retain-until of its records, UTC ns.
    pub retain_until_ns: u64,
    /// BLAKE3 of the whole file.
    pub blake3: [u8; 32],
    /// SHA-256 of the whole file.
    pub sha256: [u8; 32],
}

impl Record {
    /// Whether this is a log-internal system record (see [`crate::system`]); domain code
    /// skips those when replaying the log.
    pub fn is_system(&self) -> bool {
        is_system_payload(&self.payload)
    }
}

/// Whether `payload` starts with [`SYSTEM_RECORD_PREFIX`].
pub fn is_system_payload(payload: &[u8]) -> bool {
    payload.starts_with(&SYSTEM_RECORD_PREFIX)
}

impl SystemRecord {
    /// The record's payload bytes (prefix included).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = SYSTEM_RECORD_PREFIX.to_vec();
        match self {
            SystemRecord::RetentionExtended { previous_seconds, retention_seconds, reason } => {
                out.push(TYPE_RETENTION_EXTENDED);
                out.extend_from_slice(&previous_seconds.to_le_bytes());
                out.extend_from_slice(&retention_seconds.to_le_bytes());
                put_reason(&mut out, reason);
            }
            SystemRecord::HoldPlaced { start, end, reason } => {
                out.push(TYPE_HOLD_PLACED);
                out.extend_from_slice(&start.to_le_bytes());
                out.extend_from_slice(&end.to_le_bytes());
                put_reason(&mut out, reason);
            }
            SystemRecord::HoldReleased { hold, reason } => {
                out.push(TYPE_HOLD_RELEASED);
                out.extend_from_slice(&hold.to_le_bytes());
                put_reason(&mut out, reason);
            }
            SystemRecord::Purge(p) => {
                out.push(TYPE_PURGE);
                out.extend_from_slice(&p.from.to_le_bytes());
                out.extend_from_slice(&p.to.to_le_bytes());
                out.extend_from_slice(&p.now.to_bytes());
                out.extend_from_slice(&p.retention_seconds.to_le_bytes());
                // Callers bound the entries by the payload limit, far below u32::MAX.
                let n = u32::try_from(p.segments.len()).unwrap_or(u32::MAX);
                out.extend_from_slice(&n.to_le_bytes());
                for s in &p.segments {
                    out.extend_from_slice(&s.first_index.to_le_bytes());
                    out.extend_from_slice(&s.record_count.to_le_bytes());
                    out.extend_from_slice(&s.file_len.to_le_bytes());
                    out.extend_from_slice(&s.retain_until_ns.to_le_bytes());
                    out.extend_from_slice(&s.blake3);
                    out.extend_from_slice(&s.sha256);
                }
            }
        }
        out
    }

    /// Decodes a system record payload; every field is checked, trailing bytes are refused.
    pub fn decode(payload: &[u8]) -> Result<SystemRecord, SystemRecordError> {
        let body =
            payload.strip_prefix(&SYSTEM_RECORD_PREFIX).ok_or(SystemRecordError::NotSystem)?;
        let mut r = Reader { bytes: body };
        let record = match r.u8()? {
            TYPE_RETENTION_EXTENDED => {
                let previous_seconds = r.u64()?;
                let retention_seconds = r.u64()?;
                if retention_seconds <= previous_seconds {
                    return Err(SystemRecordError::Invalid("retention extension does not extend"));
                }
                SystemRecord::RetentionExtended {
                    previous_seconds,
                    retention_seconds,
                    reason: r.reason()?,
                }
            }
            TYPE_HOLD_PLACED => {
                let (start, end) = (r.u64()?, r.u64()?);
                if start >= end {
                    return Err(SystemRecordError::Invalid("empty hold range"));
                }
                SystemRecord::HoldPlaced { start, end, reason: r.reason()? }
            }
            TYPE_HOLD_RELEASED => {
                SystemRecord::HoldReleased { hold: r.u64()?, reason: r.reason()? }
            }
            TYPE_PURGE => SystemRecord::Purge(decode_purge(&mut r)?),
            other => return Err(SystemRecordError::UnknownType(other)),
        };
        if !r.bytes.is_empty() {
            return Err(SystemRecordError::TrailingBytes);
        }
        Ok(record)
    }
}

fn decode_purge(r: &mut Reader<'_>) -> Result<PurgeRecord, SystemRecordError> {
    let from = r.u64()?;
    let to = r.u64()?;
    let now = Timestamp::from_bytes(r.take(TIMESTAMP_LEN)?)
        .map_err(|_| SystemRecordError::Invalid("bad purge timestamp"))?;
    let retention_seconds = r.u64()?;
    let n = r.u32()? as usize;
    // Bounded by the bytes present: each entry needs PURGED_SEGMENT_LEN of them.
    if n.checked_mul(PURGED_SEGMENT_LEN).is_none_or(|need| need > r.bytes.len()) {
        return Err(SystemRecordError::Truncated);
    }
    let mut segments = Vec::with_capacity(n);
    let mut expected = from;
    for _ in 0..n {
        let s = PurgedSegment {
            first_index: r.u64()?,
            record_count: r.u64()?,
            file_len: r.u64()?,
            retain_until_ns: r.u64()?,
            blake3: r.array()?,
            sha256: r.array()?,
        };
        if s.first_index != expected || s.record_count == 0 {
            return Err(SystemRecordError::Invalid("purged segments are not contiguous"));
        }
        expected = s
            .first_index
            .checked_add(s.record_count)
            .ok_or(SystemRecordError::Invalid("purged range overflows"))?;
        segments.push(s);
    }
    if expected != to || from >= to {
        return Err(SystemRecordError::Invalid("purged segments do not cover the purge range"));
    }
    Ok(PurgeRecord { from, to, now, retention_seconds, segments })
}

fn put_reason(out: &mut Vec<u8>, reason: &str) {
    // Callers check the length against REASON_LEN_MAX (< u16::MAX) before encoding.
    let bytes = &reason.as_bytes()[..reason.len().min(REASON_LEN_MAX)];
    out.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
    out.extend_from_slice(bytes);
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], SystemRecordError> {
        if self.bytes.len() < n {
            return Err(SystemRecordError::Truncated);
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], SystemRecordError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, SystemRecordError> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, SystemRecordError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, SystemRecordError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn reason(&mut self) -> Result<String, SystemRecordError> {
        let len = usize::from(u16::from_le_bytes(self.array()?));
        if len > REASON_LEN_MAX {
            return Err(SystemRecordError::Invalid("reason longer than 1024 bytes"));
        }
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| SystemRecordError::Invalid("reason is not UTF-8"))
    }
}

/// Checks a reason before it is encoded: 1..=1024 bytes.
pub(crate) fn check_reason(reason: &str) -> Result<(), String> {
    if reason.is_empty() || reason.len() > REASON_LEN_MAX {
        return Err(format!("reason must be 1..={REASON_LEN_MAX} bytes, got {}", reason.len()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffre_clock::{Source, SourceSet, TimeStatus};

    fn samples() -> Vec<SystemRecord> {
        let now = Timestamp::new(
            5,
            9,
            SourceSet::only(Source::Ntp),
            SourceSet::EMPTY,
            TimeStatus::Holdover,
        )
        .unwrap();
        vec![
            SystemRecord::RetentionExtended {
                previous_seconds: 10,
                retention_seconds: 20,
                reason: "audit".into(),
            },
            SystemRecord::HoldPlaced { start: 3, end: 9, reason: "litige OPCO".into() },
            SystemRecord::HoldReleased { hold: 12, reason: "clos".into() },
            SystemRecord::Purge(PurgeRecord {
                from: 0,
                to: 7,
                now,
                retention_seconds: 20,
                segments: vec![
                    PurgedSegment {
                        first_index: 0,
                        record_count: 3,
                        file_len: 100,
                        retain_until_ns: 4,
                        blake3: [1; 32],
                        sha256: [2; 32],
                    },
                    PurgedSegment {
                        first_index: 3,
                        record_count: 4,
                        file_len: 120,
                        retain_until_ns: 5,
                        blake3: [3; 32],
                        sha256: [4; 32],
                    },
                ],
            }),
        ]
    }

    #[test]
    fn system_records_round_trip_and_every_cut_is_refused() {
        for rec in samples() {
            let bytes = rec.encode();
            assert!(is_system_payload(&bytes));
            assert_eq!(SystemRecord::decode(&bytes).unwrap(), rec);
            for cut in 0..bytes.len() {
                assert!(SystemRecord::decode(&bytes[..cut]).is_err(), "cut at {cut}");
            }
            let mut longer = bytes.clone();
            longer.push(0);
            assert_eq!(SystemRecord::decode(&longer), Err(SystemRecordError::TrailingBytes));
        }
    }

    #[test]
    fn unknown_type_and_inconsistent_fields_are_refused() {
        let mut bytes = SYSTEM_RECORD_PREFIX.to_vec();
        bytes.push(0x7f);
        assert_eq!(SystemRecord::decode(&bytes), Err(SystemRecordError::UnknownType(0x7f)));
        let shorter = SystemRecord::RetentionExtended {
            previous_seconds: 20,
            retention_seconds: 10,
            reason: "x".into(),
        };
        assert!(matches!(
            SystemRecord::decode(&shorter.encode()),
            Err(SystemRecordError::Invalid(_))
        ));
        assert_eq!(SystemRecord::decode(b"hello"), Err(SystemRecordError::NotSystem));
    }
}
