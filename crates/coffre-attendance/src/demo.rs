//! Demonstration data shared by `examples/school_day.rs`, the vault and audit tests and the
//! benchmarks: a settable clock, deterministic students and keys, a school day and a school
//! year of attendance recorded through a real [`Vault`].
//!
//! Not for production: the keys are derived from public seeds.

use crate::audit::AuditRequest;
use crate::events::{
    AbsenceJustified, AuditScope, Command, Correction, Event, EventBody, LeftEarly, Mark,
    MarkedLate, RequestId, RollCallClosed, RollCallMode, RollCallOpened, SessionMoved,
    SessionScheduled, SignerKeyEnrolled, StudentSigned, TeacherSigned,
};
use crate::identity::{
    Actor, CourseLabel, Date, EstablishmentCode, FunderId, Ine, Reason, Room, Session, SessionId,
    SessionRef, Signer, StaffId, Student, TeacherId,
};
use crate::signatures;
use crate::vault::{Vault, VaultError, VaultReceipt};
use coffre_clock::{Clock, ClockError, Source, SourceSet, TimeStatus, Timestamp};
use ed25519_dalek::SigningKey;
use std::sync::atomic::{AtomicU64, Ordering};

/// One second in nanoseconds.
pub const SECOND_NS: u64 = 1_000_000_000;
/// One minute in nanoseconds.
pub const MINUTE_NS: u64 = 60 * SECOND_NS;
/// One hour in nanoseconds.
pub const HOUR_NS: u64 = 60 * MINUTE_NS;
/// Half-width of the demo clock's stamps: 2 ms.
pub const DEMO_UNCERTAINTY_NS: u64 = 2_000_000;

/// A clock set by hand (simulated days), strictly increasing by 1 µs per reading. Its stamps
/// are `t ± 2 ms`, agreed by GPS and NTP, the system clock rejected.
#[derive(Debug)]
pub struct ManualClock {
    now_ns: AtomicU64,
}

impl ManualClock {
    /// A clock reading `start_ns`.
    pub fn new(start_ns: u64) -> ManualClock {
        ManualClock { now_ns: AtomicU64::new(start_ns) }
    }

    /// Moves the clock forward to `ns` (never backwards: an earlier time is ignored).
    pub fn set(&self, ns: u64) {
        self.now_ns.fetch_max(ns, Ordering::AcqRel);
    }

    /// Moves the clock forward by `ns`.
    pub fn advance(&self, ns: u64) {
        self.now_ns.fetch_add(ns, Ordering::AcqRel);
    }

