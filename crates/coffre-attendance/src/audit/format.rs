//! The audit bundle's binary layout (docs/AUDIT.md, "Bundle format"): encoding, and a
//! bounded parser that borrows from the input and checks every length before allocating.

use super::AuditError;
use coffre_log::{Hash, HashAlgorithm, HASH_LEN};

/// First 8 bytes of every bundle.
pub const MAGIC: &[u8; 8] = b"CfAudit\0";
/// Format version written and read.
pub const BUNDLE_VERSION: u16 = 1;
/// Largest bundle accepted: 1 GiB.
pub const BUNDLE_BYTES_MAX: usize = 1 << 30;
/// Most records in a bundle.
pub const RECORDS_MAX: u32 = 4_000_000;
/// Most older checkpoints linked to the anchor.
pub const OLDER_MAX: u16 = 64;
/// Most hashes in one proof path (a tree of 2^64 leaves needs at most 128 for consistency).
pub const PATH_HASHES_MAX: u8 = 128;
/// Largest payload of a record in a bundle (the attendance event limit).
pub const PAYLOAD_BYTES_MAX: u32 = crate::events::MAX_EVENT_BYTES as u32;
/// Largest signed note (checkpoint or manifest) in a bundle.
pub const NOTE_BYTES_MAX: u32 = 64 * 1024;
/// Largest verifier key text.
pub const KEY_TEXT_BYTES_MAX: u32 = 1024;
/// Length of the fixed header.
pub const HEADER_LEN: usize = 12;
/// Smallest encoded record: index, timestamp, payload length, path length.
const RECORD_LEN_MIN: usize = 8 + 20 + 4 + 1;

/// Section tags, in their required order.
pub(crate) mod tag {
    pub const LOG_KEY: u8 = 1;
    pub const ANCHOR: u8 = 2;
    pub const LATEST: u8 = 3;
    pub const OLDER: u8 = 4;
    pub const RECORDS: u8 = 5;
    pub const LEFT_OUT: u8 = 6;
    pub const MANIFEST: u8 = 7;
}

/// A checkpoint note with the consistency proof that links it to another checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LinkPart<'a> {
    pub note: &'a str,
    pub path: Vec<Hash>,
}

/// One record with its inclusion path to the anchor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RecordPart<'a> {
    pub index: u64,
    pub timestamp: &'a [u8],
    pub payload: &'a [u8],
    pub path: Vec<Hash>,
}

/// Every element of a bundle, borrowed from its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BundleParts<'a> {
    pub algorithm: HashAlgorithm,
    pub log_key: &'a str,
    pub anchor: &'a str,
    pub latest: LinkPart<'a>,
    pub older: Vec<LinkPart<'a>>,
    pub records: Vec<RecordPart<'a>>,
    pub left_out: Vec<u64>,
    pub manifest: Option<&'a str>,
}

// ---------------------------------------------------------------- encoding

fn put_u32_len(out: &mut Vec<u8>, len: usize) {
    // Callers bound every length below u32::MAX before encoding.
    out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes());
}

fn put_path(out: &mut Vec<u8>, path: &[Hash]) {
    out.push(u8::try_from(path.len()).unwrap_or(u8::MAX));
    for h in path {
        out.extend_from_slice(h.as_bytes());
    }
}

fn put_link(out: &mut Vec<u8>, link: &LinkPart<'_>) {
    put_u32_len(out, link.note.len());
    out.extend_from_slice(link.note.as_bytes());
    put_path(out, &link.path);
}

fn section(out: &mut Vec<u8>, tag: u8, body: &[u8]) {
    out.push(tag);
    put_u32_len(out, body.len());
    out.extend_from_slice(body);
}

/// Encodes a bundle. The caller checked the limits ([`check_limits`]).
pub(crate) fn encode(parts: &BundleParts<'_>) -> Vec<u8> {
    let records_len: usize = parts
        .records
        .iter()
        .map(|r| RECORD_LEN_MIN + r.payload.len() + r.path.len() * HASH_LEN)
        .sum();
    let mut out = Vec::with_capacity(HEADER_LEN + records_len + 4096);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&BUNDLE_VERSION.to_le_bytes());
    out.push(parts.algorithm.code());
    out.push(0);
    section(&mut out, tag::LOG_KEY, parts.log_key.as_bytes());
    section(&mut out, tag::ANCHOR, parts.anchor.as_bytes());
    let mut body = Vec::new();
    put_link(&mut body, &parts.latest);
    section(&mut out, tag::LATEST, &body);
    body.clear();
    body.extend_from_slice(&u16::try_from(parts.older.len()).unwrap_or(u16::MAX).to_le_bytes());
    for link in &parts.older {
        put_link(&mut body, link);
    }
    section(&mut out, tag::OLDER, &body);
    let mut body = Vec::with_capacity(records_len + 4);
    put_u32_len(&mut body, parts.records.len());
    for r in &parts.records {
        body.extend_from_slice(&r.index.to_le_bytes());
        body.extend_from_slice(r.timestamp);
        put_u32_len(&mut body, r.payload.len());
        body.extend_from_slice(r.payload);
        put_path(&mut body, &r.path);
    }
    section(&mut out, tag::RECORDS, &body);
    drop(body);
    let mut body = Vec::with_capacity(4 + 8 * parts.left_out.len());
    put_u32_len(&mut body, parts.left_out.len());
    for index in &parts.left_out {
        body.extend_from_slice(&index.to_le_bytes());
    }
    section(&mut out, tag::LEFT_OUT, &body);
    body.clear();
    match parts.manifest {
        None => body.push(0),
        Some(note) => {
            body.push(1);
            body.extend_from_slice(note.as_bytes());
        }
    }
    section(&mut out, tag::MANIFEST, &body);
    out
}

