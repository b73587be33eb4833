//! Shared helpers of the retention tests: a settable clock and small logs.
#![allow(dead_code)]

use coffre_clock::{Clock, ClockError, Source, SourceSet, TimeStatus, Timestamp};
use coffre_log::{LogOptions, Preallocation};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub const NS: u64 = 1_000_000_000;
pub const DAY_S: u64 = 86_400;
/// 2023-11-14T22:13:20Z.
pub const T0_NS: u64 = 1_700_000_000 * NS;
/// Half-width of the fake clock's stamps: 50 ms.
pub const HALF_WIDTH_NS: u64 = 50_000_000;

/// A clock that says whatever the test sets: `[t - half, t + half]`. It may go backwards (a
/// rolled-back clock), which a real `Clock` must not.
#[derive(Debug)]
pub struct FakeClock {
    pub mid_ns: AtomicU64,
}

impl FakeClock {
    pub fn at(mid_ns: u64) -> Arc<FakeClock> {
        Arc::new(FakeClock { mid_ns: AtomicU64::new(mid_ns) })
    }

    pub fn set(&self, mid_ns: u64) {
        self.mid_ns.store(mid_ns, Ordering::SeqCst);
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Result<Timestamp, ClockError> {
        let m = self.mid_ns.load(Ordering::SeqCst);
        Ok(stamp(m - HALF_WIDTH_NS, m + HALF_WIDTH_NS))
    }
}

pub fn stamp(earliest_ns: u64, latest_ns: u64) -> Timestamp {
    Timestamp::new(
        earliest_ns,
        latest_ns,
        SourceSet::only(Source::Ntp),
        SourceSet::EMPTY,
        TimeStatus::Synchronized,
    )
    .unwrap()
}

/// 4 KiB segments (about 20 records of 100 bytes each), 512-byte payloads (a purge record
/// then names at most 4 segments), retention one day.
pub fn options(clock: Arc<FakeClock>) -> LogOptions {
    LogOptions {
        segment_size_bytes: 4096,
        payload_size_bytes_max: 512,
        preallocation: Preallocation::None,
        clock,
        retention_seconds: DAY_S,
        ..Default::default()
    }
}

pub fn payload(i: u64) -> Vec<u8> {
    let mut p = format!("record {i} ").into_bytes();
    p.resize(100, b'.');
    p
}

/// Segment files of `dir`, sorted.
pub fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with("seg-"))
        .collect();
    v.sort();
    v
}

/// First index named by a segment file.
pub fn first_index(path: &Path) -> u64 {
    let name = path.file_name().unwrap().to_str().unwrap();
    name.trim_start_matches("seg-").trim_end_matches(".log").parse().unwrap()
}

/// The state file is written 0444 (as an attacker with the owner's rights would undo first).
pub fn make_writable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
}