    /// The current reading's midpoint, without consuming a tick.
    pub fn peek_ns(&self) -> u64 {
        self.now_ns.load(Ordering::Acquire)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Result<Timestamp, ClockError> {
        let t = self.now_ns.fetch_add(1_000, Ordering::AcqRel);
        Timestamp::new(
            t.saturating_sub(DEMO_UNCERTAINTY_NS),
            t.saturating_add(DEMO_UNCERTAINTY_NS),
            SourceSet::only(Source::Gps).with(Source::Ntp),
            SourceSet::only(Source::System),
            TimeStatus::Synchronized,
        )
        .map_err(|_| ClockError::OutOfRange)
    }
}

/// Values that are valid by construction (demo constants); a failure is a bug of this module.
fn valid<T, E: std::fmt::Debug>(value: Result<T, E>) -> T {
    match value {
        Ok(v) => v,
        Err(e) => panic!("demo value invalid: {e:?}"),
    }
}

/// The BEA INE number `n` (10 digits) with its key letter.
pub fn bea_ine(n: u64) -> Ine {
    const KEYS: &[u8] = b"ABCDEFGHJKLMNPRSTUVWXYZ";
    let n = 1_000_000_000 + n % 9_000_000_000;
    let key = KEYS.get((n % 23) as usize).copied().unwrap_or(b'A') as char;
    valid(Ine::parse(&format!("{n:010}{key}")))
}

/// Demo student number `i` (BEA INE, birth date in 2007..=2009).
pub fn student(i: u64) -> Student {
    let birth = valid(Date::new(2007 + (i % 3) as u16, 1 + (i % 12) as u8, 1 + (i % 28) as u8));
    Student { ine: bea_ine(i.wrapping_mul(7_919).wrapping_add(12_345)), birth_date: birth }
}

/// The demo signing key of a signer (derived from a public seed: demo only).
pub fn signer_key(signer: &Signer) -> SigningKey {
    let mut h = blake3::Hasher::new();
    h.update(b"coffre-attendance demo signer key\n");
    match signer {
        Signer::Student(s) => h.update(b"student ").update(s.ine.as_str().as_bytes()),
        Signer::Teacher(t) => h.update(b"teacher ").update(t.as_str().as_bytes()),
    };
    SigningKey::from_bytes(h.finalize().as_bytes())
}

/// The key of the demo's classroom tablet (room B200, at the door of session A2), a device
/// shared by the students who forgot their phone (derived from a public seed: demo only).
pub fn tablet_key() -> SigningKey {
    SigningKey::from_bytes(blake3::hash(b"coffre-attendance demo classroom tablet B200").as_bytes())
}

/// Group positions of the students who sign session A2 on the shared tablet (five, when the
/// group is large enough): the audit then flags the tablet (more than 3 students).
const TABLET_POSITIONS: [usize; 5] = [2, 6, 10, 14, 18];

/// The students of `group` who sign session A2 on the shared tablet.
fn tablet_students(group: &[Student]) -> Vec<Student> {
    TABLET_POSITIONS
        .iter()
        .filter(|&&i| !fate(i).0)
        .filter_map(|&i| group.get(i).cloned())
        .collect()
}

/// A deterministic request id from a label (demo clients).
pub fn request_id(label: &str) -> RequestId {
    let mut id = [0u8; 16];
    id.copy_from_slice(&blake3::hash(label.as_bytes()).as_bytes()[..16]);
    RequestId(id)
}

/// An event with a deterministic request id.
pub fn event(label: &str, body: EventBody) -> Event {
    Event { request_id: request_id(label), body }
}

/// The demo establishment code.
pub fn establishment(code: &str) -> EstablishmentCode {
    valid(EstablishmentCode::new(code))
}

/// The demo funder (`OPCO-EP`) asking for the attendance of `establishment` in the sessions
/// `from..=to`.
pub fn funder_audit_request(establishment: &str, from: Date, to: Date) -> AuditRequest {
    AuditRequest {
        establishment: self::establishment(establishment),
        funder: valid(FunderId::new("OPCO-EP")),
        scope: AuditScope::Sessions { from, to },
    }
}

/// The funder's auditor, who exports the audit trail.
pub fn funder_auditor() -> Actor {
    Actor::Administrator(valid(StaffId::new("opco-auditeur")))
}

/// A teacher id.
pub fn teacher(id: &str) -> TeacherId {
    valid(TeacherId::new(id))
}

/// The demo administrator (vie scolaire).
pub fn administrator() -> Actor {
    Actor::Administrator(valid(StaffId::new("vie-scolaire")))
}

/// A reason text.
pub fn reason(text: &str) -> Reason {
    valid(Reason::new(text))
}

/// A session reference.
pub fn session_ref(establishment_code: &EstablishmentCode, id: &str) -> SessionRef {
    SessionRef { establishment: establishment_code.clone(), session: valid(SessionId::new(id)) }
}

/// Counts of what a demo run recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DemoSummary {
    /// The establishment.
    pub establishment: String,
    /// First day (UTC).
    pub from: Date,
    /// Last day (UTC).
    pub to: Date,
    /// Sessions scheduled.
    pub sessions: Vec<SessionRef>,
    /// Records appended (all kinds).
    pub records: u64,
    /// Student and teacher signatures recorded.
    pub signatures: u64,
    /// Absences marked.
    pub absences: u64,
    /// Signature commands refused by the rules (expected: 0).
    pub refused: u64,
}

/// Shape of a simulated school day.
#[derive(Clone, Debug)]
pub struct SchoolDayConfig {
    /// Establishment code.
    pub establishment: String,
    /// The day (UTC).
    pub date: Date,
    /// Number of students, split in two groups (A and B).
    pub students: u64,
    /// Students signing per batch (one QR window).
    pub batch: usize,
}

