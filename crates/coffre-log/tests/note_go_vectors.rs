//! Golden tests from Go's golang.org/x/mod/sumdb/note (note.go and note_test.go): the same
//! keys, texts and signed output, both ways.

use coffre_log::note::{
    open_note, sign_note, NoteError, NoteSignature, NoteSigner, NoteVerifier, NOTE_SIGNATURES_MAX,
};

const PETER_SKEY: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n";
const PETER_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_SIG: &str = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

fn peter() -> NoteVerifier {
    NoteVerifier::from_verifier_key(PETER_VKEY).unwrap()
}

fn enoch() -> NoteVerifier {
    NoteVerifier::from_verifier_key(ENOCH_VKEY).unwrap()
}

fn sig(name: &str, key_id: u32) -> NoteSignature {
    NoteSignature { name: name.to_owned(), key_id }
}

fn signed(sigs: &[&str]) -> String {
    format!("{TEXT}\n{}", sigs.concat())
}

#[test]
fn signing_gives_the_exact_bytes_of_go() {
    let signer = NoteSigner::from_private_key(PETER_SKEY).unwrap();
    assert_eq!(signer.name(), "PeterNeumann");
    assert_eq!(signer.key_id(), 0xc74f20a3);
    assert_eq!(sign_note(TEXT, &[&signer]).unwrap(), signed(&[PETER_SIG]));
}

#[test]
fn key_texts_round_trip_exactly() {
    let signer = NoteSigner::from_private_key(PETER_SKEY).unwrap();
    assert_eq!(signer.to_private_key(), PETER_SKEY);
    assert_eq!(signer.verifier().to_verifier_key(), PETER_VKEY);
    assert_eq!(signer.verifier(), peter());
    assert_eq!(peter().to_string(), PETER_VKEY);
    assert_eq!(enoch().to_verifier_key(), ENOCH_VKEY);
    assert_eq!(ENOCH_VKEY.parse::<NoteVerifier>().unwrap().key_id(), 0xaf0cfe78);
}

/// Every proper substring and every one-byte increment of a key is refused (Go's
/// TestNewVerifier and TestNewSigner).
fn assert_manglings_refused(key: &str, parse: impl Fn(&str) -> bool) {
    let b = key.as_bytes();
    for i in 0..=b.len() {
        for j in i + 1..=b.len() {
            if i != 0 || j != b.len() {
                let sub = std::str::from_utf8(&b[i..j]).unwrap();
                assert!(!parse(sub), "substring {sub:?} was accepted");
            }
        }
    }
    let mut b = b.to_vec();
    for i in 0..b.len() {
        b[i] += 1;
        let mangled = std::str::from_utf8(&b).unwrap();
        assert!(!parse(mangled), "mangled key {mangled:?} was accepted");
        b[i] -= 1;
    }
}

#[test]
fn mangled_verifier_keys_are_refused() {
    assert_manglings_refused(PETER_VKEY, |k| NoteVerifier::from_verifier_key(k).is_ok());
    // Wrong-length key and unknown algorithm, each with a key id adjusted to match.
    assert!(matches!(
        NoteVerifier::from_verifier_key(
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
        ),
        Err(NoteError::MalformedKey { .. })
    ));
    assert_eq!(
        NoteVerifier::from_verifier_key(
            "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
        ),
        Err(NoteError::UnknownKeyAlgorithm(0x65))
    );
}

#[test]
fn mangled_private_keys_are_refused() {
    assert_manglings_refused(PETER_SKEY, |k| NoteSigner::from_private_key(k).is_ok());
}

#[test]
fn go_signed_notes_open_with_known_keys_and_ignore_unknown_ones() {
    let (peter, enoch) = (peter(), enoch());
    let note = signed(&[PETER_SIG, ENOCH_SIG]);

    let one = open_note(note.as_bytes(), &[&peter]).unwrap();
    assert_eq!(one.text, TEXT);
    assert_eq!(one.signatures, vec![sig("PeterNeumann", 0xc74f20a3)]);
    assert_eq!(one.unverified_lines_count, 1);

    let both = open_note(note.as_bytes(), &[&peter, &enoch]).unwrap();
    assert_eq!(
        both.signatures,
        vec![sig("PeterNeumann", 0xc74f20a3), sig("EnochRoot", 0xaf0cfe78)]
    );
    assert_eq!(both.unverified_lines_count, 0);

    // Enoch's line was signed by Go with a key we never held: it verifies alone.
    let enoch_only = open_note(signed(&[ENOCH_SIG]).as_bytes(), &[&enoch]).unwrap();
    assert_eq!(enoch_only.signatures, vec![sig("EnochRoot", 0xaf0cfe78)]);

    assert_eq!(
        open_note(note.as_bytes(), &[]),
        Err(NoteError::NoVerifiedSignature { unverified_count: 2 })
    );
}

