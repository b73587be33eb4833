//! Signing checkpoints of the log (on demand and automatically), and the open-time tamper
//! checks against the stored and the trusted checkpoints. See docs/VERIFY.md.

use crate::checkpoint::{Checkpoint, SignedCheckpoint};
use crate::checkpoint_store::{CheckpointStore, StoredCheckpoint, VKEY_FILE};
use crate::commit::{Payloads, Request};
use crate::error::LogError;
use crate::log::{Log, Shared};
use crate::note::{NoteSigner, NoteVerifier};
use crate::options::{AutoCheckpoint, LogOptions};
use crate::tree_store::TreeStoreError;
use coffre_clock::Clock;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use parking_lot::Mutex;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Longest wait of the automatic checkpointer when only a record count is configured.
const IDLE_WAIT: Duration = Duration::from_secs(3600);

/// What signing a checkpoint needs; shared by the handle and the automatic checkpointer.
pub(crate) struct Checkpointer {
    pub shared: Arc<Shared>,
    pub store: CheckpointStore,
    clock: Arc<dyn Clock>,
    /// The committer's channel, to force records to disk (`None` once closed or read-only).
    tx: Mutex<Option<Sender<Request>>>,
    signer: Option<Arc<NoteSigner>>,
    /// Serialises checkpoints so their sizes never go backwards in the file.
    serial: Mutex<()>,
}

impl Checkpointer {
    pub(crate) fn new(
        shared: Arc<Shared>,
        store: CheckpointStore,
        options: &LogOptions,
        tx: Option<Sender<Request>>,
    ) -> Checkpointer {
        Checkpointer {
            shared,
            store,
            clock: Arc::clone(&options.clock),
            tx: Mutex::new(tx),
            signer: options.checkpoint_signer.clone(),
            serial: Mutex::new(()),
        }
    }

    /// Drops the committer channel so the committer can stop (called by `Log::drop`).
    pub(crate) fn close(&self) {
        self.tx.lock().take();
    }

    /// Asks the committer to fdatasync what it wrote (a no-op under immediate durability).
    fn sync_records(&self) -> Result<(), LogError> {
        let tx = self.tx.lock().clone().ok_or(LogError::ReadOnly)?;
        let (reply, answer) = crossbeam_channel::bounded(1);
        let request = Request { payloads: Payloads::Many(Vec::new()), force_sync: true, reply };
        tx.send(request).map_err(|_| LogError::Poisoned)?;
        answer.recv().map_err(|_| LogError::Poisoned)?.map(|_| ())
    }

    /// Signs the current tree head with `signer` and stores it durably.
    pub(crate) fn checkpoint_with(
        &self,
        signer: &NoteSigner,
    ) -> Result<StoredCheckpoint, LogError> {
        let _serial = self.serial.lock();
        if self.tx.lock().is_none() {
            return Err(LogError::ReadOnly);
        }
        if self.shared.poisoned.load(Ordering::Acquire) {
            return Err(LogError::Poisoned);
        }
        let given = signer.verifier();
        if let Some(recorded) = self.store.vkey() {
            if recorded != given {
                return Err(LogError::CheckpointKeyMismatch {
                    recorded: recorded.to_string(),
                    given: given.to_string(),
                });
            }
        }
        // The size is read before the sync: every record below it was acknowledged before the
        // sync request was queued, so the sync covers it.
        let size = self.shared.len.load(Ordering::Acquire);
        self.sync_records()?;
        let tree = self.shared.tree.as_ref().ok_or(LogError::NoMerkleIndex)?;
        // The tree must be durable up to `size` before a checkpoint names its root: after a
        // crash, open re-derives lost tree hashes from the records, and the checkpoint must
        // never cover tree state (or records) that could be lost.
        tree.sync().map_err(|e| self.poison(e.into()))?;
        let root = tree.root(size)?;
        let timestamp = self.clock.now()?;
        let checkpoint = Checkpoint {
            origin: self.shared.manifest.origin.clone(),
            size,
            root,
            timestamp: Some(timestamp),
            extensions: Vec::new(),
        };
        let note = SignedCheckpoint::sign(&checkpoint, signer)?;
        if self.store.vkey().is_none() {
            self.store.record_vkey(&given).map_err(|e| self.poison(e))?;
        }
        let stored = StoredCheckpoint { checkpoint, note };
        self.store.append(stored.clone()).map_err(|e| self.poison(e))?;
        Ok(stored)
    }

    /// A failed write may have left the file in an unknown state: refuse further writes.
    fn poison(&self, e: LogError) -> LogError {
        self.shared.poisoned.store(true, Ordering::Release);
        e
    }
}

