//! What a signer signs, and how signatures are checked (one by one, or in a batch at ingest).
//!
//! The signed message is written by hand, not with bincode, so that a student's phone app in
//! any language can build it from this description (docs/ATTENDANCE.md):
//!
//! ```text
//! "coffre-attendance/attestation/v1\n"          33 bytes, domain separation
//! u16 LE len || establishment code (UTF-8)
//! u16 LE len || session id (UTF-8)
//! u32 LE      session version
//! u8          signer kind: 1 student, 2 teacher
//!   student:  u16 LE len || INE, u16 LE year, u8 month, u8 day (birth date)
//!   teacher:  u16 LE len || teacher id
//! [u8; 32]    roll-call challenge (QR token)
//! u64 LE      signer's device time, UTC ns
//! ```

use crate::events::{Attestation, CHALLENGE_LEN};
use crate::identity::{SessionRef, Signer};
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

/// Domain-separation prefix of every attestation message.
pub const ATTESTATION_DOMAIN: &[u8] = b"coffre-attendance/attestation/v1\n";

/// Why a signature or key is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The 32 bytes are not an Ed25519 point.
    #[error("public key is not a valid Ed25519 point")]
    MalformedKey,
    /// The key has small order: anyone could sign for it.
    #[error("public key is weak (small order)")]
    WeakKey,
    /// The signature does not verify for this message and key.
    #[error("signature does not verify")]
    Invalid,
}

/// A batch in which some signatures failed, by position in the batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} of the batch's signatures failed", failed.len())]
pub struct BatchError {
    /// Positions of the failing items, with why each failed.
    pub failed: Vec<(usize, SignatureError)>,
}

fn put_text(out: &mut Vec<u8>, text: &str) {
    // Identity texts are at most 1000 characters (4000 bytes): the length fits a u16.
    let len = u16::try_from(text.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(text.as_bytes().get(..usize::from(len)).unwrap_or_default());
}

/// The bytes a signer signs for `session` at `version` (see the module doc for the layout).
pub fn attestation_message(
    session: &SessionRef,
    version: u32,
    signer: &Signer,
    challenge: &[u8; CHALLENGE_LEN],
    device_time_ns: u64,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(ATTESTATION_DOMAIN.len() + 192);
    out.extend_from_slice(ATTESTATION_DOMAIN);
    put_text(&mut out, session.establishment.as_str());
    put_text(&mut out, session.session.as_str());
    out.extend_from_slice(&version.to_le_bytes());
    match signer {
        Signer::Student(student) => {
            out.push(1);
            put_text(&mut out, student.ine.as_str());
            out.extend_from_slice(&student.birth_date.year().to_le_bytes());
            out.push(student.birth_date.month());
            out.push(student.birth_date.day());
        }
        Signer::Teacher(teacher) => {
            out.push(2);
            put_text(&mut out, teacher.as_str());
        }
    }
    out.extend_from_slice(challenge);
    out.extend_from_slice(&device_time_ns.to_le_bytes());
    out
}

/// Signs an attestation (what a signer's device does; used by clients and tests).
pub fn sign(
    key: &SigningKey,
    session: &SessionRef,
    version: u32,
    signer: &Signer,
    challenge: &[u8; CHALLENGE_LEN],
    device_time_ns: u64,
) -> Attestation {
    let message = attestation_message(session, version, signer, challenge, device_time_ns);
    Attestation {
        public_key: key.verifying_key().to_bytes(),
        challenge: *challenge,
        device_time_ns,
        signature: key.sign(&message).to_bytes(),
    }
}

/// Parses a public key, refusing invalid and small-order points (checked at enrolment).
pub fn parse_public_key(bytes: &[u8; 32]) -> Result<VerifyingKey, SignatureError> {
    let key = VerifyingKey::from_bytes(bytes).map_err(|_| SignatureError::MalformedKey)?;
    if key.is_weak() {
        return Err(SignatureError::WeakKey);
    }
    Ok(key)
}

/// A signature waiting to be checked: message, key and signature bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingSignature {
    /// The signed message ([`attestation_message`]).
    pub message: Vec<u8>,
    /// The signer's public key.
    pub public_key: [u8; 32],
    /// The signature.
    pub signature: [u8; 64],
    /// `public_key` already decompressed and checked (from the key's enrolment), used by
    /// batch verification.
    pub(crate) parsed_key: Option<VerifyingKey>,
}

