//! cargo-fuzz target `note_open`; the body (and its input layout) is in `bodies/note_open.rs`.
#![no_main]

#[path = "../bodies/mod.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::note_open::run(data));