impl Default for SchoolDayConfig {
    fn default() -> Self {
        SchoolDayConfig {
            establishment: "LYCEE-DEMO-75".into(),
            date: valid(Date::new(2025, 9, 8)),
            students: 300,
            batch: 64,
        }
    }
}

/// Records `body` through `vault` at the clock's current time.
fn submit(
    vault: &Vault,
    summary: &mut DemoSummary,
    label: &str,
    body: EventBody,
) -> Result<VaultReceipt, VaultError> {
    let receipt = vault.submit(&event(label, body))?;
    summary.records += u64::from(!receipt.duplicate);
    Ok(receipt)
}

/// One roll call of the demo.
struct RollCallPlan {
    key: SessionRef,
    version: u32,
    start_ns: u64,
    end_ns: u64,
    teacher: TeacherId,
    students: Vec<Student>,
    mode: RollCallMode,
    opened_by: Actor,
}

/// A step of a roll call, in the order they happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    Open,
    Wave(usize),
    Marks,
    Correction,
    TeacherSigns,
    Close,
}

fn steps_of(p: &RollCallPlan, config: &SchoolDayConfig) -> Vec<(u64, Step)> {
    let mut out = vec![(p.start_ns - 5 * MINUTE_NS, Step::Open)];
    if p.mode != RollCallMode::Manual {
        let present = p.students.len() - (0..p.students.len()).filter(|&i| fate(i).0).count();
        let waves = present.div_ceil(config.batch.max(1));
        // Students scan the code in waves from the start, one wave per 30 s.
        out.extend((0..waves).map(|w| (p.start_ns + w as u64 * 30 * SECOND_NS, Step::Wave(w))));
    }
    out.push((p.start_ns + 10 * MINUTE_NS, Step::Marks));
    out.push((p.start_ns + 12 * MINUTE_NS, Step::Correction));
    out.push((p.end_ns - 2 * MINUTE_NS, Step::TeacherSigns));
    out.push((p.end_ns, Step::Close));
    out
}

