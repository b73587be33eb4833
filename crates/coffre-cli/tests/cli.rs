//! Runs the real `coffre` binary: round trips, tamper detection, usage errors, JSON output
//! checked against the library, streaming append.

use base64::Engine as _;
use coffre_log::merkle::{verify_consistency, verify_inclusion};
use coffre_log::{Hash, Log, LogOptions};
use serde_json::Value;
use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_coffre");

fn coffre(args: &[&str]) -> Output {
    Command::new(BIN).args(args).stdin(Stdio::null()).output().unwrap()
}

fn coffre_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

#[track_caller]
fn ok(o: Output) -> Output {
    assert_eq!(o.status.code(), Some(0), "stdout: {}\nstderr: {}", stdout(&o), stderr(&o));
    o
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn b64(text: &Value) -> Hash {
    Hash::from_base64(text.as_str().unwrap()).unwrap()
}

/// A scratch directory with a key outside the vault and the vault path (not created yet).
struct Fixture {
    _tmp: tempfile::TempDir,
    key: PathBuf,
    vkey: String,
    vault: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let key = tmp.path().join("signer.key");
        let out = ok(coffre(&["keygen", "lycee.example.fr/coffre", "--out", p(&key)]));
        let vkey = stdout(&out).trim().to_string();
        let vault = tmp.path().join("vault");
        Fixture { vault, key, vkey, _tmp: tmp }
    }

    fn init(&self, extra: &[&str]) {
        let mut args = vec!["init", p(&self.vault), "--key", p(&self.key)];
        args.extend_from_slice(extra);
        ok(coffre(&args));
    }

    fn append(&self, lines: &str) -> Vec<Value> {
        let o = ok(coffre_stdin(&["append", p(&self.vault), "--json"], lines.as_bytes()));
        stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    fn segments(&self) -> Vec<PathBuf> {
        let mut s: Vec<PathBuf> = std::fs::read_dir(&self.vault)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with("seg-"))
            .collect();
        s.sort();
        s
    }
}

/// Flips one byte of a file (sealed segments are read-only, so the mode is lifted first).
fn flip_byte(path: &Path, offset: u64) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut bytes = std::fs::read(path).unwrap();
    bytes[offset as usize] ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}

/// Segment header (32) + record header (56): the first payload byte of a segment's first record.
const FIRST_PAYLOAD_OFFSET: u64 = 32 + 56;

#[test]
fn keygen_writes_a_0600_private_key_and_refuses_to_overwrite_it() {
    let f = Fixture::new();
    let mode = std::fs::metadata(&f.key).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let text = std::fs::read_to_string(&f.key).unwrap();
    assert!(text.starts_with("PRIVATE+KEY+lycee.example.fr/coffre+"), "{text}");
    assert!(f.vkey.starts_with("lycee.example.fr/coffre+"), "{}", f.vkey);
    let again = coffre(&["keygen", "other", "--out", p(&f.key)]);
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("refusing to overwrite"), "{}", stderr(&again));
    assert_eq!(std::fs::read_to_string(&f.key).unwrap(), text);
}

