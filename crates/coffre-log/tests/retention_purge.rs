//! Purge: exactly the expired leading segments go, the tree and its proofs stay valid, purged
//! indexes say so, holds and clocks behind cannot make anything go early, and an interrupted
//! purge reopens cleanly.

mod retention_support;

use coffre_log::merkle::{verify_consistency, verify_inclusion};
use coffre_log::retention::{PurgeDecision, PurgeFailpoint};
use coffre_log::system::SystemRecord;
use coffre_log::{HoldId, Log, LogError};
use retention_support::*;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const OLD: u64 = 100;
const NEW: u64 = 60;

/// `OLD` records stamped at T0, then `NEW` records two days later. Returns the log, its clock
/// and the segment files (with their ranges) as they were before any purge.
fn two_epochs(dir: &Path) -> (Log, Arc<FakeClock>, Vec<(PathBuf, u64, u64)>) {
    let clock = FakeClock::at(T0_NS);
    let log = Log::create(dir, options(clock.clone())).unwrap();
    for i in 0..OLD {
        log.append(&payload(i)).unwrap();
    }
    clock.set(T0_NS + 2 * DAY_S * NS);
    for i in OLD..OLD + NEW {
        log.append(&payload(i)).unwrap();
    }
    let files = segment_files(dir);
    let mut ranges = Vec::new();
    for w in files.windows(2) {
        ranges.push((w[0].clone(), first_index(&w[0]), first_index(&w[1])));
    }
    (log, clock, ranges)
}

/// Retain-until of the records stamped at T0 under a one-day retention.
fn old_retain_until() -> u64 {
    T0_NS + HALF_WIDTH_NS + DAY_S * NS
}

fn now_with_earliest(earliest_ns: u64) -> coffre_clock::Timestamp {
    stamp(earliest_ns, earliest_ns + 2 * HALF_WIDTH_NS)
}

#[test]
fn purge_deletes_exactly_the_expired_sealed_segments_and_records_it_first() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _clock, ranges) = two_epochs(dir.path());
    let expected: Vec<&(PathBuf, u64, u64)> = ranges.iter().filter(|r| r.2 <= OLD).collect();
    assert!(expected.len() >= 3, "the scenario needs several expired segments");
    let purged_to = expected.last().unwrap().2;

    let report = log.purge_expired(now_with_earliest(old_retain_until()), false).unwrap();
    let deleted: Vec<PathBuf> = expected.iter().map(|r| r.0.clone()).collect();
    assert_eq!(report.files_deleted, deleted);
    assert_eq!(report.purged, 0..purged_to);
    for (path, ..) in &ranges {
        assert_eq!(path.exists(), !deleted.contains(path), "{}", path.display());
    }
    // The segment mixing old and new records is the one that stopped the purge.
    let last = report.segments.last().unwrap();
    assert_eq!(last.decision, PurgeDecision::KeepNotExpired);
    assert_eq!(last.range.start, purged_to);
    assert_eq!(log.purged_until(), purged_to);

    // The purge record is in the log and names every deleted file with its hashes.
    let mut named = Vec::new();
    for &idx in &report.purge_records {
        let rec = log.read(idx).unwrap();
        assert!(rec.is_system());
        let SystemRecord::Purge(p) = SystemRecord::decode(&rec.payload).unwrap() else {
            panic!("not a purge record");
        };
        assert_eq!(p.retention_seconds, DAY_S);
        named.extend(p.segments.iter().map(|s| (s.first_index, s.first_index + s.record_count)));
    }
    let expected_ranges: Vec<(u64, u64)> = expected.iter().map(|r| (r.1, r.2)).collect();
    assert_eq!(named, expected_ranges);
}

