//! cargo-fuzz target `checkpoint_parse`; the body (and its input layout) is in `bodies/checkpoint_parse.rs`.
#![no_main]

#[path = "../bodies/mod.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::checkpoint_parse::run(data));
