//! Segment files: names, header, footer and offset table, sealing, and reading one record
//! (docs/FORMAT.md, "Segments").

use crate::backend::{OpenMode, StorageBackend, StorageFile};
use crate::error::LogError;
use crate::hash::HashAlgorithm;
use crate::manifest::{le_u32, le_u64, FORMAT_VERSION};
use crate::mmap::SealedBytes;
use crate::options::Preallocation;
use crate::record::{check_frame, decode_header, Record, RECORD_HEADER_LEN};
use coffre_clock::Timestamp;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// Length of a segment header.
pub(crate) const SEGMENT_HEADER_LEN: u64 = 32;
/// Length of a sealed segment's footer.
pub(crate) const FOOTER_LEN: u64 = 48;
/// Bytes of one offset-table entry.
pub(crate) const TABLE_ENTRY_LEN: u64 = 4;
const SEGMENT_MAGIC: [u8; 8] = *b"COFFSEG1";
const FOOTER_MAGIC: [u8; 8] = *b"COFFSEAL";
/// Zeros written per call when zero-filling ahead.
const ZERO_CHUNK_BYTES: usize = 1 << 20;

/// File name of the segment whose first record has index `first_index`.
pub(crate) fn segment_file_name(first_index: u64) -> String {
    format!("seg-{first_index:020}.log")
}

/// The first index named by a segment file name, if `name` is one.
pub(crate) fn parse_segment_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("seg-")?.strip_suffix(".log")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The sorted first indexes of the segment files in `dir`.
pub(crate) fn list_segments(be: &dyn StorageBackend, dir: &Path) -> Result<Vec<u64>, LogError> {
    let entries = be.list_dir(dir).map_err(|e| LogError::io("read_dir", dir, e))?;
    let mut firsts = Vec::new();
    for name in entries {
        if let Some(first) = name.to_str().and_then(parse_segment_file_name) {
            firsts.push(first);
        }
    }
    firsts.sort_unstable();
    Ok(firsts)
}

/// The 32 header bytes of a segment.
fn encode_segment_header(alg: HashAlgorithm, first_index: u64) -> [u8; 32] {
    let mut h = [0u8; 32];
    h[0..8].copy_from_slice(&SEGMENT_MAGIC);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[12] = alg.code();
    h[16..24].copy_from_slice(&first_index.to_le_bytes());
    let crc = crc32fast::hash(&h[..28]);
    h[28..32].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Checks a segment header read from `path`, named for `first_index`.
pub(crate) fn check_segment_header(
    bytes: &[u8],
    path: &Path,
    alg: HashAlgorithm,
    first_index: u64,
) -> Result<(), LogError> {
    let bad = |offset: u64, detail: &str| LogError::corruption(path, offset, detail);
    let h = bytes.get(..32).ok_or_else(|| bad(0, "segment header cut short"))?;
    if h[0..8] != SEGMENT_MAGIC {
        return Err(bad(0, "bad segment magic"));
    }
    if crc32fast::hash(&h[..28]) != le_u32(&h[28..32]) {
        return Err(bad(0, "segment header checksum mismatch"));
    }
    let version = le_u32(&h[8..12]);
    if version != FORMAT_VERSION {
        return Err(LogError::UnsupportedVersion { path: path.to_path_buf(), version });
    }
    if h[12] != alg.code() {
        return Err(bad(12, "segment hash algorithm differs from the manifest"));
    }
    if le_u64(&h[16..24]) != first_index {
        return Err(bad(16, "segment header's first index differs from its file name"));
    }
    Ok(())
}

/// The footer of a sealed segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Footer {
    pub first_index: u64,
    pub record_count: u64,
    pub records_end: u64,
    pub records_crc: u32,
    pub table_crc: u32,
}

impl Footer {
    fn encode(&self) -> [u8; FOOTER_LEN as usize] {
        let mut f = [0u8; FOOTER_LEN as usize];
        f[0..8].copy_from_slice(&FOOTER_MAGIC);
        f[8..16].copy_from_slice(&self.first_index.to_le_bytes());
        f[16..24].copy_from_slice(&self.record_count.to_le_bytes());
        f[24..32].copy_from_slice(&self.records_end.to_le_bytes());
        f[32..36].copy_from_slice(&self.records_crc.to_le_bytes());
        f[36..40].copy_from_slice(&self.table_crc.to_le_bytes());
        let crc = crc32fast::hash(&f[..44]);
        f[44..48].copy_from_slice(&crc.to_le_bytes());
        f
    }