#[test]
fn hashes_in_the_purge_record_are_those_of_the_deleted_files() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _clock, ranges) = two_epochs(dir.path());
    let before: Vec<(u64, Vec<u8>)> =
        ranges.iter().map(|(p, first, _)| (*first, std::fs::read(p).unwrap())).collect();
    let report = log.purge_expired(now_with_earliest(old_retain_until()), false).unwrap();
    let mut checked = 0;
    for &idx in &report.purge_records {
        let SystemRecord::Purge(p) = SystemRecord::decode(&log.read(idx).unwrap().payload).unwrap()
        else {
            panic!("not a purge record");
        };
        for s in &p.segments {
            let bytes = &before.iter().find(|(f, _)| *f == s.first_index).unwrap().1;
            assert_eq!(s.blake3, *blake3::hash(bytes).as_bytes());
            assert_eq!(s.file_len, bytes.len() as u64);
            checked += 1;
        }
    }
    assert_eq!(checked, report.files_deleted.len());
}

#[test]
fn roots_checkpoint_sizes_and_proofs_stay_valid_after_a_purge() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _clock, _) = two_epochs(dir.path());
    let alg = log.hash_algorithm();
    let len_before = log.len();
    let roots_before: Vec<_> = (1..=len_before).map(|s| log.root(s).unwrap()).collect();
    let report = log.purge_expired(now_with_earliest(old_retain_until()), false).unwrap();
    assert!(!report.files_deleted.is_empty());
    let check = |log: &Log| {
        let len = log.len();
        let root = log.root(len).unwrap();
        for (k, r) in roots_before.iter().enumerate() {
            assert_eq!(log.root(k as u64 + 1).unwrap(), *r, "root at size {}", k + 1);
        }
        for size in [1, 7, report.purged.end, len_before] {
            let p = log.prove_consistency(size, len).unwrap();
            verify_consistency(alg, size, len, &log.root(size).unwrap(), &root, &p.path).unwrap();
        }
        for index in [0, 3, report.purged.end - 1] {
            // Purged records keep their leaves: their proofs still come from the tree.
            assert!(log.prove_inclusion(index, len).is_ok());
        }
        for index in [report.purged.end, report.purged.end + 1, len_before - 1, len - 1] {
            let p = log.prove_inclusion(index, len).unwrap();
            let leaf = log.read(index).unwrap().leaf_hash(alg);
            verify_inclusion(alg, index, len, &leaf, &p.path, &root).unwrap();
        }
    };
    check(&log);
    check(&Log::open_read_only(dir.path(), options(FakeClock::at(T0_NS))).unwrap());
    drop(log);
    check(&Log::open(dir.path(), options(FakeClock::at(T0_NS + 3 * DAY_S * NS))).unwrap().0);
}

#[test]
fn reading_a_purged_index_says_purged_and_names_the_purge_record() {
    let dir = tempfile::tempdir().unwrap();
    let (log, clock, _) = two_epochs(dir.path());
    let report = log.purge_expired(now_with_earliest(old_retain_until()), false).unwrap();
    let purge_record = *report.purge_records.last().unwrap();
    for index in [0, report.purged.end - 1] {
        match log.read(index) {
            Err(LogError::Purged { index: i, purge_record: p }) => {
                assert_eq!((i, p), (index, purge_record));
            }
            other => panic!("read({index}) gave {other:?}"),
        }
    }
    assert_eq!(log.read(report.purged.end).unwrap().payload, payload(report.purged.end));
    assert!(matches!(log.iter(..).next(), Some(Err(LogError::Purged { .. }))));
    drop(log);
    let (log, _) = Log::open(dir.path(), options(clock)).unwrap();
    assert!(
        matches!(log.read(0), Err(LogError::Purged { purge_record: p, .. }) if p == purge_record)
    );
    // Appends go on after the purge.
    let r = log.append(b"after").unwrap();
    assert_eq!(log.read(r.index).unwrap().payload, b"after");
}

