//! Ed25519 note keys and their text encodings.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};

use super::{is_valid_name, key_id, NoteError, ALG_ED25519};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A named Ed25519 signing key. Its text form (`PRIVATE+KEY+...`) is a secret: whoever holds
/// it signs as this key. `Debug` shows only the name and key id.
#[derive(Clone)]
pub struct NoteSigner {
    name: String,
    key_id: u32,
    key: SigningKey,
}

impl NoteSigner {
    /// A new key with a seed from the operating system's random source.
    pub fn generate(name: &str) -> Result<NoteSigner, NoteError> {
        let mut seed = [0u8; 32];
        getrandom::getrandom(&mut seed).map_err(|e| NoteError::Random(e.to_string()))?;
        let signer = NoteSigner::from_seed(name, &seed);
        seed.fill(0);
        signer
    }

    /// The key of a 32-byte Ed25519 seed (RFC 8032 private key).
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<NoteSigner, NoteError> {
        if !is_valid_name(name) {
            return Err(NoteError::InvalidName(name.to_owned()));
        }
        let key = SigningKey::from_bytes(seed);
        let key_id = key_id(name, key.verifying_key().as_bytes());
        Ok(NoteSigner { name: name.to_owned(), key_id, key })
    }

    /// Parses `PRIVATE+KEY+<name>+<key id>+<base64(0x01 || seed)>` and checks the key id
    /// against the public key derived from the seed.
    pub fn from_private_key(text: &str) -> Result<NoteSigner, NoteError> {
        const KIND: &str = "private";
        let rest = text
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(NoteError::MalformedKey { kind: KIND, reason: "missing PRIVATE+KEY+ prefix" })?;
        let (name, claimed, seed) = parse_key_fields(KIND, rest)?;
        let signer = NoteSigner::from_seed(name, &seed)?;
        if signer.key_id != claimed {
            return Err(NoteError::KeyIdMismatch { claimed, computed: signer.key_id });
        }
        Ok(signer)
    }

    /// The private key text, `PRIVATE+KEY+<name>+<key id>+<base64(0x01 || seed)>`.
    pub fn to_private_key(&self) -> String {
        let mut key = [0u8; 33];
        key[0] = ALG_ED25519;
        key[1..].copy_from_slice(self.key.as_bytes());
        let text = format!("PRIVATE+KEY+{}+{:08x}+{}", self.name, self.key_id, B64.encode(key));
        key.fill(0);
        text
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The matching verifier.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier { name: self.name.clone(), key_id: self.key_id, key: self.key.verifying_key() }
    }

    /// Ed25519 signature of `message` (deterministic, RFC 8032).
    pub(super) fn sign_bytes(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .finish_non_exhaustive()
    }
}

/// A named Ed25519 public key that checks note signatures. Its text form is
/// `<name>+<key id>+<base64(0x01 || public key)>` ([`fmt::Display`] / [`FromStr`]).
#[derive(Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

impl NoteVerifier {
    /// The verifier of a 32-byte Ed25519 public key. Refuses bytes that are not a point of the
    /// curve and weak (small-order) keys, for which one signature can fit many messages.
    pub fn from_public_key(name: &str, public_key: &[u8; 32]) -> Result<NoteVerifier, NoteError> {
        if !is_valid_name(name) {
            return Err(NoteError::InvalidName(name.to_owned()));
        }
        let key = VerifyingKey::from_bytes(public_key).map_err(|_| NoteError::MalformedKey {
            kind: "verifier",
            reason: "not an Ed25519 public key",
        })?;
        if key.is_weak() {
            return Err(NoteError::MalformedKey {
                kind: "verifier",
                reason: "weak (small-order) Ed25519 public key",
            });
        }
        Ok(NoteVerifier { name: name.to_owned(), key_id: key_id(name, public_key), key })
    }

    /// Parses `<name>+<key id>+<base64(0x01 || public key)>` and checks the key id.
    pub fn from_verifier_key(text: &str) -> Result<NoteVerifier, NoteError> {
        let (name, claimed, key) = parse_key_fields("verifier", text)?;
        let computed = key_id(name, &key);
        if computed != claimed {
            return Err(NoteError::KeyIdMismatch { claimed, computed });
        }
        NoteVerifier::from_public_key(name, &key)
    }

    /// The verifier key text.
    pub fn to_verifier_key(&self) -> String {
        self.to_string()
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The raw 32-byte Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// Whether `signature` is a valid Ed25519 signature of `message` by this key. Uses
    /// `verify_strict` (no small-order R, canonical S): a signature from an honest signer,
    /// Go's included, always passes.
    pub(super) fn verify_bytes(&self, message: &[u8], signature: &[u8]) -> bool {
        let Ok(bytes) = <&[u8; 64]>::try_from(signature) else {
            return false;
        };
        let signature = ed25519_dalek::Signature::from_bytes(bytes);
        self.key.verify_strict(message, &signature).is_ok()
    }
}

impl fmt::Display for NoteVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut key = [0u8; 33];
        key[0] = ALG_ED25519;
        key[1..].copy_from_slice(self.key.as_bytes());
        write!(f, "{}+{:08x}+{}", self.name, self.key_id, B64.encode(key))
    }
}

impl fmt::Debug for NoteVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NoteVerifier({self})")
    }
}

impl FromStr for NoteVerifier {
    type Err = NoteError;

    fn from_str(text: &str) -> Result<NoteVerifier, NoteError> {
        NoteVerifier::from_verifier_key(text)
    }
}

/// Splits `<name>+<8 hex digits>+<base64(0x01 || 32 bytes)>` (the base64 may hold `+`).
fn parse_key_fields<'a>(
    kind: &'static str,
    text: &'a str,
) -> Result<(&'a str, u32, [u8; 32]), NoteError> {
    let malformed = |reason| NoteError::MalformedKey { kind, reason };
    let (name, rest) = text.split_once('+').ok_or(malformed("missing '+' after the name"))?;
    let (id_hex, key_b64) = rest.split_once('+').ok_or(malformed("missing '+' after key id"))?;
    if !is_valid_name(name) {
        return Err(NoteError::InvalidName(name.to_owned()));
    }
    // from_str_radix alone would accept a leading '+' sign.
    if id_hex.len() != 8 || !id_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(malformed("key id is not 8 hex digits"));
    }
    let claimed = u32::from_str_radix(id_hex, 16).map_err(|_| malformed("bad key id"))?;
    let key = B64.decode(key_b64).map_err(|_| malformed("key is not standard base64"))?;
    let (&alg, key) = key.split_first().ok_or(malformed("empty key"))?;
    if alg != ALG_ED25519 {
        return Err(NoteError::UnknownKeyAlgorithm(alg));
    }
    let key: [u8; 32] = key.try_into().map_err(|_| malformed("key is not 32 bytes"))?;
    Ok((name, claimed, key))
}
