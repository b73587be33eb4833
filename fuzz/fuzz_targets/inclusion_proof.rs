//! cargo-fuzz target `inclusion_proof`; the body (and its input layout) is in `bodies/inclusion_proof.rs`.
#![no_main]

#[path = "../bodies/mod.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::inclusion_proof::run(data));
