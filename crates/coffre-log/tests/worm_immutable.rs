//! `LogOptions::immutable` with the real `chattr` (docs/RETENTION.md, "WORM"). Each sealed
//! segment either carries the immutable attribute (read back with `lsattr`; even root cannot
//! then write, rename or delete it) or its refusal (no CAP_LINUX_IMMUTABLE, a filesystem
//! without the attribute, no `chattr`) is counted in `LogStats::immutable_refused`: never
//! silently neither. Purge deletes such segments anyway (it runs `chattr -i` first). Run on
//! the temporary directory's filesystem (ext4 on the CI machine) and on /dev/shm (tmpfs),
//! whichever way each answers.

#[path = "retention_support/mod.rs"]
mod support;

use coffre_log::{Log, LogOptions};
use std::path::{Path, PathBuf};
use std::process::Command;
use support::{options, payload, segment_files, stamp, FakeClock, DAY_S, NS, T0_NS};

/// The tool by absolute path when it is in /usr/bin or /bin: the refusal case hides it from
/// the log through `PATH`, not from the test.
fn tool(name: &str) -> PathBuf {
    ["/usr/bin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from(name))
}

/// Whether `lsattr` shows the immutable flag on `path` (`None`: no `lsattr` answer).
fn has_immutable_flag(path: &Path) -> Option<bool> {
    let out = Command::new(tool("lsattr")).arg("-d").arg(path).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Some(text.split_whitespace().next()?.contains('i'))
}

/// Clears the attribute on whatever the test leaves, so the temporary directory can go.
struct ClearOnDrop(PathBuf);

impl Drop for ClearOnDrop {
    fn drop(&mut self) {
        if let Ok(entries) = std::fs::read_dir(&self.0) {
            for e in entries.flatten() {
                let _ = Command::new(tool("chattr")).arg("-i").arg(e.path()).output();
            }
        }
    }
}

fn opts(clock: std::sync::Arc<FakeClock>) -> LogOptions {
    LogOptions { immutable: true, ..options(clock) }
}

/// Returns whether the filesystem took the attribute.
fn sealed_segments_are_immutable_or_counted_and_purge_deletes_them(root: &Path) -> bool {
    let tmp = tempfile::tempdir_in(root).unwrap();
    let dir = tmp.path().join("log");
    let _clear = ClearOnDrop(dir.clone());
    let log = Log::create(&dir, opts(FakeClock::at(T0_NS))).unwrap();
    let mut i = 0;
    while log.stats().segments_sealed < 3 {
        log.append(&payload(i)).unwrap();
        i += 1;
    }
    let stats = log.stats();
    let segments = segment_files(&dir);
    let (active, sealed) = segments.split_last().unwrap();
    assert_eq!(sealed.len() as u64, stats.segments_sealed);
    let flags: Vec<Option<bool>> = sealed.iter().map(|p| has_immutable_flag(p)).collect();
    let taken = stats.immutable_refused == 0;
    if taken {
        // Every seal set it: lsattr shows it, and even root cannot write, rename or delete.
        assert!(flags.iter().all(|f| *f == Some(true)), "{root:?}: flags {flags:?}");
        let seg = &sealed[0];
        let write = std::fs::OpenOptions::new().write(true).open(seg);
        assert_eq!(write.unwrap_err().kind(), std::io::ErrorKind::PermissionDenied);
        assert!(std::fs::rename(seg, seg.with_extension("moved")).is_err());
        assert!(std::fs::remove_file(seg).is_err());
    } else {
        // Refused: each seal counted it, and no segment claims the attribute.
        assert_eq!(stats.immutable_refused, stats.segments_sealed, "{root:?}: every seal counted");
        assert!(flags.iter().all(|f| *f != Some(true)), "{root:?}: flags {flags:?}");
    }
    assert_ne!(has_immutable_flag(active), Some(true), "the active segment is writable");
    // Purge: all records are ten years old by then; the sealed segments go, immutable or not.
    let now = stamp(T0_NS + 3650 * DAY_S * NS, T0_NS + 3650 * DAY_S * NS + NS);
    let report = log.purge_expired(now, false).unwrap();
    assert_eq!(report.files_deleted, sealed.to_vec(), "{root:?}");
    assert!(sealed.iter().all(|p| !p.exists()), "{root:?}: a purged segment is still there");
    log.verify(&|_| {}).unwrap();
    drop(log);
    // The reopen accepts the purged log (and counts nothing new: no seal happened).
    let (log, _) = Log::open(&dir, opts(FakeClock::at(T0_NS))).unwrap();
    assert_eq!(log.purged_until(), report.purged.end);
    assert_eq!(log.stats().immutable_refused, 0);
    taken
}

#[test]
fn sealed_segments_are_immutable_or_the_refusal_is_counted_and_purge_deletes_them() {
    let on_tmp =
        sealed_segments_are_immutable_or_counted_and_purge_deletes_them(&std::env::temp_dir());
    let mut taken = vec![("temp dir", on_tmp)];
    if Path::new("/dev/shm").is_dir() {
        let on_shm =
            sealed_segments_are_immutable_or_counted_and_purge_deletes_them(Path::new("/dev/shm"));
        taken.push(("/dev/shm", on_shm));
    }
    // A refusal for real: the log finds no `chattr` (as on a host without e2fsprogs). The
    // only test of this binary, so changing PATH races with nothing.
    let path = std::env::var_os("PATH");
    std::env::set_var("PATH", "/nonexistent");
    let without_chattr =
        sealed_segments_are_immutable_or_counted_and_purge_deletes_them(&std::env::temp_dir());
    match path {
        Some(p) => std::env::set_var("PATH", p),
        None => std::env::remove_var("PATH"),
    }
    assert!(!without_chattr, "the attribute was set without chattr");
    eprintln!("worm_immutable: immutable attribute taken: {taken:?}; without chattr: refused");
    // CI runs as root on ext4: there the attribute must really be set, not only counted.
    if std::env::var_os("COFFRE_REQUIRE_DAEMONS").is_some_and(|v| v == "1") {
        assert!(on_tmp, "chattr +i was refused on the temporary directory's filesystem");
    }
}
