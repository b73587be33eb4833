//! Signed notes: round trips with generated keys and typed errors for bad input.

use coffre_log::note::{
    open_note, sign_note, NoteError, NoteSigner, NoteVerifier, NOTE_SIGNATURES_MAX,
    NOTE_SIZE_BYTES_MAX,
};
use proptest::prelude::*;

fn keys(name: &str) -> (NoteSigner, NoteVerifier) {
    let signer = NoteSigner::generate(name).unwrap();
    let verifier = signer.verifier();
    (signer, verifier)
}

#[test]
fn generated_keys_round_trip_through_their_texts() {
    let (signer, verifier) = keys("coffre.example/log");
    let again = NoteSigner::from_private_key(&signer.to_private_key()).unwrap();
    assert_eq!(again.verifier(), verifier);
    assert_eq!(NoteVerifier::from_verifier_key(&verifier.to_verifier_key()).unwrap(), verifier);
    assert!(!format!("{signer:?}").contains(&signer.to_private_key()[30..]));
    let other = NoteSigner::generate("coffre.example/log").unwrap();
    assert_ne!(other.verifier(), verifier, "two generated keys are equal");
}

#[test]
fn names_with_spaces_or_plus_are_refused() {
    for name in ["", "a b", "a+b", "a\u{a0}b", "tab\t"] {
        assert!(matches!(NoteSigner::generate(name), Err(NoteError::InvalidName(_))), "{name:?}");
        assert!(matches!(
            NoteVerifier::from_public_key(name, &[0x11; 32]),
            Err(NoteError::InvalidName(_)) | Err(NoteError::MalformedKey { .. })
        ));
    }
}

#[test]
fn several_signers_sign_in_order_and_each_verifies_alone() {
    let (a, va) = keys("a.example");
    let (b, vb) = keys("b.example");
    let note = sign_note("line one\n\nline three\n", &[&a, &b]).unwrap();
    let opened = open_note(note.as_bytes(), &[&vb]).unwrap();
    assert_eq!(opened.text, "line one\n\nline three\n");
    assert_eq!(opened.signatures[0].name, "b.example");
    assert_eq!(opened.unverified_lines_count, 1);
    let both = open_note(note.as_bytes(), &[&va, &vb]).unwrap();
    assert_eq!(both.signatures.len(), 2);
    assert_eq!(both.signatures[0].key_id, a.key_id());
}

#[test]
fn altered_text_fails_the_signature() {
    let (s, v) = keys("log");
    let note = sign_note("size 10\n", &[&s]).unwrap();
    let altered = note.replace("size 10", "size 11");
    assert_eq!(
        open_note(altered.as_bytes(), &[&v]),
        Err(NoteError::InvalidSignature { name: "log".into(), key_id: v.key_id() })
    );
}

#[test]
fn a_different_key_under_the_same_name_does_not_verify() {
    let (s, _) = keys("log");
    let (_, impostor) = keys("log");
    let note = sign_note("x\n", &[&s]).unwrap();
    // Another key id: the line is from an unknown key, and nothing verified.
    assert_eq!(
        open_note(note.as_bytes(), &[&impostor]),
        Err(NoteError::NoVerifiedSignature { unverified_count: 1 })
    );
}

#[test]
fn bad_signature_lines_are_typed_errors() {
    let (s, v) = keys("log");
    let note = sign_note("x\n", &[&s]).unwrap();
    let line = note.strip_prefix("x\n\n").unwrap();
    let b64 = line.rsplit(' ').next().unwrap().trim_end();
    let cases = [
        format!("x\n\n\u{2014} log {}!\n", &b64[..b64.len() - 1]),
        "x\n\n\u{2014} log\n".to_owned(),
        format!("x\n\n- log {b64}\n"),
        "x\n\n\u{2014} log AAAAAA==\n".to_owned(),
        format!("x\n\n\u{2014} log {b64} extra\n"),
        format!("x\n\n\u{2014}  log {b64}\n"),
    ];
    for case in cases {
        let err = open_note(case.as_bytes(), &[&v]).unwrap_err();
        assert!(matches!(err, NoteError::MalformedSignatureLine { .. }), "{case:?}: {err:?}");
    }
    // Shortened signature of a known key: 4-byte id plus too few signature bytes.
    let short = format!("x\n\n\u{2014} log {}\n", {
        use base64::Engine as _;
        let e = base64::engine::general_purpose::STANDARD;
        let mut raw = e.decode(b64).unwrap();
        raw.truncate(40);
        e.encode(raw)
    });
    assert!(matches!(open_note(short.as_bytes(), &[&v]), Err(NoteError::InvalidSignature { .. })));
}

#[test]
fn control_characters_and_overlong_notes_are_refused() {
    let (s, v) = keys("log");
    assert_eq!(sign_note("a\rb\n", &[&s]), Err(NoteError::ControlCharacter { offset: 1 }));
    let note = sign_note("ok\n", &[&s]).unwrap();
    let tabbed = note.replacen("ok", "o\tk", 1);
    assert_eq!(open_note(tabbed.as_bytes(), &[&v]), Err(NoteError::ControlCharacter { offset: 1 }));
    let big = "a".repeat(NOTE_SIZE_BYTES_MAX) + "\n";
    assert!(matches!(sign_note(&big, &[&s]), Err(NoteError::TooLong { .. })));
    let huge = format!("{big}\n{}", note.strip_prefix("ok\n\n").unwrap());
    assert!(matches!(open_note(huge.as_bytes(), &[&v]), Err(NoteError::TooLong { .. })));
}

#[test]
fn signing_refuses_unsignable_texts() {
    let (s, _) = keys("log");
    assert_eq!(sign_note("no newline", &[&s]), Err(NoteError::MissingFinalNewline));
    assert_eq!(sign_note("", &[&s]), Err(NoteError::MissingFinalNewline));
    assert_eq!(sign_note("x\n", &[]), Err(NoteError::NoSigner));
    let too_many = vec![&s; NOTE_SIGNATURES_MAX + 1];
    assert_eq!(
        sign_note("x\n", &too_many),
        Err(NoteError::TooManySignatures { max: NOTE_SIGNATURES_MAX })
    );
    // Text that looks like a signed note is signed as is and read back unchanged.
    let looks_signed = "x\n\n\u{2014} someone AAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
    let (s2, v2) = keys("log2");
    let note = sign_note(looks_signed, &[&s2]).unwrap();
    assert_eq!(open_note(note.as_bytes(), &[&v2]).unwrap().text, looks_signed);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_valid_text_round_trips(lines in prop::collection::vec("[^\\x00-\\x1f]{0,40}", 1..6)) {
        let (s, v) = keys("prop");
        let text = lines.join("\n") + "\n";
        let note = sign_note(&text, &[&s]).unwrap();
        prop_assert_eq!(open_note(note.as_bytes(), &[&v]).unwrap().text, text);
    }

    #[test]
    fn corrupted_notes_never_verify_altered(flip_at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let (s, v) = keys("prop");
        let note = sign_note("coffre\n42\nroot\n", &[&s]).unwrap();
        let mut bytes = note.into_bytes();
        let i = flip_at.index(bytes.len());
        bytes[i] ^= 1 << bit;
        // Refused, or (a flip in the name of our own line makes it unknown, then nothing
        // verifies) never opened with another text.
        if let Ok(opened) = open_note(&bytes, &[&v]) {
            prop_assert_eq!(opened.text, "coffre\n42\nroot\n");
        }
    }
}
