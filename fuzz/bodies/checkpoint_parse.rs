//! Target `checkpoint_parse`: C2SP checkpoint texts (`Checkpoint::parse`) and signed
//! checkpoints (`open_checkpoint`).
//!
//! Input layout: `mode(u8)` then the text. Even mode: the text is parsed; parsing is strict
//! and canonical, so an accepted text must be exactly `to_text()` of what it parsed to. Odd
//! mode: the text is opened as a note signed by the fixed log key; an accepted checkpoint
//! signs and opens back to the same value.

use super::note_open::signers;
use coffre_log::checkpoint::{open_checkpoint, Checkpoint, SignedCheckpoint};

/// The fuzz body.
pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        let Ok(text) = std::str::from_utf8(rest) else {
            return;
        };
        if let Ok(checkpoint) = Checkpoint::parse(text) {
            let again = checkpoint.to_text().expect("a parsed checkpoint has a text");
            assert_eq!(again, text, "checkpoint parsing is not canonical");
        }
    } else {
        let [log, _] = signers();
        if let Ok(checkpoint) = open_checkpoint(rest, &log.verifier()) {
            let note =
                SignedCheckpoint::sign(&checkpoint, &log).expect("an opened checkpoint signs");
            let again = open_checkpoint(note.as_bytes(), &log.verifier()).expect("re-signed opens");
            assert_eq!(again, checkpoint);
        }
    }
}

/// Seeds: plain and signed checkpoints with and without the `coffre-time` line.
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    let [log, _] = signers();
    let root = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    let plain = format!("coffre.test/log\n12\n{root}\n");
    let timed = format!(
        "coffre.test/log\n12\n{root}\ncoffre-time 1796028639000000000 1796028639002000000 3 0 \
         synchronized\nother extension\n"
    );
    let mut out = vec![
        ("plain".to_string(), [&[0u8][..], plain.as_bytes()].concat()),
        ("timed".to_string(), [&[0u8][..], timed.as_bytes()].concat()),
    ];
    for (name, text) in [("signed-plain", &plain), ("signed-timed", &timed)] {
        let checkpoint = Checkpoint::parse(text).expect("seed checkpoint parses");
        let note = SignedCheckpoint::sign(&checkpoint, &log).expect("sign seed checkpoint");
        out.push((name.to_string(), [&[1u8][..], note.as_bytes()].concat()));
    }
    out
}
