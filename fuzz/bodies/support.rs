//! Helpers shared by the bodies: scratch directories, checksum repair, small logs, and a
//! reader that checks what a log returns.
//!
//! Checksum repair lets the fuzzer get past the CRC32s of docs/FORMAT.md: without it almost
//! every mutation dies at the first checksum and the parsers behind it are never reached.
//! The repair functions mirror the on-disk layout; if the layout changes they only lose
//! depth (they never make a body panic).

use coffre_log::{Log, LogError, LogOptions, Preallocation, Record};
use std::path::Path;
use std::sync::OnceLock;

/// Segment size of the logs the bodies build (small, so seeds stay small).
pub const SEGMENT_SIZE_BYTES: u64 = 512;
/// Payload limit of the logs the bodies open (must fit [`SEGMENT_SIZE_BYTES`]).
pub const PAYLOAD_SIZE_BYTES_MAX: u32 = 64;
/// Records read back from one fuzzed log at most (bounds a run's time).
pub const RECORDS_READ_MAX: u64 = 1024;
/// Length of a segment header (docs/FORMAT.md).
pub const SEGMENT_HEADER_LEN: usize = 32;

const RECORD_HEADER_LEN: usize = 56;
const FOOTER_LEN: usize = 48;
const MANIFEST_FIXED_LEN: usize = 53;

/// A fresh directory, in memory when `/dev/shm` exists (fuzzing does thousands a second).
pub fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(dir) = tempfile::Builder::new().prefix("coffre-fuzz-").tempdir_in(shm) {
            return dir;
        }
    }
    tempfile::Builder::new().prefix("coffre-fuzz-").tempdir().expect("temp dir")
}

/// Options for opening fuzzed logs: small payload limit (so small segments are accepted),
/// no preallocation (no large writes).
pub fn small_options() -> LogOptions {
    LogOptions {
        segment_size_bytes: SEGMENT_SIZE_BYTES,
        payload_size_bytes_max: PAYLOAD_SIZE_BYTES_MAX,
        preallocation: Preallocation::None,
        origin: "coffre.test/fuzz".to_string(),
        ..LogOptions::default()
    }
}

/// Bytes of a valid manifest and of the header of segment 0, taken from a real log.
pub struct Template {
    /// The manifest file.
    pub manifest: Vec<u8>,
    /// The first [`SEGMENT_HEADER_LEN`] bytes of `seg-00000000000000000000.log`.
    pub segment_header: Vec<u8>,
}

/// The template, made once per process by creating a real empty log.
pub fn template() -> &'static Template {
    static TEMPLATE: OnceLock<Template> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let dir = scratch_dir();
        let files = sample_log_files(dir.path(), &[], false);
        let find = |name: &str| {
            files.iter().find(|(n, _)| n == name).map(|(_, b)| b.clone()).expect("template file")
        };
        let segment = find(&segment_file_name(0));
        Template {
            manifest: find(coffre_log::MANIFEST_FILE),
            segment_header: segment[..SEGMENT_HEADER_LEN].to_vec(),
        }
    })
}

/// File name of the segment whose first record is `first_index` (docs/FORMAT.md).
pub fn segment_file_name(first_index: u64) -> String {
    format!("seg-{first_index:020}.log")
}

/// Creates a real log in `dir` with `payloads` (each its own commit), closes it, and returns
/// its files as (path relative to `dir`, bytes), sorted; the lock file is left out. With
/// `keep_tree` false the tree store is left out too (the open path rebuilds it).
pub fn sample_log_files(dir: &Path, payloads: &[&[u8]], keep_tree: bool) -> Vec<(String, Vec<u8>)> {
    {
        let log = Log::create(dir, small_options()).expect("create sample log");
        for p in payloads {
            log.append(p).expect("append to sample log");
        }
    }
    let mut files = Vec::new();
    collect_files(dir, "", &mut files);
    files.retain(|(name, _)| {
        name != coffre_log::LOCK_FILE && (keep_tree || !name.starts_with("tree/"))
    });
    files.sort();
    files
}

fn collect_files(dir: &Path, prefix: &str, out: &mut Vec<(String, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
        let path = entry.path();
        if path.is_dir() {
            collect_files(&path, &format!("{name}/"), out);
        } else {
            out.push((name, std::fs::read(&path).expect("read sample file")));
        }
    }
}

fn put_crc(bytes: &mut [u8], covered: std::ops::Range<usize>, at: usize) {
    let crc = crc32fast::hash(&bytes[covered]);
    bytes[at..at + 4].copy_from_slice(&crc.to_le_bytes());
}

/// Rewrites the manifest's trailing CRC32 over everything before it.
pub fn repair_manifest(b: &mut [u8]) {
    if b.len() >= MANIFEST_FIXED_LEN + 4 {
        let end = b.len() - 4;
        put_crc(b, 0..end, end);
    }
}

