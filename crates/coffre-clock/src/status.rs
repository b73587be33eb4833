//! One-shot status: query the configured sources once, arbitrate, and format the result.
//! Shared by `examples/clock_status.rs` and the CLI's `coffre clock status`.

use crate::gps::{GpsConfig, GpsdSource};
use crate::ntp::{NtpConfig, SntpSource};
use crate::{
    format_utc, Arbiter, ArbiterConfig, ClockError, ScriptedSource, Source, SourceOutcome,
    SourceReport, SourceSet, Stamp, SystemMonotonic, SystemTimeSource, TimeSource,
};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

/// Which sources to query, and how.
#[derive(Clone, Debug, Default)]
pub struct StatusQuery {
    /// NTP servers, `host:port`.
    pub ntp: Vec<String>,
    /// gpsd daemons, `host:port`.
    pub gpsd: Vec<String>,
    /// Also vote with the system clock, claimed within this uncertainty.
    pub system_uncertainty: Option<Duration>,
    /// NTP client settings.
    pub ntp_config: NtpConfig,
    /// GPS settings.
    pub gps_config: GpsConfig,
    /// Arbiter settings.
    pub arbiter: ArbiterConfig,
}

/// The outcome of [`query_status`].
#[derive(Debug)]
pub struct StatusReport {
    /// Every source's outcome.
    pub sources: Vec<SourceReport>,
    /// The arbitrated stamp, or why none can be issued.
    pub stamp: Result<Stamp, ClockError>,
}

/// A configured source that could not even be set up (unresolvable name) still counts
/// towards the quorum: it answers every sample with its setup error.
fn broken(kind: Source, name: &str, error: crate::SourceError) -> ScriptedSource {
    ScriptedSource::new(kind, name, move |_| Err(error.clone()))
}

/// Samples every source in `query` once (blocking for at most their timeouts) and arbitrates.
pub fn query_status(query: &StatusQuery) -> StatusReport {
    let mut sources: Vec<Box<dyn TimeSource>> = Vec::new();
    for server in &query.ntp {
        sources.push(match SntpSource::resolve(server, query.ntp_config) {
            Ok(s) => Box::new(s),
            Err(e) => Box::new(broken(Source::Ntp, &format!("ntp {server}"), e)),
        });
    }
    for daemon in &query.gpsd {
        sources.push(match GpsdSource::resolve(daemon, query.gps_config) {
            Ok(s) => Box::new(s),
            Err(e) => Box::new(broken(Source::Gps, &format!("gpsd {daemon}"), e)),
        });
    }
    if let Some(uncertainty) = query.system_uncertainty {
        sources.push(Box::new(SystemTimeSource::new(uncertainty)));
    }
    let mut arbiter = Arbiter::new(query.arbiter, Arc::new(SystemMonotonic::new()));
    for source in sources {
        arbiter = arbiter.with_boxed_source(source, Duration::from_secs(16));
    }
    arbiter.poll();
    StatusReport { sources: arbiter.sources(), stamp: arbiter.stamp() }
}

fn set_names(set: SourceSet) -> String {
    let names: Vec<&str> = set.iter().map(Source::name).collect();
    format!("[{}]", names.join(", "))
}

fn ms(ns: u64) -> String {
    format!("{}.{:03} ms", ns / 1_000_000, ns % 1_000_000 / 1_000)
}

/// Human-readable lines: one per source, then the stamp.
pub fn format_status(report: &StatusReport) -> String {
    let mut out = String::new();
    let width = report.sources.iter().map(|s| s.name.len()).max().unwrap_or(0);
    for s in &report.sources {
        let detail = match (&s.outcome, s.outcome.sample()) {
            (SourceOutcome::Faulty(e), _) => e.to_string(),
            (_, Some(sample)) => {
                format!("{} ± {}", format_utc(sample.midpoint_ns()), ms(sample.uncertainty_ns()))
            }
            (_, None) => String::new(),
        };
        let _ = writeln!(out, "{:width$}  {:11}  {detail}", s.name, s.outcome.label());
    }
    match &report.stamp {
        Ok(stamp) => {
            let t = stamp.timestamp();
            let _ = writeln!(
                out,
                "stamp {} ± {} ({:?}); earliest {} latest {}; agreed {} rejected {}; quorum {}/{}",
                format_utc(t.midpoint_ns()),
                ms(t.uncertainty_ns()),
                t.status(),
                format_utc(t.earliest_ns()),
                format_utc(t.latest_ns()),
                set_names(t.agreed()),
                set_names(t.rejected()),
                stamp.quorum(),
                stamp.voters(),
            );
        }
        Err(e) => {
            let _ = writeln!(out, "stamp refused: {e}");
        }
    }
    out
}

impl std::fmt::Display for StatusReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&format_status(self))
    }
}
