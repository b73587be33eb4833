//! C2SP checkpoints: exact text, strict parsing, the coffre-time extension, signing and
//! opening, and real checkpoints signed by Go's sum.golang.org.

use coffre_clock::{Source, SourceSet, TimeStatus, Timestamp};
use coffre_log::checkpoint::{
    open_checkpoint, Checkpoint, CheckpointError, SignedCheckpoint, CHECKPOINT_EXTENSIONS_MAX,
    CHECKPOINT_TEXT_BYTES_MAX,
};
use coffre_log::note::{NoteError, NoteSigner, NoteVerifier};
use coffre_log::{Hash, HashAlgorithm};
use proptest::prelude::*;

const ROOT_B64: &str = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";

fn root() -> Hash {
    Hash::from_base64(ROOT_B64).unwrap()
}

fn timestamp() -> Timestamp {
    Timestamp::new(
        1_700_000_000_000_000_000,
        1_700_000_000_002_000_000,
        SourceSet::only(Source::Gps).with(Source::Ntp),
        SourceSet::only(Source::System),
        TimeStatus::Holdover,
    )
    .unwrap()
}

fn checkpoint() -> Checkpoint {
    Checkpoint {
        origin: "attendance.example.fr/coffre".into(),
        size: 20852163,
        root: root(),
        timestamp: Some(timestamp()),
        extensions: vec!["note: second extension".into()],
    }
}

const TEXT: &str = "attendance.example.fr/coffre\n20852163\n\
                    CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\
                    coffre-time 1700000000000000000 1700000000002000000 3 8 holdover\n\
                    note: second extension\n";

#[test]
fn text_is_exactly_the_documented_layout_and_parses_back() {
    assert_eq!(checkpoint().to_text().unwrap(), TEXT);
    assert_eq!(Checkpoint::parse(TEXT).unwrap(), checkpoint());
}

#[test]
fn c2sp_spec_example_parses_without_extensions() {
    let text = format!("example.com/behind-the-sofa\n20852163\n{ROOT_B64}\n");
    let cp = Checkpoint::parse(&text).unwrap();
    assert_eq!(
        (cp.origin.as_str(), cp.size, cp.root),
        ("example.com/behind-the-sofa", 20852163, root())
    );
    assert_eq!((cp.timestamp, cp.extensions.len()), (None, 0));
    assert_eq!(cp.to_text().unwrap(), text);
}

fn parse_err(text: &str) -> CheckpointError {
    Checkpoint::parse(text).unwrap_err()
}

#[test]
fn sizes_must_be_canonical_decimal() {
    for size in
        ["01", "00", "+1", "-1", " 1", "1 ", "1_000", "0x10", "", "18446744073709551616", "١"]
    {
        let text = format!("o\n{size}\n{ROOT_B64}\n");
        assert_eq!(parse_err(&text), CheckpointError::InvalidSize, "{size:?}");
    }
    assert_eq!(Checkpoint::parse(&format!("o\n0\n{ROOT_B64}\n")).unwrap().size, 0);
    let max = Checkpoint::parse(&format!("o\n18446744073709551615\n{ROOT_B64}\n")).unwrap();
    assert_eq!(max.size, u64::MAX);
}

#[test]
fn roots_must_be_canonical_base64_of_32_bytes() {
    let short = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxqw==";
    let long = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2IA";
    let non_canonical_bits = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=";
    let unpadded = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I";
    let url_safe = "CsUYapGGPo4dkMgIAUqom_Xajj7h2fB2MPA3j2jxq2I=";
    for r in [short, long, non_canonical_bits, unpadded, url_safe, "", " "] {
        assert_eq!(parse_err(&format!("o\n1\n{r}\n")), CheckpointError::InvalidRoot, "{r:?}");
    }
}

