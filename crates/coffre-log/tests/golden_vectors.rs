//! Conformance with the RFC 6962 golden proof vectors of transparency-dev/merkle (SHA-256),
//! copied under ../shared/vectors/rfc6962: every positive case verifies, every negative case
//! is rejected. A missing or empty vector folder fails the test: it never skips.
//!
//! Some vectors carry "hashes" that are not 32 bytes (`"don't care"` roots, empty or 9-byte
//! leaf hashes, empty proof entries). Our API takes [`Hash`], a 32-byte type, so such a value
//! never reaches the verifier: [`Hash::from_base64`] (and so JSON decoding of a proof) refuses
//! it (transparency-dev rejects most of them by a length check). To run the verifier on those
//! cases anyway, each such value is replaced by a stand-in 32-byte hash derived from the
//! field's role (leaf, root, proof) and its bytes: equal roots stay equal, a leaf never equals
//! a root. The verifier must then reject every negative case on its own. One positive case
//! ("sizes are equal (one) and proof is empty") has two equal 12-byte roots: it tests that
//! equal sizes need only equal roots, and passes with the stand-ins.

use std::path::{Path, PathBuf};

use coffre_log::merkle::{verify_consistency, verify_inclusion};
use coffre_log::{Hash, HashAlgorithm};
use serde_json::Value;

const ALG: HashAlgorithm = HashAlgorithm::Sha256;

fn vectors_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/vectors/rfc6962"))
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("golden vector folder {} is unreadable: {e}", dir.display()));
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            json_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

/// Decodes a vector hash; a non-32-byte value becomes a stand-in (see the module doc).
/// Returns the hash and whether it was a real 32-byte value.
fn hash(role: &str, value: &Value) -> (Hash, bool) {
    use base64::Engine as _;
    let text = value.as_str().unwrap_or("");
    if let Some(h) = Hash::from_base64(text) {
        return (h, true);
    }
    let bytes = base64::engine::general_purpose::STANDARD.decode(text).unwrap();
    (ALG.hash_parts(&[b"coffre-golden-stand-in:", role.as_bytes(), b":", &bytes]), false)
}

fn path(value: &Value) -> (Vec<Hash>, bool) {
    let items = value.as_array().map(Vec::as_slice).unwrap_or(&[]);
    let decoded: Vec<(Hash, bool)> = items.iter().map(|h| hash("proof", h)).collect();
    let all_real = decoded.iter().all(|(_, real)| *real);
    (decoded.into_iter().map(|(h, _)| h).collect(), all_real)
}

fn number(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("field {key} is not a u64: {v}"))
}

struct Outcome {
    ok: bool,
    all_hashes_real: bool,
    detail: String,
}

fn run_inclusion(v: &Value) -> Outcome {
    let (index, size) = (number(v, "leafIdx"), number(v, "treeSize"));
    let (leaf, leaf_real) = hash("leaf", &v["leafHash"]);
    let (root, root_real) = hash("root", &v["root"]);
    let (proof, proof_real) = path(&v["proof"]);
    let result = verify_inclusion(ALG, index, size, &leaf, &proof, &root);
    Outcome {
        ok: result.is_ok(),
        all_hashes_real: leaf_real && root_real && proof_real,
        detail: format!("{result:?}"),
    }
}

fn run_consistency(v: &Value) -> Outcome {
    let (size1, size2) = (number(v, "size1"), number(v, "size2"));
    let (root1, real1) = hash("root", &v["root1"]);
    let (root2, real2) = hash("root", &v["root2"]);
    let (proof, proof_real) = path(&v["proof"]);
    let result = verify_consistency(ALG, size1, size2, &root1, &root2, &proof);
    Outcome {
        ok: result.is_ok(),
        all_hashes_real: real1 && real2 && proof_real,
        detail: format!("{result:?}"),
    }
}

#[test]
fn every_rfc6962_golden_vector_has_the_expected_outcome() {
    let dir = vectors_dir();
    assert!(
        dir.is_dir(),
        "golden vectors are missing: expected the folder {} (see its README)",
        dir.display()
    );
    let mut counts = [[0usize; 2]; 2]; // [inclusion, consistency] x [positive, negative]
    let mut failures = Vec::new();
    let mut decode_rejections = 0usize;
    for kind in ["inclusion", "consistency"] {
        let mut files = Vec::new();
        json_files(&dir.join(kind), &mut files);
        assert!(!files.is_empty(), "no {kind} vectors under {}", dir.display());
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            let v: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not JSON: {e}", file.display()));
            let want_err = v["wantErr"].as_bool().expect("wantErr is a boolean");
            let outcome = if kind == "inclusion" { run_inclusion(&v) } else { run_consistency(&v) };
            let kind_slot = usize::from(kind == "consistency");
            counts[kind_slot][usize::from(want_err)] += 1;
            // The verifier itself must get every case right, stand-ins included; a non-32-byte
            // value is in addition refused when decoded, before any verification.
            let rejected = !outcome.ok;
            if !outcome.all_hashes_real {
                decode_rejections += 1;
                let equal_sizes = kind == "consistency" && v["size1"] == v["size2"];
                assert!(
                    want_err || equal_sizes,
                    "{}: positive case with a non-32-byte hash",
                    file.display()
                );
            }
            if rejected != want_err {
                failures.push(format!(
                    "{}: wantErr={want_err}, got {}",
                    file.display(),
                    outcome.detail
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{} vectors failed:\n{}", failures.len(), failures.join("\n"));
    let total: usize = counts.iter().flatten().sum();
    eprintln!("{total} vectors, {decode_rejections} with a non-32-byte hash: {counts:?}");
    assert!(total > 100, "only {total} golden vectors found under {}", dir.display());
    for (kind, [positive, negative]) in ["inclusion", "consistency"].iter().zip(counts) {
        assert!(positive > 0 && negative > 0, "{kind}: {positive} positive, {negative} negative");
    }
}
