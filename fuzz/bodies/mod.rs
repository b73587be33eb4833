//! Fuzz target bodies, shared by the cargo-fuzz targets (`fuzz/fuzz_targets/*.rs`, nightly
//! flags) and the stable replay test (`tests/fuzz_corpus_replay.rs`), so the committed seed
//! corpora are exercised by every `cargo test` without cargo-fuzz.
//!
//! Each body is `pub fn run(data: &[u8])`: it must never panic on any input except to report
//! a broken invariant. To add a target: write `bodies/<name>.rs` with `run` (and `seeds` for
//! the seed generator), list it in [`TARGETS`], add `fuzz_targets/<name>.rs` and a `[[bin]]`
//! in `fuzz/Cargo.toml`, then generate or hand-write `corpus/<name>/seed-*` files.

// Each fuzz target compiles every body but runs one; the others are dead code there.
#![allow(dead_code)]

pub mod support;

pub mod attendance_event_decode;
pub mod audit_bundle_verify;
pub mod checkpoint_parse;
pub mod consistency_proof;
pub mod gpsd_json_parse;
pub mod inclusion_proof;
pub mod log_open_dir;
pub mod nmea_parse;
pub mod note_open;
pub mod ntp_packet_parse;
pub mod record_decode;

/// A fuzz body: runs one input, panics only on a broken invariant.
pub type Body = fn(&[u8]);
/// A seed generator: named inputs that reach deep into the target (see `seeds` in each body).
pub type Seeds = fn() -> Vec<(String, Vec<u8>)>;

/// Every target: name (= fuzz target name = corpus folder), body, seed generator.
pub const TARGETS: &[(&str, Body, Seeds)] = &[
    ("log_open_dir", log_open_dir::run, log_open_dir::seeds),
    ("record_decode", record_decode::run, record_decode::seeds),
    ("inclusion_proof", inclusion_proof::run, inclusion_proof::seeds),
    ("consistency_proof", consistency_proof::run, consistency_proof::seeds),
    ("note_open", note_open::run, note_open::seeds),
    ("checkpoint_parse", checkpoint_parse::run, checkpoint_parse::seeds),
    ("attendance_event_decode", attendance_event_decode::run, attendance_event_decode::seeds),
    ("nmea_parse", nmea_parse::run, nmea_parse::seeds),
    ("gpsd_json_parse", gpsd_json_parse::run, gpsd_json_parse::seeds),
    ("ntp_packet_parse", ntp_packet_parse::run, ntp_packet_parse::seeds),
    ("audit_bundle_verify", audit_bundle_verify::run, audit_bundle_verify::seeds),
];
