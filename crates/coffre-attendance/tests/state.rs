//! Rules, idempotency, queries and scenarios on the pure attendance state.

use coffre_attendance::events::*;
use coffre_attendance::identity::*;
use coffre_attendance::qr::{MasterKey, SessionSecret};
use coffre_attendance::query::Presence;
use coffre_attendance::signatures;
use coffre_attendance::state::{AttendanceState, Prepare, RuleError, RulesConfig};
use coffre_clock::{Source, SourceSet, TimeStatus, Timestamp};
use ed25519_dalek::SigningKey;

const S: u64 = 1_000_000_000;
const MIN: u64 = 60 * S;
/// 2025-09-04 08:00:00 UTC.
const T0: u64 = 1_756_972_800 * S;
const END: u64 = T0 + 60 * MIN;
/// Half-width of every test timestamp: 1 ms.
const UNCERTAINTY_NS: u64 = 1_000_000;

fn ts(ns: u64) -> Timestamp {
    Timestamp::new(
        ns - UNCERTAINTY_NS,
        ns + UNCERTAINTY_NS,
        SourceSet::only(Source::Gps).with(Source::Ntp),
        SourceSet::only(Source::System),
        TimeStatus::Synchronized,
    )
    .unwrap()
}

fn est(code: &str) -> EstablishmentCode {
    EstablishmentCode::new(code).unwrap()
}
fn teacher(id: &str) -> TeacherId {
    TeacherId::new(id).unwrap()
}
fn admin() -> Actor {
    Actor::Administrator(StaffId::new("vie-scolaire").unwrap())
}
fn t1() -> Actor {
    Actor::Teacher(teacher("T1"))
}
fn reason(text: &str) -> Reason {
    Reason::new(text).unwrap()
}
fn student(ine: &str, birth: &str) -> Student {
    Student { ine: Ine::parse(ine).unwrap(), birth_date: Date::parse(birth).unwrap() }
}
fn alice() -> Student {
    student("1234567890V", "2008-03-14")
}
fn bob() -> Student {
    student("ABC123XYZ95", "2007-01-02")
}
fn chloe() -> Student {
    student("2023D00001K", "2009-05-05")
}
fn sref(e: &str, id: &str) -> SessionRef {
    SessionRef { establishment: est(e), session: SessionId::new(id).unwrap() }
}
fn s1() -> SessionRef {
    sref("E1", "S1")
}
fn key_of(s: &Student) -> SigningKey {
    SigningKey::from_bytes(&[s.ine.as_str().as_bytes()[0]; 32])
}
fn teacher_key() -> SigningKey {
    SigningKey::from_bytes(&[0x77; 32])
}
const MASTER: [u8; 32] = [9; 32];

fn secret(session: &SessionRef, version: u32) -> SessionSecret {
    SessionSecret::derive(&MasterKey::new(MASTER), session, version)
}

fn session(key: SessionRef, start_ns: u64, students: Vec<Student>) -> EventBody {
    EventBody::SessionScheduled(SessionScheduled {
        session: Session {
            key,
            course: CourseLabel::new("Mathématiques").unwrap(),
            room: Room::new("B204").unwrap(),
            start_ns,
            end_ns: start_ns + 60 * MIN,
            teachers: vec![teacher("T1"), teacher("T2")],
            students,
        },
        by: Actor::Service,
    })
}

fn open(key: SessionRef, version: u32, mode: RollCallMode, by: Actor) -> EventBody {
    let on_behalf_of = match by {
        Actor::Administrator(_) => Some(teacher("T1")),
        _ => None,
    };
    EventBody::RollCallOpened(RollCallOpened {
        session: key,
        version,
        mode,
        opened_by: by,
        on_behalf_of,
    })
}

fn enrol(signer: Signer, key: &SigningKey) -> EventBody {
    EventBody::SignerKeyEnrolled(SignerKeyEnrolled {
        establishment: est("E1"),
        signer,
        public_key: key.verifying_key().to_bytes(),
        by: admin(),
    })
}

fn student_signs(
    key: &SessionRef,
    version: u32,
    s: &Student,
    token: &[u8; 32],
    device_ns: u64,
) -> EventBody {
    let signer = Signer::Student(s.clone());
    EventBody::StudentSigned(StudentSigned {
        session: key.clone(),
        version,
        student: s.clone(),
        attestation: signatures::sign(&key_of(s), key, version, &signer, token, device_ns),
    })
}

fn teacher_signs(key: &SessionRef, version: u32) -> EventBody {
    let signer = Signer::Teacher(teacher("T1"));
    let token = secret(key, version).fixed_token();
    EventBody::TeacherSigned(TeacherSigned {
        session: key.clone(),
        version,
        teacher: teacher("T1"),
        attestation: signatures::sign(&teacher_key(), key, version, &signer, &token, END),
    })
}