#[test]
fn structure_errors_are_typed() {
    assert_eq!(parse_err(""), CheckpointError::MissingFinalNewline);
    assert_eq!(parse_err(&format!("o\n1\n{ROOT_B64}")), CheckpointError::MissingFinalNewline);
    assert_eq!(parse_err("\n1\nx\n"), CheckpointError::EmptyOrigin);
    assert_eq!(parse_err("o\n"), CheckpointError::MissingLine("tree size"));
    assert_eq!(parse_err("o\n1\n"), CheckpointError::MissingLine("root hash"));
    assert_eq!(
        parse_err(&format!("o\n1\n{ROOT_B64}\n\n")),
        CheckpointError::InvalidLine { line_number: 4, reason: "empty line" }
    );
    assert_eq!(
        parse_err(&format!("o\n1\n{ROOT_B64}\next\n\nmore\n")),
        CheckpointError::InvalidLine { line_number: 5, reason: "empty line" }
    );
    assert_eq!(
        parse_err(&format!("o\r\n1\n{ROOT_B64}\n")),
        CheckpointError::InvalidLine { line_number: 1, reason: "control character" }
    );
    let many = format!("o\n1\n{ROOT_B64}\n{}", "x\n".repeat(CHECKPOINT_EXTENSIONS_MAX + 1));
    assert_eq!(
        parse_err(&many),
        CheckpointError::TooManyExtensions { max: CHECKPOINT_EXTENSIONS_MAX }
    );
    let long = format!("{}\n1\n{ROOT_B64}\n", "o".repeat(CHECKPOINT_TEXT_BYTES_MAX));
    assert!(matches!(parse_err(&long), CheckpointError::TooLong { .. }));
}

#[test]
fn time_extension_is_strict() {
    let with = |line: &str| format!("o\n1\n{ROOT_B64}\n{line}\n");
    let bad = [
        "coffre-time",
        "coffre-time 1 2 3 0",
        "coffre-time 1 2 3 0 synchronized extra",
        "coffre-time 01 2 3 0 synchronized",
        "coffre-time 1 2 16 0 synchronized",
        "coffre-time 1 2 3 256 synchronized",
        "coffre-time 1 2 3 0 Synchronized",
        "coffre-time 1  2 3 0 synchronized",
    ];
    for line in bad {
        assert!(
            matches!(parse_err(&with(line)), CheckpointError::InvalidTimeExtension(_)),
            "{line:?}"
        );
    }
    assert!(matches!(
        parse_err(&with("coffre-time 5 4 1 0 synchronized")),
        CheckpointError::Timestamp(_)
    ));
    let second = format!("o\n1\n{ROOT_B64}\nother\ncoffre-time 1 2 1 0 synchronized\n");
    assert_eq!(
        parse_err(&second),
        CheckpointError::InvalidTimeExtension("not the first extension line")
    );
    let twice = format!("o\n1\n{ROOT_B64}\n{0}\n{0}\n", "coffre-time 1 2 1 0 synchronized");
    assert!(matches!(parse_err(&twice), CheckpointError::InvalidTimeExtension(_)));
    // Another word that merely starts like the keyword is an ordinary extension.
    let other = Checkpoint::parse(&with("coffre-timestamp 1")).unwrap();
    assert_eq!((other.timestamp, other.extensions), (None, vec!["coffre-timestamp 1".to_owned()]));
    let t = Checkpoint::parse(&with("coffre-time 0 0 0 0 unsynchronized")).unwrap();
    assert_eq!(t.timestamp.unwrap().status(), TimeStatus::Unsynchronized);
}

#[test]
fn to_text_refuses_what_parse_would_refuse() {
    let mut cp = checkpoint();
    cp.origin = String::new();
    assert_eq!(cp.to_text(), Err(CheckpointError::EmptyOrigin));
    let mut cp = checkpoint();
    cp.origin = "two\nlines".into();
    assert!(matches!(cp.to_text(), Err(CheckpointError::InvalidLine { line_number: 1, .. })));
    let mut cp = checkpoint();
    cp.extensions.push(String::new());
    assert!(matches!(cp.to_text(), Err(CheckpointError::InvalidLine { .. })));
    let mut cp = checkpoint();
    cp.extensions = vec!["coffre-time 1 2 1 0 synchronized".into()];
    assert!(matches!(cp.to_text(), Err(CheckpointError::InvalidTimeExtension(_))));
    let mut cp = checkpoint();
    cp.extensions = vec!["x".into(); CHECKPOINT_EXTENSIONS_MAX];
    assert_eq!(
        cp.to_text(),
        Err(CheckpointError::TooManyExtensions { max: CHECKPOINT_EXTENSIONS_MAX })
    );
    cp.timestamp = None;
    assert!(cp.to_text().is_ok());
}

#[test]
fn signed_checkpoints_open_with_the_right_key_only() {
    let signer = NoteSigner::generate("attendance.example.fr/coffre").unwrap();
    let note = SignedCheckpoint::sign(&checkpoint(), &signer).unwrap();
    assert!(note.starts_with(TEXT));
    assert_eq!(open_checkpoint(note.as_bytes(), &signer.verifier()).unwrap(), checkpoint());

    let other = NoteSigner::generate("attendance.example.fr/coffre").unwrap().verifier();
    assert_eq!(
        open_checkpoint(note.as_bytes(), &other),
        Err(CheckpointError::Note(NoteError::NoVerifiedSignature { unverified_count: 1 }))
    );
    let altered = note.replacen("20852163", "20852164", 1);
    assert!(matches!(
        open_checkpoint(altered.as_bytes(), &signer.verifier()),
        Err(CheckpointError::Note(NoteError::InvalidSignature { .. }))
    ));

    let opened = SignedCheckpoint::open(note.as_bytes(), &[&other, &signer.verifier()]).unwrap();
    assert_eq!(opened.signatures.len(), 1);
    assert_eq!(opened.signatures[0].key_id, signer.key_id());
}