/// A simulated school day in one establishment, recorded through `vault`, whose clock must be
/// `clock`: two teachers, two groups of students (rotating QR codes, signatures in batches),
/// a manual roll call with absences, a roll call opened by an administrator on behalf of a
/// teacher (fixed QR), a session moved before it starts, lateness, an early departure, a
/// justification, a correction, and a classroom tablet shared by five students of group A
/// in session A2 ([`tablet_key`]; its audit flag `SameDeviceManyStudents` is expected). Ends with every roll call closed (no checkpoint: the
/// caller makes one).
pub fn school_day(
    vault: &Vault,
    clock: &ManualClock,
    config: &SchoolDayConfig,
) -> Result<DemoSummary, VaultError> {
    let est = establishment(&config.establishment);
    let day_ns = config.date.start_unix_ns();
    let mut summary = DemoSummary {
        establishment: config.establishment.clone(),
        from: config.date,
        to: config.date,
        sessions: Vec::new(),
        records: 0,
        signatures: 0,
        absences: 0,
        refused: 0,
    };
    let teachers = [teacher("T-MARTIN"), teacher("T-DUBOIS")];
    let all: Vec<Student> = (0..config.students).map(student).collect();
    let half = all.len() / 2;
    let groups = [all.get(..half).unwrap_or_default(), all.get(half..).unwrap_or_default()];

    // 06:30: keys (students' phones, teachers' tablets), enrolled by the administration,
    // and the classroom tablet of room B200 for the students who forgot their phone: one
    // device enrolled for several students (a shared device).
    clock.set(day_ns + 6 * HOUR_NS + 30 * MINUTE_NS);
    let tablet = tablet_key().verifying_key().to_bytes();
    let signers = all
        .iter()
        .map(|s| Signer::Student(s.clone()))
        .chain(teachers.iter().map(|t| Signer::Teacher(t.clone())))
        .map(|signer| {
            let public_key = signer_key(&signer).verifying_key().to_bytes();
            (signer, public_key, "enrol")
        })
        .chain(
            tablet_students(groups[0])
                .into_iter()
                .map(|s| (Signer::Student(s), tablet, "enrol tablet B200 for")),
        );
    let enrolments: Vec<Command> = signers
        .filter(|(signer, public_key, _)| !is_enrolled(vault, public_key, signer))
        .map(|(signer, public_key, what)| {
            let label = format!("{what} {signer:?}");
            event(
                &label,
                EventBody::SignerKeyEnrolled(SignerKeyEnrolled {
                    establishment: est.clone(),
                    public_key,
                    signer,
                    by: administrator(),
                }),
            )
        })
        .collect();
    for outcome in vault.submit_batch(&enrolments)? {
        outcome?;
        summary.records += 1;
    }

    // 07:00: the timetable service schedules 8 sessions: 4 slots x 2 groups, the two
    // teachers alternating.
    clock.set(day_ns + 7 * HOUR_NS);
    let slots = [(8, "Mathématiques"), (10, "Physique-chimie"), (13, "Histoire"), (15, "Anglais")];
    let mut plan = Vec::new();
    for (slot_number, (hour, course)) in slots.iter().enumerate() {
        for (group_number, group) in groups.iter().enumerate() {
            let id = format!("{}-{}{}", config.date, ["A", "B"][group_number], slot_number + 1);
            let key = session_ref(&est, &id);
            let t = &teachers[(slot_number + group_number) % 2];
            let start_ns = day_ns + hour * HOUR_NS;
            submit(
                vault,
                &mut summary,
                &format!("schedule {id}"),
                EventBody::SessionScheduled(SessionScheduled {
                    session: Session {
                        key: key.clone(),
                        course: valid(CourseLabel::new(course)),
                        room: valid(Room::new(&format!("B{}0{}", slot_number + 1, group_number))),
                        start_ns,
                        end_ns: start_ns + HOUR_NS,
                        teachers: vec![t.clone()],
                        students: group.to_vec(),
                    },
                    by: Actor::Service,
                }),
            )?;
            summary.sessions.push(key.clone());
            plan.push((key, t.clone(), *group, start_ns, slot_number, group_number));
        }
    }

    // 07:30: the 13:00 session of group A moves to 14:00 (room unavailable).
    clock.set(day_ns + 7 * HOUR_NS + 30 * MINUTE_NS);
    let mut roll_calls = Vec::new();
    for (key, t, group, start_ns, slot_number, group_number) in plan {
        let (mut start_ns, mut version) = (start_ns, 1);
        if slot_number == 2 && group_number == 0 {
            start_ns += HOUR_NS;
            submit(
                vault,
                &mut summary,
                &format!("move {}", key.session),
                EventBody::SessionMoved(SessionMoved {
                    session: key.clone(),
                    from_version: 1,
                    start_ns,
                    end_ns: start_ns + HOUR_NS,
                    by: administrator(),
                    reason: reason("salle B301 indisponible (dégât des eaux)"),
                }),
            )?;
            version = 2;
        }
        let (mode, opened_by) = match (slot_number, group_number) {
            (1, 1) => (RollCallMode::Manual, Actor::Teacher(t.clone())),
            (3, 0) => (RollCallMode::FixedQr, administrator()),
            _ => (RollCallMode::RotatingQr, Actor::Teacher(t.clone())),
        };
        roll_calls.push(RollCallPlan {
            key,
            version,
            start_ns,
            end_ns: start_ns + HOUR_NS,
            teacher: t,
            students: group.to_vec(),
            mode,
            opened_by,
        });
    }
    // Every roll call's steps, run in time order (sessions overlap).
    let mut steps: Vec<(u64, usize, Step)> = Vec::new();
    for (number, p) in roll_calls.iter().enumerate() {
        steps.extend(steps_of(p, config).into_iter().map(|(at, step)| (at, number, step)));
    }
    steps.sort_by_key(|&(at, number, step)| (at, number, step));
    for (at, number, step) in steps {
        clock.set(at);
        if let Some(p) = roll_calls.get(number) {
            run_step(vault, clock, config, &mut summary, p, step)?;
        }
    }

    // 17:30: a justification arrives for the first absence of the manual roll call.
    clock.set(day_ns + 17 * HOUR_NS + 30 * MINUTE_NS);
    let manual = summary.sessions.get(3).cloned();
    if let (Some(key), Some(absent)) = (manual, groups[1].first()) {
        submit(
            vault,
            &mut summary,
            &format!("justify {} {}", key.session, absent.ine),
            EventBody::AbsenceJustified(AbsenceJustified {
                mark: Mark {
                    session: key,
                    version: 1,
                    student: absent.clone(),
                    by: administrator(),
                },
                reason: reason("certificat médical"),
            }),
        )?;
    }
    Ok(summary)
}

