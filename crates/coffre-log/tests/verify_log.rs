//! `Log::verify`: passes on a clean log, reports the first mismatch with its location.

mod checkpoint_support;

use checkpoint_support::{append, flip, options, quiet, segments};
use coffre_log::{HashAlgorithm, Log, LogError, LogOptions, VerifyPhase, CHECKPOINTS_FILE};
use std::path::PathBuf;
use std::sync::Mutex;

fn opts() -> LogOptions {
    options(HashAlgorithm::Blake3)
}

/// 30 records over several sealed segments and an active one, checkpoints at 12 and 30.
fn sample() -> (tempfile::TempDir, Log) {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::create(dir.path(), opts()).unwrap();
    append(&log, 0, 12);
    log.checkpoint().unwrap();
    append(&log, 12, 30);
    log.checkpoint().unwrap();
    assert!(segments(dir.path()).len() >= 3);
    (dir, log)
}

/// Offset of record `index` in segment file `path` (walks the frames from the header).
fn record_offset(path: &std::path::Path, index: u64) -> u64 {
    let bytes = std::fs::read(path).unwrap();
    let mut pos = 32usize;
    loop {
        assert_eq!(&bytes[pos..pos + 4], b"CfR1");
        let len = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().unwrap()) as usize;
        let i = u64::from_le_bytes(bytes[pos + 8..pos + 16].try_into().unwrap());
        if i == index {
            return pos as u64;
        }
        pos += (56 + len).div_ceil(8) * 8;
    }
}

fn first_index(path: &std::path::Path) -> u64 {
    let name = path.file_name().unwrap().to_str().unwrap();
    name["seg-".len()..name.len() - 4].parse().unwrap()
}

fn tamper(e: LogError) -> (PathBuf, Option<u64>, Option<u64>, Option<u32>) {
    match e {
        LogError::TamperDetected { file, offset, index, level, .. } => (file, offset, index, level),
        other => panic!("expected TamperDetected, got {other}"),
    }
}

#[test]
fn verify_passes_on_a_clean_log_and_reports_progress() {
    let (dir, log) = sample();
    let phases = Mutex::new(Vec::new());
    let report = log
        .verify(&|p| {
            assert!(p.records_checked <= p.records_total);
            phases.lock().unwrap().push(p.phase);
        })
        .unwrap();
    assert_eq!(report.records, 30);
    assert_eq!(report.leaves_compared, 30);
    assert_eq!(report.checkpoints_checked, 2);
    assert!(report.segments >= 3);
    let payload_bytes: u64 =
        (0..30).map(|i| checkpoint_support::payload(i).len() as u64 + 20).sum();
    assert_eq!(report.bytes_hashed, payload_bytes);
    let phases = phases.into_inner().unwrap();
    assert_eq!(phases.first(), Some(&VerifyPhase::Records));
    assert_eq!(phases.last(), Some(&VerifyPhase::Done));
    drop(log);
    let ro = Log::open_read_only(dir.path(), opts()).unwrap();
    assert_eq!(ro.verify(&quiet).unwrap().records, 30);
}

#[test]
fn flipped_payload_byte_in_a_sealed_segment_is_reported_with_its_record() {
    let (dir, log) = sample();
    drop(log);
    let seg = segments(dir.path())[1].clone();
    let index = first_index(&seg) + 1;
    let at = record_offset(&seg, index);
    flip(&seg, at + 56, 0x01);
    let (log, _) = Log::open(dir.path(), opts()).unwrap();
    let (file, offset, idx, level) = tamper(log.verify(&quiet).unwrap_err());
    assert_eq!((file, offset, idx, level), (seg, Some(at), Some(index), None));
}

#[test]
fn flipped_payload_byte_in_the_active_segment_is_reported() {
    let (dir, log) = sample();
    let seg = segments(dir.path()).pop().unwrap();
    let index = first_index(&seg);
    let at = record_offset(&seg, index);
    // While the log is open: open's recovery scan would otherwise see it first.
    flip(&seg, at + 60, 0x80);
    let (file, offset, idx, _) = tamper(log.verify(&quiet).unwrap_err());
    assert_eq!((file, offset, idx), (seg, Some(at), Some(index)));
}