    /// Decodes a footer; `Err` says why the bytes are not one.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Footer, &'static str> {
        let f = bytes.get(..FOOTER_LEN as usize).ok_or("footer cut short")?;
        if f[0..8] != FOOTER_MAGIC {
            return Err("bad footer magic");
        }
        if crc32fast::hash(&f[..44]) != le_u32(&f[44..48]) {
            return Err("footer checksum mismatch");
        }
        if le_u32(&f[40..44]) != 0 {
            return Err("reserved footer field is not zero");
        }
        Ok(Footer {
            first_index: le_u64(&f[8..16]),
            record_count: le_u64(&f[16..24]),
            records_end: le_u64(&f[24..32]),
            records_crc: le_u32(&f[32..36]),
            table_crc: le_u32(&f[36..40]),
        })
    }

    /// File length this footer implies, if it does not overflow.
    pub(crate) fn file_len(&self) -> Option<u64> {
        self.record_count
            .checked_mul(TABLE_ENTRY_LEN)?
            .checked_add(self.records_end)?
            .checked_add(FOOTER_LEN)
    }
}

/// Reads the footer at the end of a file of `len` bytes, if a valid one is there and agrees
/// with the file's length.
pub(crate) fn read_footer(file: &dyn StorageFile, len: u64) -> io::Result<Option<Footer>> {
    if len < SEGMENT_HEADER_LEN + FOOTER_LEN {
        return Ok(None);
    }
    let mut buf = [0u8; FOOTER_LEN as usize];
    file.read_exact_at(&mut buf, len - FOOTER_LEN)?;
    Ok(Footer::decode(&buf)
        .ok()
        .filter(|f| f.file_len() == Some(len) && f.records_end >= SEGMENT_HEADER_LEN))
}

/// Flushes the directory entry table of `dir` to stable storage.
pub(crate) fn sync_dir(be: &dyn StorageBackend, dir: &Path) -> Result<(), LogError> {
    be.sync_dir(dir).map_err(|e| LogError::io("fsync dir", dir, e))
}

/// Reserves `[from, to)` of `file` ahead of the writes, per `mode`. Not synced.
pub(crate) fn preallocate(
    file: &dyn StorageFile,
    mode: Preallocation,
    from: u64,
    to: u64,
) -> io::Result<()> {
    match mode {
        Preallocation::None => Ok(()),
        Preallocation::SetLen => file.set_len(to),
        Preallocation::ZeroFill => write_zeros(file, from, to),
    }
}

/// Writes zeros over `[from, to)`.
pub(crate) fn write_zeros(file: &dyn StorageFile, from: u64, to: u64) -> io::Result<()> {
    let zeros = vec![0u8; ZERO_CHUNK_BYTES];
    let mut pos = from;
    while pos < to {
        let n = (to - pos).min(ZERO_CHUNK_BYTES as u64) as usize;
        file.write_all_at(&zeros[..n], pos)?;
        pos += n as u64;
    }
    Ok(())
}

/// Creates segment `first_index` in `dir`: header, first preallocated chunk, synced.
/// The caller syncs the directory before acknowledging anything written to it.
pub(crate) fn create_segment(
    be: &dyn StorageBackend,
    dir: &Path,
    alg: HashAlgorithm,
    first_index: u64,
    prealloc: Preallocation,
    prealloc_end: u64,
) -> Result<(Box<dyn StorageFile>, PathBuf), LogError> {
    let path = dir.join(segment_file_name(first_index));
    let file = be
        .open(&path, OpenMode::CreateNew)
        .map_err(|e| LogError::io("create segment", &path, e))?;
    initialise_segment(&*file, alg, first_index, prealloc, prealloc_end)
        .map_err(|e| LogError::io("initialise segment", &path, e))?;
    Ok((file, path))
}

