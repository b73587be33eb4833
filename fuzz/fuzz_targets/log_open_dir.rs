//! cargo-fuzz target `log_open_dir`; the body (and its input layout) is in `bodies/log_open_dir.rs`.
#![no_main]

#[path = "../bodies/mod.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::log_open_dir::run(data));
