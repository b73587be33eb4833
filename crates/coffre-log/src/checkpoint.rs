//! C2SP checkpoints (<https://c2sp.org/tlog-checkpoint>): the signed statement "this log had
//! `size` leaves with root `root`", as a signed note.
//!
//! Text, one item per line, each ending in a newline:
//!
//! ```text
//! <origin>
//! <tree size, decimal, no leading zeros>
//! <root hash, standard base64 of 32 bytes>
//! coffre-time <earliest_ns> <latest_ns> <agreed bits> <rejected bits> <status>   (optional)
//! <other extension lines>                                                         (optional)
//! ```
//!
//! The `coffre-time` extension carries the arbitrated time of the checkpoint (a
//! `coffre_clock::Timestamp`): both bounds in UTC nanoseconds since the Unix epoch, the agreed
//! and rejected source sets as decimal bit sets (1 GPS, 2 NTP, 4 quartz, 8 system), and the
//! status `synchronized`, `holdover` or `unsynchronized`. When present it is the first
//! extension line. Parsing is strict and canonical: `Checkpoint::parse(t)?.to_text()? == t`.
//!
//! ```
//! use coffre_log::checkpoint::{open_checkpoint, Checkpoint, SignedCheckpoint};
//! use coffre_log::note::NoteSigner;
//! use coffre_log::HashAlgorithm;
//! let signer = NoteSigner::generate("example.org/coffre").unwrap();
//! let checkpoint = Checkpoint {
//!     origin: "example.org/coffre".into(),
//!     size: 0,
//!     root: HashAlgorithm::Sha256.empty_root(),
//!     timestamp: None,
//!     extensions: vec![],
//! };
//! let note = SignedCheckpoint::sign(&checkpoint, &signer).unwrap();
//! assert_eq!(open_checkpoint(note.as_bytes(), &signer.verifier()).unwrap(), checkpoint);
//! ```

use coffre_clock::{SourceSet, TimeStatus, Timestamp, TimestampError};

use crate::hash::Hash;
use crate::note::{open_note, sign_note, NoteError, NoteSignature, NoteSigner, NoteVerifier};

/// Keyword of the extension line that carries the checkpoint's timestamp.
pub const TIME_EXTENSION: &str = "coffre-time";

/// Most extension lines (the time line included) a checkpoint may have.
pub const CHECKPOINT_EXTENSIONS_MAX: usize = 32;

/// Largest checkpoint text, in bytes.
pub const CHECKPOINT_TEXT_BYTES_MAX: usize = 64 * 1024;