/// Whether `public_key` is enrolled for `signer` (a rerun on the same vault enrols nothing).
fn is_enrolled(vault: &Vault, public_key: &[u8; 32], signer: &Signer) -> bool {
    vault.state().key(public_key).is_some_and(|k| k.enrolment_for(signer).is_some())
}

/// Which students of a roll call are absent, late or leave early (deterministic).
fn fate(i: usize) -> (bool, Option<u16>, bool) {
    (matches!(i % 17, 0), (i % 23 == 5).then_some(10 + (i % 3) as u16 * 5), i % 41 == 7)
}

fn run_step(
    vault: &Vault,
    clock: &ManualClock,
    config: &SchoolDayConfig,
    summary: &mut DemoSummary,
    p: &RollCallPlan,
    step: Step,
) -> Result<(), VaultError> {
    let id = p.key.session.as_str();
    let by_teacher = Actor::Teacher(p.teacher.clone());
    let secret = vault.session_secret(&p.key, p.version)?;
    let present: Vec<(usize, &Student)> =
        p.students.iter().enumerate().filter(|(i, _)| !fate(*i).0).collect();
    match step {
        Step::Open => {
            let on_behalf_of =
                matches!(p.opened_by, Actor::Administrator(_)).then(|| p.teacher.clone());
            submit(
                vault,
                summary,
                &format!("open {id} v{}", p.version),
                EventBody::RollCallOpened(RollCallOpened {
                    session: p.key.clone(),
                    version: p.version,
                    mode: p.mode,
                    opened_by: p.opened_by.clone(),
                    on_behalf_of,
                }),
            )?;
        }
        Step::Wave(wave) => {
            let scan_ns = clock.peek_ns();
            let policy = vault.state().config().qr;
            let token = match p.mode {
                RollCallMode::RotatingQr => secret.rotating_token(scan_ns, &policy),
                _ => secret.fixed_token(),
            };
            let size = config.batch.max(1);
            let chunk = present.iter().skip(wave * size).take(size);
            // In session A2 the students without their phone sign on the tablet at the door.
            let on_tablet = if id.ends_with("A2") { tablet_students(&p.students) } else { vec![] };
            let commands: Vec<Command> = chunk
                .map(|(i, s)| {
                    let signer = Signer::Student((*s).clone());
                    let device_ns = scan_ns + (*i as u64 % 7) * 150_000_000;
                    let device =
                        if on_tablet.contains(s) { tablet_key() } else { signer_key(&signer) };
                    let attestation =
                        signatures::sign(&device, &p.key, p.version, &signer, &token, device_ns);
                    event(
                        &format!("sign {id} v{} {}", p.version, s.ine),
                        EventBody::StudentSigned(StudentSigned {
                            session: p.key.clone(),
                            version: p.version,
                            student: (*s).clone(),
                            attestation,
                        }),
                    )
                })
                .collect();
            clock.set(scan_ns + SECOND_NS);
            for outcome in vault.submit_batch(&commands)? {
                match outcome {
                    Ok(r) if !r.duplicate => {
                        summary.records += 1;
                        summary.signatures += 1;
                    }
                    Ok(_) => {}
                    Err(_) => summary.refused += 1,
                }
            }
        }
        Step::Marks => {
            for (i, s) in p.students.iter().enumerate() {
                let mark = Mark {
                    session: p.key.clone(),
                    version: p.version,
                    student: s.clone(),
                    by: by_teacher.clone(),
                };
                let (absent, late, leaves) = fate(i);
                if absent {
                    let label = format!("absent {id} {}", s.ine);
                    submit(vault, summary, &label, EventBody::MarkedAbsent(mark))?;
                    summary.absences += 1;
                } else if let Some(minutes) = late {
                    submit(
                        vault,
                        summary,
                        &format!("late {id} {}", s.ine),
                        EventBody::MarkedLate(MarkedLate { mark, minutes }),
                    )?;
                } else if leaves {
                    submit(
                        vault,
                        summary,
                        &format!("left {id} {}", s.ine),
                        EventBody::LeftEarly(LeftEarly {
                            mark,
                            left_at_ns: p.end_ns - 20 * MINUTE_NS,
                        }),
                    )?;
                }
            }
        }
        Step::Correction => {
            // In the first rotating roll call of group A the teacher voids one signature
            // (the student signed, then was sent to the infirmary before the lesson began).
            if p.mode != RollCallMode::RotatingQr || !id.ends_with("A1") {
                return Ok(());
            }
            let Some((_, s)) = present.get(1) else { return Ok(()) };
            let target = vault.state().session(&p.key).and_then(|state| {
                let mut entries = state.entries.iter();
                entries.find(|e| e.kind.student() == Some(*s)).map(|e| e.recorded.index)
            });
            if let Some(target_index) = target {
                submit(
                    vault,
                    summary,
                    &format!("correct {id} {target_index}"),
                    EventBody::Correction(Correction {
                        establishment: p.key.establishment.clone(),
                        target_index,
                        author: by_teacher,
                        reason: reason("parti à l'infirmerie avant le début du cours"),
                    }),
                )?;
            }
        }
        Step::TeacherSigns => {
            let signer = Signer::Teacher(p.teacher.clone());
            let token = secret.fixed_token();
            let device_ns = clock.peek_ns();
            let attestation = signatures::sign(
                &signer_key(&signer),
                &p.key,
                p.version,
                &signer,
                &token,
                device_ns,
            );
            submit(
                vault,
                summary,
                &format!("teacher signs {id} v{}", p.version),
                EventBody::TeacherSigned(TeacherSigned {
                    session: p.key.clone(),
                    version: p.version,
                    teacher: p.teacher.clone(),
                    attestation,
                }),
            )?;
            summary.signatures += 1;
        }
        Step::Close => {
            submit(
                vault,
                summary,
                &format!("close {id} v{}", p.version),
                EventBody::RollCallClosed(RollCallClosed {
                    session: p.key.clone(),
                    version: p.version,
                    by: by_teacher,
                }),
            )?;
        }
    }
    Ok(())
}

