//! Coffre's comparison harness (issue 9): durable append against okaywal, fjall and redb and
//! against the raw hardware floor; proofs against ct-merkle; hashing limit; open time and
//! memory.
//!
//! ```text
//! cargo run --release --manifest-path bench/peers/Cargo.toml -- compare [--quick]
//!     [--runs N] [--seconds S] [--dir DIR] [--out FILE] [--only append,proofs,hash,open]
//!     [--records N] [--payloads 64,256,4096] [--threads 1,4,16] [--raw-batches 1,64,1024]
//!     [--engines coffre,okaywal,fjall,redb,coffre-notree,coffre-storage]
//! ```
//!
//! `--records` and `--seconds` bound each append cell (whichever comes first); the last four
//! flags narrow the append workloads, e.g. to run every workload to a million records for the
//! engines that matter (the raw floors always run, as `--raw-batches` and Coffre's group
//! size say).
//!
//! Every measurement ("cell") runs in a fresh child process (this binary re-executed with the
//! hidden `cell` subcommand) in a fresh temporary directory; engine order rotates between
//! runs; figures are medians over the runs, and every ratio compares figures of the same run
//! set, because absolute figures on a shared 2-core VM move from one minute to the next.

mod append;
mod hashing;
mod open;
mod proofs;
mod report;
mod util;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use util::{CellArgs, CellResult};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.first().map(String::as_str) {
        Some("cell") => run_cell(&args[1..]),
        Some("compare") => match compare(&args[1..]) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("compare: {e}");
                1
            }
        },
        _ => {
            eprintln!(
                "usage: coffre-peers compare [--quick] [--runs N] [--seconds S] [--dir DIR] \
                 [--out FILE] [--only append,proofs,hash,open] [--records N] \
                 [--payloads LIST] [--threads LIST] [--raw-batches LIST] [--engines LIST]"
            );
            2
        }
    };
    std::process::exit(code);
}

/// Child side: runs one cell and prints its `RESULT` line.
fn run_cell(args: &[String]) -> i32 {
    let Some((kind, rest)) = args.split_first() else {
        eprintln!("cell: missing kind");
        return 2;
    };
    let result = CellArgs::parse(rest).and_then(|a| match kind.as_str() {
        "append" => append::run(&a),
        "proofs" => proofs::run(&a),
        "hash" => hashing::run(&a),
        "build" => open::build(&a),
        "open" => open::open(&a),
        "verify" => open::verify(&a),
        other => Err(format!("unknown cell kind {other}")),
    });
    match result {
        Ok(r) => {
            println!("{}", r.to_line());
            0
        }
        Err(e) => {
            eprintln!("cell {kind}: {e}");
            1
        }
    }
}

