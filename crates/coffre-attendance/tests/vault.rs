//! The vault on disk: school day, reopen and replay, idempotency across restarts, the five
//! scenarios of the issue, receipts with proofs.

use coffre_attendance::demo::{self, ManualClock, SchoolDayConfig, HOUR_NS, MINUTE_NS};
use coffre_attendance::events::*;
use coffre_attendance::identity::*;
use coffre_attendance::query::Presence;
use coffre_attendance::signatures;
use coffre_attendance::state::RuleError;
use coffre_attendance::{Vault, VaultError, VaultOptions};
use coffre_clock::Source;
use coffre_log::note::NoteSigner;
use coffre_log::LogOptions;
use std::path::Path;
use std::sync::Arc;

const SECRET: [u8; 32] = [42; 32];

fn day() -> Date {
    Date::new(2025, 9, 8).unwrap()
}

fn options(clock: &Arc<ManualClock>) -> VaultOptions {
    let signer = NoteSigner::from_seed("attendance.example.fr/coffre", &[3; 32]).unwrap();
    VaultOptions {
        log: LogOptions {
            clock: clock.clone(),
            origin: "attendance.example.fr/coffre".into(),
            ..LogOptions::default()
        },
        qr_secret: Some(SECRET.to_vec()),
        checkpoint_signer: Some(Arc::new(signer)),
        ..VaultOptions::default()
    }
}

fn new_vault(dir: &Path) -> (Vault, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(day().start_unix_ns() + 6 * HOUR_NS));
    (Vault::create(dir, options(&clock)).unwrap(), clock)
}

fn small_day() -> SchoolDayConfig {
    SchoolDayConfig { students: 40, batch: 8, ..SchoolDayConfig::default() }
}

#[test]
fn school_day_is_recorded_and_replayed_identically_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (vault, clock) = new_vault(dir.path());
    let summary = demo::school_day(&vault, &clock, &small_day()).unwrap();
    assert_eq!(summary.refused, 0);
    assert_eq!(summary.sessions.len(), 8);
    assert!(summary.signatures > 100, "{summary:?}");
    let sheets: Vec<_> = summary.sessions.iter().map(|s| vault.sheet(s).unwrap()).collect();
    let len = vault.log().len();
    drop(vault);

    let vault = Vault::open(dir.path(), options(&clock)).unwrap();
    assert_eq!(vault.log().len(), len);
    let again: Vec<_> = summary.sessions.iter().map(|s| vault.sheet(s).unwrap()).collect();
    assert_eq!(sheets, again);
    assert!(vault.state().anomalies().is_empty());
}

#[test]
fn retried_commands_get_the_original_receipt_also_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (vault, clock) = new_vault(dir.path());
    demo::school_day(&vault, &clock, &small_day()).unwrap();
    // The web service failed after the vault recorded the justification; the client retries.
    let est = demo::establishment("LYCEE-DEMO-75");
    let key = demo::session_ref(&est, "2025-09-08-B2");
    let student = demo::student(20);
    let retry = demo::event(
        &format!("justify {} {}", key.session, student.ine),
        EventBody::AbsenceJustified(AbsenceJustified {
            mark: Mark { session: key.clone(), version: 1, student, by: demo::administrator() },
            reason: demo::reason("certificat médical"),
        }),
    );
    let len = vault.log().len();
    let first = vault.submit(&retry).unwrap();
    assert!(first.duplicate);
    assert_eq!(vault.log().len(), len);
    drop(vault);

    let vault = Vault::open(dir.path(), options(&clock)).unwrap();
    let after_restart = vault.submit(&retry).unwrap();
    assert!(after_restart.duplicate);
    assert_eq!(after_restart.index, first.index);
    assert_eq!(after_restart.leaf_hash, first.leaf_hash);
    assert_eq!(vault.log().len(), len);
    // Same request id, other content: refused, nothing written.
    let mut other = retry.clone();
    if let EventBody::AbsenceJustified(j) = &mut other.body {
        j.reason = demo::reason("autre motif");
    }
    assert!(matches!(
        vault.submit(&other),
        Err(VaultError::Rule(RuleError::RequestIdReused { original_index })) if original_index == first.index
    ));
    assert_eq!(vault.log().len(), len);
}

