//! Crash recovery: torn tails are cut and reported, damage elsewhere is a typed error.

mod storage_support;

use coffre_log::{Log, LogError, LogOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;
use storage_support::{frames, make_writable, segments, small_options};

/// A log with `n` records, each appended alone (its own commit group), then closed.
fn log_with(dir: &Path, n: u32, opts: &LogOptions) -> Vec<Vec<u8>> {
    let log = Log::create(dir, opts.clone()).unwrap();
    let payloads: Vec<Vec<u8>> =
        (0..n).map(|i| format!("record number {i}").into_bytes()).collect();
    for p in &payloads {
        log.append(p).unwrap();
    }
    payloads
}

fn active_segment(dir: &Path) -> std::path::PathBuf {
    segments(dir).pop().unwrap()
}

#[test]
fn torn_last_record_is_cut_at_every_byte_offset() {
    let opts = small_options();
    let template = tempfile::tempdir().unwrap();
    let payloads = log_with(template.path(), 5, &opts);
    let seg = active_segment(template.path());
    let bytes = std::fs::read(&seg).unwrap();
    let (start, index, len) = *frames(&bytes).last().unwrap();
    assert_eq!(index, 4);
    let payload_end = start + 56 + payloads[4].len();
    for cut in start..start + len {
        for zero_fill_after in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            for entry in std::fs::read_dir(template.path()).unwrap() {
                let p = entry.unwrap().path();
                if p.is_file() {
                    std::fs::copy(&p, dir.path().join(p.file_name().unwrap())).unwrap();
                }
            }
            copy_dir(&template.path().join("tree"), &dir.path().join("tree"));
            let seg = active_segment(dir.path());
            let f = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
            f.set_len(cut as u64).unwrap();
            if zero_fill_after {
                // As if the space was preallocated: zeros where the torn write did not land.
                f.set_len((start + len + 4096) as u64).unwrap();
            }
            drop(f);
            let (log, report) = Log::open(dir.path(), opts.clone()).unwrap();
            if zero_fill_after && cut >= payload_end {
                // Only zero padding was missing, and the zeros are there: the record is whole.
                assert_eq!((report.records, report.torn_tail), (5, None), "cut at {cut}");
                continue;
            }
            assert_eq!(report.records, 4, "cut at {cut}");
            assert_eq!(log.len(), 4);
            let torn = report.torn_tail.clone();
            if cut == start {
                assert_eq!(torn, None, "nothing of the record was written");
            } else {
                let torn = torn.unwrap_or_else(|| panic!("cut at {cut}: torn tail not reported"));
                assert_eq!(torn.offset, start as u64);
                assert!(torn.bytes_cut > 0 && torn.bytes_cut <= (cut - start + 8) as u64);
                assert_eq!(torn.file, seg);
            }
            for i in 0..4 {
                assert_eq!(log.read(i).unwrap().payload, payloads[i as usize]);
            }
            assert!(log.read(4).is_err());
            assert_eq!(log.append(b"after recovery").unwrap().index, 4);
            drop(log);
            let (log, report) = Log::open(dir.path(), opts.clone()).unwrap();
            assert_eq!(report.torn_tail, None, "the cut region was zeroed");
            assert_eq!(log.read(4).unwrap().payload, b"after recovery");
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
    }
}

#[test]
fn garbage_after_the_tail_is_cut_and_reported() {
    let opts = small_options();
    let dir = tempfile::tempdir().unwrap();
    let payloads = log_with(dir.path(), 3, &opts);
    let seg = active_segment(dir.path());
    let end = std::fs::metadata(&seg).unwrap().len();
    let garbage: Vec<u8> = (0..300u32).map(|i| (i * 7 + 1) as u8).collect();
    std::fs::OpenOptions::new().append(true).open(&seg).unwrap().write_all(&garbage).unwrap();
    let (log, report) = Log::open(dir.path(), opts.clone()).unwrap();
    let torn = report.torn_tail.unwrap();
    assert_eq!(torn.offset, end);
    assert_eq!(torn.bytes_cut, 300);
    assert_eq!(log.len(), 3);
    assert_eq!(log.read(2).unwrap().payload, payloads[2]);
    log.append(b"x").unwrap();
    drop(log);
    let (log, report) = Log::open(dir.path(), opts).unwrap();
    assert_eq!((report.torn_tail, log.len()), (None, 4));
}

#[test]
fn flipped_byte_mid_active_segment_is_corruption_at_open() {
    let opts = small_options();
    let dir = tempfile::tempdir().unwrap();
    log_with(dir.path(), 5, &opts);
    let seg = active_segment(dir.path());
    let bytes = std::fs::read(&seg).unwrap();
    let (second, _, _) = frames(&bytes)[1];
    // A payload byte of the second record; records of later commit groups follow it.
    let at = second + 60;
    let f = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
    f.write_all_at(&[bytes[at] ^ 0x01], at as u64).unwrap();
    match Log::open(dir.path(), opts.clone()) {
        Err(LogError::Corruption { file, offset, .. }) => {
            assert_eq!(file, seg);
            assert_eq!(offset, second as u64);
        }
        other => panic!("expected corruption, got {other:?}"),
    }
    // A reader refuses it too, and nothing was cut.
    assert!(matches!(Log::open_read_only(dir.path(), opts), Err(LogError::Corruption { .. })));
    assert_eq!(std::fs::read(&seg).unwrap()[at], bytes[at] ^ 0x01);
}

#[test]
fn flipped_byte_in_a_sealed_record_is_corruption_when_read() {
    let opts = small_options();
    let dir = tempfile::tempdir().unwrap();
    let payloads = log_with(dir.path(), 120, &opts);
    let sealed = segments(dir.path()).remove(1);
    make_writable(&sealed);
    let bytes = std::fs::read(&sealed).unwrap();
    let first_index: u64 = sealed.file_name().unwrap().to_str().unwrap()[4..24].parse().unwrap();
    // Third record of the segment: header at 32 + two frames.
    let mut pos = 32usize;
    for _ in 0..2 {
        let len = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().unwrap()) as usize;
        pos += (56 + len).div_ceil(8) * 8;
    }
    let f = std::fs::OpenOptions::new().write(true).open(&sealed).unwrap();
    f.write_all_at(&[bytes[pos + 57] ^ 0x80], (pos + 57) as u64).unwrap();
    drop(f);
    // Sealed segments are checked by name, length and footer only: open succeeds.
    let (log, _) = Log::open(dir.path(), opts).unwrap();
    match log.read(first_index + 2) {
        Err(LogError::Corruption { file, offset, .. }) => {
            assert_eq!(file, sealed);
            assert_eq!(offset, pos as u64);
        }
        other => panic!("expected corruption, got {other:?}"),
    }
    assert_eq!(log.read(first_index + 1).unwrap().payload, payloads[first_index as usize + 1]);
}

