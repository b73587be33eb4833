//! Hashing-limit cell: raw BLAKE3 and SHA-256 throughput over exactly the bytes a whole-log
//! verification must hash, the RFC 6962 leaf of each record (`0x00 || 20-byte timestamp ||
//! payload`), single-threaded and on every core. This is the ceiling for `Log::verify()`.
//! Three ways to hash the same bytes with BLAKE3 are measured:
//! - `blake3` / `sha256`: each leaf through the hash crate's public API, one after another;
//! - `blake3_batched`: each leaf through Coffre's `HashAlgorithm::leaf_hashes_into`, which
//!   hashes up to 16 leaves side by side (the way `verify()` does);
//! - `blake3_stream`: the records' bytes as one stream per thread (no leaves at all): what
//!   BLAKE3 itself reaches on these bytes, an upper bound no per-leaf scheme can touch.

use crate::util::{payload, CellArgs, CellResult};
use coffre_log::HashAlgorithm;
use sha2::Digest as _;
use std::hint::black_box;
use std::time::Instant;

const TIMESTAMP_LEN: usize = 20;

fn leaf_blake3(ts: &[u8], payload: &[u8]) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(&[0u8]);
    h.update(ts);
    h.update(payload);
    *h.finalize().as_bytes()
}

fn leaf_sha256(ts: &[u8], payload: &[u8]) -> [u8; 32] {
    let mut h = sha2::Sha256::new();
    h.update([0u8]);
    h.update(ts);
    h.update(payload);
    h.finalize().into()
}

/// How a pass hashes the records.
#[derive(Clone, Copy)]
enum Mode {
    LeafBlake3,
    LeafSha256,
    BatchedBlake3,
    StreamBlake3,
}

/// Hashes every record of `records` (each `TIMESTAMP_LEN + payload` bytes) on `threads`
/// threads; returns seconds.
fn pass(records: &[u8], record_len: usize, threads: usize, mode: Mode) -> f64 {
    let n = records.len() / record_len;
    let per = n.div_ceil(threads);
    let t0 = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let lo = (t * per).min(n);
            let hi = ((t + 1) * per).min(n);
            let slice = &records[lo * record_len..hi * record_len];
            s.spawn(move || {
                let mut acc = 0u8;
                match mode {
                    Mode::StreamBlake3 => acc ^= blake3::hash(slice).as_bytes()[0],
                    Mode::BatchedBlake3 => {
                        let mut out = Vec::with_capacity(4096);
                        for chunk in slice.chunks(4096 * record_len) {
                            let leaves: Vec<[&[u8]; 2]> = chunk
                                .chunks_exact(record_len)
                                .map(|rec| {
                                    let (ts, p) = rec.split_at(TIMESTAMP_LEN);
                                    [ts, p]
                                })
                                .collect();
                            out.clear();
                            HashAlgorithm::Blake3.leaf_hashes_into(&leaves, &mut out);
                            acc ^= out.iter().fold(0, |a, h| a ^ h.0[0]);
                        }
                    }
                    Mode::LeafBlake3 | Mode::LeafSha256 => {
                        for rec in slice.chunks_exact(record_len) {
                            let (ts, p) = rec.split_at(TIMESTAMP_LEN);
                            let h = match mode {
                                Mode::LeafSha256 => leaf_sha256(ts, p),
                                _ => leaf_blake3(ts, p),
                            };
                            acc ^= h[0];
                        }
                    }
                }
                black_box(acc);
            });
        }
    });
    t0.elapsed().as_secs_f64()
}

/// Runs the cell: `records`, `payload` bytes, `passes` (best pass reported, to show the
/// machine's limit rather than its noise).
pub fn run(args: &CellArgs) -> Result<CellResult, String> {
    let n: usize = args.num("records")?;
    let payload_bytes: usize = args.num("payload")?;
    let passes: usize = args.num("passes")?;
    let record_len = TIMESTAMP_LEN + payload_bytes;
    let mut records = Vec::with_capacity(n * record_len);
    for i in 0..n {
        records.extend_from_slice(&payload(i as u64 + 1, record_len));
    }
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let leaf_bytes = (n * (1 + record_len)) as f64;
    let mut r = CellResult::default();
    r.set("cores", cores as f64);
    let modes = [
        ("blake3", Mode::LeafBlake3),
        ("sha256", Mode::LeafSha256),
        ("blake3_batched", Mode::BatchedBlake3),
        ("blake3_stream", Mode::StreamBlake3),
    ];
    for (name, how) in modes {
        for (mode, threads) in [("1", 1), ("all", cores)] {
            let best = (0..passes)
                .map(|_| pass(&records, record_len, threads, how))
                .fold(f64::INFINITY, f64::min);
            r.set(&format!("{name}_{mode}_records_per_s"), n as f64 / best);
            r.set(&format!("{name}_{mode}_mb_per_s"), leaf_bytes / best / 1e6);
        }
    }
    Ok(r)
}
