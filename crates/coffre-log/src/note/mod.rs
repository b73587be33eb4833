//! C2SP signed notes (<https://c2sp.org/signed-note>) with Ed25519 keys, byte-compatible
//! with Go's `golang.org/x/mod/sumdb/note`.
//!
//! A signed note is a text ending in a newline, a blank line, then one or more signature lines
//! `— <key name> <base64(4-byte key id || 64-byte Ed25519 signature)>`. The signed message is
//! the text, final newline included. Keys travel as text:
//!
//! - private: `PRIVATE+KEY+<name>+<8 hex digits key id>+<base64(0x01 || 32-byte seed)>`
//! - verifier: `<name>+<8 hex digits key id>+<base64(0x01 || 32-byte public key)>`
//!
//! where the key id is the first four bytes, big-endian, of
//! `SHA-256(name || 0x0A || 0x01 || public key)`. See docs/PROOFS.md.
//!
//! ```
//! use coffre_log::note::{open_note, sign_note, NoteSigner};
//! let signer = NoteSigner::generate("example.org/coffre").unwrap();
//! let verifier = signer.verifier();
//! let signed = sign_note("hello\n", &[&signer]).unwrap();
//! let note = open_note(signed.as_bytes(), &[&verifier]).unwrap();
//! assert_eq!(note.text, "hello\n");
//! assert_eq!(note.signatures[0].key_id, verifier.key_id());
//! ```

mod keys;
mod signed;

pub use keys::{NoteSigner, NoteVerifier};
pub use signed::{open_note, sign_note, NoteSignature, VerifiedNote};

/// Most signature lines a note may carry (as Go's implementation; the C2SP spec asks
/// verifiers to accept at least 16).
pub const NOTE_SIGNATURES_MAX: usize = 100;

/// Largest signed note, in bytes, [`open_note`] and [`sign_note`] handle.
pub const NOTE_SIZE_BYTES_MAX: usize = 256 * 1024;

/// Signature type byte of Ed25519 keys and key ids.
pub const ALG_ED25519: u8 = 0x01;

/// Why a key or a note is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoteError {
    /// A key name is empty, or holds a Unicode space or `+`.
    #[error("invalid key name {0:?}: must be non-empty, without spaces or '+'")]
    InvalidName(String),
    /// A private or verifier key string does not have the expected shape.
    #[error("malformed {kind} key: {reason}")]
    MalformedKey {
        /// `private` or `verifier`.
        kind: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// The key's algorithm byte is not Ed25519 (0x01).
    #[error("unknown key algorithm {0:#04x}")]
    UnknownKeyAlgorithm(u8),
    /// The key id written in a key string is not the one its name and key give.
    #[error("key id {claimed:08x} does not match the key, which has id {computed:08x}")]
    KeyIdMismatch {
        /// Key id in the string.
        claimed: u32,
        /// Key id computed from the name and public key.
        computed: u32,
    },
    /// The operating system's random source failed while generating a key.
    #[error("random source failed: {0}")]
    Random(String),
    /// The note is larger than [`NOTE_SIZE_BYTES_MAX`].
    #[error("note of {size_bytes} bytes exceeds {size_bytes_max} bytes")]
    TooLong {
        /// Size of the input.
        size_bytes: usize,
        /// The limit.
        size_bytes_max: usize,
    },
    /// The note is not valid UTF-8.
    #[error("note is not valid UTF-8")]
    NotUtf8,
    /// The note holds an ASCII control character other than newline.
    #[error("note holds a control character at byte {offset}")]
    ControlCharacter {
        /// Byte offset of the character.
        offset: usize,
    },
    /// The text to sign is empty or does not end with a newline.
    #[error("note text must end with a newline")]
    MissingFinalNewline,
    /// No blank line followed by newline-terminated signature lines ends the note.
    #[error("note does not end with a blank line and signature lines")]
    MissingSignatureBlock,
    /// A line of the signature block is not `— <name> <base64 signature>`.
    #[error("signature line {line_number} is malformed: {reason}")]
    MalformedSignatureLine {
        /// 1-based line number within the signature block.
        line_number: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// More than [`NOTE_SIGNATURES_MAX`] signature lines (or signers).
    #[error("more than {max} signatures")]
    TooManySignatures {
        /// The limit.
        max: usize,
    },
    /// Two given verifiers share the name and key id of a signature line.
    #[error("ambiguous key {name}+{key_id:08x}: several verifiers match")]
    AmbiguousVerifier {
        /// Key name.
        name: String,
        /// Key id.
        key_id: u32,
    },
    /// A signature by a known key does not verify: the note or the signature was altered.
    #[error("invalid signature for key {name}+{key_id:08x}")]
    InvalidSignature {
        /// Key name.
        name: String,
        /// Key id.
        key_id: u32,
    },
    /// No signature line comes from a given verifier.
    #[error("note has no verifiable signatures ({unverified_count} from unknown keys)")]
    NoVerifiedSignature {
        /// Distinct signature lines from unknown keys.
        unverified_count: usize,
    },
    /// [`sign_note`] was given no signer.
    #[error("no signer given")]
    NoSigner,
}

/// Whether `name` is a valid key name: non-empty, no Unicode white space, no `+` (the same
/// rule as Go's `isValidName`; Rust's and Go's white space sets are both Unicode White_Space).
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+')
}

/// The C2SP key id of an Ed25519 key: `SHA-256(name || 0x0A || 0x01 || public_key)[..4]`,
/// big-endian.
pub fn key_id(name: &str, public_key: &[u8; 32]) -> u32 {
    let digest = crate::HashAlgorithm::Sha256.hash_parts(&[
        name.as_bytes(),
        b"\n",
        &[ALG_ED25519],
        public_key,
    ]);
    let [a, b, c, d, ..] = digest.0;
    u32::from_be_bytes([a, b, c, d])
}
