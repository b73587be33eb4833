//! Plausibility flags over verified records: things an auditor should look at. They are
//! reported, never hidden, never fatal: each has innocent explanations too.

use crate::events::{Event, EventBody};
use crate::identity::{SessionRef, Signer};
use crate::qr;
use crate::state::rules::DEFAULT_GRACE_NS;
use crate::state::{AttendanceState, EntryKind};
use coffre_clock::Timestamp;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Students signing with one key in one session version before it is flagged.
pub const SHARED_KEY_SIGNERS_MIN: usize = 2;

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
    /// One signing key (one device) signed for several people in one session version.
    SameDeviceManySigners {
        /// The session.
        session: SessionRef,
        /// The version.
        version: u32,
        /// The key.
        public_key: [u8; 32],
        /// The signature records.
        indexes: Vec<u64>,
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
            Flag::SameDeviceManySigners { session, version, indexes, .. } => write!(
                f,
                "one key signed for {} people in {} v{version} (records {indexes:?})",
                indexes.len(),
                session.session
            ),
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

/// A key used in one session version.
type KeyUse = (SessionRef, u32, [u8; 32]);

/// Every flag over the signatures and the rebuilt state.
pub(crate) fn flags(state: &AttendanceState, signatures: &[SignatureSeen<'_>]) -> Vec<Flag> {
    let mut out = Vec::new();
    let mut by_key: BTreeMap<KeyUse, (BTreeSet<Signer>, Vec<u64>)> = BTreeMap::new();
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
        let entry = by_key.entry((session.clone(), version, attestation.public_key)).or_default();
        entry.0.insert(signer);
        entry.1.push(seen.index);
        by_signature.entry(attestation.signature).or_default().push(seen.index);
        by_data
            .entry((attestation.public_key, attestation.challenge, attestation.device_time_ns))
            .or_default()
            .push(seen.index);
    }
    for ((session, version, public_key), (signers, indexes)) in by_key {
        if signers.len() >= SHARED_KEY_SIGNERS_MIN {
            out.push(Flag::SameDeviceManySigners { session, version, public_key, indexes });
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