/// Whether `parts` fits the format's limits; the reason if not.
pub(crate) fn check_limits(parts: &BundleParts<'_>) -> Result<(), String> {
    let notes = [parts.anchor, parts.latest.note]
        .into_iter()
        .chain(parts.older.iter().map(|l| l.note))
        .chain(parts.manifest);
    if notes.into_iter().any(|n| n.len() > NOTE_BYTES_MAX as usize) {
        return Err(format!("a signed note exceeds {NOTE_BYTES_MAX} bytes"));
    }
    if parts.older.len() > usize::from(OLDER_MAX) {
        return Err(format!("more than {OLDER_MAX} older checkpoints"));
    }
    if parts.records.len() > RECORDS_MAX as usize || parts.left_out.len() > RECORDS_MAX as usize {
        return Err(format!("more than {RECORDS_MAX} records"));
    }
    let size: usize = HEADER_LEN
        + parts
            .records
            .iter()
            .map(|r| RECORD_LEN_MIN + r.payload.len() + 32 * r.path.len())
            .sum::<usize>()
        + 8 * parts.left_out.len();
    if size > BUNDLE_BYTES_MAX - 1024 * 1024 {
        return Err(format!(
            "{size} bytes of records exceed the {BUNDLE_BYTES_MAX}-byte bundle limit"
        ));
    }
    Ok(())
}

/// Parses `bytes` as a bundle and encodes it again. The format has one encoding per value,
/// so for every input that parses the result equals the input (a property the fuzz target
/// `audit_bundle_verify` checks); no signature or proof is checked here.
pub fn reencode(bytes: &[u8]) -> Result<Vec<u8>, AuditError> {
    parse(bytes).map(|parts| encode(&parts))
}

// ---------------------------------------------------------------- parsing

/// A cursor over untrusted bytes; every read checks the remaining length first.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
    /// Offset of `bytes[0]` in the whole bundle (for error messages).
    base: usize,
}

impl<'a> Cursor<'a> {
    fn err(&self, reason: impl Into<String>) -> AuditError {
        AuditError::Malformed { offset: self.base + self.at, reason: reason.into() }
    }

    fn take(&mut self, len: usize, what: &str) -> Result<&'a [u8], AuditError> {
        let end = self.at.checked_add(len).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return Err(self.err(format!("truncated: {what} needs {len} bytes")));
        };
        let out = self.bytes.get(self.at..end).ok_or_else(|| self.err("truncated"))?;
        self.at = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], AuditError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn u8(&mut self, what: &str) -> Result<u8, AuditError> {
        Ok(self.array::<1>(what)?[0])
    }

    fn u16(&mut self, what: &str) -> Result<u16, AuditError> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }

    fn u32(&mut self, what: &str) -> Result<u32, AuditError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64, AuditError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.at)
    }

    fn text(&mut self, len: usize, max: u32, what: &str) -> Result<&'a str, AuditError> {
        if len > max as usize {
            return Err(self.err(format!("{what} of {len} bytes exceeds {max}")));
        }
        let bytes = self.take(len, what)?;
        std::str::from_utf8(bytes).map_err(|_| self.err(format!("{what} is not UTF-8")))
    }

    fn path(&mut self, what: &str) -> Result<Vec<Hash>, AuditError> {
        let count = self.u8(what)?;
        if count > PATH_HASHES_MAX {
            return Err(self.err(format!("{what}: {count} hashes exceed {PATH_HASHES_MAX}")));
        }
        let raw = self.take(usize::from(count) * HASH_LEN, what)?;
        Ok(raw
            .chunks_exact(HASH_LEN)
            .map(|c| {
                let mut h = [0u8; HASH_LEN];
                h.copy_from_slice(c);
                Hash(h)
            })
            .collect())
    }

    fn link(&mut self, what: &str) -> Result<LinkPart<'a>, AuditError> {
        let len = self.u32(what)? as usize;
        let note = self.text(len, NOTE_BYTES_MAX, what)?;
        let path = self.path(what)?;
        Ok(LinkPart { note, path })
    }

    fn section(&mut self, expected: u8, name: &str) -> Result<Cursor<'a>, AuditError> {
        let found = self.u8(name)?;
        if found != expected {
            return Err(
                self.err(format!("expected section {expected} ({name}), found tag {found}"))
            );
        }
        let len = self.u32(name)? as usize;
        let base = self.base + self.at;
        let bytes = self.take(len, name)?;
        Ok(Cursor { bytes, at: 0, base })
    }

    fn finish(&self, name: &str) -> Result<(), AuditError> {
        if self.remaining() != 0 {
            return Err(
                self.err(format!("{} unexpected bytes at the end of {name}", self.remaining()))
            );
        }
        Ok(())
    }
}

