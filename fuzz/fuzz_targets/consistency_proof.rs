//! cargo-fuzz target `consistency_proof`; the body (and its input layout) is in `bodies/consistency_proof.rs`.
#![no_main]

#[path = "../bodies/mod.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::consistency_proof::run(data));