/// Why a checkpoint text or signed checkpoint is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The signed note does not open with the given verifier(s).
    #[error("checkpoint note: {0}")]
    Note(#[from] NoteError),
    /// The text is larger than [`CHECKPOINT_TEXT_BYTES_MAX`].
    #[error("checkpoint text of {size_bytes} bytes exceeds {size_bytes_max} bytes")]
    TooLong {
        /// Size of the text.
        size_bytes: usize,
        /// The limit.
        size_bytes_max: usize,
    },
    /// The text does not end with a newline.
    #[error("checkpoint text must end with a newline")]
    MissingFinalNewline,
    /// One of the three mandatory lines is missing.
    #[error("checkpoint has no {0} line")]
    MissingLine(&'static str),
    /// The origin line is empty.
    #[error("checkpoint origin is empty")]
    EmptyOrigin,
    /// The size line is not a canonical decimal u64.
    #[error("checkpoint tree size is not a canonical decimal number")]
    InvalidSize,
    /// The root line is not standard base64 of 32 bytes.
    #[error("checkpoint root is not base64 of 32 bytes")]
    InvalidRoot,
    /// A line (1-based) is empty where it may not be, or holds a control character.
    #[error("checkpoint line {line_number}: {reason}")]
    InvalidLine {
        /// 1-based line number in the text.
        line_number: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// More than [`CHECKPOINT_EXTENSIONS_MAX`] extension lines.
    #[error("more than {max} checkpoint extension lines")]
    TooManyExtensions {
        /// The limit.
        max: usize,
    },
    /// The `coffre-time` line is malformed, repeated, or not the first extension line (or an
    /// extension given to [`Checkpoint::to_text`] starts with the reserved keyword).
    #[error("checkpoint time extension: {0}")]
    InvalidTimeExtension(&'static str),
    /// The `coffre-time` values do not form a timestamp.
    #[error("checkpoint time extension: {0}")]
    Timestamp(#[from] TimestampError),
}

/// A log's tree head: origin, size, root, and optionally its arbitrated time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// Unique name of the log, e.g. `attendance.example.fr/coffre`.
    pub origin: String,
    /// Number of leaves.
    pub size: u64,
    /// RFC 6962 root of the tree of `size` leaves.
    pub root: Hash,
    /// Arbitrated time of the checkpoint (the `coffre-time` extension line).
    pub timestamp: Option<Timestamp>,
    /// Other extension lines, in order, each non-empty.
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// The checkpoint's note text (ending in a newline). Fails on an empty origin, an empty
    /// extension, a control character, a reserved `coffre-time` extension in `extensions`, or
    /// bounds exceeded.
    pub fn to_text(&self) -> Result<String, CheckpointError> {
        if self.origin.is_empty() {
            return Err(CheckpointError::EmptyOrigin);
        }
        check_line(1, &self.origin)?;
        let mut lines = vec![self.origin.clone(), self.size.to_string(), self.root.to_base64()];
        if let Some(t) = &self.timestamp {
            lines.push(time_line(t)?);
        }
        for ext in &self.extensions {
            if first_word(ext) == TIME_EXTENSION {
                return Err(CheckpointError::InvalidTimeExtension(
                    "reserved keyword in extensions",
                ));
            }
            check_line(lines.len() + 1, ext)?;
            lines.push(ext.clone());
        }
        if lines.len() - 3 > CHECKPOINT_EXTENSIONS_MAX {
            return Err(CheckpointError::TooManyExtensions { max: CHECKPOINT_EXTENSIONS_MAX });
        }
        let text = lines.join("\n") + "\n";
        check_size(&text)?;
        Ok(text)
    }

    /// Parses a checkpoint text strictly (see the module documentation).
    pub fn parse(text: &str) -> Result<Checkpoint, CheckpointError> {
        check_size(text)?;
        let body = text.strip_suffix('\n').ok_or(CheckpointError::MissingFinalNewline)?;
        let mut lines = body.split('\n');
        let origin = lines.next().unwrap_or_default();
        if origin.is_empty() {
            return Err(CheckpointError::EmptyOrigin);
        }
        check_line(1, origin)?;
        let size = lines.next().ok_or(CheckpointError::MissingLine("tree size"))?;
        let size = parse_decimal(size).ok_or(CheckpointError::InvalidSize)?;
        let root = lines.next().ok_or(CheckpointError::MissingLine("root hash"))?;
        let root = Hash::from_base64(root).ok_or(CheckpointError::InvalidRoot)?;

        let mut timestamp = None;
        let mut extensions = Vec::new();
        for (i, line) in lines.enumerate() {
            if i >= CHECKPOINT_EXTENSIONS_MAX {
                return Err(CheckpointError::TooManyExtensions { max: CHECKPOINT_EXTENSIONS_MAX });
            }
            check_line(i + 4, line)?;
            if first_word(line) == TIME_EXTENSION {
                if i != 0 {
                    return Err(CheckpointError::InvalidTimeExtension(
                        "not the first extension line",
                    ));
                }
                timestamp = Some(parse_time_line(line)?);
            } else {
                extensions.push(line.to_owned());
            }
        }
        Ok(Checkpoint { origin: origin.to_owned(), size, root, timestamp, extensions })
    }
}

/// A checkpoint whose signature checked, with the keys that signed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// Signatures that verified (name and key id of each key).
    pub signatures: Vec<NoteSignature>,
}

impl SignedCheckpoint {
    /// The signed note of `checkpoint` by `signer`. By C2SP convention the signer's name should
    /// be the origin; this is not enforced.
    pub fn sign(checkpoint: &Checkpoint, signer: &NoteSigner) -> Result<String, CheckpointError> {
        Ok(sign_note(&checkpoint.to_text()?, &[signer])?)
    }

    /// Opens a signed checkpoint: at least one signature from `verifiers` must verify (others
    /// are ignored, see [`crate::note::open_note`]), then the text must parse.
    pub fn open(
        note: &[u8],
        verifiers: &[&NoteVerifier],
    ) -> Result<SignedCheckpoint, CheckpointError> {
        let opened = open_note(note, verifiers)?;
        let checkpoint = Checkpoint::parse(&opened.text)?;
        Ok(SignedCheckpoint { checkpoint, signatures: opened.signatures })
    }
}

/// Opens a checkpoint signed by `verifier`'s key. The caller still checks that the origin is
/// the log it expects.
pub fn open_checkpoint(
    note: &[u8],
    verifier: &NoteVerifier,
) -> Result<Checkpoint, CheckpointError> {
    Ok(SignedCheckpoint::open(note, &[verifier])?.checkpoint)
}

fn first_word(line: &str) -> &str {
    line.split(' ').next().unwrap_or_default()
}

fn check_size(text: &str) -> Result<(), CheckpointError> {
    if text.len() > CHECKPOINT_TEXT_BYTES_MAX {
        return Err(CheckpointError::TooLong {
            size_bytes: text.len(),
            size_bytes_max: CHECKPOINT_TEXT_BYTES_MAX,
        });
    }
    Ok(())
}

/// A line is non-empty and has no control characters (a newline would split it).
fn check_line(line_number: usize, line: &str) -> Result<(), CheckpointError> {
    if line.is_empty() {
        return Err(CheckpointError::InvalidLine { line_number, reason: "empty line" });
    }
    if line.bytes().any(|b| b < 0x20) {
        return Err(CheckpointError::InvalidLine { line_number, reason: "control character" });
    }
    Ok(())
}

/// Canonical decimal: ASCII digits only, no leading zero except for "0", fits a u64.
fn parse_decimal(text: &str) -> Option<u64> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if canonical {
        text.parse().ok()
    } else {
        None
    }
}

fn status_name(status: TimeStatus) -> Result<&'static str, CheckpointError> {
    match status {
        TimeStatus::Synchronized => Ok("synchronized"),
        TimeStatus::Holdover => Ok("holdover"),
        TimeStatus::Unsynchronized => Ok("unsynchronized"),
        _ => Err(CheckpointError::InvalidTimeExtension("time status unknown to this version")),
    }
}

