//! cargo-fuzz target `attendance_event_decode`; the body (and its input layout) is in `bodies/attendance_event_decode.rs`.
#![no_main]

#[path = "../bodies/mod.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::attendance_event_decode::run(data));
