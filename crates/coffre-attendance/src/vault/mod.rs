//! The attendance vault: a [`coffre_log::Log`] in a directory, replayed into an
//! [`AttendanceState`] on open, with the ingest path (dedupe, rules, encode, append, commit),
//! receipts with inclusion proofs to signed checkpoints, and audit-trail export
//! ([`crate::audit`]).
//!
//! Directory layout: `<dir>/vault.meta` (the QR key check, see [`meta`]) and `<dir>/log/`
//! (the log). Secrets are never stored in the directory: the QR master key is derived from
//! [`VaultOptions::qr_secret`], and the checkpoint signing key is passed in
//! [`VaultOptions::checkpoint_signer`] (keep its file outside the vault directory).
//!
//! Concurrency: every method takes `&self`. Commands are serialised by one ingest lock held
//! from the rules check to the state update, so a command is always validated against the
//! state that includes every earlier record; readers take the state's read lock and are
//! only held off during the in-memory commit, never during the log's fsync. Throughput comes
//! from [`Vault::submit_batch`] (one batch signature verification, one `append_batch`).

mod anchor;
mod ingest;
pub mod meta;

use crate::events::{EventBody, RequestId};
use crate::identity::SessionRef;
use crate::qr::{MasterKey, QrPolicy, SessionSecret};
use crate::query::AttendanceSheet;
use crate::state::rules::{DEFAULT_GRACE_NS, DEFAULT_IDEMPOTENCY_WINDOW_NS};
use crate::state::{ApplyError, AttendanceState, RuleError, RulesConfig};
use anchor::Anchoring;
use coffre_clock::{Clock, Timestamp};
use coffre_log::checkpoint::Checkpoint;
use coffre_log::merkle::{ConsistencyProof, InclusionProof};
use coffre_log::note::{NoteSigner, NoteVerifier};
use coffre_log::{Hash, Log, LogError, LogOptions, RecoveryReport};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Name of the log's directory inside the vault directory.
pub const LOG_DIR: &str = "log";

/// Payload prefix of log-internal (system) records, which the vault skips on replay
/// (0xFF "COFFRE" 0x00).
pub const SYSTEM_RECORD_PREFIX: [u8; 8] = coffre_log::SYSTEM_RECORD_PREFIX;

/// Timing rules of the vault (the QR master key comes from [`VaultOptions::qr_secret`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RulesTuning {
    /// Signing opens this long before the planned start (default 15 min).
    pub grace_before_start_ns: u64,
    /// Signing closes this long after the planned end (default 15 min).
    pub grace_after_end_ns: u64,
    /// QR token timing (default 10 s windows, fixed token valid 15 min after the end).
    pub qr: QrPolicy,
    /// How long request ids are remembered for idempotent retries (default 7 days).
    pub idempotency_window_ns: u64,
}

impl Default for RulesTuning {
    fn default() -> Self {
        RulesTuning {
            grace_before_start_ns: DEFAULT_GRACE_NS,
            grace_after_end_ns: DEFAULT_GRACE_NS,
            qr: QrPolicy::default(),
            idempotency_window_ns: DEFAULT_IDEMPOTENCY_WINDOW_NS,
        }
    }
}

/// Options of [`Vault::create`] and [`Vault::open`].
#[derive(Clone, Default)]
pub struct VaultOptions {
    /// Options of the underlying log (clock, durability, origin, ...). Its clock also gives
    /// the server time the rules are checked at.
    pub log: LogOptions,
    /// The secret the QR master key is derived from (at least 16 bytes; 32 random bytes
    /// recommended). Required by [`Vault::create`]. Without it an opened vault accepts every
    /// command except signatures ([`VaultError::QrSecretMissing`]) and exports audits.
    pub qr_secret: Option<Vec<u8>>,
    /// The key that signs the log's checkpoints and audit manifests (also given to the log as
    /// `LogOptions::checkpoint_signer`; `log.checkpoint_signer` is used when this is `None`).
    /// Without any, the vault cannot make new checkpoints; receipts and audits anchor on the
    /// latest stored one.
    pub checkpoint_signer: Option<Arc<NoteSigner>>,
    /// Timing rules.
    pub rules: RulesTuning,
}

