//! `coffre audit export` (from an attendance vault) and `coffre audit verify` (offline, pure).

use crate::cli::{AuditCommand, AuditExportArgs, AuditVerifyArgs};
use crate::error::CliError;
use crate::keys::{load_signer, load_verifier, refuse_key_inside};
use crate::output;
use coffre_attendance::audit::format::BUNDLE_BYTES_MAX;
use coffre_attendance::audit::AuditError;
use coffre_attendance::events::AuditScope;
use coffre_attendance::identity::{Actor, Date, EstablishmentCode, FunderId};
use coffre_attendance::{verify_audit, AuditReport, AuditRequest, Vault, VaultError, VaultOptions};
use serde_json::{json, Value};
use std::fs::OpenOptions;
use std::io::{Read as _, Write as _};
use std::sync::Arc;

/// Runs an audit subcommand.
pub fn run(command: &AuditCommand, json: bool) -> Result<(), CliError> {
    match command {
        AuditCommand::Export(args) => export(args, json),
        AuditCommand::Verify(args) => verify(args, json),
    }
}

fn date(flag: &str, text: &str) -> Result<Date, CliError> {
    Date::parse(text).map_err(|e| CliError::usage(flag, format!("{text:?}: {e} (want YYYY-MM-DD)")))
}

fn vault_error(context: String, e: VaultError) -> CliError {
    match e {
        VaultError::Log(e) => CliError::from_log(context, e),
        e => CliError::usage(context, e),
    }
}

fn export(args: &AuditExportArgs, json: bool) -> Result<(), CliError> {
    let (from, to) = (date("--from", &args.from)?, date("--to", &args.to)?);
    if from > to {
        return Err(CliError::usage(
            "--from/--to",
            format!("{} is after {}: the range is empty", args.from, args.to),
        ));
    }
    let request = AuditRequest {
        establishment: EstablishmentCode::new(&args.establishment)
            .map_err(|e| CliError::usage("--establishment", e))?,
        funder: FunderId::new(&args.requested_by)
            .map_err(|e| CliError::usage("--requested-by", e))?,
        scope: AuditScope::Sessions { from, to },
    };
    if let Some(key) = &args.key {
        refuse_key_inside(&args.dir, key)?;
    }
    let signer = args.key.as_deref().map(load_signer).transpose()?;
    let out_at = format!("--out {}", args.out.display());
    // Refuse to overwrite before appending the request record: a failed export leaves no trace
    // in the log but the request it made.
    let mut out = OpenOptions::new().write(true).create_new(true).open(&args.out).map_err(|e| {
        match e.kind() {
            std::io::ErrorKind::AlreadyExists => {
                CliError::usage(&out_at, "file exists; not overwritten")
            }
            _ => CliError::usage(&out_at, e),
        }
    })?;
    let result = export_to(args, &request, signer, &mut out);
    if result.is_err() {
        let _ = std::fs::remove_file(&args.out);
    }
    let (bundle_len, summary) = result?;
    if json {
        let mut value = summary;
        if let Some(o) = value.as_object_mut() {
            o.insert("out".into(), args.out.display().to_string().into());
            o.insert("size_bytes".into(), bundle_len.into());
        }
        return output::json_pretty(&value);
    }
    let left_out = summary["left_out"].as_array().map_or(0, Vec::len);
    let mut text = format!(
        "audit bundle written to {} ({bundle_len} bytes): {} records, anchored on checkpoint at \
         size {}, request record {}, record list {}",
        args.out.display(),
        summary["records"],
        summary["anchor_size"],
        summary["request_index"],
        if summary["manifest_signed"] == true { "signed" } else { "UNSIGNED" },
    );
    if left_out > 0 {
        text.push_str(&format!(
            "\nleft out (newer than the anchor checkpoint; export with --key to include them): {}",
            summary["left_out"]
        ));
    }
    text.push_str(&format!(
        "\nverifier key for the auditor: {}",
        summary["vkey"].as_str().unwrap_or("?")
    ));
    output::line(&text)
}

