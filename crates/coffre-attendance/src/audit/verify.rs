//! Offline verification of an audit bundle: pure (bytes and keys in, report out, no I/O).
//!
//! Order of the checks (the first failure is returned): format and limits; the log key is
//! the trusted one; the anchor, latest and older checkpoints open with the trusted key and
//! are consistent with the anchor (and the auditor's own checkpoint, if given); every record
//! is in index order, covered by the anchor, hashes to the leaf its inclusion proof proves,
//! decodes, and belongs to the audited establishment; the left-out list; the signed
//! manifest matches the records; every signature's key is enrolled earlier in the bundle for
//! that signer and not revoked, and the signature verifies. Then the sheets are rebuilt and
//! the plausibility flags computed.

use super::flags::{flags, SignatureSeen, DEFAULT_SHARED_DEVICE_STUDENTS_MAX};
use super::format::{self, BundleParts, LinkPart, RecordPart};
use super::manifest::{left_out_digest, records_digest, Manifest};
use super::{AuditError, AuditReport, RecordCheck, RecordFault, RequestSummary, SignatureCheck};
use crate::audit::export::scoped_sessions;
use crate::events::{self, Event, EventBody};
use crate::identity::{EstablishmentCode, Signer};
use crate::qr::MasterKey;
use crate::signatures::{self, PendingSignature};
use crate::state::{AttendanceState, RulesConfig};
use crate::vault::is_system_payload;
use coffre_clock::Timestamp;
use coffre_log::checkpoint::{open_checkpoint, Checkpoint};
use coffre_log::merkle::{verify_consistency, verify_inclusion};
use coffre_log::note::{open_note, NoteVerifier};
use coffre_log::{Hash, HashAlgorithm};
use std::collections::HashMap;

/// Verification choices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyOptions {
    /// A checkpoint the auditor already holds (signed note): the bundle must prove the log
    /// only grew since it (it must equal the anchor or the latest checkpoint, or be one of
    /// the bundle's older checkpoints).
    pub auditor_checkpoint: Option<String>,
    /// A device (signing key) that signed for more distinct students than this in one
    /// session is flagged ([`super::Flag::SameDeviceManyStudents`]); default
    /// [`DEFAULT_SHARED_DEVICE_STUDENTS_MAX`] (3).
    pub shared_device_students_max: usize,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            auditor_checkpoint: None,
            shared_device_students_max: DEFAULT_SHARED_DEVICE_STUDENTS_MAX,
        }
    }
}

/// Verifies an audit bundle against the log key the auditor trusts. See the module doc.
pub fn verify_audit(
    bundle_bytes: &[u8],
    trusted_log_key: &NoteVerifier,
) -> Result<AuditReport, AuditError> {
    verify_audit_with(bundle_bytes, trusted_log_key, &VerifyOptions::default())
}

/// Signature lines of a signed note (after its last blank line).
fn signature_lines(note: &str) -> usize {
    note.rsplit_once("\n\n").map_or(0, |(_, block)| block.lines().count())
}

/// Signed notes accept lines of unknown keys and repeated lines (C2SP); an exported bundle's
/// notes carry exactly the log key's one line, so any other line is bytes added to the bundle.
fn one_signature(note: &str) -> Result<(), String> {
    match signature_lines(note) {
        1 => Ok(()),
        n => Err(format!("{n} signature lines where the log key's one is expected")),
    }
}

fn open(note: &str, key: &NoteVerifier, which: &'static str) -> Result<Checkpoint, AuditError> {
    let err = |reason: String| AuditError::Checkpoint { which, reason };
    let checkpoint = open_checkpoint(note.as_bytes(), key).map_err(|e| err(e.to_string()))?;
    one_signature(note).map_err(err)?;
    Ok(checkpoint)
}

