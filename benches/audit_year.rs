//! Export and offline verification of the audit trail of one establishment over a school
//! year: 200 sessions/week x 36 weeks x 30 students by default (about 270,000 records).
//!
//! `cargo bench --bench audit_year -- [--scale F]` (F = 0.05 for a quick run: fewer weeks).
//! Building the year is not timed (periodic durability to build it fast).

use coffre::attendance::demo::{self, ManualClock, SchoolYearConfig, HOUR_NS};
use coffre::attendance::{verify_audit, Vault};
use coffre::log::Durability;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let scale: f64 = args
        .iter()
        .position(|a| a == "--scale")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1.0);
    let base = SchoolYearConfig::default();
    let weeks = ((f64::from(base.weeks) * scale).ceil() as u32).max(1);
    let config = SchoolYearConfig { weeks, ..base };
    let dir = tempfile::tempdir()?;
    let clock = Arc::new(ManualClock::new(config.first_day.start_unix_ns()));
    let mut options = demo::demo_options(&clock, Some(demo::demo_signer()));
    options.log.durability = Durability::Periodic { interval: Duration::from_millis(200) };
    let vault = Vault::create(dir.path(), options)?;
    let started = Instant::now();
    let summary = demo::school_year(&vault, &clock, &config)?;
    clock.set(summary.to.start_unix_ns() + 18 * HOUR_NS);
    println!(
        "built {} weeks: {} sessions, {} records, {} signatures ({} refused) in {:.1} s",
        weeks,
        summary.sessions.len(),
        vault.log().len(),
        summary.signatures,
        summary.refused,
        started.elapsed().as_secs_f64()
    );
    let request = demo::funder_audit_request(&config.establishment, summary.from, summary.to);
    let by = demo::funder_auditor();
    let started = Instant::now();
    let bundle = vault.export_audit(&request, &by)?;
    let export_s = started.elapsed().as_secs_f64();
    let key = vault.verifier_key().ok_or("no verifier key")?;
    let started = Instant::now();
    let report = verify_audit(bundle.as_bytes(), &key)?;
    let verify_s = started.elapsed().as_secs_f64();
    println!(
        "audit_year (scale {scale}): bundle of {} records ({} signatures, {} sessions), {:.1} MB; \
         export {:.2} s, verify {:.2} s",
        bundle.records,
        report.signatures(),
        report.sheets.len(),
        bundle.as_bytes().len() as f64 / 1e6,
        export_s,
        verify_s
    );
    Ok(())
}
