//! `coffre clock status`: one query of the time sources, as `examples/clock_status.rs`.

use crate::cli::{ClockCommand, ClockStatusArgs};
use crate::error::CliError;
use crate::output;
use coffre_clock::gps::GPSD_DEFAULT_ADDR;
use coffre_clock::{format_status, format_utc, query_status, SourceOutcome, StatusQuery};
use serde_json::{json, Value};
use std::time::Duration;

/// Runs a clock subcommand.
pub fn run(command: &ClockCommand, json: bool) -> Result<(), CliError> {
    match command {
        ClockCommand::Status(args) => status(args, json),
    }
}

fn status(args: &ClockStatusArgs, json: bool) -> Result<(), CliError> {
    let mut query = StatusQuery {
        ntp: args.ntp.clone(),
        gpsd: args.gpsd.clone(),
        system_uncertainty: args.system.map(Duration::from_millis),
        ..StatusQuery::default()
    };
    if query.ntp.is_empty() && query.gpsd.is_empty() && query.system_uncertainty.is_none() {
        query.ntp.push("127.0.0.1:123".into());
        query.gpsd.push(GPSD_DEFAULT_ADDR.into());
    }
    let report = query_status(&query);
    if json {
        let sources: Vec<Value> = report
            .sources
            .iter()
            .map(|s| {
                let sample = s.outcome.sample().map(|x| {
                    json!({"time": format_utc(x.midpoint_ns()), "earliest_ns": x.earliest_ns(),
                           "latest_ns": x.latest_ns(), "uncertainty_ns": x.uncertainty_ns()})
                });
                let error = match &s.outcome {
                    SourceOutcome::Faulty(e) => Some(e.to_string()),
                    _ => None,
                };
                json!({"name": s.name, "kind": s.kind.name(), "outcome": s.outcome.label(),
                       "sample": sample, "error": error})
            })
            .collect();
        let (stamp, error) = match &report.stamp {
            Ok(stamp) => (output::timestamp_json(&stamp.timestamp()), None),
            Err(e) => (Value::Null, Some(e.to_string())),
        };
        output::json_pretty(&json!({"sources": sources, "stamp": stamp, "error": error}))?;
    } else {
        output::bytes(format_status(&report).as_bytes())?;
    }
    match &report.stamp {
        Ok(_) => Ok(()),
        Err(e) => Err(CliError::Failed(format!("no stamp: {e}"))),
    }
}