#[test]
fn damaged_sealed_footer_or_length_is_corruption_at_open() {
    let opts = small_options();
    let dir = tempfile::tempdir().unwrap();
    log_with(dir.path(), 120, &opts);
    let sealed = segments(dir.path()).remove(0);
    make_writable(&sealed);
    let len = std::fs::metadata(&sealed).unwrap().len();
    let f = std::fs::OpenOptions::new().read(true).write(true).open(&sealed).unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, len - 20).unwrap();
    f.write_all_at(&[b[0] ^ 1], len - 20).unwrap();
    let err = Log::open(dir.path(), opts.clone()).unwrap_err();
    assert!(matches!(&err, LogError::Corruption { file, .. } if *file == sealed), "{err:?}");
    f.write_all_at(&b, len - 20).unwrap();
    f.set_len(len + 8).unwrap();
    let err = Log::open(dir.path(), opts.clone()).unwrap_err();
    assert!(matches!(&err, LogError::Corruption { file, .. } if *file == sealed), "{err:?}");
    f.set_len(len).unwrap();
    Log::open(dir.path(), opts).unwrap();
}

#[test]
fn missing_segment_is_corruption() {
    let opts = small_options();
    let dir = tempfile::tempdir().unwrap();
    log_with(dir.path(), 200, &opts);
    let segs = segments(dir.path());
    assert!(segs.len() >= 4);
    std::fs::remove_file(&segs[1]).unwrap();
    match Log::open(dir.path(), opts) {
        Err(LogError::Corruption { file, .. }) => assert_eq!(file, segs[1]),
        other => panic!("expected corruption, got {other:?}"),
    }
}

#[test]
fn arbitrary_bytes_in_the_active_segment_never_panic() {
    let opts = small_options();
    let dir = tempfile::tempdir().unwrap();
    log_with(dir.path(), 3, &opts);
    let seg = active_segment(dir.path());
    let original = std::fs::read(&seg).unwrap();
    let mut state = 0x9e3779b97f4a7c15u64;
    for round in 0..200 {
        let mut bytes = original.clone();
        for _ in 0..(round % 7 + 1) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let at = 32 + (state as usize) % (bytes.len() - 32);
            bytes[at] = (state >> 32) as u8;
        }
        std::fs::write(&seg, &bytes).unwrap();
        // Any outcome but a panic or hang is acceptable; an Ok must hold only intact records.
        if let Ok((log, _)) = Log::open(dir.path(), opts.clone()) {
            for r in log.iter(..) {
                r.unwrap();
            }
        }
    }
}
