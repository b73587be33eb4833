//! Ingest rules: whether an event may be appended now, given the projection.
//!
//! Checks run in a fixed order so the error for a bad command is predictable: shape, session,
//! version, roll call, enrolment, time window, repeat, key, challenge, signature.

use super::{AttendanceState, EntryKind, SessionState};
use crate::events::{
    Attestation, Correction, Event, EventBody, Mark, RollCallMode, RollCallOpened, StudentSigned,
    TeacherSigned,
};
use crate::identity::{Actor, Date, IdentityError, Ine, SessionRef, Signer, Student, TeacherId};
use crate::qr::{MasterKey, QrError, QrPolicy, SessionSecret};
use crate::signatures::{self, PendingSignature, SignatureError};
use coffre_clock::Timestamp;

/// Default grace before the planned start and after the planned end: 15 minutes.
pub const DEFAULT_GRACE_NS: u64 = 15 * 60 * 1_000_000_000;
/// Default time a request id is remembered for idempotency: 7 days.
pub const DEFAULT_IDEMPOTENCY_WINDOW_NS: u64 = 7 * 86_400 * 1_000_000_000;
/// Longest alias chain followed (old -> new -> ...).
pub const MAX_ALIAS_CHAIN: usize = 64;

/// Tunable rules.
#[derive(Clone, Debug)]
pub struct RulesConfig {
    /// Signing opens this long before the planned start.
    pub grace_before_start_ns: u64,
    /// Signing closes this long after the planned end.
    pub grace_after_end_ns: u64,
    /// QR token timing.
    pub qr: QrPolicy,
    /// The vault's QR master key.
    pub qr_master_key: MasterKey,
    /// How long a request id is remembered (by record time) for idempotent retries.
    pub idempotency_window_ns: u64,
}

impl RulesConfig {
    /// Defaults (15 min graces, 10 s QR windows, 7-day idempotency) with `qr_master_key`.
    pub fn new(qr_master_key: MasterKey) -> RulesConfig {
        RulesConfig {
            grace_before_start_ns: DEFAULT_GRACE_NS,
            grace_after_end_ns: DEFAULT_GRACE_NS,
            qr: QrPolicy::default(),
            qr_master_key,
            idempotency_window_ns: DEFAULT_IDEMPOTENCY_WINDOW_NS,
        }
    }
}

