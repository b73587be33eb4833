//! Target `log_open_dir`: a whole log directory built from the input, opened read-only and
//! for writing, every record read back (see [`super::support::open_and_check`]).
//!
//! Input layout: one flags byte, then entries `kind(u8) arg(u8) len(u16 LE) bytes[len]`
//! until the input ends (a short last entry takes what is left). `kind % 8` picks the file:
//! 0 the manifest, 1 segment `seg-<arg>.log`, 2 `tree/head`, 3 `tree/level-<arg % 64>.hashes`,
//! 4 a stray file (lock file, look-alike segment names, a `tree` file in place of the folder),
//! 5 `checkpoints.notes`, 6 `checkpoint.vkey`, 7 `retention.state` (read by the log as those
//! features land; until then they are stray files). New log files get a new kind here.
//! Later entries overwrite earlier ones of the same name.

use super::support::{
    open_and_check, repair_manifest, repair_segment, repair_tree_head, repair_tree_level,
    sample_log_files, scratch_dir, segment_file_name, template,
};
use std::path::Path;

/// Flag: rewrite the CRC32s of every file after building it (reaches past the checksums).
pub const FLAG_REPAIR: u8 = 1;
/// Flag: also open for writing (recovery, tree rebuild, one append).
pub const FLAG_WRITABLE: u8 = 2;
/// Flag: write a valid manifest first (an input manifest entry replaces it).
pub const FLAG_TEMPLATE_MANIFEST: u8 = 4;
/// Entries read at most.
const ENTRIES_MAX: usize = 32;

const STRAY_NAMES: [&str; 5] = [
    "coffre.lock",
    "seg-1.log",
    "seg-00000000000000000000.log.tmp",
    "seg-0000000000000000000x.log",
    "tree",
];

/// One file of the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `kind % 8` (see the module documentation).
    pub kind: u8,
    /// Segment first index, level number or stray-name choice.
    pub arg: u8,
    /// File contents.
    pub bytes: Vec<u8>,
}

/// Splits the input after the flags byte into entries.
pub fn parse_entries(mut rest: &[u8]) -> Vec<Entry> {
    let mut entries = Vec::new();
    while rest.len() >= 4 && entries.len() < ENTRIES_MAX {
        let (kind, arg) = (rest[0] % 8, rest[1]);
        let len = usize::from(u16::from_le_bytes([rest[2], rest[3]]));
        let body = &rest[4..];
        let take = len.min(body.len());
        entries.push(Entry { kind, arg, bytes: body[..take].to_vec() });
        rest = &body[take..];
    }
    entries
}

/// The inverse of [`parse_entries`] (for seeds).
pub fn encode_entries(flags: u8, entries: &[Entry]) -> Vec<u8> {
    let mut out = vec![flags];
    for e in entries {
        let len = u16::try_from(e.bytes.len()).expect("seed entry under 64 KiB");
        out.extend_from_slice(&[e.kind, e.arg]);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&e.bytes);
    }
    out
}

fn path_of(entry: &Entry) -> String {
    match entry.kind {
        0 => coffre_log::MANIFEST_FILE.to_string(),
        1 => segment_file_name(u64::from(entry.arg)),
        2 => "tree/head".to_string(),
        3 => format!("tree/level-{:02}.hashes", entry.arg % 64),
        5 => "checkpoints.notes".to_string(),
        6 => "checkpoint.vkey".to_string(),
        7 => "retention.state".to_string(),
        _ => STRAY_NAMES[usize::from(entry.arg) % STRAY_NAMES.len()].to_string(),
    }
}

fn write_entry(dir: &Path, entry: &Entry, repair: bool) {
    let mut bytes = entry.bytes.clone();
    if repair {
        match entry.kind {
            0 => repair_manifest(&mut bytes),
            1 => repair_segment(&mut bytes),
            2 => repair_tree_head(&mut bytes),
            3 => repair_tree_level(&mut bytes),
            _ => {}
        }
    }
    let path = dir.join(path_of(entry));
    if entry.kind == 2 || entry.kind == 3 {
        // A stray `tree` file makes this fail: the log must then cope without a tree dir.
        let _ = std::fs::create_dir_all(dir.join("tree"));
    }
    // A path that is a directory (stray `tree`) cannot be written: that layout is skipped.
    let _ = std::fs::write(path, bytes);
}

/// The fuzz body.
pub fn run(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let entries = parse_entries(rest);
    let dir = scratch_dir();
    if flags & FLAG_TEMPLATE_MANIFEST != 0 {
        let _ = std::fs::write(dir.path().join(coffre_log::MANIFEST_FILE), &template().manifest);
    }
    for entry in &entries {
        write_entry(dir.path(), entry, flags & FLAG_REPAIR != 0);
    }
    open_and_check(dir.path(), flags & FLAG_WRITABLE != 0);
}