fn mark(key: &SessionRef, version: u32, s: &Student) -> Mark {
    Mark { session: key.clone(), version, student: s.clone(), by: t1() }
}

/// A pure state plus the "log" it was built from (bytes and timestamps, for replays).
struct Fx {
    state: AttendanceState,
    log: Vec<(Vec<u8>, Timestamp)>,
    request: u32,
}

impl Fx {
    fn new() -> Fx {
        Fx {
            state: AttendanceState::new(RulesConfig::new(MasterKey::new(MASTER))),
            log: Vec::new(),
            request: 0,
        }
    }

    fn event(&mut self, body: EventBody) -> Event {
        self.request += 1;
        let mut id = [0u8; 16];
        id[..4].copy_from_slice(&self.request.to_le_bytes());
        Event { request_id: RequestId(id), body }
    }

    /// What the vault does: prepare, append, commit. Returns the record index.
    fn send(&mut self, command: &Event, now_ns: u64) -> Result<u64, RuleError> {
        match self.state.prepare(command, ts(now_ns))? {
            Prepare::Duplicate(index) => Ok(index),
            Prepare::Append(prepared) => {
                let index = self.log.len() as u64;
                // The log stamps slightly after validation.
                let stamp = ts(now_ns + 1_000);
                self.log.push((prepared.bytes().to_vec(), stamp));
                self.state.commit(index, stamp, &prepared).unwrap();
                Ok(index)
            }
        }
    }

    fn run(&mut self, body: EventBody, now_ns: u64) -> Result<u64, RuleError> {
        let command = self.event(body);
        self.send(&command, now_ns)
    }

    fn ok(&mut self, body: EventBody, now_ns: u64) -> u64 {
        self.run(body, now_ns).unwrap()
    }

    /// A scheduled S1 with alice, bob, chloe and everyone's keys enrolled.
    fn ready() -> Fx {
        let mut fx = Fx::new();
        fx.ok(session(s1(), T0, vec![alice(), bob(), chloe()]), T0 - 86_400 * S);
        for s in [alice(), bob(), chloe()] {
            fx.ok(enrol(Signer::Student(s.clone()), &key_of(&s)), T0 - 86_400 * S);
        }
        fx.ok(enrol(Signer::Teacher(teacher("T1")), &teacher_key()), T0 - 86_400 * S);
        fx
    }

    fn replayed(&self) -> AttendanceState {
        let mut state = AttendanceState::new(RulesConfig::new(MasterKey::new(MASTER)));
        for (index, (bytes, stamp)) in self.log.iter().enumerate() {
            state.apply_record(index as u64, *stamp, bytes).unwrap();
        }
        state
    }
}

#[test]
fn qr_roll_call_opened_by_an_administrator_for_the_teacher() {
    let mut fx = Fx::ready();
    let no_behalf = EventBody::RollCallOpened(RollCallOpened {
        session: s1(),
        version: 1,
        mode: RollCallMode::RotatingQr,
        opened_by: admin(),
        on_behalf_of: None,
    });
    assert_eq!(fx.run(no_behalf, T0), Err(RuleError::OnBehalfOfMissing));
    let teacher_for_other = EventBody::RollCallOpened(RollCallOpened {
        session: s1(),
        version: 1,
        mode: RollCallMode::RotatingQr,
        opened_by: t1(),
        on_behalf_of: Some(teacher("T2")),
    });
    assert_eq!(fx.run(teacher_for_other, T0), Err(RuleError::OnBehalfOfNotAllowed));
    let for_stranger = EventBody::RollCallOpened(RollCallOpened {
        session: s1(),
        version: 1,
        mode: RollCallMode::RotatingQr,
        opened_by: admin(),
        on_behalf_of: Some(teacher("T9")),
    });
    assert_eq!(fx.run(for_stranger, T0), Err(RuleError::NotAssigned { teacher: teacher("T9") }));

    let opened = fx.ok(open(s1(), 1, RollCallMode::RotatingQr, admin()), T0 - 5 * MIN);
    let policy = fx.state.config().qr;
    let token = secret(&s1(), 1).rotating_token(T0 + 2 * MIN, &policy);
    let signed = fx
        .ok(student_signs(&s1(), 1, &alice(), &token, T0 + 2 * MIN + 3 * S), T0 + 2 * MIN + 4 * S);
    // The fixed token does not replace the rotating one for students.
    let fixed = secret(&s1(), 1).fixed_token();
    assert!(matches!(
        fx.run(student_signs(&s1(), 1, &bob(), &fixed, T0), T0 + 3 * MIN),
        Err(RuleError::Challenge(_))
    ));
    fx.ok(teacher_signs(&s1(), 1), END);
    fx.ok(
        EventBody::RollCallClosed(RollCallClosed { session: s1(), version: 1, by: admin() }),
        END,
    );

    let sheet = fx.state.sheet(&s1()).unwrap();
    let roll_call = &sheet.roll_calls[0];
    assert_eq!(roll_call.opened_by, admin());
    assert_eq!(roll_call.on_behalf_of, Some(teacher("T1")));
    assert_eq!(roll_call.opened.index, opened);
    assert_eq!(sheet.students[0].presence, Presence::Signed);
    assert_eq!(sheet.students[0].signatures[0].recorded.index, signed);
    assert_eq!(sheet.students[1].presence, Presence::NotRecorded);
    assert_eq!(sheet.teacher_signatures.len(), 1);
    assert_eq!(
        fx.run(student_signs(&s1(), 1, &bob(), &token, T0), END),
        Err(RuleError::RollCallClosed { version: 1 })
    );
}

