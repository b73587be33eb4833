//! Purge: deletes the leading sealed segments whose every record is past its retention and not
//! held, after a purge record naming them (with their file hashes) is durable in the log.

use super::{worm, HoldId};
use crate::backend::{OpenMode, StorageBackend};
use crate::error::LogError;
use crate::log::Log;
use crate::segment::{sync_dir, SealedSegment};
use crate::system::{
    PurgeRecord, PurgedSegment, SystemRecord, PURGED_SEGMENT_LEN, PURGE_FIXED_LEN,
};
use coffre_clock::{TimeStatus, Timestamp};
use sha2::Digest as _;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Where a purge stops to simulate a crash (tests of recovery). Not part of the stable API.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PurgeFailpoint {
    /// The state file announces a system record that is not appended yet.
    AfterAnnounce,
    /// The purge record is appended, the state file does not know it yet, nothing deleted.
    AfterRecord,
    /// The purge is recorded and this many of its files are deleted.
    AfterDeleting(usize),
}

/// What happens to one sealed segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PurgeDecision {
    /// Every record is expired and none is held: deleted (or would be, in a dry run).
    Delete,
    /// A record's retain-until is after the earliest bound of "now".
    KeepNotExpired,
    /// A legal hold covers some of its records.
    KeepHeld,
}

/// One sealed segment examined by a purge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentVerdict {
    /// Records the segment holds.
    pub range: Range<u64>,
    /// Its file.
    pub path: PathBuf,
    /// The latest retain-until of its records (UTC ns): deletable once "now" is surely after.
    pub newest_retain_until_ns: u64,
    /// Holds in force that overlap it.
    pub holds: Vec<HoldId>,
    /// The decision.
    pub decision: PurgeDecision,
}

/// What [`Log::purge_expired`] did, or would do in a dry run.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PurgeReport {
    /// Nothing was written or deleted.
    pub dry_run: bool,
    /// The earliest bound of the "now" judged against.
    pub now_earliest_ns: u64,
    /// Retention of records written now.
    pub retention: Duration,
    /// Sealed segments examined, in order: the deleted ones, then the first kept one (deletion
    /// is a prefix of the log; later segments are not examined).
    pub segments: Vec<SegmentVerdict>,
    /// Records deleted (would be, in a dry run); empty if none.
    pub purged: Range<u64>,
    /// Indexes of the purge records appended (one per group of segments that fits a record).
    pub purge_records: Vec<u64>,
    /// Segment files deleted.
    pub files_deleted: Vec<PathBuf>,
}