impl PendingSignature {
    /// The same check with `public_key` already decompressed (must be that key's point).
    pub(crate) fn with_parsed_key(mut self, key: Option<VerifyingKey>) -> PendingSignature {
        self.parsed_key = key.filter(|k| k.to_bytes() == self.public_key);
        self
    }

    /// The pending check for an attestation over `message`.
    pub fn new(message: Vec<u8>, attestation: &Attestation) -> PendingSignature {
        PendingSignature {
            message,
            public_key: attestation.public_key,
            signature: attestation.signature,
            parsed_key: None,
        }
    }

    /// Verifies strictly (`verify_strict`: no small-order key or mixed-order R accepted).
    pub fn verify(&self) -> Result<(), SignatureError> {
        let key = parse_public_key(&self.public_key)?;
        let signature = Signature::from_bytes(&self.signature);
        key.verify_strict(&self.message, &signature).map_err(|_| SignatureError::Invalid)
    }
}

/// Verifies many signatures at once (ingest throughput). On failure, each item is verified
/// strictly on its own to say which failed. An accepted batch is not re-checked strictly:
/// batch verification may accept a signature crafted by the key holder with a mixed-order R
/// that `verify_strict` would refuse; keys are refused weak at enrolment, so only the key's
/// own holder could produce such a signature, and it would be their valid consent anyway.
pub fn verify_batch(items: &[PendingSignature]) -> Result<(), BatchError> {
    let mut keys = Vec::with_capacity(items.len());
    let mut failed = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match item.parsed_key.map_or_else(|| parse_public_key(&item.public_key), Ok) {
            Ok(key) => keys.push(key),
            Err(e) => failed.push((i, e)),
        }
    }
    if failed.is_empty() {
        let messages: Vec<&[u8]> = items.iter().map(|i| i.message.as_slice()).collect();
        let signatures: Vec<Signature> =
            items.iter().map(|i| Signature::from_bytes(&i.signature)).collect();
        if ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok() {
            return Ok(());
        }
    }
    let failed: Vec<_> = items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| item.verify().err().map(|e| (i, e)))
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(BatchError { failed })
    }
}

/// Below this many items a batch is verified on the calling thread.
pub const PARALLEL_BATCH_MIN: usize = 256;