/// Origin line (and checkpoint key name) of the demo vaults.
pub const DEMO_ORIGIN: &str = "attendance.example.fr/coffre";

/// Options of a demo vault: the manual clock, a fixed QR secret, the given checkpoint signer.
pub fn demo_options(
    clock: &std::sync::Arc<ManualClock>,
    signer: Option<coffre_log::note::NoteSigner>,
) -> crate::vault::VaultOptions {
    crate::vault::VaultOptions {
        log: coffre_log::LogOptions {
            clock: clock.clone(),
            origin: DEMO_ORIGIN.into(),
            ..coffre_log::LogOptions::default()
        },
        qr_secret: Some(b"demo QR secret, never use in production".to_vec()),
        checkpoint_signer: signer.map(std::sync::Arc::new),
        ..crate::vault::VaultOptions::default()
    }
}

/// The demo checkpoint signer (from a public seed: demo and tests only).
pub fn demo_signer() -> coffre_log::note::NoteSigner {
    valid(coffre_log::note::NoteSigner::from_seed(DEMO_ORIGIN, &[3; 32]))
}

/// A new vault in `dir` holding a school day (`config`) and a checkpoint covering it.
pub fn vault_with_school_day(
    dir: &std::path::Path,
    config: &SchoolDayConfig,
) -> Result<(Vault, std::sync::Arc<ManualClock>, DemoSummary), VaultError> {
    let clock = std::sync::Arc::new(ManualClock::new(config.date.start_unix_ns() + 6 * HOUR_NS));
    let vault = Vault::create(dir, demo_options(&clock, Some(demo_signer())))?;
    let summary = school_day(&vault, &clock, config)?;
    clock.set(config.date.start_unix_ns() + 18 * HOUR_NS);
    vault.checkpoint()?;
    Ok((vault, clock, summary))
}