/// Settings of one comparison run.
pub struct Plan {
    pub quick: bool,
    pub runs: usize,
    pub append_seconds: f64,
    pub append_records_max: u64,
    pub payloads: Vec<usize>,
    pub threads: Vec<usize>,
    pub raw_batches: Vec<usize>,
    /// Append engines to run besides the raw floors (`None`: all of them).
    pub engines: Option<Vec<String>>,
    pub proof_leaves: Vec<u64>,
    pub proof_seconds: f64,
    pub open_sizes: Vec<u64>,
    pub open_payload: usize,
    pub hash_records: u64,
    pub only: Vec<String>,
    pub base_dir: PathBuf,
    pub out: Option<PathBuf>,
    pub command: String,
    /// /proc/loadavg at the start and end: how busy the shared machine was.
    pub load_start: String,
    pub load_end: String,
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn plan(args: &[String]) -> Result<Plan, String> {
    let quick = args.iter().any(|a| a == "--quick");
    let mut p = Plan {
        quick,
        runs: if quick { 1 } else { 3 },
        append_seconds: if quick { 0.4 } else { 1.5 },
        append_records_max: 2_000_000,
        payloads: vec![64, 256, 4096],
        threads: if quick { vec![1, 16] } else { vec![1, 4, 16] },
        raw_batches: vec![1, 64, 1024],
        engines: None,
        proof_leaves: if quick { vec![1_000_000] } else { vec![1_000_000, 10_000_000] },
        proof_seconds: if quick { 0.1 } else { 0.3 },
        open_sizes: if quick {
            vec![10_000, 1_000_000]
        } else {
            vec![10_000, 1_000_000, 10_000_000]
        },
        open_payload: 256,
        hash_records: if quick { 200_000 } else { 1_000_000 },
        only: vec!["append".into(), "proofs".into(), "hash".into(), "open".into()],
        base_dir: std::env::temp_dir(),
        out: None,
        command: format!("compare {}", args.join(" ")).trim_end().to_string(),
        load_start: String::new(),
        load_end: String::new(),
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--quick" => {}
            "--runs" => p.runs = value()?.parse().map_err(|_| "--runs: not a number")?,
            "--seconds" => {
                p.append_seconds = value()?.parse().map_err(|_| "--seconds: not a number")?
            }
            "--dir" => p.base_dir = PathBuf::from(value()?),
            "--out" => p.out = Some(PathBuf::from(value()?)),
            "--only" => p.only = value()?.split(',').map(str::to_string).collect(),
            "--records" => {
                p.append_records_max = value()?.parse().map_err(|_| "--records: not a number")?
            }
            "--payloads" => p.payloads = list(&value()?, "--payloads")?,
            "--threads" => p.threads = list(&value()?, "--threads")?,
            "--raw-batches" => p.raw_batches = list(&value()?, "--raw-batches")?,
            "--engines" => p.engines = Some(value()?.split(',').map(str::to_string).collect()),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(p)
}

/// A comma-separated list of positive numbers.
fn list(value: &str, flag: &str) -> Result<Vec<usize>, String> {
    let items: Vec<usize> = value
        .split(',')
        .map(|v| v.parse().ok().filter(|&n| n > 0))
        .collect::<Option<_>>()
        .ok_or(format!("{flag}: expected positive numbers separated by commas"))?;
    if items.is_empty() {
        return Err(format!("{flag}: empty list"));
    }
    Ok(items)
}

/// Runs one cell in a fresh child process and a fresh temporary directory.
fn spawn_cell(kind: &str, kv: &[(&str, String)], dir: &Path) -> Option<CellResult> {
    let exe = std::env::current_exe().ok()?;
    let mut cmd = Command::new(exe);
    cmd.arg("cell").arg(kind);
    for (k, v) in kv {
        cmd.arg(format!("{k}={v}"));
    }
    cmd.arg(format!("dir={}", dir.display()));
    match cmd.output() {
        Ok(out) if out.status.success() => {
            CellResult::from_stdout(&String::from_utf8_lossy(&out.stdout))
        }
        Ok(out) => {
            eprintln!(
                "  cell {kind} {kv:?} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            None
        }
        Err(e) => {
            eprintln!("  cell {kind}: cannot start child: {e}");
            None
        }
    }
}

fn fresh_dir(base: &Path) -> Result<tempfile::TempDir, String> {
    tempfile::Builder::new()
        .prefix("coffre-peers-")
        .tempdir_in(base)
        .map_err(|e| format!("temp dir in {}: {e}", base.display()))
}

/// Results keyed by (section key, engine), one `CellResult` per run.
pub type Results = BTreeMap<(String, String), Vec<CellResult>>;

fn compare(args: &[String]) -> Result<(), String> {
    let mut p = plan(args)?;
    p.load_start = loadavg();
    let started = std::time::Instant::now();
    let mut results: Results = BTreeMap::new();
    let wants = |s: &str| p.only.iter().any(|o| o == s);
    if wants("hash") {
        run_hash(&p, &mut results)?;
    }
    if wants("append") {
        run_append(&p, &mut results)?;
    }
    if wants("proofs") {
        run_proofs(&p, &mut results)?;
    }
    if wants("open") {
        run_open(&p, &mut results)?;
    }
    p.load_end = loadavg();
    let text = report::render(&p, &results, started.elapsed().as_secs_f64());
    println!("{text}");
    if let Some(out) = &p.out {
        std::fs::write(out, &text).map_err(|e| format!("writing {}: {e}", out.display()))?;
    }
    Ok(())
}

fn push(results: &mut Results, section: &str, engine: &str, r: Option<CellResult>) {
    if let Some(r) = r {
        results.entry((section.to_string(), engine.to_string())).or_default().push(r);
    }
}

/// Key of an append workload: payload bytes, threads, records per call.
pub fn append_key(payload: usize, threads: usize, batch: usize) -> String {
    format!("append/{payload}/{threads}/{batch}")
}

pub const PEERS: [&str; 3] = ["okaywal", "fjall", "redb"];

/// Issue 3's reference: Coffre without its tree writes, and without leaf hashing either.
pub const TREE_COST_ENGINES: [&str; 2] = ["coffre-notree", "coffre-storage"];

/// Raw-floor batch sizes measured beside the 16-thread 256 B workload.
pub const GROUP_FLOORS: [usize; 2] = [8, 16];

/// Workloads where the tree's cost is measured: 256 B, 1 and 16 threads, and batches.
pub fn is_tree_cost_workload(payload: usize, threads: usize, batch: usize) -> bool {
    payload == 256 && (batch == 1024 || (batch == 1 && (threads == 1 || threads == 16)))
}

fn run_append(p: &Plan, results: &mut Results) -> Result<(), String> {
    // Workloads: every payload x threads with one record per call, plus one batch workload
    // (1 thread, 1,024 records per call, 256 B) where Coffre uses `append_batch`.
    let mut workloads: Vec<(usize, usize, usize)> = Vec::new();
    for &payload in &p.payloads {
        for &threads in &p.threads {
            workloads.push((payload, threads, 1));
        }
    }
    workloads.push((256, 1, 1024));
    let total = p.runs * workloads.len();
    let mut done = 0;
    for run in 0..p.runs {
        for (w, &(payload, threads, batch)) in workloads.iter().enumerate() {
            done += 1;
            let key = append_key(payload, threads, batch);
            // Engines of this workload; the fixed-batch raw floors go with the first thread
            // count of each payload (they are single-threaded).
            let mut engines: Vec<(String, usize)> = ["coffre", "okaywal", "fjall", "redb"]
                .iter()
                .map(|e| (e.to_string(), batch))
                .collect();
            if batch == 1 && threads == p.threads[0] {
                engines.extend(p.raw_batches.iter().map(|&b| (format!("raw{b}"), b)));
            }
            if is_tree_cost_workload(payload, threads, batch) {
                engines.extend(TREE_COST_ENGINES.iter().map(|e| (e.to_string(), batch)));
            }
            if payload == 256 && threads == 16 && batch == 1 {
                // What 16 writers with one record outstanding each could at best group.
                engines.extend(GROUP_FLOORS.iter().map(|&b| (format!("raw{b}"), b)));
            }
            if let Some(kept) = &p.engines {
                engines.retain(|(e, _)| e.starts_with("raw") || kept.contains(e));
            }
            let k = engines.len().max(1);
            engines.rotate_left((run + w) % k);
            let mut line = format!("[{done}/{total}] {payload} B x{threads} batch {batch}:");
            for (engine, b) in &engines {
                let (name, threads_used) =
                    if engine.starts_with("raw") { ("raw", 1) } else { (engine.as_str(), threads) };
                let r = run_append_cell(p, name, payload, threads_used, *b)?;
                line.push_str(&format!(
                    " {engine}={:.0}",
                    r.as_ref().map_or(f64::NAN, |r| r.get("records_per_s"))
                ));
                // Fixed-batch raw floors are stored under the payload's batch-1 keys of
                // every thread count, so each table row can show them.
                if GROUP_FLOORS.iter().any(|b| *engine == format!("raw{b}")) {
                    push(results, &key, engine, r);
                } else if engine.starts_with("raw") {
                    for &t in &p.threads {
                        let rr = r.as_ref().map(|r| CellResult(r.0.clone()));
                        push(results, &append_key(payload, t, batch), engine, rr);
                    }
                } else {
                    push(results, &key, engine, r);
                }
            }
            // The floor at Coffre's own mean group size in this very run.
            if batch == 1 {
                let group = results
                    .get(&(key.clone(), "coffre".to_string()))
                    .and_then(|v| v.last())
                    .map_or(1.0, |r| r.get("group"));
                let g = if group.is_finite() { group.round().max(1.0) as usize } else { 1 };
                let r = run_append_cell(p, "raw", payload, 1, g)?;
                line.push_str(&format!(
                    " rawG({g})={:.0}",
                    r.as_ref().map_or(f64::NAN, |r| r.get("records_per_s"))
                ));
                push(results, &key, "rawG", r);
            }
            eprintln!("{line}");
        }
    }
    Ok(())
}

fn run_append_cell(
    p: &Plan,
    engine: &str,
    payload: usize,
    threads: usize,
    batch: usize,
) -> Result<Option<CellResult>, String> {
    let dir = fresh_dir(&p.base_dir)?;
    let r = spawn_cell(
        "append",
        &[
            ("engine", engine.to_string()),
            ("payload", payload.to_string()),
            ("threads", threads.to_string()),
            ("batch", batch.to_string()),
            ("records", p.append_records_max.to_string()),
            ("seconds", p.append_seconds.to_string()),
        ],
        dir.path(),
    );
    Ok(r)
}

pub const PROOF_ENGINES: [&str; 3] = ["coffre-blake3", "coffre-sha256", "ct-merkle"];

fn run_proofs(p: &Plan, results: &mut Results) -> Result<(), String> {
    for &leaves in &p.proof_leaves {
        for run in 0..p.runs {
            let mut engines = PROOF_ENGINES.to_vec();
            let k = engines.len();
            engines.rotate_left(run % k);
            for engine in engines {
                let dir = fresh_dir(&p.base_dir)?;
                let r = spawn_cell(
                    "proofs",
                    &[
                        ("engine", engine.to_string()),
                        ("leaves", leaves.to_string()),
                        ("seconds", p.proof_seconds.to_string()),
                    ],
                    dir.path(),
                );
                eprintln!(
                    "proofs {leaves} {engine}: incl gen {:.2} µs ver {:.2} µs, cons gen {:.2} µs ver {:.2} µs (build {:.1} s)",
                    r.as_ref().map_or(f64::NAN, |r| r.get("incl_gen_us")),
                    r.as_ref().map_or(f64::NAN, |r| r.get("incl_ver_us")),
                    r.as_ref().map_or(f64::NAN, |r| r.get("cons_gen_us")),
                    r.as_ref().map_or(f64::NAN, |r| r.get("cons_ver_us")),
                    r.as_ref().map_or(f64::NAN, |r| r.get("build_s")),
                );
                push(results, &format!("proofs/{leaves}"), engine, r);
            }
        }
    }
    Ok(())
}

fn run_hash(p: &Plan, results: &mut Results) -> Result<(), String> {
    for _ in 0..p.runs {
        let dir = fresh_dir(&p.base_dir)?;
        let r = spawn_cell(
            "hash",
            &[
                ("records", p.hash_records.to_string()),
                ("payload", "256".to_string()),
                ("passes", "3".to_string()),
            ],
            dir.path(),
        );
        eprintln!(
            "hash: blake3 1 core {:.0} MB/s, all {:.0} MB/s; sha256 1 core {:.0} MB/s, all {:.0} MB/s",
            r.as_ref().map_or(f64::NAN, |r| r.get("blake3_1_mb_per_s")),
            r.as_ref().map_or(f64::NAN, |r| r.get("blake3_all_mb_per_s")),
            r.as_ref().map_or(f64::NAN, |r| r.get("sha256_1_mb_per_s")),
            r.as_ref().map_or(f64::NAN, |r| r.get("sha256_all_mb_per_s")),
        );
        push(results, "hash", "raw", r);
    }
    Ok(())
}

fn run_open(p: &Plan, results: &mut Results) -> Result<(), String> {
    for &n in &p.open_sizes {
        let dir = fresh_dir(&p.base_dir)?;
        let log_dir = dir.path().join("log");
        let kv = [
            ("records", n.to_string()),
            ("payload", p.open_payload.to_string()),
            ("batch", "1024".to_string()),
        ];
        let built = spawn_cell("build", &kv, &log_dir);
        eprintln!(
            "build {n}: {:.0} records/s, peak RSS {:.1} MiB",
            built.as_ref().map_or(f64::NAN, |r| r.get("records_per_s")),
            built.as_ref().map_or(f64::NAN, |r| r.get("rss_peak_bytes")) / 1048576.0
        );
        let ok = built.is_some();
        push(results, &format!("build/{n}"), "coffre", built);
        if !ok {
            continue;
        }
        for _ in 0..p.runs.max(3) {
            let r = spawn_cell("open", &kv[..1], &log_dir);
            eprintln!(
                "open {n}: {:.2} ms, peak RSS {:.1} MiB",
                r.as_ref().map_or(f64::NAN, |r| r.get("open_ms")),
                r.as_ref().map_or(f64::NAN, |r| r.get("rss_peak_bytes")) / 1048576.0
            );
            push(results, &format!("open/{n}"), "coffre", r);
        }
        if n >= 1_000_000 {
            for _ in 0..p.runs {
                let r = spawn_cell("verify", &kv[..1], &log_dir);
                eprintln!(
                    "verify {n}: {:.0} records/s",
                    r.as_ref().map_or(f64::NAN, |r| r.get("records_per_s"))
                );
                push(results, &format!("verify/{n}"), "coffre", r);
            }
        }
    }
    Ok(())
}