#[test]
fn bad_input_is_a_typed_error_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (vault, clock) = new_vault(dir.path());
    demo::school_day(&vault, &clock, &small_day()).unwrap();
    let len = vault.log().len();
    let est = demo::establishment("LYCEE-DEMO-75");
    let closed = demo::session_ref(&est, "2025-09-08-A1");
    let s = demo::student(0);
    let signer = Signer::Student(s.clone());
    let token = vault.session_secret(&closed, 1).unwrap().fixed_token();
    let attestation = signatures::sign(&demo::signer_key(&signer), &closed, 1, &signer, &token, 0);
    let late_signature = demo::event(
        "late signature",
        EventBody::StudentSigned(StudentSigned {
            session: closed,
            version: 1,
            student: s,
            attestation,
        }),
    );
    assert!(matches!(
        vault.submit(&late_signature),
        Err(VaultError::Rule(RuleError::RollCallClosed { .. }))
    ));
    assert_eq!(vault.log().len(), len);
}

#[test]
fn wrong_qr_secret_is_refused_and_no_secret_refuses_signatures_only() {
    let dir = tempfile::tempdir().unwrap();
    let (vault, clock) = new_vault(dir.path());
    drop(vault);
    let mut wrong = options(&clock);
    wrong.qr_secret = Some(vec![1; 32]);
    assert!(matches!(Vault::open(dir.path(), wrong), Err(VaultError::WrongQrSecret)));
    let mut none = options(&clock);
    none.qr_secret = None;
    let vault = Vault::open(dir.path(), none).unwrap();
    assert!(matches!(
        vault.session_secret(&demo::session_ref(&demo::establishment("E"), "S"), 1),
        Err(VaultError::QrSecretMissing)
    ));
    let stored = std::fs::read(dir.path().join("vault.meta")).unwrap();
    assert!(!stored.windows(SECRET.len()).any(|w| w == SECRET));
}

#[test]
fn receipts_prove_inclusion_in_a_signed_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (vault, clock) = new_vault(dir.path());
    demo::school_day(&vault, &clock, &small_day()).unwrap();
    let receipt = vault.receipt(10).unwrap();
    let proof = vault.prove_receipt(10).unwrap();
    let key = vault.verifier_key().unwrap();
    let checkpoint =
        coffre_log::checkpoint::open_checkpoint(proof.checkpoint.note.as_bytes(), &key).unwrap();
    assert_eq!(proof.inclusion.leaf_hash, receipt.leaf_hash);
    proof.inclusion.verify(&checkpoint.root).unwrap();
}

/// Scenario 1: a roll call opened, then the session moved: signatures stay with the version
/// they were given for, and a new roll call is needed for the new slot.
#[test]
fn scenario_roll_call_opened_then_session_moved() {
    let dir = tempfile::tempdir().unwrap();
    let (vault, clock) = new_vault(dir.path());
    demo::school_day(&vault, &clock, &small_day()).unwrap();
    let est = demo::establishment("LYCEE-DEMO-75");
    let key = demo::session_ref(&est, "EXTRA-1");
    let start = day().start_unix_ns() + 18 * HOUR_NS;
    let alice = demo::student(1);
    clock.set(start - 30 * MINUTE_NS);
    vault
        .submit(&demo::event(
            "x schedule",
            EventBody::SessionScheduled(SessionScheduled {
                session: Session {
                    key: key.clone(),
                    course: CourseLabel::new("Soutien").unwrap(),
                    room: Room::new("C1").unwrap(),
                    start_ns: start,
                    end_ns: start + HOUR_NS,
                    teachers: vec![demo::teacher("T-MARTIN")],
                    students: vec![alice.clone()],
                },
                by: Actor::Service,
            }),
        ))
        .unwrap();
    clock.set(start - 5 * MINUTE_NS);
    let t = Actor::Teacher(demo::teacher("T-MARTIN"));
    vault
        .submit(&demo::event(
            "x open",
            EventBody::RollCallOpened(RollCallOpened {
                session: key.clone(),
                version: 1,
                mode: RollCallMode::FixedQr,
                opened_by: t.clone(),
                on_behalf_of: None,
            }),
        ))
        .unwrap();
    let signer = Signer::Student(alice.clone());
    let token = vault.session_secret(&key, 1).unwrap().fixed_token();
    let att = signatures::sign(&demo::signer_key(&signer), &key, 1, &signer, &token, start);
    let sig = vault
        .submit(&demo::event(
            "x sign",
            EventBody::StudentSigned(StudentSigned {
                session: key.clone(),
                version: 1,
                student: alice.clone(),
                attestation: att.clone(),
            }),
        ))
        .unwrap();
    vault
        .submit(&demo::event(
            "x move",
            EventBody::SessionMoved(SessionMoved {
                session: key.clone(),
                from_version: 1,
                start_ns: start + HOUR_NS,
                end_ns: start + 2 * HOUR_NS,
                by: demo::administrator(),
                reason: demo::reason("enseignant en retard"),
            }),
        ))
        .unwrap();
    // Signing again for version 1 is refused: the session is at version 2.
    let retry_old = demo::event(
        "x sign again",
        EventBody::StudentSigned(StudentSigned {
            session: key.clone(),
            version: 1,
            student: alice.clone(),
            attestation: att,
        }),
    );
    assert!(matches!(
        vault.submit(&retry_old),
        Err(VaultError::Rule(RuleError::StaleVersion { given: 1, current: 2 }))
    ));
    let sheet = vault.sheet(&key).unwrap();
    assert_eq!(sheet.versions.len(), 2);
    assert_eq!(sheet.current.version, 2);
    let line = &sheet.students[0];
    assert_eq!(line.presence, Presence::NotRecorded);
    assert_eq!(line.earlier_signatures[0].recorded.index, sig.index);
    assert_eq!(sheet.versions[1].reason.as_ref().unwrap().as_str(), "enseignant en retard");
}