impl Log {
    /// Deletes the leading sealed segments whose every record is expired and not held: a
    /// record expires once `now.earliest` reaches its retain-until (the latest bound of its
    /// timestamp plus the retention in force when it was written), so a clock that is behind
    /// or rolled back can never shorten retention. The Merkle tree is kept whole: roots,
    /// checkpoints and proofs of the remaining records stay valid. A purge record (range,
    /// BLAKE3 and SHA-256 of each file, `now`, retention) is durable in the log before any file
    /// is deleted. With `dry_run`, nothing is written: the report says what would go and why.
    pub fn purge_expired(&self, now: Timestamp, dry_run: bool) -> Result<PurgeReport, LogError> {
        if !dry_run && self.is_read_only() {
            return Err(LogError::ReadOnly);
        }
        if !dry_run && self.is_poisoned() {
            return Err(LogError::Poisoned);
        }
        if now.status() == TimeStatus::Unsynchronized {
            return Err(LogError::InvalidRetentionRequest(
                "purge refused: the time given is unsynchronized".into(),
            ));
        }
        let _op = self.shared().retention.op.lock();
        let policy = self.retention();
        let mut report = PurgeReport {
            dry_run,
            now_earliest_ns: now.earliest_ns(),
            retention: policy.current,
            segments: Vec::new(),
            purged: policy.purged_until..policy.purged_until,
            purge_records: Vec::new(),
            files_deleted: Vec::new(),
        };
        let sealed: Vec<Arc<SealedSegment>> = self.shared().view.read().sealed.clone();
        let mut deletable = Vec::new();
        for seg in sealed.iter().filter(|s| s.first_index >= policy.purged_until) {
            let verdict = self.judge(seg, now.earliest_ns())?;
            let delete = verdict.decision == PurgeDecision::Delete;
            report.segments.push(verdict);
            if !delete {
                break;
            }
            report.purged.end = seg.end_index();
            deletable.push(Arc::clone(seg));
        }
        if dry_run || deletable.is_empty() {
            return Ok(report);
        }
        let room = (self.payload_size_bytes_max() as usize).saturating_sub(PURGE_FIXED_LEN);
        let per_record = room / PURGED_SEGMENT_LEN;
        if per_record == 0 {
            return Err(LogError::InvalidRetentionRequest(
                "payload limit too small for a purge record".into(),
            ));
        }
        let mut deleted = 0usize;
        for chunk in deletable.chunks(per_record) {
            let mut segments = Vec::with_capacity(chunk.len());
            for (seg, verdict) in chunk.iter().zip(report.segments.iter().skip(deleted)) {
                let (blake3, sha256) = hash_file(&*self.shared().backend, &seg.path, seg.file_len)?;
                segments.push(PurgedSegment {
                    first_index: seg.first_index,
                    record_count: seg.record_count,
                    file_len: seg.file_len,
                    retain_until_ns: verdict.newest_retain_until_ns,
                    blake3,
                    sha256,
                });
            }
            let to = chunk.last().map_or(self.purged_until(), |s| s.end_index());
            let rec = SystemRecord::Purge(PurgeRecord {
                from: self.purged_until(),
                to,
                now,
                retention_seconds: policy.current.as_secs(),
                segments,
            });
            let payload = rec.encode();
            // The leaves of the records about to be purged must be durable in the tree before
            // the purge record can exist: once it does, a reopen treats them as gone and can
            // no longer re-hash them from their segments (found by tests/sim_crash.rs).
            if self.is_poisoned() {
                return Err(LogError::Poisoned);
            }
            if let Some(tree) = self.shared().tree.as_ref() {
                self.poison_on_error(tree.sync().map_err(LogError::from))?;
            }
            let receipt = self.announce_and_append(&payload)?;
            self.poison_on_error(self.failpoint(PurgeFailpoint::AfterRecord))?;
            // The purged records' leaves exist only in the tree from now on: make them durable
            // before the records can go.
            if let Some(tree) = self.shared().tree.as_ref() {
                self.poison_on_error(tree.sync().map_err(LogError::from))?;
            }
            self.fold(receipt, payload)?;
            report.purge_records.push(receipt.index);
            // Readers already get `Purged` for these indexes (fold published the bound).
            self.shared().view.write().sealed.retain(|s| s.end_index() > to);
            for seg in chunk {
                self.poison_on_error(self.failpoint(PurgeFailpoint::AfterDeleting(deleted)))?;
                self.poison_on_error(worm::remove_segment(&*self.shared().backend, &seg.path))?;
                report.files_deleted.push(seg.path.clone());
                deleted += 1;
            }
            // DIRECTORY FSYNC: the deletions are part of the purge the record announced.
            self.poison_on_error(sync_dir(&*self.shared().backend, self.dir()))?;
        }
        Ok(report)
    }

    /// Arms a simulated crash point for the next purge (recovery tests only).
    #[doc(hidden)]
    pub fn set_purge_failpoint(&self, at: Option<PurgeFailpoint>) {
        *self.shared().retention.failpoint.lock() = at;
    }

    fn judge(&self, seg: &SealedSegment, now_earliest_ns: u64) -> Result<SegmentVerdict, LogError> {
        let policy = self.retention();
        let range = seg.first_index..seg.end_index();
        let holds: Vec<HoldId> = self
            .holds()
            .into_iter()
            .filter(|h| h.range.start < range.end && range.start < h.range.end)
            .map(|h| h.id)
            .collect();
        let mut newest = 0u64;
        for index in range.clone() {
            let r = self.read(index)?;
            newest = newest.max(policy.retain_until_ns(index, r.timestamp.latest_ns()));
        }
        let decision = if !holds.is_empty() {
            PurgeDecision::KeepHeld
        } else if newest > now_earliest_ns {
            PurgeDecision::KeepNotExpired
        } else {
            PurgeDecision::Delete
        };
        Ok(SegmentVerdict {
            range,
            path: seg.path.clone(),
            newest_retain_until_ns: newest,
            holds,
            decision,
        })
    }
}

/// BLAKE3 and SHA-256 of a whole file, which must be `len` bytes long.
fn hash_file(
    be: &dyn StorageBackend,
    path: &Path,
    len: u64,
) -> Result<([u8; 32], [u8; 32]), LogError> {
    let file = be
        .open(path, OpenMode::Read)
        .map_err(|e| LogError::io("open segment to purge", path, e))?;
    let total = file.len_bytes().map_err(|e| LogError::io("stat segment to purge", path, e))?;
    if total != len {
        return Err(LogError::corruption(path, total, "sealed segment changed length"));
    }
    let mut b3 = blake3::Hasher::new();
    let mut sha = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut pos = 0u64;
    while pos < len {
        let n = (len - pos).min(buf.len() as u64) as usize;
        let piece = &mut buf[..n];
        file.read_exact_at(piece, pos)
            .map_err(|e| LogError::io("read segment to purge", path, e))?;
        b3.update(&*piece);
        sha.update(&*piece);
        pos += n as u64;
    }
    Ok((*b3.finalize().as_bytes(), sha.finalize().into()))
}
