//! [`Log::verify`]: a full re-check of everything the log stored, reporting the first mismatch
//! with its location (docs/VERIFY.md).
//!
//! Records are re-hashed in parallel on every core, in chunks of consecutive records: sealed
//! segments are read through their memory map without copying, the active one with `pread`.
//! Each recomputed leaf hash is compared with the tree's level 0; each stored parent is
//! recomputed from its children, in blocks taken from the same work queue right after the
//! record chunks (`TreeStore::parent_check_parts`), so no core idles between the two; sealed
//! segments' footer checksums (record bytes, offset table) are checked; and every stored
//! checkpoint is opened with the log's key and compared with the root at its size.

use crate::backend::StorageFile;
use crate::error::LogError;
use crate::hash::{HashAlgorithm, HASH_LEN};
use crate::log::Log;
use crate::manifest::le_u32;
use crate::merkle::SubtreeHashes;
use crate::mmap::SealedBytes;
use crate::record::{decode_header, RECORD_HEADER_LEN, TIMESTAMP_OFFSET};
use crate::segment::{Footer, SealedSegment, FOOTER_LEN, SEGMENT_HEADER_LEN, TABLE_ENTRY_LEN};
use crate::tree_store::{TreeStore, TreeStoreError};
use parking_lot::Mutex;
use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Records per unit of parallel work.
const CHUNK_RECORDS: u64 = 4096;
/// Least time between two progress callbacks (besides phase changes).
const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

/// What [`Log::verify`] is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyPhase {
    /// Re-hashing records and comparing them with the tree's leaves and segment checksums.
    Records,
    /// Reporting the stored parent hashes' check (run by the same workers as the records,
    /// after the last record chunk was taken).
    Tree,
    /// Checking the stored checkpoints.
    Checkpoints,
    /// Finished without a mismatch.
    Done,
}

/// Progress of [`Log::verify`], reported at most every 100 ms and at each phase change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyProgress {
    /// Records re-hashed so far.
    pub records_checked: u64,
    /// Records to re-hash.
    pub records_total: u64,
    /// The current phase.
    pub phase: VerifyPhase,
}

/// What a successful [`Log::verify`] checked.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyReport {
    /// Records re-hashed and checked.
    pub records: u64,
    /// Of them, records whose leaf was compared with the stored tree (all, for a writer).
    pub leaves_compared: u64,
    /// Segments checked (sealed and active).
    pub segments: u64,
    /// Stored checkpoints checked.
    pub checkpoints_checked: u64,
    /// Bytes fed to the leaf hash (timestamps and payloads).
    pub bytes_hashed: u64,
    /// Wall-clock time taken.
    pub duration: Duration,
}

/// One segment as verify sees it (a snapshot taken at the start).
struct SegmentSnap {
    path: PathBuf,
    first_index: u64,
    /// Records of the segment covered by the check.
    count: u64,
    /// Bytes of a sealed segment (`None` for the active one).
    sealed: Option<(Arc<SealedSegment>, Arc<SealedBytes>)>,
    /// The active segment's file and record offsets (`count + 1` entries, the last one the
    /// end of the last record checked).
    active: Option<(Arc<dyn StorageFile>, Vec<u64>)>,
}

