//! Open detects a log that disagrees with its own latest checkpoint or with a trusted one.

mod checkpoint_support;

use checkpoint_support::{append, is_tamper, options, other_signer, segments, signer};
use coffre_log::checkpoint::{Checkpoint, SignedCheckpoint};
use coffre_log::{HashAlgorithm, Log, LogError, LogOptions, CHECKPOINTS_FILE, VKEY_FILE};
use std::os::unix::fs::PermissionsExt;

fn opts() -> LogOptions {
    options(HashAlgorithm::Sha256)
}

/// A log of 20 records (several sealed segments) with a checkpoint at 20.
fn log_with_checkpoint() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::create(dir.path(), opts()).unwrap();
    append(&log, 0, 20);
    let note = log.checkpoint().unwrap().note;
    (dir, note)
}

/// The same 20 records, checkpointed under another key.
fn log_resigned_by_another_key() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let forged =
        Log::create(dir.path(), LogOptions { checkpoint_signer: Some(other_signer()), ..opts() })
            .unwrap();
    append(&forged, 0, 20);
    forged.checkpoint().unwrap();
    dir
}

#[test]
fn log_truncated_below_its_checkpoint_is_tamper_not_a_torn_tail() {
    let (dir, _) = log_with_checkpoint();
    // Remove the last record of the active segment by zeroing it: to recovery it looks like a
    // torn tail, but the checkpoint covers it.
    let active = segments(dir.path()).pop().unwrap();
    let bytes = std::fs::read(&active).unwrap();
    let header = 32;
    assert!(bytes[header..header + 4] == *b"CfR1", "active segment holds records");
    let mut cut = bytes.clone();
    for b in &mut cut[header..] {
        *b = 0;
    }
    std::fs::write(&active, &cut).unwrap();
    let err = Log::open(dir.path(), opts()).unwrap_err();
    assert!(is_tamper(&err), "{err}");
    assert_eq!(std::fs::read(&active).unwrap(), cut, "recovery cut nothing");
    assert!(is_tamper(&Log::open_read_only(dir.path(), opts()).unwrap_err()));
}

#[test]
fn deleted_segment_files_below_the_checkpoint_are_detected() {
    let (dir, _) = log_with_checkpoint();
    let segs = segments(dir.path());
    // Drop the active segment and make the last sealed one the end of the log.
    std::fs::remove_file(segs.last().unwrap()).unwrap();
    let err = Log::open(dir.path(), opts()).unwrap_err();
    assert!(is_tamper(&err), "{err}");
}

#[test]
fn changed_root_is_detected() {
    let (dir, _) = log_with_checkpoint();
    // Replace a record with another one, re-framed consistently: only the hashes can tell.
    // Simplest faithful attack on the derived data: rebuild the tree from altered leaves is
    // out of reach here, so alter the stored checkpoint instead, re-signed by the same key.
    let log = Log::open_read_only(dir.path(), opts()).unwrap();
    let mut cp = log.latest_checkpoint().unwrap().unwrap().checkpoint;
    drop(log);
    cp.root = HashAlgorithm::Sha256.leaf_hash(b"forged");
    let forged = SignedCheckpoint::sign(&cp, &signer()).unwrap();
    let trusted = LogOptions { trusted_checkpoint: Some(forged), ..opts() };
    let err = Log::open(dir.path(), trusted).unwrap_err();
    assert!(is_tamper(&err), "{err}");

    // A tree hash altered on disk: the root at the checkpoint's size changes.
    let level = dir.path().join("tree").join("level-04.hashes");
    let mut bytes = std::fs::read(&level).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&level, &bytes).unwrap();
    let err = Log::open(dir.path(), opts()).unwrap_err();
    assert!(is_tamper(&err), "{err}");
}