fn entry_for(name: &str, bytes: Vec<u8>) -> Entry {
    let (kind, arg) = if name == coffre_log::MANIFEST_FILE {
        (0, 0)
    } else if let Some(first) = name.strip_prefix("seg-").and_then(|s| s.strip_suffix(".log")) {
        (1, first.parse::<u8>().expect("seed segment index below 256"))
    } else if name == "tree/head" {
        (2, 0)
    } else if let Some(level) =
        name.strip_prefix("tree/level-").and_then(|s| s.strip_suffix(".hashes"))
    {
        (3, level.parse::<u8>().expect("level number"))
    } else if let Some(kind) =
        ["checkpoints.notes", "checkpoint.vkey", "retention.state"].iter().position(|n| *n == name)
    {
        (kind as u8 + 5, 0)
    } else {
        panic!("file {name} of a sample log has no entry kind: add one in log_open_dir.rs")
    };
    Entry { kind, arg, bytes }
}

/// Seeds: real logs (empty, one segment, several sealed segments, with and without their
/// tree), plus a torn tail and a roll in progress.
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    let payload = |i: usize| format!("record {i:03} of the seed log").into_bytes();
    let many: Vec<Vec<u8>> = (0..14).map(payload).collect();
    let many: Vec<&[u8]> = many.iter().map(Vec::as_slice).collect();
    let cases: [(&str, &[&[u8]], bool); 5] = [
        ("empty", &[], true),
        ("one-record", &[b"hello"], true),
        ("three-records-no-tree", &many[..3], false),
        ("sealed-segments", &many, true),
        ("sealed-segments-no-tree", &many, false),
    ];
    let mut out = Vec::new();
    for (name, payloads, keep_tree) in cases {
        let dir = scratch_dir();
        let entries: Vec<Entry> = sample_log_files(dir.path(), payloads, keep_tree)
            .into_iter()
            .map(|(n, b)| entry_for(&n, b))
            .collect();
        out.push((format!("{name}-ro"), encode_entries(FLAG_REPAIR, &entries)));
        out.push((name.to_string(), encode_entries(FLAG_REPAIR | FLAG_WRITABLE, &entries)));
        if name == "sealed-segments" {
            // Torn tail: the last segment loses its last 20 bytes.
            let mut torn = entries.clone();
            if let Some(last) = torn.iter_mut().filter(|e| e.kind == 1).last() {
                let keep = last.bytes.len().saturating_sub(20);
                last.bytes.truncate(keep);
            }
            out.push(("torn-tail".to_string(), encode_entries(FLAG_WRITABLE, &torn)));
            // A stray all-zero segment past the last one (not a roll: the last is active).
            let mut rolling = entries.clone();
            let next = rolling.iter().filter(|e| e.kind == 1).map(|e| e.arg).max().unwrap_or(0);
            rolling.push(Entry { kind: 1, arg: next.saturating_add(40), bytes: vec![0; 64] });
            out.push(("stray-zero-segment".to_string(), encode_entries(FLAG_WRITABLE, &rolling)));
            out.push(("crash-table-entry".to_string(), table_entry_past_4_gib(&entries)));
        }
    }
    out.push(("template-manifest-only".to_string(), vec![FLAG_TEMPLATE_MANIFEST | FLAG_WRITABLE]));
    out
}

/// Fuzz finding, fixed (crates/coffre-log/src/segment.rs, its regression unit test): a sealed
/// segment whose offset table's entry 1 is 0xFFFFFFFF, in a log whose manifest allows segments
/// of 4 GiB - 1, made reading record 0 allocate a 4 GiB frame buffer. The table checksum in
/// the footer is recomputed here and the other CRCs by `FLAG_REPAIR`, so only the bound on the
/// entry can stop it.
fn table_entry_past_4_gib(entries: &[Entry]) -> Vec<u8> {
    let mut entries = entries.to_vec();
    if let Some(manifest) = entries.iter_mut().find(|e| e.kind == 0) {
        // Manifest bytes 16..24: segment_size_bytes (docs/FORMAT.md).
        manifest.bytes[16..24].copy_from_slice(&u64::from(u32::MAX).to_le_bytes());
    }
    let sealed = entries
        .iter_mut()
        .filter(|e| e.kind == 1)
        .min_by_key(|e| e.arg)
        .expect("the sample log has segments");
    let b = &mut sealed.bytes;
    let footer = b.len() - 48;
    assert_eq!(&b[footer..footer + 8], b"COFFSEAL", "segment 0 of the sample log is sealed");
    let le_u64 = |x: &[u8]| u64::from_le_bytes(x.try_into().expect("8 bytes"));
    let count = le_u64(&b[footer + 16..footer + 24]) as usize;
    let records_end = le_u64(&b[footer + 24..footer + 32]) as usize;
    assert!(count >= 2, "segment 0 holds two records or more");
    b[records_end + 4..records_end + 8].copy_from_slice(&u32::MAX.to_le_bytes());
    let table_crc = crc32fast::hash(&b[records_end..records_end + 4 * count]);
    b[footer + 32..footer + 36].copy_from_slice(&table_crc.to_le_bytes());
    encode_entries(FLAG_REPAIR | FLAG_WRITABLE, &entries)
}
