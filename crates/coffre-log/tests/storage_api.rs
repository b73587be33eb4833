//! Concurrency, locking, read-only access, limits and options of the storage API.

mod storage_support;

use coffre_log::{HashAlgorithm, Log, LogError, LogOptions};
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use storage_support::{frames, segments, small_options, with_clock, TestClock};

#[test]
fn sixteen_threads_get_dense_distinct_indexes_in_file_order() {
    let dir = tempfile::tempdir().unwrap();
    let opts = LogOptions { segment_size_bytes: 16 * 1024, ..small_options() };
    let log = Arc::new(Log::create(dir.path(), opts.clone()).unwrap());
    let per_thread = 60u32;
    let handles: Vec<_> = (0..16u32)
        .map(|t| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                (0..per_thread)
                    .map(|k| {
                        let payload = format!("{t}:{k}").into_bytes();
                        (payload.clone(), log.append(&payload).unwrap())
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all = Vec::new();
    for h in handles {
        let mine = h.join().unwrap();
        // One thread's appends are sequential, so its indexes increase.
        assert!(mine.windows(2).all(|w| w[0].1.index < w[1].1.index));
        all.extend(mine);
    }
    let n = 16 * per_thread as u64;
    let indexes: HashSet<u64> = all.iter().map(|(_, r)| r.index).collect();
    assert_eq!(indexes, (0..n).collect::<HashSet<_>>());
    let stats = log.stats();
    assert_eq!(stats.records_committed, n);
    assert!(stats.groups_committed <= n && stats.groups_committed > 0);
    for (payload, receipt) in &all {
        let r = log.read(receipt.index).unwrap();
        assert_eq!(&r.payload, payload);
        assert_eq!(r.timestamp, receipt.timestamp);
        assert_eq!(r.leaf_hash(log.hash_algorithm()), receipt.leaf_hash);
    }
    let stamps: Vec<_> = log.iter(..).map(|r| r.unwrap().timestamp).collect();
    assert!(stamps
        .windows(2)
        .all(|w| w[0].earliest_ns() <= w[1].earliest_ns() && w[0].latest_ns() <= w[1].latest_ns()));
    drop(log);
    // In the files, records sit in index order, each segment continuing the previous one.
    let mut next = 0u64;
    for seg in segments(dir.path()) {
        let bytes = std::fs::read(&seg).unwrap();
        for (_, index, _) in frames(&bytes) {
            assert_eq!(index, next, "in {}", seg.display());
            next += 1;
        }
    }
    assert_eq!(next, n);
}

#[test]
fn second_writer_is_refused_until_the_first_closes() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::create(dir.path(), small_options()).unwrap();
    assert!(matches!(Log::open(dir.path(), small_options()), Err(LogError::Locked { .. })));
    assert!(matches!(
        Log::create(dir.path(), small_options()),
        Err(LogError::AlreadyExists { .. })
    ));
    drop(log);
    Log::open(dir.path(), small_options()).unwrap();
}

#[test]
fn read_only_open_sees_the_data_while_a_writer_appends() {
    let dir = tempfile::tempdir().unwrap();
    let writer = Log::create(dir.path(), small_options()).unwrap();
    for i in 0..100u32 {
        writer.append(&i.to_le_bytes()).unwrap();
    }
    let reader = Log::open_read_only(dir.path(), small_options()).unwrap();
    assert!(reader.is_read_only());
    assert_eq!(reader.len(), 100);
    for i in 0..100u32 {
        assert_eq!(reader.read(u64::from(i)).unwrap().payload, i.to_le_bytes());
    }
    assert!(matches!(reader.append(b"no"), Err(LogError::ReadOnly)));
    // The writer keeps going (and rolls segments) while the reader's snapshot stays readable.
    for i in 100..300u32 {
        writer.append(&i.to_le_bytes()).unwrap();
    }
    assert_eq!(reader.len(), 100);
    assert_eq!(reader.read(99).unwrap().payload, 99u32.to_le_bytes());
    let later = Log::open_read_only(dir.path(), small_options()).unwrap();
    assert_eq!(later.len(), 300);
    assert_eq!(later.read(299).unwrap().payload, 299u32.to_le_bytes());
}

#[test]
fn payload_too_large_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::create(dir.path(), small_options()).unwrap();
    log.append(&[1u8; 256]).unwrap();
    let before = log.stats();
    let err = log.append(&[0u8; 257]).unwrap_err();
    assert!(matches!(err, LogError::PayloadTooLarge { size_bytes: 257, limit_bytes: 256 }));
    let batch: Vec<Vec<u8>> = vec![vec![1], vec![0; 300]];
    assert!(matches!(log.append_batch(&batch), Err(LogError::PayloadTooLarge { .. })));
    assert_eq!(log.len(), 1);
    assert_eq!(log.stats(), before);
    assert_eq!(log.append(b"").unwrap().index, 1);
    assert_eq!(log.read(1).unwrap().payload, b"");
}

#[test]
fn clock_failure_fails_the_append_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(TestClock::default());
    let log = Log::create(dir.path(), with_clock(small_options(), clock.clone())).unwrap();
    log.append(b"a").unwrap();
    clock.failing.store(true, Ordering::SeqCst);
    assert!(matches!(log.append(b"b"), Err(LogError::Clock(_))));
    assert!(matches!(log.append_batch(&[b"c", b"d"]), Err(LogError::Clock(_))));
    clock.failing.store(false, Ordering::SeqCst);
    assert!(!log.is_poisoned());
    let r = log.append(b"e").unwrap();
    assert_eq!(r.index, 1);
    drop(log);
    let (log, report) = Log::open(dir.path(), small_options()).unwrap();
    assert_eq!(report.records, 2);
    assert_eq!(log.read(1).unwrap().payload, b"e");
}

