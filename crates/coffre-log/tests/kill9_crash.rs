//! A real process crash: a child process (this test binary, re-executed with
//! `COFFRE_KILL9_CHILD_DIR` set) appends records whose payload is derived from their index,
//! in single appends and batches, with small segments (frequent rolls) and an occasional
//! checkpoint, and prints `sent <end>` before each append and `ack <index>` after, flushed per
//! line. The parent kills it with SIGKILL at a random moment (sometimes during its `open`),
//! reopens the log (recovery), runs `Log::verify`, and checks that every acknowledged index is
//! there with its payload, that nothing beyond what was sent is, and that the acknowledged
//! checkpoints are kept. Repeated until 150 kills or 30 s (`COFFRE_KILL9_KILLS`,
//! `COFFRE_KILL9_SECONDS`); the seed is printed and `COFFRE_KILL9_SEED` replays its timings.
//!
//! SIGKILL keeps the page cache: this proves the process-crash path (an append torn between
//! two `pwrite`s, a roll cut between seal and create, a checkpoint frame half-appended), not
//! power loss, which tests/sim_crash.rs covers on a simulated disk. docs/TESTING.md.

use coffre_log::note::NoteSigner;
use coffre_log::{Log, LogOptions, Preallocation};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CHILD_DIR_ENV: &str = "COFFRE_KILL9_CHILD_DIR";
const CHILD_SEED_ENV: &str = "COFFRE_KILL9_CHILD_SEED";
const CHILD_TEST: &str = "child_appends_until_killed";

use coffre_log::backend::sim::SplitMix64 as Rng;

fn options(preallocation: Preallocation) -> LogOptions {
    LogOptions {
        segment_size_bytes: 2048,
        payload_size_bytes_max: 256,
        preallocation,
        origin: "coffre.test/kill9".into(),
        checkpoint_signer: Some(Arc::new(
            NoteSigner::from_seed("coffre.test/kill9", &[3u8; 32]).unwrap(),
        )),
        ..Default::default()
    }
}

/// Record `i`'s payload: its index, then a pattern of a length that varies with it.
fn payload(i: u64) -> Vec<u8> {
    let mut p = i.to_le_bytes().to_vec();
    p.extend((0..(i * 37 % 150) as usize).map(|k| (i as u8).wrapping_mul(13) ^ k as u8));
    p
}

fn preallocation(seed: u64) -> Preallocation {
    [Preallocation::None, Preallocation::SetLen, Preallocation::ZeroFill][(seed % 3) as usize]
}

/// The child: appends until it is killed. Does nothing unless the parent started it.
#[test]
fn child_appends_until_killed() {
    let Some(dir) = std::env::var_os(CHILD_DIR_ENV) else {
        return;
    };
    let seed: u64 = std::env::var(CHILD_SEED_ENV).unwrap().parse().unwrap();
    let mut rng = Rng(seed);
    let (log, _) = Log::open(Path::new(&dir), options(preallocation(seed))).unwrap();
    let mut out = std::io::stdout().lock();
    // The harness printed "test <name> ... " without a newline: start on a line of our own.
    writeln!(out).unwrap();
    loop {
        let len = log.len();
        match rng.below(20) {
            0 => {
                let c = log.checkpoint().unwrap();
                writeln!(out, "ckpt {}", c.checkpoint.size).unwrap();
            }
            1..=3 => {
                let n = 1 + rng.below(8);
                let batch: Vec<Vec<u8>> = (len..len + n).map(payload).collect();
                writeln!(out, "sent {}", len + n).unwrap();
                out.flush().unwrap();
                for (r, i) in log.append_batch(&batch).unwrap().into_iter().zip(len..) {
                    assert_eq!(r.index, i);
                    writeln!(out, "ack {}", r.index).unwrap();
                }
            }
            _ => {
                writeln!(out, "sent {}", len + 1).unwrap();
                out.flush().unwrap();
                let r = log.append(&payload(len)).unwrap();
                assert_eq!(r.index, len);
                writeln!(out, "ack {}", r.index).unwrap();
            }
        }
        out.flush().unwrap();
    }
}

/// What one child said before it died.
#[derive(Debug, Default)]
struct Heard {
    acked: Vec<u64>,
    sent_end: u64,
    checkpoint_size: u64,
}

fn listen(stdout: impl std::io::Read) -> Heard {
    let mut h = Heard::default();
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        let mut words = line.split(' ');
        let (Some(word), Some(n)) = (words.next(), words.next().and_then(|n| n.parse().ok()))
        else {
            continue;
        };
        match word {
            "ack" => h.acked.push(n),
            "sent" => h.sent_end = h.sent_end.max(n),
            "ckpt" => h.checkpoint_size = h.checkpoint_size.max(n),
            _ => {}
        }
    }
    h
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