fn consistent(
    alg: HashAlgorithm,
    old: &Checkpoint,
    new: &Checkpoint,
    path: &[Hash],
) -> Result<(), AuditError> {
    let err =
        |reason: String| AuditError::Consistency { from_size: old.size, to_size: new.size, reason };
    if old.origin != new.origin {
        return Err(err("checkpoints of different logs (origin)".into()));
    }
    if old.size == 0 || old.size == new.size {
        // RFC 6962 defines no proof for these: equal sizes need equal roots, the empty tree
        // is a prefix of every tree.
        if !path.is_empty() {
            return Err(err("a proof where none is defined".into()));
        }
        if old.size == new.size && old.root != new.root {
            return Err(err("same size, different roots (a fork)".into()));
        }
        return Ok(());
    }
    verify_consistency(alg, old.size, new.size, &old.root, &new.root, path)
        .map_err(|e| err(e.to_string()))
}

/// [`verify_audit`] with options.
pub fn verify_audit_with(
    bundle_bytes: &[u8],
    trusted_log_key: &NoteVerifier,
    options: &VerifyOptions,
) -> Result<AuditReport, AuditError> {
    let parts = format::parse(bundle_bytes)?;
    let alg = parts.algorithm;
    if parts.log_key != trusted_log_key.to_verifier_key() {
        return Err(AuditError::UntrustedLogKey {
            found: parts.log_key.chars().take(200).collect(),
        });
    }
    let anchor = open(parts.anchor, trusted_log_key, "anchor")?;
    let latest = if parts.latest.note == parts.anchor {
        anchor.clone()
    } else {
        open(parts.latest.note, trusted_log_key, "latest")?
    };
    if latest.size < anchor.size {
        return Err(AuditError::Checkpoint {
            which: "latest",
            reason: "older than the anchor".into(),
        });
    }
    consistent(alg, &anchor, &latest, &parts.latest.path)?;
    let older = parts
        .older
        .iter()
        .map(|link: &LinkPart<'_>| {
            let c = open(link.note, trusted_log_key, "older")?;
            if c.size > anchor.size {
                return Err(AuditError::Checkpoint {
                    which: "older",
                    reason: "newer than the anchor".into(),
                });
            }
            consistent(alg, &c, &anchor, &link.path)?;
            Ok(c)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let auditor_checkpoint = match &options.auditor_checkpoint {
        None => None,
        Some(note) => Some(link_auditor(note, trusted_log_key, &anchor, &latest, &older)?),
    };

    let checked = check_records(alg, &anchor, &parts.records)?;
    check_left_out(&anchor, &parts.left_out)?;
    // Without a signer at export, the request record is newer than the anchor (left out):
    // the establishment then comes from the records, the scope is unknown.
    let request = find_request(&checked)?;
    let establishment = match (&request, checked.first()) {
        (Some(r), _) => r.establishment.clone(),
        (None, Some(first)) => first.event.body.establishment().clone(),
        (None, None) => return Err(AuditError::MissingRequest),
    };
    let request_index = request.as_ref().map_or(u64::MAX, |r| r.index);
    let manifest_signed =
        check_manifest(alg, &parts, &anchor, &latest, &checked, request_index, trusted_log_key)?;
    let signatures = check_signatures(&checked, &establishment)?;

    // Rebuild the sheets from the verified records (rules are not re-run: the log is the truth).
    let mut state = AttendanceState::new(RulesConfig::new(MasterKey::new([0; 32])));
    for c in &checked {
        // Indexes strictly increase and every event decoded: apply cannot fail.
        let _ = state.apply(c.index, c.timestamp, &c.event);
    }
    let (sessions, only) = match &request {
        Some(r) => scoped_sessions(&state, &r.establishment, &r.scope),
        None => (state.sessions.keys().cloned().collect(), None),
    };
    let sheets = sessions
        .iter()
        .filter_map(|key| state.sheet(key))
        .map(|mut sheet| {
            if let Some(student) = &only {
                sheet.students.retain(|line| &line.student == student);
            }
            sheet
        })
        .collect();
    let seen: Vec<SignatureSeen<'_>> = checked
        .iter()
        .filter(|c| signatures.contains_key(&c.index))
        .map(|c| SignatureSeen { index: c.index, timestamp: c.timestamp, event: &c.event })
        .collect();
    let flags = flags(&state, &seen, options.shared_device_students_max);
    let records = checked
        .iter()
        .map(|c| RecordCheck {
            index: c.index,
            timestamp: c.timestamp,
            kind: c.event.body.kind(),
            leaf_hash: c.leaf_hash,
            signature: signatures.get(&c.index).copied(),
        })
        .collect();
    Ok(AuditReport {
        algorithm: alg,
        anchor,
        latest,
        older,
        auditor_checkpoint,
        manifest_signed,
        establishment,
        request,
        records,
        left_out: parts.left_out.clone(),
        sheets,
        flags,
        anomalies: state.anomalies().to_vec(),
    })
}

fn link_auditor(
    note: &str,
    key: &NoteVerifier,
    anchor: &Checkpoint,
    latest: &Checkpoint,
    older: &[Checkpoint],
) -> Result<Checkpoint, AuditError> {
    // The auditor's own note, not the bundle's: other lines (a witness's) are fine there.
    let c = open_checkpoint(note.as_bytes(), key)
        .map_err(|e| AuditError::Checkpoint { which: "auditor", reason: e.to_string() })?;
    let known = [anchor, latest].into_iter().chain(older);
    let same_size: Vec<&Checkpoint> = known.filter(|k| k.size == c.size).collect();
    match same_size.first() {
        Some(k) if k.root == c.root && k.origin == c.origin => Ok(c),
        Some(_) => Err(AuditError::AuditorCheckpoint {
            size: c.size,
            reason: "the bundle's checkpoint of that size has another root: the log forked".into(),
        }),
        None => Err(AuditError::AuditorCheckpoint {
            size: c.size,
            reason: "the bundle holds no consistency proof from it (export with it as 'since')"
                .into(),
        }),
    }
}

/// A record whose proof and encoding checked.
struct Checked {
    index: u64,
    timestamp: Timestamp,
    leaf_hash: Hash,
    event: Event,
}

fn check_record(
    alg: HashAlgorithm,
    anchor: &Checkpoint,
    r: &RecordPart<'_>,
) -> Result<Checked, AuditError> {
    let fault = |fault| AuditError::Record { index: r.index, fault };
    if r.index >= anchor.size {
        return Err(fault(RecordFault::BeyondAnchor { anchor_size: anchor.size }));
    }
    let leaf_hash = alg.leaf_hash_parts(&[r.timestamp, r.payload]);
    verify_inclusion(alg, r.index, anchor.size, &leaf_hash, &r.path, &anchor.root)
        .map_err(|e| fault(RecordFault::Proof(e)))?;
    let timestamp = Timestamp::from_bytes(r.timestamp)
        .map_err(|e| fault(RecordFault::Timestamp(e.to_string())))?;
    if is_system_payload(r.payload) {
        return Err(fault(RecordFault::SystemRecord));
    }
    let event = events::decode(r.payload).map_err(|e| fault(RecordFault::Decode(e)))?;
    Ok(Checked { index: r.index, timestamp, leaf_hash, event })
}

/// Order, then proofs and decoding, spread over the machine's cores.
fn check_records(
    alg: HashAlgorithm,
    anchor: &Checkpoint,
    records: &[RecordPart<'_>],
) -> Result<Vec<Checked>, AuditError> {
    for pair in records.windows(2) {
        if let [a, b] = pair {
            if b.index <= a.index {
                return Err(AuditError::Record {
                    index: b.index,
                    fault: RecordFault::OutOfOrder { previous: a.index },
                });
            }
        }
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 16);
    let chunk = records.len().div_ceil(threads).max(1);
    let results: Vec<Result<Vec<Checked>, AuditError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = records
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || part.iter().map(|r| check_record(alg, anchor, r)).collect())
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(AuditError::Malformed {
                        offset: 0,
                        reason: "verifier thread panicked".into(),
                    })
                })
            })
            .collect()
    });
    let mut out = Vec::with_capacity(records.len());
    for part in results {
        out.extend(part?);
    }
    Ok(out)
}

