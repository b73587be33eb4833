//! Retention policy: the reserved prefix, the one-day minimum, extensions that are recorded,
//! covered by the tree, never shorten, survive reopening; the state file and its rebuild.

mod retention_support;

use coffre_log::merkle::verify_inclusion;
use coffre_log::retention::PurgeFailpoint;
use coffre_log::system::SystemRecord;
use coffre_log::{Log, LogError, LogOptions, SYSTEM_RECORD_PREFIX};
use retention_support::*;
use std::time::Duration;

#[test]
fn user_payloads_with_the_reserved_prefix_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::create(dir.path(), options(FakeClock::at(T0_NS))).unwrap();
    let mut p = SYSTEM_RECORD_PREFIX.to_vec();
    p.extend_from_slice(b"forged purge");
    assert!(matches!(log.append(&p), Err(LogError::ReservedPayload)));
    assert!(matches!(log.append_batch(&[b"ok".to_vec(), p]), Err(LogError::ReservedPayload)));
    assert_eq!(log.len(), 0);
    // A shorter prefix is an ordinary payload.
    log.append(&SYSTEM_RECORD_PREFIX[..7]).unwrap();
    assert!(!log.read(0).unwrap().is_system());
}

#[test]
fn a_retention_shorter_than_one_day_is_refused_at_creation() {
    let dir = tempfile::tempdir().unwrap();
    let opts = LogOptions { retention_seconds: DAY_S - 1, ..options(FakeClock::at(T0_NS)) };
    assert!(matches!(Log::create(dir.path(), opts), Err(LogError::InvalidOptions(_))));
    assert!(Log::create(dir.path(), options(FakeClock::at(T0_NS))).is_ok());
}

#[test]
fn the_default_retention_is_five_years() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::create(dir.path(), LogOptions::default()).unwrap();
    let five_years = Duration::from_secs(157_784_760);
    assert_eq!(log.retention().current, five_years);
    assert_eq!(log.retention().retention_for(0), five_years);
}

#[test]
fn an_extension_is_a_system_record_covered_by_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::create(dir.path(), options(FakeClock::at(T0_NS))).unwrap();
    log.append(b"a").unwrap();
    let r =
        log.extend_retention(Duration::from_secs(3 * DAY_S), "délai OPCO porté à 3 jours").unwrap();
    log.append(b"b").unwrap();
    let rec = log.read(r.index).unwrap();
    assert!(rec.is_system());
    assert_eq!(
        SystemRecord::decode(&rec.payload).unwrap(),
        SystemRecord::RetentionExtended {
            previous_seconds: DAY_S,
            retention_seconds: 3 * DAY_S,
            reason: "délai OPCO porté à 3 jours".into(),
        }
    );
    let alg = log.hash_algorithm();
    let size = log.len();
    let proof = log.prove_inclusion(r.index, size).unwrap();
    verify_inclusion(alg, r.index, size, &r.leaf_hash, &proof.path, &log.root(size).unwrap())
        .unwrap();
    assert_eq!(rec.leaf_hash(alg), r.leaf_hash);
}

#[test]
fn retention_is_never_shortened_and_applies_by_log_order() {
    let dir = tempfile::tempdir().unwrap();
    let clock = FakeClock::at(T0_NS);
    let log = Log::create(dir.path(), options(clock.clone())).unwrap();
    log.append(b"before").unwrap();
    for bad in [DAY_S - 1, DAY_S, 1] {
        assert!(matches!(
            log.extend_retention(Duration::from_secs(bad), "shorter"),
            Err(LogError::RetentionNotExtended { current_seconds: DAY_S, .. })
        ));
    }
    let ext = log.extend_retention(Duration::from_secs(2 * DAY_S), "longer").unwrap();
    assert!(matches!(
        log.extend_retention(Duration::from_secs(2 * DAY_S), "same"),
        Err(LogError::RetentionNotExtended { .. })
    ));
    assert!(matches!(
        log.extend_retention(Duration::from_secs(3 * DAY_S), ""),
        Err(LogError::InvalidRetentionRequest(_))
    ));
    let after = log.append(b"after").unwrap();
    let check = |log: &Log| {
        let p = log.retention();
        assert_eq!(p.current, Duration::from_secs(2 * DAY_S));
        assert_eq!(p.retention_for(0), Duration::from_secs(DAY_S));
        assert_eq!(p.retention_for(ext.index), Duration::from_secs(2 * DAY_S));
        assert_eq!(p.retention_for(after.index), Duration::from_secs(2 * DAY_S));
        assert_eq!(p.periods.len(), 2);
        assert_eq!(p.periods[1].set_by, Some(ext.index));
    };
    check(&log);
    drop(log);
    let (log, report) = Log::open(dir.path(), options(clock.clone())).unwrap();
    assert!(!report.retention_state_rebuilt);
    check(&log);
    check(&Log::open_read_only(dir.path(), options(clock)).unwrap());
}

#[test]
fn a_lost_state_file_is_rebuilt_from_the_log_while_nothing_was_purged() {
    let dir = tempfile::tempdir().unwrap();
    let clock = FakeClock::at(T0_NS);
    let log = Log::create(dir.path(), options(clock.clone())).unwrap();
    log.append(b"x").unwrap();
    log.extend_retention(Duration::from_secs(2 * DAY_S), "r").unwrap();
    let hold = log.place_hold(0..1, "h").unwrap();
    drop(log);
    std::fs::remove_file(dir.path().join("retention.state")).unwrap();
    let (log, report) = Log::open(dir.path(), options(clock.clone())).unwrap();
    assert!(report.retention_state_rebuilt);
    assert_eq!(log.retention().current, Duration::from_secs(2 * DAY_S));
    assert_eq!(log.holds()[0].id, hold);
    drop(log);
    let (_, report) = Log::open(dir.path(), options(clock)).unwrap();
    assert!(!report.retention_state_rebuilt);
}

#[test]
fn a_system_record_in_flight_at_a_crash_is_found_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let clock = FakeClock::at(T0_NS);
    let log = Log::create(dir.path(), options(clock.clone())).unwrap();
    log.append(b"x").unwrap();
    // Announced but never appended: nothing to find.
    log.set_purge_failpoint(Some(PurgeFailpoint::AfterAnnounce));
    assert!(log.extend_retention(Duration::from_secs(2 * DAY_S), "lost").is_err());
    drop(log);
    let (log, report) = Log::open(dir.path(), options(clock)).unwrap();
    assert_eq!(report.pending_system_record, None);
    assert_eq!(log.retention().current, Duration::from_secs(DAY_S));
    assert_eq!(log.len(), 1);
    log.extend_retention(Duration::from_secs(2 * DAY_S), "again").unwrap();
}

#[test]
fn the_state_file_checksum_catches_a_flipped_byte() {
    let dir = tempfile::tempdir().unwrap();
    let clock = FakeClock::at(T0_NS);
    let log = Log::create(dir.path(), options(clock.clone())).unwrap();
    log.place_hold(0..10, "h").unwrap();
    drop(log);
    let path = dir.path().join("retention.state");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[20] ^= 1;
    make_writable(&path);
    std::fs::write(&path, &bytes).unwrap();
    // Nothing was purged: the damaged state is rebuilt from the log, the hold is back.
    let (log, report) = Log::open(dir.path(), options(clock)).unwrap();
    assert!(report.retention_state_rebuilt);
    assert_eq!(log.holds().len(), 1);
}
