//! Target `record_decode`: record framing and the active-segment scan. The input is the body
//! of segment 0 (after a valid header) of a log with a valid manifest, so every input reaches
//! the record decoder; the log is opened read-only and for writing and read back.
//!
//! The frame decoders themselves are crate-private in coffre-log; this target reaches them
//! through the public open path (the scan decodes every frame header and checks every
//! payload before a record is visible).
//!
//! Input layout: one flags byte, then the segment body (records from offset 32).

use super::support::{
    open_and_check, repair_segment, sample_log_files, scratch_dir, segment_file_name, template,
    SEGMENT_SIZE_BYTES,
};

/// Flag: rewrite the frames' CRC32s (reaches the checks behind them).
pub const FLAG_REPAIR: u8 = 1;
/// Flag: also open for writing (recovery cuts the torn tail, then one append).
pub const FLAG_WRITABLE: u8 = 2;

/// The fuzz body.
pub fn run(data: &[u8]) {
    let Some((&flags, body)) = data.split_first() else {
        return;
    };
    let t = template();
    let mut segment = t.segment_header.clone();
    // Longer than a segment cannot be written by the log; keep within it.
    let room = SEGMENT_SIZE_BYTES as usize - segment.len();
    segment.extend_from_slice(&body[..body.len().min(room)]);
    if flags & FLAG_REPAIR != 0 {
        repair_segment(&mut segment);
    }
    let dir = scratch_dir();
    let ok = std::fs::write(dir.path().join(coffre_log::MANIFEST_FILE), &t.manifest)
        .and_then(|()| std::fs::write(dir.path().join(segment_file_name(0)), &segment));
    if ok.is_err() {
        return;
    }
    open_and_check(dir.path(), flags & FLAG_WRITABLE != 0);
}

/// Seeds: active segments holding 1, 3 and 5 records of various lengths, and one with a
/// torn last record.
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let payloads: [&[u8]; 5] = [b"", b"a", b"0123456789abcdef", &[0xff; 64], b"attendance"];
    for (name, n) in [("one", 1), ("three", 3), ("five", 5)] {
        let dir = scratch_dir();
        let files = sample_log_files(dir.path(), &payloads[..n], false);
        let Some((_, seg)) = files.iter().find(|(f, _)| *f == segment_file_name(0)) else {
            continue;
        };
        let body = seg[super::support::SEGMENT_HEADER_LEN..].to_vec();
        let mut torn = body.clone();
        torn.truncate(torn.len().saturating_sub(5));
        out.push((format!("{name}-ro"), [&[FLAG_REPAIR][..], &body].concat()));
        out.push((name.to_string(), [&[FLAG_REPAIR | FLAG_WRITABLE][..], &body].concat()));
        out.push((format!("{name}-torn"), [&[FLAG_WRITABLE][..], &torn].concat()));
    }
    out.push(("empty".to_string(), vec![FLAG_WRITABLE]));
    out
}