/// Checks `options.auto_checkpoint` (a signer, positive limits) before `Log::create` or
/// `Log::open` touches the directory.
pub(crate) fn validate_auto_checkpoint(options: &LogOptions) -> Result<(), LogError> {
    let Some(auto) = options.auto_checkpoint else {
        return Ok(());
    };
    if options.checkpoint_signer.is_none() {
        return Err(LogError::InvalidOptions("auto_checkpoint needs a checkpoint_signer".into()));
    }
    if auto.every_records == Some(0) || auto.every == Some(Duration::ZERO) {
        return Err(LogError::InvalidOptions("auto_checkpoint limits must be positive".into()));
    }
    Ok(())
}

/// The background thread that signs checkpoints automatically.
pub(crate) struct AutoCheckpointer {
    nudge: Option<Sender<()>>,
    every_records: Option<u64>,
    handle: Option<JoinHandle<()>>,
}

impl AutoCheckpointer {
    /// Starts the thread (`options.auto_checkpoint` must be set, with a signer).
    pub(crate) fn start(
        checkpointer: Arc<Checkpointer>,
        auto: AutoCheckpoint,
    ) -> Result<AutoCheckpointer, LogError> {
        let signer = checkpointer.signer.clone().ok_or_else(|| {
            LogError::InvalidOptions("auto_checkpoint needs a checkpoint_signer".into())
        })?;
        if auto.every_records == Some(0) || auto.every == Some(Duration::ZERO) {
            return Err(LogError::InvalidOptions("auto_checkpoint limits must be positive".into()));
        }
        let (nudge, rx) = crossbeam_channel::bounded(1);
        let dir = checkpointer.shared.dir.clone();
        let handle = std::thread::Builder::new()
            .name("coffre-checkpointer".into())
            .spawn(move || run_auto(&checkpointer, &signer, auto, &rx))
            .map_err(|e| LogError::io("spawn checkpointer", dir, e))?;
        Ok(AutoCheckpointer {
            nudge: Some(nudge),
            every_records: auto.every_records,
            handle: Some(handle),
        })
    }

    /// Wakes the thread when enough records were appended since the last checkpoint.
    pub(crate) fn after_append(&self, len: u64, checkpointed: u64) {
        if self.every_records.is_some_and(|n| len.saturating_sub(checkpointed) >= n) {
            if let Some(n) = &self.nudge {
                let _ = n.try_send(());
            }
        }
    }