/// Scenario 3 and 4 (from the school day): a manual roll call with absences entered by the
/// teacher, and a fixed-QR roll call opened by an administrator on behalf of the teacher.
#[test]
fn scenario_manual_roll_call_and_roll_call_opened_by_an_administrator() {
    let dir = tempfile::tempdir().unwrap();
    let (vault, clock) = new_vault(dir.path());
    demo::school_day(&vault, &clock, &small_day()).unwrap();
    let est = demo::establishment("LYCEE-DEMO-75");
    let manual = vault.sheet(&demo::session_ref(&est, "2025-09-08-B2")).unwrap();
    assert_eq!(manual.roll_calls[0].mode, RollCallMode::Manual);
    let absent = manual.students.iter().filter(|l| l.presence == Presence::Absent).count();
    let present = manual.students.iter().filter(|l| l.presence == Presence::PresentManual).count();
    assert_eq!(absent + present, manual.students.len());
    assert!(absent >= 1);
    assert_eq!(manual.students[0].justifications[0].0.as_str(), "certificat médical");

    let by_admin = vault.sheet(&demo::session_ref(&est, "2025-09-08-A4")).unwrap();
    let roll_call = &by_admin.roll_calls[0];
    assert_eq!(roll_call.mode, RollCallMode::FixedQr);
    assert!(matches!(roll_call.opened_by, Actor::Administrator(_)));
    assert_eq!(roll_call.on_behalf_of.as_ref().unwrap().as_str(), "T-DUBOIS");
    assert!(by_admin.students.iter().any(|l| l.presence == Presence::Signed));
}

/// Scenario 5: "how can we be sure of the recorded times": each signature shows its interval,
/// uncertainty and sources, and the record's timestamp is the one proven in the log.
#[test]
fn scenario_sheet_shows_each_time_with_uncertainty_and_sources() {
    let dir = tempfile::tempdir().unwrap();
    let (vault, clock) = new_vault(dir.path());
    demo::school_day(&vault, &clock, &small_day()).unwrap();
    let est = demo::establishment("LYCEE-DEMO-75");
    let sheet = vault.sheet(&demo::session_ref(&est, "2025-09-08-B1")).unwrap();
    let line = sheet.students.iter().find(|l| !l.signatures.is_empty()).unwrap();
    let sig = &line.signatures[0];
    let t = sig.recorded.timestamp;
    assert_eq!(t.uncertainty_ns(), demo::DEMO_UNCERTAINTY_NS);
    assert!(t.agreed().contains(Source::Gps) && t.agreed().contains(Source::Ntp));
    assert!(t.rejected().contains(Source::System));
    assert!(t.earliest_ns() >= sheet.current.start_ns);
    assert_eq!(vault.log().read(sig.recorded.index).unwrap().timestamp, t);
}
