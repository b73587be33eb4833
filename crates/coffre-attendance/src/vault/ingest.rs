//! Commands: one at a time ([`Vault::submit`]) or many signatures at once
//! ([`Vault::submit_batch`]).

use super::{lock, Vault, VaultError, VaultReceipt};
use crate::events::{Command, EventBody};
use crate::state::{Prepare, Prepared, RuleError};
use coffre_log::LogError;

/// Outcome of one command of a batch: its receipt, or why it was refused (nothing written).
pub type BatchOutcome = Result<VaultReceipt, RuleError>;

/// Commands recorded together in a batch run: runs are homogeneous (all signatures, or all
/// key enrolments), and every command of a run is checked against the state before the run.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RunKind {
    Signatures,
    Enrolments,
}

fn run_kind(command: &Command) -> Option<RunKind> {
    match command.body {
        EventBody::StudentSigned(_) | EventBody::TeacherSigned(_) => Some(RunKind::Signatures),
        EventBody::SignerKeyEnrolled(_) => Some(RunKind::Enrolments),
        _ => None,
    }
}

impl Vault {
    /// Records one command: dedupe (a retry gets the original record's receipt with
    /// `duplicate: true`), rules at the clock's current time, encode, append (durable when
    /// this returns), state update. A refused command writes nothing.
    pub fn submit(&self, command: &Command) -> Result<VaultReceipt, VaultError> {
        let _ingest = lock(&self.ingest);
        self.submit_locked(command)
    }

    fn submit_locked(&self, command: &Command) -> Result<VaultReceipt, VaultError> {
        self.requires_qr(&command.body)?;
        let now = self.now()?;
        let prepared = self.state().prepare(command, now)?;
        match prepared {
            Prepare::Duplicate(index) => self.duplicate_receipt(index),
            Prepare::Append(prepared) => {
                let receipt = self.log.append(prepared.bytes())?;
                self.state_mut().commit(receipt.index, receipt.timestamp, &prepared)?;
                Ok(VaultReceipt {
                    index: receipt.index,
                    timestamp: receipt.timestamp,
                    leaf_hash: receipt.leaf_hash,
                    duplicate: false,
                })
            }
        }
    }

    fn duplicate_receipt(&self, index: u64) -> Result<VaultReceipt, VaultError> {
        Ok(VaultReceipt { duplicate: true, ..self.receipt(index)? })
    }

    /// Records many commands, in order, with the outcome of each. Runs of consecutive
    /// signatures (or of consecutive key enrolments) are checked together against the state
    /// before the run (one batch signature verification, over the cores) and appended with
    /// one `append_batch` (one write, one fsync); any other command is recorded on its own,
    /// so it sees the effect of every command before it. Hence a signature in the same run
    /// as its key's enrolment is refused: enrol, then sign in a later call or run. Within a run, a repeat of an
    /// earlier command's request id with the same content is answered with that command's
    /// receipt (`duplicate: true`); a second signature of the same signer for the same
    /// session version, or a second enrolment of one key for the same signer, is refused
    /// ([`RuleError::RepeatedInBatch`]); one key enrolled for several signers is one shared
    /// device.
    ///
    /// Returns `Err` only when the log fails (the commands before the failure are recorded).
    pub fn submit_batch(&self, commands: &[Command]) -> Result<Vec<BatchOutcome>, VaultError> {
        let _ingest = lock(&self.ingest);
        let mut out = Vec::with_capacity(commands.len());
        let mut start = 0;
        while start < commands.len() {
            let Some(first) = commands.get(start) else { break };
            let Some(kind) = run_kind(first) else {
                out.push(match self.submit_locked(first) {
                    Ok(receipt) => Ok(receipt),
                    Err(VaultError::Rule(e)) => Err(e),
                    Err(VaultError::QrSecretMissing) => return Err(VaultError::QrSecretMissing),
                    Err(other) => return Err(other),
                });
                start += 1;
                continue;
            };
            let run_len = commands
                .get(start..)
                .unwrap_or_default()
                .iter()
                .take_while(|c| run_kind(c) == Some(kind))
                .count();
            let run = commands.get(start..start + run_len).unwrap_or_default();
            out.extend(self.submit_run(run, kind)?);
            start += run_len;
        }
        Ok(out)
    }

    /// One run: batch rules and signature verification, one append, commits in order.
    fn submit_run(&self, run: &[Command], kind: RunKind) -> Result<Vec<BatchOutcome>, VaultError> {
        if kind == RunKind::Signatures && !self.has_qr_secret {
            return Err(VaultError::QrSecretMissing);
        }
        let now = self.now()?;
        // `prepare_batch` also refuses, within the run, a device enrolled twice for one signer
        // or in two establishments (the state before the run cannot see them).
        let prepared = self.state().prepare_batch(run, now);
        let appends: Vec<&Prepared> = prepared
            .iter()
            .filter_map(|p| match p {
                Ok(Prepare::Append(p)) => Some(&**p),
                _ => None,
            })
            .collect();
        let payloads: Vec<&[u8]> = appends.iter().map(|p| p.bytes()).collect();
        let receipts =
            if payloads.is_empty() { Vec::new() } else { self.log.append_batch(&payloads)? };
        if receipts.len() != appends.len() {
            return Err(LogError::Poisoned.into());
        }
        {
            let mut state = self.state_mut();
            for (receipt, prepared) in receipts.iter().zip(&appends) {
                state.commit(receipt.index, receipt.timestamp, prepared)?;
            }
        }
        let mut receipts = receipts.into_iter();
        let mut out: Vec<BatchOutcome> = Vec::with_capacity(run.len());
        for (slot, result) in prepared.into_iter().enumerate() {
            out.push(match result {
                Ok(Prepare::Append(_)) => match receipts.next() {
                    Some(r) => Ok(VaultReceipt {
                        index: r.index,
                        timestamp: r.timestamp,
                        leaf_hash: r.leaf_hash,
                        duplicate: false,
                    }),
                    None => return Err(LogError::Poisoned.into()),
                },
                Ok(Prepare::Duplicate(index)) => Ok(self.duplicate_receipt(index)?),
                Err(RuleError::RepeatedInBatch { position })
                    if run.get(position) == run.get(slot) =>
                {
                    // An exact retry inside the batch: answer like a retry after it.
                    match out.get(position) {
                        Some(Ok(original)) => Ok(VaultReceipt { duplicate: true, ..*original }),
                        _ => Err(RuleError::RepeatedInBatch { position }),
                    }
                }
                Err(e) => Err(e),
            });
        }
        Ok(out)
    }
}