impl SegmentSnap {
    /// Bytes `[from, to)` of the segment: borrowed from the map when there is one.
    fn range(&self, from: u64, to: u64) -> Result<Cow<'_, [u8]>, LogError> {
        let short = || LogError::TamperDetected {
            file: self.path.clone(),
            offset: Some(from),
            index: None,
            level: None,
            detail: "record offsets point past the end of the segment".into(),
        };
        if to < from {
            return Err(short());
        }
        if let Some(slice) = self.sealed.as_ref().and_then(|(_, b)| b.as_slice()) {
            let (a, b) = (usize::try_from(from), usize::try_from(to));
            let (Ok(a), Ok(b)) = (a, b) else { return Err(short()) };
            return slice.get(a..b).map(Cow::Borrowed).ok_or_else(short);
        }
        let mut buf = vec![0u8; usize::try_from(to - from).map_err(|_| short())?];
        let io = |e| LogError::io("read segment", &self.path, e);
        match (&self.sealed, &self.active) {
            (Some((_, bytes)), _) => bytes.read_exact_at(&mut buf, from).map_err(io)?,
            (None, Some((file, _))) => file.read_exact_at(&mut buf, from).map_err(io)?,
            (None, None) => return Err(short()),
        }
        Ok(Cow::Owned(buf))
    }

    /// Byte offsets of records `a..=b` of the segment (`b == count` gives the records' end).
    fn offsets(&self, a: u64, b: u64) -> Result<Vec<u64>, LogError> {
        if let Some((_, offsets)) = &self.active {
            let slice = offsets.get(a as usize..=b as usize).ok_or_else(|| {
                LogError::tamper(&self.path, "record offsets of the active segment changed")
            })?;
            return Ok(slice.to_vec());
        }
        let Some((seg, _)) = &self.sealed else {
            return Ok(Vec::new());
        };
        let from = seg.records_end + a * TABLE_ENTRY_LEN;
        let last = b.min(self.count.saturating_sub(1));
        let table = self.range(from, seg.records_end + (last + 1) * TABLE_ENTRY_LEN)?;
        let mut out: Vec<u64> = table.chunks_exact(4).map(|c| u64::from(le_u32(c))).collect();
        if b == self.count {
            out.push(seg.records_end);
        }
        Ok(out)
    }
}

/// A unit of parallel work: records `a..b` (relative) of segment `segment`.
#[derive(Clone, Copy)]
struct Chunk {
    segment: usize,
    a: u64,
    b: u64,
}

/// A failed share of the tree's parent check: its order key `(level, index)` and the error.
type TreeFailure = ((u32, u64), TreeStoreError);

/// What a chunk found.
struct ChunkDone {
    crc: crc32fast::Hasher,
    bytes_hashed: u64,
    leaves_compared: u64,
}

struct Context<'a> {
    alg: HashAlgorithm,
    tree: Option<&'a TreeStore>,
    /// Leaves the tree holds (records past it are checked by their checksums only).
    tree_len: u64,
    segments: &'a [SegmentSnap],
}

