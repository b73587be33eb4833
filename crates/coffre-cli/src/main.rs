//! The `coffre` command line for operators and auditors: create vaults, append records and
//! get receipts, prove inclusion and consistency, verify a whole log, sign and verify notes,
//! manage retention, export and verify audit bundles, check INEs and time sources.
//!
//! Exit codes: 0 success; 1 verification failed or tampering detected; 2 usage or input
//! error (clap's own usage errors exit 2 too). Errors go to stderr and name the file, index
//! or field at fault. See docs/CLI.md.

mod cli;
mod cmd;
mod duration;
mod error;
mod keys;
mod output;
mod vault;

use clap::Parser as _;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cmd::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("coffre: {e}");
            e.exit_code()
        }
    }
}