/// Shape of a simulated school year (the audit benchmark's): classes of
/// `students_per_session`, `sessions_per_week` sessions over 5 days a week, 4 slots a day.
#[derive(Clone, Debug)]
pub struct SchoolYearConfig {
    /// Establishment code.
    pub establishment: String,
    /// First Monday (UTC).
    pub first_day: Date,
    /// School weeks.
    pub weeks: u32,
    /// Sessions per week (a multiple of 20: 5 days x 4 slots).
    pub sessions_per_week: u32,
    /// Students per session (one class).
    pub students_per_session: u32,
}

impl Default for SchoolYearConfig {
    fn default() -> Self {
        SchoolYearConfig {
            establishment: "LYCEE-ANNEE".into(),
            first_day: valid(Date::new(2025, 9, 1)),
            weeks: 36,
            sessions_per_week: 200,
            students_per_session: 30,
        }
    }
}

/// A school year recorded through `vault` (whose clock must be `clock`): every session is
/// scheduled, its roll call opened by its teacher, signed by rotating QR (one batch per slot),
/// absences marked, signed by the teacher and closed. Use a log with periodic durability to
/// build it quickly.
pub fn school_year(
    vault: &Vault,
    clock: &ManualClock,
    config: &SchoolYearConfig,
) -> Result<DemoSummary, VaultError> {
    let est = establishment(&config.establishment);
    let classes = (config.sessions_per_week / 20).max(1) as u64;
    let per_class = u64::from(config.students_per_session);
    let class_of =
        |c: u64| -> Vec<Student> { (c * per_class..(c + 1) * per_class).map(student).collect() };
    let teachers: Vec<TeacherId> = (0..classes).map(|t| teacher(&format!("T{t:02}"))).collect();
    let mut summary = DemoSummary {
        establishment: config.establishment.clone(),
        from: config.first_day,
        to: config.first_day,
        sessions: Vec::new(),
        records: 0,
        signatures: 0,
        absences: 0,
        refused: 0,
    };
    clock.set(config.first_day.start_unix_ns() + 6 * HOUR_NS);
    let signers = (0..classes)
        .flat_map(|c| class_of(c).into_iter().map(Signer::Student))
        .chain(teachers.iter().cloned().map(Signer::Teacher));
    let enrolments: Vec<Command> = signers
        .map(|signer| {
            event(
                &format!("year enrol {signer:?}"),
                EventBody::SignerKeyEnrolled(SignerKeyEnrolled {
                    establishment: est.clone(),
                    public_key: signer_key(&signer).verifying_key().to_bytes(),
                    signer,
                    by: administrator(),
                }),
            )
        })
        .collect();
    for outcome in vault.submit_batch(&enrolments)? {
        outcome?;
        summary.records += 1;
    }
    for week in 0..config.weeks {
        for weekday in 0..5u32 {
            let date = Date::from_days(
                config.first_day.days_since_epoch() + i64::from(week * 7 + weekday),
            );
            summary.to = date;
            school_year_day(vault, clock, &est, date, classes, &class_of, &teachers, &mut summary)?;
        }
    }
    Ok(summary)
}

/// A session of a simulated year: key, teacher, students, planned start.
type YearSession = (SessionRef, TeacherId, Vec<Student>, u64);

