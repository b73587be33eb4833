//! Ingest benchmark: many threads appending durable records at once.
//!
//! `cargo run --release --example ingest -- --records 100000 --payload-bytes 256 --threads 16
//!  [--dir DIR] [--batch 1] [--durability immediate|periodic] [--prealloc zerofill|setlen|none]`
//!
//! Prints records/s, MB/s, fsyncs/s, mean commit-group size and p50/p99 append latency.

use coffre::log::{Durability, Log, LogOptions, Preallocation};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Args {
    records: u64,
    payload_bytes: usize,
    threads: u64,
    batch: usize,
    dir: Option<String>,
    durability: Durability,
    preallocation: Preallocation,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        records: 100_000,
        payload_bytes: 256,
        threads: 16,
        batch: 1,
        dir: None,
        durability: Durability::Immediate,
        preallocation: Preallocation::ZeroFill,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        let num = |v: String| v.parse::<u64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--records" => a.records = num(value()?)?,
            "--payload-bytes" => a.payload_bytes = num(value()?)? as usize,
            "--threads" => a.threads = num(value()?)?.max(1),
            "--batch" => a.batch = num(value()?)?.max(1) as usize,
            "--dir" => a.dir = Some(value()?),
            "--durability" => {
                a.durability = match value()?.as_str() {
                    "immediate" => Durability::Immediate,
                    "periodic" => Durability::Periodic { interval: Duration::from_millis(10) },
                    other => return Err(format!("unknown durability {other}")),
                }
            }
            "--prealloc" => {
                a.preallocation = match value()?.as_str() {
                    "zerofill" => Preallocation::ZeroFill,
                    "setlen" => Preallocation::SetLen,
                    "none" => Preallocation::None,
                    other => return Err(format!("unknown preallocation {other}")),
                }
            }
            "-h" | "--help" => return Err("usage: see the header of examples/ingest.rs".into()),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(a)
}

/// Incompressible bytes (xorshift), different for every record.
fn payload(seed: u64, len: usize) -> Vec<u8> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s as u8
        })
        .collect()
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let temp = tempfile::tempdir()?;
    let dir = args.dir.clone().map_or_else(|| temp.path().join("log"), Into::into);
    let options = LogOptions {
        durability: args.durability,
        preallocation: args.preallocation,
        payload_size_bytes_max: u32::try_from(args.payload_bytes.max(1024))?,
        ..LogOptions::default()
    };
    let log = Arc::new(Log::create(&dir, options)?);
    let per_thread = args.records / args.threads;
    let start = Instant::now();
    let handles: Vec<_> = (0..args.threads)
        .map(|t| {
            let log = Arc::clone(&log);
            let (batch, bytes) = (args.batch, args.payload_bytes);
            std::thread::spawn(move || -> Result<Vec<u32>, coffre::log::LogError> {
                let payloads: Vec<Vec<u8>> =
                    (0..batch as u64).map(|k| payload(t * 1_000_003 + k, bytes)).collect();
                let mut latencies_us = Vec::with_capacity((per_thread as usize) / batch + 1);
                let mut done = 0u64;
                while done < per_thread {
                    let n = (per_thread - done).min(batch as u64) as usize;
                    let t0 = Instant::now();
                    if n == 1 {
                        log.append(&payloads[0])?;
                    } else {
                        log.append_batch(&payloads[..n])?;
                    }
                    latencies_us.push(t0.elapsed().as_micros().min(u32::MAX as u128) as u32);
                    done += n as u64;
                }
                Ok(latencies_us)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for h in handles {
        latencies.extend(h.join().map_err(|_| "appender thread panicked")??);
    }
    let secs = start.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let stats = log.stats();
    let records = per_thread * args.threads;
    println!(
        "records {records} x {} B, {} threads, batch {}, {:?}, {:?}",
        args.payload_bytes, args.threads, args.batch, args.durability, args.preallocation
    );
    println!("records/s      {:.0}", records as f64 / secs);
    println!("MB/s           {:.1}", stats.bytes_written as f64 / secs / 1e6);
    println!("fsyncs/s       {:.0} ({} total)", stats.fsyncs as f64 / secs, stats.fsyncs);
    println!(
        "mean group     {:.1} records ({} groups)",
        stats.mean_group_records(),
        stats.groups_committed
    );
    println!("latency p50    {} us", percentile(&latencies, 0.50));
    println!("latency p99    {} us", percentile(&latencies, 0.99));
    println!("segments       {} sealed", stats.segments_sealed);
    Ok(())
}
