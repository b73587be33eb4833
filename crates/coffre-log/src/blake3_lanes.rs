//! Many short, independent BLAKE3 hashes at once (RFC 6962 leaves and nodes).
//!
//! A leaf or node message is at most one BLAKE3 chunk (1,024 bytes), and the blake3 crate's
//! public API hashes it one 64-byte block after another: each compression waits for the
//! previous one, so the CPU's SIMD lanes sit idle (~55 ns per block on this project's
//! machines, one leaf of a 256-byte record = 5 blocks). The crate's SIMD kernel
//! (`Platform::hash_many`, up to 16 messages per pass with AVX-512) compresses the *full*
//! blocks of many equal-length messages side by side (~10 ns per block). Its final block
//! needs the message's own length and the ROOT flag, which `hash_many` cannot give per lane,
//! so that one block per message is compressed alone. A 256-byte record's leaf then costs
//! about 4 × 10 + 55 ns instead of 5 × 55 + overhead.
//!
//! `blake3::platform` is public but undocumented ("for benchmarks only"), so the workspace
//! pins blake3 to one exact version; every result here is checked against `blake3::hash` by
//! the tests below, so a changed kernel fails the suite instead of changing a hash.

use crate::hash::Hash;
use blake3::platform::Platform;
use blake3::IncrementCounter;

/// BLAKE3's initialisation vector (the spec's IV, equal to SHA-256's).
const IV: [u32; 8] = [
    0x6A09_E667,
    0xBB67_AE85,
    0x3C6E_F372,
    0xA54F_F53A,
    0x510E_527F,
    0x9B05_688C,
    0x1F83_D9AB,
    0x5BE0_CD19,
];
/// Domain flags of the BLAKE3 spec (section 2.1).
const CHUNK_START: u8 = 1;
const CHUNK_END: u8 = 1 << 1;
const ROOT: u8 = 1 << 3;
const BLOCK_LEN: usize = 64;
const CHUNK_LEN: usize = 1024;
/// Messages per `hash_many` pass: the widest SIMD degree the crate has (AVX-512).
const LANES: usize = 16;
/// Full blocks before the final one, for messages of one chunk: 0..=15.
const CLASSES: usize = CHUNK_LEN / BLOCK_LEN;

/// One message: `prefix ‖ parts[0] ‖ parts[1]` (a leaf: 0x00, timestamp, payload; a node:
/// 0x01, left, right).
pub(crate) type Message<'a> = [&'a [u8]; 2];

