//! Target `audit_bundle_verify`: `coffre_attendance::verify_audit` on hostile audit bundles
//! (docs/AUDIT.md), against the demo vaults' log key.
//!
//! Input layout, by the first byte:
//! - `0x00`, then 3-byte edits `u16 LE offset || u8 mask`: the *reference* bundle (a real
//!   one-session export of a tiny demo vault, built once per process) with each edit applied
//!   in order: `mask != 0` XORs the byte at `offset mod len`, `mask == 0` truncates the
//!   bundle to `offset mod len` bytes. This reaches past the signatures and proofs into every
//!   check while the seeds stay a few bytes long (a valid bundle is several KB).
//! - anything else: the input is a bundle as is.
//!
//! Invariants beyond "no panic":
//! - every input that parses re-encodes to itself (`format::reencode`: one encoding per value);
//! - the reference bundle verifies, and an edited one verifies only if its bytes are the
//!   reference's again (edits that cancel out): a bundle altered in any byte fails;
//! - a raw bundle that verifies reports records in strictly increasing index order, all
//!   covered by the anchor, latest size ≥ anchor size, and fails once any bit of its records
//!   section is flipped.

use super::support::scratch_dir;
use coffre_attendance::audit::format::{reencode, HEADER_LEN};
use coffre_attendance::demo::{self, SchoolDayConfig};
use coffre_attendance::events::AuditScope;
use coffre_attendance::identity::{Actor, FunderId, StaffId};
use coffre_attendance::{verify_audit, AuditReport, AuditRequest};
use coffre_log::note::NoteVerifier;
use std::sync::OnceLock;

/// Tag of the records section (docs/AUDIT.md, "Sections").
const RECORDS_TAG: u8 = 5;

fn trusted_key() -> &'static NoteVerifier {
    static KEY: OnceLock<NoteVerifier> = OnceLock::new();
    KEY.get_or_init(|| demo::demo_signer().verifier())
}

/// A real bundle: one session of a four-student demo day (rotating QR signatures, a teacher
/// signature, enrolments, the audit request), signed manifest.
fn reference() -> &'static [u8] {
    static BUNDLE: OnceLock<Vec<u8>> = OnceLock::new();
    BUNDLE.get_or_init(|| {
        let dir = scratch_dir();
        let config = SchoolDayConfig { students: 4, batch: 1, ..SchoolDayConfig::default() };
        let (vault, _clock, summary) =
            demo::vault_with_school_day(dir.path(), &config).expect("demo vault");
        let session = summary
            .sessions
            .iter()
            .find(|s| s.session.as_str().ends_with("B1"))
            .expect("session B1")
            .session
            .clone();
        let request = AuditRequest {
            establishment: demo::establishment(&config.establishment),
            funder: FunderId::new("OPCO-EP").expect("funder"),
            scope: AuditScope::Session(session),
        };
        let by = Actor::Administrator(StaffId::new("opco").expect("staff"));
        vault.export_audit(&request, &by).expect("export").into_bytes()
    })
}

/// The byte range of the records section's body, if the section headers are well formed.
fn records_body(bundle: &[u8]) -> Option<std::ops::Range<usize>> {
    let mut at = HEADER_LEN;
    loop {
        let tag = *bundle.get(at)?;
        let len = u32::from_le_bytes(bundle.get(at + 1..at + 5)?.try_into().ok()?) as usize;
        let body = at + 5..at.checked_add(5 + len)?;
        if tag == RECORDS_TAG {
            return Some(body);
        }
        at = body.end;
    }
}

fn check_report(report: &AuditReport) {
    assert!(report.latest.size >= report.anchor.size, "latest older than the anchor");
    for pair in report.records.windows(2) {
        assert!(pair[0].index < pair[1].index, "records not in strictly increasing order");
    }
    for record in &report.records {
        assert!(record.index < report.anchor.size, "record {} beyond the anchor", record.index);
    }
}

fn run_edits(edits: &[u8]) {
    let original = reference();
    let mut bundle = original.to_vec();
    for edit in edits.chunks_exact(3) {
        if bundle.is_empty() {
            break;
        }
        let at = usize::from(u16::from_le_bytes([edit[0], edit[1]])) % bundle.len();
        match edit[2] {
            0 => bundle.truncate(at),
            mask => bundle[at] ^= mask,
        }
    }
    if let Ok(again) = reencode(&bundle) {
        assert_eq!(again, bundle, "bundle encoding is not canonical");
    }
    match verify_audit(&bundle, trusted_key()) {
        Ok(report) => {
            assert_eq!(bundle, original, "an altered bundle verified");
            check_verified(&bundle, &report);
        }
        Err(e) => assert_ne!(bundle, original, "the reference bundle fails: {e}"),
    }
}

/// FNV-1a over the input: a cheap, deterministic choice of the bit to flip.
fn fnv1a(data: &[u8]) -> u64 {
    data.iter()
        .fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

fn run_raw(data: &[u8]) {
    if let Ok(again) = reencode(data) {
        assert_eq!(again, data, "bundle encoding is not canonical");
    }
    let Ok(report) = verify_audit(data, trusted_key()) else { return };
    check_verified(data, &report);
}

/// The invariants of a bundle that verified.
fn check_verified(data: &[u8], report: &AuditReport) {
    check_report(report);
    if let Some(body) = records_body(data).filter(|r| !r.is_empty()) {
        // One bit, chosen by the input, of the records section: each byte there is bound by a
        // proof, a length or the signed manifest.
        let n = fnv1a(data);
        let at = body.start + (n % body.len() as u64) as usize;
        let mut flipped = data.to_vec();
        flipped[at] ^= 1 << (n >> 61);
        assert!(verify_audit(&flipped, trusted_key()).is_err(), "flip at byte {at} verified");
    }
}

/// The fuzz body.
pub fn run(data: &[u8]) {
    match data.split_first() {
        Some((0, edits)) => run_edits(edits),
        _ => run_raw(data),
    }
}

/// Seeds: the reference bundle unedited (the full valid bundle, built at replay time: it is
/// larger than a committed seed may be), with single flips in the header, the anchor note,
/// the records, the manifest, and truncated; prefixes of the raw bundle (and the raw bundle
/// itself, should it ever fit in a committed seed).
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    let bundle = reference();
    let len = bundle.len();
    let edit = |at: usize, mask: u8| {
        let mut out = vec![0u8];
        out.extend_from_slice(&u16::try_from(at % 65_536).unwrap_or(0).to_le_bytes());
        out.push(mask);
        out
    };
    let mut out = vec![
        ("edit-none".to_string(), vec![0u8]),
        ("edit-version".to_string(), edit(8, 0x01)),
        ("edit-anchor".to_string(), edit(HEADER_LEN + 40, 0x04)),
        ("edit-middle".to_string(), edit(len / 2, 0x80)),
        ("edit-manifest".to_string(), edit(len - 10, 0x20)),
        ("edit-truncate".to_string(), edit(len - 1, 0)),
    ];
    if let Some(body) = records_body(bundle) {
        out.push(("edit-record-count".to_string(), edit(body.start, 0x01)));
    }
    // The raw bundle is a seed of its own when small enough to commit (seeds stay < 4 KB);
    // its prefixes always are.
    if len < 4096 {
        out.push(("raw-bundle".to_string(), bundle.to_vec()));
    }
    for prefix in [HEADER_LEN, 64, 512] {
        out.push((format!("raw-prefix-{prefix}"), bundle[..prefix.min(len)].to_vec()));
    }
    out
}
