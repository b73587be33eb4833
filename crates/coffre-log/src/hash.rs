//! Hash algorithms and the RFC 6962 leaf and node hashes.

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Length of every hash Coffre stores.
pub const HASH_LEN: usize = 32;

/// A 32-byte hash (BLAKE3 or SHA-256). Serialized as standard base64, as in the C2SP formats.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; HASH_LEN]);

impl Hash {
    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; HASH_LEN] {
        &self.0
    }

    /// Standard base64 (with padding) of the bytes.
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.0)
    }

    /// Parses standard base64 of exactly 32 bytes.
    pub fn from_base64(text: &str) -> Option<Hash> {
        let bytes = base64::engine::general_purpose::STANDARD.decode(text).ok()?;
        let arr: [u8; HASH_LEN] = bytes.try_into().ok()?;
        Some(Hash(arr))
    }

    /// Lowercase hex of the bytes.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

impl Serialize for Hash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_base64())
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Hash, D::Error> {
        let text = String::deserialize(d)?;
        Hash::from_base64(&text)
            .ok_or_else(|| serde::de::Error::custom("expected base64 of a 32-byte hash"))
    }
}

/// The hash function of a log's Merkle tree, fixed at creation and stored in the manifest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum HashAlgorithm {
    /// BLAKE3 (default): fast, 32-byte output.
    #[default]
    Blake3,
    /// SHA-256, as RFC 6962 specifies, for interoperability with CT tooling.
    Sha256,
}

/// Domain-separation prefix of a leaf hash (RFC 6962 §2.1).
pub const LEAF_PREFIX: u8 = 0x00;
/// Domain-separation prefix of an interior node hash (RFC 6962 §2.1).
pub const NODE_PREFIX: u8 = 0x01;

impl HashAlgorithm {
    /// The code stored in the manifest: 1 = BLAKE3, 2 = SHA-256.
    pub const fn code(self) -> u8 {
        match self {
            HashAlgorithm::Blake3 => 1,
            HashAlgorithm::Sha256 => 2,
        }
    }

    /// Inverse of [`HashAlgorithm::code`].
    pub const fn from_code(code: u8) -> Option<HashAlgorithm> {
        match code {
            1 => Some(HashAlgorithm::Blake3),
            2 => Some(HashAlgorithm::Sha256),
            _ => None,
        }
    }

