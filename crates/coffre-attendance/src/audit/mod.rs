//! Audit trails for funders: a self-contained bundle of the records in scope, each with its
//! inclusion proof to a signed checkpoint, exported by [`crate::Vault::export_audit`] and
//! verified offline by the pure [`verify_audit`].
//!
//! - [`format`]: the binary layout (docs/AUDIT.md byte by byte), bounded parsing;
//! - `export`: what the vault puts in a bundle;
//! - `verify`: signature, proof, checkpoint and manifest checks, sheets rebuilt;
//! - `flags`: plausibility flags (reported, never fatal).

mod export;
mod flags;
pub mod format;
mod manifest;
mod verify;

#[cfg(test)]
mod tests;

pub use export::{AuditBundle, AuditRequest, ExportOptions};
pub use flags::{device_text, Flag, DEFAULT_SHARED_DEVICE_STUDENTS_MAX};
pub use verify::{verify_audit, verify_audit_with, VerifyOptions};

use crate::events::{AuditScope, DecodeError};
use crate::identity::{Actor, EstablishmentCode, FunderId};
use crate::query::AttendanceSheet;
use crate::state::Anomaly;
use coffre_clock::Timestamp;
use coffre_log::checkpoint::Checkpoint;
use coffre_log::merkle::ProofError;
use coffre_log::{Hash, HashAlgorithm};

/// Why a record of a bundle is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordFault {
    /// Records must be in strictly increasing index order.
    #[error("out of order (after record {previous})")]
    OutOfOrder {
        /// The record before it in the bundle.
        previous: u64,
    },
    /// The record is not covered by the anchor checkpoint.
    #[error("index beyond the anchor checkpoint's size {anchor_size}")]
    BeyondAnchor {
        /// The anchor's tree size.
        anchor_size: u64,
    },
    /// The 20 timestamp bytes are not a timestamp.
    #[error("bad timestamp: {0}")]
    Timestamp(String),
    /// The inclusion proof fails (the record's bytes, its index or the path were altered, or
    /// the proof is for another tree).
    #[error("inclusion proof fails: {0}")]
    Proof(ProofError),
    /// The payload is not an attendance event.
    #[error("payload does not decode: {0}")]
    Decode(DecodeError),
    /// A log-internal record has no place in an audit bundle.
    #[error("log-internal (system) record")]
    SystemRecord,
    /// The record belongs to another establishment than the audit's.
    #[error("belongs to establishment {found}, not the audited one")]
    OtherEstablishment {
        /// Its establishment.
        found: String,
    },
    /// The signing key is not enrolled by a record of the bundle before the signature.
    #[error("signing key not enrolled before the signature in this bundle")]
    UnknownSignerKey,
    /// The key (device) is not enrolled for this signer by a record of the bundle before the
    /// signature (it is for someone else), or is enrolled in another establishment.
    #[error("signing key not enrolled for this signer")]
    KeyNotForSigner,
    /// The key was revoked before the signature.
    #[error("signing key revoked by record {revoked_index} before the signature")]
    KeyRevoked {
        /// The revocation record.
        revoked_index: u64,
    },
    /// The Ed25519 signature does not verify for the attestation message.
    #[error("signature does not verify")]
    BadSignature,
    /// A second audit request in one bundle.
    #[error("a second audit-trail request")]
    SecondRequest,
}

/// Why a bundle is refused. Every variant names what failed; record faults name the record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// The bundle exceeds the size limit.
    #[error("bundle of {size_bytes} bytes exceeds {size_bytes_max}")]
    TooLarge {
        /// Its size.
        size_bytes: usize,
        /// The limit.
        size_bytes_max: usize,
    },
    /// The bytes do not follow the format.
    #[error("malformed bundle at byte {offset}: {reason}")]
    Malformed {
        /// Byte offset in the bundle.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
    /// A format version this verifier does not read.
    #[error("unsupported bundle version {0}")]
    UnsupportedVersion(u16),
    /// The bundle names another log key than the one the auditor trusts.
    #[error("bundle's log key {found:?} is not the trusted key")]
    UntrustedLogKey {
        /// The key text in the bundle.
        found: String,
    },
    /// A checkpoint does not open with the trusted key, or does not parse.
    #[error("{which} checkpoint: {reason}")]
    Checkpoint {
        /// `anchor`, `latest`, `older` or `auditor`.
        which: &'static str,
        /// Why.
        reason: String,
    },
    /// A consistency proof between two checkpoints fails.
    #[error("consistency from size {from_size} to {to_size}: {reason}")]
    Consistency {
        /// Older tree size.
        from_size: u64,
        /// Newer tree size.
        to_size: u64,
        /// Why.
        reason: String,
    },
    /// The auditor's own checkpoint cannot be linked to the bundle's anchor.
    #[error("auditor's checkpoint (size {size}): {reason}")]
    AuditorCheckpoint {
        /// Its size.
        size: u64,
        /// Why.
        reason: String,
    },
    /// A record is refused.
    #[error("record {index}: {fault}")]
    Record {
        /// The record's log index.
        index: u64,
        /// Why.
        fault: RecordFault,
    },
    /// The left-out list is not strictly increasing or names records the anchor covers.
    #[error("left-out list: {0}")]
    LeftOut(String),
    /// The signed manifest does not open, or does not match the bundle's contents.
    #[error("manifest: {0}")]
    Manifest(String),
    /// No audit-trail request record and no record at all in the bundle.
    #[error("the bundle holds no record")]
    MissingRequest,
}

