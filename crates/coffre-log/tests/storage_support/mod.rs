//! Helpers shared by the storage tests.
#![allow(dead_code)]

use coffre_clock::{Clock, ClockError, Source, SourceSet, TimeStatus, Timestamp};
use coffre_log::{LogOptions, Preallocation};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// Options with small segments so that tests roll often.
pub fn small_options() -> LogOptions {
    LogOptions {
        segment_size_bytes: 2048,
        payload_size_bytes_max: 256,
        preallocation: Preallocation::None,
        ..Default::default()
    }
}

/// A deterministic clock: +1 µs per stamp; fails while `failing` is set.
#[derive(Debug, Default)]
pub struct TestClock {
    pub next_ns: AtomicU64,
    pub failing: AtomicBool,
}

impl Clock for TestClock {
    fn now(&self) -> Result<Timestamp, ClockError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(ClockError::Unsynchronized { reason: "test".into() });
        }
        let t = self.next_ns.fetch_add(1_000, Ordering::SeqCst) + 1_000_000;
        Ok(Timestamp::new(
            t,
            t + 500,
            SourceSet::only(Source::System),
            SourceSet::EMPTY,
            TimeStatus::Synchronized,
        )
        .unwrap())
    }
}

pub fn with_clock(mut o: LogOptions, clock: Arc<TestClock>) -> LogOptions {
    o.clock = clock;
    o
}

/// Segment files of `dir`, in index order.
pub fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with("seg-"))
        .collect();
    v.sort();
    v
}

/// `(offset, index, frame_len)` of each record frame in an active segment, parsed with the
/// layout of docs/FORMAT.md (stops at the first zero magic).
pub fn frames(bytes: &[u8]) -> Vec<(usize, u64, usize)> {
    let mut out = Vec::new();
    let mut pos = 32;
    while pos + 56 <= bytes.len() && &bytes[pos..pos + 4] == b"CfR1" {
        let len = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().unwrap()) as usize;
        let index = u64::from_le_bytes(bytes[pos + 8..pos + 16].try_into().unwrap());
        let frame = (56 + len).div_ceil(8) * 8;
        out.push((pos, index, frame));
        pos += frame;
    }
    out
}

/// Makes a sealed (0444) file writable again so a test can damage it.
pub fn make_writable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
}
