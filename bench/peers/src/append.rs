//! Durable-append cell: one engine, one payload size, N writer threads, each call waiting
//! until its records are durable (fdatasync done). Bounded by a record count OR a duration,
//! whichever comes first. Only the appends are timed (opening and closing are not).

use crate::util::{coffre_frame_len, payload, proc_status_bytes, quantile, CellArgs, CellResult};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Distinct payloads each thread cycles through (their first 8 bytes are then made unique).
const PAYLOADS_PER_THREAD: usize = 64;
/// Space the raw floor zero-fills and syncs ahead of its writes, outside the clock.
const RAW_PREALLOC_CHUNK_BYTES: u64 = 32 << 20;

/// One engine under test. `append` returns once the records are durable.
trait Engine: Sync {
    fn append(&self, key: u64, records: &[&[u8]]) -> Result<(), String>;
}

struct CoffreEngine(coffre_log::Log);

impl Engine for CoffreEngine {
    fn append(&self, _key: u64, records: &[&[u8]]) -> Result<(), String> {
        if let [one] = records {
            self.0.append(one).map(|_| ()).map_err(|e| e.to_string())
        } else {
            self.0.append_batch(records).map(|_| ()).map_err(|e| e.to_string())
        }
    }
}

struct OkayWalEngine(okaywal::WriteAheadLog);

impl Engine for OkayWalEngine {
    fn append(&self, _key: u64, records: &[&[u8]]) -> Result<(), String> {
        // One entry per call; `commit` returns after the (shared) fsync.
        let mut entry = self.0.begin_entry().map_err(|e| e.to_string())?;
        for r in records {
            entry.write_chunk(r).map_err(|e| e.to_string())?;
        }
        entry.commit().map(|_| ()).map_err(|e| e.to_string())
    }
}

struct FjallEngine {
    db: fjall::Database,
    keyspace: fjall::Keyspace,
}

impl Engine for FjallEngine {
    fn append(&self, key: u64, records: &[&[u8]]) -> Result<(), String> {
        // As documented for durability: the batch persists its journal with SyncData.
        let mut batch = self.db.batch().durability(Some(fjall::PersistMode::SyncData));
        for (i, r) in records.iter().enumerate() {
            batch.insert(&self.keyspace, (key + i as u64).to_be_bytes(), *r);
        }
        batch.commit().map_err(|e| e.to_string())
    }
}

const REDB_TABLE: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("log");

struct RedbEngine(redb::Database);

impl Engine for RedbEngine {
    fn append(&self, key: u64, records: &[&[u8]]) -> Result<(), String> {
        // Default durability is Immediate: `commit` returns once the transaction is durable.
        let txn = self.0.begin_write().map_err(|e| e.to_string())?;
        {
            let mut table = txn.open_table(REDB_TABLE).map_err(|e| e.to_string())?;
            for (i, r) in records.iter().enumerate() {
                table.insert(key + i as u64, *r).map_err(|e| e.to_string())?;
            }
        }
        txn.commit().map_err(|e| e.to_string())
    }
}

/// Per-thread measurements.
struct ThreadOut {
    records: u64,
    latencies_ns: Vec<u64>,
}

