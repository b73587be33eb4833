//! Folding one record into the projection. Total: never refuses a record for a rule.

use super::{
    Anomaly, AppliedCorrection, AttendanceState, Cancellation, Entry, EntryKind, EntryRef,
    KeyRecord, RollCall, SeenRequest, SessionState, SessionVersion, Stamp,
};
use crate::events::{self, Event, EventBody};
use crate::identity::{SessionRef, Signer};
use coffre_clock::Timestamp;
use std::collections::BTreeMap;

/// Why a record cannot be applied at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// Records must be applied in strictly increasing index order.
    #[error("record {index} applied out of order (next must be >= {next_index})")]
    OutOfOrder {
        /// The index given.
        index: u64,
        /// The smallest acceptable index.
        next_index: u64,
    },
    /// The record's bytes are not an event.
    #[error("record {index} does not decode: {error}")]
    Decode {
        /// The record's index.
        index: u64,
        /// Why.
        error: events::DecodeError,
    },
}

impl AttendanceState {
    /// Decodes a record's payload and applies it (replay from the log).
    pub fn apply_record(
        &mut self,
        index: u64,
        timestamp: Timestamp,
        payload: &[u8],
    ) -> Result<(), ApplyError> {
        let event = events::decode(payload).map_err(|error| ApplyError::Decode { index, error })?;
        self.apply_with_hash(index, timestamp, &event, blake3::hash(payload).into())
    }

    /// Applies the event recorded at `index` with `timestamp`. Indexes must increase.
    pub fn apply(
        &mut self,
        index: u64,
        timestamp: Timestamp,
        event: &Event,
    ) -> Result<(), ApplyError> {
        // Canonical encoding: re-encoding gives the record's bytes, hence the same hash.
        let hash = match events::encode(event) {
            Ok(bytes) => blake3::hash(&bytes).into(),
            Err(_) => [0u8; 32],
        };
        self.apply_with_hash(index, timestamp, event, hash)
    }

    pub(crate) fn apply_with_hash(
        &mut self,
        index: u64,
        timestamp: Timestamp,
        event: &Event,
        content_hash: [u8; 32],
    ) -> Result<(), ApplyError> {
        if index < self.next_index {
            return Err(ApplyError::OutOfOrder { index, next_index: self.next_index });
        }
        self.next_index = index.saturating_add(1);
        let at = Stamp { index, timestamp };
        self.remember_request(event, at, content_hash);
        if let Err(problem) = self.fold(at, &event.body) {
            self.anomalies.push(Anomaly { recorded: at, kind: event.body.kind(), problem });
        }
        Ok(())
    }

    fn remember_request(&mut self, event: &Event, at: Stamp, content_hash: [u8; 32]) {
        let horizon = at.timestamp.latest_ns().saturating_sub(self.config.idempotency_window_ns);
        while let Some(&(latest_ns, id)) = self.request_order.front() {
            if latest_ns >= horizon {
                break;
            }
            self.request_order.pop_front();
            self.requests.remove(&id);
        }
        let seen = SeenRequest { index: at.index, content_hash };
        // The first record with an id stays the original; a later one is an anomaly of the
        // log (rules refuse it) and must not hide the original.
        if let std::collections::hash_map::Entry::Vacant(slot) =
            self.requests.entry(event.request_id)
        {
            slot.insert(seen);
            self.request_order.push_back((at.timestamp.latest_ns(), event.request_id));
        }
    }

    fn index_start(
        &mut self,
        establishment: &crate::identity::EstablishmentCode,
        start_ns: u64,
        id: &crate::identity::SessionId,
        insert: bool,
    ) {
        let starts = self.by_start.entry(establishment.clone()).or_default();
        if insert {
            starts.entry(start_ns).or_default().insert(id.clone());
        } else if let Some(ids) = starts.get_mut(&start_ns) {
            ids.remove(id);
            if ids.is_empty() {
                starts.remove(&start_ns);
            }
        }
    }

    fn session_mut(&mut self, key: &SessionRef) -> Result<&mut SessionState, String> {
        self.sessions.get_mut(key).ok_or_else(|| format!("unknown session {key:?}"))
    }

    fn push_entry(
        &mut self,
        at: Stamp,
        key: &SessionRef,
        version: u32,
        kind: EntryKind,
    ) -> Result<(), String> {
        let state = self.session_mut(key)?;
        let position = state.entries.len();
        state.entries.push(Entry { recorded: at, version, kind, voided_by: None });
        self.entry_refs.insert(at.index, EntryRef { session: key.clone(), position });
        Ok(())
    }

