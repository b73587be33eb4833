//! Open-time scan of the active segment: finds the records, tells a torn final group (cut and
//! reported) from damage in the middle (an error), see docs/ARCHITECTURE.md "Recovery".

use crate::backend::StorageFile;
use crate::error::LogError;
use crate::record::{check_frame, decode_header, FrameHeader, FRAME_ALIGN, RECORD_HEADER_LEN};
use crate::segment::SEGMENT_HEADER_LEN;
use std::io;
use std::path::{Path, PathBuf};

/// Bytes read per refill of the scan window.
const WINDOW_BYTES: u64 = 1 << 20;

/// What opening a log found and repaired.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveryReport {
    /// Records in the log after recovery.
    pub records: u64,
    /// Sealed segments (checked by name, length and footer).
    pub sealed_segments: u64,
    /// Records kept in the active segment (the only one scanned).
    pub active_records: u64,
    /// The torn final write that was cut off, if any.
    pub torn_tail: Option<TornTail>,
    /// The last segment was sealed but its successor was missing or empty: it was (re)created.
    pub resumed_roll: bool,
    /// Leaf hashes re-appended to the Merkle tree store to match the records.
    pub tree_leaves_rehashed: u64,
    /// Bytes of a torn last checkpoint frame cut from `checkpoints.notes` (a crash during
    /// `Log::checkpoint`, before it returned).
    pub checkpoint_bytes_cut: u64,
    /// The retention state file was missing and was rebuilt by scanning the log.
    pub retention_state_rebuilt: bool,
    /// A system record in flight at the crash was found in the log (`Some(index)`) or not
    /// (`None`, nothing to do) — `None` too when nothing was in flight.
    pub pending_system_record: Option<u64>,
    /// Segment files an interrupted purge had left behind, deleted at open.
    pub purge_leftovers_removed: Vec<PathBuf>,
}

/// A torn final write cut off by recovery. The bytes were never acknowledged: a group is
/// acknowledged only after it is whole on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TornTail {
    /// The active segment.
    pub file: PathBuf,
    /// Where the first bad record started; the segment now ends there.
    pub offset: u64,
    /// Bytes from `offset` to the last non-zero byte, now zeroed.
    pub bytes_cut: u64,
    /// Intact records of the same torn group found after the bad one, dropped with it.
    pub intact_records_dropped: u64,
    /// Why the record at `offset` was refused.
    pub detail: String,
}

/// The records found in the active segment.
#[derive(Debug)]
pub(crate) struct ActiveScan {
    /// Byte offset of each record kept.
    pub offsets: Vec<u64>,
    /// Where the next record goes.
    pub records_end: u64,
    /// crc32 of the record bytes `[SEGMENT_HEADER_LEN, records_end)`.
    pub records_crc: crc32fast::Hasher,
    /// Commit group of the last record kept.
    pub last_group: Option<u64>,
    /// The torn tail found (not yet cut).
    pub torn: Option<TornTail>,
    /// End of the last non-zero byte after `records_end` (what a repair must zero).
    pub dirty_end: u64,
}

/// A window over a file for sequential scans, refilled on demand.
struct Window<'a> {
    file: &'a dyn StorageFile,
    file_len: u64,
    start: u64,
    buf: Vec<u8>,
}

impl<'a> Window<'a> {
    fn new(file: &'a dyn StorageFile, file_len: u64) -> Window<'a> {
        Window { file, file_len, start: 0, buf: Vec::new() }
    }

    /// `[at, at + len)`, or `None` if it passes the end of the file. `len` is bounded by the
    /// caller (a frame length already checked against the configured maximum).
    fn get(&mut self, at: u64, len: u64) -> io::Result<Option<&[u8]>> {
        let Some(end) = at.checked_add(len).filter(|&e| e <= self.file_len) else {
            return Ok(None);
        };
        let have_end = self.start + self.buf.len() as u64;
        if at < self.start || end > have_end {
            let fill_end = (at + len.max(WINDOW_BYTES)).min(self.file_len);
            self.buf.resize((fill_end - at) as usize, 0);
            self.file.read_exact_at(&mut self.buf, at)?;
            self.start = at;
        }
        let from = (at - self.start) as usize;
        Ok(self.buf.get(from..from + len as usize))
    }
}

/// Why the frame at `pos` is not the record expected there, or its header and length.
fn check_at(
    w: &mut Window<'_>,
    pos: u64,
    frame_len_max: u64,
) -> io::Result<Result<FrameHeader, &'static str>> {
    let Some(head) = w.get(pos, RECORD_HEADER_LEN as u64)? else {
        return Ok(Err("record header runs past the end of the file"));
    };
    let header = match decode_header(head) {
        Ok(h) => h,
        Err(d) => return Ok(Err(d)),
    };
    let len = header.frame_len();
    if len > frame_len_max {
        return Ok(Err("record length exceeds the configured maximum"));
    }
    let Some(frame) = w.get(pos, len)? else {
        return Ok(Err("record runs past the end of the file"));
    };
    Ok(check_frame(&header, frame).map(|_| header))
}

