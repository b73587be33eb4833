//! cargo-fuzz target `gpsd_json_parse`; the body (and its input layout) is in `bodies/gpsd_json_parse.rs`.
#![no_main]

#[path = "../bodies/mod.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::gpsd_json_parse::run(data));
