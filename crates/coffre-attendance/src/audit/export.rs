//! Exporting an audit trail from the vault.

use super::format::{self, BundleParts, LinkPart, RecordPart};
use super::manifest::{left_out_digest, records_digest, Manifest};
use crate::events::{AuditScope, AuditTrailRequested, Event, EventBody};
use crate::identity::{Actor, EstablishmentCode, FunderId, SessionRef, Student};
use crate::state::{AttendanceState, EntryKind};
use crate::vault::{CheckpointNote, Vault, VaultError};
use coffre_log::note::sign_note;
use coffre_log::Record;
use std::collections::BTreeSet;

/// What a funder asks to audit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRequest {
    /// The establishment.
    pub establishment: EstablishmentCode,
    /// The funder (OPCO) asking.
    pub funder: FunderId,
    /// Sessions of a date range, one student's sessions of a range, or one session.
    pub scope: AuditScope,
}

/// Export choices.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportOptions {
    /// An older checkpoint the auditor holds (signed note, e.g. the anchor of their previous
    /// audit): the bundle then proves the log only grew since it. Without it, the vault's
    /// newest stored checkpoint older than the anchor is linked, if any.
    pub since: Option<String>,
}

/// An exported audit bundle (bytes in the format of docs/AUDIT.md) and what it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditBundle {
    bytes: Vec<u8>,
    /// Index of the "audit trail requested" record the export appended.
    pub request_index: u64,
    /// Tree size of the anchor checkpoint.
    pub anchor_size: u64,
    /// Records in the bundle.
    pub records: usize,
    /// Records in scope left out because they are newer than the anchor checkpoint.
    pub left_out: Vec<u64>,
    /// Whether the record list is signed (a signer was available).
    pub manifest_signed: bool,
}

impl AuditBundle {
    /// The bundle's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The bundle's bytes, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// The sessions a scope covers, and the student it is restricted to.
pub(crate) fn scoped_sessions(
    state: &AttendanceState,
    establishment: &EstablishmentCode,
    scope: &AuditScope,
) -> (Vec<SessionRef>, Option<Student>) {
    match scope {
        AuditScope::Sessions { from, to } => {
            let list = state.establishment_sessions(establishment, *from, *to);
            (list.into_iter().map(|s| s.session).collect(), None)
        }
        AuditScope::Student { student, from, to } => {
            let list = state.establishment_sessions(establishment, *from, *to);
            let enrolled = list
                .into_iter()
                .map(|s| s.session)
                .filter(|key| state.session(key).is_some_and(|s| s.session.is_enrolled(student)))
                .collect();
            (enrolled, Some(student.clone()))
        }
        AuditScope::Session(id) => {
            let key = SessionRef { establishment: establishment.clone(), session: id.clone() };
            let list = if state.session(&key).is_some() { vec![key] } else { Vec::new() };
            (list, None)
        }
    }
}

/// Every record index the scope needs: the sessions' own records (schedule, moves,
/// cancellation, roll calls, signatures and marks, corrections) and the enrolment and
/// revocation records of every key that signed.
fn scope_indexes(
    state: &AttendanceState,
    establishment: &EstablishmentCode,
    scope: &AuditScope,
) -> BTreeSet<u64> {
    let (sessions, only) = scoped_sessions(state, establishment, scope);
    let mut out = BTreeSet::new();
    let mut keys = BTreeSet::new();
    for key in &sessions {
        let Some(s) = state.session(key) else { continue };
        out.extend(s.versions.iter().map(|v| v.recorded.index));
        out.extend(s.cancelled.iter().map(|c| c.recorded.index));
        for roll_call in s.roll_calls.values() {
            out.insert(roll_call.opened.index);
            out.extend(roll_call.closed.iter().map(|(stamp, _)| stamp.index));
        }
        for entry in &s.entries {
            let about = entry.kind.student();
            if only.is_some() && about.is_some() && about != only.as_ref() {
                continue;
            }
            out.insert(entry.recorded.index);
            out.extend(entry.voided_by.iter().map(|c| c.recorded.index));
            if let EntryKind::Signed { public_key, signer, .. } = &entry.kind {
                keys.insert((*public_key, signer.clone()));
            }
        }
    }
    // A shared device's enrolments for the signers that signed in scope (not for other
    // people: a student scope must not list the other users of a classroom tablet).
    for (public_key, signer) in keys {
        if let Some(k) = state.key(&public_key) {
            out.extend(k.enrolment_for(&signer).map(|e| e.index));
            out.extend(k.revoked.iter().map(|r| r.index));
        }
    }
    out
}

impl Vault {
    /// Exports an audit trail (see docs/AUDIT.md): records an "audit trail requested" event,
    /// signs a checkpoint covering it (or, without a signer, anchors on the newest stored
    /// checkpoint and lists the records in scope it had to leave out), and returns the bundle.
    pub fn export_audit(
        &self,
        request: &AuditRequest,
        requested_by: &Actor,
    ) -> Result<AuditBundle, VaultError> {
        self.export_audit_with(request, requested_by, &ExportOptions::default())
    }

