//! Creates a log, appends a few records, reopens it and prints what it holds.
//!
//! `cargo run --release --example quickstart [-- DIR]` (a temporary directory by default).

use coffre::log::{Log, LogOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let temp = tempfile::tempdir()?;
    let dir = std::env::args().nth(1).map_or_else(|| temp.path().to_path_buf(), Into::into);

    let log = Log::create(&dir, LogOptions::default())?;
    for who in ["alice", "bob", "carol"] {
        let payload = format!("{{\"student\":\"{who}\",\"session\":\"2025-03-14 AM\"}}");
        let receipt = log.append(payload.as_bytes())?;
        println!("appended #{} leaf {}", receipt.index, receipt.leaf_hash);
    }
    let batch: Vec<Vec<u8>> = (0..5).map(|i| format!("batch record {i}").into_bytes()).collect();
    log.append_batch(&batch)?;
    drop(log);

    let (log, report) = Log::open(&dir, LogOptions::default())?;
    println!(
        "reopened {}: {} records, torn tail: {:?}",
        dir.display(),
        log.len(),
        report.torn_tail
    );
    let m = log.manifest();
    println!(
        "hash {}, origin {}, segment size {} bytes",
        m.hash_algorithm.name(),
        m.origin,
        m.segment_size_bytes
    );
    for record in log.iter(0..4) {
        let record = record?;
        println!(
            "#{} at {}..{} ns: {}",
            record.index,
            record.timestamp.earliest_ns(),
            record.timestamp.latest_ns(),
            String::from_utf8_lossy(&record.payload)
        );
    }
    println!("root at size {}: {}", log.len(), log.root(log.len())?);
    Ok(())
}
