//! Plausibility flags over verified records: things an auditor should look at. They are
//! reported, never hidden, never fatal: each has innocent explanations too.

use crate::events::{Event, EventBody};
use crate::identity::{SessionRef, Signer, Student};
use crate::qr;
use crate::state::rules::DEFAULT_GRACE_NS;
use crate::state::{AttendanceState, EntryKind};
use coffre_clock::Timestamp;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Default of [`super::VerifyOptions::shared_device_students_max`]: a device may sign for up
/// to this many distinct students in one session before it is flagged.
pub const DEFAULT_SHARED_DEVICE_STUDENTS_MAX: usize = 3;

/// Something implausible in the records (not an integrity failure).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Flag {
    /// A signature recorded outside its session version's slot widened by the default
    /// 15-minute graces.
    SignatureOutsideWindow {
        /// The signature record.
        index: u64,
        /// The session.
        session: SessionRef,
        /// The version signed.
        version: u32,
        /// Window opening, UTC ns.
        opens_ns: u64,
        /// Window closing, UTC ns.
        closes_ns: u64,
    },
    /// One device (signing key) signed for more distinct students in one session (all its
    /// versions) than the threshold: a shared device (a classroom tablet, a teacher's phone
    /// passed around) or a student signing for friends. Teachers' signatures are not counted.
    SameDeviceManyStudents {
        /// The session.
        session: SessionRef,
        /// The device's public key.
        public_key: [u8; 32],
        /// The distinct students it signed for, sorted.
        students: Vec<Student>,
        /// Its student signature records in the session, in log order.
        indexes: Vec<u64>,
        /// The threshold exceeded (students per device per session).
        students_max: usize,
    },
    /// A session version with a roll call has no live teacher signature.
    TeacherSignatureMissing {
        /// The session.
        session: SessionRef,
        /// The version.
        version: u32,
    },
    /// The same signature bytes, or the same key, challenge and device time, in several
    /// records.
    SignatureDataReused {
        /// The records.
        indexes: Vec<u64>,
    },
    /// The signed challenge's public tag names another session or version.
    ChallengeForOtherSession {
        /// The signature record.
        index: u64,
    },
}

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Flag::SignatureOutsideWindow { index, session, version, .. } => write!(
                f,
                "signature record {index} outside the window of {} v{version}",
                session.session
            ),
            Flag::SameDeviceManyStudents {
                session,
                public_key,
                students,
                indexes,
                students_max,
            } => {
                let ines: Vec<&str> = students.iter().map(|s| s.ine.as_str()).collect();
                write!(
                    f,
                    "device {} signed for {} students in {} (more than {students_max}): {} \
                     (records {indexes:?})",
                    device_text(public_key),
                    students.len(),
                    session.session,
                    ines.join(", "),
                )
            }
            Flag::TeacherSignatureMissing { session, version } => {
                write!(f, "no teacher signature for {} v{version}", session.session)
            }
            Flag::SignatureDataReused { indexes } => {
                write!(f, "identical signature data in records {indexes:?}")
            }
            Flag::ChallengeForOtherSession { index } => {
                write!(f, "record {index} signed a challenge of another session")
            }
        }
    }
}

/// A device in reports: its key's first 8 bytes in hex (enough to tell a school's devices
/// apart; the full key is in the flag and in the enrolment records).
pub fn device_text(public_key: &[u8; 32]) -> String {
    let hex: String = public_key.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("{hex}…")
}

/// A signature record seen in the bundle.
pub(crate) struct SignatureSeen<'a> {
    pub index: u64,
    pub timestamp: Timestamp,
    pub event: &'a Event,
}

fn parts(event: &Event) -> Option<(&SessionRef, u32, Signer, &crate::events::Attestation)> {
    match &event.body {
        EventBody::StudentSigned(e) => {
            Some((&e.session, e.version, Signer::Student(e.student.clone()), &e.attestation))
        }
        EventBody::TeacherSigned(e) => {
            Some((&e.session, e.version, Signer::Teacher(e.teacher.clone()), &e.attestation))
        }
        _ => None,
    }
}

/// A device used in one session (all versions).
type DeviceUse = (SessionRef, [u8; 32]);

/// Every flag over the signatures and the rebuilt state; a device is flagged when it signed
/// for more than `shared_device_students_max` distinct students in one session.
pub(crate) fn flags(
    state: &AttendanceState,
    signatures: &[SignatureSeen<'_>],
    shared_device_students_max: usize,
) -> Vec<Flag> {
    let mut out = Vec::new();
    let mut by_device: BTreeMap<DeviceUse, (BTreeSet<Student>, Vec<u64>)> = BTreeMap::new();
    let mut by_signature: BTreeMap<[u8; 64], Vec<u64>> = BTreeMap::new();
    let mut by_data: BTreeMap<([u8; 32], [u8; 32], u64), Vec<u64>> = BTreeMap::new();
    for seen in signatures {
        let Some((session, version, signer, attestation)) = parts(seen.event) else { continue };
        if let Some(v) =
            state.session(session).and_then(|s| s.versions.iter().find(|v| v.version == version))
        {
            let opens_ns = v.start_ns.saturating_sub(DEFAULT_GRACE_NS);
            let closes_ns = v.end_ns.saturating_add(DEFAULT_GRACE_NS);
            if seen.timestamp.earliest_ns() < opens_ns || seen.timestamp.latest_ns() > closes_ns {
                out.push(Flag::SignatureOutsideWindow {
                    index: seen.index,
                    session: session.clone(),
                    version,
                    opens_ns,
                    closes_ns,
                });
            }
        }
        if attestation.challenge.get(..8) != Some(&qr::session_tag(session, version)[..]) {
            out.push(Flag::ChallengeForOtherSession { index: seen.index });
        }
        if let Signer::Student(student) = signer {
            let entry = by_device.entry((session.clone(), attestation.public_key)).or_default();
            entry.0.insert(student);
            entry.1.push(seen.index);
        }
        by_signature.entry(attestation.signature).or_default().push(seen.index);
        by_data
            .entry((attestation.public_key, attestation.challenge, attestation.device_time_ns))
            .or_default()
            .push(seen.index);
    }
    for ((session, public_key), (students, indexes)) in by_device {
        if students.len() > shared_device_students_max {
            out.push(Flag::SameDeviceManyStudents {
                session,
                public_key,
                students: students.into_iter().collect(),
                indexes,
                students_max: shared_device_students_max,
            });
        }
    }
    let reused: BTreeSet<Vec<u64>> = by_signature
        .into_values()
        .chain(by_data.into_values())
        .filter(|indexes| indexes.len() > 1)
        .collect();
    out.extend(reused.into_iter().map(|indexes| Flag::SignatureDataReused { indexes }));
    out.extend(missing_teacher_signatures(state));
    out
}

fn missing_teacher_signatures(state: &AttendanceState) -> Vec<Flag> {
    let mut out = Vec::new();
    for (key, session) in &state.sessions {
        if session.cancelled.is_some() {
            continue;
        }
        for version in session.roll_calls.keys() {
            let signed = session
                .live(*version)
                .any(|e| matches!(&e.kind, EntryKind::Signed { signer: Signer::Teacher(_), .. }));
            if !signed {
                out.push(Flag::TeacherSignatureMissing { session: key.clone(), version: *version });
            }
        }
    }
    out
}