/// Writes the header of an empty segment file and preallocates it, then syncs it.
pub(crate) fn initialise_segment(
    file: &dyn StorageFile,
    alg: HashAlgorithm,
    first_index: u64,
    prealloc: Preallocation,
    prealloc_end: u64,
) -> io::Result<()> {
    file.write_all_at(&encode_segment_header(alg, first_index), 0)?;
    preallocate(file, prealloc, SEGMENT_HEADER_LEN, prealloc_end.max(SEGMENT_HEADER_LEN))?;
    file.sync_all()
}

/// Whether segment file `file` (`len` bytes, named for `first_index`) is one whose creation
/// never finished: a prefix of its header (possibly empty, as a failed or torn header write
/// leaves it) followed by zeros only (its preallocated space), so it holds no record. Bounded:
/// reads in 1 MiB pieces up to `len`.
pub(crate) fn is_unfinished_segment(
    file: &dyn StorageFile,
    len: u64,
    alg: HashAlgorithm,
    first_index: u64,
) -> io::Result<bool> {
    let expected = encode_segment_header(alg, first_index);
    let mut buf = vec![0u8; ZERO_CHUNK_BYTES];
    let mut pos = 0u64;
    // While true, the bytes read so far are exactly a prefix of the expected header.
    let mut in_header = true;
    while pos < len {
        let n = (len - pos).min(buf.len() as u64) as usize;
        let piece = &mut buf[..n];
        file.read_exact_at(piece, pos)?;
        for (k, &b) in piece.iter().enumerate() {
            let at = pos as usize + k;
            if in_header && expected.get(at) == Some(&b) {
                continue;
            }
            in_header = false;
            if b != 0 {
                return Ok(false);
            }
        }
        pos += n as u64;
    }
    Ok(true)
}

/// Seals the active segment: offset table and footer after the records, file cut to its
/// final length, synced, made read-only (0444). Returns the final length.
pub(crate) fn seal_segment(
    be: &dyn StorageBackend,
    file: &dyn StorageFile,
    path: &Path,
    first_index: u64,
    offsets: &[u64],
    records_end: u64,
    records_crc: u32,
) -> Result<u64, LogError> {
    let mut tail = Vec::with_capacity(offsets.len() * 4 + FOOTER_LEN as usize);
    for &o in offsets {
        // Segment sizes are capped below 4 GiB at creation, so offsets fit in a u32.
        tail.extend_from_slice(&u32::try_from(o).unwrap_or(u32::MAX).to_le_bytes());
    }
    let footer = Footer {
        first_index,
        record_count: offsets.len() as u64,
        records_end,
        records_crc,
        table_crc: crc32fast::hash(&tail),
    };
    tail.extend_from_slice(&footer.encode());
    let len = records_end + tail.len() as u64;
    let io = |op: &'static str| move |e| LogError::io(op, path, e);
    file.write_all_at(&tail, records_end).map_err(io("write footer"))?;
    file.set_len(len).map_err(io("set_len at seal"))?;
    file.sync_all().map_err(io("fsync at seal"))?;
    be.set_read_only(path).map_err(io("chmod 0444"))?;
    Ok(len)
}

/// Reads and checks the frame of record `index` at `[offset, end)` through `read_at`.
pub(crate) fn read_frame(
    read_at: impl Fn(&mut [u8], u64) -> io::Result<()>,
    path: &Path,
    index: u64,
    offset: u64,
    end: u64,
    frame_len_max: u64,
) -> Result<Record, LogError> {
    let bad = |at: u64, detail: &str| LogError::corruption(path, at, detail);
    let len = end
        .checked_sub(offset)
        .filter(|&l| l >= RECORD_HEADER_LEN as u64 && l <= frame_len_max)
        .ok_or_else(|| bad(offset, "record offset table entry out of bounds"))?;
    let mut frame = vec![0u8; len as usize];
    read_at(&mut frame, offset).map_err(|e| LogError::io("read record", path, e))?;
    let header = decode_header(&frame).map_err(|d| bad(offset, d))?;
    if header.index != index {
        return Err(bad(offset, "record holds another index"));
    }
    if header.frame_len() != len {
        return Err(bad(offset, "record length differs from the offset table"));
    }
    let payload = check_frame(&header, &frame).map_err(|d| bad(offset, d))?;
    let timestamp = Timestamp::from_bytes(&header.timestamp)
        .map_err(|e| bad(offset, &format!("bad record timestamp: {e}")))?;
    Ok(Record { index, timestamp, payload: payload.to_vec() })
}