#[test]
fn a_dry_run_lists_what_would_go_and_why_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _clock, ranges) = two_epochs(dir.path());
    let hold = log.place_hold(OLD + 5..OLD + 6, "contrôle OPCO en cours").unwrap();
    let len = log.len();
    let state_before = std::fs::read(dir.path().join("retention.state")).unwrap();
    let report = log.purge_expired(now_with_earliest(old_retain_until()), true).unwrap();
    assert!(report.dry_run);
    assert!(report.files_deleted.is_empty() && report.purge_records.is_empty());
    assert_eq!(log.len(), len);
    assert_eq!(std::fs::read(dir.path().join("retention.state")).unwrap(), state_before);
    assert!(ranges.iter().all(|r| r.0.exists()));
    let would: Vec<u64> = report
        .segments
        .iter()
        .filter(|v| v.decision == PurgeDecision::Delete)
        .map(|v| v.range.start)
        .collect();
    let expected: Vec<u64> = ranges.iter().filter(|r| r.2 <= OLD).map(|r| r.1).collect();
    assert_eq!(would, expected);
    for v in report.segments.iter().filter(|v| v.decision == PurgeDecision::Delete) {
        assert!(v.holds.is_empty(), "the hold is on new records only");
        assert!(v.newest_retain_until_ns <= old_retain_until());
    }
    // Far in the future everything old is expired, but the hold stops the purge at its
    // segment, and the dry run says so.
    let later = log.purge_expired(now_with_earliest(T0_NS + 30 * DAY_S * NS), true).unwrap();
    let stop = later.segments.last().unwrap();
    assert_eq!(stop.decision, PurgeDecision::KeepHeld);
    assert_eq!(stop.holds, vec![hold]);
    assert!(stop.range.contains(&(OLD + 5)));
}

#[test]
fn held_records_are_never_purged_until_the_hold_is_released() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _clock, ranges) = two_epochs(dir.path());
    // Hold one record of the second segment: only the first segment may go.
    let (_, seg1_first, seg1_end) = ranges[1].clone();
    let hold = log.place_hold(seg1_first + 1..seg1_first + 2, "litige").unwrap();
    assert_eq!(log.holds().len(), 1);
    let report = log.purge_expired(now_with_earliest(old_retain_until()), false).unwrap();
    assert_eq!(report.purged, 0..seg1_first);
    assert_eq!(report.segments.last().unwrap().decision, PurgeDecision::KeepHeld);
    assert!(ranges[1].0.exists());
    assert_eq!(log.read(seg1_first + 1).unwrap().payload, payload(seg1_first + 1));

    assert!(matches!(log.release_hold(HoldId(12345), "x"), Err(LogError::HoldNotFound { .. })));
    let receipt = log.release_hold(hold, "litige clos").unwrap();
    assert!(log.read(receipt.index).unwrap().is_system());
    assert!(log.holds().is_empty());
    assert!(matches!(log.release_hold(hold, "again"), Err(LogError::HoldNotFound { .. })));
    let report = log.purge_expired(now_with_earliest(old_retain_until()), false).unwrap();
    assert_eq!(report.purged.start, seg1_first);
    assert!(report.purged.end > seg1_end);
    assert!(!ranges[1].0.exists());
    // A hold cannot be placed on purged records.
    assert!(matches!(log.place_hold(0..1, "trop tard"), Err(LogError::InvalidRetentionRequest(_))));
}

#[test]
fn a_hold_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let (log, clock, _) = two_epochs(dir.path());
    let hold = log.place_hold(0..3, "enquête").unwrap();
    drop(log);
    let (log, _) = Log::open(dir.path(), options(clock)).unwrap();
    assert_eq!(log.holds().len(), 1);
    assert_eq!(log.holds()[0].id, hold);
    assert_eq!(log.holds()[0].reason, "enquête");
    let report = log.purge_expired(now_with_earliest(T0_NS + 30 * DAY_S * NS), false).unwrap();
    assert!(report.files_deleted.is_empty());
    assert_eq!(log.read(0).unwrap().payload, payload(0));
}

#[test]
fn a_clock_rolled_back_ten_years_cannot_purge_anything() {
    let dir = tempfile::tempdir().unwrap();
    let (log, clock, ranges) = two_epochs(dir.path());
    clock.set(T0_NS - 10 * 365 * DAY_S * NS);
    // Records stamped by the rolled-back clock are "old" too, yet nothing may go.
    for i in 0..30 {
        log.append(&payload(1000 + i)).unwrap();
    }
    let now = coffre_clock::Clock::now(&*clock).unwrap();
    let report = log.purge_expired(now, false).unwrap();
    assert!(report.files_deleted.is_empty());
    assert!(report.purge_records.is_empty());
    assert_eq!(report.segments[0].decision, PurgeDecision::KeepNotExpired);
    assert!(ranges.iter().all(|r| r.0.exists()));
    assert_eq!(log.read(0).unwrap().payload, payload(0));
}

