//! cargo-fuzz target `audit_bundle_verify`; the body (and its input layout) is in `bodies/audit_bundle_verify.rs`.
#![no_main]

#[path = "../bodies/mod.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::audit_bundle_verify::run(data));