fn check_left_out(anchor: &Checkpoint, left_out: &[u64]) -> Result<(), AuditError> {
    if left_out.windows(2).any(|w| matches!(w, [a, b] if b <= a)) {
        return Err(AuditError::LeftOut("not strictly increasing".into()));
    }
    if left_out.first().is_some_and(|&i| i < anchor.size) {
        return Err(AuditError::LeftOut("names a record the anchor covers".into()));
    }
    Ok(())
}

fn find_request(checked: &[Checked]) -> Result<Option<RequestSummary>, AuditError> {
    let mut found = None;
    for c in checked {
        if let EventBody::AuditTrailRequested(e) = &c.event.body {
            if found.is_some() {
                return Err(AuditError::Record {
                    index: c.index,
                    fault: RecordFault::SecondRequest,
                });
            }
            found = Some(RequestSummary {
                index: c.index,
                timestamp: c.timestamp,
                establishment: e.establishment.clone(),
                funder: e.funder.clone(),
                scope: e.scope.clone(),
                requested_by: e.requested_by.clone(),
            });
        }
    }
    Ok(found)
}

fn check_manifest(
    alg: HashAlgorithm,
    parts: &BundleParts<'_>,
    anchor: &Checkpoint,
    latest: &Checkpoint,
    checked: &[Checked],
    request_index: u64,
    key: &NoteVerifier,
) -> Result<bool, AuditError> {
    let Some(note) = parts.manifest else {
        // Only a key-less export has no manifest, and it anchors on a checkpoint stored before
        // the request: the request is then always left out, never inside the anchor. A bundle
        // holding its request (or leaving nothing out) had its manifest stripped, which is how
        // a record would be removed unseen.
        if request_index != u64::MAX {
            return Err(AuditError::Manifest(format!(
                "missing, but the bundle holds its request (record {request_index}): it was \
                 exported with the log key and signed one"
            )));
        }
        if parts.left_out.is_empty() {
            return Err(AuditError::Manifest(
                "missing, but nothing is left out: an export without the log key always \
                 leaves its own (newer) request out"
                    .into(),
            ));
        }
        return Ok(false);
    };
    let opened =
        open_note(note.as_bytes(), &[key]).map_err(|e| AuditError::Manifest(e.to_string()))?;
    one_signature(note).map_err(AuditError::Manifest)?;
    let leaves: Vec<(u64, Hash)> = checked.iter().map(|c| (c.index, c.leaf_hash)).collect();
    let expected = Manifest {
        origin: anchor.origin.clone(),
        anchor: (anchor.size, anchor.root),
        latest: (latest.size, latest.root),
        older: parts.older.len(),
        request: request_index,
        records: (leaves.len(), records_digest(alg, &leaves)),
        left_out: (parts.left_out.len(), left_out_digest(alg, &parts.left_out)),
    };
    if opened.text != expected.to_text() {
        return Err(AuditError::Manifest(manifest_mismatch(&opened.text, &expected)));
    }
    Ok(true)
}