impl Log {
    /// Re-checks everything the log stored and reports the first mismatch as
    /// [`LogError::TamperDetected`] naming its file, offset, record index and tree level:
    /// every record is re-hashed (in parallel on all cores) and compared with the tree's
    /// leaves, every stored parent hash is recomputed, sealed segments' footer checksums
    /// (record bytes and offset table) are checked, and every stored checkpoint is opened with
    /// the log's key and compared with the root at its size. `progress` is called at most
    /// every 100 ms and at each phase change, from any thread. Covers the records present
    /// when it starts; appends may continue meanwhile.
    pub fn verify(
        &self,
        progress: &(dyn Fn(VerifyProgress) + Sync),
    ) -> Result<VerifyReport, LogError> {
        let started = Instant::now();
        let shared = self.shared();
        let len = self.len();
        let tree = self.tree();
        let tree_len = tree.map_or(0, |t| t.len().min(len));
        let segments = snapshot(self, len)?;
        let records_total: u64 = segments.iter().map(|s| s.count).sum();
        let report = |records_checked, phase| {
            progress(VerifyProgress { records_checked, records_total, phase })
        };
        report(0, VerifyPhase::Records);
        let ctx = Context { alg: shared.alg, tree, tree_len, segments: &segments };
        let chunks = plan_chunks(&segments);
        let parts = tree.map(|_| TreeStore::parent_check_parts(tree_len)).unwrap_or_default();
        let check_part = |k: usize| tree.zip(parts.get(k)).and_then(|(t, p)| t.check_part(p).err());
        let (done, tree_failure) = run_chunks(&ctx, &chunks, (parts.len(), &check_part), &|n| {
            report(n, VerifyPhase::Records)
        })?;
        let mut bytes_hashed = 0;
        let mut leaves_compared = 0;
        for (i, seg) in segments.iter().enumerate() {
            let mut crc = crc32fast::Hasher::new();
            for (chunk, out) in chunks.iter().zip(done.iter()) {
                if chunk.segment == i {
                    crc.combine(&out.crc);
                    bytes_hashed += out.bytes_hashed;
                    leaves_compared += out.leaves_compared;
                }
            }
            check_sealed_footer(seg, crc.finalize())?;
        }

        report(records_total, VerifyPhase::Tree);
        // The parents were checked beside the records; their first mismatch ranks after the
        // records' and the footers'.
        if let (Some(tree), Some((_, e))) = (tree, tree_failure) {
            return Err(tree_tamper(tree, e));
        }

        report(records_total, VerifyPhase::Checkpoints);
        let checkpoints = self.checkpointer().store.read_all()?;
        let path = self.checkpointer().store.path().to_path_buf();
        let mut previous_size = 0;
        for (index, stored) in (0u64..).zip(checkpoints.iter()) {
            let cp = &stored.checkpoint;
            let bad = |detail: String| LogError::TamperDetected {
                file: path.clone(),
                offset: None,
                index: Some(index),
                level: None,
                detail,
            };
            if cp.size < previous_size {
                return Err(bad(format!(
                    "checkpoint size {} is below the previous checkpoint's {previous_size}",
                    cp.size
                )));
            }
            previous_size = cp.size;
            if cp.size > len {
                return Err(bad(format!(
                    "checkpoint covers {} records, the log holds {len}",
                    cp.size
                )));
            }
            if let Some(tree) = tree.filter(|_| cp.size <= tree_len) {
                let root = tree.root(cp.size)?;
                if root != cp.root {
                    return Err(bad(format!(
                        "root at size {} is {}, the checkpoint says {}",
                        cp.size,
                        root.to_base64(),
                        cp.root.to_base64()
                    )));
                }
            }
        }
        report(records_total, VerifyPhase::Done);
        Ok(VerifyReport {
            records: records_total,
            leaves_compared,
            segments: segments.len() as u64,
            checkpoints_checked: checkpoints.len() as u64,
            bytes_hashed,
            duration: started.elapsed(),
        })
    }
}

/// The segments holding records below `len`, as of now.
fn snapshot(log: &Log, len: u64) -> Result<Vec<SegmentSnap>, LogError> {
    let view = log.shared().view.read();
    let mut out = Vec::with_capacity(view.sealed.len() + 1);
    for seg in view.sealed.iter().filter(|s| s.first_index < len) {
        let bytes = seg.bytes()?;
        out.push(SegmentSnap {
            path: seg.path.clone(),
            first_index: seg.first_index,
            count: seg.record_count.min(len - seg.first_index),
            sealed: Some((Arc::clone(seg), bytes)),
            active: None,
        });
    }
    if let Some(a) = view.active.as_ref().filter(|a| a.first_index < len) {
        let count = (len - a.first_index).min(a.offsets.len() as u64);
        let mut offsets: Vec<u64> = a.offsets.get(..count as usize).unwrap_or_default().to_vec();
        let end = a.offsets.get(count as usize).copied().unwrap_or(a.records_end);
        offsets.push(end);
        out.push(SegmentSnap {
            path: a.path.clone(),
            first_index: a.first_index,
            count,
            sealed: None,
            active: Some((Arc::clone(&a.file), offsets)),
        });
    }
    Ok(out)
}

fn plan_chunks(segments: &[SegmentSnap]) -> Vec<Chunk> {
    let mut chunks = Vec::new();
    for (segment, s) in segments.iter().enumerate() {
        let mut a = 0;
        while a < s.count {
            let b = (a + CHUNK_RECORDS).min(s.count);
            chunks.push(Chunk { segment, a, b });
            a = b;
        }
    }
    chunks
}