#[test]
fn sheet_shows_each_timestamp_with_uncertainty_and_sources() {
    let mut fx = Fx::ready();
    fx.ok(open(s1(), 1, RollCallMode::FixedQr, t1()), T0);
    let token = secret(&s1(), 1).fixed_token();
    fx.ok(student_signs(&s1(), 1, &bob(), &token, 42), T0 + MIN);
    let sheet = fx.state.sheet(&s1()).unwrap();
    let line = &sheet.students[1].signatures[0];
    let t = line.recorded.timestamp;
    assert_eq!(t.uncertainty_ns(), UNCERTAINTY_NS);
    assert_eq!(
        (t.earliest_ns(), t.latest_ns()),
        (T0 + MIN + 1_000 - UNCERTAINTY_NS, T0 + MIN + 1_000 + UNCERTAINTY_NS)
    );
    assert!(t.agreed().contains(Source::Gps) && t.agreed().contains(Source::Ntp));
    assert!(t.rejected().contains(Source::System));
    assert_eq!(t.status(), TimeStatus::Synchronized);
    // The device's claim is shown apart, never mixed with the vault's time.
    assert_eq!(line.device_time_ns, 42);
    assert_eq!(sheet.roll_calls[0].opened.timestamp.uncertainty_ns(), UNCERTAINTY_NS);
}

#[test]
fn roll_call_opened_then_session_moved() {
    let mut fx = Fx::ready();
    fx.ok(open(s1(), 1, RollCallMode::FixedQr, t1()), T0);
    let v1_token = secret(&s1(), 1).fixed_token();
    let first = fx.ok(student_signs(&s1(), 1, &alice(), &v1_token, T0), T0 + MIN);
    let day = 86_400 * S;
    let moved = EventBody::SessionMoved(SessionMoved {
        session: s1(),
        from_version: 1,
        start_ns: T0 + day,
        end_ns: END + day,
        by: admin(),
        reason: reason("salle indisponible"),
    });
    fx.ok(moved.clone(), T0 + 2 * MIN);
    assert_eq!(fx.run(moved, T0 + 3 * MIN), Err(RuleError::StaleVersion { given: 1, current: 2 }));
    // Old version: refused; new version needs its own roll call and its own token.
    assert_eq!(
        fx.run(student_signs(&s1(), 1, &bob(), &v1_token, T0), T0 + 3 * MIN),
        Err(RuleError::StaleVersion { given: 1, current: 2 })
    );
    let v2_token = secret(&s1(), 2).fixed_token();
    assert_eq!(
        fx.run(student_signs(&s1(), 2, &alice(), &v2_token, T0), T0 + day),
        Err(RuleError::NoRollCall { version: 2 })
    );
    // Before the new slot's window: refused.
    assert!(matches!(
        fx.run(open(s1(), 2, RollCallMode::FixedQr, t1()), T0 + 4 * MIN),
        Err(RuleError::OutsideWindow { .. })
    ));
    fx.ok(open(s1(), 2, RollCallMode::FixedQr, t1()), T0 + day);
    assert_eq!(
        fx.run(student_signs(&s1(), 2, &alice(), &v1_token, T0), T0 + day + MIN),
        Err(RuleError::Challenge(coffre_attendance::qr::QrError::OtherSession))
    );
    let second = fx.ok(student_signs(&s1(), 2, &alice(), &v2_token, T0 + day), T0 + day + MIN);

    let sheet = fx.state.sheet(&s1()).unwrap();
    assert_eq!(sheet.current.version, 2);
    assert_eq!(sheet.versions.len(), 2);
    assert_eq!(sheet.versions[1].reason, Some(reason("salle indisponible")));
    assert_eq!(
        sheet.students[0].signatures.iter().map(|s| s.recorded.index).collect::<Vec<_>>(),
        vec![second]
    );
    assert_eq!(sheet.students[0].earlier_signatures[0].recorded.index, first);
    assert_eq!(sheet.students[0].earlier_signatures[0].version, 1);
    let d = |s| Date::parse(s).unwrap();
    assert!(fx
        .state
        .establishment_sessions(&est("E1"), d("2025-09-04"), d("2025-09-04"))
        .is_empty());
    assert_eq!(
        fx.state.establishment_sessions(&est("E1"), d("2025-09-05"), d("2025-09-05")).len(),
        1
    );
}

