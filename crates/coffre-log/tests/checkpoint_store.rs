//! Checkpoints: round trip, recorded key, torn checkpoint file tail, automatic checkpoints.

mod checkpoint_support;

use checkpoint_support::{append, options, other_signer, signer};
use coffre_log::checkpoint::open_checkpoint;
use coffre_log::{
    AutoCheckpoint, HashAlgorithm, Log, LogError, LogOptions, CHECKPOINTS_FILE, VKEY_FILE,
};
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

fn opts() -> LogOptions {
    options(HashAlgorithm::Blake3)
}

#[test]
fn checkpoint_round_trips_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::create(dir.path(), opts()).unwrap();
    assert_eq!(log.latest_checkpoint().unwrap(), None);
    assert_eq!(log.verifier_key(), None);
    let empty = log.checkpoint().unwrap();
    assert_eq!(empty.checkpoint.size, 0);
    append(&log, 0, 10);
    let before = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let stored = log.checkpoint().unwrap();
    let cp = &stored.checkpoint;
    assert_eq!((cp.origin.as_str(), cp.size), ("coffre.test/log", 10));
    assert_eq!(cp.root, log.root(10).unwrap());
    let t = cp.timestamp.expect("coffre-time extension");
    assert!(t.latest_ns() as u128 >= before.as_nanos() - 1_000_000_000);
    let vkey = log.verifier_key().unwrap();
    assert_eq!(vkey, signer().verifier());
    assert_eq!(open_checkpoint(stored.note.as_bytes(), &vkey).unwrap(), *cp);
    assert_eq!(log.latest_checkpoint().unwrap().as_ref(), Some(&stored));
    drop(log);

    let mode = std::fs::metadata(dir.path().join(VKEY_FILE)).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o444);
    let text = std::fs::read_to_string(dir.path().join(VKEY_FILE)).unwrap();
    assert_eq!(text, format!("{vkey}\n"));

    let (log, report) = Log::open(dir.path(), opts()).unwrap();
    assert_eq!(report.checkpoint_bytes_cut, 0);
    assert_eq!(log.checkpoints().unwrap(), vec![empty, stored.clone()]);
    assert_eq!(log.latest_checkpoint().unwrap(), Some(stored));
    assert_eq!(log.verifier_key(), Some(vkey));
    let ro = Log::open_read_only(dir.path(), LogOptions::default()).unwrap();
    assert_eq!(ro.checkpoints().unwrap().len(), 2);
    assert!(matches!(ro.checkpoint_with(&signer()), Err(LogError::ReadOnly)));
}

#[test]
fn checkpoint_without_signer_or_with_another_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let no_signer = LogOptions { checkpoint_signer: None, ..opts() };
    let log = Log::create(dir.path(), no_signer.clone()).unwrap();
    append(&log, 0, 3);
    assert!(matches!(log.checkpoint(), Err(LogError::NoSigner)));
    log.checkpoint_with(&signer()).unwrap();
    let err = log.checkpoint_with(&other_signer()).unwrap_err();
    assert!(matches!(err, LogError::CheckpointKeyMismatch { .. }), "{err}");
    assert_eq!(log.checkpoints().unwrap().len(), 1);
    assert!(!log.is_poisoned());
    drop(log);
    // Opening with another configured signer is refused up front.
    let other = LogOptions { checkpoint_signer: Some(other_signer()), ..opts() };
    assert!(matches!(Log::open(dir.path(), other), Err(LogError::CheckpointKeyMismatch { .. })));
}

