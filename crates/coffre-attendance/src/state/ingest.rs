//! The ingest path the vault drives: dedupe, validate, encode ([`AttendanceState::prepare`]),
//! then after `log.append(bytes)` returns the record's index and timestamp,
//! [`AttendanceState::commit`].

use super::{ApplyError, AttendanceState, RuleError};
use crate::events::{self, Event, EventBody};
use crate::identity::{SessionRef, Signer};
use crate::signatures::{self, PendingSignature, SignatureError};
use coffre_clock::Timestamp;
use std::collections::HashMap;

/// Whether a command was seen before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dedupe {
    /// First time this request id is seen (within the idempotency window).
    New,
    /// A retry of the command recorded at this index: answer with that record.
    Duplicate(u64),
}

/// A validated, encoded event ready to append.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prepared {
    event: Event,
    bytes: Vec<u8>,
    content_hash: [u8; 32],
}

impl Prepared {
    /// The bytes to append to the log.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The event.
    pub fn event(&self) -> &Event {
        &self.event
    }
}

/// What to do with a command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Prepare {
    /// Append these bytes, then [`AttendanceState::commit`].
    Append(Box<Prepared>),
    /// Already recorded at this index: return that record, append nothing.
    Duplicate(u64),
}

impl AttendanceState {
    /// Idempotency: the same request id with the same encoded event is a retry of the record
    /// at the returned index; the same id with other content is an error.
    pub fn dedupe(&self, event: &Event, encoded: &[u8]) -> Result<Dedupe, RuleError> {
        match self.requests.get(&event.request_id) {
            None => Ok(Dedupe::New),
            Some(seen) if seen.content_hash == *blake3::hash(encoded).as_bytes() => {
                Ok(Dedupe::Duplicate(seen.index))
            }
            Some(seen) => Err(RuleError::RequestIdReused { original_index: seen.index }),
        }
    }

    /// Dedupes, validates at server time `now`, and encodes a command.
    ///
    /// Dedupe runs first, so a retry of an accepted command is answered with its original
    /// record even if the rules would now refuse it (the window closed, say).
    pub fn prepare(&self, command: &Event, now: Timestamp) -> Result<Prepare, RuleError> {
        let bytes = events::encode(command)?;
        if let Dedupe::Duplicate(index) = self.dedupe(command, &bytes)? {
            return Ok(Prepare::Duplicate(index));
        }
        self.validate(command, now)?;
        let content_hash = *blake3::hash(&bytes).as_bytes();
        Ok(Prepare::Append(Box::new(Prepared { event: command.clone(), bytes, content_hash })))
    }

