//! Attendance events: one event is one log record. Records are never edited; a mistake is
//! fixed by a later [`Correction`] that points at the record it corrects.
//!
//! The order of [`EventBody`] variants and of every struct's fields is the wire format
//! (see [`codec`] and docs/ATTENDANCE.md): only append new variants at the end.

pub mod codec;

use crate::identity::{
    Actor, Date, EstablishmentCode, FunderId, IdentityError, Ine, Reason, Session, SessionId,
    SessionRef, Signer, Student, TeacherId,
};
use bincode::{Decode, Encode};

pub use codec::{decode, encode, DecodeError, EncodeError, FORMAT_VERSION, MAX_EVENT_BYTES};

/// Length of a QR challenge token (see [`crate::qr`]).
pub const CHALLENGE_LEN: usize = 32;

/// A client-chosen request id (a UUID's 16 bytes), the idempotency key of a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct RequestId(pub [u8; 16]);

/// A command a client sends is the event it asks to append: the same value, validated first.
pub type Command = Event;

/// One log record of the attendance domain.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Event {
    /// The client's request id: a retried command carries the same one.
    pub request_id: RequestId,
    /// What happened.
    pub body: EventBody,
}

/// What happened. Variant order is the wire tag: append only.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum EventBody {
    /// A session was planned (its version 1).
    SessionScheduled(SessionScheduled),
    /// A session got a new slot: a new version.
    SessionMoved(SessionMoved),
    /// A session was cancelled.
    SessionCancelled(SessionCancelled),
    /// A roll call was opened for one version of a session.
    RollCallOpened(RollCallOpened),
    /// A student signed the roll call.
    StudentSigned(StudentSigned),
    /// A teacher signed the roll call.
    TeacherSigned(TeacherSigned),
    /// A student was marked absent.
    MarkedAbsent(Mark),
    /// A student was marked late.
    MarkedLate(MarkedLate),
    /// A student left before the end.
    LeftEarly(LeftEarly),
    /// An absence (or lateness) was justified.
    AbsenceJustified(AbsenceJustified),
    /// A roll call was closed.
    RollCallClosed(RollCallClosed),
    /// A previous record is voided.
    Correction(Correction),
    /// A signing key was enrolled.
    SignerKeyEnrolled(SignerKeyEnrolled),
    /// A signing key was revoked.
    SignerKeyRevoked(SignerKeyRevoked),
    /// A student's INE changed (for example provisional to definitive).
    IneAlias(IneAlias),
    /// A funder asked for an audit trail.
    AuditTrailRequested(AuditTrailRequested),
}

/// A session was planned; it starts at version 1.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct SessionScheduled {
    /// The session as planned.
    pub session: Session,
    /// Who scheduled it.
    pub by: Actor,
}

/// A session moved to a new slot, which makes version `from_version + 1`. Signatures given
/// for earlier versions stay bound to them.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct SessionMoved {
    /// The session.
    pub session: SessionRef,
    /// The version being replaced (must be the current one).
    pub from_version: u32,
    /// New planned start, UTC ns.
    pub start_ns: u64,
    /// New planned end, UTC ns.
    pub end_ns: u64,
    /// Who moved it.
    pub by: Actor,
    /// Why.
    pub reason: Reason,
}

/// A session was cancelled (at its current version).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct SessionCancelled {
    /// The session.
    pub session: SessionRef,
    /// The current version.
    pub version: u32,
    /// Who cancelled it.
    pub by: Actor,
    /// Why.
    pub reason: Reason,
}

/// How presence is collected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Encode, Decode)]
pub enum RollCallMode {
    /// Students sign on the teacher's device, with the roll call's fixed challenge.
    Teacher,
    /// Students scan a fixed QR code, valid until the planned end plus the grace.
    FixedQr,
    /// Students scan a QR code that changes every window.
    RotatingQr,
    /// The teacher enters presence and absences; students do not sign.
    Manual,
}

/// A roll call was opened for one version of a session.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct RollCallOpened {
    /// The session.
    pub session: SessionRef,
    /// The session version the roll call is for.
    pub version: u32,
    /// How presence is collected.
    pub mode: RollCallMode,
    /// Who opened it.
    pub opened_by: Actor,
    /// The assigned teacher an administrator opened it for; `None` when a teacher opens it.
    pub on_behalf_of: Option<TeacherId>,
}