/// Checks every record chunk, then every part of the tree's parent check, on all cores from one
/// shared queue (no barrier between the two). Returns the chunks' results in chunk order, or
/// the error of the first chunk (in log order) that failed; and the parent check's first
/// failure (smallest `(level, index)`), if any.
fn run_chunks(
    ctx: &Context<'_>,
    chunks: &[Chunk],
    (parts, check_part): (usize, &(dyn Fn(usize) -> Option<TreeFailure> + Sync)),
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(Vec<ChunkDone>, Option<TreeFailure>), LogError> {
    let items = chunks.len() + parts;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(items);
    let tree_failure: Mutex<Option<TreeFailure>> = Mutex::new(None);
    let next = AtomicUsize::new(0);
    // Chunks after the first failure need not be checked.
    let first_failed = AtomicUsize::new(usize::MAX);
    let checked = AtomicU64::new(0);
    let last_report = Mutex::new(Instant::now());
    let results: Vec<Mutex<Option<Result<ChunkDone, LogError>>>> =
        chunks.iter().map(|_| Mutex::new(None)).collect();
    let work = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= items || i > first_failed.load(Ordering::Relaxed) {
            return;
        }
        let Some(chunk) = chunks.get(i) else {
            // Parts come after all chunks: a record mismatch, which ranks first, skips them.
            if let Some(failure) = check_part(i - chunks.len()) {
                let mut first = tree_failure.lock();
                if first.as_ref().is_none_or(|(key, _)| failure.0 < *key) {
                    *first = Some(failure);
                }
            }
            continue;
        };
        let result = check_chunk(ctx, *chunk);
        if result.is_err() {
            first_failed.fetch_min(i, Ordering::Relaxed);
        }
        if let Some(slot) = results.get(i) {
            *slot.lock() = Some(result);
        }
        let total = checked.fetch_add(chunk.b - chunk.a, Ordering::Relaxed) + chunk.b - chunk.a;
        if let Some(mut last) = last_report.try_lock() {
            if last.elapsed() >= PROGRESS_INTERVAL {
                *last = Instant::now();
                progress(total);
            }
        }
    };
    std::thread::scope(|scope| {
        for _ in 1..threads {
            scope.spawn(work);
        }
        work();
    });
    let mut out = Vec::with_capacity(chunks.len());
    for slot in results {
        match slot.into_inner() {
            Some(Ok(done)) => out.push(done),
            Some(Err(e)) => return Err(e),
            // Skipped after an earlier failure, which the loop returns first.
            None => return Err(LogError::Poisoned),
        }
    }
    Ok((out, tree_failure.into_inner()))
}

/// Checks records `chunk.a..chunk.b` of a segment: framing, index, padding, leaf hash against
/// the tree's level 0 (payload checksum where no leaf is stored, and in the active segment).
/// The first problem in index order is reported. The framing is checked first, record by
/// record; the leaves of the records read up to there are then hashed together (several at a
/// time, `HashAlgorithm::leaf_hashes_into`) and compared in order.
fn check_chunk(ctx: &Context<'_>, chunk: Chunk) -> Result<ChunkDone, LogError> {
    let seg = ctx.segments.get(chunk.segment).ok_or(LogError::Poisoned)?;
    let offsets = seg.offsets(chunk.a, chunk.b)?;
    let (Some(&start), Some(&end)) = (offsets.first(), offsets.last()) else {
        return Err(LogError::tamper(&seg.path, "offset table shorter than the record count"));
    };
    let bytes = seg.range(start, end)?;
    let first_index = seg.first_index + chunk.a;
    let stored_count = ctx.tree_len.saturating_sub(first_index).min(chunk.b - chunk.a);
    let mut stored = vec![0u8; stored_count as usize * HASH_LEN];
    if let Some(tree) = ctx.tree.filter(|_| stored_count > 0) {
        tree.read_leaf_hashes(first_index, &mut stored).map_err(|e| tree_tamper(tree, e))?;
    }
    let mut done = ChunkDone { crc: crc32fast::Hasher::new(), bytes_hashed: 0, leaves_compared: 0 };
    done.crc.update(&bytes);
    let read = read_leaves(ctx, seg, first_index, start, &bytes, &offsets);
    let mut hashes = Vec::with_capacity(read.leaves.len());
    ctx.alg.leaf_hashes_into(&read.leaves, &mut hashes);
    for (k, (leaf, hash)) in read.leaves.iter().zip(&hashes).enumerate() {
        done.bytes_hashed += (leaf[0].len() + leaf[1].len()) as u64;
        match stored.get(k * HASH_LEN..(k + 1) * HASH_LEN) {
            Some(s) if s != hash.as_bytes() => {
                let index = first_index + k as u64;
                let offset = read.offsets.get(k).copied().unwrap_or(start);
                return Err(leaf_mismatch(ctx, seg, index, offset, *hash));
            }
            Some(_) => done.leaves_compared += 1,
            None => {}
        }
    }
    match read.error {
        Some(e) => Err(e),
        None => Ok(done),
    }
}

