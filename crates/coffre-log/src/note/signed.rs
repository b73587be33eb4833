//! Signing and opening notes.

use base64::Engine as _;

use super::{
    is_valid_name, NoteError, NoteSigner, NoteVerifier, NOTE_SIGNATURES_MAX, NOTE_SIZE_BYTES_MAX,
};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Start of every signature line: em dash (U+2014) and a space.
const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// A signature that verified: the key's name and id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteSignature {
    /// Key name.
    pub name: String,
    /// Key id.
    pub key_id: u32,
}

/// A note whose signature by at least one given verifier checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedNote {
    /// The signed text, final newline included.
    pub text: String,
    /// Verified signatures, in note order, one per key.
    pub signatures: Vec<NoteSignature>,
    /// Distinct signature lines from keys not among the verifiers (ignored, as the spec asks).
    pub unverified_lines_count: usize,
}

/// Signs `text` (which must end with a newline) with every signer, in order, and returns the
/// signed note. The output is byte-identical to Go's `note.Sign` for the same keys.
pub fn sign_note(text: &str, signers: &[&NoteSigner]) -> Result<String, NoteError> {
    if signers.is_empty() {
        return Err(NoteError::NoSigner);
    }
    if signers.len() > NOTE_SIGNATURES_MAX {
        return Err(NoteError::TooManySignatures { max: NOTE_SIGNATURES_MAX });
    }
    if !text.ends_with('\n') {
        return Err(NoteError::MissingFinalNewline);
    }
    check_characters(text)?;
    let mut out = String::with_capacity(text.len() + 1 + signers.len() * 120);
    out.push_str(text);
    out.push('\n');
    for signer in signers {
        let mut raw = [0u8; 68];
        raw[..4].copy_from_slice(&signer.key_id().to_be_bytes());
        raw[4..].copy_from_slice(&signer.sign_bytes(text.as_bytes()));
        out.push_str(SIGNATURE_PREFIX);
        out.push_str(signer.name());
        out.push(' ');
        out.push_str(&B64.encode(raw));
        out.push('\n');
    }
    if out.len() > NOTE_SIZE_BYTES_MAX {
        return Err(NoteError::TooLong {
            size_bytes: out.len(),
            size_bytes_max: NOTE_SIZE_BYTES_MAX,
        });
    }
    // No ambiguity is possible: signature lines hold no newline, so the last blank line of
    // `out` is always the separator just written, and `open_note` reads back exactly `text`.
    Ok(out)
}

/// Parses a signed note and checks its signatures against `verifiers`, as Go's `note.Open`
/// does: lines from unknown keys (name and key id) are ignored and counted; every line of a
/// known key must verify (repeated lines count once); at least one signature from the
/// verifiers must be present.
pub fn open_note(note: &[u8], verifiers: &[&NoteVerifier]) -> Result<VerifiedNote, NoteError> {
    let parsed = parse(note)?;
    let mut signatures: Vec<NoteSignature> = Vec::new();
    let mut unverified: Vec<&str> = Vec::new();
    for line in &parsed.lines {
        let mut matching =
            verifiers.iter().filter(|v| v.name() == line.name && v.key_id() == line.key_id);
        let Some(verifier) = matching.next() else {
            if !unverified.contains(&line.text) {
                unverified.push(line.text);
            }
            continue;
        };
        if matching.next().is_some() {
            return Err(NoteError::AmbiguousVerifier {
                name: line.name.to_owned(),
                key_id: line.key_id,
            });
        }
        // Go skips a known key's repeated lines unchecked; the C2SP spec says a known key's
        // signature MUST be verified, so every line is (at most NOTE_SIGNATURES_MAX of them).
        if !verifier.verify_bytes(parsed.text.as_bytes(), &line.signature) {
            return Err(NoteError::InvalidSignature {
                name: line.name.to_owned(),
                key_id: line.key_id,
            });
        }
        if signatures.iter().any(|s| s.name == line.name && s.key_id == line.key_id) {
            continue;
        }
        signatures.push(NoteSignature { name: line.name.to_owned(), key_id: line.key_id });
    }
    if signatures.is_empty() {
        return Err(NoteError::NoVerifiedSignature { unverified_count: unverified.len() });
    }
    Ok(VerifiedNote {
        text: parsed.text.to_owned(),
        signatures,
        unverified_lines_count: unverified.len(),
    })
}

struct ParsedNote<'a> {
    text: &'a str,
    lines: Vec<SignatureLine<'a>>,
}

struct SignatureLine<'a> {
    /// The whole line after the prefix, to drop repeated unknown lines.
    text: &'a str,
    name: &'a str,
    key_id: u32,
    signature: Vec<u8>,
}

/// Splits a note into text and signature lines, checking every rule of the format.
fn parse(note: &[u8]) -> Result<ParsedNote<'_>, NoteError> {
    if note.len() > NOTE_SIZE_BYTES_MAX {
        return Err(NoteError::TooLong {
            size_bytes: note.len(),
            size_bytes_max: NOTE_SIZE_BYTES_MAX,
        });
    }
    let note = std::str::from_utf8(note).map_err(|_| NoteError::NotUtf8)?;
    check_characters(note)?;
    // The text ends at the last blank line: the signature block holds no empty line.
    let split = note.rfind("\n\n").ok_or(NoteError::MissingSignatureBlock)?;
    let (text, block) = (&note[..split + 1], &note[split + 2..]);
    if block.is_empty() || !block.ends_with('\n') {
        return Err(NoteError::MissingSignatureBlock);
    }
    let mut lines = Vec::new();
    for (i, line) in block[..block.len() - 1].split('\n').enumerate() {
        if i >= NOTE_SIGNATURES_MAX {
            return Err(NoteError::TooManySignatures { max: NOTE_SIGNATURES_MAX });
        }
        lines.push(parse_signature_line(i + 1, line)?);
    }
    Ok(ParsedNote { text, lines })
}

fn parse_signature_line(line_number: usize, line: &str) -> Result<SignatureLine<'_>, NoteError> {
    let malformed = |reason| NoteError::MalformedSignatureLine { line_number, reason };
    let body = line.strip_prefix(SIGNATURE_PREFIX).ok_or(malformed("does not start with '— '"))?;
    let (name, b64) = body.split_once(' ').ok_or(malformed("no space after the key name"))?;
    if !is_valid_name(name) {
        return Err(malformed("invalid key name"));
    }
    let raw = B64.decode(b64).map_err(|_| malformed("signature is not standard base64"))?;
    match raw.split_first_chunk::<4>() {
        Some((id, signature)) if !signature.is_empty() => Ok(SignatureLine {
            text: body,
            name,
            key_id: u32::from_be_bytes(*id),
            signature: signature.to_vec(),
        }),
        _ => Err(malformed("signature shorter than 5 bytes")),
    }
}

/// Signed notes are UTF-8 without ASCII control characters other than newline.
fn check_characters(text: &str) -> Result<(), NoteError> {
    match text.bytes().position(|b| b < 0x20 && b != b'\n') {
        Some(offset) => Err(NoteError::ControlCharacter { offset }),
        None => Ok(()),
    }
}