/// A signer's Ed25519 signature over [`crate::signatures::attestation_message`].
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Attestation {
    /// The enrolled public key.
    pub public_key: [u8; 32],
    /// The roll-call challenge (QR token) the signer saw.
    pub challenge: [u8; CHALLENGE_LEN],
    /// The signer's device time, UTC ns as the device claims it (not trusted).
    pub device_time_ns: u64,
    /// The signature.
    pub signature: [u8; 64],
}

/// A student signed for one session version.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct StudentSigned {
    /// The session.
    pub session: SessionRef,
    /// The version signed for.
    pub version: u32,
    /// The student.
    pub student: Student,
    /// The signature.
    pub attestation: Attestation,
}

/// A teacher signed for one session version.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct TeacherSigned {
    /// The session.
    pub session: SessionRef,
    /// The version signed for.
    pub version: u32,
    /// The teacher.
    pub teacher: TeacherId,
    /// The signature.
    pub attestation: Attestation,
}

/// A mark about one student in one session version (absence).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Mark {
    /// The session.
    pub session: SessionRef,
    /// The version.
    pub version: u32,
    /// The student.
    pub student: Student,
    /// Who entered it.
    pub by: Actor,
}

/// A student arrived late.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct MarkedLate {
    /// Which student, where, by whom.
    pub mark: Mark,
    /// Minutes late.
    pub minutes: u16,
}

/// A student left before the end.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct LeftEarly {
    /// Which student, where, by whom.
    pub mark: Mark,
    /// When they left, UTC ns, as entered.
    pub left_at_ns: u64,
}

/// An absence, lateness or early leave was justified.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct AbsenceJustified {
    /// Which student, where, by whom.
    pub mark: Mark,
    /// The justification.
    pub reason: Reason,
}

/// A roll call was closed.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct RollCallClosed {
    /// The session.
    pub session: SessionRef,
    /// The version.
    pub version: u32,
    /// Who closed it.
    pub by: Actor,
}

/// Voids the effect of an earlier record (a signature or a mark); the record itself stays.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Correction {
    /// The establishment the corrected record belongs to.
    pub establishment: EstablishmentCode,
    /// Log index of the record corrected.
    pub target_index: u64,
    /// Who corrects.
    pub author: Actor,
    /// Why.
    pub reason: Reason,
}

/// A signing key was enrolled for a signer of an establishment.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct SignerKeyEnrolled {
    /// The establishment.
    pub establishment: EstablishmentCode,
    /// The key holder.
    pub signer: Signer,
    /// The Ed25519 public key.
    pub public_key: [u8; 32],
    /// Who enrolled it.
    pub by: Actor,
}

/// A signing key was revoked; signatures made with it before stay valid.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct SignerKeyRevoked {
    /// The establishment.
    pub establishment: EstablishmentCode,
    /// The Ed25519 public key.
    pub public_key: [u8; 32],
    /// Who revoked it.
    pub by: Actor,
    /// Why.
    pub reason: Reason,
}

/// A student's INE `old` is now `new` (same person, same birth date).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct IneAlias {
    /// The establishment reporting it.
    pub establishment: EstablishmentCode,
    /// The former INE.
    pub old: Ine,
    /// The new INE.
    pub new: Ine,
    /// The student's birth date.
    pub birth_date: Date,
    /// Who reported it.
    pub by: Actor,
}

/// What an audit trail covers.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum AuditScope {
    /// All sessions of the establishment starting within `from..=to` (UTC dates).
    Sessions {
        /// First day.
        from: Date,
        /// Last day.
        to: Date,
    },
    /// One student's sessions within `from..=to`.
    Student {
        /// The student.
        student: Student,
        /// First day.
        from: Date,
        /// Last day.
        to: Date,
    },
    /// One session.
    Session(SessionId),
}

/// A funder asked for an audit trail (the request itself is on the record).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct AuditTrailRequested {
    /// The establishment audited.
    pub establishment: EstablishmentCode,
    /// The funder.
    pub funder: FunderId,
    /// What is covered.
    pub scope: AuditScope,
    /// Who asked on the funder's behalf.
    pub requested_by: Actor,
}

