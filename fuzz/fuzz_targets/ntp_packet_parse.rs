//! cargo-fuzz target `ntp_packet_parse`; the body (and its input layout) is in `bodies/ntp_packet_parse.rs`.
#![no_main]

#[path = "../bodies/mod.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::ntp_packet_parse::run(data));