/// What [`read_leaves`] found in a chunk.
struct ChunkLeaves<'b> {
    /// Each record's leaf as (timestamp bytes, payload), in index order.
    leaves: Vec<[&'b [u8]; 2]>,
    /// Each of those records' offset in the segment.
    offsets: Vec<u64>,
    /// The first framing or checksum problem, which ends the list.
    error: Option<LogError>,
}

/// The leaves (timestamp, payload) of a chunk's records, in order, up to the first record
/// whose framing or payload checksum is wrong; that record's error comes back beside them
/// (its leaf is included when only its checksum failed, as the leaf comparison ranks first).
fn read_leaves<'b>(
    ctx: &Context<'_>,
    seg: &SegmentSnap,
    first_index: u64,
    start: u64,
    bytes: &'b [u8],
    offsets: &[u64],
) -> ChunkLeaves<'b> {
    let mut leaves = Vec::with_capacity(offsets.len().saturating_sub(1));
    let mut at = Vec::with_capacity(offsets.len().saturating_sub(1));
    let check_payload_crc = seg.active.is_some();
    for (k, pair) in (0u64..).zip(offsets.windows(2)) {
        let (off, next) = (pair[0], pair[1]);
        let index = first_index + k;
        let bad = |at: u64, detail: &str| LogError::TamperDetected {
            file: seg.path.clone(),
            offset: Some(at),
            index: Some(index),
            level: None,
            detail: detail.to_string(),
        };
        let framed = next
            .checked_sub(start)
            .zip(off.checked_sub(start))
            .and_then(|(hi, lo)| bytes.get(lo as usize..hi as usize))
            .ok_or_else(|| bad(off, "record offsets out of order"))
            .and_then(|frame| {
                let header = decode_header(frame).map_err(|d| bad(off, d))?;
                if header.index != index {
                    return Err(bad(off, "record holds another index"));
                }
                if header.frame_len() != next - off {
                    return Err(bad(off, "record length differs from the offset table"));
                }
                let payload_end = RECORD_HEADER_LEN + header.payload_len as usize;
                let payload = frame
                    .get(RECORD_HEADER_LEN..payload_end)
                    .ok_or_else(|| bad(off, "record payload cut short"))?;
                if frame.get(payload_end..).is_some_and(|pad| pad.iter().any(|&b| b != 0)) {
                    return Err(bad(off, "record padding is not zero"));
                }
                let timestamp = frame
                    .get(TIMESTAMP_OFFSET..TIMESTAMP_OFFSET + header.timestamp.len())
                    .ok_or_else(|| bad(off, "record header cut short"))?;
                Ok((timestamp, payload, header.payload_crc))
            });
        let (timestamp, payload, payload_crc) = match framed {
            Ok(parts) => parts,
            Err(e) => return ChunkLeaves { leaves, offsets: at, error: Some(e) },
        };
        leaves.push([timestamp, payload]);
        at.push(off);
        let no_leaf = index >= ctx.tree_len;
        if (check_payload_crc || no_leaf) && crc32fast::hash(payload) != payload_crc {
            let error = Some(bad(off, "record payload checksum mismatch"));
            return ChunkLeaves { leaves, offsets: at, error };
        }
    }
    ChunkLeaves { leaves, offsets: at, error: None }
}