/// A sealed segment, checked by name, length and footer; its bytes are opened on first read.
#[derive(Debug)]
pub(crate) struct SealedSegment {
    backend: Arc<dyn StorageBackend>,
    pub path: PathBuf,
    pub first_index: u64,
    pub record_count: u64,
    pub records_end: u64,
    pub file_len: u64,
    bytes: OnceLock<Arc<SealedBytes>>,
}

impl SealedSegment {
    /// Checks segment file `path` named for `first_index`: header, footer, length.
    pub(crate) fn check(
        backend: &Arc<dyn StorageBackend>,
        path: PathBuf,
        alg: HashAlgorithm,
        first_index: u64,
        segment_size_bytes: u64,
    ) -> Result<SealedSegment, LogError> {
        let file = backend
            .open(&path, OpenMode::Read)
            .map_err(|e| LogError::io("open segment", &path, e))?;
        let len = file.len_bytes().map_err(|e| LogError::io("stat segment", &path, e))?;
        let mut header = [0u8; SEGMENT_HEADER_LEN as usize];
        if len < SEGMENT_HEADER_LEN {
            return Err(LogError::corruption(&path, len, "sealed segment shorter than a header"));
        }
        file.read_exact_at(&mut header, 0).map_err(|e| LogError::io("read segment", &path, e))?;
        check_segment_header(&header, &path, alg, first_index)?;
        if len > segment_size_bytes {
            return Err(LogError::corruption(&path, len, "sealed segment longer than allowed"));
        }
        let footer = read_footer(&*file, len)
            .map_err(|e| LogError::io("read footer", &path, e))?
            .ok_or_else(|| {
            LogError::corruption(
                &path,
                len.saturating_sub(FOOTER_LEN),
                "sealed segment has no valid footer at its end (wrong length or damaged)",
            )
        })?;
        if footer.first_index != first_index {
            return Err(LogError::corruption(
                &path,
                len - FOOTER_LEN,
                "footer's first index differs from the file name",
            ));
        }
        Ok(SealedSegment {
            backend: Arc::clone(backend),
            path,
            first_index,
            record_count: footer.record_count,
            records_end: footer.records_end,
            file_len: len,
            bytes: OnceLock::new(),
        })
    }

    /// A sealed segment the committer has just written (already checked by construction).
    pub(crate) fn from_seal(
        backend: Arc<dyn StorageBackend>,
        path: PathBuf,
        first_index: u64,
        record_count: u64,
        records_end: u64,
        file_len: u64,
    ) -> SealedSegment {
        SealedSegment {
            backend,
            path,
            first_index,
            record_count,
            records_end,
            file_len,
            bytes: OnceLock::new(),
        }
    }

    /// Index one past the last record.
    pub(crate) fn end_index(&self) -> u64 {
        self.first_index + self.record_count
    }

    /// The segment's bytes (mapped read-only when possible), opened on first use.
    pub(crate) fn bytes(&self) -> Result<Arc<SealedBytes>, LogError> {
        if let Some(b) = self.bytes.get() {
            return Ok(b.clone());
        }
        let file = self
            .backend
            .open(&self.path, OpenMode::Read)
            .map_err(|e| LogError::io("open segment", &self.path, e))?;
        let len = file.len_bytes().map_err(|e| LogError::io("stat segment", &self.path, e))?;
        if len != self.file_len {
            return Err(LogError::corruption(&self.path, len, "sealed segment changed length"));
        }
        let bytes = Arc::new(SealedBytes::open(file, len));
        // Two readers may race to open; either result is equivalent.
        Ok(self.bytes.get_or_init(|| bytes).clone())
    }