    /// Stops the thread (after the checkpoint it may be writing).
    pub(crate) fn stop(&mut self) {
        self.nudge = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn run_auto(c: &Checkpointer, signer: &NoteSigner, auto: AutoCheckpoint, rx: &Receiver<()>) {
    let mut last_at = Instant::now();
    loop {
        let wait = auto.every.map_or(IDLE_WAIT, |every| every.saturating_sub(last_at.elapsed()));
        match rx.recv_timeout(wait) {
            Ok(()) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        if c.shared.poisoned.load(Ordering::Acquire) {
            return;
        }
        let len = c.shared.len.load(Ordering::Acquire);
        let done = c.store.latest().map_or(0, |s| s.checkpoint.size);
        let by_count = auto.every_records.is_some_and(|n| len.saturating_sub(done) >= n);
        let by_time = auto.every.is_some_and(|every| last_at.elapsed() >= every);
        if len == done && c.store.count() > 0 {
            // Nothing new to attest: skip, and wait a full period again.
            last_at = Instant::now();
            continue;
        }
        if !(by_count || by_time) {
            continue;
        }
        match c.checkpoint_with(signer) {
            Ok(_) => last_at = Instant::now(),
            // A clock that refuses to stamp is transient: retry at the next period.
            Err(LogError::Clock(_)) => last_at = Instant::now(),
            // Any other failure would make later checkpoints lie by omission: poison, so
            // appends fail and the operator sees it.
            Err(_) => {
                c.shared.poisoned.store(true, Ordering::Release);
                return;
            }
        }
    }
}

/// Refuses to cut or open a log shorter than its latest checkpoint. `records` is what the log
/// would hold after recovery.
pub(crate) fn check_length(store: &CheckpointStore, records: u64) -> Result<(), LogError> {
    if let Some(latest) = store.latest() {
        if records < latest.checkpoint.size {
            return Err(LogError::TamperDetected {
                file: store.path().to_path_buf(),
                offset: None,
                index: Some(store.count().saturating_sub(1)),
                level: None,
                detail: format!(
                    "the log holds {records} records but its latest checkpoint covers {}",
                    latest.checkpoint.size
                ),
            });
        }
    }
    Ok(())
}

/// Checks the log's roots against its latest stored checkpoint and the trusted checkpoint of
/// the options. `records` is the log's length.
pub(crate) fn check_roots(
    shared: &Shared,
    store: &CheckpointStore,
    options: &LogOptions,
    records: u64,
) -> Result<(), LogError> {
    check_length(store, records)?;
    if let Some(latest) = store.latest() {
        let index = store.count().saturating_sub(1);
        check_root_at(shared, &latest.checkpoint, store.path(), Some(index), "latest checkpoint")?;
    }
    if let Some(signer) = &options.checkpoint_signer {
        if let Some(recorded) = store.vkey() {
            let given = signer.verifier();
            if recorded != given {
                return Err(LogError::CheckpointKeyMismatch {
                    recorded: recorded.to_string(),
                    given: given.to_string(),
                });
            }
        }
    }
    // A trusted key given alone still pins the log's recorded key: a log re-signed under
    // another key is detected even before the auditor hands over a checkpoint.
    if let (Some(trusted), Some(recorded)) = (&options.trusted_verifier, store.vkey()) {
        if *trusted != recorded {
            return Err(LogError::tamper(
                shared.dir.join(VKEY_FILE),
                format!("the log's recorded key {recorded} is not the trusted key {trusted}"),
            ));
        }
    }
    let Some(note) = &options.trusted_checkpoint else {
        return Ok(());
    };
    let verifier: NoteVerifier = match (&options.trusted_verifier, store.vkey()) {
        (Some(v), _) => v.clone(),
        (None, Some(v)) => v,
        (None, None) => {
            return Err(LogError::InvalidOptions(
                "trusted_checkpoint needs trusted_verifier (the log has no recorded key)".into(),
            ))
        }
    };
    let trusted = shared.dir.join("<trusted checkpoint>");
    let opened = SignedCheckpoint::open(note.as_bytes(), &[&verifier]).map_err(|e| {
        LogError::tamper(
            &trusted,
            format!("trusted checkpoint does not verify with {verifier}: {e}"),
        )
    })?;
    let cp = opened.checkpoint;
    if cp.origin != shared.manifest.origin {
        return Err(LogError::tamper(
            &trusted,
            format!(
                "trusted checkpoint is for {:?}, the log is {:?}",
                cp.origin, shared.manifest.origin
            ),
        ));
    }
    if records < cp.size {
        return Err(LogError::tamper(
            &trusted,
            format!(
                "the log holds {records} records but the trusted checkpoint covers {}",
                cp.size
            ),
        ));
    }
    check_root_at(shared, &cp, &trusted, None, "trusted checkpoint")
}

fn check_root_at(
    shared: &Shared,
    cp: &Checkpoint,
    file: &std::path::Path,
    index: Option<u64>,
    what: &str,
) -> Result<(), LogError> {
    let Some(tree) = shared.tree.as_ref() else {
        return Ok(());
    };
    let root = match tree.root(cp.size) {
        Ok(r) => r,
        // A read-only handle whose tree lags the writer cannot compare; verify() can.
        Err(TreeStoreError::SizeTooLarge { .. }) if tree.is_read_only() => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if root != cp.root {
        return Err(LogError::TamperDetected {
            file: file.to_path_buf(),
            offset: None,
            index,
            level: None,
            detail: format!(
                "root at size {} is {}, the {what} says {}",
                cp.size,
                root.to_base64(),
                cp.root.to_base64()
            ),
        });
    }
    Ok(())
}

impl Log {
    /// Signs the current tree head with `LogOptions.checkpoint_signer` (see
    /// [`Log::checkpoint_with`]). [`LogError::NoSigner`] if none was configured.
    pub fn checkpoint(&self) -> Result<StoredCheckpoint, LogError> {
        let signer = self.checkpointer().signer.clone().ok_or(LogError::NoSigner)?;
        self.checkpoint_with(&signer)
    }

    /// Signs a C2SP checkpoint of the current tree head (origin from the manifest,
    /// `coffre-time` extension = the clock's arbitrated time) and appends it durably to the
    /// log's checkpoint file. Records and tree are synced first, so the checkpoint never covers
    /// state a crash could lose. The first checkpoint records the signer's verifier key; a
    /// later call with another key fails with [`LogError::CheckpointKeyMismatch`] (key
    /// rotation is not supported).
    pub fn checkpoint_with(&self, signer: &NoteSigner) -> Result<StoredCheckpoint, LogError> {
        self.checkpointer().checkpoint_with(signer)
    }

    /// The latest stored checkpoint (for a read-only handle: as of opening).
    pub fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, LogError> {
        Ok(self.checkpointer().store.latest())
    }

    /// Every stored checkpoint, oldest first, each re-read and checked (checksums, signature
    /// by the log's key, origin).
    pub fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, LogError> {
        self.checkpointer().store.read_all()
    }

    /// The verifier key of the log's checkpoints, recorded at the first checkpoint.
    pub fn verifier_key(&self) -> Option<NoteVerifier> {
        self.checkpointer().store.vkey()
    }
}
