//! Queries the configured time sources once, prints each sample and the arbitrated stamp.
//!
//! ```text
//! cargo run --example clock_status -- [--ntp HOST:PORT]... [--gpsd HOST:PORT]... [--system MS]
//! ```
//!
//! Without any source, queries the local daemons: NTP at 127.0.0.1:123 and gpsd at
//! 127.0.0.1:2947. Exits 0 with a stamp, 1 when the arbiter refuses to stamp (no majority, or
//! the sources disagree), 2 on bad usage. A single query never disciplines the quartz, so it is
//! listed as `not-polled` and the external sources alone must agree.
//! The query and formatting live in `coffre_clock::query_status` / `format_status`, which the
//! CLI's `coffre clock status` reuses.

use coffre_clock::gps::GPSD_DEFAULT_ADDR;
use coffre_clock::{format_status, query_status, StatusQuery};
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str =
    "usage: clock_status [--ntp HOST:PORT]... [--gpsd HOST:PORT]... [--system UNCERTAINTY_MS]";

fn parse(args: impl Iterator<Item = String>) -> Result<StatusQuery, String> {
    let mut query = StatusQuery::default();
    let mut args = args;
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--ntp" => query.ntp.push(value()?),
            "--gpsd" => query.gpsd.push(value()?),
            "--system" => {
                let ms: u64 = value()?.parse().map_err(|_| "--system takes milliseconds")?;
                query.system_uncertainty = Some(Duration::from_millis(ms));
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if query.ntp.is_empty() && query.gpsd.is_empty() && query.system_uncertainty.is_none() {
        query.ntp.push("127.0.0.1:123".into());
        query.gpsd.push(GPSD_DEFAULT_ADDR.into());
    }
    Ok(query)
}

fn main() -> ExitCode {
    let query = match parse(std::env::args().skip(1)) {
        Ok(q) => q,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("{message}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let report = query_status(&query);
    print!("{}", format_status(&report));
    if report.stamp.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