#[test]
fn checkpoints_signed_by_another_key_are_detected() {
    let (dir, _) = log_with_checkpoint();
    // The attacker swaps the recorded key: the stored checkpoints no longer verify.
    let vkey = dir.path().join(VKEY_FILE);
    std::fs::set_permissions(&vkey, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(&vkey, format!("{}\n", other_signer().verifier())).unwrap();
    let no_signer = LogOptions { checkpoint_signer: None, ..opts() };
    let err = Log::open(dir.path(), no_signer.clone()).unwrap_err();
    assert!(is_tamper(&err), "{err}");
    // Missing key with checkpoints present.
    std::fs::remove_file(&vkey).unwrap();
    assert!(is_tamper(&Log::open(dir.path(), no_signer).unwrap_err()));
}

#[test]
fn log_resigned_by_another_key_fails_against_the_auditors_key() {
    let (dir, trusted_note) = log_with_checkpoint();
    // Rewritten with another key, the log is self-consistent again, but not against the key
    // the auditor trusts.
    let forged_dir = log_resigned_by_another_key();
    let audited = LogOptions {
        checkpoint_signer: None,
        trusted_verifier: Some(signer().verifier()),
        trusted_checkpoint: Some(trusted_note),
        ..opts()
    };
    let err = Log::open(forged_dir.path(), audited.clone()).unwrap_err();
    assert!(is_tamper(&err), "{err}");
    // The genuine log passes the same check.
    Log::open(dir.path(), audited).unwrap();
}

#[test]
fn a_trusted_key_alone_catches_a_log_resigned_by_another_key() {
    let (dir, _) = log_with_checkpoint();
    let forged_dir = log_resigned_by_another_key();
    let audited = LogOptions {
        checkpoint_signer: None,
        trusted_verifier: Some(signer().verifier()),
        ..opts()
    };
    let err = Log::open(forged_dir.path(), audited.clone()).unwrap_err();
    assert!(is_tamper(&err), "{err}");
    assert!(is_tamper(&Log::open_read_only(forged_dir.path(), audited.clone()).unwrap_err()));
    Log::open(dir.path(), audited).unwrap();
}

#[test]
fn trusted_checkpoint_mismatch_is_detected() {
    let (dir, _) = log_with_checkpoint();
    let sign = |size, root| {
        let cp = Checkpoint {
            origin: "coffre.test/log".into(),
            size,
            root,
            timestamp: None,
            extensions: vec![],
        };
        SignedCheckpoint::sign(&cp, &signer()).unwrap()
    };
    let ro = Log::open_read_only(dir.path(), opts()).unwrap();
    let (root5, root20) = (ro.root(5).unwrap(), ro.root(20).unwrap());
    drop(ro);
    let with = |note: String| LogOptions {
        trusted_checkpoint: Some(note),
        trusted_verifier: Some(signer().verifier()),
        ..opts()
    };
    // Genuine older and current heads pass.
    Log::open(dir.path(), with(sign(5, root5))).unwrap();
    Log::open_read_only(dir.path(), with(sign(20, root20))).unwrap();
    // A head the log is shorter than, a different root, another origin, a bad signature.
    assert!(is_tamper(&Log::open(dir.path(), with(sign(21, root20))).unwrap_err()));
    assert!(is_tamper(&Log::open(dir.path(), with(sign(5, root20))).unwrap_err()));
    let other_origin = Checkpoint {
        origin: "elsewhere".into(),
        size: 5,
        root: root5,
        timestamp: None,
        extensions: vec![],
    };
    let note = SignedCheckpoint::sign(&other_origin, &signer()).unwrap();
    assert!(is_tamper(&Log::open(dir.path(), with(note)).unwrap_err()));
    let by_other = {
        let cp = Checkpoint {
            origin: "coffre.test/log".into(),
            size: 5,
            root: root5,
            timestamp: None,
            extensions: vec![],
        };
        SignedCheckpoint::sign(&cp, &other_signer()).unwrap()
    };
    assert!(is_tamper(&Log::open(dir.path(), with(by_other)).unwrap_err()));
    // A trusted note without any key to check it with is an options error.
    let bare = tempfile::tempdir().unwrap();
    let fresh = Log::create(bare.path(), LogOptions { checkpoint_signer: None, ..opts() }).unwrap();
    drop(fresh);
    let no_key = LogOptions {
        checkpoint_signer: None,
        trusted_checkpoint: Some(sign(0, HashAlgorithm::Sha256.empty_root())),
        ..opts()
    };
    assert!(matches!(Log::open(bare.path(), no_key), Err(LogError::InvalidOptions(_))));
    let _ = std::fs::metadata(dir.path().join(CHECKPOINTS_FILE)).unwrap();
}
