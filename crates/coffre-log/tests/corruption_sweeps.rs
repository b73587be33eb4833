//! Corruption sweeps under a memory limit (issue 10). Two small logs are built: one with a
//! legal hold and a purge (so `retention.state` carries history and the tree cannot be
//! rebuilt), one with a hold and no purge. Every file of each (sealed and active segments, tree
//! level files, tree head, `checkpoints.notes`, manifest, `retention.state`,
//! `checkpoint.vkey`) is truncated at every offset, and every byte of `retention.state` is
//! flipped (tests/verify_every_byte_flip.rs flips the other files). After each change, on a
//! fresh copy: `open_read_only`, then `open` and `verify()`, each either returns a typed error
//! other than `Io` (no "read past the end of the file") or a correct state; for a writable open
//! that verifies, every record the last checkpoint covers is there and byte-identical, and no
//! record differs from the one written. A flipped `retention.state` byte is never accepted
//! silently: open refuses it, or (no purge yet) rebuilds the state from the log and says so.
//!
//! The sweep runs in a child process (this binary re-executed with `COFFRE_SWEEP_CHILD=1`)
//! whose address space is capped with `setrlimit(RLIMIT_AS)` (`COFFRE_SWEEP_AS_MIB`, default
//! 256; the sweep runs in 128): an allocation sized from a damaged length field aborts the
//! child and fails the test instead of swapping the machine; the parent also kills it after
//! 300 s (a hang).

#[path = "retention_support/mod.rs"]
mod support;

use coffre_log::note::NoteSigner;
use coffre_log::{Log, LogError, LogOptions, Preallocation, Record};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{stamp, FakeClock, DAY_S, NS, T0_NS};

const CHILD_ENV: &str = "COFFRE_SWEEP_CHILD";
const CHILD_TEST: &str = "sweep_child";

fn options() -> LogOptions {
    LogOptions {
        // A purge record names one 96-byte segment entry at this payload limit.
        segment_size_bytes: 640,
        payload_size_bytes_max: 160,
        preallocation: Preallocation::None,
        clock: FakeClock::at(T0_NS),
        retention_seconds: DAY_S,
        origin: "coffre.test/sweep".into(),
        checkpoint_signer: Some(Arc::new(
            NoteSigner::from_seed("coffre.test/sweep", &[5u8; 32]).unwrap(),
        )),
        ..Default::default()
    }
}

fn payload(i: u64) -> Vec<u8> {
    (0..(i * 29 % 70) as usize + 1).map(|k| (i as u8).wrapping_mul(7) ^ k as u8 | 1).collect()
}

/// A pristine log and what a correct state must keep.
struct Pristine {
    name: &'static str,
    dir: PathBuf,
    /// Every record written (`None` if purged), by index.
    records: Vec<Option<Record>>,
    /// Size of the last checkpoint: the records it covers must survive any recovery.
    checkpoint_size: u64,
    purged_until: u64,
}

fn build(root: &Path, name: &'static str, purge: bool) -> Pristine {
    let dir = root.join(name);
    let log = Log::create(&dir, options()).unwrap();
    for i in 0..8 {
        log.append(&payload(i)).unwrap();
    }
    log.checkpoint().unwrap();
    // Held from index 6 on: a purge stops at the segment holding it.
    log.place_hold(6..1000, "kept for the sweep").unwrap();
    if purge {
        let now = stamp(T0_NS + 3650 * DAY_S * NS, T0_NS + 3650 * DAY_S * NS + NS);
        let r = log.purge_expired(now, false).unwrap();
        assert!(!r.files_deleted.is_empty(), "the sweep needs a purge that deleted files");
    }
    while log.len() < 20 {
        log.append(&payload(log.len())).unwrap();
    }
    let checkpoint_size = log.checkpoint().unwrap().checkpoint.size;
    log.append(&payload(log.len())).unwrap();
    assert!(log.stats().segments_sealed >= 2);
    let purged_until = log.purged_until();
    let records = (0..log.len()).map(|i| log.read(i).ok()).collect();
    drop(log);
    Pristine { name, dir, records, checkpoint_size, purged_until }
}

/// Every file of the log, relative to its directory (the lock file excepted: empty).
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for sub in [Path::new(""), Path::new("tree")] {
        for entry in std::fs::read_dir(dir.join(sub)).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() && entry.file_name() != "coffre.lock" {
                out.push(sub.join(entry.file_name()));
            }
        }
    }
    out.sort();
    out
}

fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to.join("tree")).unwrap();
    for rel in files(from) {
        std::fs::write(to.join(&rel), std::fs::read(from.join(&rel)).unwrap()).unwrap();
    }
}

#[derive(Debug, Default)]
struct Tally {
    cases: u64,
    refused_by_open: u64,
    refused_by_verify: u64,
    recovered: u64,
    /// Recovered opens that report a repair (torn tail, tree re-hash, state rebuilt, ...).
    repaired: u64,
}

/// The error must be one that names the damage, not an I/O error on a file read past its end.
fn typed(e: &LogError, what: &str) {
    assert!(!matches!(e, LogError::Io { .. }), "{what}: an Io error, not a typed one: {e}");
}

fn same(r: &Record, p: &Pristine, i: u64, what: &str) {
    let want = p.records.get(i as usize).and_then(|r| r.as_ref());
    assert_eq!(Some(r), want, "{what}: record {i} is not the one written");
}