/// Parses a bundle. Bounded: the whole input is capped at [`BUNDLE_BYTES_MAX`], counts are
/// checked against both their caps and the bytes left before anything is allocated.
pub(crate) fn parse(bytes: &[u8]) -> Result<BundleParts<'_>, AuditError> {
    if bytes.len() > BUNDLE_BYTES_MAX {
        return Err(AuditError::TooLarge {
            size_bytes: bytes.len(),
            size_bytes_max: BUNDLE_BYTES_MAX,
        });
    }
    let mut c = Cursor { bytes, at: 0, base: 0 };
    if c.take(8, "magic")? != MAGIC {
        return Err(AuditError::Malformed {
            offset: 0,
            reason: "not an audit bundle (magic)".into(),
        });
    }
    let version = c.u16("version")?;
    if version != BUNDLE_VERSION {
        return Err(AuditError::UnsupportedVersion(version));
    }
    let code = c.u8("hash algorithm")?;
    let algorithm = HashAlgorithm::from_code(code)
        .ok_or_else(|| c.err(format!("unknown hash algorithm code {code}")))?;
    if c.u8("reserved")? != 0 {
        return Err(c.err("reserved header byte is not zero"));
    }

    let mut s = c.section(tag::LOG_KEY, "log key")?;
    let log_key = s.text(s.remaining(), KEY_TEXT_BYTES_MAX, "log key")?;
    let mut s = c.section(tag::ANCHOR, "anchor checkpoint")?;
    let anchor = s.text(s.remaining(), NOTE_BYTES_MAX, "anchor checkpoint")?;
    let mut s = c.section(tag::LATEST, "latest checkpoint")?;
    let latest = s.link("latest checkpoint")?;
    s.finish("latest checkpoint")?;

    let mut s = c.section(tag::OLDER, "older checkpoints")?;
    let count = s.u16("older count")?;
    if count > OLDER_MAX {
        return Err(s.err(format!("{count} older checkpoints exceed {OLDER_MAX}")));
    }
    let mut older = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        older.push(s.link("older checkpoint")?);
    }
    s.finish("older checkpoints")?;

    let mut s = c.section(tag::RECORDS, "records")?;
    let count = s.u32("record count")?;
    if count > RECORDS_MAX || (count as usize).saturating_mul(RECORD_LEN_MIN) > s.remaining() {
        return Err(s.err(format!("record count {count} exceeds the cap or the bytes left")));
    }
    let mut records = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let index = s.u64("record index")?;
        let timestamp = s.take(20, "record timestamp")?;
        let len = s.u32("payload length")?;
        if len > PAYLOAD_BYTES_MAX {
            return Err(s.err(format!(
                "record {index}: payload of {len} bytes exceeds {PAYLOAD_BYTES_MAX}"
            )));
        }
        let payload = s.take(len as usize, "record payload")?;
        let path = s.path("inclusion path")?;
        records.push(RecordPart { index, timestamp, payload, path });
    }
    s.finish("records")?;

    let mut s = c.section(tag::LEFT_OUT, "left-out records")?;
    let count = s.u32("left-out count")?;
    if count > RECORDS_MAX || (count as usize).saturating_mul(8) != s.remaining() {
        return Err(s.err(format!("left-out count {count} does not match the section")));
    }
    let mut left_out = Vec::with_capacity(count as usize);
    for _ in 0..count {
        left_out.push(s.u64("left-out index")?);
    }

    let mut s = c.section(tag::MANIFEST, "manifest")?;
    let manifest = match s.u8("manifest flag")? {
        0 => None,
        1 => Some(s.text(s.remaining(), NOTE_BYTES_MAX, "manifest")?),
        other => return Err(s.err(format!("manifest flag {other} is not 0 or 1"))),
    };
    s.finish("manifest")?;
    c.finish("bundle")?;
    Ok(BundleParts { algorithm, log_key, anchor, latest, older, records, left_out, manifest })
}
