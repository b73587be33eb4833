//! The canonical byte encoding of an [`Event`]: one format-version byte, then bincode 2.0.1
//! with the standard configuration switched to little-endian **fixed-width** integers.
//!
//! Fixed-width rather than varint so the layout is the one the rest of Coffre uses on disk
//! (u32/u64 little-endian, readable in a hex dump, writable by hand in any language): enum
//! tags are u32, lengths of strings and lists are u64, arrays have no length. Decoding is
//! bounded: records larger than [`MAX_EVENT_BYTES`] are refused before bincode runs, bincode's
//! own limit caps every allocation, trailing bytes are an error, and each decoded value is
//! checked (INE, texts, dates in normalised form; [`Event::check`]), so encode(decode(b)) == b
//! for every accepted `b`.

use super::Event;
use crate::identity::IdentityError;
use bincode::config::{Configuration, Fixint, Limit, LittleEndian};

/// The format version byte written before the bincode body.
pub const FORMAT_VERSION: u8 = 1;

/// Largest accepted encoded event, version byte included.
pub const MAX_EVENT_BYTES: usize = 64 * 1024;

/// The pinned bincode configuration.
type Config = Configuration<LittleEndian, Fixint, Limit<MAX_EVENT_BYTES>>;

const fn config() -> Config {
    bincode::config::standard()
        .with_little_endian()
        .with_fixed_int_encoding()
        .with_limit::<MAX_EVENT_BYTES>()
}

/// Why an event could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The encoding is larger than [`MAX_EVENT_BYTES`].
    #[error("encoded event is {size_bytes} bytes, more than {max_bytes}")]
    TooLarge {
        /// Size of the encoding.
        size_bytes: usize,
        /// The limit.
        max_bytes: usize,
    },
    /// The event fails [`Event::check`].
    #[error("event is malformed: {0}")]
    Invalid(IdentityError),
    /// bincode refused (not expected for in-memory values).
    #[error("bincode: {0}")]
    Bincode(String),
}

/// Why bytes are not an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// No bytes at all.
    #[error("empty record")]
    Empty,
    /// The version byte is not one this code reads.
    #[error("unknown event format version {version}")]
    UnknownVersion {
        /// The version byte found.
        version: u8,
    },
    /// More bytes than [`MAX_EVENT_BYTES`].
    #[error("record is {size_bytes} bytes, more than {max_bytes}")]
    TooLarge {
        /// Size of the record.
        size_bytes: usize,
        /// The limit.
        max_bytes: usize,
    },
    /// The body does not decode (truncated, bad tag, bad UTF-8, invalid value...).
    #[error("malformed event: {reason}")]
    Malformed {
        /// bincode's or the value check's explanation.
        reason: String,
    },
    /// Bytes left after the event.
    #[error("{count} trailing bytes after the event")]
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// The event decodes but fails [`Event::check`].
    #[error("invalid event: {0}")]
    Invalid(IdentityError),
}

/// Encodes `event` canonically: `FORMAT_VERSION || bincode(event)`.
pub fn encode(event: &Event) -> Result<Vec<u8>, EncodeError> {
    event.check().map_err(EncodeError::Invalid)?;
    let mut out = vec![FORMAT_VERSION];
    bincode::encode_into_std_write(event, &mut out, config())
        .map_err(|e| EncodeError::Bincode(e.to_string()))?;
    if out.len() > MAX_EVENT_BYTES {
        return Err(EncodeError::TooLarge { size_bytes: out.len(), max_bytes: MAX_EVENT_BYTES });
    }
    Ok(out)
}

/// Decodes untrusted bytes; never panics, allocates at most about [`MAX_EVENT_BYTES`].
pub fn decode(bytes: &[u8]) -> Result<Event, DecodeError> {
    let (&version, body) = bytes.split_first().ok_or(DecodeError::Empty)?;
    if version != FORMAT_VERSION {
        return Err(DecodeError::UnknownVersion { version });
    }
    if bytes.len() > MAX_EVENT_BYTES {
        return Err(DecodeError::TooLarge { size_bytes: bytes.len(), max_bytes: MAX_EVENT_BYTES });
    }
    let (event, read): (Event, usize) = bincode::decode_from_slice(body, config())
        .map_err(|e| DecodeError::Malformed { reason: e.to_string() })?;
    if read != body.len() {
        return Err(DecodeError::TrailingBytes { count: body.len().saturating_sub(read) });
    }
    event.check().map_err(DecodeError::Invalid)?;
    Ok(event)
}