/// [`verify_batch`] split over the machine's cores (up to 16 threads) for large batches;
/// failures keep their positions in `items`.
pub fn verify_batch_parallel(items: &[PendingSignature]) -> Result<(), BatchError> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 16);
    if threads == 1 || items.len() < PARALLEL_BATCH_MIN {
        return verify_batch(items);
    }
    let chunk = items.len().div_ceil(threads);
    let mut failed: Vec<(usize, SignatureError)> = std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .enumerate()
            .map(|(n, part)| {
                scope.spawn(move || match verify_batch(part) {
                    Ok(()) => Vec::new(),
                    Err(e) => e.failed.into_iter().map(|(i, err)| (n * chunk + i, err)).collect(),
                })
            })
            .collect();
        handles
            .into_iter()
            .zip(items.chunks(chunk).enumerate())
            .flat_map(|(h, (n, part))| {
                // A panicked verifier thread proves nothing: its items count as failed.
                h.join().unwrap_or_else(|_| {
                    (0..part.len()).map(|i| (n * chunk + i, SignatureError::Invalid)).collect()
                })
            })
            .collect()
    });
    failed.sort_by_key(|(i, _)| *i);
    if failed.is_empty() {
        Ok(())
    } else {
        Err(BatchError { failed })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{Date, EstablishmentCode, Ine, SessionId, Student, TeacherId};

    fn session() -> SessionRef {
        SessionRef {
            establishment: EstablishmentCode::new("LYC-01").unwrap(),
            session: SessionId::new("S-42").unwrap(),
        }
    }

    fn student() -> Signer {
        Signer::Student(Student {
            ine: Ine::parse("1234567890V").unwrap(),
            birth_date: Date::new(2008, 3, 14).unwrap(),
        })
    }

    fn pending(key: &SigningKey, version: u32, time: u64) -> PendingSignature {
        let a = sign(key, &session(), version, &student(), &[7; 32], time);
        PendingSignature::new(
            attestation_message(&session(), version, &student(), &[7; 32], time),
            &a,
        )
    }

    #[test]
    fn message_layout_is_pinned() {
        let m = attestation_message(
            &session(),
            2,
            &Signer::Teacher(TeacherId::new("T1").unwrap()),
            &[0xab; 32],
            0x0102,
        );
        let mut expected = ATTESTATION_DOMAIN.to_vec();
        expected.extend_from_slice(b"\x06\x00LYC-01\x04\x00S-42\x02\x00\x00\x00\x02\x02\x00T1");
        expected.extend_from_slice(&[0xab; 32]);
        expected.extend_from_slice(&[2, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(m, expected);
    }

    #[test]
    fn any_tampered_field_breaks_the_signature() {
        let key = SigningKey::from_bytes(&[1; 32]);
        let good = pending(&key, 1, 1_000);
        assert_eq!(good.verify(), Ok(()));
        // Another version, another time: the message differs, the signature does not follow.
        let moved = PendingSignature { message: pending(&key, 2, 1_000).message, ..good.clone() };
        assert_eq!(moved.verify(), Err(SignatureError::Invalid));
        let later = PendingSignature { message: pending(&key, 1, 1_001).message, ..good.clone() };
        assert_eq!(later.verify(), Err(SignatureError::Invalid));
        let mut flipped = good.clone();
        flipped.signature[5] ^= 1;
        assert_eq!(flipped.verify(), Err(SignatureError::Invalid));
        let other = SigningKey::from_bytes(&[2; 32]).verifying_key().to_bytes();
        assert_eq!(
            PendingSignature { public_key: other, ..good }.verify(),
            Err(SignatureError::Invalid)
        );
    }

    #[test]
    fn weak_and_malformed_keys_are_refused() {
        // The identity point (y = 1) has small order.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(parse_public_key(&identity), Err(SignatureError::WeakKey));
        // y = 2 is not on the curve.
        let mut off = [0u8; 32];
        off[0] = 2;
        assert_eq!(parse_public_key(&off), Err(SignatureError::MalformedKey));
    }

    #[test]
    fn batch_verification_names_the_failing_items() {
        let items: Vec<_> = (0..8u8)
            .map(|i| pending(&SigningKey::from_bytes(&[i + 1; 32]), 1, u64::from(i)))
            .collect();
        assert_eq!(verify_batch(&items), Ok(()));
        let mut bad = items.clone();
        bad[3].signature[0] ^= 0x40;
        bad[6].message.push(0);
        assert_eq!(
            verify_batch(&bad),
            Err(BatchError {
                failed: vec![(3, SignatureError::Invalid), (6, SignatureError::Invalid)]
            })
        );
        assert_eq!(verify_batch(&[]), Ok(()));
    }

    #[test]
    fn parallel_batch_verification_names_failures_by_their_position_in_the_whole_batch() {
        let key = SigningKey::from_bytes(&[9; 32]);
        let items: Vec<_> = (0..600u64).map(|i| pending(&key, 1, i)).collect();
        assert_eq!(verify_batch_parallel(&items), Ok(()));
        let mut bad = items.clone();
        bad[5].signature[0] ^= 0x40;
        bad[599].message.push(0);
        assert_eq!(
            verify_batch_parallel(&bad),
            Err(BatchError {
                failed: vec![(5, SignatureError::Invalid), (599, SignatureError::Invalid)]
            })
        );
    }
}