#[test]
fn manifest_keeps_creation_parameters_and_refuses_the_other_algorithm() {
    let dir = tempfile::tempdir().unwrap();
    let opts = LogOptions {
        hash_algorithm: Some(HashAlgorithm::Sha256),
        origin: "example.org/attendance".into(),
        retention_seconds: 86_400,
        ..small_options()
    };
    drop(Log::create(dir.path(), opts).unwrap());
    let (log, _) = Log::open(dir.path(), small_options()).unwrap();
    let m = log.manifest();
    assert_eq!(m.hash_algorithm, HashAlgorithm::Sha256);
    assert_eq!(
        (m.origin.as_str(), m.retention_seconds, m.segment_size_bytes),
        ("example.org/attendance", 86_400, 2048)
    );
    drop(log);
    let blake = LogOptions { hash_algorithm: Some(HashAlgorithm::Blake3), ..small_options() };
    assert!(matches!(
        Log::open(dir.path(), blake),
        Err(LogError::HashAlgorithmMismatch { stored: HashAlgorithm::Sha256, .. })
    ));
    let bad_origin = LogOptions { origin: "a\nb".into(), ..small_options() };
    assert!(matches!(
        Log::create(dir.path().join("other"), bad_origin),
        Err(LogError::InvalidOptions(_))
    ));
}

#[test]
fn root_matches_an_in_memory_tree_of_the_receipts() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::create(dir.path(), small_options()).unwrap();
    let mut mem = coffre_log::merkle::MemoryTree::new(log.hash_algorithm());
    for i in 0..50u32 {
        mem.push_leaf_hash(log.append(&i.to_be_bytes()).unwrap().leaf_hash);
    }
    for size in [0u64, 1, 7, 32, 50] {
        assert_eq!(log.root(size).unwrap(), mem.root(size));
    }
    assert!(log.root(51).is_err());
}

#[test]
fn the_tree_is_rebuilt_when_missing() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::create(dir.path(), small_options()).unwrap();
    for i in 0..40u32 {
        log.append(&i.to_be_bytes()).unwrap();
    }
    let root = log.root(40).unwrap();
    drop(log);
    std::fs::remove_dir_all(dir.path().join("tree")).unwrap();
    let (log, report) = Log::open(dir.path(), small_options()).unwrap();
    assert_eq!(report.tree_leaves_rehashed, 40);
    assert_eq!(log.root(40).unwrap(), root);
}

