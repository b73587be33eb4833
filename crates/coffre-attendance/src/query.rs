//! Read models over [`AttendanceState`]: attendance sheets, a student's history, an
//! establishment's and a teacher's sessions.

use crate::events::RollCallMode;
use crate::identity::{
    CourseLabel, Date, EstablishmentCode, Ine, Reason, Room, SessionRef, Signer, Student, TeacherId,
};
use crate::state::rules::MAX_ALIAS_CHAIN;
use crate::state::{
    AppliedCorrection, AttendanceState, Cancellation, EntryKind, RollCall, SessionState,
    SessionVersion, Stamp,
};
use std::collections::{BTreeSet, VecDeque};

/// A signature as shown on a sheet: the log's timestamp (interval, sources, status) and the
/// device's claimed time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureLine {
    /// The record (index and timestamp: use `timestamp.earliest_ns()/latest_ns()`,
    /// `uncertainty_ns()`, `agreed()`, `rejected()`, `status()`).
    pub recorded: Stamp,
    /// The session version signed.
    pub version: u32,
    /// The device's claimed time, UTC ns.
    pub device_time_ns: u64,
    /// The key used.
    pub public_key: [u8; 32],
}

/// A student's presence for the current version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Presence {
    /// Signed (a live signature for the current version).
    Signed,
    /// Manual roll call closed without marking the student absent.
    PresentManual,
    /// Marked absent.
    Absent,
    /// Nothing recorded (yet).
    NotRecorded,
}

/// One student's line on a sheet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StudentLine {
    /// The student.
    pub student: Student,
    /// Presence for the current version.
    pub presence: Presence,
    /// Live signatures for the current version.
    pub signatures: Vec<SignatureLine>,
    /// Live signatures given for earlier versions (before a move).
    pub earlier_signatures: Vec<SignatureLine>,
    /// Minutes late (current version), with the record.
    pub late: Option<(u16, Stamp)>,
    /// Early leave time (current version), with the record.
    pub left_early: Option<(u64, Stamp)>,
    /// Justifications (any version), with their records.
    pub justifications: Vec<(Reason, Stamp)>,
}

/// The attendance sheet of a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttendanceSheet {
    /// The session.
    pub session: SessionRef,
    /// Course label.
    pub course: CourseLabel,
    /// Room.
    pub room: Room,
    /// The current version (slot).
    pub current: SessionVersion,
    /// All versions, oldest first (moves are visible).
    pub versions: Vec<SessionVersion>,
    /// The cancellation, if any.
    pub cancelled: Option<Cancellation>,
    /// Roll calls, by version.
    pub roll_calls: Vec<RollCall>,
    /// Teachers' live signatures, any version, with the teacher.
    pub teacher_signatures: Vec<(TeacherId, SignatureLine)>,
    /// One line per enrolled student, in enrolment order.
    pub students: Vec<StudentLine>,
    /// Corrections applied to this session's records.
    pub corrections: Vec<AppliedCorrection>,
}

/// A session in a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionSummary {
    /// The session.
    pub session: SessionRef,
    /// Course label.
    pub course: CourseLabel,
    /// Current version.
    pub version: u32,
    /// Current planned start, UTC ns.
    pub start_ns: u64,
    /// Current planned end, UTC ns.
    pub end_ns: u64,
    /// Whether cancelled.
    pub cancelled: bool,
}

/// A line of a student's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryLine {
    /// The session.
    pub summary: SessionSummary,
    /// The INE the student was enrolled under there.
    pub enrolled_as: Ine,
    /// The student's line on that session's sheet.
    pub line: StudentLine,
}

fn summary(key: &SessionRef, state: &SessionState) -> SessionSummary {
    let v = state.current();
    SessionSummary {
        session: key.clone(),
        course: state.session.course.clone(),
        version: v.version,
        start_ns: v.start_ns,
        end_ns: v.end_ns,
        cancelled: state.cancelled.is_some(),
    }
}

fn signature_line(recorded: Stamp, version: u32, kind: &EntryKind) -> Option<SignatureLine> {
    match kind {
        EntryKind::Signed { device_time_ns, public_key, .. } => Some(SignatureLine {
            recorded,
            version,
            device_time_ns: *device_time_ns,
            public_key: *public_key,
        }),
        _ => None,
    }
}

fn student_line(state: &SessionState, student: &Student) -> StudentLine {
    let current = state.current().version;
    let mut line = StudentLine {
        student: student.clone(),
        presence: Presence::NotRecorded,
        signatures: Vec::new(),
        earlier_signatures: Vec::new(),
        late: None,
        left_early: None,
        justifications: Vec::new(),
    };
    let mut absent = false;
    for e in state.entries.iter().filter(|e| e.voided_by.is_none()) {
        if e.kind.student() != Some(student) {
            continue;
        }
        let is_current = e.version == current;
        match &e.kind {
            EntryKind::Signed { .. } => {
                if let Some(sig) = signature_line(e.recorded, e.version, &e.kind) {
                    if is_current {
                        line.signatures.push(sig);
                    } else {
                        line.earlier_signatures.push(sig);
                    }
                }
            }
            EntryKind::Absent { .. } => absent |= is_current,
            EntryKind::Late { minutes, .. } if is_current => {
                line.late = Some((*minutes, e.recorded))
            }
            EntryKind::LeftEarly { left_at_ns, .. } if is_current => {
                line.left_early = Some((*left_at_ns, e.recorded));
            }
            EntryKind::Justified { reason, .. } => {
                line.justifications.push((reason.clone(), e.recorded));
            }
            _ => {}
        }
    }
    let manual_closed = state
        .roll_calls
        .get(&current)
        .is_some_and(|r| r.mode == RollCallMode::Manual && r.closed.is_some());
    line.presence = if !line.signatures.is_empty() {
        Presence::Signed
    } else if absent {
        Presence::Absent
    } else if manual_closed {
        Presence::PresentManual
    } else {
        Presence::NotRecorded
    };
    line
}