#[test]
fn duplicated_verifiers_are_ambiguous_only_when_used() {
    let (peter, enoch) = (peter(), enoch());
    assert_eq!(
        open_note(signed(&[ENOCH_SIG]).as_bytes(), &[&enoch, &peter, &enoch]),
        Err(NoteError::AmbiguousVerifier { name: "EnochRoot".into(), key_id: 0xaf0cfe78 })
    );
    assert!(open_note(signed(&[PETER_SIG]).as_bytes(), &[&enoch, &peter, &enoch]).is_ok());
}

#[test]
fn more_than_a_hundred_signatures_are_refused() {
    let many = signed(&vec![PETER_SIG; NOTE_SIGNATURES_MAX + 1]);
    let too_many = Err(NoteError::TooManySignatures { max: NOTE_SIGNATURES_MAX });
    assert_eq!(open_note(many.as_bytes(), &[&peter()]), too_many);
    assert_eq!(open_note(many.as_bytes(), &[]), too_many);
    let exactly = signed(&vec![PETER_SIG; NOTE_SIGNATURES_MAX]);
    assert_eq!(open_note(exactly.as_bytes(), &[&peter()]).unwrap().signatures.len(), 1);
}

fn insert_abcd(line: &str) -> String {
    format!("{}ABCD{}", &line[..60], &line[60..])
}

#[test]
fn a_bad_signature_by_a_known_key_rejects_the_note() {
    let note = signed(&[&insert_abcd(PETER_SIG)]);
    assert_eq!(
        open_note(note.as_bytes(), &[&peter()]),
        Err(NoteError::InvalidSignature { name: "PeterNeumann".into(), key_id: 0xc74f20a3 })
    );
}

#[test]
fn repeated_lines_count_once() {
    let bad_enoch = insert_abcd(ENOCH_SIG);
    let note = signed(&[PETER_SIG, PETER_SIG, ENOCH_SIG, ENOCH_SIG, &bad_enoch]);
    let opened = open_note(note.as_bytes(), &[&peter()]).unwrap();
    assert_eq!(opened.signatures, vec![sig("PeterNeumann", 0xc74f20a3)]);
    assert_eq!(opened.unverified_lines_count, 2);
}

type ErrorCheck = fn(&NoteError) -> bool;

#[test]
fn go_malformed_messages_are_refused() {
    let peter = peter();
    let cases: Vec<(String, ErrorCheck)> = vec![
        (TEXT.to_owned(), |e| matches!(e, NoteError::MissingSignatureBlock)),
        (format!("{TEXT}\n"), |e| matches!(e, NoteError::MissingSignatureBlock)),
        (format!("{TEXT}\n{}", &PETER_SIG[..PETER_SIG.len() - 1]), |e| {
            matches!(e, NoteError::MissingSignatureBlock)
        }),
        (format!("\x01{TEXT}\n{PETER_SIG}"), |e| {
            matches!(e, NoteError::ControlCharacter { offset: 0 })
        }),
        (format!("{TEXT}\n\u{2014} Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="), |e| {
            matches!(e, NoteError::MissingSignatureBlock)
        }),
        (format!("{TEXT}\n{PETER_SIG}Unexpected line.\n"), |e| {
            matches!(e, NoteError::MalformedSignatureLine { line_number: 2, .. })
        }),
    ];
    for (msg, expected) in cases {
        let err = open_note(msg.as_bytes(), &[&peter]).unwrap_err();
        assert!(expected(&err), "{msg:?} gave {err:?}");
    }
    let mut not_utf8 = b"\xff".to_vec();
    not_utf8.extend_from_slice(signed(&[PETER_SIG]).as_bytes());
    assert_eq!(open_note(&not_utf8, &[&peter]), Err(NoteError::NotUtf8));
}