/// Stamps with a [`TestClock`], noting the name of the thread each stamp was taken on, and
/// panics while `panicking` is set.
#[derive(Debug, Default)]
struct ThreadNotingClock {
    inner: TestClock,
    threads: parking_lot::Mutex<Vec<String>>,
    panicking: std::sync::atomic::AtomicBool,
}

impl coffre_clock::Clock for ThreadNotingClock {
    fn now(&self) -> Result<coffre_clock::Timestamp, coffre_clock::ClockError> {
        assert!(!self.panicking.load(Ordering::SeqCst), "test clock panics");
        let name = std::thread::current().name().unwrap_or("").to_string();
        self.threads.lock().push(name);
        self.inner.now()
    }
}

fn noting_clock_options(clock: &Arc<ThreadNotingClock>) -> LogOptions {
    let mut opts = small_options();
    opts.clock = clock.clone();
    opts
}

#[test]
fn a_lone_append_is_committed_on_its_own_thread_and_concurrent_ones_by_the_committer() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ThreadNotingClock::default());
    let log = Arc::new(Log::create(dir.path(), noting_clock_options(&clock)).unwrap());
    for k in 0..20u32 {
        assert_eq!(log.append(&k.to_le_bytes()).unwrap().index, u64::from(k));
    }
    log.append_batch(&[b"a", b"b"]).unwrap();
    let me = std::thread::current().name().unwrap().to_string();
    assert!(clock.threads.lock().iter().all(|t| *t == me), "{:?}", clock.threads.lock());
    clock.threads.lock().clear();

    let start = Arc::new(std::sync::Barrier::new(8));
    let writers: Vec<_> = (0..8u32)
        .map(|t| {
            let (log, start) = (Arc::clone(&log), Arc::clone(&start));
            std::thread::spawn(move || {
                start.wait();
                for k in 0..50u32 {
                    log.append(&[t.to_le_bytes(), k.to_le_bytes()].concat()).unwrap();
                }
            })
        })
        .collect();
    writers.into_iter().for_each(|w| w.join().unwrap());
    assert!(
        clock.threads.lock().iter().any(|t| t == "coffre-committer"),
        "concurrent appends must be grouped by the committer"
    );
    assert_eq!(log.len(), 22 + 400);
    log.verify(&|_| {}).unwrap();
    drop(log);
    let (log, report) = Log::open(dir.path(), small_options()).unwrap();
    assert_eq!(report.records, 422);
    assert_eq!(log.read(3).unwrap().payload, 3u32.to_le_bytes());
}

#[test]
fn a_panic_while_committing_on_the_appenders_thread_poisons_the_log_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ThreadNotingClock::default());
    let log = Log::create(dir.path(), noting_clock_options(&clock)).unwrap();
    log.append(b"kept").unwrap();
    clock.panicking.store(true, Ordering::SeqCst);
    // As when the same panic ends the committer thread: the caller gets an error, not the
    // panic, and the log refuses appends until it is reopened.
    assert!(matches!(log.append(b"lost"), Err(LogError::Poisoned)));
    clock.panicking.store(false, Ordering::SeqCst);
    assert!(log.is_poisoned());
    assert!(matches!(log.append(b"refused"), Err(LogError::Poisoned)));
    drop(log);
    let (log, report) = Log::open(dir.path(), small_options()).unwrap();
    assert_eq!(report.records, 1);
    assert_eq!(log.read(0).unwrap().payload, b"kept");
    log.append(b"accepted after the reopen").unwrap();
}

/// Appends a record when dropped.
struct AppendsWhenDropped<'a>(&'a Log);

impl Drop for AppendsWhenDropped<'_> {
    fn drop(&mut self) {
        self.0.append(b"written by a destructor").unwrap();
    }
}

#[test]
fn an_append_from_a_destructor_while_the_thread_unwinds_succeeds_and_poisons_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::create(dir.path(), small_options()).unwrap();
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _guard = AppendsWhenDropped(&log);
        panic!("the caller's own code panics");
    }));
    assert!(unwound.is_err());
    assert_eq!(log.read(0).unwrap().payload, b"written by a destructor");
    assert!(!log.is_poisoned(), "a successful append must not poison the log");
    assert_eq!(log.append(b"next").unwrap().index, 1);
}