#[test]
fn retry_after_a_web_service_failure_returns_the_original_record() {
    let mut fx = Fx::ready();
    fx.ok(open(s1(), 1, RollCallMode::FixedQr, t1()), T0);
    let token = secret(&s1(), 1).fixed_token();
    let command = fx.event(student_signs(&s1(), 1, &alice(), &token, T0));
    let original = fx.send(&command, T0 + MIN).unwrap();
    let log_len = fx.log.len();
    // The response was lost; the client retries, even after the window closed.
    assert_eq!(fx.send(&command, T0 + MIN + 5 * S), Ok(original));
    assert_eq!(fx.send(&command, END + 60 * MIN), Ok(original));
    assert_eq!(fx.log.len(), log_len, "a retry appends nothing");
    // Same request id, other content: refused.
    let mut other = fx.event(student_signs(&s1(), 1, &bob(), &token, T0));
    other.request_id = command.request_id;
    assert_eq!(
        fx.send(&other, T0 + 2 * MIN),
        Err(RuleError::RequestIdReused { original_index: original })
    );
    // A new request id for the same signature is a second signature: refused by the rules.
    let again = fx.event(student_signs(&s1(), 1, &alice(), &token, T0));
    assert_eq!(
        fx.send(&again, T0 + 2 * MIN),
        Err(RuleError::AlreadySigned { original_index: original })
    );
    // A vault reopened from the log knows the request too.
    let bytes = encode(&command).unwrap();
    assert_eq!(
        fx.replayed().dedupe(&command, &bytes),
        Ok(coffre_attendance::state::Dedupe::Duplicate(original))
    );
}

#[test]
fn request_ids_are_forgotten_after_the_idempotency_window() {
    let mut fx = Fx::ready();
    let command = fx.event(session(sref("E1", "S2"), T0, vec![]));
    fx.send(&command, T0).unwrap();
    let week = 7 * 86_400 * S;
    fx.ok(session(sref("E1", "S3"), T0 + week, vec![]), T0 + week + 10 * S);
    // Forgotten: the rules now judge the retry (and refuse it as a repeat).
    assert_eq!(fx.send(&command, T0 + week + 20 * S), Err(RuleError::SessionExists));
}

#[test]
fn manual_roll_call_with_absences_entered_by_the_teacher() {
    let mut fx = Fx::ready();
    fx.ok(open(s1(), 1, RollCallMode::Manual, t1()), T0);
    let token = secret(&s1(), 1).fixed_token();
    assert_eq!(
        fx.run(student_signs(&s1(), 1, &alice(), &token, T0), T0 + MIN),
        Err(RuleError::SignatureNotCollected { mode: RollCallMode::Manual })
    );
    let absent = fx.ok(EventBody::MarkedAbsent(mark(&s1(), 1, &bob())), T0 + MIN);
    assert_eq!(
        fx.run(EventBody::MarkedAbsent(mark(&s1(), 1, &bob())), T0 + MIN),
        Err(RuleError::AlreadyMarked { original_index: absent })
    );
    fx.ok(
        EventBody::MarkedLate(MarkedLate { mark: mark(&s1(), 1, &chloe()), minutes: 10 }),
        T0 + 10 * MIN,
    );
    fx.ok(teacher_signs(&s1(), 1), END);
    fx.ok(EventBody::RollCallClosed(RollCallClosed { session: s1(), version: 1, by: t1() }), END);

    let sheet = fx.state.sheet(&s1()).unwrap();
    let presence: Vec<_> = sheet.students.iter().map(|l| l.presence).collect();
    assert_eq!(presence, vec![Presence::PresentManual, Presence::Absent, Presence::PresentManual]);
    assert_eq!(sheet.students[2].late.map(|l| l.0), Some(10));

    // Days later: the absence is justified, then found to be a mistake and corrected.
    let later = END + 3 * 86_400 * S;
    fx.ok(
        EventBody::AbsenceJustified(AbsenceJustified {
            mark: mark(&s1(), 1, &bob()),
            reason: reason("certificat médical"),
        }),
        later,
    );
    let correction = EventBody::Correction(Correction {
        establishment: est("E1"),
        target_index: absent,
        author: admin(),
        reason: reason("présent, erreur de saisie"),
    });
    let fixed = fx.ok(correction.clone(), later);
    assert_eq!(
        fx.run(correction, later),
        Err(RuleError::AlreadyCorrected { index: absent, correction_index: fixed })
    );
    let sheet = fx.state.sheet(&s1()).unwrap();
    assert_eq!(sheet.students[1].presence, Presence::PresentManual);
    assert_eq!(sheet.students[1].justifications.len(), 1);
    assert_eq!(sheet.corrections.len(), 1);
    assert_eq!(sheet.corrections[0].target_index, absent);
    assert_eq!(sheet.corrections[0].recorded.index, fixed);
}