#[test]
fn torn_checkpoint_tail_is_cut_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::create(dir.path(), opts()).unwrap();
    append(&log, 0, 4);
    let first = log.checkpoint().unwrap();
    append(&log, 4, 8);
    log.checkpoint().unwrap();
    drop(log);
    let path = dir.path().join(CHECKPOINTS_FILE);
    let whole = std::fs::read(&path).unwrap();
    // The second frame starts after the header (16) + the first frame (16 + note).
    let second_at = 16 + 16 + first.note.len();
    for cut_at in [second_at + 1, second_at + 15, second_at + 16, whole.len() - 1] {
        std::fs::write(&path, &whole[..cut_at]).unwrap();
        let (log, report) = Log::open(dir.path(), opts()).unwrap();
        assert_eq!(report.checkpoint_bytes_cut, (cut_at - second_at) as u64, "cut at {cut_at}");
        assert_eq!(log.latest_checkpoint().unwrap(), Some(first.clone()));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), second_at as u64);
        // The next checkpoint lands where the torn one was.
        let again = log.checkpoint().unwrap();
        assert_eq!(log.checkpoints().unwrap(), vec![first.clone(), again]);
        drop(log);
    }
    // A tail of zeros (length extended, data never written) is torn too.
    let mut zeros = std::fs::read(&path).unwrap();
    let keep = zeros.len();
    zeros.resize(keep + 600, 0);
    std::fs::write(&path, &zeros).unwrap();
    let (_, report) = Log::open(dir.path(), opts()).unwrap();
    assert_eq!(report.checkpoint_bytes_cut, 600);
}

#[test]
fn damaged_last_checkpoint_frame_is_not_mistaken_for_a_torn_one() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::create(dir.path(), opts()).unwrap();
    append(&log, 0, 4);
    log.checkpoint().unwrap();
    drop(log);
    let path = dir.path().join(CHECKPOINTS_FILE);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 5;
    bytes[last] ^= 0x20;
    std::fs::write(&path, &bytes).unwrap();
    let err = Log::open(dir.path(), opts()).unwrap_err();
    assert!(matches!(err, LogError::TamperDetected { .. }), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "nothing was cut");
}

#[test]
fn auto_checkpoints_every_n_records() {
    let dir = tempfile::tempdir().unwrap();
    let o = LogOptions {
        auto_checkpoint: Some(AutoCheckpoint { every_records: Some(5), every: None }),
        ..opts()
    };
    let log = Log::create(dir.path(), o).unwrap();
    append(&log, 0, 12);
    // What every 5 records promises once appends stop: fewer than 5 records after the latest
    // checkpoint. (Waiting for a size of 10 was wrong: a checkpointer woken late, under load,
    // may cover 8 records, after which 4 more call for none.)
    let deadline = Instant::now() + Duration::from_secs(20);
    while log.latest_checkpoint().unwrap().map_or(0, |c| c.checkpoint.size) < 12 - 5 + 1 {
        assert!(Instant::now() < deadline, "no automatic checkpoint");
        std::thread::sleep(Duration::from_millis(10));
    }
    let all = log.checkpoints().unwrap();
    assert!(all.windows(2).all(|w| w[0].checkpoint.size <= w[1].checkpoint.size));
    for c in &all {
        assert_eq!(c.checkpoint.root, log.root(c.checkpoint.size).unwrap());
    }
    assert!(!log.is_poisoned());
}

#[test]
fn auto_checkpoints_every_period() {
    let dir = tempfile::tempdir().unwrap();
    let o = LogOptions {
        auto_checkpoint: Some(AutoCheckpoint {
            every_records: None,
            every: Some(Duration::from_millis(50)),
        }),
        ..opts()
    };
    let log = Log::create(dir.path(), o).unwrap();
    append(&log, 0, 3);
    let deadline = Instant::now() + Duration::from_secs(20);
    while log.latest_checkpoint().unwrap().map_or(0, |c| c.checkpoint.size) < 3 {
        assert!(Instant::now() < deadline, "no periodic checkpoint");
        std::thread::sleep(Duration::from_millis(10));
    }
    // With nothing new, no further checkpoint is written.
    let count = log.checkpoints().unwrap().len();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(log.checkpoints().unwrap().len(), count);
}

#[test]
fn auto_checkpoints_need_a_signer() {
    let dir = tempfile::tempdir().unwrap();
    let o = LogOptions {
        checkpoint_signer: None,
        auto_checkpoint: Some(AutoCheckpoint { every_records: Some(5), every: None }),
        ..opts()
    };
    assert!(matches!(Log::create(dir.path(), o), Err(LogError::InvalidOptions(_))));
}
