//! Proof generation and verification on a persistent tree store (BLAKE3), built once in a
//! temporary directory. 1M leaves by default; `COFFRE_BENCH_LEAVES=10000000` for 10M.
//!
//! `cargo bench --bench proofs`. The cross-engine comparison (ct-merkle, SHA-256 mode) is in
//! bench/peers; this bench tracks Coffre's own figures over time.

// criterion_group! generates an undocumented `pub fn`.
#![allow(missing_docs)]

use coffre::log::merkle::{verify_consistency, verify_inclusion};
use coffre::log::tree_store::TreeStore;
use coffre::log::{Hash, HashAlgorithm};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use std::time::Duration;

const ALG: HashAlgorithm = HashAlgorithm::Blake3;
const QUERIES: usize = 1024;

fn leaf_value(i: u64) -> [u8; 16] {
    let mut v = [0u8; 16];
    v[..8].copy_from_slice(&i.to_le_bytes());
    v[8..].copy_from_slice(&i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
    v
}

/// Deterministic query points (xorshift), so runs compare like with like.
fn points(seed: u64, lo: u64, hi: u64) -> Vec<u64> {
    let mut s = seed | 1;
    (0..QUERIES)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            lo + s % (hi - lo)
        })
        .collect()
}

fn proofs(c: &mut Criterion) {
    let leaves: u64 = std::env::var("COFFRE_BENCH_LEAVES")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n >= 2)
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let tree = TreeStore::create(dir.path(), ALG).unwrap();
    let mut next = 0u64;
    while next < leaves {
        let end = (next + 65_536).min(leaves);
        let chunk: Vec<Hash> = (next..end).map(|i| ALG.leaf_hash(&leaf_value(i))).collect();
        tree.append_leaves(&chunk).unwrap();
        next = end;
    }
    tree.sync().unwrap();
    let root = tree.root(leaves).unwrap();
    let index = points(leaves, 0, leaves);
    let old = points(leaves ^ 0xabcd, 1, leaves);
    let incl: Vec<Vec<Hash>> =
        index.iter().map(|&i| tree.inclusion_path(i, leaves).unwrap()).collect();
    let cons: Vec<Vec<Hash>> =
        old.iter().map(|&m| tree.consistency_path(m, leaves).unwrap()).collect();
    let old_roots: Vec<Hash> = old.iter().map(|&m| tree.root(m).unwrap()).collect();

    let mut g = c.benchmark_group(format!("proofs_{leaves}_blake3"));
    let mut k = 0usize;
    g.bench_function("inclusion_generate", |b| {
        b.iter(|| {
            k = (k + 1) % QUERIES;
            black_box(tree.inclusion_path(index[k], leaves).unwrap())
        })
    });
    g.bench_function("inclusion_verify", |b| {
        b.iter(|| {
            k = (k + 1) % QUERIES;
            let leaf = ALG.leaf_hash(&leaf_value(index[k]));
            verify_inclusion(ALG, index[k], leaves, &leaf, &incl[k], &root).unwrap()
        })
    });
    g.bench_function("consistency_generate", |b| {
        b.iter(|| {
            k = (k + 1) % QUERIES;
            black_box(tree.consistency_path(old[k], leaves).unwrap())
        })
    });
    g.bench_function("consistency_verify", |b| {
        b.iter(|| {
            k = (k + 1) % QUERIES;
            verify_consistency(ALG, old[k], leaves, &old_roots[k], &root, &cons[k]).unwrap()
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = proofs
}
criterion_main!(benches);