    /// Reads record `index` (which this segment holds).
    pub(crate) fn read(&self, index: u64, frame_len_max: u64) -> Result<Record, LogError> {
        let bytes = self.bytes()?;
        let k = index - self.first_index;
        let table_at = self.records_end + k * TABLE_ENTRY_LEN;
        let read_u32 = |at: u64| -> Result<u64, LogError> {
            let mut b = [0u8; 4];
            bytes
                .read_exact_at(&mut b, at)
                .map_err(|e| LogError::io("read offset table", &self.path, e))?;
            Ok(u64::from(u32::from_le_bytes(b)))
        };
        let offset = read_u32(table_at)?;
        let end = if k + 1 == self.record_count {
            self.records_end
        } else {
            read_u32(table_at + TABLE_ENTRY_LEN)?
        };
        // The offset table is data from disk: bound the frame by this segment's own record
        // area before anything is allocated for it.
        if offset < SEGMENT_HEADER_LEN || end <= offset || end > self.records_end {
            return Err(LogError::corruption(
                &self.path,
                table_at,
                "record offset table entry outside the segment's record area",
            ));
        }
        read_frame(
            |buf, at| bytes.read_exact_at(buf, at),
            &self.path,
            index,
            offset,
            end,
            frame_len_max,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fuzz finding (fuzz/corpus/log_open_dir/seed-crash-table-entry): a sealed segment
    /// whose offset table's entry 1 is 0xFFFFFFFF, in a log whose manifest allows 4 GiB - 1
    /// segments, made `read(0)` allocate a 4 GiB frame buffer. The table entry is now bounded
    /// by the segment's record area first.
    #[test]
    fn an_offset_table_entry_past_the_record_area_is_corruption_not_a_4_gib_allocation() {
        use crate::backend::sim::SimBackend;
        use crate::backend::{OpenMode, StorageBackend};
        let sim = SimBackend::new(1);
        sim.mkdir_durable(Path::new("/d"));
        let be: Arc<dyn StorageBackend> = Arc::new(sim);
        let path = PathBuf::from("/d").join(segment_file_name(0));
        let file = be.open(&path, OpenMode::CreateNew).unwrap();
        initialise_segment(&*file, HashAlgorithm::Blake3, 0, Preallocation::None, 0).unwrap();
        let mut frames = Vec::new();
        let ts = [0u8; 20];
        crate::record::encode_frame(&mut frames, 0, 0, &ts, b"first");
        let second = SEGMENT_HEADER_LEN + frames.len() as u64;
        crate::record::encode_frame(&mut frames, 1, 0, &ts, b"second");
        file.write_all_at(&frames, SEGMENT_HEADER_LEN).unwrap();
        let records_end = SEGMENT_HEADER_LEN + frames.len() as u64;
        let crc = crc32fast::hash(&frames);
        seal_segment(&*be, &*file, &path, 0, &[SEGMENT_HEADER_LEN, second], records_end, crc)
            .unwrap();
        file.write_all_at(&u32::MAX.to_le_bytes(), records_end + TABLE_ENTRY_LEN).unwrap();
        let seg =
            SealedSegment::check(&be, path, HashAlgorithm::Blake3, 0, u64::from(u32::MAX)).unwrap();
        for index in [0, 1] {
            match seg.read(index, u64::from(u32::MAX)) {
                Err(LogError::Corruption { offset, .. }) => {
                    assert_eq!(offset, records_end + TABLE_ENTRY_LEN * index)
                }
                other => panic!("record {index}: {other:?}"),
            }
        }
    }

    #[test]
    fn segment_names_round_trip_and_reject_lookalikes() {
        assert_eq!(segment_file_name(42), "seg-00000000000000000042.log");
        assert_eq!(parse_segment_file_name(&segment_file_name(u64::MAX)), Some(u64::MAX));
        for bad in ["seg-42.log", "seg-0000000000000000004x.log", "seg-00000000000000000042.tmp"] {
            assert_eq!(parse_segment_file_name(bad), None);
        }
    }

    #[test]
    fn footer_round_trips_and_every_flipped_byte_is_caught() {
        let f = Footer {
            first_index: 7,
            record_count: 3,
            records_end: 99,
            records_crc: 5,
            table_crc: 6,
        };
        let b = f.encode();
        assert_eq!(Footer::decode(&b), Ok(f));
        for i in 0..b.len() {
            let mut bad = b;
            bad[i] ^= 0x10;
            assert!(Footer::decode(&bad).is_err());
        }
    }
}