#[allow(clippy::too_many_arguments)]
fn school_year_day(
    vault: &Vault,
    clock: &ManualClock,
    est: &EstablishmentCode,
    date: Date,
    classes: u64,
    class_of: &dyn Fn(u64) -> Vec<Student>,
    teachers: &[TeacherId],
    summary: &mut DemoSummary,
) -> Result<(), VaultError> {
    let day_ns = date.start_unix_ns();
    clock.set(day_ns + 7 * HOUR_NS);
    let mut slots: Vec<Vec<YearSession>> = Vec::new();
    for (slot, hour) in [8u64, 10, 13, 15].into_iter().enumerate() {
        let mut sessions = Vec::new();
        for c in 0..classes {
            let key = session_ref(est, &format!("{date}-C{c:02}-{slot}"));
            let t = teachers
                .get(((c + slot as u64) % classes) as usize)
                .cloned()
                .unwrap_or_else(|| teacher("T00"));
            let students = class_of(c);
            let start_ns = day_ns + hour * HOUR_NS;
            submit(
                vault,
                summary,
                &format!("year schedule {}", key.session),
                EventBody::SessionScheduled(SessionScheduled {
                    session: Session {
                        key: key.clone(),
                        course: valid(CourseLabel::new(&format!("Cours {slot}"))),
                        room: valid(Room::new(&format!("R{c:02}"))),
                        start_ns,
                        end_ns: start_ns + HOUR_NS,
                        teachers: vec![t.clone()],
                        students: students.clone(),
                    },
                    by: Actor::Service,
                }),
            )?;
            summary.sessions.push(key.clone());
            sessions.push((key, t, students, start_ns));
        }
        slots.push(sessions);
    }
    let policy = vault.state().config().qr;
    for sessions in &slots {
        let Some(start_ns) = sessions.first().map(|s| s.3) else { continue };
        clock.set(start_ns - 5 * MINUTE_NS);
        for (key, t, _, _) in sessions {
            submit(
                vault,
                summary,
                &format!("year open {}", key.session),
                EventBody::RollCallOpened(RollCallOpened {
                    session: key.clone(),
                    version: 1,
                    mode: RollCallMode::RotatingQr,
                    opened_by: Actor::Teacher(t.clone()),
                    on_behalf_of: None,
                }),
            )?;
        }
        clock.set(start_ns + MINUTE_NS);
        let mut commands = Vec::new();
        for (key, _, students, _) in sessions {
            let token = vault.session_secret(key, 1)?.rotating_token(clock.peek_ns(), &policy);
            for (i, s) in students.iter().enumerate() {
                if fate(i).0 {
                    continue;
                }
                let signer = Signer::Student(s.clone());
                let attestation = signatures::sign(
                    &signer_key(&signer),
                    key,
                    1,
                    &signer,
                    &token,
                    start_ns + MINUTE_NS + (i as u64) * 1_000_000,
                );
                commands.push(event(
                    &format!("year sign {} {}", key.session, s.ine),
                    EventBody::StudentSigned(StudentSigned {
                        session: key.clone(),
                        version: 1,
                        student: s.clone(),
                        attestation,
                    }),
                ));
            }
        }
        clock.set(start_ns + MINUTE_NS + SECOND_NS);
        for outcome in vault.submit_batch(&commands)? {
            match outcome {
                Ok(_) => {
                    summary.records += 1;
                    summary.signatures += 1;
                }
                Err(_) => summary.refused += 1,
            }
        }
        clock.set(start_ns + 10 * MINUTE_NS);
        for (key, t, students, _) in sessions {
            for (i, s) in students.iter().enumerate().filter(|(i, _)| fate(*i).0) {
                submit(
                    vault,
                    summary,
                    &format!("year absent {} {i}", key.session),
                    EventBody::MarkedAbsent(Mark {
                        session: key.clone(),
                        version: 1,
                        student: s.clone(),
                        by: Actor::Teacher(t.clone()),
                    }),
                )?;
                summary.absences += 1;
            }
        }
        clock.set(start_ns + HOUR_NS - 2 * MINUTE_NS);
        for (key, t, _, _) in sessions {
            let signer = Signer::Teacher(t.clone());
            let token = vault.session_secret(key, 1)?.fixed_token();
            let attestation =
                signatures::sign(&signer_key(&signer), key, 1, &signer, &token, clock.peek_ns());
            submit(
                vault,
                summary,
                &format!("year teacher {}", key.session),
                EventBody::TeacherSigned(TeacherSigned {
                    session: key.clone(),
                    version: 1,
                    teacher: t.clone(),
                    attestation,
                }),
            )?;
            summary.signatures += 1;
        }
        clock.set(start_ns + HOUR_NS);
        for (key, t, _, _) in sessions {
            submit(
                vault,
                summary,
                &format!("year close {}", key.session),
                EventBody::RollCallClosed(RollCallClosed {
                    session: key.clone(),
                    version: 1,
                    by: Actor::Teacher(t.clone()),
                }),
            )?;
        }
    }
    Ok(())
}
