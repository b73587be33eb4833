//! Roll-call challenges shown as QR codes, derived with keyed BLAKE3.
//!
//! A token is 32 bytes: `session tag (8) || window (u64 LE, 8) || MAC (16)`.
//! - the session tag is public (an unkeyed hash of the session and version): a token from
//!   another session is told apart from a forgery;
//! - the window is the rotating window index `time_ns / window_ns`, or [`FIXED_WINDOW`] for
//!   the fixed token (fixed QR, teacher's device, teacher signatures);
//! - the MAC is `keyed_hash(secret, "coffre-attendance/qr-token/v1" || tag || window)[..16]`,
//!   with a per-session secret derived from the vault's master key, so no secret reaches the log.

use crate::identity::SessionRef;
use coffre_clock::Timestamp;
use std::fmt;

/// Length of a token.
pub const TOKEN_LEN: usize = 32;
/// Window value of the fixed token.
pub const FIXED_WINDOW: u64 = u64::MAX;
/// Default rotating window: 10 s.
pub const DEFAULT_WINDOW_NS: u64 = 10_000_000_000;
/// Default validity of a fixed token after the planned end: 15 min.
pub const DEFAULT_FIXED_AFTER_END_NS: u64 = 15 * 60 * 1_000_000_000;

const SECRET_CONTEXT: &[u8] = b"coffre-attendance/qr-secret/v1\n";
const TAG_CONTEXT: &[u8] = b"coffre-attendance/qr-tag/v1\n";
const MAC_CONTEXT: &[u8] = b"coffre-attendance/qr-token/v1\n";

/// A QR token (the roll-call challenge signers sign).
pub type Token = [u8; TOKEN_LEN];

/// The vault's QR master key (kept by the vault's configuration, never logged).
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl MasterKey {
    /// Wraps 32 secret bytes.
    pub const fn new(bytes: [u8; 32]) -> MasterKey {
        MasterKey(bytes)
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

/// Timing of QR tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QrPolicy {
    /// Length of a rotating window (> 0).
    pub window_ns: u64,
    /// How long after the planned end a fixed token stays valid.
    pub fixed_after_end_ns: u64,
}

impl Default for QrPolicy {
    fn default() -> Self {
        QrPolicy { window_ns: DEFAULT_WINDOW_NS, fixed_after_end_ns: DEFAULT_FIXED_AFTER_END_NS }
    }
}

/// Why a token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QrError {
    /// The token belongs to another session or session version.
    #[error("token belongs to another session")]
    OtherSession,
    /// The MAC does not match: the token was not issued by the vault.
    #[error("token is forged")]
    Forged,
    /// A rotating token from a window older than the previous one.
    #[error("token window {window} expired (accepted {first}..={last})")]
    Expired {
        /// The token's window.
        window: u64,
        /// First accepted window.
        first: u64,
        /// Last accepted window.
        last: u64,
    },
    /// A rotating token from a window after the current one.
    #[error("token window {window} is not yet valid (accepted {first}..={last})")]
    NotYetValid {
        /// The token's window.
        window: u64,
        /// First accepted window.
        first: u64,
        /// Last accepted window.
        last: u64,
    },
    /// A fixed token presented after the planned end plus the grace.
    #[error("fixed token expired")]
    FixedExpired,
    /// A fixed token where a rotating one is needed, or the reverse.
    #[error("wrong kind of token for this roll call")]
    WrongKind,
}

/// The per-session-version secret tokens are derived from.
#[derive(Clone)]
pub struct SessionSecret {
    key: [u8; 32],
    tag: [u8; 8],
}

impl fmt::Debug for SessionSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionSecret").field("tag", &self.tag).finish_non_exhaustive()
    }
}