#[test]
fn signing_rules_each_have_their_error() {
    let mut fx = Fx::ready();
    let token = secret(&s1(), 1).fixed_token();
    assert_eq!(
        fx.run(student_signs(&s1(), 1, &alice(), &token, 0), T0),
        Err(RuleError::NoRollCall { version: 1 })
    );
    fx.ok(open(s1(), 1, RollCallMode::FixedQr, t1()), T0);
    assert_eq!(
        fx.run(open(s1(), 1, RollCallMode::FixedQr, t1()), T0),
        Err(RuleError::RollCallAlreadyOpened { version: 1 })
    );
    let stranger = student("0000000001B", "2008-01-01");
    assert_eq!(
        fx.run(student_signs(&s1(), 1, &stranger, &token, 0), T0),
        Err(RuleError::NotEnrolled { ine: stranger.ine.clone() })
    );
    assert_eq!(
        fx.run(student_signs(&sref("E1", "nope"), 1, &alice(), &token, 0), T0),
        Err(RuleError::UnknownSession)
    );
    // Window: planned start minus 15 min to planned end plus 15 min, whole interval inside.
    let early = T0 - 15 * MIN;
    assert!(matches!(
        fx.run(student_signs(&s1(), 1, &alice(), &token, 0), early),
        Err(RuleError::OutsideWindow { .. })
    ));
    assert!(matches!(
        fx.run(student_signs(&s1(), 1, &alice(), &token, 0), END + 15 * MIN),
        Err(RuleError::OutsideWindow { .. })
    ));
    // Bob signs with alice's key.
    let mut stolen = student_signs(&s1(), 1, &bob(), &token, 0);
    if let EventBody::StudentSigned(e) = &mut stolen {
        e.attestation =
            signatures::sign(&key_of(&alice()), &s1(), 1, &Signer::Student(bob()), &token, 0);
    }
    assert_eq!(fx.run(stolen, T0), Err(RuleError::KeyNotForSigner));
    let mut unknown = student_signs(&s1(), 1, &alice(), &token, 0);
    if let EventBody::StudentSigned(e) = &mut unknown {
        let k = SigningKey::from_bytes(&[0x55; 32]);
        e.attestation = signatures::sign(&k, &s1(), 1, &Signer::Student(alice()), &token, 0);
    }
    assert_eq!(fx.run(unknown, T0), Err(RuleError::UnknownKey));
    let mut tampered = student_signs(&s1(), 1, &alice(), &token, 0);
    if let EventBody::StudentSigned(e) = &mut tampered {
        e.attestation.device_time_ns += 1;
    }
    assert!(matches!(fx.run(tampered, T0), Err(RuleError::BadSignature(_))));
    let mut forged = token;
    forged[31] ^= 1;
    assert_eq!(
        fx.run(student_signs(&s1(), 1, &alice(), &forged, 0), T0),
        Err(RuleError::Challenge(coffre_attendance::qr::QrError::Forged))
    );
    let first = fx.ok(student_signs(&s1(), 1, &alice(), &token, 0), T0 + 1);
    assert_eq!(
        fx.run(student_signs(&s1(), 1, &alice(), &token, 1), T0 + 2),
        Err(RuleError::AlreadySigned { original_index: first })
    );
    assert_eq!(
        fx.run(EventBody::MarkedAbsent(mark(&s1(), 1, &alice())), T0 + 3),
        Err(RuleError::ConflictsWithSignature { signature_index: first })
    );
    // Revoked key.
    let revoked = fx.ok(
        EventBody::SignerKeyRevoked(SignerKeyRevoked {
            establishment: est("E1"),
            public_key: key_of(&bob()).verifying_key().to_bytes(),
            by: admin(),
            reason: reason("téléphone perdu"),
        }),
        T0 + 4,
    );
    assert_eq!(
        fx.run(student_signs(&s1(), 1, &bob(), &token, 0), T0 + 5),
        Err(RuleError::RevokedKey { revoked_index: revoked })
    );
    // Cancelled session.
    fx.ok(
        EventBody::SessionCancelled(SessionCancelled {
            session: s1(),
            version: 1,
            by: admin(),
            reason: reason("grève"),
        }),
        T0 + 6,
    );
    assert_eq!(
        fx.run(student_signs(&s1(), 1, &chloe(), &token, 0), T0 + 7),
        Err(RuleError::SessionCancelled)
    );
}