#[test]
fn a_validly_signed_note_that_is_not_a_checkpoint_is_refused() {
    let signer = NoteSigner::generate("log").unwrap();
    let note = coffre_log::note::sign_note("log\n012\nroot\n", &[&signer]).unwrap();
    assert_eq!(
        open_checkpoint(note.as_bytes(), &signer.verifier()),
        Err(CheckpointError::InvalidSize)
    );
}

/// Real signed tree heads of Go's checksum database, signed by Go's implementation.
#[test]
fn go_sum_database_checkpoints_verify() {
    let sumdb = NoteVerifier::from_verifier_key(
        "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8",
    )
    .unwrap();
    let cases = [
        (
            52544510,
            "+TGlZfnTizQCJgyZR56QixD8+X4dd8Wefy8U1w6k0Ig=",
            "Az3grn6d1PSjcypDf9bfcFVU5fvJB7VkLc0MAbz8jqeQVnSbAj9pKcsB5dJt5VdswPDUtiFar5LPRBu+uEQAT1CDfAc=",
        ),
        (
            65209736,
            "5+uGFjx6xBZG8ip1+wi77v+grwbhhukIrxEUS8PXvRo=",
            "Az3grnbssgK7ubgFX36gVETtNv0U23qxyAhAMai2QUfeGa3nB/akvkMdlUErfcZz7l/R3cVtYspg3dxXABkGZZKdsQ8=",
        ),
    ];
    for (size, root, sig) in cases {
        let note =
            format!("go.sum database tree\n{size}\n{root}\n\n\u{2014} sum.golang.org {sig}\n");
        let cp = open_checkpoint(note.as_bytes(), &sumdb).unwrap();
        assert_eq!(cp.origin, "go.sum database tree");
        assert_eq!((cp.size, cp.root.to_base64()), (size, root.to_owned()));
        let bumped = note.replacen(&size.to_string(), &(size + 1).to_string(), 1);
        assert!(open_checkpoint(bumped.as_bytes(), &sumdb).is_err());
    }
}

fn arb_checkpoint() -> impl Strategy<Value = Checkpoint> {
    let ts =
        (any::<u64>(), any::<u64>(), 0u8..16, 0u8..16, 0usize..3).prop_map(|(a, b, g, r, s)| {
            let status =
                [TimeStatus::Synchronized, TimeStatus::Holdover, TimeStatus::Unsynchronized][s];
            Timestamp::new(
                a.min(b),
                a.max(b),
                SourceSet::from_bits(g).unwrap(),
                SourceSet::from_bits(r).unwrap(),
                status,
            )
            .unwrap()
        });
    (
        "[^\\x00-\\x1f]{1,30}",
        any::<u64>(),
        any::<[u8; 32]>(),
        prop::option::of(ts),
        prop::collection::vec("[a-z][^\\x00-\\x1f]{0,20}", 0..4),
    )
        .prop_map(|(origin, size, root, timestamp, extensions)| Checkpoint {
            origin,
            size,
            root: Hash(root),
            timestamp,
            extensions: extensions.into_iter().filter(|e| !e.starts_with("coffre-time")).collect(),
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn text_round_trips_and_is_canonical(cp in arb_checkpoint()) {
        let text = cp.to_text().unwrap();
        let back = Checkpoint::parse(&text).unwrap();
        prop_assert_eq!(&back, &cp);
        prop_assert_eq!(back.to_text().unwrap(), text);
    }

    #[test]
    fn parsing_arbitrary_text_never_panics(text in "[\\x00-\\x7f\u{2014}]{0,200}") {
        if let Ok(cp) = Checkpoint::parse(&text) {
            prop_assert_eq!(cp.to_text().unwrap(), text);
        }
    }
}

#[test]
fn sha256_empty_tree_checkpoint() {
    let cp = Checkpoint {
        origin: "o".into(),
        size: 0,
        root: HashAlgorithm::Sha256.empty_root(),
        timestamp: None,
        extensions: vec![],
    };
    assert_eq!(cp.to_text().unwrap(), "o\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n");
}