#[test]
fn acknowledged_records_survive_sigkill_at_random_moments() {
    if std::env::var_os(CHILD_DIR_ENV).is_some() {
        return;
    }
    let seed = env_u64("COFFRE_KILL9_SEED").unwrap_or_else(|| {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
        t.as_nanos() as u64
    });
    eprintln!("kill9_crash: COFFRE_KILL9_SEED={seed}");
    let kills_max = env_u64("COFFRE_KILL9_KILLS").unwrap_or(150);
    let time_max = Duration::from_secs(env_u64("COFFRE_KILL9_SECONDS").unwrap_or(30));
    let mut rng = Rng(seed);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    drop(Log::create(&dir, options(Preallocation::None)).unwrap());
    let exe = std::env::current_exe().unwrap();
    let started = Instant::now();
    let (mut kills, mut acked_max, mut sent_end, mut checkpoint_size) = (0u64, None, 0u64, 0u64);
    let mut checked = 0u64;
    let (mut torn, mut resumed) = (0u64, 0u64);
    while kills < kills_max && started.elapsed() < time_max {
        let child_seed = rng.next_u64();
        let mut child = Command::new(&exe)
            .args([CHILD_TEST, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_DIR_ENV, &dir)
            .env(CHILD_SEED_ENV, child_seed.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let listener = std::thread::spawn(move || listen(stdout));
        let errors = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
            s
        });
        // Mostly while appending; one in eight within the first 10 ms (start-up, recovery).
        let delay_ms = if rng.below(8) == 0 { rng.below(10) } else { 5 + rng.below(60) };
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap();
        let status = child.wait().unwrap();
        let heard = listener.join().unwrap();
        let stderr = errors.join().unwrap();
        let context = format!(
            "COFFRE_KILL9_SEED={seed}, kill {kills} after {delay_ms} ms (child {child_seed})"
        );
        assert_eq!(
            status.signal(),
            Some(9),
            "{context}: the child did not die by SIGKILL:\n{stderr}"
        );
        kills += 1;
        if let Some(&m) = heard.acked.iter().max() {
            acked_max = acked_max.max(Some(m));
        }
        sent_end = sent_end.max(heard.sent_end);
        checkpoint_size = checkpoint_size.max(heard.checkpoint_size);

        let (log, report) = Log::open(&dir, options(preallocation(child_seed)))
            .unwrap_or_else(|e| panic!("{context}: reopen failed: {e}"));
        let len = log.len();
        torn += u64::from(report.torn_tail.is_some());
        resumed += u64::from(report.resumed_roll);
        if let Some(m) = acked_max {
            assert!(len > m, "{context}: acknowledged index {m} lost (length {len})");
        }
        if len > sent_end.max(checked) {
            let extra: Vec<bool> =
                (sent_end..len).map(|i| log.read(i).unwrap().payload == payload(i)).collect();
            panic!(
                "{context}: {len} records, {sent_end} sent; checked {checked}; heard {:?}; \
                 extra ones match their payload: {extra:?}; report {report:?}",
                (heard.sent_end, heard.acked.len(), heard.acked.last())
            );
        }
        // Records below `checked` were compared after an earlier kill and verify covers them
        // since (their leaves against the tree); the new ones are compared byte for byte.
        for i in checked.min(len)..len {
            let r = log.read(i).unwrap_or_else(|e| panic!("{context}: read {i}: {e}"));
            assert_eq!(r.payload, payload(i), "{context}: record {i} is not the one sent");
        }
        checked = len;
        log.verify(&|_| {}).unwrap_or_else(|e| panic!("{context}: verify: {e}"));
        let latest = log.latest_checkpoint().unwrap().map_or(0, |c| c.checkpoint.size);
        assert!(latest >= checkpoint_size, "{context}: checkpoint of size {checkpoint_size} lost");
        // Anything the dead child sent but did not hear back is now in the log or never will
        // be: the next child appends from the reopened length.
        sent_end = len;
    }
    eprintln!(
        "kill9_crash: {kills} kills in {:.1} s, {checked} records, largest acknowledged index \
         {acked_max:?}, latest checkpoint {checkpoint_size}; reopens that cut a torn tail: {torn}, resumed a \
         roll: {resumed}",
        started.elapsed().as_secs_f64()
    );
    assert!(kills > 0);
}