/// Opens the damaged copy read-only, then for writing, verifies; checks what is accepted.
fn check(
    work: &Path,
    p: &Pristine,
    what: &str,
    t: &mut Tally,
) -> Option<coffre_log::RecoveryReport> {
    t.cases += 1;
    match Log::open_read_only(work, options()) {
        Err(e) => typed(&e, &format!("{what} (read-only open)")),
        Ok(log) => {
            for i in log.purged_until()..log.len() {
                match log.read(i) {
                    Ok(r) => same(&r, p, i, &format!("{what} (read-only)")),
                    Err(e) => typed(&e, &format!("{what} (read-only read {i})")),
                }
            }
        }
    }
    let (log, report) = match Log::open(work, options()) {
        Err(e) => {
            typed(&e, &format!("{what} (open)"));
            t.refused_by_open += 1;
            return None;
        }
        Ok(x) => x,
    };
    if let Err(e) = log.verify(&|_| {}) {
        typed(&e, &format!("{what} (verify)"));
        t.refused_by_verify += 1;
        return None;
    }
    t.recovered += 1;
    let repaired = report.torn_tail.is_some()
        || report.tree_leaves_rehashed > 0
        || report.checkpoint_bytes_cut > 0
        || report.resumed_roll
        || report.retention_state_rebuilt;
    t.repaired += u64::from(repaired);
    let len = log.len();
    assert!(
        len >= p.checkpoint_size,
        "{what}: recovered {len} records, checkpoint covers {}",
        p.checkpoint_size
    );
    assert!(len as usize <= p.records.len(), "{what}: {len} records, more than written");
    assert_eq!(log.purged_until(), p.purged_until, "{what}: purge bound changed");
    for i in p.purged_until..len {
        let r = log.read(i).unwrap_or_else(|e| panic!("{what}: read {i} after verify: {e}"));
        same(&r, p, i, what);
    }
    Some(report)
}

fn truncation_sweep(p: &Pristine, work: &Path) -> Tally {
    let mut t = Tally::default();
    for rel in files(&p.dir) {
        let size = std::fs::metadata(p.dir.join(&rel)).unwrap().len();
        for cut in 0..size {
            copy_dir(&p.dir, work);
            let f = std::fs::OpenOptions::new().write(true).open(work.join(&rel)).unwrap();
            f.set_len(cut).unwrap();
            drop(f);
            check(
                work,
                p,
                &format!("{}: {} cut at {cut} of {size}", p.name, rel.display()),
                &mut t,
            );
        }
    }
    t
}

fn state_flip_sweep(p: &Pristine, work: &Path) -> Tally {
    let mut t = Tally::default();
    let rel = Path::new("retention.state");
    let bytes = std::fs::read(p.dir.join(rel)).unwrap();
    for at in 0..bytes.len() {
        copy_dir(&p.dir, work);
        let mut b = bytes.clone();
        b[at] ^= 0x01;
        std::fs::write(work.join(rel), &b).unwrap();
        let what = format!("{}: retention.state byte {at} flipped", p.name);
        if let Some(report) = check(work, p, &what, &mut t) {
            // Accepted only as a rebuild from the log, which is possible while nothing was
            // purged; the rebuilt state has the hold.
            assert!(report.retention_state_rebuilt, "{what}: accepted without a rebuild");
            assert_eq!(p.purged_until, 0, "{what}: a state with purge history was rebuilt");
        }
    }
    t
}

/// The sweep itself, run in the child under the memory limit.
#[test]
fn sweep_child() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let limit_mib: u64 =
        std::env::var("COFFRE_SWEEP_AS_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(256);
    let limit = limit_mib << 20;
    rustix::process::setrlimit(
        rustix::process::Resource::As,
        rustix::process::Rlimit { current: Some(limit), maximum: Some(limit) },
    )
    .unwrap();
    // The limit is in force: an allocation past it fails (and would abort the child).
    assert!(Vec::<u8>::new().try_reserve_exact(limit as usize).is_err());
    // tmpfs when there is one: thousands of copies and opens.
    let root = tempfile::tempdir_in("/dev/shm").unwrap_or_else(|_| tempfile::tempdir().unwrap());
    let work = root.path().join("work");
    for purge in [true, false] {
        let p = build(root.path(), if purge { "purged" } else { "unpurged" }, purge);
        let started = Instant::now();
        let cuts = truncation_sweep(&p, &work);
        let flips = state_flip_sweep(&p, &work);
        assert_eq!(flips.recovered, if purge { 0 } else { flips.cases });
        assert!(cuts.refused_by_open > 0 && cuts.recovered > 0);
        eprintln!(
            "corruption_sweeps [{}]: {} files, truncations {cuts:?}; retention.state flips \
             {flips:?}; {:.1} s under RLIMIT_AS {limit_mib} MiB",
            p.name,
            files(&p.dir).len(),
            started.elapsed().as_secs_f64()
        );
    }
}

#[test]
fn truncations_and_state_flips_are_refused_or_recovered_under_a_memory_limit() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([CHILD_TEST, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > Duration::from_secs(300) {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("the sweep hung (killed after 300 s):\n{}", reader.join().unwrap());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = reader.join().unwrap();
    for line in out.lines().filter(|l| l.starts_with("corruption_sweeps")) {
        eprintln!("{line}");
    }
    assert!(status.success(), "the sweep failed ({status}):\n{out}");
    assert!(out.contains("corruption_sweeps [unpurged]"), "the sweep did not run:\n{out}");
}
