//! Durable ingest of signed attendance events through the vault: rules, batch signature
//! verification (over the cores), `append_batch` with an fsync per batch, state commit.
//!
//! `cargo bench --bench attendance_ingest -- [--events N] [--batch B]` (defaults 50,000 and
//! 2,048). Setup (keys, sessions, roll calls, device signatures) is not timed: devices sign,
//! the vault verifies. Prints events/s, fsyncs and mean batch.

use coffre::attendance::demo::{self, ManualClock, HOUR_NS, MINUTE_NS};
use coffre::attendance::events::{
    Command, EventBody, RollCallMode, RollCallOpened, SessionScheduled, SignerKeyEnrolled,
    StudentSigned,
};
use coffre::attendance::identity::MAX_STUDENTS;
use coffre::attendance::identity::{Actor, CourseLabel, Date, Room, Session, Signer};
use coffre::attendance::{signatures, Vault};
use std::sync::Arc;
use std::time::Instant;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let events = arg("--events", 50_000);
    let batch = arg("--batch", 2_048).max(1);
    let dir = tempfile::tempdir()?;
    let day = Date::new(2025, 9, 8).map_err(|e| format!("{e:?}"))?;
    let start_ns = day.start_unix_ns() + 8 * HOUR_NS;
    let clock = Arc::new(ManualClock::new(start_ns - 2 * HOUR_NS));
    let vault = Vault::create(dir.path(), demo::demo_options(&clock, None))?;
    let est = demo::establishment("LYCEE-BENCH");

    // Setup: keys, one session per 1,000 students, rotating-QR roll calls.
    let students: Vec<_> = (0..events as u64).map(demo::student).collect();
    let enrolments: Vec<Command> = students
        .iter()
        .map(|s| {
            let signer = Signer::Student(s.clone());
            demo::event(
                &format!("enrol {}", s.ine),
                EventBody::SignerKeyEnrolled(SignerKeyEnrolled {
                    establishment: est.clone(),
                    public_key: demo::signer_key(&signer).verifying_key().to_bytes(),
                    signer,
                    by: demo::administrator(),
                }),
            )
        })
        .collect();
    for chunk in enrolments.chunks(8_192) {
        for outcome in vault.submit_batch(chunk)? {
            outcome?;
        }
    }
    let teacher = demo::teacher("T-BENCH");
    let mut sessions = Vec::new();
    for (n, group) in students.chunks(MAX_STUDENTS).enumerate() {
        let key = demo::session_ref(&est, &format!("S{n}"));
        vault.submit(&demo::event(
            &format!("schedule {n}"),
            EventBody::SessionScheduled(SessionScheduled {
                session: Session {
                    key: key.clone(),
                    course: CourseLabel::new("Amphi")?,
                    room: Room::new(&format!("A{n}"))?,
                    start_ns,
                    end_ns: start_ns + HOUR_NS,
                    teachers: vec![teacher.clone()],
                    students: group.to_vec(),
                },
                by: Actor::Service,
            }),
        ))?;
        sessions.push((key, group));
    }
    clock.set(start_ns - 5 * MINUTE_NS);
    for (key, _) in &sessions {
        vault.submit(&demo::event(
            &format!("open {}", key.session),
            EventBody::RollCallOpened(RollCallOpened {
                session: key.clone(),
                version: 1,
                mode: RollCallMode::RotatingQr,
                opened_by: Actor::Teacher(teacher.clone()),
                on_behalf_of: None,
            }),
        ))?;
    }
    clock.set(start_ns + MINUTE_NS);
    let policy = vault.state().config().qr;
    let mut commands = Vec::with_capacity(events);
    for (key, group) in &sessions {
        let token = vault.session_secret(key, 1)?.rotating_token(clock.peek_ns(), &policy);
        for s in group.iter() {
            let signer = Signer::Student(s.clone());
            let attestation =
                signatures::sign(&demo::signer_key(&signer), key, 1, &signer, &token, start_ns);
            commands.push(demo::event(
                &format!("sign {} {}", key.session, s.ine),
                EventBody::StudentSigned(StudentSigned {
                    session: key.clone(),
                    version: 1,
                    student: s.clone(),
                    attestation,
                }),
            ));
        }
    }

    // Timed: durable ingest with verification.
    let before = vault.log().stats();
    let started = Instant::now();
    let mut accepted = 0usize;
    for chunk in commands.chunks(batch) {
        for outcome in vault.submit_batch(chunk)? {
            outcome?;
            accepted += 1;
        }
    }
    let elapsed = started.elapsed();
    let after = vault.log().stats();
    let fsyncs = after.fsyncs - before.fsyncs;
    println!(
        "attendance_ingest: {accepted} signed events in {:.3} s = {:.0} events/s (durable, \
         signatures verified in batches of {batch}); {fsyncs} fsyncs, {:.0} events per fsync, \
         {} cores",
        elapsed.as_secs_f64(),
        accepted as f64 / elapsed.as_secs_f64(),
        accepted as f64 / fsyncs.max(1) as f64,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
    );
    Ok(())
}
