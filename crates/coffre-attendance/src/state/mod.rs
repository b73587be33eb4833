//! [`AttendanceState`]: the in-memory projection of the attendance log, rebuilt by replaying
//! records in index order with [`AttendanceState::apply`].
//!
//! The log is the truth: `apply` never refuses a record for breaking a rule (rules may change
//! over the years; replay must not depend on today's configuration or clock). A record that
//! cannot be placed (for example a mark on a session the projection does not know) is kept
//! as an [`Anomaly`] for operators to see. Rules run before appending, in [`rules`].

mod apply;
mod ingest;
pub mod rules;

pub use apply::ApplyError;
pub use ingest::{Dedupe, Prepare, Prepared};
pub use rules::{RuleError, RulesConfig};

use crate::events::{AuditTrailRequested, RequestId, RollCallMode};
use crate::identity::{
    Actor, EstablishmentCode, Ine, Reason, Session, SessionId, SessionRef, Signer, Student,
    TeacherId,
};
use coffre_clock::Timestamp;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

/// Where and when a record sits in the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// The record's log index.
    pub index: u64,
    /// The record's timestamp (interval, sources, status).
    pub timestamp: Timestamp,
}

/// One version of a session's slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionVersion {
    /// 1 when scheduled, +1 per move.
    pub version: u32,
    /// Planned start, UTC ns.
    pub start_ns: u64,
    /// Planned end, UTC ns.
    pub end_ns: u64,
    /// The record that created this version.
    pub recorded: Stamp,
    /// Who scheduled or moved it.
    pub by: Actor,
    /// Why it moved (`None` for version 1).
    pub reason: Option<Reason>,
}

/// A session's cancellation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cancellation {
    /// The version cancelled.
    pub version: u32,
    /// The record.
    pub recorded: Stamp,
    /// Who cancelled.
    pub by: Actor,
    /// Why.
    pub reason: Reason,
}

/// A roll call of one session version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RollCall {
    /// The session version.
    pub version: u32,
    /// How presence is collected.
    pub mode: RollCallMode,
    /// Who opened it.
    pub opened_by: Actor,
    /// The teacher an administrator opened it for.
    pub on_behalf_of: Option<TeacherId>,
    /// The opening record.
    pub opened: Stamp,
    /// The closing record and who closed it.
    pub closed: Option<(Stamp, Actor)>,
}

/// A correction applied to an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppliedCorrection {
    /// The correction record.
    pub recorded: Stamp,
    /// The record it voids.
    pub target_index: u64,
    /// Who corrected.
    pub author: Actor,
    /// Why.
    pub reason: Reason,
}

/// What an attendance entry records.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EntryKind {
    /// A signature, by a student or a teacher.
    Signed {
        /// Who signed.
        signer: Signer,
        /// The signer's device time, UTC ns (claimed, not trusted).
        device_time_ns: u64,
        /// The key used.
        public_key: [u8; 32],
    },
    /// Marked absent.
    Absent {
        /// The student.
        student: Student,
        /// Who marked.
        by: Actor,
    },
    /// Marked late.
    Late {
        /// The student.
        student: Student,
        /// Minutes late.
        minutes: u16,
        /// Who marked.
        by: Actor,
    },
    /// Left early.
    LeftEarly {
        /// The student.
        student: Student,
        /// When, UTC ns, as entered.
        left_at_ns: u64,
        /// Who marked.
        by: Actor,
    },
    /// Justified.
    Justified {
        /// The student.
        student: Student,
        /// The justification.
        reason: Reason,
        /// Who entered it.
        by: Actor,
    },
}

impl EntryKind {
    /// The student the entry is about (`None` for a teacher's signature).
    pub fn student(&self) -> Option<&Student> {
        match self {
            EntryKind::Signed { signer: Signer::Student(s), .. } => Some(s),
            EntryKind::Signed { signer: Signer::Teacher(_), .. } => None,
            EntryKind::Absent { student, .. }
            | EntryKind::Late { student, .. }
            | EntryKind::LeftEarly { student, .. }
            | EntryKind::Justified { student, .. } => Some(student),
        }
    }
}

/// A signature or mark of one session version, possibly voided by a correction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The record.
    pub recorded: Stamp,
    /// The session version it is bound to.
    pub version: u32,
    /// What it records.
    pub kind: EntryKind,
    /// The correction that voided it, if any.
    pub voided_by: Option<AppliedCorrection>,
}

/// Everything known about one session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionState {
    /// The session as scheduled (teachers, students, labels; slot of version 1).
    pub session: Session,
    /// Every version, oldest first (never empty).
    pub versions: Vec<SessionVersion>,
    /// The cancellation, if any.
    pub cancelled: Option<Cancellation>,
    /// Roll calls by session version.
    pub roll_calls: BTreeMap<u32, RollCall>,
    /// Signatures and marks in log order.
    pub entries: Vec<Entry>,
}

impl SessionState {
    /// The current (latest) version.
    pub fn current(&self) -> &SessionVersion {
        // `versions` starts with version 1 and only grows.
        let last = self.versions.len().saturating_sub(1);
        &self.versions[last]
    }

