//! Issue 5: flip each byte, one at a time, of every file of a small sealed log (segments, tree
//! files, checkpoint file, manifest, verifier key): `open` or `verify()` reports every flip,
//! none is accepted. A flip that open repairs (a torn-looking tail zeroed, a tree rebuilt from
//! the records) counts as reported: it shows in the `RecoveryReport`, and the repaired log has
//! the original records and roots (asserted).
//!
//! One range is excluded, by design: the stale slot of `tree/head` (the slot with the lower
//! sequence). It is the fallback copy for a torn head write; open ignores an invalid slot (a
//! torn write looks the same), the valid current slot is used, and the next tree sync
//! overwrites the stale slot. A flip there changes nothing the log uses or vouches for.
//! `coffre.lock` (empty, holds only an OS lock) is not part of this test; `retention.state`
//! is flipped byte by byte in tests/corruption_sweeps.rs (which also truncates every file).

mod checkpoint_support;

use checkpoint_support::{append, options};
use coffre_log::{Hash, HashAlgorithm, Log, LogOptions};
use std::path::{Path, PathBuf};

fn opts(alg: HashAlgorithm) -> LogOptions {
    LogOptions { segment_size_bytes: 512, payload_size_bytes_max: 96, ..options(alg) }
}

/// Files under test, relative to the log directory, with the byte ranges excluded.
fn files_under_test(dir: &Path) -> Vec<(PathBuf, std::ops::Range<usize>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let ours = name.starts_with("seg-")
            || ["coffre.manifest", "checkpoints.notes", "checkpoint.vkey"].contains(&name.as_str());
        if ours {
            out.push((PathBuf::from(name), 0..0));
        }
    }
    for entry in std::fs::read_dir(dir.join("tree")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let rel = Path::new("tree").join(&name);
        let excluded = if name == "head" {
            let b = std::fs::read(dir.join(&rel)).unwrap();
            let seq = |slot: usize| {
                u64::from_le_bytes(b[slot * 64 + 28..slot * 64 + 36].try_into().unwrap())
            };
            let stale = if seq(0) < seq(1) { 0 } else { 1 };
            stale * 64..stale * 64 + 64
        } else {
            0..0
        };
        out.push((rel, excluded));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.join("tree")).unwrap();
    for sub in [Path::new(""), Path::new("tree")] {
        for entry in std::fs::read_dir(from.join(sub)).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                let bytes = std::fs::read(entry.path()).unwrap();
                std::fs::write(to.join(sub).join(entry.file_name()), bytes).unwrap();
            }
        }
    }
}

fn scratch_root() -> tempfile::TempDir {
    // tmpfs when there is one: this test opens the log thousands of times.
    match tempfile::tempdir_in("/dev/shm") {
        Ok(d) => d,
        Err(_) => tempfile::tempdir().unwrap(),
    }
}

fn every_flip_is_reported(alg: HashAlgorithm) {
    let root = scratch_root();
    let pristine = root.path().join("pristine");
    let log = Log::create(&pristine, opts(alg)).unwrap();
    append(&log, 0, 5);
    log.checkpoint().unwrap();
    append(&log, 5, 9);
    log.checkpoint().unwrap();
    let (len, good_root): (u64, Hash) = (log.len(), log.root(9).unwrap());
    assert!(log.stats().segments_sealed >= 2, "the test needs sealed segments");
    drop(log);
    let files = files_under_test(&pristine);
    let mut flips = 0u64;
    let mut by_open = 0u64;
    let mut by_repair = 0u64;
    let mut by_verify = 0u64;
    let work = root.path().join("work");
    for (rel, excluded) in &files {
        let size = std::fs::read(pristine.join(rel)).unwrap().len();
        for at in (0..size).filter(|at| !excluded.contains(at)) {
            let _ = std::fs::remove_dir_all(&work);
            copy_dir(&pristine, &work);
            let path = work.join(rel);
            let mut bytes = std::fs::read(&path).unwrap();
            bytes[at] ^= 0x01;
            std::fs::write(&path, &bytes).unwrap();
            flips += 1;
            let (log, report) = match Log::open(&work, opts(alg)) {
                Err(_) => {
                    by_open += 1;
                    continue;
                }
                Ok(x) => x,
            };
            let repaired = report.torn_tail.is_some()
                || report.tree_leaves_rehashed > 0
                || report.checkpoint_bytes_cut > 0
                || report.resumed_roll;
            if repaired {
                by_repair += 1;
                assert_eq!(log.len(), len, "{rel:?} byte {at}: a repair lost records");
                assert_eq!(log.root(len).unwrap(), good_root, "{rel:?} byte {at}");
                log.verify(&|_| {}).unwrap();
                continue;
            }
            match log.verify(&|_| {}) {
                Err(_) => by_verify += 1,
                Ok(_) => panic!("flip of {rel:?} byte {at} was accepted by open and verify"),
            }
        }
    }
    eprintln!(
        "{alg:?}: {flips} flips in {} files: {by_open} refused by open, {by_repair} repaired and \
         reported by open, {by_verify} reported by verify",
        files.len()
    );
    assert_eq!(flips, by_open + by_repair + by_verify);
    assert!(by_verify > 0 && by_open > 0);
}

#[test]
fn every_flipped_byte_is_reported_blake3() {
    every_flip_is_reported(HashAlgorithm::Blake3);
}

// One hash mode is enough here: the detection paths do not depend on it (the proof and
// verify tests cover both), and each mode costs thousands of opens.