#[test]
fn grace_before_start_is_configurable() {
    let mut config = RulesConfig::new(MasterKey::new(MASTER));
    config.grace_before_start_ns = 30 * MIN;
    let mut fx = Fx::ready();
    fx.state = AttendanceState::new(config);
    fx.log.clear();
    fx.ok(session(s1(), T0, vec![alice()]), T0 - 86_400 * S);
    assert!(matches!(
        fx.run(open(s1(), 1, RollCallMode::FixedQr, t1()), T0 - 31 * MIN),
        Err(RuleError::OutsideWindow { .. })
    ));
    assert!(fx.run(open(s1(), 1, RollCallMode::FixedQr, t1()), T0 - 20 * MIN).is_ok());
}

#[test]
fn mark_keys_corrections_and_aliases_rules_each_have_their_error() {
    let mut fx = Fx::ready();
    assert_eq!(fx.run(session(s1(), T0, vec![]), T0), Err(RuleError::SessionExists));
    let baby = student("0000000001B", "2024-06-01");
    assert!(matches!(
        fx.run(session(sref("E1", "S9"), T0, vec![baby]), T0),
        Err(RuleError::Identity(IdentityError::BirthDate { reason: DateReason::TooRecent, .. }))
    ));
    fx.ok(open(s1(), 1, RollCallMode::Manual, t1()), T0);
    let late0 = EventBody::MarkedLate(MarkedLate { mark: mark(&s1(), 1, &alice()), minutes: 0 });
    assert_eq!(fx.run(late0, T0), Err(RuleError::InvalidMinutes { minutes: 0 }));
    let late = EventBody::MarkedLate(MarkedLate { mark: mark(&s1(), 1, &alice()), minutes: 61 });
    assert_eq!(fx.run(late, T0), Err(RuleError::InvalidMinutes { minutes: 61 }));
    let left = EventBody::LeftEarly(LeftEarly { mark: mark(&s1(), 1, &alice()), left_at_ns: END });
    assert_eq!(fx.run(left, T0), Err(RuleError::InvalidLeftAt { left_at_ns: END }));
    let by_stranger = Mark { by: Actor::Teacher(teacher("T9")), ..mark(&s1(), 1, &alice()) };
    assert_eq!(
        fx.run(EventBody::MarkedAbsent(by_stranger), T0),
        Err(RuleError::NotAssigned { teacher: teacher("T9") })
    );

    let correct = |target_index| {
        EventBody::Correction(Correction {
            establishment: est("E1"),
            target_index,
            author: admin(),
            reason: reason("x"),
        })
    };
    assert_eq!(
        fx.run(correct(10_000), T0),
        Err(RuleError::CorrectionTargetMissing { index: 10_000 })
    );
    assert_eq!(fx.run(correct(0), T0), Err(RuleError::NotCorrectable { index: 0 }));

    assert_eq!(
        fx.run(enrol(Signer::Student(alice()), &key_of(&alice())), T0),
        Err(RuleError::KeyAlreadyEnrolled)
    );
    let mut weak = [0u8; 32];
    weak[0] = 1;
    let enrol_weak = EventBody::SignerKeyEnrolled(SignerKeyEnrolled {
        establishment: est("E1"),
        signer: Signer::Student(alice()),
        public_key: weak,
        by: admin(),
    });
    assert_eq!(fx.run(enrol_weak, T0), Err(RuleError::BadKey(signatures::SignatureError::WeakKey)));

    let alias = |old: &str, new: &str| {
        EventBody::IneAlias(IneAlias {
            establishment: est("E1"),
            old: Ine::parse(old).unwrap(),
            new: Ine::parse(new).unwrap(),
            birth_date: Date::parse("2009-05-05").unwrap(),
            by: admin(),
        })
    };
    assert_eq!(fx.run(alias("2023D00001K", "2023D00001K"), T0), Err(RuleError::AliasToSelf));
    fx.ok(alias("2023D00001K", "0000000001B"), T0);
    assert_eq!(
        fx.run(alias("2023D00001K", "0000000023A"), T0),
        Err(RuleError::AliasExists { old: Ine::parse("2023D00001K").unwrap() })
    );
    assert_eq!(fx.run(alias("0000000001B", "2023D00001K"), T0), Err(RuleError::AliasCycle));
}