/// Runs the cell described by `args` and returns its figures.
pub fn run(args: &CellArgs) -> Result<CellResult, String> {
    let engine = args.str("engine")?;
    let payload_bytes: usize = args.num("payload")?;
    let threads: usize = args.num("threads")?;
    let batch: usize = args.num("batch")?;
    let records_max: u64 = args.num("records")?;
    let seconds: f64 = args.num("seconds")?;
    let dir = std::path::PathBuf::from(args.str("dir")?);
    let limit = Limit { records_max, duration: Duration::from_secs_f64(seconds) };

    let mut result = CellResult::default();
    match engine {
        "coffre" | "coffre-notree" | "coffre-storage" | "coffre-setlen" => {
            // Issue 3's tree-cost reference (benchmark-only options of the log): `notree`
            // skips the tree writes and syncs but still computes each receipt's leaf hash;
            // `storage` also skips the leaf hash (stamp, frame, CRC, write, fdatasync only).
            // `setlen` is the full log with `Preallocation::SetLen` instead of the default
            // zero-fill (which writes every byte of a segment twice).
            let options = coffre_log::LogOptions {
                merkle_index: engine != "coffre-notree" && engine != "coffre-storage",
                receipt_leaf_hash: engine != "coffre-storage",
                preallocation: if engine == "coffre-setlen" {
                    coffre_log::Preallocation::SetLen
                } else {
                    coffre_log::Preallocation::ZeroFill
                },
                ..coffre_log::LogOptions::default()
            };
            let log = coffre_log::Log::create(&dir, options).map_err(|e| e.to_string())?;
            let engine = CoffreEngine(log);
            drive(&engine, threads, batch, payload_bytes, &limit, &mut result)?;
            let stats = engine.0.stats();
            result
                .set("fsyncs", stats.fsyncs as f64)
                .set("group", stats.mean_group_records())
                .set("groups", stats.groups_committed as f64)
                .set(
                    "bytes_per_record",
                    stats.bytes_written as f64 / stats.records_committed as f64,
                );
        }
        "okaywal" => {
            let wal = okaywal::WriteAheadLog::recover(&dir, okaywal::LogVoid)
                .map_err(|e| e.to_string())?;
            let engine = OkayWalEngine(wal);
            drive(&engine, threads, batch, payload_bytes, &limit, &mut result)?;
            engine.0.shutdown().map_err(|e| e.to_string())?;
        }
        "fjall" => {
            let db = fjall::Database::builder(&dir).open().map_err(|e| e.to_string())?;
            let keyspace = db
                .keyspace("log", fjall::KeyspaceCreateOptions::default)
                .map_err(|e| e.to_string())?;
            let engine = FjallEngine { db, keyspace };
            drive(&engine, threads, batch, payload_bytes, &limit, &mut result)?;
        }
        "redb" => {
            let db = redb::Database::create(dir.join("log.redb")).map_err(|e| e.to_string())?;
            let engine = RedbEngine(db);
            drive(&engine, threads, batch, payload_bytes, &limit, &mut result)?;
        }
        "raw" => raw_floor(&dir, batch, payload_bytes, &limit, &mut result)?,
        other => return Err(format!("unknown engine {other}")),
    }
    result.set("rss_peak_bytes", proc_status_bytes("VmHWM"));
    Ok(result)
}

struct Limit {
    records_max: u64,
    duration: Duration,
}

/// Spreads appends over `threads` threads until the limit, then reports throughput and latency.
fn drive(
    engine: &dyn Engine,
    threads: usize,
    batch: usize,
    payload_bytes: usize,
    limit: &Limit,
    result: &mut CellResult,
) -> Result<(), String> {
    let stop = AtomicBool::new(false);
    // Claimed record keys: a thread takes `batch` keys per call, so keys never collide.
    let claimed = AtomicU64::new(0);
    let started = Instant::now();
    let outs: Vec<Result<ThreadOut, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let stop = &stop;
                let claimed = &claimed;
                s.spawn(move || {
                    let pool: Vec<Vec<u8>> = (0..PAYLOADS_PER_THREAD)
                        .map(|i| payload((t * PAYLOADS_PER_THREAD + i) as u64 + 1, payload_bytes))
                        .collect();
                    let mut out =
                        ThreadOut { records: 0, latencies_ns: Vec::with_capacity(1 << 16) };
                    let mut owned: Vec<Vec<u8>> = vec![Vec::new(); batch];
                    while !stop.load(Ordering::Relaxed) {
                        let key = claimed.fetch_add(batch as u64, Ordering::Relaxed);
                        if key >= limit.records_max {
                            break;
                        }
                        for (i, slot) in owned.iter_mut().enumerate() {
                            let k = key + i as u64;
                            slot.clear();
                            slot.extend_from_slice(&pool[(k as usize) % PAYLOADS_PER_THREAD]);
                            // Unique bytes per record, so no engine can deduplicate.
                            let n = slot.len().min(8);
                            slot[..n].copy_from_slice(&k.to_le_bytes()[..n]);
                        }
                        let refs: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
                        let t0 = Instant::now();
                        engine.append(key, &refs)?;
                        out.latencies_ns.push(t0.elapsed().as_nanos() as u64);
                        out.records += batch as u64;
                    }
                    Ok(out)
                })
            })
            .collect();
        // The orchestrating thread only sleeps and raises the stop flag.
        while started.elapsed() < limit.duration
            && claimed.load(Ordering::Relaxed) < limit.records_max
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        stop.store(true, Ordering::Relaxed);
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("thread panicked".into())))
            .collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    let mut records = 0u64;
    let mut lat: Vec<f64> = Vec::new();
    for o in outs {
        let o = o?;
        records += o.records;
        lat.extend(o.latencies_ns.iter().map(|&n| n as f64 / 1000.0));
    }
    lat.sort_by(f64::total_cmp);
    result
        .set("records", records as f64)
        .set("seconds", elapsed)
        .set("records_per_s", records as f64 / elapsed)
        .set("mb_per_s", records as f64 * payload_bytes as f64 / elapsed / 1e6)
        .set("p50_us", quantile(&lat, 0.5))
        .set("p99_us", quantile(&lat, 0.99));
    Ok(())
}