#[test]
fn flipped_tree_hashes_are_reported_with_level_and_index() {
    let (dir, log) = sample();
    drop(log);
    let level0 = dir.path().join("tree").join("level-00.hashes");
    flip(&level0, 32 + 3 * 32 + 5, 0x01);
    let (log, _) = Log::open(dir.path(), opts()).unwrap();
    let (file, offset, idx, level) = tamper(log.verify(&quiet).unwrap_err());
    assert_eq!((file, offset, idx, level), (level0.clone(), Some(32 + 3 * 32), Some(3), Some(0)));
    drop(log);
    flip(&level0, 32 + 3 * 32 + 5, 0x01);

    let level2 = dir.path().join("tree").join("level-02.hashes");
    flip(&level2, 32 + 2 * 32, 0x40);
    let (log, _) = Log::open(dir.path(), opts()).unwrap();
    let (file, _, idx, level) = tamper(log.verify(&quiet).unwrap_err());
    assert_eq!((file, idx, level), (level2, Some(2), Some(2)));
}

#[test]
fn flipped_checkpoint_byte_is_reported() {
    let (dir, log) = sample();
    let path = dir.path().join(CHECKPOINTS_FILE);
    flip(&path, 100, 0x02);
    let (file, _, _, _) = tamper(log.verify(&quiet).unwrap_err());
    assert_eq!(file, path);
    // Open sees it too (every frame's checksum is checked).
    drop(log);
    assert!(matches!(Log::open(dir.path(), opts()), Err(LogError::TamperDetected { .. })));
}

#[test]
fn first_mismatch_in_log_order_is_reported() {
    let (dir, log) = sample();
    drop(log);
    let segs = segments(dir.path());
    let (early, late) = (&segs[0], &segs[2]);
    let late_at = record_offset(late, first_index(late));
    let early_at = record_offset(early, 2);
    flip(late, late_at + 56, 1);
    flip(early, early_at + 56, 1);
    let (log, _) = Log::open(dir.path(), opts()).unwrap();
    let (file, _, idx, _) = tamper(log.verify(&quiet).unwrap_err());
    assert_eq!((&file, idx), (early, Some(2)));
}

/// Informal throughput figures (no assertion on speed): run with
/// `cargo test --release -p coffre-log --test verify_log -- --ignored --nocapture`.
#[test]
#[ignore]
fn verify_throughput_figures() {
    let dir = tempfile::tempdir().unwrap();
    let o = LogOptions {
        segment_size_bytes: 64 << 20,
        payload_size_bytes_max: 4096,
        durability: coffre_log::Durability::Periodic {
            interval: std::time::Duration::from_millis(50),
        },
        ..opts()
    };
    let log = Log::create(dir.path(), o).unwrap();
    let size: usize = std::env::var("COFFRE_VERIFY_PAYLOAD").map_or(1024, |v| v.parse().unwrap());
    let n: u64 = std::env::var("COFFRE_VERIFY_RECORDS").map_or(200_000, |v| v.parse().unwrap());
    let batch: Vec<Vec<u8>> = (0..1000).map(|i| vec![(i % 251) as u8 | 1; size]).collect();
    for _ in 0..n / 1000 {
        log.append_batch(&batch).unwrap();
    }
    log.checkpoint().unwrap();
    let report = log.verify(&|_| {}).unwrap();
    let secs = report.duration.as_secs_f64();
    // Raw all-core BLAKE3 of the same messages (one hash per record: 0x00 || ts || payload).
    let msgs: Vec<Vec<u8>> = (0..n).map(|i| vec![(i % 251) as u8; size + 21]).collect();
    let threads = std::thread::available_parallelism().unwrap().get();
    let t = std::time::Instant::now();
    std::thread::scope(|s| {
        for part in msgs.chunks(msgs.len().div_ceil(threads)) {
            s.spawn(move || part.iter().map(|m| blake3::hash(m).as_bytes()[0] as u64).sum::<u64>());
        }
    });
    let raw = t.elapsed().as_secs_f64();
    let mb = report.bytes_hashed as f64 / 1e6;
    eprintln!(
        "verify: {} records of {size} B, {mb:.0} MB hashed in {secs:.3} s = {:.0} MB/s; raw \
         all-core BLAKE3 of the same messages: {:.0} MB/s; ratio {:.0}%",
        report.records,
        mb / secs,
        mb / raw,
        100.0 * raw / secs
    );
}
