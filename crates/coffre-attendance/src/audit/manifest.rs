//! The bundle manifest: a signed note, by the log's key, listing what the bundle holds, so a
//! record removed from or added to a bundle is detected (proofs alone show only that each
//! record present is in the log).
//!
//! ```text
//! coffre-audit-bundle/v1
//! origin <log origin>
//! anchor <size> <root, base64>
//! latest <size> <root, base64>
//! older <count>
//! request <index of the audit-trail request record>
//! records <count> <base64 H(for each record: index u64 LE || leaf hash)>
//! left-out <count> <base64 H(for each: index u64 LE)>
//! ```
//!
//! H is the log's hash algorithm. The second line is not a decimal number, so the text can
//! never be read as a checkpoint signed by the same key.

use coffre_log::{Hash, HashAlgorithm};

/// First line of a manifest.
pub(crate) const MANIFEST_HEADER: &str = "coffre-audit-bundle/v1";

/// What a manifest states.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Manifest {
    pub origin: String,
    pub anchor: (u64, Hash),
    pub latest: (u64, Hash),
    pub older: usize,
    pub request: u64,
    pub records: (usize, Hash),
    pub left_out: (usize, Hash),
}

/// H over `index || leaf hash` of every record, in bundle order.
pub(crate) fn records_digest(alg: HashAlgorithm, records: &[(u64, Hash)]) -> Hash {
    let mut bytes = Vec::with_capacity(records.len() * 40);
    for (index, leaf) in records {
        bytes.extend_from_slice(&index.to_le_bytes());
        bytes.extend_from_slice(leaf.as_bytes());
    }
    alg.hash_parts(&[&bytes])
}

/// H over every left-out index, in order.
pub(crate) fn left_out_digest(alg: HashAlgorithm, left_out: &[u64]) -> Hash {
    let bytes: Vec<u8> = left_out.iter().flat_map(|i| i.to_le_bytes()).collect();
    alg.hash_parts(&[&bytes])
}

impl Manifest {
    /// The note text (ends with a newline).
    pub(crate) fn to_text(&self) -> String {
        format!(
            "{MANIFEST_HEADER}\norigin {}\nanchor {} {}\nlatest {} {}\nolder {}\nrequest {}\n\
             records {} {}\nleft-out {} {}\n",
            self.origin,
            self.anchor.0,
            self.anchor.1.to_base64(),
            self.latest.0,
            self.latest.1.to_base64(),
            self.older,
            self.request,
            self.records.0,
            self.records.1.to_base64(),
            self.left_out.0,
            self.left_out.1.to_base64(),
        )
    }
}
