//! Append cost of the log against the raw write floor, in the same bench run.
//!
//! The reference is a raw `pwrite` of the same number of bytes plus one `fdatasync`, into a
//! zero-filled file like the log's default preallocation. The tree's own cost (the log with
//! the benchmark-only `merkle_index: false`, with and without leaf hashing) is measured in
//! bench/peers (`compare`, "Tree cost" table). `coffre_periodic` (acknowledged before fdatasync; for
//! benchmarks only) isolates the CPU and hand-off cost of the write path from the disk.
//!
//! `cargo bench --bench append`. Multi-threaded group commit and the peers are in bench/peers.

// criterion_group! generates an undocumented `pub fn`.
#![allow(missing_docs)]

use coffre::log::{Durability, Log, LogOptions};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::time::Duration;

const PAYLOAD_BYTES: usize = 256;
/// Coffre's frame for a 256-byte payload: 56-byte header + payload, 8-byte aligned.
const FRAME_BYTES: usize = 312;

fn payload(seed: u64) -> Vec<u8> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..PAYLOAD_BYTES)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s as u8
        })
        .collect()
}

/// A raw segment: zero-filled ahead in 64 MiB, written in place (wrapping around).
struct RawFile {
    file: File,
    pos: u64,
}

const RAW_SPAN_BYTES: u64 = 64 << 20;

impl RawFile {
    fn new(dir: &std::path::Path) -> RawFile {
        let file =
            File::options().create_new(true).read(true).write(true).open(dir.join("raw")).unwrap();
        let zeros = vec![0u8; 1 << 20];
        for i in 0..RAW_SPAN_BYTES / (1 << 20) {
            file.write_all_at(&zeros, i << 20).unwrap();
        }
        file.sync_all().unwrap();
        RawFile { file, pos: 0 }
    }

    fn write_sync(&mut self, buf: &[u8]) {
        if self.pos + buf.len() as u64 > RAW_SPAN_BYTES {
            self.pos = 0;
        }
        self.file.write_all_at(buf, self.pos).unwrap();
        self.file.sync_data().unwrap();
        self.pos += buf.len() as u64;
    }
}

fn append(c: &mut Criterion) {
    let payloads: Vec<Vec<u8>> = (0..64).map(payload).collect();
    let mut g = c.benchmark_group("append_256B");
    for batch in [1usize, 64] {
        g.throughput(Throughput::Elements(batch as u64));
        let dir = tempfile::tempdir().unwrap();
        let log = Log::create(dir.path().join("log"), LogOptions::default()).unwrap();
        g.bench_with_input(BenchmarkId::new("coffre_durable", batch), &batch, |b, &batch| {
            b.iter(|| {
                if batch == 1 {
                    log.append(&payloads[0]).unwrap();
                } else {
                    log.append_batch(&payloads[..batch]).unwrap();
                }
            })
        });
        drop(log);

        let dir = tempfile::tempdir().unwrap();
        let options = LogOptions {
            durability: Durability::Periodic { interval: Duration::from_millis(50) },
            ..LogOptions::default()
        };
        let log = Log::create(dir.path().join("log"), options).unwrap();
        g.bench_with_input(BenchmarkId::new("coffre_periodic", batch), &batch, |b, &batch| {
            b.iter(|| {
                if batch == 1 {
                    log.append(&payloads[0]).unwrap();
                } else {
                    log.append_batch(&payloads[..batch]).unwrap();
                }
            })
        });
        drop(log);

        let dir = tempfile::tempdir().unwrap();
        let mut raw = RawFile::new(dir.path());
        let bytes: Vec<u8> = payloads
            .iter()
            .take(batch)
            .flat_map(|p| p.iter().copied().cycle().take(FRAME_BYTES))
            .collect();
        g.bench_with_input(BenchmarkId::new("raw_pwrite_fdatasync", batch), &batch, |b, _| {
            b.iter(|| raw.write_sync(&bytes))
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = append
}
criterion_main!(benches);