/// Hashes every `prefix ‖ message` into `out` (same length as `messages`), in order.
/// Messages of equal block count are hashed together; a message longer than one chunk goes
/// through the crate's ordinary hasher.
pub(crate) fn hash_prefixed(prefix: u8, messages: &[Message<'_>], out: &mut [Hash]) {
    debug_assert_eq!(out.len(), messages.len(), "one output slot per message");
    let platform = Platform::detect();
    let mut by_class: [Vec<usize>; CLASSES] = Default::default();
    for (i, parts) in messages.iter().enumerate() {
        let len = 1 + parts[0].len() + parts[1].len();
        if len > CHUNK_LEN {
            if let Some(slot) = out.get_mut(i) {
                *slot = Hash(hash_one_long(prefix, parts));
            }
        } else if let Some(class) = by_class.get_mut((len - 1) / BLOCK_LEN) {
            class.push(i);
        }
    }
    let mut scratch = Vec::new();
    for (full_blocks, indices) in by_class.iter().enumerate() {
        for lanes in indices.chunks(LANES) {
            hash_class(platform, full_blocks, prefix, messages, lanes, &mut scratch, out);
        }
    }
}

/// The RFC 6962 node hash `BLAKE3(0x01 ‖ left ‖ right)`: two compressions, without the
/// incremental hasher's buffering (proof verification is a chain of these).
pub(crate) fn node(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let platform = Platform::detect();
    let mut first = [0u8; BLOCK_LEN];
    first[0] = crate::hash::NODE_PREFIX;
    first[1..33].copy_from_slice(left);
    first[33..].copy_from_slice(&right[..31]);
    let mut last = [0u8; BLOCK_LEN];
    last[0] = right[31];
    let mut cv = IV;
    platform.compress_in_place(&mut cv, &first, BLOCK_LEN as u8, 0, CHUNK_START);
    platform.compress_in_place(&mut cv, &last, 1, 0, CHUNK_END | ROOT);
    words_to_bytes(&cv)
}

/// Hashes the messages `lanes` (at most [`LANES`], all with `full_blocks` full blocks before
/// their final one) side by side.
fn hash_class(
    platform: Platform,
    full_blocks: usize,
    prefix: u8,
    messages: &[Message<'_>],
    lanes: &[usize],
    scratch: &mut Vec<u8>,
    out: &mut [Hash],
) {
    // Each lane's message, contiguous and zero-padded to a whole final block.
    let stride = (full_blocks + 1) * BLOCK_LEN;
    scratch.clear();
    scratch.resize(stride * lanes.len(), 0);
    for (buf, &i) in scratch.chunks_exact_mut(stride).zip(lanes) {
        let [a, b] = messages.get(i).copied().unwrap_or_default();
        buf[0] = prefix;
        buf[1..1 + a.len()].copy_from_slice(a);
        buf[1 + a.len()..1 + a.len() + b.len()].copy_from_slice(b);
    }
    let mut cvs = [IV; LANES];
    let final_flags = if full_blocks == 0 {
        CHUNK_START | CHUNK_END | ROOT
    } else {
        hash_full_blocks(platform, full_blocks, scratch, stride, &mut cvs[..lanes.len()]);
        CHUNK_END | ROOT
    };
    let finals = scratch.chunks_exact(stride).map(|m| &m[full_blocks * BLOCK_LEN..]);
    for ((cv, &i), block) in cvs.iter_mut().zip(lanes).zip(finals) {
        let Some([a, b]) = messages.get(i) else { continue };
        let Ok(block) = <&[u8; BLOCK_LEN]>::try_from(block) else { continue };
        // 1..=64 bytes: the class was chosen so the final block is never empty.
        let block_len = 1 + a.len() + b.len() - full_blocks * BLOCK_LEN;
        platform.compress_in_place(cv, block, block_len as u8, 0, final_flags);
        if let Some(slot) = out.get_mut(i) {
            *slot = Hash(words_to_bytes(cv));
        }
    }
}

/// Chaining values after the first `full_blocks` blocks of each lane's message (one
/// `hash_many` pass; the block count is a const generic there, hence the dispatch).
fn hash_full_blocks(
    platform: Platform,
    full_blocks: usize,
    scratch: &[u8],
    stride: usize,
    cvs: &mut [[u32; 8]],
) {
    macro_rules! dispatch {
        ($($blocks:literal)*) => {
            match full_blocks {
                $($blocks => many::<{ $blocks * BLOCK_LEN }>(platform, scratch, stride, cvs),)*
                _ => {}
            }
        };
    }
    dispatch!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);
}

fn many<const N: usize>(platform: Platform, scratch: &[u8], stride: usize, cvs: &mut [[u32; 8]]) {
    let inputs: Vec<&[u8; N]> = scratch
        .chunks_exact(stride)
        .filter_map(|m| m.get(..N).and_then(|m| <&[u8; N]>::try_from(m).ok()))
        .collect();
    let mut bytes = [0u8; 32 * LANES];
    let Some(bytes) = bytes.get_mut(..32 * inputs.len()) else { return };
    platform.hash_many(&inputs, &IV, 0, IncrementCounter::No, 0, CHUNK_START, 0, bytes);
    for (cv, b) in cvs.iter_mut().zip(bytes.chunks_exact(32)) {
        for (w, word) in cv.iter_mut().zip(b.chunks_exact(4)) {
            *w = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
        }
    }
}

fn hash_one_long(prefix: u8, [a, b]: &Message<'_>) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(&[prefix]);
    h.update(a);
    h.update(b);
    *h.finalize().as_bytes()
}

fn words_to_bytes(cv: &[u32; 8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (chunk, w) in out.chunks_exact_mut(4).zip(cv) {
        chunk.copy_from_slice(&w.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reference(prefix: u8, [a, b]: &Message<'_>) -> [u8; 32] {
        let mut all = vec![prefix];
        all.extend_from_slice(a);
        all.extend_from_slice(b);
        *blake3::hash(&all).as_bytes()
    }

    #[test]
    fn every_length_around_block_and_chunk_edges_matches_the_crate() {
        let data: Vec<u8> = (0..2100u32).map(|i| (i * 7 + 3) as u8).collect();
        // Every split of every message length 0..=1100, one batch per length (one lane
        // class each) and one batch of all lengths (mixed classes, lanes not full).
        let lengths: Vec<usize> = (0..=1100).collect();
        let messages: Vec<Message<'_>> =
            lengths.iter().map(|&n| [&data[..n / 3], &data[1000..1000 + n - n / 3]]).collect();
        let mut got = vec![Hash::default(); messages.len()];
        hash_prefixed(0, &messages, &mut got);
        for (m, g) in messages.iter().zip(&got) {
            assert_eq!(g.0, reference(0, m), "length {}", 1 + m[0].len() + m[1].len());
        }
        for n in [0usize, 62, 63, 64, 255, 256, 1022, 1023, 1024] {
            let batch: Vec<Message<'_>> = (0..37).map(|k| [&data[k..k + n], &[][..]]).collect();
            let mut got = vec![Hash::default(); batch.len()];
            hash_prefixed(1, &batch, &mut got);
            for (m, g) in batch.iter().zip(&got) {
                assert_eq!(g.0, reference(1, m), "length {}", n + 1);
            }
        }
    }

    #[test]
    fn node_matches_the_crate() {
        let (l, r) = ([7u8; 32], [9u8; 32]);
        assert_eq!(node(&l, &r), reference(1, &[&l, &r]));
        assert_ne!(node(&r, &l), node(&l, &r));
    }

    proptest! {
        #[test]
        fn random_batches_match_the_crate(
            msgs in proptest::collection::vec(
                (proptest::collection::vec(any::<u8>(), 0..40),
                 proptest::collection::vec(any::<u8>(), 0..1100)),
                0..60),
            prefix in any::<u8>(),
        ) {
            let messages: Vec<Message<'_>> =
                msgs.iter().map(|(a, b)| [a.as_slice(), b.as_slice()]).collect();
            let mut got = vec![Hash::default(); messages.len()];
            hash_prefixed(prefix, &messages, &mut got);
            for (m, g) in messages.iter().zip(&got) {
                prop_assert_eq!(g.0, reference(prefix, m));
            }
        }
    }
}