/// Rewrites a segment's header CRC, every record frame's payload and header CRCs (frames
/// found by their magic at 8-byte-aligned offsets), and a trailing footer's own CRC.
pub fn repair_segment(b: &mut [u8]) {
    if b.len() < SEGMENT_HEADER_LEN {
        return;
    }
    put_crc(b, 0..28, 28);
    let mut pos = SEGMENT_HEADER_LEN;
    while pos + RECORD_HEADER_LEN <= b.len() {
        if &b[pos..pos + 4] != b"CfR1" {
            pos += 8;
            continue;
        }
        let payload_len = u32::from_le_bytes([b[pos + 4], b[pos + 5], b[pos + 6], b[pos + 7]]);
        let payload_start = pos + RECORD_HEADER_LEN;
        let end = payload_start.saturating_add(payload_len as usize);
        if end <= b.len() {
            put_crc(b, payload_start..end, pos + 44);
        }
        put_crc(b, pos..pos + 52, pos + 52);
        pos = if end <= b.len() { end.div_ceil(8) * 8 } else { pos + 8 };
    }
    let len = b.len();
    if len >= SEGMENT_HEADER_LEN + FOOTER_LEN && &b[len - FOOTER_LEN..len - 40] == b"COFFSEAL" {
        put_crc(b, len - FOOTER_LEN..len - 4, len - 4);
    }
}

/// Rewrites the CRC of each of the tree head file's two slots that has the slot magic.
pub fn repair_tree_head(b: &mut [u8]) {
    for slot in 0..2 {
        let at = slot * 64;
        if b.len() >= at + 64 && &b[at..at + 8] == b"COFTRHED" {
            put_crc(b, at..at + 60, at + 60);
        }
    }
}

/// Rewrites a tree level file's header CRC.
pub fn repair_tree_level(b: &mut [u8]) {
    if b.len() >= 32 && &b[..8] == b"COFTRLVL" {
        put_crc(b, 0..28, 28);
    }
}

/// Reads every record of `log` (up to [`RECORDS_READ_MAX`]) through both `iter` and `read`,
/// checking that a record read is the one asked for. Errors are allowed (typed); panics are
/// not. Returns what was read, `None` where the read failed.
pub fn read_all(log: &Log) -> Vec<Option<Record>> {
    let len = log.len().min(RECORDS_READ_MAX);
    let mut out = Vec::new();
    for (i, item) in (0..len).zip(log.iter(0..len)) {
        match item {
            Ok(record) => {
                assert_eq!(record.index, i, "iter returned another record's index");
                let again = log.read(i).expect("a record iter read must read again");
                assert_eq!(again, record, "read and iter disagree");
                let _ = record.leaf_hash(log.hash_algorithm());
                out.push(Some(record));
            }
            Err(e) => {
                // Typed errors only; formatting must not panic either.
                let _ = e.to_string();
                out.push(None);
            }
        }
    }
    // Reading past the end is an error, not a panic.
    assert!(log.read(log.len()).is_err(), "read past the end succeeded");
    out
}

/// Opens the log in `dir` read-only, then (if `writable`) for writing, reads everything,
/// and checks what both say. A writable open that succeeds must accept one append and read
/// it back.
pub fn open_and_check(dir: &Path, writable: bool) {
    let read_only = Log::open_read_only(dir, small_options());
    let seen = match &read_only {
        Ok(log) => {
            assert!(log.is_read_only());
            let seen = read_all(log);
            if log.append(b"x").is_ok() {
                panic!("a read-only log accepted an append");
            }
            let _ = log.root(log.len());
            Some(seen)
        }
        Err(e) => {
            let _ = e.to_string();
            None
        }
    };
    drop(read_only);
    if !writable {
        return;
    }
    match Log::open(dir, small_options()) {
        Ok((log, report)) => {
            assert_eq!(report.records, log.len(), "recovery report and log length differ");
            let records = read_all(&log);
            if let Some(seen) = &seen {
                // Both handles read the same bytes before recovery cut anything.
                for (a, b) in seen.iter().zip(&records) {
                    if let (Some(a), Some(b)) = (a, b) {
                        assert_eq!(a, b, "read-only and writable opens read different records");
                    }
                }
            }
            // The tree is aligned to the records at a writable open.
            if let Err(e) = log.root(log.len()) {
                check_typed(&e);
            }
            let len = log.len();
            match log.append(b"fuzz") {
                Ok(receipt) => {
                    assert_eq!(receipt.index, len, "append after recovery got a wrong index");
                    let back = log.read(len).expect("an acknowledged record must read back");
                    assert_eq!(back.payload, b"fuzz");
                }
                Err(e) => check_typed(&e),
            }
        }
        Err(e) => check_typed(&e),
    }
}

fn check_typed(e: &LogError) {
    let _ = e.to_string();
}
