//! cargo-fuzz target `nmea_parse`; the body (and its input layout) is in `bodies/nmea_parse.rs`.
#![no_main]

#[path = "../bodies/mod.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::nmea_parse::run(data));