fn time_line(t: &Timestamp) -> Result<String, CheckpointError> {
    Ok(format!(
        "{TIME_EXTENSION} {} {} {} {} {}",
        t.earliest_ns(),
        t.latest_ns(),
        t.agreed().bits(),
        t.rejected().bits(),
        status_name(t.status())?
    ))
}

fn parse_time_line(line: &str) -> Result<Timestamp, CheckpointError> {
    let bad = CheckpointError::InvalidTimeExtension;
    let fields: Vec<&str> = line.split(' ').collect();
    let [_, earliest, latest, agreed, rejected, status] = fields.as_slice() else {
        return Err(bad("expected 5 space-separated values"));
    };
    let earliest_ns = parse_decimal(earliest).ok_or(bad("earliest_ns is not a decimal u64"))?;
    let latest_ns = parse_decimal(latest).ok_or(bad("latest_ns is not a decimal u64"))?;
    let sources = |text: &str| {
        let bits = parse_decimal(text).and_then(|b| u8::try_from(b).ok());
        bits.and_then(SourceSet::from_bits).ok_or(bad("source set is not bits 0..=15"))
    };
    let (agreed, rejected) = (sources(agreed)?, sources(rejected)?);
    let status = match *status {
        "synchronized" => TimeStatus::Synchronized,
        "holdover" => TimeStatus::Holdover,
        "unsynchronized" => TimeStatus::Unsynchronized,
        _ => return Err(bad("unknown time status")),
    };
    Ok(Timestamp::new(earliest_ns, latest_ns, agreed, rejected, status)?)
}
