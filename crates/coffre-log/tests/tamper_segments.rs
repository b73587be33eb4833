//! Issue 5's file-level tampering: segments swapped, or replaced by a segment of another log.
//! Each must be refused by `open` or reported by `verify()`, never accepted.

mod checkpoint_support;

use checkpoint_support::{append, options, payload, quiet, segments};
use coffre_log::{HashAlgorithm, Log, LogError};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// A log of 30 records over several sealed segments, with a checkpoint at 30.
fn sealed_log() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::create(dir.path(), options(HashAlgorithm::Blake3)).unwrap();
    append(&log, 0, 30);
    log.checkpoint().unwrap();
    dir
}

fn writable(path: &Path) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
}

/// `Err` from open, or from verify() on the opened log: the tampering was caught.
fn caught(dir: &Path) -> Result<(), LogError> {
    let (log, _) = Log::open(dir, options(HashAlgorithm::Blake3))?;
    log.verify(&quiet)?;
    Ok(())
}

#[test]
fn two_sealed_segments_swapped_are_caught() {
    let dir = sealed_log();
    let segs = segments(dir.path());
    assert!(segs.len() >= 4, "the test needs several sealed segments");
    let (a, b) = (&segs[0], &segs[1]);
    let tmp = dir.path().join("swap.tmp");
    std::fs::rename(a, &tmp).unwrap();
    std::fs::rename(b, a).unwrap();
    std::fs::rename(&tmp, b).unwrap();
    let err = caught(dir.path()).expect_err("a swapped pair of segments was accepted");
    assert!(matches!(err, LogError::Corruption { .. } | LogError::TamperDetected { .. }), "{err}");
}

#[test]
fn a_sealed_segment_from_another_log_is_caught() {
    let genuine = sealed_log();
    // Another log with the same options and record lengths, one record changed: its segments
    // have exactly the genuine boundaries, names and footers of the right shape.
    let other = tempfile::tempdir().unwrap();
    let forged = Log::create(other.path(), options(HashAlgorithm::Blake3)).unwrap();
    for i in 0..30u64 {
        let mut p = payload(i);
        if i == 5 {
            p[0] ^= 0x02;
        }
        forged.append(&p).unwrap();
    }
    drop(forged);
    let genuine_segs = segments(genuine.path());
    let forged_segs = segments(other.path());
    let holding_5 = genuine_segs
        .iter()
        .zip(&forged_segs)
        .find(|(g, f)| std::fs::read(g).unwrap() != std::fs::read(f).unwrap())
        .expect("one segment differs");
    assert_eq!(holding_5.0.file_name(), holding_5.1.file_name(), "same boundaries in both logs");
    writable(holding_5.0);
    std::fs::copy(holding_5.1, holding_5.0).unwrap();
    let err = caught(genuine.path()).expect_err("a foreign segment was accepted");
    assert!(matches!(err, LogError::Corruption { .. } | LogError::TamperDetected { .. }), "{err}");
}

#[test]
fn a_whole_foreign_log_under_the_genuine_checkpoints_is_caught() {
    let genuine = sealed_log();
    let other = tempfile::tempdir().unwrap();
    let forged = Log::create(other.path(), options(HashAlgorithm::Blake3)).unwrap();
    for i in 0..30u64 {
        let mut p = payload(i);
        p[0] ^= 0x04;
        forged.append(&p).unwrap();
    }
    drop(forged);
    // Keep the genuine checkpoint file and key; take every other file from the forged log.
    for entry in std::fs::read_dir(other.path()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_owned();
        if name == "checkpoints.notes" || name == "checkpoint.vkey" || name == "coffre.lock" {
            continue;
        }
        let target = genuine.path().join(&name);
        if path.is_dir() {
            for inner in std::fs::read_dir(&path).unwrap() {
                let inner = inner.unwrap().path();
                let to = target.join(inner.file_name().unwrap());
                if to.exists() {
                    writable(&to);
                }
                std::fs::copy(&inner, &to).unwrap();
            }
        } else {
            if target.exists() {
                writable(&target);
            }
            std::fs::copy(&path, &target).unwrap();
        }
    }
    let err = caught(genuine.path()).expect_err("a foreign log passed the genuine checkpoint");
    assert!(matches!(err, LogError::Corruption { .. } | LogError::TamperDetected { .. }), "{err}");
}