    /// Prepares a batch of commands (typically many signatures arriving together), verifying
    /// all their signatures in one batch for throughput.
    ///
    /// Each command is checked against the current state; within the batch, a command that
    /// repeats an earlier accepted one's request id, or its signer for the same session
    /// version, is refused with [`RuleError::RepeatedInBatch`]. The caller must append and
    /// [`commit`](Self::commit) every `Append` in order before preparing anything else, and
    /// should batch only commands that do not change sessions, roll calls or keys.
    pub fn prepare_batch(
        &self,
        commands: &[Event],
        now: Timestamp,
    ) -> Vec<Result<Prepare, RuleError>> {
        // Passes 1 and 2, per chunk on the machine's cores (the state is only read): every
        // rule except signatures, then one batch verification whose failures are pinned to
        // their commands.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 16);
        let threads = if commands.len() < signatures::PARALLEL_BATCH_MIN { 1 } else { threads };
        let chunk = commands.len().div_ceil(threads).max(1);
        let mut out: Vec<Result<Prepare, RuleError>> = if threads == 1 {
            self.prepare_chunk(commands, &now)
        } else {
            std::thread::scope(|scope| {
                let handles: Vec<_> = commands
                    .chunks(chunk)
                    .map(|part| scope.spawn(move || self.prepare_chunk(part, &now)))
                    .collect();
                handles
                    .into_iter()
                    .zip(commands.chunks(chunk))
                    .flat_map(|(h, part)| {
                        // A panicked thread proves nothing: refuse its commands.
                        h.join().unwrap_or_else(|_| {
                            part.iter()
                                .map(|_| Err(RuleError::BadSignature(SignatureError::Invalid)))
                                .collect()
                        })
                    })
                    .collect()
            })
        };
        // Pass 3: repeats inside the batch, in order, among commands still accepted.
        let mut ids = HashMap::new();
        let mut signers = HashMap::new();
        let mut devices = HashMap::new();
        let mut bindings = HashMap::new();
        for (slot, result) in out.iter_mut().enumerate() {
            let Ok(Prepare::Append(prepared)) = result else { continue };
            let event = &prepared.event;
            if let Some(&position) = ids.get(&event.request_id) {
                *result = Err(RuleError::RepeatedInBatch { position });
                continue;
            }
            if let Some(key) = signer_key(event) {
                if let Some(&position) = signers.get(&key) {
                    *result = Err(RuleError::RepeatedInBatch { position });
                    continue;
                }
                signers.insert(key, slot);
            }
            // Several enrolments of one new device in a batch are one shared device, within
            // one establishment and once per signer, as if they came one by one.
            if let EventBody::SignerKeyEnrolled(e) = &event.body {
                let (establishment, first) =
                    devices.entry(e.public_key).or_insert((e.establishment.clone(), slot)).clone();
                if establishment != e.establishment {
                    *result = Err(RuleError::RepeatedInBatch { position: first });
                    continue;
                }
                let binding = (e.public_key, Signer::clone(&e.signer));
                if let Some(&position) = bindings.get(&binding) {
                    *result = Err(RuleError::RepeatedInBatch { position });
                    continue;
                }
                bindings.insert(binding, slot);
            }
            ids.insert(event.request_id, slot);
        }
        out
    }

    /// Rules and batch signature verification of one chunk of a batch.
    fn prepare_chunk(
        &self,
        commands: &[Event],
        now: &Timestamp,
    ) -> Vec<Result<Prepare, RuleError>> {
        let mut out = Vec::with_capacity(commands.len());
        let mut pending = Vec::new();
        for (slot, command) in commands.iter().enumerate() {
            out.push(self.prepare_unverified(command, now).map(|(prepare, signature)| {
                if let Some(signature) = signature {
                    pending.push((slot, signature));
                }
                prepare
            }));
        }
        let items: Vec<PendingSignature> = pending.iter().map(|(_, s)| s.clone()).collect();
        if let Err(batch) = signatures::verify_batch(&items) {
            for (position, error) in batch.failed {
                let slot = pending.get(position).map(|(slot, _)| *slot);
                if let Some(result) = slot.and_then(|slot| out.get_mut(slot)) {
                    *result = Err(RuleError::BadSignature(error));
                }
            }
        }
        out
    }

    /// Dedupe and rules; returns the signature still to verify for signature events.
    fn prepare_unverified(
        &self,
        command: &Event,
        now: &Timestamp,
    ) -> Result<(Prepare, Option<PendingSignature>), RuleError> {
        let bytes = events::encode(command)?;
        if let Dedupe::Duplicate(index) = self.dedupe(command, &bytes)? {
            return Ok((Prepare::Duplicate(index), None));
        }
        let signature = self.check_rules(command, now)?;
        let content_hash = *blake3::hash(&bytes).as_bytes();
        Ok((
            Prepare::Append(Box::new(Prepared { event: command.clone(), bytes, content_hash })),
            signature,
        ))
    }

    /// Applies a prepared event once the log recorded it at `index` with `timestamp`.
    pub fn commit(
        &mut self,
        index: u64,
        timestamp: Timestamp,
        prepared: &Prepared,
    ) -> Result<(), ApplyError> {
        self.apply_with_hash(index, timestamp, &prepared.event, prepared.content_hash)
    }
}

/// The (session, version, signer) a signature event binds, if it is one.
fn signer_key(event: &Event) -> Option<(SessionRef, u32, Signer)> {
    match &event.body {
        EventBody::StudentSigned(e) => {
            Some((e.session.clone(), e.version, Signer::Student(e.student.clone())))
        }
        EventBody::TeacherSigned(e) => {
            Some((e.session.clone(), e.version, Signer::Teacher(e.teacher.clone())))
        }
        _ => None,
    }
}
