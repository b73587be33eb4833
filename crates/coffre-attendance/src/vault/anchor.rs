//! Proofs and signed checkpoints of the vault's log: the one place the vault asks the log for
//! them.
//!
//! TEMPORARY FALLBACK, until `Log::{prove_inclusion, prove_consistency, checkpoint,
//! latest_checkpoint, checkpoints, verifier_key}` land in coffre-log: inclusion and
//! consistency paths come from an in-memory copy of the tree's leaf hashes (caught up from
//! the log's records on demand, so log-internal records count too), roots from `Log::root`,
//! and checkpoints are signed here with the vault's checkpoint signer and kept in memory
//! only (they do not survive a reopen). Everything outside this module is written against
//! the final shape and does not change when the log's methods replace these bodies.

use super::{CheckpointNote, VaultError};
use coffre_clock::Clock;
use coffre_log::checkpoint::{open_checkpoint, Checkpoint, SignedCheckpoint};
use coffre_log::merkle::{ConsistencyProof, InclusionProof, MemoryTree};
use coffre_log::note::{NoteSigner, NoteVerifier};
use coffre_log::{Log, LogError};
use std::sync::{Arc, Mutex, MutexGuard};

/// The vault's access to proofs and checkpoints of its log.
pub(crate) struct Anchoring {
    tree: Mutex<MemoryTree>,
    checkpoints: Mutex<Vec<CheckpointNote>>,
    signer: Option<Arc<NoteSigner>>,
    clock: Arc<dyn Clock>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Anchoring {
    pub(crate) fn new(log: &Log, signer: Option<Arc<NoteSigner>>, clock: Arc<dyn Clock>) -> Self {
        Anchoring {
            tree: Mutex::new(MemoryTree::new(log.hash_algorithm())),
            checkpoints: Mutex::new(Vec::new()),
            signer,
            clock,
        }
    }

    /// Brings the in-memory leaf hashes up to `size` records.
    fn caught_up(&self, log: &Log, size: u64) -> Result<MutexGuard<'_, MemoryTree>, VaultError> {
        let mut tree = lock(&self.tree);
        let alg = log.hash_algorithm();
        while tree.len() < size {
            let record = log.read(tree.len())?;
            tree.push_leaf_hash(record.leaf_hash(alg));
        }
        Ok(tree)
    }

    fn check_size(log: &Log, size: u64) -> Result<(), VaultError> {
        let len = log.len();
        if size > len {
            return Err(LogError::IndexOutOfRange { index: size, len }.into());
        }
        Ok(())
    }

    /// Inclusion proof of record `index` in the tree of `size` records.
    pub(crate) fn prove_inclusion(
        &self,
        log: &Log,
        index: u64,
        size: u64,
    ) -> Result<InclusionProof, VaultError> {
        Self::check_size(log, size)?;
        if index >= size {
            return Err(LogError::IndexOutOfRange { index, len: size }.into());
        }
        let tree = self.caught_up(log, size)?;
        let leaf_hash = log.read(index)?.leaf_hash(log.hash_algorithm());
        Ok(InclusionProof {
            algorithm: log.hash_algorithm(),
            leaf_index: index,
            tree_size: size,
            leaf_hash,
            path: tree.inclusion_path(index, size),
        })
    }

    /// Consistency proof from the tree of `old_size` records to the tree of `new_size`.
    pub(crate) fn prove_consistency(
        &self,
        log: &Log,
        old_size: u64,
        new_size: u64,
    ) -> Result<ConsistencyProof, VaultError> {
        Self::check_size(log, new_size)?;
        if old_size > new_size {
            return Err(LogError::IndexOutOfRange { index: old_size, len: new_size }.into());
        }
        let tree = self.caught_up(log, new_size)?;
        let path = if old_size == 0 || old_size == new_size {
            Vec::new()
        } else {
            tree.consistency_path(old_size, new_size)
        };
        Ok(ConsistencyProof {
            algorithm: log.hash_algorithm(),
            size1: old_size,
            size2: new_size,
            path,
        })
    }

    /// Signs and keeps a checkpoint of the whole log.
    pub(crate) fn checkpoint(&self, log: &Log) -> Result<CheckpointNote, VaultError> {
        let signer = self.signer.as_ref().ok_or(VaultError::NoSigner)?;
        let mut kept = lock(&self.checkpoints);
        let size = log.len();
        let checkpoint = Checkpoint {
            origin: log.manifest().origin.clone(),
            size,
            root: log.root(size)?,
            timestamp: Some(self.clock.now().map_err(LogError::Clock)?),
            extensions: Vec::new(),
        };
        let note = SignedCheckpoint::sign(&checkpoint, signer)
            .map_err(|e| VaultError::Checkpoint(e.to_string()))?;
        let stored = CheckpointNote { checkpoint, note };
        kept.push(stored.clone());
        Ok(stored)
    }

    /// The checkpoint signer, if any (it also signs audit manifests).
    pub(crate) fn signer(&self) -> Option<&NoteSigner> {
        self.signer.as_deref()
    }

    /// Whether new checkpoints can be signed.
    pub(crate) fn checkpoint_possible(&self) -> bool {
        self.signer.is_some()
    }

    /// The newest checkpoint kept, if any.
    pub(crate) fn latest_checkpoint(
        &self,
        _log: &Log,
    ) -> Result<Option<CheckpointNote>, VaultError> {
        Ok(lock(&self.checkpoints).last().cloned())
    }

    /// Every checkpoint kept, oldest first.
    pub(crate) fn checkpoints(&self, _log: &Log) -> Result<Vec<CheckpointNote>, VaultError> {
        Ok(lock(&self.checkpoints).clone())
    }

    /// The log's checkpoint verifier key.
    pub(crate) fn verifier_key(&self, _log: &Log) -> Option<NoteVerifier> {
        self.signer.as_ref().map(|s| s.verifier())
    }

    /// Whether a stored note opens with the log's key (used when a caller hands one back).
    pub(crate) fn open(&self, log: &Log, note: &str) -> Result<Checkpoint, VaultError> {
        let verifier = self.verifier_key(log).ok_or(VaultError::NoSigner)?;
        open_checkpoint(note.as_bytes(), &verifier)
            .map_err(|e| VaultError::Checkpoint(e.to_string()))
    }
}
