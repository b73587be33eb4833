//! Byte layouts of the tree files (see docs/FORMAT.md, "Merkle tree files"). Pure: no I/O.

use crate::hash::{HashAlgorithm, HASH_LEN};

/// Format version written in every header and head slot.
pub(crate) const FORMAT_VERSION: u16 = 1;
/// Length of a level file header; hashes start right after it, so they stay 32-byte aligned.
pub(crate) const LEVEL_HEADER_LEN: u64 = 32;
/// Magic of a level file.
pub(crate) const LEVEL_MAGIC: [u8; 8] = *b"COFTRLVL";
/// Magic of a head slot.
pub(crate) const HEAD_MAGIC: [u8; 8] = *b"COFTRHED";
/// Length of one head slot; the head file holds two.
pub(crate) const HEAD_SLOT_LEN: u64 = 64;
/// Length of the head file.
pub(crate) const HEAD_FILE_LEN: u64 = 2 * HEAD_SLOT_LEN;
/// Random identity shared by the head and every level file of one tree.
pub(crate) type TreeId = [u8; 16];
/// Bytes per stored hash.
pub(crate) const ENTRY_LEN: u64 = HASH_LEN as u64;

/// Byte offset of entry `index` in a level file.
pub(crate) fn entry_offset(index: u64) -> u64 {
    // Callers keep index below LEAVES_MAX (2^56), so this cannot overflow.
    LEVEL_HEADER_LEN + index * ENTRY_LEN
}

/// The header that opens every level file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LevelHeader {
    pub alg: HashAlgorithm,
    pub level: u32,
    pub tree_id: TreeId,
}

