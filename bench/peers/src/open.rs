//! Open-time and memory cells.
//!
//! `build`: a fresh process creates a log and appends `records` records of `payload` bytes
//! with `append_batch` (durable batches of `batch`), then reports its peak RSS (VmHWM): the
//! memory the log needs while growing to that size. The log is kept for `open`.
//!
//! `open`: a fresh process times `Log::open` on that log (page cache warm: it was just
//! written), checks the length, and reports its peak RSS too.

use crate::util::{payload, proc_status_bytes, CellArgs, CellResult};
use coffre_log::{Log, LogOptions};
use std::time::Instant;

/// Runs the build cell.
pub fn build(args: &CellArgs) -> Result<CellResult, String> {
    let n: u64 = args.num("records")?;
    let payload_bytes: usize = args.num("payload")?;
    let batch: usize = args.num("batch")?;
    let dir = std::path::PathBuf::from(args.str("dir")?);
    let mut r = CellResult::default();
    r.set("rss_start_bytes", proc_status_bytes("VmHWM"));
    let log = Log::create(&dir, LogOptions::default()).map_err(|e| e.to_string())?;
    r.set("rss_created_bytes", proc_status_bytes("VmHWM"));
    let pool: Vec<Vec<u8>> = (0..64).map(|i| payload(i + 1, payload_bytes)).collect();
    let mut owned: Vec<Vec<u8>> = vec![Vec::new(); batch];
    let t0 = Instant::now();
    let mut done = 0u64;
    while done < n {
        let take = ((n - done) as usize).min(batch);
        for (i, slot) in owned.iter_mut().take(take).enumerate() {
            let k = done + i as u64;
            slot.clear();
            slot.extend_from_slice(&pool[(k % 64) as usize]);
            let m = slot.len().min(8);
            slot[..m].copy_from_slice(&k.to_le_bytes()[..m]);
        }
        log.append_batch(&owned[..take]).map_err(|e| e.to_string())?;
        done += take as u64;
    }
    let elapsed = t0.elapsed().as_secs_f64();
    r.set("records", done as f64)
        .set("append_s", elapsed)
        .set("records_per_s", done as f64 / elapsed)
        .set("rss_peak_bytes", proc_status_bytes("VmHWM"))
        .set("rss_end_bytes", proc_status_bytes("VmRSS"));
    let t1 = Instant::now();
    drop(log);
    r.set("close_s", t1.elapsed().as_secs_f64());
    Ok(r)
}

/// Runs the open cell.
pub fn open(args: &CellArgs) -> Result<CellResult, String> {
    let expect: u64 = args.num("records")?;
    let dir = std::path::PathBuf::from(args.str("dir")?);
    let mut r = CellResult::default();
    let t0 = Instant::now();
    let (log, _report) = Log::open(&dir, LogOptions::default()).map_err(|e| e.to_string())?;
    let open_s = t0.elapsed().as_secs_f64();
    if log.len() != expect {
        return Err(format!("opened log has {} records, expected {expect}", log.len()));
    }
    // A first read and a root show the log is usable, not merely opened.
    let t1 = Instant::now();
    let root_ok = log.root(expect).is_ok() && (expect == 0 || log.read(expect - 1).is_ok());
    r.set("open_ms", open_s * 1e3)
        .set("first_read_root_ms", t1.elapsed().as_secs_f64() * 1e3)
        .set("usable", if root_ok { 1.0 } else { 0.0 })
        .set("rss_peak_bytes", proc_status_bytes("VmHWM"));
    let t2 = Instant::now();
    drop(log);
    r.set("close_ms", t2.elapsed().as_secs_f64() * 1e3);
    Ok(r)
}

/// Runs the verify cell: `Log::verify()` over the whole log (opening not timed). Reports
/// records/s, comparable with the hashing cell's all-core leaf-hashing limit.
pub fn verify(args: &CellArgs) -> Result<CellResult, String> {
    let expect: u64 = args.num("records")?;
    let dir = std::path::PathBuf::from(args.str("dir")?);
    let (log, _report) = Log::open(&dir, LogOptions::default()).map_err(|e| e.to_string())?;
    let t0 = Instant::now();
    log.verify(&|_| {}).map_err(|e| format!("verify failed: {e}"))?;
    let s = t0.elapsed().as_secs_f64();
    let mut r = CellResult::default();
    r.set("verify_s", s)
        .set("records_per_s", expect as f64 / s)
        .set("rss_peak_bytes", proc_status_bytes("VmHWM"));
    Ok(r)
}