    fn fold(&mut self, at: Stamp, body: &EventBody) -> Result<(), String> {
        match body {
            EventBody::SessionScheduled(e) => {
                let key = e.session.key.clone();
                if self.sessions.contains_key(&key) {
                    return Err("session already scheduled".into());
                }
                let establishment = &key.establishment;
                self.index_start(establishment, e.session.start_ns, &key.session, true);
                for t in &e.session.teachers {
                    self.by_teacher
                        .entry((establishment.clone(), t.clone()))
                        .or_default()
                        .insert(key.session.clone());
                }
                for s in &e.session.students {
                    self.by_ine.entry(s.ine.clone()).or_default().insert(key.clone());
                }
                let first = SessionVersion {
                    version: 1,
                    start_ns: e.session.start_ns,
                    end_ns: e.session.end_ns,
                    recorded: at,
                    by: e.by.clone(),
                    reason: None,
                };
                self.sessions.insert(
                    key,
                    SessionState {
                        session: e.session.clone(),
                        versions: vec![first],
                        cancelled: None,
                        roll_calls: Default::default(),
                        entries: Vec::new(),
                    },
                );
            }
            EventBody::SessionMoved(e) => {
                let state = self.session_mut(&e.session)?;
                let old_start = state.current().start_ns;
                let version = state.current().version.saturating_add(1);
                state.versions.push(SessionVersion {
                    version,
                    start_ns: e.start_ns,
                    end_ns: e.end_ns,
                    recorded: at,
                    by: e.by.clone(),
                    reason: Some(e.reason.clone()),
                });
                let (est, id) = (&e.session.establishment, &e.session.session);
                self.index_start(est, old_start, id, false);
                self.index_start(est, e.start_ns, id, true);
            }
            EventBody::SessionCancelled(e) => {
                let state = self.session_mut(&e.session)?;
                state.cancelled = Some(Cancellation {
                    version: e.version,
                    recorded: at,
                    by: e.by.clone(),
                    reason: e.reason.clone(),
                });
            }
            EventBody::RollCallOpened(e) => {
                let state = self.session_mut(&e.session)?;
                state.roll_calls.entry(e.version).or_insert(RollCall {
                    version: e.version,
                    mode: e.mode,
                    opened_by: e.opened_by.clone(),
                    on_behalf_of: e.on_behalf_of.clone(),
                    opened: at,
                    closed: None,
                });
            }
            EventBody::RollCallClosed(e) => {
                let state = self.session_mut(&e.session)?;
                let roll_call = state.roll_calls.get_mut(&e.version).ok_or("no such roll call")?;
                roll_call.closed.get_or_insert((at, e.by.clone()));
            }
            EventBody::StudentSigned(e) => {
                let kind = EntryKind::Signed {
                    signer: Signer::Student(e.student.clone()),
                    device_time_ns: e.attestation.device_time_ns,
                    public_key: e.attestation.public_key,
                };
                self.push_entry(at, &e.session, e.version, kind)?;
            }
            EventBody::TeacherSigned(e) => {
                let kind = EntryKind::Signed {
                    signer: Signer::Teacher(e.teacher.clone()),
                    device_time_ns: e.attestation.device_time_ns,
                    public_key: e.attestation.public_key,
                };
                self.push_entry(at, &e.session, e.version, kind)?;
            }
            EventBody::MarkedAbsent(m) => {
                let kind = EntryKind::Absent { student: m.student.clone(), by: m.by.clone() };
                self.push_entry(at, &m.session, m.version, kind)?;
            }
            EventBody::MarkedLate(e) => {
                let m = &e.mark;
                let kind = EntryKind::Late {
                    student: m.student.clone(),
                    minutes: e.minutes,
                    by: m.by.clone(),
                };
                self.push_entry(at, &m.session, m.version, kind)?;
            }
            EventBody::LeftEarly(e) => {
                let m = &e.mark;
                let kind = EntryKind::LeftEarly {
                    student: m.student.clone(),
                    left_at_ns: e.left_at_ns,
                    by: m.by.clone(),
                };
                self.push_entry(at, &m.session, m.version, kind)?;
            }
            EventBody::AbsenceJustified(e) => {
                let m = &e.mark;
                let kind = EntryKind::Justified {
                    student: m.student.clone(),
                    reason: e.reason.clone(),
                    by: m.by.clone(),
                };
                self.push_entry(at, &m.session, m.version, kind)?;
            }
            EventBody::Correction(e) => {
                let target =
                    self.entry_refs.get(&e.target_index).cloned().ok_or("no such entry")?;
                let state = self.session_mut(&target.session)?;
                let entry = state.entries.get_mut(target.position).ok_or("no such entry")?;
                if entry.voided_by.is_some() {
                    return Err("entry already voided".into());
                }
                entry.voided_by = Some(AppliedCorrection {
                    recorded: at,
                    target_index: e.target_index,
                    author: e.author.clone(),
                    reason: e.reason.clone(),
                });
            }
            EventBody::SignerKeyEnrolled(e) => match self.keys.get_mut(&e.public_key) {
                None => {
                    self.keys.insert(
                        e.public_key,
                        KeyRecord {
                            establishment: e.establishment.clone(),
                            signers: BTreeMap::from([(e.signer.clone(), at)]),
                            enrolled: at,
                            revoked: None,
                            verifying_key: crate::signatures::parse_public_key(&e.public_key).ok(),
                        },
                    );
                }
                Some(key) if key.establishment != e.establishment => {
                    return Err("key enrolled in another establishment".into());
                }
                Some(key) if key.signers.contains_key(&e.signer) => {
                    return Err("key already enrolled for this signer".into());
                }
                // A shared device: one more signer. Rules refuse it on a revoked key; the log
                // is the truth, so a record that says so is applied (signatures stay refused).
                Some(key) => {
                    key.signers.insert(e.signer.clone(), at);
                }
            },
            EventBody::SignerKeyRevoked(e) => {
                let key = self.keys.get_mut(&e.public_key).ok_or("unknown key")?;
                key.revoked.get_or_insert(at);
            }
            EventBody::IneAlias(e) => {
                if self.alias_next.contains_key(&e.old) {
                    return Err("INE already aliased".into());
                }
                self.alias_next.insert(e.old.clone(), e.new.clone());
                self.alias_prev.entry(e.new.clone()).or_default().insert(e.old.clone());
            }
            EventBody::AuditTrailRequested(e) => self.audit_requests.push((at, e.clone())),
        }
        Ok(())
    }
}