fn session_bytes(session: &SessionRef, version: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(140);
    for text in [session.establishment.as_str(), session.session.as_str()] {
        let len = u16::try_from(text.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(text.as_bytes());
    }
    out.extend_from_slice(&version.to_le_bytes());
    out
}

/// The public tag of a session version: the first 8 bytes of each of its tokens. An auditor
/// without the master key checks with it that a signed challenge belongs to the session.
pub fn session_tag(session: &SessionRef, version: u32) -> [u8; 8] {
    let mut tag_hasher = blake3::Hasher::new();
    tag_hasher.update(TAG_CONTEXT).update(&session_bytes(session, version));
    let mut tag = [0u8; 8];
    tag.copy_from_slice(&tag_hasher.finalize().as_bytes()[..8]);
    tag
}

impl SessionSecret {
    /// Derives the secret of `session` at `version` from the vault's master key.
    pub fn derive(master: &MasterKey, session: &SessionRef, version: u32) -> SessionSecret {
        let id = session_bytes(session, version);
        let mut hasher = blake3::Hasher::new_keyed(&master.0);
        hasher.update(SECRET_CONTEXT).update(&id);
        let key = *hasher.finalize().as_bytes();
        SessionSecret { key, tag: session_tag(session, version) }
    }

    fn token(&self, window: u64) -> Token {
        let mut message = Vec::with_capacity(MAC_CONTEXT.len() + 16);
        message.extend_from_slice(MAC_CONTEXT);
        message.extend_from_slice(&self.tag);
        message.extend_from_slice(&window.to_le_bytes());
        let mac = blake3::keyed_hash(&self.key, &message);
        let mut token = [0u8; TOKEN_LEN];
        token[..8].copy_from_slice(&self.tag);
        token[8..16].copy_from_slice(&window.to_le_bytes());
        token[16..].copy_from_slice(&mac.as_bytes()[..16]);
        token
    }

    /// The fixed token (fixed QR mode, teacher's device, teacher signatures).
    pub fn fixed_token(&self) -> Token {
        self.token(FIXED_WINDOW)
    }

    /// The rotating token of the window containing `time_ns`.
    pub fn rotating_token(&self, time_ns: u64, policy: &QrPolicy) -> Token {
        self.token(time_ns / policy.window_ns.max(1))
    }

    /// Splits a token and checks its tag and MAC; returns its window.
    fn authenticate(&self, token: &Token) -> Result<u64, QrError> {
        let (tag, rest) = token.split_at(8);
        let (window, _) = rest.split_at(8);
        if tag != self.tag {
            return Err(QrError::OtherSession);
        }
        let mut w = [0u8; 8];
        w.copy_from_slice(window);
        let window = u64::from_le_bytes(w);
        // blake3::Hash compares in constant time; compare full tokens rebuilt from the window.
        let expected = self.token(window);
        if blake3::Hash::from_bytes(expected) != blake3::Hash::from_bytes(*token) {
            return Err(QrError::Forged);
        }
        Ok(window)
    }

    /// Checks a rotating token at server time `now`: accepted windows run from the one before
    /// the window of `now.earliest` to the window of `now.latest` (current and previous).
    pub fn verify_rotating(
        &self,
        token: &Token,
        now: &Timestamp,
        policy: &QrPolicy,
    ) -> Result<(), QrError> {
        let window = self.authenticate(token)?;
        if window == FIXED_WINDOW {
            return Err(QrError::WrongKind);
        }
        let size = policy.window_ns.max(1);
        let first = (now.earliest_ns() / size).saturating_sub(1);
        let last = now.latest_ns() / size;
        if window < first {
            return Err(QrError::Expired { window, first, last });
        }
        if window > last {
            return Err(QrError::NotYetValid { window, first, last });
        }
        Ok(())
    }

    /// Checks a fixed token at server time `now`, for a roll call whose session ends at
    /// `planned_end_ns`. Validity starts when the roll call opens (its secret exists only then).
    pub fn verify_fixed(
        &self,
        token: &Token,
        now: &Timestamp,
        planned_end_ns: u64,
        policy: &QrPolicy,
    ) -> Result<(), QrError> {
        if self.authenticate(token)? != FIXED_WINDOW {
            return Err(QrError::WrongKind);
        }
        if now.latest_ns() > planned_end_ns.saturating_add(policy.fixed_after_end_ns) {
            return Err(QrError::FixedExpired);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{EstablishmentCode, SessionId};
    use coffre_clock::{Source, SourceSet, TimeStatus};

    const S: u64 = 1_000_000_000;

    fn session(id: &str) -> SessionRef {
        SessionRef {
            establishment: EstablishmentCode::new("LYC-01").unwrap(),
            session: SessionId::new(id).unwrap(),
        }
    }

    fn at(ns: u64) -> Timestamp {
        Timestamp::new(
            ns,
            ns,
            SourceSet::only(Source::System),
            SourceSet::EMPTY,
            TimeStatus::Synchronized,
        )
        .unwrap()
    }

    fn secret(id: &str, version: u32) -> SessionSecret {
        SessionSecret::derive(&MasterKey::new([9; 32]), &session(id), version)
    }

    #[test]
    fn rotating_tokens_accept_current_and_previous_window_only() {
        let p = QrPolicy::default();
        let s = secret("S1", 1);
        let t = s.rotating_token(1_000 * S + 3 * S, &p); // window 100
        assert_eq!(s.verify_rotating(&t, &at(1_005 * S), &p), Ok(()));
        assert_eq!(s.verify_rotating(&t, &at(1_019 * S), &p), Ok(()));
        assert_eq!(
            s.verify_rotating(&t, &at(1_020 * S), &p),
            Err(QrError::Expired { window: 100, first: 101, last: 102 })
        );
        assert_eq!(
            s.verify_rotating(&t, &at(999 * S), &p),
            Err(QrError::NotYetValid { window: 100, first: 98, last: 99 })
        );
        assert_eq!(
            s.verify_rotating(&s.fixed_token(), &at(1_005 * S), &p),
            Err(QrError::WrongKind)
        );
    }

    #[test]
    fn tokens_of_other_sessions_or_versions_are_refused() {
        let p = QrPolicy::default();
        let t = secret("S2", 1).rotating_token(1_000 * S, &p);
        assert_eq!(
            secret("S1", 1).verify_rotating(&t, &at(1_000 * S), &p),
            Err(QrError::OtherSession)
        );
        let t = secret("S1", 2).fixed_token();
        assert_eq!(secret("S1", 1).verify_fixed(&t, &at(0), S, &p), Err(QrError::OtherSession));
    }

    #[test]
    fn forged_tokens_are_refused() {
        let p = QrPolicy::default();
        let s = secret("S1", 1);
        let mut t = s.rotating_token(1_000 * S, &p);
        t[20] ^= 1;
        assert_eq!(s.verify_rotating(&t, &at(1_000 * S), &p), Err(QrError::Forged));
        // Moving a token to a fresher window without the secret fails the MAC.
        let mut t = s.rotating_token(1_000 * S, &p);
        t[8..16].copy_from_slice(&101u64.to_le_bytes());
        assert_eq!(s.verify_rotating(&t, &at(1_010 * S), &p), Err(QrError::Forged));
        // Same session, different master key.
        let other = SessionSecret::derive(&MasterKey::new([8; 32]), &session("S1"), 1);
        assert_eq!(s.verify_fixed(&other.fixed_token(), &at(0), S, &p), Err(QrError::Forged));
    }

    #[test]
    fn fixed_token_is_valid_until_planned_end_plus_grace() {
        let p = QrPolicy::default();
        let s = secret("S1", 1);
        let end = 10_000 * S;
        let t = s.fixed_token();
        assert_eq!(s.verify_fixed(&t, &at(end + 15 * 60 * S), end, &p), Ok(()));
        assert_eq!(
            s.verify_fixed(&t, &at(end + 15 * 60 * S + 1), end, &p),
            Err(QrError::FixedExpired)
        );
        let rotating = s.rotating_token(end, &p);
        assert_eq!(s.verify_fixed(&rotating, &at(end), end, &p), Err(QrError::WrongKind));
    }
}