#[test]
fn round_trip_then_a_flipped_byte_in_a_sealed_segment_fails_verify_with_exit_1() {
    let f = Fixture::new();
    f.init(&["--segment-size", "4096", "--hash", "sha256"]);
    let lines: String = (0..300).map(|i| format!("record {i}\n")).collect();
    let receipts = f.append(&lines);
    assert_eq!(receipts.len(), 300);
    for (i, r) in receipts.iter().enumerate() {
        assert_eq!(r["index"], i as u64);
    }
    assert!(f.segments().len() > 2, "small segments must have been sealed");

    let out = ok(coffre(&["verify", p(&f.vault)]));
    assert!(stdout(&out).contains("300 records"), "{}", stdout(&out));
    let out = ok(coffre(&["read", p(&f.vault), "7"]));
    assert_eq!(out.stdout, b"record 7");

    flip_byte(&f.segments()[0], FIRST_PAYLOAD_OFFSET);
    let out = coffre(&["verify", p(&f.vault)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("seg-00000000000000000000.log") && err.contains("index 0"), "{err}");
}

#[test]
fn a_flipped_byte_early_in_the_active_segment_fails_verify_with_exit_1() {
    let f = Fixture::new();
    f.init(&[]);
    f.append("one\ntwo\n");
    f.append("three\n");
    assert_eq!(f.segments().len(), 1);
    flip_byte(&f.segments()[0], FIRST_PAYLOAD_OFFSET);
    let out = coffre(&["verify", p(&f.vault)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("seg-"), "{}", stderr(&out));
}

#[test]
fn a_flipped_byte_in_the_last_group_is_not_taken_for_a_torn_write_by_verify() {
    let f = Fixture::new();
    f.init(&[]);
    f.append("one\n");
    f.append("two\n");
    let seg = &f.segments()[0];
    // Record 1's frame starts after record 0's (56-byte header + "one", padded to 8).
    flip_byte(seg, FIRST_PAYLOAD_OFFSET + 64);
    let out = coffre(&["verify", p(&f.vault)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("record 1"), "{}", stderr(&out));
}

#[test]
fn info_json_matches_the_library() {
    let f = Fixture::new();
    f.init(&["--origin", "school.example/log", "--retention", "90d"]);
    f.append("a\nb\nc\nd\ne\n");
    let info = json(&ok(coffre(&["info", p(&f.vault), "--json"])));
    let log = Log::open_read_only(&f.vault, LogOptions::default()).unwrap();
    assert_eq!(info["size"], 5);
    assert_eq!(b64(&info["root"]), log.root(5).unwrap());
    assert_eq!(info["hash"], "blake3");
    assert_eq!(info["origin"], "school.example/log");
    assert_eq!(info["retention"], "90d");
    assert_eq!(info["retention_seconds"], 90 * 86_400);
    assert!(info.get("vkey").is_some());
}

#[test]
fn prove_json_proofs_verify_with_the_merkle_module() {
    let f = Fixture::new();
    f.init(&["--hash", "sha256"]);
    let lines: String = (0..20).map(|i| format!("r{i}\n")).collect();
    let receipts = f.append(&lines);
    let log = Log::open_read_only(&f.vault, LogOptions::default()).unwrap();
    let alg = log.hash_algorithm();

    let proof =
        json(&ok(coffre(&["prove", p(&f.vault), "--index", "6", "--size", "13", "--json"])));
    assert_eq!(proof["leaf_index"], 6);
    assert_eq!(proof["tree_size"], 13);
    assert_eq!(proof["leaf_hash"], receipts[6]["leaf_hash"]);
    assert_eq!(b64(&proof["root"]), log.root(13).unwrap());
    let path: Vec<Hash> = proof["proof"].as_array().unwrap().iter().map(b64).collect();
    let leaf = b64(&proof["leaf_hash"]);
    verify_inclusion(alg, 6, 13, &leaf, &path, &log.root(13).unwrap()).unwrap();

    let c = json(&ok(coffre(&["prove", p(&f.vault), "--from", "5", "--to", "20", "--json"])));
    assert_eq!((c["size1"].as_u64(), c["size2"].as_u64()), (Some(5), Some(20)));
    let (root1, root2) = (b64(&c["root1"]), b64(&c["root2"]));
    assert_eq!((root1, root2), (log.root(5).unwrap(), log.root(20).unwrap()));
    let path: Vec<Hash> = c["proof"].as_array().unwrap().iter().map(b64).collect();
    verify_consistency(alg, 5, 20, &root1, &root2, &path).unwrap();
}

#[test]
fn read_json_gives_metadata_and_base64_payload_and_raw_append_keeps_bytes() {
    let f = Fixture::new();
    f.init(&[]);
    let payload = b"line one\nline two\r\n\x00\xff binary";
    let out = ok(coffre_stdin(&["append", p(&f.vault), "--raw", "--json"], payload));
    let receipt: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(receipt["index"], 0);
    assert_eq!(ok(coffre(&["read", p(&f.vault), "0"])).stdout, payload);
    let meta = json(&ok(coffre(&["read", p(&f.vault), "0", "--json"])));
    let decoded =
        base64::engine::general_purpose::STANDARD.decode(meta["payload"].as_str().unwrap());
    assert_eq!(decoded.unwrap(), payload);
    assert_eq!(meta["leaf_hash"], receipt["leaf_hash"]);
    assert!(meta["timestamp"]["earliest_ns"].as_u64().unwrap() > 0);
}

#[test]
fn append_reads_a_file_argument_one_record_per_line() {
    let f = Fixture::new();
    f.init(&[]);
    let input = f.vault.parent().unwrap().join("input.txt");
    std::fs::write(&input, "x\r\ny\n\nz").unwrap();
    let out = ok(coffre(&["append", p(&f.vault), p(&input)]));
    assert_eq!(stdout(&out).lines().count(), 4);
    assert_eq!(ok(coffre(&["read", p(&f.vault), "0"])).stdout, b"x");
    assert_eq!(ok(coffre(&["read", p(&f.vault), "2"])).stdout, b"");
    assert_eq!(ok(coffre(&["read", p(&f.vault), "3"])).stdout, b"z");
}

/// Reads one line from the child's stdout within a generous hang guard (not a speed check).
fn read_line_or_hang(lines: &mpsc::Receiver<String>) -> String {
    lines.recv_timeout(Duration::from_secs(120)).expect("no receipt while stdin stays open")
}

#[test]
fn streaming_append_acknowledges_each_line_before_stdin_closes() {
    let f = Fixture::new();
    f.init(&[]);
    let mut child = Command::new(BIN)
        .args(["append", p(&f.vault), "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let child_stdout = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in child_stdout.lines() {
            if tx.send(line.unwrap()).is_err() {
                return;
            }
        }
    });
    stdin.write_all(b"first\n").unwrap();
    stdin.flush().unwrap();
    let first: Value = serde_json::from_str(&read_line_or_hang(&rx)).unwrap();
    assert_eq!(first["index"], 0);
    assert!(first["leaf_hash"].is_string() && first["timestamp"].is_object());
    stdin.write_all(b"second\n").unwrap();
    stdin.flush().unwrap();
    let second: Value = serde_json::from_str(&read_line_or_hang(&rx)).unwrap();
    assert_eq!(second["index"], 1);
    drop(stdin);
    let status = child.wait().unwrap();
    reader.join().unwrap();
    assert!(status.success());
    assert_eq!(ok(coffre(&["read", p(&f.vault), "1"])).stdout, b"second");
}

#[test]
fn usage_and_input_errors_exit_2_with_a_message_naming_the_culprit() {
    let f = Fixture::new();
    f.init(&[]);
    f.append("a\nb\n");
    let v = p(&f.vault);
    let inside_key = f.vault.join("k.key");
    std::fs::copy(&f.key, &inside_key).unwrap();
    let not_a_key = f.vault.parent().unwrap().join("not-a-key");
    std::fs::write(&not_a_key, "hello\n").unwrap();
    let fresh = f.vault.parent().unwrap().join("fresh");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec![], "Usage"),
        (vec!["frobnicate"], "frobnicate"),
        (vec!["init", p(&fresh)], "--key"),
        (vec!["init", p(&fresh), "--key", p(&f.key), "--retention", "12h"], "shorter than one day"),
        (vec!["init", p(&fresh), "--key", p(&f.key), "--retention", "5w"], "unknown unit"),
        (vec!["init", p(&fresh), "--key", p(&f.key), "--hash", "md5"], "md5"),
        (vec!["init", p(&fresh), "--key", p(&not_a_key)], "not-a-key"),
        (vec!["init", v, "--key", p(&f.key)], "already exists"),
        (vec!["append", v, "--key", p(&inside_key)], "inside the vault"),
        (vec!["append", v, "/nonexistent/input"], "/nonexistent/input"),
        (vec!["info", p(&fresh)], "no vault"),
        (vec!["read", v, "two"], "two"),
        (vec!["read", v, "9"], "record 9"),
        (vec!["prove", v], "--index"),
        (vec!["prove", v, "--index", "1", "--from", "1", "--to", "2"], "cannot be used"),
        (vec!["prove", v, "--index", "5"], "--index"),
        (vec!["prove", v, "--index", "0", "--size", "3"], "--size"),
        (vec!["prove", v, "--from", "0", "--to", "2"], "--from"),
        (vec!["verify", v, "--vkey", "garbage"], "--vkey"),
        (vec!["note", "sign", "--key", p(&f.key), "/nonexistent/note"], "/nonexistent/note"),
        (vec!["note", "verify", "--vkey", &f.vkey], "FILE"),
        (vec!["checkpoint", v], "--key"),
        (vec!["keygen", "bad name", "--out", p(&fresh)], "NAME"),
    ];
    for (args, needle) in cases {
        let out = coffre(&args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: stderr lacks {needle:?}: {err}");
    }
}

#[test]
fn every_command_has_help() {
    let commands: &[&[&str]] = &[
        &[],
        &["keygen"],
        &["init"],
        &["append"],
        &["info"],
        &["read"],
        &["checkpoint"],
        &["prove"],
        &["verify"],
        &["note"],
        &["note", "sign"],
        &["note", "verify"],
        &["hold"],
        &["release"],
        &["purge"],
        &["audit"],
        &["audit", "export"],
        &["audit", "verify"],
        &["ine"],
        &["ine", "check"],
        &["clock"],
        &["clock", "status"],
    ];
    for command in commands {
        let mut args = command.to_vec();
        args.push("--help");
        let out = ok(coffre(&args));
        assert!(stdout(&out).contains("Usage: coffre"), "{command:?}: {}", stdout(&out));
    }
}

#[test]
fn ine_check_reports_family_and_key_and_fails_on_any_invalid() {
    let out = ok(coffre(&["ine", "check", "1234567890v", "--json"]));
    let report = json(&out);
    assert_eq!(report["ines"][0]["ine"], "1234567890V");
    assert_eq!(report["ines"][0]["family"], "bea");
    assert_eq!(report["ines"][0]["key_check"], "verified");

    let out = coffre(&["ine", "check", "1234567890V", "1234567890A"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("1234567890V  valid"), "{text}");
    assert!(text.contains("1234567890A  INVALID  BEA key letter should be V"), "{text}");

    let out = coffre_stdin(&["ine", "check", "--json"], b"1234567890V\n\nshort\n");
    assert_eq!(out.status.code(), Some(1));
    let report = json(&out);
    assert_eq!((report["checked"].as_u64(), report["invalid"].as_u64()), (Some(2), Some(1)));
    assert_eq!(report["ines"][1]["valid"], false);
}

#[test]
fn note_sign_then_verify_round_trips_and_tampering_or_a_wrong_key_fails() {
    let f = Fixture::new();
    let dir = f.vault.parent().unwrap();
    let text = dir.join("statement.txt");
    std::fs::write(&text, "attendance of 2025-03-14 is complete\n").unwrap();
    let signed = ok(coffre(&["note", "sign", "--key", p(&f.key), p(&text)]));
    let note = dir.join("statement.note");
    std::fs::write(&note, &signed.stdout).unwrap();

    let out = ok(coffre(&["note", "verify", "--vkey", &f.vkey, p(&note)]));
    assert_eq!(stdout(&out), "attendance of 2025-03-14 is complete\n");
    let vkey_file = dir.join("vkey.txt");
    std::fs::write(&vkey_file, format!("{}\n", f.vkey)).unwrap();
    let out = ok(coffre(&["note", "verify", "--vkey", p(&vkey_file), p(&note), "--json"]));
    assert_eq!(json(&out)["signatures"][0]["name"], "lycee.example.fr/coffre");

    let tampered = stdout(&signed).replace("complete", "partial!");
    std::fs::write(&note, tampered).unwrap();
    let out = coffre(&["note", "verify", "--vkey", &f.vkey, p(&note)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));

    std::fs::write(&note, &signed.stdout).unwrap();
    let other = dir.join("other.key");
    let other_vkey = stdout(&ok(coffre(&["keygen", "other", "--out", p(&other)])));
    let out = coffre(&["note", "verify", "--vkey", other_vkey.trim(), p(&note)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

#[test]
fn init_records_the_key_and_verify_trusts_only_that_key() {
    let f = Fixture::new();
    f.init(&[]);
    let info = json(&ok(coffre(&["info", p(&f.vault), "--json"])));
    assert_eq!(info["vkey"], f.vkey.as_str());
    assert_eq!(info["checkpoint"]["size"], 0);

    f.append("a\nb\nc\n");
    let note = ok(coffre(&["checkpoint", p(&f.vault), "--key", p(&f.key)]));
    let note = stdout(&note);
    let opened = coffre_log::checkpoint::open_checkpoint(
        note.as_bytes(),
        &coffre_log::note::NoteVerifier::from_verifier_key(&f.vkey).unwrap(),
    )
    .unwrap();
    let log = Log::open_read_only(&f.vault, LogOptions::default()).unwrap();
    assert_eq!((opened.size, opened.root), (3, log.root(3).unwrap()));
    drop(log);

    let out = ok(coffre(&["verify", p(&f.vault), "--vkey", &f.vkey, "--json"]));
    let report = json(&out);
    assert_eq!(report["size"], 3);
    assert!(report["checkpoints_verified"].as_u64().unwrap() >= 2);

    let other_key = f.vault.parent().unwrap().join("other.key");
    let other_vkey = stdout(&ok(coffre(&["keygen", "intruder", "--out", p(&other_key)])));
    let out = coffre(&["verify", p(&f.vault), "--vkey", other_vkey.trim()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("not the trusted key"), "{}", stderr(&out));

    let out = coffre(&["checkpoint", p(&f.vault), "--key", p(&other_key)]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("signed by"), "{}", stderr(&out));
}

#[test]
fn append_with_key_signs_a_checkpoint_covering_the_new_records() {
    let f = Fixture::new();
    f.init(&[]);
    let out = ok(coffre_stdin(&["append", p(&f.vault), "--key", p(&f.key)], b"x\ny\n"));
    assert!(stderr(&out).contains("checkpoint signed: size 2"), "{}", stderr(&out));
    let info = json(&ok(coffre(&["info", p(&f.vault), "--json"])));
    assert_eq!(info["checkpoint"]["size"], 2);
    assert_eq!(info["checkpoint"]["root"], info["root"]);
}

#[test]
fn a_flipped_byte_in_the_checkpoint_file_fails_verify_with_exit_1() {
    let f = Fixture::new();
    f.init(&[]);
    f.append("a\nb\n");
    ok(coffre(&["checkpoint", p(&f.vault), "--key", p(&f.key)]));
    let file = f.vault.join(coffre_log::CHECKPOINTS_FILE);
    let len = std::fs::metadata(&file).unwrap().len();
    flip_byte(&file, len - 20);
    let out = coffre(&["verify", p(&f.vault)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("checkpoint"), "{}", stderr(&out));
}

#[test]
fn holds_are_placed_listed_released_and_purge_dry_run_reports() {
    let f = Fixture::new();
    f.init(&["--segment-size", "4096", "--retention", "1d"]);
    let lines: String = (0..200).map(|i| format!("record {i}\n")).collect();
    f.append(&lines);
    let hold = json(&ok(coffre(&[
        "hold",
        p(&f.vault),
        "--from",
        "0",
        "--to",
        "50",
        "--reason",
        "dossier 2025-17",
        "--json",
    ])));
    let id = hold["id"].as_u64().unwrap();
    let info = json(&ok(coffre(&["info", p(&f.vault), "--json"])));
    assert_eq!(info["holds"][0]["id"], id);
    assert_eq!(info["holds"][0]["reason"], "dossier 2025-17");
    let purge = json(&ok(coffre(&["purge", p(&f.vault), "--dry-run", "--json"])));
    assert_eq!(purge["dry_run"], true);
    assert_eq!(purge["purged"]["from"], purge["purged"]["to"], "nothing expired yet");
    ok(coffre(&["release", p(&f.vault), "--from", "0", "--to", "50", "--reason", "closed"]));
    let info = json(&ok(coffre(&["info", p(&f.vault), "--json"])));
    assert_eq!(info["holds"].as_array().unwrap().len(), 0);
    let out = coffre(&["release", p(&f.vault), &id.to_string(), "--reason", "again"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    ok(coffre(&["verify", p(&f.vault)]));
}

#[test]
fn payloads_with_the_system_record_prefix_are_refused_with_exit_2() {
    let f = Fixture::new();
    f.init(&[]);
    let mut payload = coffre_log::SYSTEM_RECORD_PREFIX.to_vec();
    payload.extend_from_slice(b"forged hold");
    let out = coffre_stdin(&["append", p(&f.vault), "--raw"], &payload);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("reserved"), "{}", stderr(&out));
    payload.push(b'\n');
    let mut input = b"fine\n".to_vec();
    input.extend_from_slice(&payload);
    let out = coffre_stdin(&["append", p(&f.vault)], &input);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("line 2"), "{}", stderr(&out));
}

/// A school-day attendance vault (the demo's, 20 students) in a fresh directory, and the demo
/// checkpoint key written to a key file outside it.
fn school_day_vault() -> (tempfile::TempDir, PathBuf, PathBuf, String) {
    use coffre_attendance::demo::{demo_signer, vault_with_school_day, SchoolDayConfig};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("vault");
    let config = SchoolDayConfig { students: 20, ..SchoolDayConfig::default() };
    let (vault, _clock, _summary) = vault_with_school_day(&dir, &config).unwrap();
    drop(vault);
    let key = tmp.path().join("demo.key");
    std::fs::write(&key, format!("{}\n", demo_signer().to_private_key())).unwrap();
    let vkey = demo_signer().verifier().to_verifier_key();
    (tmp, dir, key, vkey)
}

#[test]
fn audit_export_then_verify_round_trips_and_a_flipped_byte_fails_with_exit_1() {
    let (tmp, dir, key, vkey) = school_day_vault();
    let bundle = tmp.path().join("audit.bin");
    let export = json(&ok(coffre(&[
        "audit",
        "export",
        p(&dir),
        "--establishment",
        "LYCEE-DEMO-75",
        "--from",
        "2025-09-08",
        "--to",
        "2025-09-08",
        "--requested-by",
        "OPCO-EP",
        "--out",
        p(&bundle),
        "--key",
        p(&key),
        "--json",
    ])));
    assert_eq!(export["manifest_signed"], true);
    assert_eq!(export["left_out"].as_array().unwrap().len(), 0);
    assert_eq!(export["vkey"], vkey.as_str());

    let report = json(&ok(coffre(&["audit", "verify", p(&bundle), "--vkey", &vkey, "--json"])));
    assert_eq!(report["ok"], true);
    assert_eq!(report["establishment"], "LYCEE-DEMO-75");
    assert_eq!(report["funder"], "OPCO-EP");
    assert_eq!(
        report["records"].as_array().unwrap().len(),
        export["records"].as_u64().unwrap() as usize
    );
    assert!(report["signatures"].as_u64().unwrap() > 0);

    // The log commands work on the attendance vault directory too (its log is in log/).
    let info = json(&ok(coffre(&["info", p(&dir), "--json"])));
    assert!(info["size"].as_u64().unwrap() > export["request_index"].as_u64().unwrap());
    ok(coffre(&["verify", p(&dir)]));

    let other = tmp.path().join("other.key");
    let other_vkey = stdout(&ok(coffre(&["keygen", "other", "--out", p(&other)])));
    let out = coffre(&["audit", "verify", p(&bundle), "--vkey", other_vkey.trim()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let mut bytes = std::fs::read(&bundle).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&bundle, bytes).unwrap();
    let out = coffre(&["audit", "verify", p(&bundle), "--vkey", &vkey]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("audit.bin"), "{}", stderr(&out));
}

#[test]
fn audit_export_without_a_key_anchors_on_the_stored_checkpoint_and_lists_what_it_left_out() {
    let (tmp, dir, _key, vkey) = school_day_vault();
    let info = json(&ok(coffre(&["info", p(&dir), "--json"])));
    assert_eq!(info["vkey"], vkey.as_str());
    assert_eq!(info["checkpoint"]["size"], info["size"]);
    ok(coffre(&["verify", p(&dir), "--vkey", &vkey]));
    let bundle = tmp.path().join("audit.bin");
    let out = ok(coffre(&[
        "audit",
        "export",
        p(&dir),
        "--establishment",
        "LYCEE-DEMO-75",
        "--from",
        "2025-09-01",
        "--to",
        "2025-09-30",
        "--requested-by",
        "OPCO-EP",
        "--out",
        p(&bundle),
    ]));
    let text = stdout(&out);
    assert!(text.contains("left out"), "{text}");
    ok(coffre(&["audit", "verify", p(&bundle), "--vkey", &vkey]));
    let again = coffre(&[
        "audit",
        "export",
        p(&dir),
        "--establishment",
        "LYCEE-DEMO-75",
        "--from",
        "2025-09-01",
        "--to",
        "2025-09-30",
        "--requested-by",
        "OPCO-EP",
        "--out",
        p(&bundle),
    ]);
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("not overwritten"), "{}", stderr(&again));
    let bad_date = coffre(&[
        "audit",
        "export",
        p(&dir),
        "--establishment",
        "LYCEE-DEMO-75",
        "--from",
        "2025-13-01",
        "--to",
        "2025-09-30",
        "--requested-by",
        "OPCO-EP",
        "--out",
        p(&tmp.path().join("x")),
    ]);
    assert_eq!(bad_date.status.code(), Some(2));
    assert!(stderr(&bad_date).contains("--from"), "{}", stderr(&bad_date));
}

/// Records in the vault, as the library counts them.
fn log_len(vault: &Path) -> u64 {
    Log::open_read_only(vault, LogOptions::default()).unwrap().len()
}

#[test]
fn append_with_a_wrong_key_fails_before_appending_anything() {
    let f = Fixture::new();
    f.init(&[]);
    f.append("a\n");
    let other = f.vault.parent().unwrap().join("other.key");
    ok(coffre(&["keygen", "other.example/coffre", "--out", p(&other)]));
    let out = coffre_stdin(&["append", p(&f.vault), "--key", p(&other)], b"b\nc\n");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--key"), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "no receipt: {}", stdout(&out));
    assert_eq!(log_len(&f.vault), 1, "a refused key must leave the vault unchanged");
}

/// A running `coffre append` (the writer) with one acknowledged record, and its stdin.
fn running_writer(vault: &Path) -> (std::process::Child, std::process::ChildStdin) {
    let mut child = Command::new(BIN)
        .args(["append", p(vault)])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"while the service runs\n").unwrap();
    stdin.flush().unwrap();
    let mut receipt = String::new();
    BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut receipt).unwrap();
    assert!(receipt.starts_with("2 "), "receipt: {receipt}");
    (child, stdin)
}

#[test]
fn info_verify_and_prove_work_while_a_writer_is_appending() {
    // The writer syncs its tree file only every many thousand leaves, so a read-only open
    // sees acknowledged records whose leaves are not on disk yet.
    let f = Fixture::new();
    f.init(&[]);
    f.append("a\nb\n");
    let (mut writer, stdin) = running_writer(&f.vault);
    let v = p(&f.vault);
    let info = json(&ok(coffre(&["info", v, "--json"])));
    assert_eq!(info["size"], 3);
    let root_size = info["root_size"].as_u64().unwrap();
    assert!(root_size <= 3);
    let verified = json(&ok(coffre(&["verify", v, "--json"])));
    assert_eq!(verified["size"], 3);
    assert_eq!(verified["root"], info["root"]);
    let proof = json(&ok(coffre(&["prove", v, "--index", "0", "--json"])));
    assert_eq!(proof["tree_size"].as_u64(), Some(root_size));
    assert_eq!(proof["root"], info["root"]);
    ok(coffre(&["prove", v, "--from", "1", "--to", &root_size.to_string()]));
    if root_size < 3 {
        let out = coffre(&["prove", v, "--index", "0", "--size", "3"]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains("--size"), "{}", stderr(&out));
    }
    drop(stdin);
    assert!(writer.wait().unwrap().success());
    let info = json(&ok(coffre(&["info", v, "--json"])));
    assert_eq!(info["root_size"], 3, "a closed writer has synced its whole tree");
}

#[test]
fn keygen_refuses_to_write_a_private_key_inside_a_vault() {
    let f = Fixture::new();
    f.init(&[]);
    let inside = f.vault.join("k.key");
    let out = coffre(&["keygen", "x", "--out", p(&inside)]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("vault"), "{}", stderr(&out));
    assert!(!inside.exists());
    let deeper = f.vault.join("tree").join("k.key");
    assert_eq!(coffre(&["keygen", "x", "--out", p(&deeper)]).status.code(), Some(2));
    assert!(!deeper.exists());
    let (_tmp, school, _key, _vkey) = school_day_vault();
    let in_school = school.join("k.key");
    assert_eq!(coffre(&["keygen", "x", "--out", p(&in_school)]).status.code(), Some(2));
    assert!(!in_school.exists());
}

#[test]
fn append_to_a_closed_stdout_stops_without_panicking_and_names_the_unacknowledged_records() {
    let f = Fixture::new();
    f.init(&[]);
    let mut child = Command::new(BIN)
        .args(["append", p(&f.vault)])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // The reader of the receipts is gone.
    let mut stdin = child.stdin.take().unwrap();
    // The child may stop reading before all of it is written: ignore that error.
    let _ = stdin.write_all(b"a\nb\n");
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("stdout") && err.contains("not delivered"), "{err}");
    assert!(err.contains("records 0..="), "{err}");
}

#[test]
fn verify_json_prints_ok_false_on_tamper() {
    let f = Fixture::new();
    f.init(&[]);
    f.append("alpha\nbeta\n");
    flip_byte(&f.segments()[0], FIRST_PAYLOAD_OFFSET);
    let out = coffre(&["verify", p(&f.vault), "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["ok"], false);
    assert!(report["error"].as_str().unwrap().contains("record 0"), "{report}");
}

#[test]
fn more_usage_errors_exit_2_naming_the_flag_or_file() {
    let f = Fixture::new();
    f.init(&[]);
    f.append("a\nb\n");
    let dir = f.vault.parent().unwrap();
    let file = dir.join("plain-file");
    std::fs::write(&file, "x\n").unwrap();
    let fresh = dir.join("fresh");
    let key = p(&f.key);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["init", p(&file), "--key", key], "not a directory"),
        (vec!["init", p(&fresh), "--key", key, "--origin", ""], "--origin"),
        (vec!["init", p(&fresh), "--key", key, "--segment-size", "150"], "--segment-size"),
        (vec!["init", p(&fresh), "--key", key, "--segment-size", "8589934592"], "--segment-size"),
        (vec!["init", p(&fresh), "--key", key, "--retention", "0d"], "shorter than one day"),
        (vec!["init", p(&fresh), "--key", key, "--retention", "5x"], "unknown unit"),
        (vec!["init", p(&fresh), "--key", key, "--retention=-1y"], "-1y"),
        (vec!["init", p(&fresh), "--key", key, "--retention", "99999999999999999999y"], "too long"),
        (vec!["append", p(&file)], "no vault"),
        (vec!["verify", dir.to_str().unwrap()], "no vault"),
        (vec!["read", p(&f.vault), "18446744073709551615"], "out of range"),
        (vec!["prove", p(&f.vault), "--from", "2", "--to", "1"], "--from"),
        (vec!["hold", p(&f.vault), "--from", "3", "--to", "1", "--reason", "x"], "--from/--to"),
        (vec!["clock", "status", "--ntp", "nonsense"], "HOST:PORT"),
        (vec!["clock", "status", "--gpsd", "host:0"], "HOST:PORT"),
    ];
    for (args, needle) in cases {
        let out = coffre(&args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: stderr lacks {needle:?}: {err}");
    }
    assert!(!fresh.exists(), "no refused init leaves a directory behind");
}

#[test]
fn audit_export_refusals_name_the_flag_and_leave_the_vault_and_out_file_untouched() {
    let (tmp, dir, _key, _vkey) = school_day_vault();
    let log_dir = dir.join(coffre_attendance::vault::LOG_DIR);
    let before = log_len(&log_dir);
    let other = tmp.path().join("other.key");
    ok(coffre(&["keygen", "other.example/coffre", "--out", p(&other)]));
    let out_file = tmp.path().join("audit.bin");
    let export = |from: &str, to: &str, extra: &[&str]| {
        let mut args = vec![
            "audit",
            "export",
            p(&dir),
            "--establishment",
            "LYCEE-DEMO-75",
            "--from",
            from,
            "--to",
            to,
            "--requested-by",
            "OPCO-EP",
            "--out",
            p(&out_file),
        ];
        args.extend_from_slice(extra);
        coffre(&args)
    };
    for (out, needle) in [
        (export("2025-09-09", "2025-09-08", &[]), "--from/--to"),
        (export("2025-13-01", "2025-09-08", &[]), "--from"),
        (export("2025-09-08", "2025-09-08", &["--key", p(&other)]), "key"),
    ] {
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains(needle), "stderr lacks {needle:?}: {}", stderr(&out));
        assert!(!out_file.exists(), "a refused export leaves no bundle");
    }
    assert_eq!(log_len(&log_dir), before, "a refused export appends no request record");
}

#[test]
fn a_flipped_byte_in_the_last_group_under_a_checkpoint_names_the_segment_file() {
    // A read-only open takes damage in the last commit group for a torn write; the library
    // then reports the checkpoint as longer than the log. The damage is in the segment.
    let f = Fixture::new();
    f.init(&[]);
    f.append("alpha\nbeta\n");
    ok(coffre(&["checkpoint", p(&f.vault), "--key", p(&f.key)]));
    flip_byte(&f.segments()[0], FIRST_PAYLOAD_OFFSET);
    let out = coffre(&["verify", p(&f.vault), "--vkey", &f.vkey]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("seg-00000000000000000000.log"), "{}", stderr(&out));
}