impl AttendanceState {
    /// The attendance sheet of a session.
    pub fn sheet(&self, key: &SessionRef) -> Option<AttendanceSheet> {
        let state = self.sessions.get(key)?;
        let teacher_signatures = state
            .entries
            .iter()
            .filter(|e| e.voided_by.is_none())
            .filter_map(|e| match &e.kind {
                EntryKind::Signed { signer: Signer::Teacher(t), .. } => {
                    signature_line(e.recorded, e.version, &e.kind).map(|s| (t.clone(), s))
                }
                _ => None,
            })
            .collect();
        Some(AttendanceSheet {
            session: key.clone(),
            course: state.session.course.clone(),
            room: state.session.room.clone(),
            current: state.current().clone(),
            versions: state.versions.clone(),
            cancelled: state.cancelled.clone(),
            roll_calls: state.roll_calls.values().cloned().collect(),
            teacher_signatures,
            students: state.session.students.iter().map(|s| student_line(state, s)).collect(),
            corrections: state.entries.iter().filter_map(|e| e.voided_by.clone()).collect(),
        })
    }

    /// Every INE linked to `ine` by aliases, in either direction (bounded walk).
    pub fn ine_aliases(&self, ine: &Ine) -> BTreeSet<Ine> {
        let mut seen = BTreeSet::from([ine.clone()]);
        let mut queue = VecDeque::from([ine.clone()]);
        while let Some(at) = queue.pop_front() {
            if seen.len() > MAX_ALIAS_CHAIN {
                break;
            }
            let next = self.alias_next.get(&at).into_iter();
            let prev = self.alias_prev.get(&at).into_iter().flatten();
            for other in next.chain(prev) {
                if seen.insert(other.clone()) {
                    queue.push_back(other.clone());
                }
            }
        }
        seen
    }

    /// A student's sessions across establishments and years, following INE aliases; only
    /// enrolments with the same birth date count. Ordered by planned start.
    pub fn student_history(&self, ine: &Ine, birth_date: Date) -> Vec<HistoryLine> {
        let mut out = Vec::new();
        for alias in self.ine_aliases(ine) {
            let student = Student { ine: alias.clone(), birth_date };
            for key in self.by_ine.get(&alias).into_iter().flatten() {
                let Some(state) = self.sessions.get(key) else { continue };
                if !state.session.is_enrolled(&student) {
                    continue;
                }
                out.push(HistoryLine {
                    summary: summary(key, state),
                    enrolled_as: alias.clone(),
                    line: student_line(state, &student),
                });
            }
        }
        out.sort_by(|a, b| {
            (a.summary.start_ns, &a.summary.session).cmp(&(b.summary.start_ns, &b.summary.session))
        });
        out
    }

    /// An establishment's sessions whose current planned start falls on a UTC day in
    /// `from..=to`, ordered by start.
    pub fn establishment_sessions(
        &self,
        establishment: &EstablishmentCode,
        from: Date,
        to: Date,
    ) -> Vec<SessionSummary> {
        let lo = from.start_unix_ns();
        let hi = Date::from_days(to.days_since_epoch().saturating_add(1)).start_unix_ns();
        if hi <= lo {
            return Vec::new();
        }
        let Some(starts) = self.by_start.get(establishment) else { return Vec::new() };
        starts
            .range(lo..hi)
            .flat_map(|(_, ids)| ids)
            .filter_map(|id| {
                let key = SessionRef { establishment: establishment.clone(), session: id.clone() };
                self.sessions.get(&key).map(|s| summary(&key, s))
            })
            .collect()
    }

    /// The sessions a teacher is assigned to in an establishment, ordered by start.
    pub fn teacher_sessions(
        &self,
        establishment: &EstablishmentCode,
        teacher: &TeacherId,
    ) -> Vec<SessionSummary> {
        let key = (establishment.clone(), teacher.clone());
        let mut out: Vec<_> = self
            .by_teacher
            .get(&key)
            .into_iter()
            .flatten()
            .filter_map(|id| {
                let key = SessionRef { establishment: establishment.clone(), session: id.clone() };
                self.sessions.get(&key).map(|s| summary(&key, s))
            })
            .collect();
        out.sort_by(|a, b| (a.start_ns, &a.session).cmp(&(b.start_ns, &b.session)));
        out
    }
}
