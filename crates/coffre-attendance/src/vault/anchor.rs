//! Proofs and signed checkpoints of the vault's log: the one place the vault asks the log for
//! them (`Log::{prove_inclusion, prove_consistency, checkpoint, latest_checkpoint,
//! checkpoints, verifier_key}`), plus the vault's own use of the checkpoint key: signing
//! audit manifests.

use super::{CheckpointNote, VaultError};
use coffre_log::checkpoint::{open_checkpoint, Checkpoint};
use coffre_log::merkle::{ConsistencyProof, InclusionProof};
use coffre_log::note::{NoteSigner, NoteVerifier};
use coffre_log::{Log, StoredCheckpoint};
use std::sync::Arc;

/// The vault's access to proofs and checkpoints of its log.
pub(crate) struct Anchoring {
    signer: Option<Arc<NoteSigner>>,
}

fn note(stored: StoredCheckpoint) -> CheckpointNote {
    CheckpointNote { checkpoint: stored.checkpoint, note: stored.note }
}

impl Anchoring {
    pub(crate) fn new(signer: Option<Arc<NoteSigner>>) -> Self {
        Anchoring { signer }
    }

    /// Inclusion proof of record `index` in the tree of `size` records.
    pub(crate) fn prove_inclusion(
        &self,
        log: &Log,
        index: u64,
        size: u64,
    ) -> Result<InclusionProof, VaultError> {
        Ok(log.prove_inclusion(index, size)?)
    }

    /// Consistency proof from the tree of `old_size` records to the tree of `new_size`; the
    /// empty proof where RFC 6962 defines none (an empty old tree, equal sizes).
    pub(crate) fn prove_consistency(
        &self,
        log: &Log,
        old_size: u64,
        new_size: u64,
    ) -> Result<ConsistencyProof, VaultError> {
        if old_size == 0 || old_size == new_size {
            log.root(new_size)?;
            return Ok(ConsistencyProof {
                algorithm: log.hash_algorithm(),
                size1: old_size,
                size2: new_size,
                path: Vec::new(),
            });
        }
        Ok(log.prove_consistency(old_size, new_size)?)
    }

    /// Signs and stores a checkpoint of the whole log.
    pub(crate) fn checkpoint(&self, log: &Log) -> Result<CheckpointNote, VaultError> {
        let signer = self.signer.as_ref().ok_or(VaultError::NoSigner)?;
        Ok(note(log.checkpoint_with(signer)?))
    }

    /// The checkpoint signer, if any (it also signs audit manifests).
    pub(crate) fn signer(&self) -> Option<&NoteSigner> {
        self.signer.as_deref()
    }

    /// Whether new checkpoints can be signed.
    pub(crate) fn checkpoint_possible(&self) -> bool {
        self.signer.is_some()
    }

    /// The newest stored checkpoint, if any.
    pub(crate) fn latest_checkpoint(
        &self,
        log: &Log,
    ) -> Result<Option<CheckpointNote>, VaultError> {
        Ok(log.latest_checkpoint()?.map(note))
    }

    /// Every stored checkpoint, oldest first.
    pub(crate) fn checkpoints(&self, log: &Log) -> Result<Vec<CheckpointNote>, VaultError> {
        Ok(log.checkpoints()?.into_iter().map(note).collect())
    }

    /// The log's checkpoint verifier key: recorded by the log at its first checkpoint, else
    /// the configured signer's.
    pub(crate) fn verifier_key(&self, log: &Log) -> Option<NoteVerifier> {
        log.verifier_key().or_else(|| self.signer.as_ref().map(|s| s.verifier()))
    }

    /// Opens a checkpoint note handed back by a caller with the log's key.
    pub(crate) fn open(&self, log: &Log, note: &str) -> Result<Checkpoint, VaultError> {
        let verifier = self.verifier_key(log).ok_or(VaultError::NoSigner)?;
        open_checkpoint(note.as_bytes(), &verifier)
            .map_err(|e| VaultError::Checkpoint(e.to_string()))
    }
}