/// The audit-trail request the bundle answers (from its verified request record).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestSummary {
    /// The request record's index.
    pub index: u64,
    /// When it was recorded.
    pub timestamp: Timestamp,
    /// The establishment audited.
    pub establishment: EstablishmentCode,
    /// The funder.
    pub funder: FunderId,
    /// What is covered.
    pub scope: AuditScope,
    /// Who asked.
    pub requested_by: Actor,
}

/// A verified signature's key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignatureCheck {
    /// The signing device's public key.
    pub public_key: [u8; 32],
    /// The record that enrolled it for this signer.
    pub enrolled_at: u64,
}

/// One verified record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordCheck {
    /// Log index.
    pub index: u64,
    /// Arbitrated timestamp (interval, sources, status).
    pub timestamp: Timestamp,
    /// Event kind (`student_signed`, ...).
    pub kind: &'static str,
    /// Leaf hash, checked against the anchor by its inclusion proof.
    pub leaf_hash: Hash,
    /// For signatures: the key, verified.
    pub signature: Option<SignatureCheck>,
}

/// What [`verify_audit`] established.
#[derive(Clone, Debug)]
pub struct AuditReport {
    /// The tree hash of the log.
    pub algorithm: HashAlgorithm,
    /// The checkpoint every record's inclusion proof leads to.
    pub anchor: Checkpoint,
    /// The newest checkpoint the vault had at export, consistent with the anchor.
    pub latest: Checkpoint,
    /// Older checkpoints shown consistent with the anchor (nothing removed since them).
    pub older: Vec<Checkpoint>,
    /// The auditor's own checkpoint, when given and shown consistent.
    pub auditor_checkpoint: Option<Checkpoint>,
    /// Whether the list of records is signed by the log key (a removed or added record is
    /// then detected); `false` for bundles exported without a signer.
    pub manifest_signed: bool,
    /// The establishment audited.
    pub establishment: EstablishmentCode,
    /// The request the bundle answers; `None` when it was left out (exported without a
    /// signer: the request is newer than the stored checkpoint the bundle is anchored on).
    pub request: Option<RequestSummary>,
    /// Every record, verified, in index order.
    pub records: Vec<RecordCheck>,
    /// Records in scope newer than the anchor, left out by the exporter.
    pub left_out: Vec<u64>,
    /// Attendance sheets rebuilt from the verified records (for a student scope, only that
    /// student's line).
    pub sheets: Vec<AttendanceSheet>,
    /// Plausibility flags.
    pub flags: Vec<Flag>,
    /// Records the rebuilt projection could not place.
    pub anomalies: Vec<Anomaly>,
}

/// A scope in words, for reports.
pub fn scope_text(scope: &AuditScope) -> String {
    match scope {
        AuditScope::Sessions { from, to } => format!("sessions from {from} to {to}"),
        AuditScope::Student { student, from, to } => {
            format!("student {} ({}) from {from} to {to}", student.ine, student.birth_date)
        }
        AuditScope::Session(id) => format!("session {id}"),
    }
}

impl AuditReport {
    /// Signatures verified (students and teachers).
    pub fn signatures(&self) -> usize {
        self.records.iter().filter(|r| r.signature.is_some()).count()
    }

    /// A few lines for people: what was checked and what was found.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        match &self.request {
            Some(r) => out.push_str(&format!(
                "audit trail for {} requested by funder {} (record {}), scope {}\n",
                r.establishment,
                r.funder,
                r.index,
                scope_text(&r.scope)
            )),
            None => out.push_str(&format!(
                "audit trail for {} (request record left out: newer than the anchor)\n",
                self.establishment
            )),
        }
        out.push_str(&format!(
            "verified: {} records ({} signatures), inclusion proofs to checkpoint {} of {} (root {})\n",
            self.records.len(),
            self.signatures(),
            self.anchor.size,
            self.anchor.origin,
            self.anchor.root,
        ));
        out.push_str(&format!(
            "consistency: anchor -> latest ({} -> {}); {} older checkpoint(s) linked{}\n",
            self.anchor.size,
            self.latest.size,
            self.older.len(),
            if self.auditor_checkpoint.is_some() { "; auditor's checkpoint linked" } else { "" },
        ));
        out.push_str(&format!(
            "manifest: {}; left out (newer than the anchor): {}\n",
            if self.manifest_signed { "signed" } else { "UNSIGNED (removals undetectable)" },
            self.left_out.len(),
        ));
        out.push_str(&format!(
            "sessions: {}; flags: {}; anomalies: {}",
            self.sheets.len(),
            self.flags.len(),
            self.anomalies.len()
        ));
        for flag in self.flags.iter().take(10) {
            out.push_str(&format!("\n  flag: {flag}"));
        }
        out
    }
}
