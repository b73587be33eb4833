//! cargo-fuzz target `record_decode`; the body (and its input layout) is in `bodies/record_decode.rs`.
#![no_main]

#[path = "../bodies/mod.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::record_decode::run(data));