fn export_to(
    args: &AuditExportArgs,
    request: &AuditRequest,
    signer: Option<coffre_log::note::NoteSigner>,
    out: &mut std::fs::File,
) -> Result<(usize, Value), CliError> {
    let at = format!("vault {}", args.dir.display());
    let options =
        VaultOptions { checkpoint_signer: signer.map(Arc::new), ..VaultOptions::default() };
    let spinner = output::spinner("exporting the audit trail");
    let vault = Vault::open(&args.dir, options).map_err(|e| vault_error(at.clone(), e));
    let bundle = vault.and_then(|vault| {
        let bundle = vault
            .export_audit(request, &Actor::Service)
            .map_err(|e| vault_error(format!("audit export from {}", args.dir.display()), e))?;
        Ok((vault, bundle))
    });
    spinner.finish_and_clear();
    let (vault, bundle) = bundle?;
    let vkey = vault.verifier_key().map(|v| v.to_verifier_key());
    let out_at = format!("--out {}", args.out.display());
    out.write_all(bundle.as_bytes())
        .and_then(|()| out.sync_all())
        .map_err(|e| CliError::usage(&out_at, e))?;
    let summary = json!({
        "request_index": bundle.request_index,
        "anchor_size": bundle.anchor_size,
        "records": bundle.records,
        "left_out": bundle.left_out,
        "manifest_signed": bundle.manifest_signed,
        "vkey": vkey,
    });
    Ok((bundle.as_bytes().len(), summary))
}

fn verify(args: &AuditVerifyArgs, json: bool) -> Result<(), CliError> {
    let verifier = load_verifier(&args.vkey)?;
    let at = format!("bundle {}", args.file.display());
    let file = std::fs::File::open(&args.file).map_err(|e| CliError::usage(&at, e))?;
    let mut bytes = Vec::new();
    file.take(BUNDLE_BYTES_MAX as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| CliError::usage(&at, e))?;
    let spinner = output::spinner("verifying the audit bundle");
    let verdict = verify_audit(&bytes, &verifier);
    spinner.finish_and_clear();
    match verdict {
        Ok(report) => {
            if json {
                output::json_pretty(&report_json(&report))
            } else {
                output::line(&report_text(&report))
            }
        }
        Err(e) => {
            if json {
                output::json_pretty(&failure_json(&e))?;
            }
            Err(CliError::failed(&at, e))
        }
    }
}

fn failure_json(e: &AuditError) -> Value {
    let record = match e {
        AuditError::Record { index, fault } => json!({"index": index, "fault": fault.to_string()}),
        _ => Value::Null,
    };
    json!({"ok": false, "error": e.to_string(), "record": record})
}

fn report_json(r: &AuditReport) -> Value {
    let records: Vec<Value> = r
        .records
        .iter()
        .map(|c| {
            json!({
                "index": c.index,
                "kind": c.kind,
                "timestamp": output::timestamp_json(&c.timestamp),
                "leaf_hash": c.leaf_hash.to_base64(),
                "signature_key_enrolled_at": c.signature.map(|s| s.enrolled_at),
                "ok": true,
            })
        })
        .collect();
    let checkpoint = |c: &coffre_log::checkpoint::Checkpoint| json!({"origin": c.origin, "size": c.size, "root": c.root.to_base64()});
    json!({
        "ok": true,
        "establishment": r.establishment.as_str(),
        // Null when the request record was left out (exported without a key: it is newer
        // than the stored checkpoint the bundle is anchored on).
        "funder": r.request.as_ref().map(|q| q.funder.as_str()),
        "request_index": r.request.as_ref().map(|q| q.index),
        "anchor": checkpoint(&r.anchor),
        "latest": checkpoint(&r.latest),
        "older_checkpoints": r.older.len(),
        "manifest_signed": r.manifest_signed,
        "records": records,
        "signatures": r.signatures(),
        "left_out": r.left_out,
        "sessions": r.sheets.len(),
        "flags": r.flags.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "anomalies": r.anomalies.len(),
    })
}

fn report_text(r: &AuditReport) -> String {
    let mut lines: Vec<String> = r
        .records
        .iter()
        .map(|c| {
            let signature = c
                .signature
                .map(|s| format!("  signature ok (key enrolled at record {})", s.enrolled_at))
                .unwrap_or_default();
            format!(
                "record {:>6}  ok  {:<24} {}{signature}",
                c.index,
                c.kind,
                output::timestamp_text(&c.timestamp)
            )
        })
        .collect();
    lines.push(r.summary());
    lines.push(format!("OK: {} records verified", r.records.len()));
    lines.join("\n")
}
