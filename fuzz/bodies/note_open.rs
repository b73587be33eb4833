//! Target `note_open`: C2SP signed notes (`open_note`) and the key text formats
//! (`NoteVerifier::from_verifier_key`, `NoteSigner::from_private_key`).
//!
//! The whole input is tried as a signed note against two fixed keys, and (if UTF-8) as a
//! verifier key and as a private key. Invariants: an opened note ends with a newline, names
//! only known keys, and re-signing its text with those keys opens to the same text; a parsed
//! key re-serialises to a key text that parses to the same key.

use coffre_log::note::{open_note, sign_note, NoteSigner, NoteVerifier};

/// Name of the first fixed key (the log's).
pub const LOG_KEY_NAME: &str = "coffre.test/log";
/// Name of the second fixed key (a witness).
pub const WITNESS_KEY_NAME: &str = "coffre.test/witness";

/// The two fixed signers the bodies verify against (deterministic seeds).
pub fn signers() -> [NoteSigner; 2] {
    [
        NoteSigner::from_seed(LOG_KEY_NAME, &[7; 32]).expect("valid key name"),
        NoteSigner::from_seed(WITNESS_KEY_NAME, &[9; 32]).expect("valid key name"),
    ]
}

fn same_verifier(a: &NoteVerifier, b: &NoteVerifier) -> bool {
    a.name() == b.name() && a.key_id() == b.key_id() && a.public_key() == b.public_key()
}

/// The fuzz body.
pub fn run(data: &[u8]) {
    let signers = signers();
    let verifiers = [signers[0].verifier(), signers[1].verifier()];
    if let Ok(note) = open_note(data, &[&verifiers[0], &verifiers[1]]) {
        assert!(note.text.ends_with('\n'), "an opened note's text lacks its final newline");
        assert!(!note.signatures.is_empty(), "a note opened without a verified signature");
        let mut used = Vec::new();
        for sig in &note.signatures {
            let k = signers
                .iter()
                .position(|s| s.name() == sig.name && s.key_id() == sig.key_id)
                .expect("a verified signature names a given key");
            used.push(&signers[k]);
        }
        let resigned = sign_note(&note.text, &used).expect("an opened text signs again");
        let again = open_note(resigned.as_bytes(), &[&verifiers[0], &verifiers[1]])
            .expect("a re-signed note opens");
        assert_eq!(again.text, note.text);
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(v) = NoteVerifier::from_verifier_key(text) {
        let again = NoteVerifier::from_verifier_key(&v.to_verifier_key())
            .expect("own verifier key text parses");
        assert!(same_verifier(&v, &again), "verifier key round trip changed the key");
    }
    if let Ok(s) = NoteSigner::from_private_key(text) {
        let again =
            NoteSigner::from_private_key(&s.to_private_key()).expect("own private key text parses");
        assert!(
            same_verifier(&s.verifier(), &again.verifier()),
            "private key round trip changed it"
        );
    }
}

/// Seeds: notes signed by one key, both keys, an unknown key, and the key texts.
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    let [log, witness] = signers();
    let stranger = NoteSigner::from_seed("someone.else/key", &[1; 32]).expect("valid key name");
    let text = "coffre.test/log\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
    let sign = |signers: &[&NoteSigner]| sign_note(text, signers).expect("sign").into_bytes();
    vec![
        ("note-log".to_string(), sign(&[&log])),
        ("note-log-witness".to_string(), sign(&[&log, &witness])),
        ("note-stranger-log".to_string(), sign(&[&stranger, &log])),
        ("verifier-key".to_string(), log.verifier().to_verifier_key().into_bytes()),
        ("private-key".to_string(), witness.to_private_key().into_bytes()),
    ]
}