    /// Whether a live (not voided) signature of `signer` exists for `version`.
    pub fn has_signed(&self, version: u32, signer: &Signer) -> bool {
        self.live(version)
            .any(|e| matches!(&e.kind, EntryKind::Signed { signer: s, .. } if s == signer))
    }

    /// Live (not voided) entries of `version`.
    pub fn live(&self, version: u32) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(move |e| e.version == version && e.voided_by.is_none())
    }
}

/// A registered signing key: one **device** (a student's phone, a teacher's tablet, a
/// classroom tablet at the door), enrolled for one or more signers of one establishment.
/// A device enrolled for several signers is a shared device: each enrolment is a record of its
/// own, and a signature is accepted only for a signer the device is enrolled for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRecord {
    /// The establishment it was enrolled in.
    pub establishment: EstablishmentCode,
    /// The signers it is enrolled for, each with its enrolment record (never empty).
    pub signers: BTreeMap<Signer, Stamp>,
    /// The first enrolment record (the device's first appearance).
    pub enrolled: Stamp,
    /// The revocation record, if revoked (a revocation revokes the device for every signer).
    pub revoked: Option<Stamp>,
    /// The key decompressed once at enrolment (a signature check then skips the point
    /// decompression, a third of its cost); `None` if the bytes are not a usable key.
    pub(crate) verifying_key: Option<ed25519_dalek::VerifyingKey>,
}

impl KeyRecord {
    /// The record that enrolled this key for `signer`, if it is enrolled for them.
    pub fn enrolment_for(&self, signer: &Signer) -> Option<Stamp> {
        self.signers.get(signer).copied()
    }

    /// Whether the device is enrolled for more than one signer.
    pub fn is_shared(&self) -> bool {
        self.signers.len() > 1
    }
}

/// A record the projection could not place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anomaly {
    /// The record.
    pub recorded: Stamp,
    /// The event kind (`EventBody::kind`).
    pub kind: &'static str,
    /// What was wrong.
    pub problem: String,
}

/// Where a correctable record's entry lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct EntryRef {
    pub(crate) session: SessionRef,
    pub(crate) position: usize,
}

/// A request id seen in the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SeenRequest {
    pub(crate) index: u64,
    pub(crate) content_hash: [u8; 32],
}

/// The derived attendance projection.
#[derive(Debug)]
pub struct AttendanceState {
    pub(crate) config: RulesConfig,
    /// Index the next applied record must be at least.
    pub(crate) next_index: u64,
    pub(crate) sessions: BTreeMap<SessionRef, SessionState>,
    /// Session ids by establishment and current planned start.
    pub(crate) by_start: BTreeMap<EstablishmentCode, BTreeMap<u64, BTreeSet<SessionId>>>,
    pub(crate) by_teacher: BTreeMap<(EstablishmentCode, TeacherId), BTreeSet<SessionId>>,
    pub(crate) by_ine: BTreeMap<Ine, BTreeSet<SessionRef>>,
    pub(crate) keys: HashMap<[u8; 32], KeyRecord>,
    /// old INE -> (new INE, birth date).
    pub(crate) alias_next: BTreeMap<Ine, Ine>,
    /// new INE -> old INEs.
    pub(crate) alias_prev: BTreeMap<Ine, BTreeSet<Ine>>,
    pub(crate) requests: HashMap<RequestId, SeenRequest>,
    /// Request ids in log order with their record's latest time, for expiry.
    pub(crate) request_order: VecDeque<(u64, RequestId)>,
    pub(crate) entry_refs: BTreeMap<u64, EntryRef>,
    pub(crate) audit_requests: Vec<(Stamp, AuditTrailRequested)>,
    pub(crate) anomalies: Vec<Anomaly>,
}

impl AttendanceState {
    /// An empty projection (replay the log into it with [`AttendanceState::apply`]).
    pub fn new(config: RulesConfig) -> AttendanceState {
        AttendanceState {
            config,
            next_index: 0,
            sessions: BTreeMap::new(),
            by_start: BTreeMap::new(),
            by_teacher: BTreeMap::new(),
            by_ine: BTreeMap::new(),
            keys: HashMap::new(),
            alias_next: BTreeMap::new(),
            alias_prev: BTreeMap::new(),
            requests: HashMap::new(),
            request_order: VecDeque::new(),
            entry_refs: BTreeMap::new(),
            audit_requests: Vec::new(),
            anomalies: Vec::new(),
        }
    }

    /// The rules configuration.
    pub fn config(&self) -> &RulesConfig {
        &self.config
    }

    /// The index the next record must have at least (last applied + 1; 0 when empty).
    pub fn next_index(&self) -> u64 {
        self.next_index
    }

    /// A session's state.
    pub fn session(&self, key: &SessionRef) -> Option<&SessionState> {
        self.sessions.get(key)
    }

    /// A registered key.
    pub fn key(&self, public_key: &[u8; 32]) -> Option<&KeyRecord> {
        self.keys.get(public_key)
    }

    /// Records the projection could not place, in log order.
    pub fn anomalies(&self) -> &[Anomaly] {
        &self.anomalies
    }

    /// Audit-trail requests, in log order.
    pub fn audit_requests(&self) -> &[(Stamp, AuditTrailRequested)] {
        &self.audit_requests
    }
}