#[test]
fn nothing_goes_before_the_earliest_bound_reaches_retain_until() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _clock, _) = two_epochs(dir.path());
    let until = old_retain_until();
    // One nanosecond short.
    let r = log.purge_expired(now_with_earliest(until - 1), false).unwrap();
    assert!(r.files_deleted.is_empty());
    assert_eq!(r.segments[0].newest_retain_until_ns, until);
    // A clock behind by its uncertainty: its midpoint is at retain-until (the true time may
    // already be past it), but its earliest bound is not.
    let behind = stamp(until - HALF_WIDTH_NS, until + HALF_WIDTH_NS);
    assert!(log.purge_expired(behind, false).unwrap().files_deleted.is_empty());
    // A very wide interval whose latest bound is years ahead does not help either.
    let wide = stamp(until - 1, until + 3650 * DAY_S * NS);
    assert!(log.purge_expired(wide, false).unwrap().files_deleted.is_empty());
    assert_eq!(log.read(0).unwrap().payload, payload(0));
    // Exactly at the bound the old segments go.
    let r = log.purge_expired(now_with_earliest(until), false).unwrap();
    assert!(!r.files_deleted.is_empty());
}

#[test]
fn the_active_segment_is_never_purged() {
    let dir = tempfile::tempdir().unwrap();
    let clock = FakeClock::at(T0_NS);
    let log = Log::create(dir.path(), options(clock)).unwrap();
    for i in 0..5 {
        log.append(&payload(i)).unwrap();
    }
    let r = log.purge_expired(now_with_earliest(T0_NS + 400 * DAY_S * NS), false).unwrap();
    assert!(r.segments.is_empty() && r.files_deleted.is_empty());
    assert_eq!(log.read(0).unwrap().payload, payload(0));
}

/// Arms `fp`, purges (which fails as if the process died there), drops the log, reopens.
fn interrupted_purge(fp: PurgeFailpoint) -> (tempfile::TempDir, Vec<(PathBuf, u64, u64)>) {
    let dir = tempfile::tempdir().unwrap();
    let (log, _clock, ranges) = two_epochs(dir.path());
    log.set_purge_failpoint(Some(fp));
    let err = log.purge_expired(now_with_earliest(old_retain_until()), false).unwrap_err();
    assert!(matches!(err, LogError::Io { op: "failpoint", .. }), "{err}");
    drop(log);
    (dir, ranges)
}

#[test]
fn crash_after_announcing_the_purge_record_purges_nothing() {
    let (dir, ranges) = interrupted_purge(PurgeFailpoint::AfterAnnounce);
    let (log, report) = Log::open(dir.path(), options(FakeClock::at(T0_NS))).unwrap();
    assert_eq!(report.pending_system_record, None);
    assert_eq!(log.purged_until(), 0);
    assert!(ranges.iter().all(|r| r.0.exists()));
    assert_eq!(log.len(), OLD + NEW);
    // The purge can be run again.
    let r = log.purge_expired(now_with_earliest(old_retain_until()), false).unwrap();
    assert!(!r.files_deleted.is_empty());
}

#[test]
fn crash_after_the_purge_record_finishes_the_purge_at_open() {
    let (dir, ranges) = interrupted_purge(PurgeFailpoint::AfterRecord);
    let expected: Vec<PathBuf> =
        ranges.iter().filter(|r| r.2 <= OLD).map(|r| r.0.clone()).collect();
    // The record names at most 4 segments: the first group only.
    let first_group: Vec<PathBuf> = expected.iter().take(4).cloned().collect();
    let (log, report) = Log::open(dir.path(), options(FakeClock::at(T0_NS))).unwrap();
    let purge_record = report.pending_system_record.expect("the purge record was found");
    assert_eq!(log.purged_until(), first_index(&ranges[first_group.len()].0));
    assert_eq!(report.purge_leftovers_removed, first_group);
    assert!(first_group.iter().all(|p| !p.exists()));
    assert!(
        matches!(log.read(0), Err(LogError::Purged { purge_record: p, .. }) if p == purge_record)
    );
    drop(log);
    let (log, report) = Log::open(dir.path(), options(FakeClock::at(T0_NS))).unwrap();
    assert!(report.purge_leftovers_removed.is_empty());
    assert_eq!(report.pending_system_record, None);
    assert!(log.read(log.purged_until()).is_ok());
}