    /// [`Vault::export_audit`] with options.
    pub fn export_audit_with(
        &self,
        request: &AuditRequest,
        requested_by: &Actor,
        options: &ExportOptions,
    ) -> Result<AuditBundle, VaultError> {
        let since = match &options.since {
            Some(note) => Some(self.anchoring().open(self.log(), note)?),
            None => None,
        };
        let previous = self.latest_checkpoint()?;
        let event = Event {
            request_id: self.new_request_id()?,
            body: EventBody::AuditTrailRequested(AuditTrailRequested {
                establishment: request.establishment.clone(),
                funder: request.funder.clone(),
                scope: request.scope.clone(),
                requested_by: requested_by.clone(),
            }),
        };
        event.check().map_err(|e| VaultError::AuditRequest(e.to_string()))?;
        let request_index = self.submit(&event)?.index;
        let mut indexes = {
            let state = self.state();
            scope_indexes(&state, &request.establishment, &request.scope)
        };
        indexes.insert(request_index);

        let anchor = if self.has_signer() {
            self.checkpoint()?
        } else {
            previous.clone().ok_or(VaultError::NotCheckpointed { index: request_index })?
        };
        let anchor_size = anchor.checkpoint.size;
        let latest = self.latest_checkpoint()?.unwrap_or_else(|| anchor.clone());
        let older_note = match (&options.since, since) {
            (Some(note), Some(c)) => Some(CheckpointNote { checkpoint: c, note: note.clone() }),
            _ => previous.filter(|p| p.checkpoint.size < anchor_size),
        };
        if older_note.as_ref().is_some_and(|o| o.checkpoint.size > anchor_size) {
            return Err(VaultError::AuditRequest(
                "the 'since' checkpoint is newer than the anchor".into(),
            ));
        }

        let (kept, left_out): (Vec<u64>, Vec<u64>) =
            indexes.into_iter().partition(|&i| i < anchor_size);
        let records: Vec<Record> =
            kept.iter().map(|&i| self.log().read(i)).collect::<Result<_, _>>()?;
        let mut record_parts = Vec::with_capacity(records.len());
        let mut leaves = Vec::with_capacity(records.len());
        let timestamps: Vec<[u8; 20]> = records.iter().map(|r| r.timestamp.to_bytes()).collect();
        for (record, timestamp) in records.iter().zip(&timestamps) {
            let proof = self.prove_inclusion(record.index, anchor_size)?;
            leaves.push((record.index, proof.leaf_hash));
            record_parts.push(RecordPart {
                index: record.index,
                timestamp,
                payload: &record.payload,
                path: proof.path,
            });
        }
        let latest_path = self.prove_consistency(anchor_size, latest.checkpoint.size)?.path;
        let older: Vec<LinkPart<'_>> = match &older_note {
            Some(o) => vec![LinkPart {
                note: &o.note,
                path: self.prove_consistency(o.checkpoint.size, anchor_size)?.path,
            }],
            None => Vec::new(),
        };
        let alg = self.log().hash_algorithm();
        let manifest_text = Manifest {
            origin: anchor.checkpoint.origin.clone(),
            anchor: (anchor_size, anchor.checkpoint.root),
            latest: (latest.checkpoint.size, latest.checkpoint.root),
            older: older.len(),
            request: request_index,
            records: (leaves.len(), records_digest(alg, &leaves)),
            left_out: (left_out.len(), left_out_digest(alg, &left_out)),
        }
        .to_text();
        let manifest = match self.anchoring().signer() {
            Some(signer) => Some(
                sign_note(&manifest_text, &[signer])
                    .map_err(|e| VaultError::Checkpoint(e.to_string()))?,
            ),
            None => None,
        };
        let log_key =
            self.verifier_key().map(|v| v.to_verifier_key()).ok_or(VaultError::NoSigner)?;
        let parts = BundleParts {
            algorithm: alg,
            log_key: &log_key,
            anchor: &anchor.note,
            latest: LinkPart { note: &latest.note, path: latest_path },
            older,
            records: record_parts,
            left_out: left_out.clone(),
            manifest: manifest.as_deref(),
        };
        format::check_limits(&parts).map_err(VaultError::AuditTooLarge)?;
        Ok(AuditBundle {
            bytes: format::encode(&parts),
            request_index,
            anchor_size,
            records: leaves.len(),
            left_out,
            manifest_signed: manifest.is_some(),
        })
    }
}
