//! Markdown report: medians over runs, ratios within the run set, and the targets.

use crate::util::median;
use crate::{append_key, Plan, Results, GROUP_FLOORS, PEERS, PROOF_ENGINES};
use std::fmt::Write as _;

fn med(results: &Results, section: &str, engine: &str, metric: &str) -> f64 {
    results
        .get(&(section.to_string(), engine.to_string()))
        .map_or(f64::NAN, |rs| median(&rs.iter().map(|r| r.get(metric)).collect::<Vec<_>>()))
}

fn runs_of(results: &Results, section: &str, engine: &str) -> usize {
    results.get(&(section.to_string(), engine.to_string())).map_or(0, Vec::len)
}

/// Thousands-separated integer, `–` for NaN.
fn int(x: f64) -> String {
    if !x.is_finite() {
        return "–".into();
    }
    let s = format!("{:.0}", x);
    let (sign, digits) = s.strip_prefix('-').map_or(("", s.as_str()), |d| ("-", d));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("{sign}{out}")
}

fn f(x: f64, decimals: usize) -> String {
    if x.is_finite() {
        format!("{x:.decimals$}")
    } else {
        "–".into()
    }
}

fn verdict(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "**met**",
        Some(false) => "**missed**",
        None => "not measured",
    }
}

/// Renders the whole report.
pub fn render(p: &Plan, results: &Results, elapsed_s: f64) -> String {
    let mut s = String::new();
    let host_cores = std::thread::available_parallelism().map_or(0, |c| c.get());
    let _ = writeln!(
        s,
        "# Coffre comparison ({}; {} run(s), medians; {} cores; {:.0} s)\n",
        if p.quick { "quick smoke run" } else { "full run" },
        p.runs,
        host_cores,
        elapsed_s
    );
    let _ = writeln!(
        s,
        "Command: `cargo run --release --manifest-path bench/peers/Cargo.toml -- {}`\n",
        p.command
    );
    let _ = writeln!(
        s,
        "Load average (1/5/15 min) at start: {}; at end: {}.\n",
        p.load_start, p.load_end
    );
    let mut targets: Vec<(String, String, Option<bool>)> = Vec::new();

    // ---- Durable append
    if results.keys().any(|(k, _)| k.starts_with("append/")) {
        let _ = writeln!(
            s,
            "## Durable append (records/s; each call returns after fdatasync)\n\n\
             Each cell: fresh process, fresh directory, bounded by {:.1} s or {} records. \
             `raw B` = one thread writing Coffre-sized frames with `pwrite` + one `fdatasync` per \
             B records into zero-filled space; `G` = Coffre's mean commit-group size in the same \
             run, `raw@G` = the floor at that group size.\n",
            p.append_seconds,
            int(p.append_records_max as f64)
        );
        let raws: Vec<String> = p.raw_batches.iter().map(|b| format!("raw{b}")).collect();
        let _ = write!(
            s,
            "| payload | threads | Coffre | okaywal | fjall | redb | Coffre / best peer |"
        );
        for b in &p.raw_batches {
            let _ = write!(s, " raw B={b} |");
        }
        let _ = writeln!(s, " G | raw@G | Coffre / raw@G |");
        let _ = write!(s, "|---:|---:|---:|---:|---:|---:|---:|");
        for _ in &p.raw_batches {
            let _ = write!(s, "---:|");
        }
        let _ = writeln!(s, "---:|---:|---:|");
        for &payload in &p.payloads {
            for &threads in &p.threads {
                let key = append_key(payload, threads, 1);
                let c = med(results, &key, "coffre", "records_per_s");
                let best = best_peer(results, &key);
                let raw_g = med(results, &key, "rawG", "records_per_s");
                let _ = write!(
                    s,
                    "| {payload} B | {threads} | {} | {} | {} | {} | {} |",
                    int(c),
                    int(med(results, &key, "okaywal", "records_per_s")),
                    int(med(results, &key, "fjall", "records_per_s")),
                    int(med(results, &key, "redb", "records_per_s")),
                    f(c / best, 2)
                );
                for r in &raws {
                    let _ = write!(s, " {} |", int(med(results, &key, r, "records_per_s")));
                }
                let _ = writeln!(
                    s,
                    " {} | {} | {} |",
                    f(med(results, &key, "coffre", "group"), 1),
                    int(raw_g),
                    f(c / raw_g, 2)
                );
                if payload == 256 && threads == 16 {
                    targets.push((
                        "durable append, 16 threads, 256 B: ≥ 2× best of okaywal/fjall/redb".into(),
                        format!("{}×", f(c / best, 2)),
                        (c / best).is_finite().then_some(c / best >= 2.0),
                    ));
                    targets.push((
                        "durable append, 16 threads, 256 B: ≥ 50% of raw floor at Coffre's group size".into(),
                        format!("{}% (G = {})", f(100.0 * c / raw_g, 0), f(med(results, &key, "coffre", "group"), 1)),
                        (c / raw_g).is_finite().then_some(c / raw_g >= 0.5),
                    ));
                }
            }
        }
        let _ = writeln!(s);

        // Details: MB/s, latency, fsyncs.
        let _ = writeln!(
            s,
            "### Throughput and latency detail (MB/s of payload; p50/p99 latency of one call in µs)\n"
        );
        let _ = writeln!(
            s,
            "| payload | threads | Coffre MB/s | Coffre p50/p99 | Coffre fsyncs/s | okaywal p50/p99 | fjall p50/p99 | redb p50/p99 | raw@G p50/p99 |"
        );
        let _ = writeln!(s, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for &payload in &p.payloads {
            for &threads in &p.threads {
                let key = append_key(payload, threads, 1);
                let lat = |e: &str| {
                    format!(
                        "{}/{}",
                        f(med(results, &key, e, "p50_us"), 0),
                        f(med(results, &key, e, "p99_us"), 0)
                    )
                };
                let fsyncs_per_s = med(results, &key, "coffre", "fsyncs")
                    / med(results, &key, "coffre", "seconds");
                let _ = writeln!(
                    s,
                    "| {payload} B | {threads} | {} | {} | {} | {} | {} | {} | {} |",
                    f(med(results, &key, "coffre", "mb_per_s"), 1),
                    lat("coffre"),
                    int(fsyncs_per_s),
                    lat("okaywal"),
                    lat("fjall"),
                    lat("redb"),
                    lat("rawG"),
                );
            }
        }
        let _ = writeln!(s);

        let key = append_key(256, 1, 1024);
        if results.keys().any(|(k, _)| *k == key) {
            let _ = writeln!(
                s,
                "### Batches: 1 thread, 1,024 records of 256 B per call (Coffre `append_batch`)\n"
            );
            let _ = writeln!(s, "| engine | records/s | MB/s | p50/p99 µs per batch |");
            let _ = writeln!(s, "|---|---:|---:|---:|");
            for e in ["coffre", "okaywal", "fjall", "redb"] {
                let _ = writeln!(
                    s,
                    "| {e} | {} | {} | {}/{} |",
                    int(med(results, &key, e, "records_per_s")),
                    f(med(results, &key, e, "mb_per_s"), 1),
                    f(med(results, &key, e, "p50_us"), 0),
                    f(med(results, &key, e, "p99_us"), 0)
                );
            }
            let raw_key = append_key(256, p.threads[0], 1);
            let _ = writeln!(
                s,
                "| raw B=1024 | {} | {} | {}/{} |\n",
                int(med(results, &raw_key, "raw1024", "records_per_s")),
                f(med(results, &raw_key, "raw1024", "mb_per_s"), 1),
                f(med(results, &raw_key, "raw1024", "p50_us"), 0),
                f(med(results, &raw_key, "raw1024", "p99_us"), 0)
            );
        }
    }

    tree_cost(&mut s, p, results, &mut targets);
    group_arithmetic(&mut s, results);

    // ---- Proofs
    let proof_sizes: Vec<u64> = p
        .proof_leaves
        .iter()
        .copied()
        .filter(|n| results.keys().any(|(k, _)| *k == format!("proofs/{n}")))
        .collect();
    if !proof_sizes.is_empty() {
        let _ = writeln!(
            s,
            "## Proofs (median µs per operation; verification includes hashing the leaf value)\n\n\
             Coffre reads its persistent tree store (page cache warm); ct-merkle 0.3 keeps its whole \
             tree in memory. Queries: 1,024 random leaf indexes / old sizes, proof to the full tree.\n"
        );
        let _ = writeln!(
            s,
            "| leaves | operation | Coffre BLAKE3 | Coffre SHA-256 | ct-merkle SHA-256 | Coffre SHA-256 / ct-merkle |"
        );
        let _ = writeln!(s, "|---:|---|---:|---:|---:|---:|");
        let ops = [
            ("incl_gen_us", "inclusion: generate"),
            ("incl_ver_us", "inclusion: verify"),
            ("cons_gen_us", "consistency: generate"),
            ("cons_ver_us", "consistency: verify"),
        ];
        let mut worst_coffre = f64::NAN;
        let mut all_faster = Some(true);
        for &n in &proof_sizes {
            let key = format!("proofs/{n}");
            for (metric, label) in ops {
                let v: Vec<f64> =
                    PROOF_ENGINES.iter().map(|e| med(results, &key, e, metric)).collect();
                let ratio = v[1] / v[2];
                worst_coffre = [v[0], v[1], worst_coffre]
                    .into_iter()
                    .filter(|x| x.is_finite())
                    .fold(f64::NAN, f64::max);
                if ratio.is_finite() {
                    if ratio >= 1.0 {
                        all_faster = Some(false);
                    }
                } else {
                    all_faster = None;
                }
                let _ = writeln!(
                    s,
                    "| {} | {label} | {} | {} | {} | {} |",
                    int(n as f64),
                    f(v[0], 2),
                    f(v[1], 2),
                    f(v[2], 2),
                    f(ratio, 2)
                );
            }
        }
        let mut build = String::new();
        for &n in &proof_sizes {
            for e in PROOF_ENGINES {
                let _ = write!(
                    build,
                    "{} leaves {e}: {} s ({} run(s)); ",
                    int(n as f64),
                    f(med(results, &format!("proofs/{n}"), e, "build_s"), 1),
                    runs_of(results, &format!("proofs/{n}"), e)
                );
            }
        }
        let _ = writeln!(s, "\nBuild time (not timed in the table): {build}\n");
        let largest = proof_sizes.iter().max().copied().unwrap_or(0);
        targets.push((
            format!("proof generation & verification < 5 µs median (worst op, both Coffre modes, up to {} leaves)", int(largest as f64)),
            format!("{} µs", f(worst_coffre, 2)),
            worst_coffre.is_finite().then_some(worst_coffre < 5.0),
        ));
        targets.push((
            "proofs faster than ct-merkle in SHA-256 mode (every op)".into(),
            "see the ratio column".into(),
            all_faster,
        ));
    }

    // ---- Hashing limit
    if results.contains_key(&("hash".to_string(), "raw".to_string())) {
        let cores = med(results, "hash", "raw", "cores");
        let _ = writeln!(
            s,
            "## Hashing limit (RFC 6962 leaf hash of 256-byte records: 0x00 ‖ 20-byte timestamp ‖ payload; best of 3 passes, median of runs)\n"
        );
        let _ = writeln!(
            s,
            "| hash | 1 core records/s | 1 core MB/s | {} cores records/s | {} cores MB/s |",
            f(cores, 0),
            f(cores, 0)
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|");
        for (h, label) in [
            ("blake3", "BLAKE3, leaf by leaf (crate API)"),
            ("sha256", "SHA-256, leaf by leaf (crate API)"),
            ("blake3_batched", "BLAKE3, 16 leaves side by side (Coffre's batched leaf hash)"),
            ("blake3_stream", "BLAKE3 over the bytes as one stream (no leaves)"),
        ] {
            let _ = writeln!(
                s,
                "| {label} | {} | {} | {} | {} |",
                int(med(results, "hash", "raw", &format!("{h}_1_records_per_s"))),
                f(med(results, "hash", "raw", &format!("{h}_1_mb_per_s")), 0),
                int(med(results, "hash", "raw", &format!("{h}_all_records_per_s"))),
                f(med(results, "hash", "raw", &format!("{h}_all_mb_per_s")), 0),
            );
        }
        let _ = writeln!(s);
        let verify_sizes: Vec<u64> = p
            .open_sizes
            .iter()
            .copied()
            .filter(|n| results.keys().any(|(k, _)| *k == format!("verify/{n}")))
            .collect();
        let limit = med(results, "hash", "raw", "blake3_all_records_per_s");
        let batched = med(results, "hash", "raw", "blake3_batched_all_records_per_s");
        let stream = med(results, "hash", "raw", "blake3_stream_all_records_per_s");
        for &n in &verify_sizes {
            let v = med(results, &format!("verify/{n}"), "coffre", "records_per_s");
            let _ = writeln!(
                s,
                "`Log::verify()` on {} records of 256 B (BLAKE3, fresh process, page cache warm): \
                 {} records/s = {}% of the {}-core leaf-by-leaf BLAKE3 limit, {}% of the \
                 batched-leaf limit, {}% of the stream limit.\n",
                int(n as f64),
                int(v),
                f(100.0 * v / limit, 0),
                f(cores, 0),
                f(100.0 * v / batched, 0),
                f(100.0 * v / stream, 0),
            );
        }
        match verify_sizes.iter().max() {
            Some(&n) => {
                let v = med(results, &format!("verify/{n}"), "coffre", "records_per_s");
                targets.push((
                    format!(
                        "`Log::verify()` ≥ 70% of the all-core hashing limit ({} records)",
                        int(n as f64)
                    ),
                    format!("{}%", f(100.0 * v / limit, 0)),
                    (v / limit).is_finite().then_some(v / limit >= 0.7),
                ));
            }
            None => targets.push((
                "`Log::verify()` ≥ 70% of the all-core hashing limit".into(),
                "not run".into(),
                None,
            )),
        }
    }

    // ---- Open and memory
    let open_sizes: Vec<u64> = p
        .open_sizes
        .iter()
        .copied()
        .filter(|n| results.keys().any(|(k, _)| *k == format!("build/{n}")))
        .collect();
    if !open_sizes.is_empty() {
        let _ = writeln!(
            s,
            "## Open time and memory ({} B records appended with `append_batch` of 1,024, durable)\n\n\
             `open` = `Log::open` in a fresh process on the log just built (page cache warm), median of \
             3; peak RSS = VmHWM of the fresh process that appended every record.\n",
            p.open_payload
        );
        let _ = writeln!(
            s,
            "| records | build records/s | peak RSS appending | RSS after create | open (ms) | peak RSS opening |"
        );
        let _ = writeln!(s, "|---:|---:|---:|---:|---:|---:|");
        for &n in &open_sizes {
            let b = format!("build/{n}");
            let o = format!("open/{n}");
            let _ = writeln!(
                s,
                "| {} | {} | {} MiB | {} MiB | {} | {} MiB |",
                int(n as f64),
                int(med(results, &b, "coffre", "records_per_s")),
                f(med(results, &b, "coffre", "rss_peak_bytes") / 1048576.0, 1),
                f(med(results, &b, "coffre", "rss_created_bytes") / 1048576.0, 1),
                f(med(results, &o, "coffre", "open_ms"), 2),
                f(med(results, &o, "coffre", "rss_peak_bytes") / 1048576.0, 1),
            );
        }
        let _ = writeln!(s);
        let largest = open_sizes.iter().max().copied().unwrap_or(0);
        let open_ms = med(results, &format!("open/{largest}"), "coffre", "open_ms");
        let rss = med(results, &format!("build/{largest}"), "coffre", "rss_peak_bytes") / 1048576.0;
        let full = largest >= 10_000_000;
        targets.push((
            format!(
                "open time at 10M records < 50 ms{}",
                if full {
                    String::new()
                } else {
                    format!(" (measured at {} only)", int(largest as f64))
                }
            ),
            format!("{} ms", f(open_ms, 2)),
            if full { open_ms.is_finite().then_some(open_ms < 50.0) } else { None },
        ));
        targets.push((
            format!(
                "peak RSS appending 10M records < 64 MiB{}",
                if full {
                    String::new()
                } else {
                    format!(" (measured at {} only)", int(largest as f64))
                }
            ),
            format!("{} MiB", f(rss, 1)),
            if full { rss.is_finite().then_some(rss < 64.0) } else { None },
        ));
    }

    if !targets.is_empty() {
        let _ = writeln!(s, "## Targets\n");
        let _ = writeln!(s, "| target | measured | verdict |");
        let _ = writeln!(s, "|---|---:|---|");
        for (t, m, ok) in &targets {
            let _ = writeln!(s, "| {t} | {m} | {} |", verdict(*ok));
        }
    }
    s
}

/// Issue 3: append with the tree against the same log without tree writes (`notree`) and
/// without leaf hashing either (`storage`), same workloads, same run set.
fn tree_cost(
    s: &mut String,
    p: &Plan,
    results: &Results,
    targets: &mut Vec<(String, String, Option<bool>)>,
) {
    let workloads: Vec<(usize, usize)> = [(1, 1), (16, 1), (1, 1024)]
        .into_iter()
        .filter(|&(t, b)| results.contains_key(&(append_key(256, t, b), "coffre-storage".into())))
        .collect();
    if workloads.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "### Tree cost (issue 3): 256 B, records/s\n\n\
         `no tree` = benchmark-only `merkle_index: false` (no tree writes or syncs; leaf hash \
         still computed for the receipt); `storage only` = also `receipt_leaf_hash: false` (stamp, \
         frame, CRC, write, fdatasync). Overhead = storage-only rate / tree rate − 1 (added time \
         per record).\n"
    );
    let _ = writeln!(
        s,
        "| threads | records per call | tree | no tree | storage only | tree overhead vs storage only | vs no tree | tree G | storage G |"
    );
    let _ = writeln!(s, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    // The target compares with issue 2's append (one record per call, `examples/ingest`);
    // bulk batches are reported beside it.
    let mut worst = f64::NAN;
    let mut bulk = f64::NAN;
    for (threads, batch) in workloads {
        let key = append_key(256, threads, batch);
        let tree = med(results, &key, "coffre", "records_per_s");
        let notree = med(results, &key, "coffre-notree", "records_per_s");
        let storage = med(results, &key, "coffre-storage", "records_per_s");
        let over = storage / tree - 1.0;
        if batch == 1 {
            worst = if worst.is_finite() { worst.max(over) } else { over };
        } else {
            bulk = over;
        }
        let _ = writeln!(
            s,
            "| {threads} | {batch} | {} | {} | {} | {}% | {}% | {} | {} |",
            int(tree),
            int(notree),
            int(storage),
            f(100.0 * over, 1),
            f(100.0 * (notree / tree - 1.0), 1),
            f(med(results, &key, "coffre", "group"), 1),
            f(med(results, &key, "coffre-storage", "group"), 1),
        );
    }
    let _ = writeln!(s);
    let _ = p;
    targets.push((
        "append with the tree adds ≤ 25% over storage-only (issue 2's append: 256 B, one record per call, 1 and 16 threads; worst)"
            .into(),
        format!("{}% (bulk batches of 1,024, not the target's reference: {}%)", f(100.0 * worst, 1), f(100.0 * bulk, 1)),
        worst.is_finite().then_some(worst <= 0.25),
    ));
}

/// The highest median rate of okaywal, fjall and redb in a cell (NaN if none ran).
fn best_peer(results: &Results, key: &str) -> f64 {
    PEERS
        .iter()
        .map(|e| med(results, key, e, "records_per_s"))
        .filter(|x| x.is_finite())
        .fold(f64::NAN, f64::max)
}

/// The 16-thread 256 B target in raw-floor terms: what 2× the best peer demands against the
/// floor at group sizes 8 and 16 measured in the same run.
fn group_arithmetic(s: &mut String, results: &Results) {
    let key = append_key(256, 16, 1);
    if !results.contains_key(&(key.clone(), format!("raw{}", GROUP_FLOORS[1]))) {
        return;
    }
    let c = med(results, &key, "coffre", "records_per_s");
    let best = best_peer(results, &key);
    let _ = writeln!(s, "### 16 threads, 256 B: the 2× target against the floor\n");
    let _ = writeln!(s, "| figure | records/s | / raw B=8 | / raw B=16 |");
    let _ = writeln!(s, "|---|---:|---:|---:|");
    let r8 = med(results, &key, &format!("raw{}", GROUP_FLOORS[0]), "records_per_s");
    let r16 = med(results, &key, &format!("raw{}", GROUP_FLOORS[1]), "records_per_s");
    for (name, x) in [
        ("best peer".to_string(), best),
        ("target: 2 × best peer".to_string(), 2.0 * best),
        (format!("Coffre (G = {})", f(med(results, &key, "coffre", "group"), 1)), c),
        ("raw B=8".to_string(), r8),
        ("raw B=16".to_string(), r16),
    ] {
        let _ = writeln!(s, "| {name} | {} | {} | {} |", int(x), f(x / r8, 2), f(x / r16, 2));
    }
    let _ = writeln!(s);
}