    /// Lowercase name (`blake3`, `sha256`).
    pub const fn name(self) -> &'static str {
        match self {
            HashAlgorithm::Blake3 => "blake3",
            HashAlgorithm::Sha256 => "sha256",
        }
    }

    /// Parses [`HashAlgorithm::name`].
    pub fn from_name(name: &str) -> Option<HashAlgorithm> {
        match name {
            "blake3" => Some(HashAlgorithm::Blake3),
            "sha256" | "sha-256" => Some(HashAlgorithm::Sha256),
            _ => None,
        }
    }

    /// Hash of the concatenation of `parts`.
    pub fn hash_parts(self, parts: &[&[u8]]) -> Hash {
        match self {
            HashAlgorithm::Blake3 => {
                let mut h = blake3::Hasher::new();
                for p in parts {
                    h.update(p);
                }
                Hash(*h.finalize().as_bytes())
            }
            HashAlgorithm::Sha256 => {
                use sha2::Digest as _;
                let mut h = sha2::Sha256::new();
                for p in parts {
                    h.update(p);
                }
                Hash(h.finalize().into())
            }
        }
    }

    /// RFC 6962 leaf hash `H(0x00 || leaf)` of a leaf given in parts (for a record: the 20
    /// timestamp bytes, then the payload).
    pub fn leaf_hash_parts(self, parts: &[&[u8]]) -> Hash {
        match self {
            HashAlgorithm::Blake3 => {
                let mut h = blake3::Hasher::new();
                h.update(&[LEAF_PREFIX]);
                for p in parts {
                    h.update(p);
                }
                Hash(*h.finalize().as_bytes())
            }
            HashAlgorithm::Sha256 => {
                use sha2::Digest as _;
                let mut h = sha2::Sha256::new();
                h.update([LEAF_PREFIX]);
                for p in parts {
                    h.update(p);
                }
                Hash(h.finalize().into())
            }
        }
    }

    /// RFC 6962 leaf hash `H(0x00 || leaf)`.
    pub fn leaf_hash(self, leaf: &[u8]) -> Hash {
        self.leaf_hash_parts(&[leaf])
    }

    /// RFC 6962 node hash `H(0x01 || left || right)`.
    pub fn node_hash(self, left: &Hash, right: &Hash) -> Hash {
        let mut buf = [0u8; 1 + 2 * HASH_LEN];
        buf[0] = NODE_PREFIX;
        buf[1..33].copy_from_slice(&left.0);
        buf[33..].copy_from_slice(&right.0);
        // One-shot hashing of the fixed 65-byte buffer: the incremental hashers of
        // `hash_parts` cost a measurable share of a node hash this short (proof verification
        // is ~2·log2(n) of them).
        match self {
            HashAlgorithm::Blake3 => Hash(crate::blake3_lanes::node(&left.0, &right.0)),
            HashAlgorithm::Sha256 => {
                use sha2::Digest as _;
                Hash(sha2::Sha256::digest(buf).into())
            }
        }
    }

    /// Appends to `out` the RFC 6962 leaf hash of each leaf, given as two parts (for a
    /// record: its 20 timestamp bytes, then its payload): the same hashes as
    /// [`HashAlgorithm::leaf_hash_parts`], computed up to 16 at a time in BLAKE3 mode
    /// (docs/PERFORMANCE.md, "Hashing many leaves at once").
    pub fn leaf_hashes_into(self, leaves: &[[&[u8]; 2]], out: &mut Vec<Hash>) {
        self.hashes_prefixed_into(LEAF_PREFIX, leaves, out);
    }

    /// Appends to `out` the RFC 6962 node hash `H(0x01 || left || right)` of each
    /// `[left, right]` pair: the same hashes as [`HashAlgorithm::node_hash`], computed up to
    /// 16 at a time in BLAKE3 mode.
    pub fn node_hashes_into(self, pairs: &[[&[u8]; 2]], out: &mut Vec<Hash>) {
        self.hashes_prefixed_into(NODE_PREFIX, pairs, out);
    }

    fn hashes_prefixed_into(self, prefix: u8, messages: &[[&[u8]; 2]], out: &mut Vec<Hash>) {
        let start = out.len();
        match self {
            HashAlgorithm::Blake3 => {
                out.resize(start + messages.len(), Hash::default());
                crate::blake3_lanes::hash_prefixed(prefix, messages, &mut out[start..]);
            }
            HashAlgorithm::Sha256 => {
                out.extend(messages.iter().map(|[a, b]| self.hash_parts(&[&[prefix], a, b])));
            }
        }
    }

    /// Root of the empty tree: the hash of the empty string (RFC 6962 §2.1).
    pub fn empty_root(self) -> Hash {
        self.hash_parts(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_empty_root_matches_rfc6962() {
        assert_eq!(
            HashAlgorithm::Sha256.empty_root().to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn node_hash_is_the_hash_of_the_prefixed_concatenation() {
        for alg in [HashAlgorithm::Blake3, HashAlgorithm::Sha256] {
            let (l, r) = (alg.leaf_hash(b"l"), alg.leaf_hash(b"r"));
            let want = alg.hash_parts(&[&[NODE_PREFIX], l.as_bytes(), r.as_bytes()]);
            assert_eq!(alg.node_hash(&l, &r), want);
            assert_ne!(alg.node_hash(&r, &l), want);
        }
    }

    #[test]
    fn batched_leaf_and_node_hashes_equal_the_one_at_a_time_hashes() {
        for alg in [HashAlgorithm::Blake3, HashAlgorithm::Sha256] {
            let payloads: Vec<Vec<u8>> = (0..40usize).map(|n| vec![n as u8; n * 29]).collect();
            let leaves: Vec<[&[u8]; 2]> =
                payloads.iter().map(|p| [&b"timestamp-bytes-0020"[..], p.as_slice()]).collect();
            let mut hashes = vec![Hash::default()];
            alg.leaf_hashes_into(&leaves, &mut hashes);
            assert_eq!(hashes.len(), 41, "appended after what was there");
            for (leaf, got) in leaves.iter().zip(&hashes[1..]) {
                assert_eq!(*got, alg.leaf_hash_parts(leaf));
            }
            let pairs: Vec<[&[u8]; 2]> =
                hashes[1..].chunks_exact(2).map(|p| [&p[0].0[..], &p[1].0[..]]).collect();
            let mut parents = Vec::new();
            alg.node_hashes_into(&pairs, &mut parents);
            for (pair, got) in hashes[1..].chunks_exact(2).zip(&parents) {
                assert_eq!(*got, alg.node_hash(&pair[0], &pair[1]));
            }
        }
    }

    #[test]
    fn base64_round_trip() {
        let h = HashAlgorithm::Blake3.leaf_hash(b"x");
        assert_eq!(Hash::from_base64(&h.to_base64()), Some(h));
        assert_eq!(Hash::from_base64("AAAA"), None);
    }
}
