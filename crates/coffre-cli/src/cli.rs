//! The command-line grammar (clap derive). Every command has `--help`; `--json` is global.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Tamper-evident attendance vault: append records, prove them, verify the whole log, and
/// export audit bundles that funders verify offline.
///
/// Exit codes: 0 success; 1 verification failed or tampering detected; 2 usage or input error.
#[derive(Debug, Parser)]
#[command(name = "coffre", version, propagate_version = true)]
pub struct Cli {
    /// Print machine-readable JSON (hashes in standard base64, as in C2SP checkpoints).
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a checkpoint signing key (a C2SP signed-note private key).
    Keygen(KeygenArgs),
    /// Create an empty vault.
    Init(InitArgs),
    /// Append records: one per input line (or the whole input with --raw).
    Append(AppendArgs),
    /// Show a vault's size, root, parameters, latest checkpoint and holds.
    Info(DirArgs),
    /// Print a record's payload (raw bytes), or its metadata with --json.
    Read(ReadArgs),
    /// Sign and store a checkpoint of the vault's current tree.
    Checkpoint(CheckpointArgs),
    /// Print an inclusion proof (--index) or a consistency proof (--from/--to).
    Prove(ProveArgs),
    /// Verify the whole log: every record, the Merkle tree and the stored checkpoints.
    Verify(VerifyArgs),
    /// Sign or verify any signed note.
    #[command(subcommand)]
    Note(NoteCommand),
    /// Place a legal hold on a range of records (they survive purges until released).
    Hold(HoldArgs),
    /// Release a legal hold.
    Release(ReleaseArgs),
    /// Purge the records whose retention period has expired (and no hold protects).
    Purge(PurgeArgs),
    /// Export or verify a funder's audit bundle.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Student identifiers (INE).
    #[command(subcommand)]
    Ine(IneCommand),
    /// Time sources.
    #[command(subcommand)]
    Clock(ClockCommand),
}

/// `coffre keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Key name, by convention the vault's origin (e.g. `lycee-example.fr/coffre`).
    pub name: String,
    /// File to write the private key to (created with mode 0600; never overwritten).
    #[arg(long, value_name = "KEYFILE")]
    pub out: PathBuf,
}

/// Tree hash algorithm names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum HashName {
    /// BLAKE3 (the default).
    Blake3,
    /// SHA-256 (RFC 6962's hash, for auditors' tooling that only has SHA-256).
    Sha256,
}

/// `coffre init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Directory of the new vault (created if missing; must not hold a vault).
    pub dir: PathBuf,
    /// Checkpoint signing key (`coffre keygen`); it signs the empty tree's first checkpoint,
    /// which records the key of the vault. Must live outside DIR.
    #[arg(long, value_name = "KEYFILE")]
    pub key: PathBuf,
    /// Origin line of the checkpoints (default: the key's name).
    #[arg(long, value_name = "NAME")]
    pub origin: Option<String>,
    /// Merkle tree hash.
    #[arg(long, value_enum, default_value = "blake3")]
    pub hash: HashName,
    /// How long records must be kept: 5y, 90d, 36h, 86400s (at least one day).
    #[arg(long, value_name = "DURATION", default_value = "5y",
          value_parser = crate::duration::retention_arg)]
    pub retention: u64,
    /// Size at which segments are sealed, in bytes (default 128 MiB; small values are for
    /// tests and demonstrations).
    #[arg(long, value_name = "BYTES")]
    pub segment_size: Option<u64>,
}

/// `coffre append`.
#[derive(Debug, Args)]
pub struct AppendArgs {
    /// The vault.
    pub dir: PathBuf,
    /// Input file (default: standard input, acknowledged record by record as lines arrive).
    pub file: Option<PathBuf>,
    /// Sign and store a checkpoint after the append. Must live outside DIR.
    #[arg(long, value_name = "KEYFILE")]
    pub key: Option<PathBuf>,
    /// Append the whole input as one record instead of one record per line.
    #[arg(long)]
    pub raw: bool,
}

/// Commands that take only a vault directory.
#[derive(Debug, Args)]
pub struct DirArgs {
    /// The vault.
    pub dir: PathBuf,
}

/// `coffre read`.
#[derive(Debug, Args)]
pub struct ReadArgs {
    /// The vault.
    pub dir: PathBuf,
    /// Index of the record (from 0).
    pub index: u64,
}

/// `coffre checkpoint`.
#[derive(Debug, Args)]
pub struct CheckpointArgs {
    /// The vault.
    pub dir: PathBuf,
    /// Checkpoint signing key. Must live outside DIR.
    #[arg(long, value_name = "KEYFILE")]
    pub key: PathBuf,
}

/// `coffre prove`.
#[derive(Debug, Args)]
pub struct ProveArgs {
    /// The vault.
    pub dir: PathBuf,
    /// Inclusion proof of the record at this index.
    #[arg(long, value_name = "N", required_unless_present = "from",
          conflicts_with_all = ["from", "to"])]
    pub index: Option<u64>,
    /// Tree size the inclusion proof is against (default: the whole log).
    #[arg(long, value_name = "M", requires = "index")]
    pub size: Option<u64>,
    /// Consistency proof from this tree size ...
    #[arg(long, value_name = "A", requires = "to")]
    pub from: Option<u64>,
    /// ... to this tree size.
    #[arg(long, value_name = "B", requires = "from")]
    pub to: Option<u64>,
}

/// `coffre verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The vault.
    pub dir: PathBuf,
    /// Trusted checkpoint verifier key (text or file): every stored checkpoint must be signed
    /// by it. Without it the key recorded in the vault is used.
    #[arg(long, value_name = "KEY")]
    pub vkey: Option<String>,
}