#[test]
fn crash_in_the_middle_of_the_deletions_is_finished_at_open() {
    let (dir, ranges) = interrupted_purge(PurgeFailpoint::AfterDeleting(1));
    let expected: Vec<PathBuf> =
        ranges.iter().filter(|r| r.2 <= OLD).map(|r| r.0.clone()).collect();
    assert!(!expected[0].exists() && expected[1].exists());
    let (log, report) = Log::open(dir.path(), options(FakeClock::at(T0_NS))).unwrap();
    let first_group: Vec<PathBuf> = expected.iter().take(4).cloned().collect();
    assert_eq!(report.purge_leftovers_removed, first_group[1..].to_vec());
    assert!(first_group.iter().all(|p| !p.exists()));
    assert_eq!(log.purged_until(), first_index(&ranges[first_group.len()].0));
    // The rest of the expired segments go with the next purge.
    let r = log.purge_expired(now_with_earliest(old_retain_until()), false).unwrap();
    let rest: Vec<PathBuf> = expected.iter().skip(4).cloned().collect();
    assert_eq!(r.files_deleted, rest);
}

#[test]
fn a_missing_segment_that_no_purge_accounts_for_is_still_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let (log, clock, _) = two_epochs(dir.path());
    let r = log.purge_expired(now_with_earliest(old_retain_until()), false).unwrap();
    drop(log);
    // Remove the first remaining segment: the purge did not delete it.
    let victim = segment_files(dir.path())[0].clone();
    assert_eq!(first_index(&victim), r.purged.end);
    std::fs::remove_file(&victim).unwrap();
    let err = Log::open(dir.path(), options(clock)).unwrap_err();
    assert!(matches!(err, LogError::Corruption { .. }), "{err}");
}

#[test]
fn a_purged_log_without_its_retention_state_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let (log, clock, _) = two_epochs(dir.path());
    log.purge_expired(now_with_earliest(old_retain_until()), false).unwrap();
    drop(log);
    std::fs::remove_file(dir.path().join("retention.state")).unwrap();
    let err = Log::open(dir.path(), options(clock)).unwrap_err();
    assert!(matches!(err, LogError::Corruption { .. }), "{err}");
}

#[test]
fn a_forged_purge_in_the_state_file_is_detected_against_the_tree() {
    let dir = tempfile::tempdir().unwrap();
    let (log, clock, _) = two_epochs(dir.path());
    let hold = log.place_hold(0..5, "audit").unwrap();
    drop(log);
    // Rewrite the hold's reason in the state copy, checksum fixed up: the copy no longer
    // hashes to the tree's leaf.
    let path = dir.path().join("retention.state");
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.windows(5).position(|w| w == b"audit").unwrap();
    bytes[at..at + 5].copy_from_slice(b"xudit");
    let n = bytes.len() - 4;
    let crc = crc32fast::hash(&bytes[..n]);
    bytes[n..].copy_from_slice(&crc.to_le_bytes());
    make_writable(&path);
    std::fs::write(&path, &bytes).unwrap();
    let err = Log::open(dir.path(), options(clock)).unwrap_err();
    assert!(matches!(err, LogError::TamperDetected { index: Some(i), .. } if i == hold.0), "{err}");
}

#[test]
fn verify_passes_after_a_purge() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _clock, _) = two_epochs(dir.path());
    log.purge_expired(now_with_earliest(old_retain_until()), false).unwrap();
    log.verify(&|_| {}).unwrap();
}