impl LevelHeader {
    /// `magic(8) version(u16) alg(u8) level(u8) tree_id(16) crc32(u32)` over bytes 0..28.
    pub fn encode(&self) -> [u8; LEVEL_HEADER_LEN as usize] {
        let mut out = [0u8; LEVEL_HEADER_LEN as usize];
        out[0..8].copy_from_slice(&LEVEL_MAGIC);
        out[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        out[10] = self.alg.code();
        // Levels are below 64, so one byte holds them.
        out[11] = self.level as u8;
        out[12..28].copy_from_slice(&self.tree_id);
        let crc = crc32fast::hash(&out[0..28]);
        out[28..32].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// Parses and checks a header; the error says what is wrong.
    pub fn decode(bytes: &[u8; LEVEL_HEADER_LEN as usize]) -> Result<LevelHeader, String> {
        let (body, crc_bytes) = bytes.split_at(28);
        if body[0..8] != LEVEL_MAGIC {
            return Err("not a tree level file (bad magic)".into());
        }
        let stored_crc =
            u32::from_le_bytes([crc_bytes[0], crc_bytes[1], crc_bytes[2], crc_bytes[3]]);
        if crc32fast::hash(body) != stored_crc {
            return Err("level header checksum mismatch".into());
        }
        let version = u16::from_le_bytes([body[8], body[9]]);
        if version != FORMAT_VERSION {
            return Err(format!("unsupported level file version {version}"));
        }
        let alg = HashAlgorithm::from_code(body[10])
            .ok_or_else(|| format!("unknown hash algorithm code {}", body[10]))?;
        let mut tree_id = [0u8; 16];
        tree_id.copy_from_slice(&body[12..28]);
        Ok(LevelHeader { alg, level: u32::from(body[11]), tree_id })
    }
}

/// One slot of the head file: the leaf count whose hashes are durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HeadSlot {
    pub alg: HashAlgorithm,
    pub tree_id: TreeId,
    /// Increases by one per head write; slot `sequence % 2` holds it.
    pub sequence: u64,
    pub durable_leaves: u64,
}

impl HeadSlot {
    /// `magic(8) version(u16) alg(u8) 0(u8) tree_id(16) sequence(u64) durable_leaves(u64)
    /// zero(16) crc32(u32)` over bytes 0..60.
    pub fn encode(&self) -> [u8; HEAD_SLOT_LEN as usize] {
        let mut out = [0u8; HEAD_SLOT_LEN as usize];
        out[0..8].copy_from_slice(&HEAD_MAGIC);
        out[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        out[10] = self.alg.code();
        out[12..28].copy_from_slice(&self.tree_id);
        out[28..36].copy_from_slice(&self.sequence.to_le_bytes());
        out[36..44].copy_from_slice(&self.durable_leaves.to_le_bytes());
        let crc = crc32fast::hash(&out[0..60]);
        out[60..64].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// Parses a slot; `Err` says why it is not a valid slot (torn, empty or foreign).
    pub fn decode(bytes: &[u8; HEAD_SLOT_LEN as usize]) -> Result<HeadSlot, String> {
        let (body, crc_bytes) = bytes.split_at(60);
        if body[0..8] != HEAD_MAGIC {
            return Err("not a tree head slot (bad magic)".into());
        }
        let stored_crc =
            u32::from_le_bytes([crc_bytes[0], crc_bytes[1], crc_bytes[2], crc_bytes[3]]);
        if crc32fast::hash(body) != stored_crc {
            return Err("head slot checksum mismatch".into());
        }
        let version = u16::from_le_bytes([body[8], body[9]]);
        if version != FORMAT_VERSION {
            return Err(format!("unsupported head version {version}"));
        }
        let alg = HashAlgorithm::from_code(body[10])
            .ok_or_else(|| format!("unknown hash algorithm code {}", body[10]))?;
        let mut tree_id = [0u8; 16];
        tree_id.copy_from_slice(&body[12..28]);
        let sequence = u64::from_le_bytes(le8(&body[28..36]));
        let durable_leaves = u64::from_le_bytes(le8(&body[36..44]));
        Ok(HeadSlot { alg, tree_id, sequence, durable_leaves })
    }
}

fn le8(bytes: &[u8]) -> [u8; 8] {
    let mut out = [0u8; 8];
    out.copy_from_slice(bytes);
    out
}

/// Picks the slot to trust from the two slots of a head file: the valid one with the higher
/// sequence. A single invalid slot is the residue of a torn head write (or the never-written
/// second slot of a new tree) and is ignored; two valid slots must agree on tree and algorithm.
pub(crate) fn choose_head(
    slots: [Result<HeadSlot, String>; 2],
) -> Result<(usize, HeadSlot), String> {
    match slots {
        [Ok(a), Ok(b)] => {
            if a.tree_id != b.tree_id || a.alg != b.alg {
                return Err("the two head slots belong to different trees".into());
            }
            if a.sequence % 2 != 0 || b.sequence % 2 != 1 {
                return Err("a head slot holds a sequence number of the wrong parity".into());
            }
            Ok(if a.sequence > b.sequence { (0, a) } else { (1, b) })
        }
        [Ok(a), Err(_)] if a.sequence % 2 == 0 => Ok((0, a)),
        [Err(_), Ok(b)] if b.sequence % 2 == 1 => Ok((1, b)),
        [Err(a), Err(b)] => Err(format!("no valid head slot ({a}; {b})")),
        _ => Err("a head slot holds a sequence number of the wrong parity".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(sequence: u64, durable_leaves: u64) -> HeadSlot {
        HeadSlot { alg: HashAlgorithm::Sha256, tree_id: [7; 16], sequence, durable_leaves }
    }

    #[test]
    fn hashes_after_the_level_header_stay_aligned_to_their_size() {
        assert_eq!(LEVEL_HEADER_LEN % ENTRY_LEN, 0);
        assert_eq!(entry_offset(3), LEVEL_HEADER_LEN + 3 * ENTRY_LEN);
    }

    #[test]
    fn level_header_round_trips_and_rejects_any_flipped_bit() {
        let header = LevelHeader { alg: HashAlgorithm::Blake3, level: 17, tree_id: [9; 16] };
        let bytes = header.encode();
        assert_eq!(LevelHeader::decode(&bytes), Ok(header));
        for bit in 0..bytes.len() * 8 {
            let mut damaged = bytes;
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert!(LevelHeader::decode(&damaged).is_err(), "bit {bit} flip accepted");
        }
    }

    #[test]
    fn head_slot_round_trips_and_rejects_any_flipped_bit() {
        let bytes = slot(5, 1234).encode();
        assert_eq!(HeadSlot::decode(&bytes), Ok(slot(5, 1234)));
        for bit in 0..bytes.len() * 8 {
            let mut damaged = bytes;
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert!(HeadSlot::decode(&damaged).is_err(), "bit {bit} flip accepted");
        }
    }

    #[test]
    fn newest_valid_head_slot_wins_and_a_torn_slot_is_ignored() {
        assert_eq!(choose_head([Ok(slot(4, 10)), Ok(slot(3, 8))]), Ok((0, slot(4, 10))));
        assert_eq!(choose_head([Ok(slot(4, 10)), Ok(slot(5, 12))]), Ok((1, slot(5, 12))));
        assert_eq!(choose_head([Ok(slot(4, 10)), Err("torn".into())]), Ok((0, slot(4, 10))));
        assert_eq!(choose_head([Err("torn".into()), Ok(slot(5, 1))]), Ok((1, slot(5, 1))));
        assert!(choose_head([Err("a".into()), Err("b".into())]).is_err());
        assert!(choose_head([Ok(slot(5, 1)), Err("torn".into())]).is_err());
        let mut other = slot(3, 8);
        other.tree_id = [1; 16];
        assert!(choose_head([Ok(slot(4, 10)), Ok(other)]).is_err());
    }
}