/// `coffre note`.
#[derive(Debug, Subcommand)]
pub enum NoteCommand {
    /// Sign a text file (it must end with a newline); prints the signed note.
    Sign(NoteSignArgs),
    /// Verify a signed note; prints its text.
    Verify(NoteVerifyArgs),
}

/// `coffre note sign`.
#[derive(Debug, Args)]
pub struct NoteSignArgs {
    /// Signing key.
    #[arg(long, value_name = "KEYFILE")]
    pub key: PathBuf,
    /// The text to sign.
    pub file: PathBuf,
}

/// `coffre note verify`.
#[derive(Debug, Args)]
pub struct NoteVerifyArgs {
    /// Verifier key (text or file).
    #[arg(long, value_name = "KEY")]
    pub vkey: String,
    /// The signed note.
    pub file: PathBuf,
}

/// `coffre hold`.
#[derive(Debug, Args)]
pub struct HoldArgs {
    /// The vault.
    pub dir: PathBuf,
    /// First index held.
    #[arg(long, value_name = "A")]
    pub from: u64,
    /// End of the range held (exclusive).
    #[arg(long, value_name = "B")]
    pub to: u64,
    /// Why (a case number, a court order); recorded in the log.
    #[arg(long)]
    pub reason: String,
}

/// `coffre release`.
#[derive(Debug, Args)]
pub struct ReleaseArgs {
    /// The vault.
    pub dir: PathBuf,
    /// The hold to release (as printed by `coffre hold` and `coffre info`).
    #[arg(value_name = "HOLD-ID", required_unless_present = "from",
          conflicts_with_all = ["from", "to"])]
    pub hold_id: Option<u64>,
    /// Or: release the hold on exactly this range, from ...
    #[arg(long, value_name = "A", requires = "to")]
    pub from: Option<u64>,
    /// ... to (exclusive).
    #[arg(long, value_name = "B", requires = "from")]
    pub to: Option<u64>,
    /// Why; recorded in the log.
    #[arg(long)]
    pub reason: String,
}

/// `coffre purge`.
#[derive(Debug, Args)]
pub struct PurgeArgs {
    /// The vault.
    pub dir: PathBuf,
    /// Report what would be purged without changing anything.
    #[arg(long)]
    pub dry_run: bool,
}

/// `coffre audit`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Export the attendance of one establishment over a date range as a verifiable bundle.
    Export(AuditExportArgs),
    /// Verify an audit bundle offline; prints a per-record report.
    Verify(AuditVerifyArgs),
}

/// `coffre audit export`.
#[derive(Debug, Args)]
pub struct AuditExportArgs {
    /// The attendance vault.
    pub dir: PathBuf,
    /// Establishment code (UAI/RNE, e.g. 0750001A).
    #[arg(long, value_name = "CODE")]
    pub establishment: String,
    /// First day included (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    pub from: String,
    /// Last day included (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    pub to: String,
    /// Who asked for the bundle (the funder, e.g. an OPCO).
    #[arg(long, value_name = "FUNDER")]
    pub requested_by: String,
    /// File to write the bundle to.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Sign a fresh checkpoint covering everything (else the bundle is anchored on the latest
    /// stored checkpoint). Must live outside DIR.
    #[arg(long, value_name = "KEYFILE")]
    pub key: Option<PathBuf>,
}

/// `coffre audit verify`.
#[derive(Debug, Args)]
pub struct AuditVerifyArgs {
    /// The bundle.
    pub file: PathBuf,
    /// The vault's checkpoint verifier key (text or file), obtained from the establishment
    /// out of band.
    #[arg(long, value_name = "KEY")]
    pub vkey: String,
}

/// `coffre ine`.
#[derive(Debug, Subcommand)]
pub enum IneCommand {
    /// Check INEs: family and check character. Exit 1 if any is invalid.
    Check(IneCheckArgs),
}

/// `coffre ine check`.
#[derive(Debug, Args)]
pub struct IneCheckArgs {
    /// INEs to check (default: one per line on standard input).
    pub ines: Vec<String>,
}

/// `coffre clock`.
#[derive(Debug, Subcommand)]
pub enum ClockCommand {
    /// Query the time sources once; print each sample and the arbitrated stamp. Exit 1 when
    /// no stamp can be issued.
    Status(ClockStatusArgs),
}

/// `coffre clock status`.
#[derive(Debug, Args)]
pub struct ClockStatusArgs {
    /// NTP server (repeatable). Default without any source: 127.0.0.1:123 and local gpsd.
    #[arg(long, value_name = "HOST:PORT", value_parser = host_port_arg)]
    pub ntp: Vec<String>,
    /// gpsd daemon (repeatable).
    #[arg(long, value_name = "HOST:PORT", value_parser = host_port_arg)]
    pub gpsd: Vec<String>,
    /// Also let the system clock vote, claimed within this many milliseconds.
    #[arg(long, value_name = "MS")]
    pub system: Option<u64>,
}

/// Checks the form `HOST:PORT` (port 1..=65535), so a typo is a usage error (exit 2) rather
/// than a source that fails at query time (exit 1). Whether HOST resolves is left to the query.
fn host_port_arg(text: &str) -> Result<String, String> {
    let bad = || format!("{text:?} is not HOST:PORT (e.g. 127.0.0.1:123, [::1]:2947)");
    let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
    match port.parse::<u16>() {
        Ok(p) if p > 0 && !host.is_empty() => Ok(text.to_string()),
        _ => Err(bad()),
    }
}