impl fmt::Debug for VaultOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultOptions")
            .field("log", &self.log)
            .field("qr_secret", &self.qr_secret.as_ref().map(|_| ".."))
            .field("checkpoint_signer", &self.checkpoint_signer)
            .field("rules", &self.rules)
            .finish()
    }
}

/// A signed checkpoint: the parsed checkpoint and its signed note text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointNote {
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// The signed note (C2SP signed-note text).
    pub note: String,
}

/// What a command returns: where the record sits in the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VaultReceipt {
    /// The record's index.
    pub index: u64,
    /// The record's arbitrated timestamp (interval, sources, status).
    pub timestamp: Timestamp,
    /// The record's RFC 6962 leaf hash.
    pub leaf_hash: Hash,
    /// Whether the command was a retry answered with the original record (nothing appended).
    pub duplicate: bool,
}

/// A receipt's proof: the record is in the tree of a signed checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiptProof {
    /// Inclusion proof of the record in the checkpoint's tree.
    pub inclusion: InclusionProof,
    /// The signed checkpoint.
    pub checkpoint: CheckpointNote,
}

/// Why a vault operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// The command breaks a rule (or repeats a request id with other content); nothing was
    /// written.
    #[error("command refused: {0}")]
    Rule(#[from] RuleError),
    /// The log failed.
    #[error(transparent)]
    Log(#[from] LogError),
    /// A record of the log cannot be replayed (undecodable, or out of order).
    #[error("replaying the log: {0}")]
    Replay(#[from] ApplyError),
    /// A file of the vault could not be read or written.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// No vault in this directory.
    #[error("no vault at {}", path.display())]
    NotFound {
        /// The file looked for.
        path: PathBuf,
    },
    /// A vault already exists in this directory.
    #[error("a vault already exists at {}", path.display())]
    AlreadyExists {
        /// The existing file.
        path: PathBuf,
    },
    /// `vault.meta` is damaged or not a vault file.
    #[error("bad vault file {}: {detail}", path.display())]
    BadMeta {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: &'static str,
    },
    /// The QR secret is shorter than allowed.
    #[error("QR secret of {size_bytes} bytes is shorter than {size_bytes_min}")]
    QrSecretTooShort {
        /// Size given.
        size_bytes: usize,
        /// Fewest accepted.
        size_bytes_min: usize,
    },
    /// The QR secret is not the one the vault was created with.
    #[error("QR secret does not match this vault")]
    WrongQrSecret,
    /// The operation needs the QR secret (creating a vault, accepting a signature, showing a
    /// QR code).
    #[error("the vault was opened without its QR secret")]
    QrSecretMissing,
    /// The operation needs a checkpoint signer.
    #[error("no checkpoint signer configured")]
    NoSigner,
    /// No signed checkpoint covers the record yet, and no signer can make one.
    #[error("no signed checkpoint covers record {index} yet")]
    NotCheckpointed {
        /// The record.
        index: u64,
    },
    /// A checkpoint could not be made or read.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    /// The record at `index` is not an attendance event.
    #[error("record {index} is not an attendance event")]
    NotAnEvent {
        /// The record.
        index: u64,
    },
    /// The audit request is invalid.
    #[error("audit request: {0}")]
    AuditRequest(String),
    /// The audit bundle would exceed the format's limits.
    #[error("audit bundle too large: {0}")]
    AuditTooLarge(String),
}

/// The attendance vault. See the module documentation.
pub struct Vault {
    dir: PathBuf,
    log: Log,
    recovery: RecoveryReport,
    state: RwLock<AttendanceState>,
    ingest: Mutex<()>,
    anchoring: Anchoring,
    clock: Arc<dyn Clock>,
    has_qr_secret: bool,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault").field("dir", &self.dir).field("log", &self.log).finish()
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Whether a log payload is a log-internal (system) record.
pub fn is_system_payload(payload: &[u8]) -> bool {
    payload.starts_with(&SYSTEM_RECORD_PREFIX)
}

/// The checkpoint signer: the vault's, else the log options'.
fn signer(options: &VaultOptions) -> Option<Arc<NoteSigner>> {
    options.checkpoint_signer.clone().or_else(|| options.log.checkpoint_signer.clone())
}

/// The log's options, with the vault's checkpoint signer.
fn log_options(options: &VaultOptions) -> LogOptions {
    LogOptions { checkpoint_signer: signer(options), ..options.log.clone() }
}

fn rules_config(master: MasterKey, tuning: &RulesTuning) -> RulesConfig {
    let mut config = RulesConfig::new(master);
    config.grace_before_start_ns = tuning.grace_before_start_ns;
    config.grace_after_end_ns = tuning.grace_after_end_ns;
    config.qr = tuning.qr;
    config.idempotency_window_ns = tuning.idempotency_window_ns;
    config
}

impl Vault {
    /// Creates a vault in `dir` (created if missing). Needs [`VaultOptions::qr_secret`].
    pub fn create(dir: impl AsRef<Path>, options: VaultOptions) -> Result<Vault, VaultError> {
        let dir = dir.as_ref();
        let secret = options.qr_secret.as_deref().ok_or(VaultError::QrSecretMissing)?;
        let (_, key_check) = meta::derive_master(secret)?;
        std::fs::create_dir_all(dir)
            .map_err(|e| VaultError::Io { path: dir.to_path_buf(), source: e })?;
        let meta_path = dir.join(meta::META_FILE);
        if meta_path.exists() {
            return Err(VaultError::AlreadyExists { path: meta_path });
        }
        let log = Log::create(dir.join(LOG_DIR), log_options(&options))?;
        // The log exists before the meta file: a crash in between leaves no vault.meta, and
        // `open` says "no vault" rather than opening a vault whose log is missing.
        meta::write(dir, &key_check)?;
        Vault::assemble(dir, log, RecoveryReport::default(), &options)
    }

    /// Opens the vault in `dir`, recovering the log and replaying it into the state.
    pub fn open(dir: impl AsRef<Path>, options: VaultOptions) -> Result<Vault, VaultError> {
        let dir = dir.as_ref();
        let stored_check = meta::read(dir)?;
        if let Some(secret) = options.qr_secret.as_deref() {
            let (_, key_check) = meta::derive_master(secret)?;
            if key_check != stored_check {
                return Err(VaultError::WrongQrSecret);
            }
        }
        let (log, recovery) = Log::open(dir.join(LOG_DIR), log_options(&options))?;
        Vault::assemble(dir, log, recovery, &options)
    }

    fn assemble(
        dir: &Path,
        log: Log,
        recovery: RecoveryReport,
        options: &VaultOptions,
    ) -> Result<Vault, VaultError> {
        let (master, has_qr_secret) = match options.qr_secret.as_deref() {
            Some(secret) => (meta::derive_master(secret)?.0, true),
            None => {
                // Never used for a signature (refused before the rules run), but the rules
                // need a key: a random one, so nothing derived from it is predictable.
                (MasterKey::new(random_bytes(dir)?), false)
            }
        };
        let mut state = AttendanceState::new(rules_config(master, &options.rules));
        replay(&log, &mut state)?;
        let clock = Arc::clone(&options.log.clock);
        let anchoring = Anchoring::new(signer(options));
        Ok(Vault {
            dir: dir.to_path_buf(),
            log,
            recovery,
            state: RwLock::new(state),
            ingest: Mutex::new(()),
            anchoring,
            clock,
            has_qr_secret,
        })
    }

    /// The vault's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The underlying log (read it, prove, checkpoint; append only through the vault).
    pub fn log(&self) -> &Log {
        &self.log
    }

    /// What the log's recovery found at opening (empty for a new vault).
    pub fn recovery(&self) -> &RecoveryReport {
        &self.recovery
    }

    /// The attendance state, for queries. Hold the guard briefly: commands wait for it.
    pub fn state(&self) -> RwLockReadGuard<'_, AttendanceState> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn state_mut(&self) -> RwLockWriteGuard<'_, AttendanceState> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    /// A session's attendance sheet.
    pub fn sheet(&self, session: &SessionRef) -> Option<AttendanceSheet> {
        self.state().sheet(session)
    }

    /// The QR secret of a session version (to show its rotating or fixed QR code).
    pub fn session_secret(
        &self,
        session: &SessionRef,
        version: u32,
    ) -> Result<SessionSecret, VaultError> {
        if !self.has_qr_secret {
            return Err(VaultError::QrSecretMissing);
        }
        Ok(SessionSecret::derive(&self.state().config().qr_master_key, session, version))
    }

    /// Server time now, from the log's clock.
    pub fn now(&self) -> Result<Timestamp, VaultError> {
        Ok(self.clock.now().map_err(LogError::Clock)?)
    }

    /// The log's checkpoint verifier key (what auditors must trust), if known.
    pub fn verifier_key(&self) -> Option<NoteVerifier> {
        self.anchoring.verifier_key(&self.log)
    }

    /// Signs a checkpoint of the whole log now (needs a signer).
    pub fn checkpoint(&self) -> Result<CheckpointNote, VaultError> {
        self.anchoring.checkpoint(&self.log)
    }

    /// The newest stored checkpoint.
    pub fn latest_checkpoint(&self) -> Result<Option<CheckpointNote>, VaultError> {
        self.anchoring.latest_checkpoint(&self.log)
    }

    /// Every stored checkpoint, oldest first.
    pub fn checkpoints(&self) -> Result<Vec<CheckpointNote>, VaultError> {
        self.anchoring.checkpoints(&self.log)
    }

    /// Consistency proof between two tree sizes.
    pub fn prove_consistency(
        &self,
        old_size: u64,
        new_size: u64,
    ) -> Result<ConsistencyProof, VaultError> {
        self.anchoring.prove_consistency(&self.log, old_size, new_size)
    }

    /// Inclusion proof of record `index` in the tree of `size` records.
    pub fn prove_inclusion(&self, index: u64, size: u64) -> Result<InclusionProof, VaultError> {
        self.anchoring.prove_inclusion(&self.log, index, size)
    }

    /// The proof of a receipt: record `index` is in the tree of the latest signed checkpoint,
    /// made now if none covers it yet (needs a signer; [`VaultError::NotCheckpointed`]
    /// otherwise).
    pub fn prove_receipt(&self, index: u64) -> Result<ReceiptProof, VaultError> {
        if index >= self.log.len() {
            return Err(LogError::IndexOutOfRange { index, len: self.log.len() }.into());
        }
        let checkpoint = match self.latest_checkpoint()? {
            Some(c) if c.checkpoint.size > index => c,
            _ if self.has_signer() => self.checkpoint()?,
            _ => return Err(VaultError::NotCheckpointed { index }),
        };
        let inclusion = self.prove_inclusion(index, checkpoint.checkpoint.size)?;
        Ok(ReceiptProof { inclusion, checkpoint })
    }

    pub(crate) fn has_signer(&self) -> bool {
        self.anchoring.checkpoint_possible()
    }

    /// The receipt of an existing record.
    pub fn receipt(&self, index: u64) -> Result<VaultReceipt, VaultError> {
        let record = self.log.read(index)?;
        Ok(VaultReceipt {
            index,
            timestamp: record.timestamp,
            leaf_hash: record.leaf_hash(self.log.hash_algorithm()),
            duplicate: false,
        })
    }

    pub(crate) fn anchoring(&self) -> &Anchoring {
        &self.anchoring
    }

    pub(crate) fn new_request_id(&self) -> Result<RequestId, VaultError> {
        Ok(RequestId(random_bytes(&self.dir)?))
    }

    pub(crate) fn requires_qr(&self, body: &EventBody) -> Result<(), VaultError> {
        let signs = matches!(body, EventBody::StudentSigned(_) | EventBody::TeacherSigned(_));
        if signs && !self.has_qr_secret {
            return Err(VaultError::QrSecretMissing);
        }
        Ok(())
    }
}

fn random_bytes<const N: usize>(dir: &Path) -> Result<[u8; N], VaultError> {
    let mut bytes = [0u8; N];
    getrandom::getrandom(&mut bytes).map_err(|e| VaultError::Io {
        path: dir.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    })?;
    Ok(bytes)
}

/// Replays every attendance record of `log` into `state`, skipping system records.
fn replay(log: &Log, state: &mut AttendanceState) -> Result<(), VaultError> {
    for record in log.iter(..) {
        let record = match record {
            Ok(record) => record,
            // Purged by retention: the purge's own system record says so.
            Err(LogError::Purged { .. }) => continue,
            Err(e) => return Err(e.into()),
        };
        if is_system_payload(&record.payload) {
            continue;
        }
        state.apply_record(record.index, record.timestamp, &record.payload)?;
    }
    Ok(())
}