/// Scans the active segment `path` (first record `first_index`) of `file_len` bytes.
pub(crate) fn scan_active(
    file: &dyn StorageFile,
    path: &Path,
    file_len: u64,
    first_index: u64,
    frame_len_max: u64,
) -> Result<ActiveScan, LogError> {
    let io_err = |e| LogError::io("scan segment", path, e);
    let mut w = Window::new(file, file_len);
    let mut scan = ActiveScan {
        offsets: Vec::new(),
        records_end: SEGMENT_HEADER_LEN,
        records_crc: crc32fast::Hasher::new(),
        last_group: None,
        torn: None,
        dirty_end: SEGMENT_HEADER_LEN,
    };
    let mut pos = SEGMENT_HEADER_LEN;
    let failure = loop {
        if pos >= file_len {
            break None;
        }
        let expected = first_index + scan.offsets.len() as u64;
        let header = match check_at(&mut w, pos, frame_len_max).map_err(io_err)? {
            Ok(h) if h.index != expected => Err("record holds an unexpected index"),
            Ok(h) if scan.last_group.is_some_and(|g| h.group < g) => {
                Err("record's commit group goes backwards")
            }
            other => other,
        };
        match header {
            Ok(h) => {
                let len = h.frame_len();
                if let Some(frame) = w.get(pos, len).map_err(io_err)? {
                    scan.records_crc.update(frame);
                }
                scan.offsets.push(pos);
                scan.last_group = Some(h.group);
                pos += len;
            }
            Err(detail) => break Some(detail),
        }
    };
    scan.records_end = pos;
    scan.dirty_end = pos;
    let Some(detail) = failure else {
        return Ok(scan);
    };
    let after = scan_after_failure(&mut w, pos, frame_len_max).map_err(io_err)?;
    scan.dirty_end = after.dirty_end;
    if after.dirty_end == pos {
        // Only zeros follow: the preallocated space after the last record. Nothing torn.
        return Ok(scan);
    }
    let torn_group = match (after.groups.as_slice(), scan.last_group) {
        ([], _) => true,
        ([_], None) => true,
        ([g], Some(last)) => *g == last || *g == last + 1,
        _ => false,
    };
    if !torn_group {
        return Err(LogError::corruption(
            path,
            pos,
            format!(
                "{detail}, and intact records of other commit groups follow at offset {}",
                after.first_valid.unwrap_or(pos)
            ),
        ));
    }
    scan.torn = Some(TornTail {
        file: path.to_path_buf(),
        offset: pos,
        bytes_cut: after.dirty_end - pos,
        intact_records_dropped: after.valid_count,
        detail: detail.to_string(),
    });
    Ok(scan)
}

/// What lies after a damaged record.
struct AfterFailure {
    /// Distinct commit groups of the intact records found (at most 3 kept: more is damage).
    groups: Vec<u64>,
    valid_count: u64,
    first_valid: Option<u64>,
    dirty_end: u64,
}

/// Looks at every aligned offset after `from` for intact records, and finds the last non-zero
/// byte. Bounded by the file length; each step moves forward.
fn scan_after_failure(
    w: &mut Window<'_>,
    from: u64,
    frame_len_max: u64,
) -> io::Result<AfterFailure> {
    let mut out =
        AfterFailure { groups: Vec::new(), valid_count: 0, first_valid: None, dirty_end: from };
    let mut pos = from;
    while pos < w.file_len {
        let word_len = (w.file_len - pos).min(FRAME_ALIGN);
        let nonzero = w.get(pos, word_len)?.is_some_and(|b| b.iter().any(|&x| x != 0));
        if !nonzero {
            pos += word_len;
            continue;
        }
        out.dirty_end = pos + word_len;
        if pos > from {
            if let Ok(h) = check_at(w, pos, frame_len_max)? {
                out.valid_count += 1;
                out.first_valid.get_or_insert(pos);
                if !out.groups.contains(&h.group) && out.groups.len() < 3 {
                    out.groups.push(h.group);
                }
                pos += h.frame_len();
                out.dirty_end = pos;
                continue;
            }
        }
        pos += word_len;
    }
    Ok(out)
}
