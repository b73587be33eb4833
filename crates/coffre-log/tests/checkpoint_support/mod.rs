//! Helpers shared by the checkpoint and verify tests.
#![allow(dead_code)]

use coffre_log::note::NoteSigner;
use coffre_log::{HashAlgorithm, Log, LogError, LogOptions, Preallocation};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A fixed signing key (deterministic tests).
pub fn signer() -> Arc<NoteSigner> {
    Arc::new(NoteSigner::from_seed("coffre.test/log", &[7u8; 32]).unwrap())
}

/// Another key with the same name.
pub fn other_signer() -> Arc<NoteSigner> {
    Arc::new(NoteSigner::from_seed("coffre.test/log", &[8u8; 32]).unwrap())
}

/// Small segments (rolls every few records), a signer, origin `coffre.test/log`.
pub fn options(alg: HashAlgorithm) -> LogOptions {
    LogOptions {
        hash_algorithm: Some(alg),
        segment_size_bytes: 1024,
        payload_size_bytes_max: 128,
        preallocation: Preallocation::ZeroFill,
        origin: "coffre.test/log".into(),
        checkpoint_signer: Some(signer()),
        ..Default::default()
    }
}

/// Record `i`'s payload: varying lengths, so padding and rolls vary.
pub fn payload(i: u64) -> Vec<u8> {
    let len = (i * 37 % 90) as usize + 1;
    (0..len).map(|k| (i as u8).wrapping_mul(31).wrapping_add(k as u8) | 1).collect()
}

/// Appends records `from..to`.
pub fn append(log: &Log, from: u64, to: u64) {
    for i in from..to {
        assert_eq!(log.append(&payload(i)).unwrap().index, i);
    }
}

/// Whether `e` is a tamper report.
pub fn is_tamper(e: &LogError) -> bool {
    matches!(e, LogError::TamperDetected { .. })
}

/// XORs byte `at` of `path` with `mask` (making the file writable first).
pub fn flip(path: &Path, at: u64, mask: u8) {
    let mode = std::fs::metadata(path).unwrap().permissions().mode();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at as usize] ^= mask;
    std::fs::write(path, &bytes).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
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

/// Does nothing with progress reports.
pub fn quiet(_: coffre_log::VerifyProgress) {}