/// The hardware floor: one thread writes Coffre-sized frames with positioned writes and one
/// fdatasync per batch of `batch` records, into space zero-filled AND synced ahead. The
/// zero-filling is paused out of the clock (as a background preallocator would hide it), so
/// the floor is the disk's limit for these bytes: `raw, zero-filled ahead` of BASELINE.md.
fn raw_floor(
    dir: &Path,
    batch: usize,
    payload_bytes: usize,
    limit: &Limit,
    result: &mut CellResult,
) -> Result<(), String> {
    let path = dir.join("raw.seg");
    let file = std::fs::OpenOptions::new()
        .create_new(true)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| e.to_string())?;
    let frame = coffre_frame_len(payload_bytes);
    let pool: Vec<Vec<u8>> =
        (0..PAYLOADS_PER_THREAD).map(|i| payload(i as u64 + 1, frame)).collect();
    let zeros = vec![0u8; 1 << 20];
    let mut buf: Vec<u8> = Vec::with_capacity(frame * batch);
    let mut pos = 0u64;
    let mut prealloc_end = 0u64;
    let mut records = 0u64;
    let mut fsyncs = 0u64;
    let mut lat: Vec<f64> = Vec::new();
    let mut timed = Duration::ZERO;
    let started = Instant::now();
    while records < limit.records_max && started.elapsed() < limit.duration.mul_f64(3.0) {
        if timed >= limit.duration {
            break;
        }
        buf.clear();
        for i in 0..batch {
            let k = records + i as u64;
            buf.extend_from_slice(&pool[(k as usize) % PAYLOADS_PER_THREAD]);
            let at = buf.len() - frame;
            buf[at..at + 8].copy_from_slice(&k.to_le_bytes());
        }
        let end = pos + buf.len() as u64;
        // Untimed: zero-fill and sync the next chunk(s).
        while end > prealloc_end {
            let chunk_end = prealloc_end + RAW_PREALLOC_CHUNK_BYTES;
            let mut p = prealloc_end;
            while p < chunk_end {
                file.write_all_at(&zeros, p).map_err(|e| e.to_string())?;
                p += zeros.len() as u64;
            }
            file.sync_all().map_err(|e| e.to_string())?;
            prealloc_end = chunk_end;
        }
        let t0 = Instant::now();
        file.write_all_at(&buf, pos).map_err(|e| e.to_string())?;
        file.sync_data().map_err(|e| e.to_string())?;
        let took = t0.elapsed();
        timed += took;
        fsyncs += 1;
        pos = end;
        records += batch as u64;
        lat.push(took.as_nanos() as f64 / 1000.0);
    }
    let elapsed = timed.as_secs_f64();
    lat.sort_by(f64::total_cmp);
    result
        .set("records", records as f64)
        .set("seconds", elapsed)
        .set("records_per_s", records as f64 / elapsed)
        .set("mb_per_s", records as f64 * payload_bytes as f64 / elapsed / 1e6)
        .set("p50_us", quantile(&lat, 0.5))
        .set("p99_us", quantile(&lat, 0.99))
        .set("fsyncs", fsyncs as f64)
        .set("group", batch as f64);
    Ok(())
}