#[test]
fn student_history_follows_aliases_across_years_and_establishments() {
    let mut fx = Fx::ready();
    let year = 365 * 86_400 * S;
    let definitive = student("0000000001B", "2009-05-05");
    fx.ok(
        EventBody::IneAlias(IneAlias {
            establishment: est("E2"),
            old: chloe().ine,
            new: definitive.ine.clone(),
            birth_date: chloe().birth_date,
            by: admin(),
        }),
        T0 + year - 86_400 * S,
    );
    fx.ok(
        session(sref("E2", "S-2026"), T0 + year, vec![definitive.clone()]),
        T0 + year - 86_400 * S,
    );
    for ine in [&chloe().ine, &definitive.ine] {
        let history = fx.state.student_history(ine, chloe().birth_date);
        let sessions: Vec<_> = history.iter().map(|h| h.summary.session.clone()).collect();
        assert_eq!(sessions, vec![s1(), sref("E2", "S-2026")]);
        assert_eq!(history[0].enrolled_as, chloe().ine);
        assert_eq!(history[1].enrolled_as, definitive.ine);
    }
    // INE + birth date: another birth date is another person.
    assert!(fx.state.student_history(&chloe().ine, Date::parse("2009-05-06").unwrap()).is_empty());
}

#[test]
fn teacher_and_establishment_listings() {
    let mut fx = Fx::ready();
    fx.ok(session(sref("E1", "S0"), T0 - 86_400 * S, vec![]), T0 - 2 * 86_400 * S);
    fx.ok(session(sref("E2", "S1"), T0, vec![]), T0 - 86_400 * S);
    let t1_sessions = fx.state.teacher_sessions(&est("E1"), &teacher("T1"));
    assert_eq!(
        t1_sessions.iter().map(|s| s.session.clone()).collect::<Vec<_>>(),
        vec![sref("E1", "S0"), s1()]
    );
    assert!(fx.state.teacher_sessions(&est("E1"), &teacher("T9")).is_empty());
    let d = |s| Date::parse(s).unwrap();
    let week = fx.state.establishment_sessions(&est("E1"), d("2025-09-01"), d("2025-09-07"));
    assert_eq!(week.len(), 2);
    let one_day = fx.state.establishment_sessions(&est("E1"), d("2025-09-04"), d("2025-09-04"));
    assert_eq!(one_day.iter().map(|s| s.session.clone()).collect::<Vec<_>>(), vec![s1()]);
    assert!(fx
        .state
        .establishment_sessions(&est("E1"), d("2025-09-07"), d("2025-09-01"))
        .is_empty());
}

#[test]
fn replaying_the_log_rebuilds_the_same_projection() {
    let mut fx = Fx::ready();
    fx.ok(open(s1(), 1, RollCallMode::FixedQr, t1()), T0);
    let token = secret(&s1(), 1).fixed_token();
    fx.ok(student_signs(&s1(), 1, &alice(), &token, T0), T0 + MIN);
    fx.ok(EventBody::MarkedAbsent(mark(&s1(), 1, &bob())), T0 + MIN);
    let replayed = fx.replayed();
    assert_eq!(replayed.sheet(&s1()), fx.state.sheet(&s1()));
    assert_eq!(replayed.next_index(), fx.state.next_index());
    assert!(replayed.anomalies().is_empty());
    // Out-of-order application is refused.
    let mut state = fx.replayed();
    let (bytes, stamp) = &fx.log[0];
    assert!(state.apply_record(0, *stamp, bytes).is_err());
}

#[test]
fn batch_preparation_verifies_signatures_together_and_catches_repeats() {
    let mut fx = Fx::ready();
    fx.ok(open(s1(), 1, RollCallMode::FixedQr, t1()), T0);
    let token = secret(&s1(), 1).fixed_token();
    let a = fx.event(student_signs(&s1(), 1, &alice(), &token, 1));
    let mut b = fx.event(student_signs(&s1(), 1, &bob(), &token, 2));
    if let EventBody::StudentSigned(e) = &mut b.body {
        e.attestation.signature[3] ^= 1;
    }
    let a_again = fx.event(student_signs(&s1(), 1, &alice(), &token, 3));
    let c = fx.event(student_signs(&s1(), 1, &chloe(), &token, 4));
    let results = fx.state.prepare_batch(&[a, b, a_again, c], ts(T0 + MIN));
    assert!(matches!(results[0], Ok(Prepare::Append(_))));
    assert!(matches!(results[1], Err(RuleError::BadSignature(_))));
    assert_eq!(results[2], Err(RuleError::RepeatedInBatch { position: 0 }));
    assert!(matches!(results[3], Ok(Prepare::Append(_))));
}