/// Why an event may not be appended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuleError {
    /// A field is invalid.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The event cannot be encoded.
    #[error(transparent)]
    Encode(#[from] crate::events::EncodeError),
    /// The request id was already used for a different event.
    #[error("request id already used by record {original_index} for a different event")]
    RequestIdReused {
        /// The record that used it.
        original_index: u64,
    },
    /// The command repeats the request id, or the signer and session version, of the command
    /// at `position` in the same batch.
    #[error("repeats command {position} of the same batch")]
    RepeatedInBatch {
        /// Position of the earlier command in the batch.
        position: usize,
    },
    /// A session with this establishment and id exists.
    #[error("session already exists")]
    SessionExists,
    /// No such session.
    #[error("unknown session")]
    UnknownSession,
    /// The session is cancelled.
    #[error("session is cancelled")]
    SessionCancelled,
    /// The event names a version that is not the current one.
    #[error("session version {given} is not the current version {current}")]
    StaleVersion {
        /// Version in the event.
        given: u32,
        /// Current version.
        current: u32,
    },
    /// Server time is not within the signing window.
    #[error("time {now_earliest_ns}..={now_latest_ns} outside window {opens_ns}..={closes_ns}")]
    OutsideWindow {
        /// Server time, earliest bound.
        now_earliest_ns: u64,
        /// Server time, latest bound.
        now_latest_ns: u64,
        /// Window opening (planned start minus grace).
        opens_ns: u64,
        /// Window closing (planned end plus grace).
        closes_ns: u64,
    },
    /// No roll call is open for that version.
    #[error("no roll call for version {version}")]
    NoRollCall {
        /// The version.
        version: u32,
    },
    /// A roll call was already opened for that version.
    #[error("roll call for version {version} already opened")]
    RollCallAlreadyOpened {
        /// The version.
        version: u32,
    },
    /// The roll call is closed.
    #[error("roll call for version {version} is closed")]
    RollCallClosed {
        /// The version.
        version: u32,
    },
    /// Students do not sign in this roll-call mode.
    #[error("students do not sign in {mode:?} roll calls")]
    SignatureNotCollected {
        /// The mode.
        mode: RollCallMode,
    },
    /// The student is not enrolled in the session.
    #[error("student {ine} is not enrolled")]
    NotEnrolled {
        /// The student's INE.
        ine: Ine,
    },
    /// The teacher is not assigned to the session.
    #[error("teacher {teacher} is not assigned")]
    NotAssigned {
        /// The teacher.
        teacher: TeacherId,
    },
    /// This actor may not perform this action.
    #[error("actor {actor:?} may not do this")]
    ActorNotAllowed {
        /// The actor.
        actor: Actor,
    },
    /// An administrator opened a roll call without naming the teacher they act for.
    #[error("an administrator must name the teacher they open the roll call for")]
    OnBehalfOfMissing,
    /// A teacher opened a roll call naming someone to act for.
    #[error("only an administrator opens a roll call on behalf of a teacher")]
    OnBehalfOfNotAllowed,
    /// The signer already signed this session version.
    #[error("already signed this session version (record {original_index})")]
    AlreadySigned {
        /// The existing signature's record.
        original_index: u64,
    },
    /// The same mark exists.
    #[error("already marked (record {original_index})")]
    AlreadyMarked {
        /// The existing mark's record.
        original_index: u64,
    },
    /// The student signed this version: void the signature with a correction first.
    #[error("student signed (record {signature_index}); correct that record first")]
    ConflictsWithSignature {
        /// The signature's record.
        signature_index: u64,
    },
    /// Late minutes must be 1..=session length.
    #[error("invalid late minutes {minutes}")]
    InvalidMinutes {
        /// The minutes given.
        minutes: u16,
    },
    /// The early-leave time is not within the session.
    #[error("left-early time {left_at_ns} not within the session")]
    InvalidLeftAt {
        /// The time given.
        left_at_ns: u64,
    },
    /// The key is not enrolled (in this establishment).
    #[error("unknown signing key")]
    UnknownKey,
    /// The key was revoked.
    #[error("signing key revoked by record {revoked_index}")]
    RevokedKey {
        /// The revocation record.
        revoked_index: u64,
    },
    /// The key (device) is not enrolled for this signer (it is for someone else).
    #[error("signing key not enrolled for this signer")]
    KeyNotForSigner,
    /// The key is already enrolled for this signer.
    #[error("signing key already enrolled for this signer")]
    KeyAlreadyEnrolled,
    /// The key is enrolled in another establishment: a device is shared only within one
    /// establishment (an audit bundle, which holds one establishment's records, must show
    /// every enrolment and revocation of the keys it uses).
    #[error("signing key enrolled in another establishment")]
    KeyOfOtherEstablishment,
    /// The public key is unusable.
    #[error("bad public key: {0}")]
    BadKey(SignatureError),
    /// The roll-call challenge (QR token) is refused.
    #[error("challenge refused: {0}")]
    Challenge(#[from] QrError),
    /// The signature does not verify.
    #[error("bad signature: {0}")]
    BadSignature(SignatureError),
    /// The correction points at no record.
    #[error("correction target {index} does not exist")]
    CorrectionTargetMissing {
        /// The index.
        index: u64,
    },
    /// The correction points at a record that is not a signature or a mark.
    #[error("record {index} is not correctable")]
    NotCorrectable {
        /// The index.
        index: u64,
    },
    /// The target is already voided.
    #[error("record {index} already corrected by record {correction_index}")]
    AlreadyCorrected {
        /// The index.
        index: u64,
        /// The earlier correction.
        correction_index: u64,
    },
    /// The referenced record or key belongs to another establishment.
    #[error("belongs to another establishment")]
    OtherEstablishment,
    /// An INE aliased to itself.
    #[error("an INE cannot alias itself")]
    AliasToSelf,
    /// The old INE already has a new one.
    #[error("INE {old} already aliased")]
    AliasExists {
        /// The old INE.
        old: Ine,
    },
    /// The alias would close a cycle (or exceed the chain bound).
    #[error("alias would create a cycle")]
    AliasCycle,
}

fn window(now: &Timestamp, opens_ns: u64, closes_ns: u64) -> Result<(), RuleError> {
    // Containment of the whole interval: a signature is accepted only if it is certainly in.
    if now.earliest_ns() < opens_ns || now.latest_ns() > closes_ns {
        return Err(RuleError::OutsideWindow {
            now_earliest_ns: now.earliest_ns(),
            now_latest_ns: now.latest_ns(),
            opens_ns,
            closes_ns,
        });
    }
    Ok(())
}

fn today(now: &Timestamp) -> Date {
    Date::from_unix_ns(now.latest_ns())
}

fn check_student_plausible(student: &Student, now: &Timestamp) -> Result<(), RuleError> {
    Student::new(student.ine.clone(), student.birth_date, today(now))?;
    Ok(())
}

impl AttendanceState {
    /// Whether `event` may be appended at server time `now`.
    pub fn validate(&self, event: &Event, now: Timestamp) -> Result<(), RuleError> {
        if let Some(pending) = self.check_rules(event, &now)? {
            pending.verify().map_err(RuleError::BadSignature)?;
        }
        Ok(())
    }

    /// Every rule except the final signature verification, which is returned for the caller
    /// to run (alone, or in a batch with [`signatures::verify_batch`]).
    pub fn check_rules(
        &self,
        event: &Event,
        now: &Timestamp,
    ) -> Result<Option<PendingSignature>, RuleError> {
        event.check()?;
        match &event.body {
            EventBody::SessionScheduled(e) => {
                if self.sessions.contains_key(&e.session.key) {
                    return Err(RuleError::SessionExists);
                }
                for s in &e.session.students {
                    check_student_plausible(s, now)?;
                }
                if let Actor::Teacher(t) = &e.by {
                    if !e.session.is_assigned(t) {
                        return Err(RuleError::NotAssigned { teacher: t.clone() });
                    }
                }
            }
            EventBody::SessionMoved(e) => {
                let state = self.live_session(&e.session, e.from_version)?;
                check_session_actor(state, &e.by, true)?;
            }
            EventBody::SessionCancelled(e) => {
                let state = self.live_session(&e.session, e.version)?;
                check_session_actor(state, &e.by, true)?;
            }
            EventBody::RollCallOpened(e) => self.check_open(e, now)?,
            EventBody::StudentSigned(e) => return self.check_student_signed(e, now).map(Some),
            EventBody::TeacherSigned(e) => return self.check_teacher_signed(e, now).map(Some),
            EventBody::MarkedAbsent(m) => {
                let state = self.check_mark(m, true)?;
                let signer = Signer::Student(m.student.clone());
                if let Some(sig) = find(
                    state,
                    m.version,
                    |k| matches!(k, EntryKind::Signed { signer: s, .. } if *s == signer),
                ) {
                    return Err(RuleError::ConflictsWithSignature { signature_index: sig });
                }
                if let Some(original_index) = find(
                    state,
                    m.version,
                    |k| matches!(k, EntryKind::Absent { student, .. } if *student == m.student),
                ) {
                    return Err(RuleError::AlreadyMarked { original_index });
                }
            }
            EventBody::MarkedLate(e) => {
                let state = self.check_mark(&e.mark, true)?;
                let v = state.current();
                let minutes_max = v.end_ns.saturating_sub(v.start_ns) / 60_000_000_000;
                if e.minutes == 0 || u64::from(e.minutes) > minutes_max {
                    return Err(RuleError::InvalidMinutes { minutes: e.minutes });
                }
                if let Some(original_index) = find(
                    state,
                    e.mark.version,
                    |k| matches!(k, EntryKind::Late { student, .. } if *student == e.mark.student),
                ) {
                    return Err(RuleError::AlreadyMarked { original_index });
                }
            }
            EventBody::LeftEarly(e) => {
                let state = self.check_mark(&e.mark, true)?;
                let v = state.current();
                if e.left_at_ns < v.start_ns || e.left_at_ns >= v.end_ns {
                    return Err(RuleError::InvalidLeftAt { left_at_ns: e.left_at_ns });
                }
            }
            EventBody::AbsenceJustified(e) => {
                self.check_mark(&e.mark, false)?;
            }
            EventBody::RollCallClosed(e) => {
                let state = self.live_session(&e.session, e.version)?;
                check_session_actor(state, &e.by, false)?;
                let roll_call = state
                    .roll_calls
                    .get(&e.version)
                    .ok_or(RuleError::NoRollCall { version: e.version })?;
                if roll_call.closed.is_some() {
                    return Err(RuleError::RollCallClosed { version: e.version });
                }
            }
            EventBody::Correction(e) => self.check_correction(e)?,
            EventBody::SignerKeyEnrolled(e) => {
                signatures::parse_public_key(&e.public_key).map_err(RuleError::BadKey)?;
                // A key is a device: enrolling it for one more signer makes a shared device
                // (recorded, and flagged in audits when it signs for many students).
                if let Some(key) = self.keys.get(&e.public_key) {
                    if key.establishment != e.establishment {
                        return Err(RuleError::KeyOfOtherEstablishment);
                    }
                    if let Some(revoked) = key.revoked {
                        return Err(RuleError::RevokedKey { revoked_index: revoked.index });
                    }
                    if key.signers.contains_key(&e.signer) {
                        return Err(RuleError::KeyAlreadyEnrolled);
                    }
                }
                if let Signer::Student(s) = &e.signer {
                    check_student_plausible(s, now)?;
                }
            }
            EventBody::SignerKeyRevoked(e) => {
                let key = self.keys.get(&e.public_key).ok_or(RuleError::UnknownKey)?;
                if key.establishment != e.establishment {
                    return Err(RuleError::UnknownKey);
                }
                if let Some(revoked) = key.revoked {
                    return Err(RuleError::RevokedKey { revoked_index: revoked.index });
                }
            }
            EventBody::IneAlias(e) => {
                check_student_plausible(
                    &Student { ine: e.new.clone(), birth_date: e.birth_date },
                    now,
                )?;
                self.check_alias(&e.old, &e.new)?;
            }
            EventBody::AuditTrailRequested(_) => {}
        }
        Ok(None)
    }

    /// The session, not cancelled, at its current version `version`.
    fn live_session(&self, key: &SessionRef, version: u32) -> Result<&SessionState, RuleError> {
        let state = self.sessions.get(key).ok_or(RuleError::UnknownSession)?;
        if state.cancelled.is_some() {
            return Err(RuleError::SessionCancelled);
        }
        let current = state.current().version;
        if version != current {
            return Err(RuleError::StaleVersion { given: version, current });
        }
        Ok(state)
    }

    fn signing_window(&self, state: &SessionState, now: &Timestamp) -> Result<(), RuleError> {
        let v = state.current();
        window(
            now,
            v.start_ns.saturating_sub(self.config.grace_before_start_ns),
            v.end_ns.saturating_add(self.config.grace_after_end_ns),
        )
    }

    fn check_open(&self, e: &RollCallOpened, now: &Timestamp) -> Result<(), RuleError> {
        let state = self.live_session(&e.session, e.version)?;
        match (&e.opened_by, &e.on_behalf_of) {
            (Actor::Teacher(t), None) => assigned(state, t)?,
            (Actor::Teacher(_), Some(_)) => return Err(RuleError::OnBehalfOfNotAllowed),
            (Actor::Administrator(_), Some(t)) => assigned(state, t)?,
            (Actor::Administrator(_), None) => return Err(RuleError::OnBehalfOfMissing),
            (actor @ Actor::Service, _) => {
                return Err(RuleError::ActorNotAllowed { actor: actor.clone() })
            }
        }
        if state.roll_calls.contains_key(&e.version) {
            return Err(RuleError::RollCallAlreadyOpened { version: e.version });
        }
        self.signing_window(state, now)
    }

    /// Session, version, open roll call, window, repeat, key and challenge checks shared by
    /// student and teacher signatures.
    fn check_signature(
        &self,
        key: &SessionRef,
        version: u32,
        signer: &Signer,
        attestation: &Attestation,
        now: &Timestamp,
    ) -> Result<PendingSignature, RuleError> {
        let state = self.live_session(key, version)?;
        let roll_call = state.roll_calls.get(&version).ok_or(RuleError::NoRollCall { version })?;
        if roll_call.closed.is_some() {
            return Err(RuleError::RollCallClosed { version });
        }
        match signer {
            Signer::Student(student) => {
                if roll_call.mode == RollCallMode::Manual {
                    return Err(RuleError::SignatureNotCollected { mode: roll_call.mode });
                }
                if !state.session.is_enrolled(student) {
                    return Err(RuleError::NotEnrolled { ine: student.ine.clone() });
                }
            }
            Signer::Teacher(t) => assigned(state, t)?,
        }
        self.signing_window(state, now)?;
        if let Some(original_index) = find(
            state,
            version,
            |k| matches!(k, EntryKind::Signed { signer: s, .. } if s == signer),
        ) {
            return Err(RuleError::AlreadySigned { original_index });
        }
        let record = self.keys.get(&attestation.public_key).ok_or(RuleError::UnknownKey)?;
        if record.establishment != key.establishment {
            return Err(RuleError::UnknownKey);
        }
        if let Some(revoked) = record.revoked {
            return Err(RuleError::RevokedKey { revoked_index: revoked.index });
        }
        if !record.signers.contains_key(signer) {
            return Err(RuleError::KeyNotForSigner);
        }
        let secret = SessionSecret::derive(&self.config.qr_master_key, key, version);
        let qr = &self.config.qr;
        let end_ns = state.current().end_ns;
        match (signer, roll_call.mode) {
            (Signer::Student(_), RollCallMode::RotatingQr) => {
                secret.verify_rotating(&attestation.challenge, now, qr)?
            }
            _ => secret.verify_fixed(&attestation.challenge, now, end_ns, qr)?,
        }
        let message = signatures::attestation_message(
            key,
            version,
            signer,
            &attestation.challenge,
            attestation.device_time_ns,
        );
        Ok(PendingSignature::new(message, attestation).with_parsed_key(record.verifying_key))
    }

    fn check_student_signed(
        &self,
        e: &StudentSigned,
        now: &Timestamp,
    ) -> Result<PendingSignature, RuleError> {
        let signer = Signer::Student(e.student.clone());
        self.check_signature(&e.session, e.version, &signer, &e.attestation, now)
    }

    fn check_teacher_signed(
        &self,
        e: &TeacherSigned,
        now: &Timestamp,
    ) -> Result<PendingSignature, RuleError> {
        let signer = Signer::Teacher(e.teacher.clone());
        self.check_signature(&e.session, e.version, &signer, &e.attestation, now)
    }

    /// Marks need a live session at its current version (justifications may name an earlier
    /// version), a roll call for that version (open or closed), an enrolled student and an
    /// allowed actor.
    fn check_mark(&self, m: &Mark, current_only: bool) -> Result<&SessionState, RuleError> {
        let state = self.sessions.get(&m.session).ok_or(RuleError::UnknownSession)?;
        if state.cancelled.is_some() {
            return Err(RuleError::SessionCancelled);
        }
        let current = state.current().version;
        if m.version > current || (current_only && m.version != current) || m.version == 0 {
            return Err(RuleError::StaleVersion { given: m.version, current });
        }
        if !state.roll_calls.contains_key(&m.version) {
            return Err(RuleError::NoRollCall { version: m.version });
        }
        if !state.session.is_enrolled(&m.student) {
            return Err(RuleError::NotEnrolled { ine: m.student.ine.clone() });
        }
        check_session_actor(state, &m.by, false)?;
        Ok(state)
    }

    fn check_correction(&self, e: &Correction) -> Result<(), RuleError> {
        let index = e.target_index;
        let Some(target) = self.entry_refs.get(&index) else {
            return Err(if index < self.next_index {
                RuleError::NotCorrectable { index }
            } else {
                RuleError::CorrectionTargetMissing { index }
            });
        };
        if target.session.establishment != e.establishment {
            return Err(RuleError::OtherEstablishment);
        }
        let state = self.sessions.get(&target.session).ok_or(RuleError::UnknownSession)?;
        let entry = state
            .entries
            .get(target.position)
            .ok_or(RuleError::CorrectionTargetMissing { index })?;
        if let Some(c) = &entry.voided_by {
            return Err(RuleError::AlreadyCorrected { index, correction_index: c.recorded.index });
        }
        match &e.author {
            Actor::Teacher(t) => assigned(state, t),
            Actor::Administrator(_) => Ok(()),
            actor @ Actor::Service => Err(RuleError::ActorNotAllowed { actor: actor.clone() }),
        }
    }

    fn check_alias(&self, old: &Ine, new: &Ine) -> Result<(), RuleError> {
        if old == new {
            return Err(RuleError::AliasToSelf);
        }
        if self.alias_next.contains_key(old) {
            return Err(RuleError::AliasExists { old: old.clone() });
        }
        // Following new's chain must never reach old (bounded walk).
        let mut at = new;
        for _ in 0..MAX_ALIAS_CHAIN {
            match self.alias_next.get(at) {
                Some(next) if next == old => return Err(RuleError::AliasCycle),
                Some(next) => at = next,
                None => return Ok(()),
            }
        }
        Err(RuleError::AliasCycle)
    }
}

fn find(state: &SessionState, version: u32, pred: impl Fn(&EntryKind) -> bool) -> Option<u64> {
    state.live(version).find(|e| pred(&e.kind)).map(|e| e.recorded.index)
}

fn assigned(state: &SessionState, teacher: &TeacherId) -> Result<(), RuleError> {
    if state.session.is_assigned(teacher) {
        Ok(())
    } else {
        Err(RuleError::NotAssigned { teacher: teacher.clone() })
    }
}

/// Teachers act on their own sessions; administrators on any; the service integration only
/// on the timetable (`service_allowed`).
fn check_session_actor(
    state: &SessionState,
    actor: &Actor,
    service_allowed: bool,
) -> Result<(), RuleError> {
    match actor {
        Actor::Teacher(t) => assigned(state, t),
        Actor::Administrator(_) => Ok(()),
        Actor::Service if service_allowed => Ok(()),
        Actor::Service => Err(RuleError::ActorNotAllowed { actor: actor.clone() }),
    }
}