impl EventBody {
    /// The establishment the event belongs to.
    pub fn establishment(&self) -> &EstablishmentCode {
        match self {
            EventBody::SessionScheduled(e) => &e.session.key.establishment,
            EventBody::SessionMoved(e) => &e.session.establishment,
            EventBody::SessionCancelled(e) => &e.session.establishment,
            EventBody::RollCallOpened(e) => &e.session.establishment,
            EventBody::StudentSigned(e) => &e.session.establishment,
            EventBody::TeacherSigned(e) => &e.session.establishment,
            EventBody::MarkedAbsent(m) => &m.session.establishment,
            EventBody::MarkedLate(e) => &e.mark.session.establishment,
            EventBody::LeftEarly(e) => &e.mark.session.establishment,
            EventBody::AbsenceJustified(e) => &e.mark.session.establishment,
            EventBody::RollCallClosed(e) => &e.session.establishment,
            EventBody::Correction(e) => &e.establishment,
            EventBody::SignerKeyEnrolled(e) => &e.establishment,
            EventBody::SignerKeyRevoked(e) => &e.establishment,
            EventBody::IneAlias(e) => &e.establishment,
            EventBody::AuditTrailRequested(e) => &e.establishment,
        }
    }

    /// The session the event is about, if it is about one.
    pub fn session(&self) -> Option<&SessionRef> {
        Some(match self {
            EventBody::SessionScheduled(e) => &e.session.key,
            EventBody::SessionMoved(e) => &e.session,
            EventBody::SessionCancelled(e) => &e.session,
            EventBody::RollCallOpened(e) => &e.session,
            EventBody::StudentSigned(e) => &e.session,
            EventBody::TeacherSigned(e) => &e.session,
            EventBody::MarkedAbsent(m) => &m.session,
            EventBody::MarkedLate(e) => &e.mark.session,
            EventBody::LeftEarly(e) => &e.mark.session,
            EventBody::AbsenceJustified(e) => &e.mark.session,
            EventBody::RollCallClosed(e) => &e.session,
            EventBody::Correction(_)
            | EventBody::SignerKeyEnrolled(_)
            | EventBody::SignerKeyRevoked(_)
            | EventBody::IneAlias(_)
            | EventBody::AuditTrailRequested(_) => return None,
        })
    }

    /// A short stable name of the variant (`student_signed`, ...), for reports.
    pub fn kind(&self) -> &'static str {
        match self {
            EventBody::SessionScheduled(_) => "session_scheduled",
            EventBody::SessionMoved(_) => "session_moved",
            EventBody::SessionCancelled(_) => "session_cancelled",
            EventBody::RollCallOpened(_) => "roll_call_opened",
            EventBody::StudentSigned(_) => "student_signed",
            EventBody::TeacherSigned(_) => "teacher_signed",
            EventBody::MarkedAbsent(_) => "marked_absent",
            EventBody::MarkedLate(_) => "marked_late",
            EventBody::LeftEarly(_) => "left_early",
            EventBody::AbsenceJustified(_) => "absence_justified",
            EventBody::RollCallClosed(_) => "roll_call_closed",
            EventBody::Correction(_) => "correction",
            EventBody::SignerKeyEnrolled(_) => "signer_key_enrolled",
            EventBody::SignerKeyRevoked(_) => "signer_key_revoked",
            EventBody::IneAlias(_) => "ine_alias",
            EventBody::AuditTrailRequested(_) => "audit_trail_requested",
        }
    }
}

impl Event {
    /// Checks what depends on neither time nor other records: session shape, slots, ranges.
    /// Run on decode and before validation.
    pub fn check(&self) -> Result<(), IdentityError> {
        match &self.body {
            EventBody::SessionScheduled(e) => e.session.check(),
            EventBody::SessionMoved(e) => crate::identity::check_slot(e.start_ns, e.end_ns),
            EventBody::AuditTrailRequested(AuditTrailRequested {
                scope: AuditScope::Sessions { from, to } | AuditScope::Student { from, to, .. },
                ..
            }) if from > to => Err(IdentityError::DateRange { from: *from, to: *to }),
            _ => Ok(()),
        }
    }
}