fn tablet() -> SigningKey {
    SigningKey::from_bytes(&[0x42; 32])
}

/// `s` signs S1 v1 on `device` (a fixed-QR roll call).
fn signs_on(device: &SigningKey, s: &Student, token: &[u8; 32]) -> EventBody {
    let signer = Signer::Student(s.clone());
    EventBody::StudentSigned(StudentSigned {
        session: s1(),
        version: 1,
        student: s.clone(),
        attestation: signatures::sign(device, &s1(), 1, &signer, token, T0),
    })
}

#[test]
fn a_shared_device_signs_only_for_the_signers_it_is_enrolled_for() {
    let mut fx = Fx::ready();
    let before = T0 - 86_400 * S;
    // The classroom tablet is enrolled for alice, then for bob: one device, two signers.
    let for_alice = fx.ok(enrol(Signer::Student(alice()), &tablet()), before);
    let for_bob = fx.ok(enrol(Signer::Student(bob()), &tablet()), before);
    let record = fx.state.key(&tablet().verifying_key().to_bytes()).unwrap();
    assert!(record.is_shared());
    assert_eq!(record.enrolled.index, for_alice);
    assert_eq!(record.enrolment_for(&Signer::Student(bob())).unwrap().index, for_bob);
    assert_eq!(record.enrolment_for(&Signer::Student(chloe())), None);
    // Enrolling it twice for the same signer, or in another establishment, is refused.
    assert_eq!(
        fx.run(enrol(Signer::Student(bob()), &tablet()), before),
        Err(RuleError::KeyAlreadyEnrolled)
    );
    let elsewhere = EventBody::SignerKeyEnrolled(SignerKeyEnrolled {
        establishment: est("E2"),
        signer: Signer::Student(chloe()),
        public_key: tablet().verifying_key().to_bytes(),
        by: admin(),
    });
    assert_eq!(fx.run(elsewhere, before), Err(RuleError::KeyOfOtherEstablishment));

    fx.ok(open(s1(), 1, RollCallMode::FixedQr, t1()), T0 - 5 * MIN);
    let token = secret(&s1(), 1).fixed_token();
    fx.ok(signs_on(&tablet(), &alice(), &token), T0);
    fx.ok(signs_on(&tablet(), &bob(), &token), T0);
    // Chloe is not enrolled on the tablet: her signature made with it is still refused.
    assert_eq!(fx.run(signs_on(&tablet(), &chloe(), &token), T0), Err(RuleError::KeyNotForSigner));
    // Nor is alice's phone usable for chloe, though alice also signs on a shared tablet.
    assert_eq!(
        fx.run(signs_on(&key_of(&alice()), &chloe(), &token), T0),
        Err(RuleError::KeyNotForSigner)
    );
    // Revoking the tablet revokes it for everyone, and closes it to new signers.
    let revoked = fx.ok(
        EventBody::SignerKeyRevoked(SignerKeyRevoked {
            establishment: est("E1"),
            public_key: tablet().verifying_key().to_bytes(),
            by: admin(),
            reason: reason("tablette perdue"),
        }),
        T0,
    );
    assert_eq!(
        fx.run(enrol(Signer::Student(chloe()), &tablet()), T0),
        Err(RuleError::RevokedKey { revoked_index: revoked })
    );
    // The replayed log gives the same device record.
    let replayed = fx.replayed();
    assert_eq!(
        replayed.key(&tablet().verifying_key().to_bytes()),
        fx.state.key(&tablet().verifying_key().to_bytes())
    );
    assert!(replayed.anomalies().is_empty());
}

#[test]
fn one_batch_may_enrol_a_device_for_several_signers_but_each_once() {
    let fx = Fx::ready();
    let mut fx = fx;
    let before = T0 - 86_400 * S;
    let batch = vec![
        fx.event(enrol(Signer::Student(alice()), &tablet())),
        fx.event(enrol(Signer::Student(bob()), &tablet())),
        fx.event(enrol(Signer::Student(alice()), &tablet())),
    ];
    let results = fx.state.prepare_batch(&batch, ts(before));
    assert!(matches!(results[0], Ok(Prepare::Append(_))));
    assert!(matches!(results[1], Ok(Prepare::Append(_))));
    assert_eq!(results[2], Err(RuleError::RepeatedInBatch { position: 0 }));
}
