//! `coffre hold`, `coffre release`, `coffre purge`: legal holds and the retention purge.

use crate::cli::{HoldArgs, PurgeArgs, ReleaseArgs};
use crate::error::CliError;
use crate::output;
use crate::vault::{open_options, open_write};
use coffre_clock::format_utc;
use coffre_log::retention::PurgeDecision;
use coffre_log::{HoldId, LogError, PurgeReport};
use serde_json::{json, Value};

fn retention_error(context: String, e: LogError) -> CliError {
    match e {
        LogError::InvalidRetentionRequest(detail) => CliError::usage(context, detail),
        e => CliError::from_log(context, e),
    }
}

/// Places a legal hold on `from..to`; prints its id.
pub fn hold(args: &HoldArgs, json: bool) -> Result<(), CliError> {
    if args.from >= args.to {
        return Err(CliError::usage(
            "--from/--to",
            format!("empty range {}..{}", args.from, args.to),
        ));
    }
    let log = open_write(&args.dir)?;
    let id = log
        .place_hold(args.from..args.to, &args.reason)
        .map_err(|e| retention_error(format!("hold {}..{}", args.from, args.to), e))?;
    if json {
        output::json_pretty(&json!({"id": id.0, "from": args.from, "to": args.to,
                                    "reason": args.reason}))
    } else {
        output::line(&format!("hold {} placed on records {}..{}", id.0, args.from, args.to))
    }
}

/// Releases a hold, named by id or by its exact range.
pub fn release(args: &ReleaseArgs, json: bool) -> Result<(), CliError> {
    let log = open_write(&args.dir)?;
    let id = match (args.hold_id, args.from, args.to) {
        (Some(id), _, _) => HoldId(id),
        (None, Some(from), Some(to)) => log
            .holds()
            .iter()
            .find(|h| h.range == (from..to))
            .map(|h| h.id)
            .ok_or_else(|| CliError::usage("--from/--to", format!("no hold on {from}..{to}")))?,
        _ => return Err(CliError::usage("release", "give HOLD-ID, or --from A --to B")),
    };
    let receipt = log.release_hold(id, &args.reason).map_err(|e| match e {
        LogError::HoldNotFound { id } => {
            CliError::usage("HOLD-ID", format!("no hold {id} in force"))
        }
        e => retention_error(format!("hold {}", id.0), e),
    })?;
    if json {
        output::json_pretty(&json!({"id": id.0, "released_by": receipt.index}))
    } else {
        output::line(&format!("hold {} released (record {})", id.0, receipt.index))
    }
}

/// Purges (or with `--dry-run` lists) the segments whose records all expired.
pub fn purge(args: &PurgeArgs, json: bool) -> Result<(), CliError> {
    let log = open_write(&args.dir)?;
    let now = open_options(None).clock.now().map_err(|e| CliError::usage("clock", e))?;
    let report = log
        .purge_expired(now, args.dry_run)
        .map_err(|e| retention_error(format!("purge of {}", args.dir.display()), e))?;
    if json {
        output::json_pretty(&purge_json(&report))
    } else {
        output::line(&purge_text(&report))
    }
}

fn purge_json(report: &PurgeReport) -> Value {
    let segments: Vec<Value> = report
        .segments
        .iter()
        .map(|s| {
            json!({
                "from": s.range.start,
                "to": s.range.end,
                "file": s.path.display().to_string(),
                "retain_until": format_utc(s.newest_retain_until_ns),
                "holds": s.holds.iter().map(|h| h.0).collect::<Vec<_>>(),
                "decision": decision_name(s.decision),
            })
        })
        .collect();
    json!({
        "dry_run": report.dry_run,
        "now": format_utc(report.now_earliest_ns),
        "retention_seconds": report.retention.as_secs(),
        "purged": {"from": report.purged.start, "to": report.purged.end},
        "purge_records": report.purge_records,
        "files_deleted": report.files_deleted.iter().map(|p| p.display().to_string())
            .collect::<Vec<_>>(),
        "segments": segments,
    })
}

fn purge_text(report: &PurgeReport) -> String {
    let mut lines = Vec::new();
    for s in &report.segments {
        lines.push(format!(
            "records {}..{}  kept until {}  {}",
            s.range.start,
            s.range.end,
            format_utc(s.newest_retain_until_ns),
            decision_name(s.decision)
        ));
    }
    let verb = if report.dry_run { "would purge" } else { "purged" };
    if report.purged.is_empty() {
        lines.push(format!("nothing {verb}: no sealed segment has fully expired"));
    } else {
        lines.push(format!(
            "{verb} records {}..{} ({} segment files)",
            report.purged.start,
            report.purged.end,
            report.segments.iter().filter(|s| s.decision == PurgeDecision::Delete).count()
        ));
    }
    lines.join("\n")
}

fn decision_name(decision: PurgeDecision) -> &'static str {
    match decision {
        PurgeDecision::Delete => "delete",
        PurgeDecision::KeepNotExpired => "keep (not expired)",
        PurgeDecision::KeepHeld => "keep (legal hold)",
        _ => "keep",
    }
}
