//! A school day in one establishment, recorded in a real vault, then audited.
//!
//! `cargo run --release --example school_day -- [--dir DIR] [--key PATH] [--students N]`
//!
//! Two teachers, two groups of students signing by rotating QR code (signatures ingested in
//! batches), a manual roll call with absences, a roll call opened by an administrator on
//! behalf of a teacher, a moved session, lateness, an early departure, a justification and a
//! correction. Ends with a signed checkpoint covering every event, the export of the day's
//! audit trail and its offline verification. The vault stays in DIR (a temporary directory
//! without --dir); its checkpoint signing key is kept OUTSIDE it, in `<DIR>.key` or PATH
//! (created with mode 0600 if missing). The last line is one JSON object for the CLI:
//! `{"establishment":..,"from":"YYYY-MM-DD","to":"YYYY-MM-DD","vkey":..,"dir":..}`.

use coffre::attendance::demo::{self, ManualClock, SchoolDayConfig, HOUR_NS};
use coffre::attendance::{verify_audit, Vault};
use coffre::log::note::NoteSigner;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

type Error = Box<dyn std::error::Error>;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

/// Loads the signed-note private key at `path`, or creates one (mode 0600).
fn load_or_create_key(path: &Path) -> Result<NoteSigner, Error> {
    if path.exists() {
        let text = std::fs::read_to_string(path)?;
        return Ok(NoteSigner::from_private_key(text.trim())?);
    }
    let signer = NoteSigner::generate(demo::DEMO_ORIGIN)?;
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    let mut file = open.open(path)?;
    std::io::Write::write_all(&mut file, format!("{}\n", signer.to_private_key()).as_bytes())?;
    file.sync_all()?;
    Ok(signer)
}

fn main() -> Result<(), Error> {
    let temp = tempfile::tempdir()?;
    let dir = arg("--dir").map_or_else(|| temp.path().join("vault"), PathBuf::from);
    let key_path = arg("--key").map_or_else(
        || {
            let mut p = dir.clone().into_os_string();
            p.push(".key");
            PathBuf::from(p)
        },
        PathBuf::from,
    );
    let students = arg("--students").map_or(Ok(300), |s| s.parse())?;
    if key_path.starts_with(&dir) {
        return Err("the signing key must be kept outside the vault directory".into());
    }
    let signer = load_or_create_key(&key_path)?;
    let config = SchoolDayConfig { students, ..SchoolDayConfig::default() };

    let clock = Arc::new(ManualClock::new(config.date.start_unix_ns() + 6 * HOUR_NS));
    let options = demo::demo_options(&clock, Some(signer.clone()));
    let vault = Vault::create(&dir, options)?;
    let started = Instant::now();
    let summary = demo::school_day(&vault, &clock, &config)?;
    clock.set(config.date.start_unix_ns() + 18 * HOUR_NS);
    let checkpoint = vault.checkpoint()?;
    println!(
        "recorded {} events ({} signatures, {} absences, {} refused) for {} sessions in {:.2?}",
        summary.records,
        summary.signatures,
        summary.absences,
        summary.refused,
        summary.sessions.len(),
        started.elapsed()
    );
    for key in &summary.sessions {
        if let Some(sheet) = vault.sheet(key) {
            let signed = sheet.students.iter().filter(|l| !l.signatures.is_empty()).count();
            println!(
                "  {} {} v{} ({}): {}/{} signed, teacher signatures {}, roll call {:?} by {:?}",
                sheet.session.session,
                sheet.course,
                sheet.current.version,
                sheet.room,
                signed,
                sheet.students.len(),
                sheet.teacher_signatures.len(),
                sheet.roll_calls.first().map(|r| r.mode),
                sheet.roll_calls.first().map(|r| &r.opened_by),
            );
        }
    }
    println!(
        "checkpoint: size {} root {} ({})",
        checkpoint.checkpoint.size, checkpoint.checkpoint.root, checkpoint.checkpoint.origin
    );

    // The funder's audit of the day: export, then verify offline with the log key alone.
    let request = demo::funder_audit_request(&config.establishment, summary.from, summary.to);
    let by = demo::funder_auditor();
    let started = Instant::now();
    let bundle = vault.export_audit(&request, &by)?;
    let export_time = started.elapsed();
    let vkey = vault.verifier_key().ok_or("no verifier key")?;
    let started = Instant::now();
    let report = verify_audit(bundle.as_bytes(), &vkey)?;
    println!(
        "audit bundle: {} records, {} bytes, exported in {:.2?}, verified in {:.2?}",
        bundle.records,
        bundle.as_bytes().len(),
        export_time,
        started.elapsed()
    );
    println!("{}", report.summary());
    let json = serde_json::json!({
        "establishment": summary.establishment,
        "from": summary.from.to_string(),
        "to": summary.to.to_string(),
        "vkey": vkey.to_verifier_key(),
        "dir": dir.display().to_string(),
        "key": key_path.display().to_string(),
    });
    println!("{json}");
    Ok(())
}