/// Which side of a leaf mismatch was altered: if the stored leaf still agrees with its stored
/// parent, the record changed; otherwise the tree's hash did.
fn leaf_mismatch(
    ctx: &Context<'_>,
    seg: &SegmentSnap,
    index: u64,
    offset: u64,
    recomputed: crate::hash::Hash,
) -> LogError {
    let tree_side = ctx.tree.and_then(|tree| {
        let sibling = tree.leaf_hash(index ^ 1).ok()?;
        let stored = tree.leaf_hash(index).ok()?;
        let parent = tree.subtree_hash(1, index / 2).ok()?;
        let even = index.is_multiple_of(2);
        let (l, r) = if even { (stored, sibling) } else { (sibling, stored) };
        let (rl, rr) = if even { (recomputed, sibling) } else { (sibling, recomputed) };
        let stored_fits = ctx.alg.node_hash(&l, &r) == parent;
        let record_fits = ctx.alg.node_hash(&rl, &rr) == parent;
        (record_fits && !stored_fits).then(|| tree.level_file(0))
    });
    match tree_side {
        Some(file) => LogError::TamperDetected {
            file,
            offset: Some(32 + index * HASH_LEN as u64),
            index: Some(index),
            level: Some(0),
            detail: "stored leaf hash differs from the record's (tree hash altered)".into(),
        },
        None => LogError::TamperDetected {
            file: seg.path.clone(),
            offset: Some(offset),
            index: Some(index),
            level: None,
            detail: "record's leaf hash differs from the tree's level 0 (record altered)".into(),
        },
    }
}

/// Checks a sealed segment's footer: records checksum, offset table checksum, first offset.
fn check_sealed_footer(seg: &SegmentSnap, records_crc: u32) -> Result<(), LogError> {
    let Some((sealed, _)) = &seg.sealed else {
        return Ok(());
    };
    if seg.count != sealed.record_count {
        return Ok(()); // Cut short by a concurrent purge or size limit: nothing to compare.
    }
    let at = sealed.file_len.saturating_sub(FOOTER_LEN);
    let bad = |offset: u64, detail: String| LogError::TamperDetected {
        file: seg.path.clone(),
        offset: Some(offset),
        index: None,
        level: None,
        detail,
    };
    let footer_bytes = seg.range(at, sealed.file_len)?;
    let footer = Footer::decode(&footer_bytes).map_err(|d| bad(at, d.to_string()))?;
    let table_end = sealed.records_end + sealed.record_count * TABLE_ENTRY_LEN;
    let table = seg.range(sealed.records_end, table_end)?;
    if crc32fast::hash(&table) != footer.table_crc {
        return Err(bad(sealed.records_end, "offset table checksum mismatch".into()));
    }
    if table.get(..4).is_some_and(|t| u64::from(le_u32(t)) != SEGMENT_HEADER_LEN) {
        return Err(bad(sealed.records_end, "first record offset is not after the header".into()));
    }
    if records_crc != footer.records_crc {
        return Err(bad(SEGMENT_HEADER_LEN, "record bytes checksum mismatch (footer)".into()));
    }
    Ok(())
}

fn tree_tamper(tree: &TreeStore, e: TreeStoreError) -> LogError {
    match e {
        TreeStoreError::ParentMismatch { level, index } => LogError::TamperDetected {
            file: tree.level_file(level),
            offset: Some(32 + index * HASH_LEN as u64),
            index: Some(index),
            level: Some(level),
            detail: "stored parent hash does not match its two children".into(),
        },
        TreeStoreError::Corruption { file, offset, detail } => tamper_at(file, offset, detail),
        other => LogError::Tree(other),
    }
}

fn tamper_at(file: PathBuf, offset: u64, detail: String) -> LogError {
    LogError::TamperDetected { file, offset: Some(offset), index: None, level: None, detail }
}
