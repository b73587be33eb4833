//! Replays each fuzz target's committed seed corpus (`fuzz/corpus/<target>/seed-*`) through
//! the target's body on stable Rust, so the corpora stay green without nightly or
//! cargo-fuzz. The bodies are the very files the cargo-fuzz targets run (`fuzz/bodies/`).
//!
//! Also: `COFFRE_FUZZ_REPLAY=<target>:<file or folder>` replays any input (e.g. a crash
//! found by `scripts/fuzz.sh`) in the `replay_input_from_env` test; the ignored test
//! `write_generated_seeds` regenerates the generated seeds (docs/TESTING.md).

#[path = "../fuzz/bodies/mod.rs"]
mod bodies;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

const SEED_BYTES_MAX: u64 = 4 * 1024;
const CORPUS_BYTES_MAX: u64 = 200 * 1024;

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz").join("corpus")
}

/// The committed seed files of `target`, sorted.
fn seed_files(target: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(corpus_root().join(target)) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("seed-")))
        .collect();
    files.sort();
    files
}

/// Runs `body` on every file, returning the ones that panicked with their message.
fn replay(body: bodies::Body, files: &[PathBuf]) -> Vec<String> {
    let mut failures = Vec::new();
    for file in files {
        let data = std::fs::read(file).unwrap();
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| body(&data))) {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{}: {msg}", file.display()));
        }
    }
    failures
}

fn body_of(target: &str) -> bodies::Body {
    bodies::TARGETS
        .iter()
        .find(|(name, _, _)| *name == target)
        .map(|(_, body, _)| *body)
        .unwrap_or_else(|| panic!("no fuzz target named {target}"))
}

#[test]
fn every_target_replays_its_committed_seeds_without_panicking() {
    let mut failures = Vec::new();
    for (target, body, _) in bodies::TARGETS {
        let files = seed_files(target);
        assert!(
            !files.is_empty(),
            "fuzz target {target} has no committed seed in fuzz/corpus/{target}/"
        );
        failures.extend(replay(*body, &files));
    }
    assert!(failures.is_empty(), "seeds that fail their target:\n{}", failures.join("\n"));
}

#[test]
fn every_corpus_folder_belongs_to_a_target() {
    for entry in std::fs::read_dir(corpus_root()).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        assert!(
            bodies::TARGETS.iter().any(|(t, _, _)| *t == name),
            "fuzz/corpus/{name} matches no target in fuzz/bodies/mod.rs"
        );
    }
}

#[test]
fn committed_seeds_stay_small() {
    let mut total = 0;
    for (target, _, _) in bodies::TARGETS {
        for file in seed_files(target) {
            let len = std::fs::metadata(&file).unwrap().len();
            assert!(
                len <= SEED_BYTES_MAX,
                "{} is {len} bytes (max {SEED_BYTES_MAX})",
                file.display()
            );
            total += len;
        }
    }
    assert!(total <= CORPUS_BYTES_MAX, "seed corpus is {total} bytes (max {CORPUS_BYTES_MAX})");
}

#[test]
fn generated_seeds_run_clean_through_their_targets() {
    // The generators use the current APIs, so they catch a format change the committed
    // seeds (made by an older version) would only show as lost coverage.
    let mut failures = Vec::new();
    for (target, body, seeds) in bodies::TARGETS {
        for (name, data) in seeds() {
            if catch_unwind(AssertUnwindSafe(|| body(&data))).is_err() {
                failures.push(format!("{target}/{name}"));
            }
        }
    }
    assert!(failures.is_empty(), "generated seeds that fail: {failures:?}");
}

#[test]
fn empty_and_tiny_inputs_never_panic() {
    for (target, body, _) in bodies::TARGETS {
        for data in [&[][..], &[0], &[0xff], &[1, 2, 3], &[0xff; 8]] {
            let failed = catch_unwind(AssertUnwindSafe(|| body(data))).is_err();
            assert!(!failed, "{target} panicked on {data:?}");
        }
    }
}

#[test]
fn replay_input_from_env() {
    let Ok(spec) = std::env::var("COFFRE_FUZZ_REPLAY") else {
        return;
    };
    let (target, path) = spec.split_once(':').expect("COFFRE_FUZZ_REPLAY=<target>:<path>");
    let path = PathBuf::from(path);
    let files = if path.is_dir() {
        let mut f: Vec<PathBuf> =
            std::fs::read_dir(&path).unwrap().flatten().map(|e| e.path()).collect();
        f.sort();
        f
    } else {
        vec![path]
    };
    let body = body_of(target);
    for file in &files {
        eprintln!("replaying {}", file.display());
        // No catch_unwind: the panic and its backtrace are what the reader wants.
        body(&std::fs::read(file).unwrap());
    }
}

/// Whether `COFFRE_FUZZ_SEEDS` (comma-separated `target` or `target:name`; unset: all)
/// selects seed `name` of `target`. Seeds made from real logs differ at each run (creation
/// time, keys), so rewriting all of them for one new seed would churn every corpus.
fn seed_selected(target: &str, name: &str) -> bool {
    let Ok(list) = std::env::var("COFFRE_FUZZ_SEEDS") else {
        return true;
    };
    list.split(',').map(str::trim).any(|s| match s.split_once(':') {
        Some((t, n)) => t == target && n == name,
        None => s == target,
    })
}

#[test]
#[ignore = "writes fuzz/corpus/<target>/seed-<name>; run by hand after a format change"]
fn write_generated_seeds() {
    for (target, _, seeds) in bodies::TARGETS {
        let dir = corpus_root().join(target);
        for (name, data) in seeds() {
            if seed_selected(target, &name) {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(dir.join(format!("seed-{name}")), data).unwrap();
            }
        }
    }
}