/// Which line of the signed manifest differs, in words: the signed list binds a digest, so a
/// removed or added record is named by the count it changed, not by its index.
fn manifest_mismatch(signed: &str, expected: &Manifest) -> String {
    let signed_count = |key: &str| {
        signed
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse::<usize>().ok())
    };
    let (present, left_out) = (expected.records.0, expected.left_out.0);
    match (signed_count("records "), signed_count("left-out ")) {
        (Some(n), _) if n > present => {
            format!(
                "{} record(s) removed: the log key signed {n}, the bundle holds {present}",
                n - present
            )
        }
        (Some(n), _) if n < present => {
            format!(
                "{} record(s) added: the log key signed {n}, the bundle holds {present}",
                present - n
            )
        }
        (_, Some(n)) if n != left_out => {
            format!("left-out list changed: the log key signed {n} indexes, the bundle lists {left_out}")
        }
        _ => format!(
            "the signed list does not match the bundle ({present} records, {left_out} left out): \
             a record was replaced, or the checkpoints or request changed"
        ),
    }
}

/// Key of a signature record: (session, version, signer, attestation).
fn signature_parts(
    event: &Event,
) -> Option<(&crate::identity::SessionRef, u32, Signer, &events::Attestation)> {
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

/// Establishment of every record, enrolment of every key, and every signature (in batches
/// over the cores; on a failed batch each item is checked alone to name the record).
fn check_signatures(
    checked: &[Checked],
    establishment: &EstablishmentCode,
) -> Result<HashMap<u64, SignatureCheck>, AuditError> {
    /// A device: the signers it is enrolled for (with the enrolling record), in this bundle.
    struct KeyState {
        establishment: EstablishmentCode,
        signers: HashMap<Signer, u64>,
        revoked_at: Option<u64>,
        parsed: Option<ed25519_dalek::VerifyingKey>,
    }
    let mut keys: HashMap<[u8; 32], KeyState> = HashMap::new();
    let mut pending: Vec<(u64, PendingSignature)> = Vec::new();
    let mut out = HashMap::new();
    for c in checked {
        let fault = |fault| AuditError::Record { index: c.index, fault };
        let found = c.event.body.establishment();
        if found != establishment {
            return Err(fault(RecordFault::OtherEstablishment { found: found.to_string() }));
        }
        match &c.event.body {
            // Every record is of the audited establishment (checked above), so one key's
            // enrolments are one device's: each adds a signer (a shared device).
            EventBody::SignerKeyEnrolled(e) => {
                let key = keys.entry(e.public_key).or_insert_with(|| KeyState {
                    establishment: e.establishment.clone(),
                    signers: HashMap::new(),
                    revoked_at: None,
                    parsed: signatures::parse_public_key(&e.public_key).ok(),
                });
                key.signers.entry(e.signer.clone()).or_insert(c.index);
            }
            EventBody::SignerKeyRevoked(e) => {
                if let Some(k) = keys.get_mut(&e.public_key) {
                    k.revoked_at.get_or_insert(c.index);
                }
            }
            _ => {}
        }
        let Some((session, version, signer, attestation)) = signature_parts(&c.event) else {
            continue;
        };
        let key = keys
            .get(&attestation.public_key)
            .ok_or_else(|| fault(RecordFault::UnknownSignerKey))?;
        let enrolled_at = match key.signers.get(&signer) {
            Some(&at) if key.establishment == session.establishment => at,
            _ => return Err(fault(RecordFault::KeyNotForSigner)),
        };
        if let Some(revoked_index) = key.revoked_at {
            return Err(fault(RecordFault::KeyRevoked { revoked_index }));
        }
        let message = signatures::attestation_message(
            session,
            version,
            &signer,
            &attestation.challenge,
            attestation.device_time_ns,
        );
        let check = PendingSignature::new(message, attestation).with_parsed_key(key.parsed);
        pending.push((c.index, check));
        out.insert(c.index, SignatureCheck { public_key: attestation.public_key, enrolled_at });
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 16);
    let chunk = pending.len().div_ceil(threads).max(1);
    let failures: Vec<u64> = std::thread::scope(|scope| {
        let handles: Vec<_> = pending
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    let items: Vec<PendingSignature> =
                        part.iter().map(|(_, p)| p.clone()).collect();
                    match signatures::verify_batch(&items) {
                        Ok(()) => Vec::new(),
                        Err(e) => e
                            .failed
                            .iter()
                            .filter_map(|(i, _)| part.get(*i).map(|(x, _)| *x))
                            .collect(),
                    }
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_else(|_| vec![u64::MAX])).collect()
    });
    if let Some(&index) = failures.iter().min() {
        return Err(AuditError::Record { index, fault: RecordFault::BadSignature });
    }
    Ok(out)
}
