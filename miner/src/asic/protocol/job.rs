//! Jobs in the two layouts (header fields, or BM1397 midstates), and the ticket and
//! version mask register values.

use sha2::Digest;
use sha2::block_api::compress256;

/// Reverses the order of the eight 32-bit words of `bytes`, leaving each word's bytes.
fn reverse_words(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, word) in bytes.chunks_exact(4).take(8).enumerate() {
        out[28 - 4 * i..32 - 4 * i].copy_from_slice(word);
    }
    out
}

/// A job of a chip that takes header fields (BM1366, BM1368, BM1370): 82 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderJob {
    /// Job id.
    pub job_id: u8,
    /// First nonce to try.
    pub starting_nonce: u32,
    /// Header bytes 72..76.
    pub nbits: u32,
    /// Header bytes 68..72.
    pub ntime: u32,
    /// Merkle root (header bytes 36..68).
    pub merkle_root: [u8; 32],
    /// Previous block hash (header bytes 4..36).
    pub prev_hash: [u8; 32],
    /// Base version (header bytes 0..4); the chip rolls bits of it.
    pub version: u32,
}

/// Payload bytes of a [`HeaderJob`].
pub const HEADER_JOB_LEN: usize = 82;

impl HeaderJob {
    /// Takes the fields of an 80-byte header.
    pub fn from_header(job_id: u8, header: &[u8; 80], starting_nonce: u32) -> Self {
        let word =
            |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
        let mut merkle_root = [0u8; 32];
        merkle_root.copy_from_slice(&header[36..68]);
        let mut prev_hash = [0u8; 32];
        prev_hash.copy_from_slice(&header[4..36]);
        HeaderJob {
            job_id,
            starting_nonce,
            nbits: word(72),
            ntime: word(68),
            merkle_root,
            prev_hash,
            version: word(0),
        }
    }

    /// Returns the header for `version` and `nonce`.
    pub fn header(&self, version: u32, nonce: u32) -> [u8; 80] {
        let mut h = [0u8; 80];
        h[0..4].copy_from_slice(&version.to_le_bytes());
        h[4..36].copy_from_slice(&self.prev_hash);
        h[36..68].copy_from_slice(&self.merkle_root);
        h[68..72].copy_from_slice(&self.ntime.to_le_bytes());
        h[72..76].copy_from_slice(&self.nbits.to_le_bytes());
        h[76..80].copy_from_slice(&nonce.to_le_bytes());
        h
    }

    /// The payload: `job_id, 1, starting_nonce, nbits, ntime, merkle_root, prev_hash,
    /// version`, numbers little-endian, hashes with their 32-bit words in reverse order.
    pub fn payload(&self) -> Vec<u8> {
        let mut p = Vec::with_capacity(HEADER_JOB_LEN);
        p.push(self.job_id);
        p.push(1);
        p.extend_from_slice(&self.starting_nonce.to_le_bytes());
        p.extend_from_slice(&self.nbits.to_le_bytes());
        p.extend_from_slice(&self.ntime.to_le_bytes());
        p.extend_from_slice(&reverse_words(&self.merkle_root));
        p.extend_from_slice(&reverse_words(&self.prev_hash));
        p.extend_from_slice(&self.version.to_le_bytes());
        p
    }

    /// Decodes a payload (the emulator's side).
    pub fn parse(p: &[u8]) -> Option<HeaderJob> {
        if p.len() != HEADER_JOB_LEN {
            return None;
        }
        let word = |i: usize| u32::from_le_bytes([p[i], p[i + 1], p[i + 2], p[i + 3]]);
        Some(HeaderJob {
            job_id: p[0],
            starting_nonce: word(2),
            nbits: word(6),
            ntime: word(10),
            merkle_root: reverse_words(&p[14..46]),
            prev_hash: reverse_words(&p[46..78]),
            version: word(78),
        })
    }
}

/// A BM1397 job: midstates of the first header block for up to four versions, and the
/// tail of the header. 146 bytes with four midstates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MidstateJob {
    /// Job id.
    pub job_id: u8,
    /// First nonce to try.
    pub starting_nonce: u32,
    /// Header bytes 72..76.
    pub nbits: u32,
    /// Header bytes 68..72.
    pub ntime: u32,
    /// Header bytes 64..68: the last word of the merkle root.
    pub merkle_tail: [u8; 4],
    /// SHA-256 states after the first 64 header bytes, one per version (1 to 4).
    pub midstates: Vec<[u32; 8]>,
}

/// Payload bytes of a [`MidstateJob`] with four midstates.
pub const MIDSTATE_JOB_LEN: usize = 146;

/// The SHA-256 state after the first 64 bytes of `header`.
pub fn midstate(header: &[u8; 80]) -> [u32; 8] {
    let mut state = crate::sha256::IV;
    let mut block = [0u8; 64];
    block.copy_from_slice(&header[..64]);
    compress256(&mut state, &[block]);
    state
}

impl MidstateJob {
    /// Builds the job of `header` for `versions` (one midstate each, at most four).
    pub fn from_header(
        job_id: u8,
        header: &[u8; 80],
        versions: &[u32],
        starting_nonce: u32,
    ) -> Self {
        let word =
            |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
        let midstates = versions
            .iter()
            .take(4)
            .map(|v| {
                let mut h = *header;
                h[0..4].copy_from_slice(&v.to_le_bytes());
                midstate(&h)
            })
            .collect();
        let mut merkle_tail = [0u8; 4];
        merkle_tail.copy_from_slice(&header[64..68]);
        MidstateJob {
            job_id,
            starting_nonce,
            nbits: word(72),
            ntime: word(68),
            merkle_tail,
            midstates,
        }
    }

    /// The payload: `job_id, count, starting_nonce, nbits, ntime, merkle_tail,
    /// midstate x 4`; each midstate written h7..h0, words big-endian. Unused slots are
    /// zero.
    pub fn payload(&self) -> Vec<u8> {
        let mut p = Vec::with_capacity(MIDSTATE_JOB_LEN);
        p.push(self.job_id);
        p.push(self.midstates.len() as u8);
        p.extend_from_slice(&self.starting_nonce.to_le_bytes());
        p.extend_from_slice(&self.nbits.to_le_bytes());
        p.extend_from_slice(&self.ntime.to_le_bytes());
        p.extend_from_slice(&self.merkle_tail);
        for slot in 0..4 {
            match self.midstates.get(slot) {
                Some(state) => {
                    for word in state.iter().rev() {
                        p.extend_from_slice(&word.to_be_bytes());
                    }
                }
                None => p.extend_from_slice(&[0; 32]),
            }
        }
        p
    }

    /// Decodes a payload (the emulator's side).
    pub fn parse(p: &[u8]) -> Option<MidstateJob> {
        if p.len() != MIDSTATE_JOB_LEN || !(1..=4).contains(&p[1]) {
            return None;
        }
        let word = |i: usize| u32::from_le_bytes([p[i], p[i + 1], p[i + 2], p[i + 3]]);
        let midstates = (0..usize::from(p[1]))
            .map(|slot| {
                let base = 18 + 32 * slot;
                let mut state = [0u32; 8];
                for (i, word) in p[base..base + 32].chunks_exact(4).enumerate() {
                    state[7 - i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
                }
                state
            })
            .collect();
        Some(MidstateJob {
            job_id: p[0],
            starting_nonce: word(2),
            nbits: word(6),
            ntime: word(10),
            merkle_tail: [p[14], p[15], p[16], p[17]],
            midstates,
        })
    }

    /// The double SHA-256 of the header with midstate `slot` and `nonce`, as the chip
    /// computes it: only the second block is hashed.
    pub fn hash(&self, slot: usize, nonce: u32) -> Option<[u8; 32]> {
        let mut state = *self.midstates.get(slot)?;
        let mut block = [0u8; 64];
        block[0..4].copy_from_slice(&self.merkle_tail);
        block[4..8].copy_from_slice(&self.ntime.to_le_bytes());
        block[8..12].copy_from_slice(&self.nbits.to_le_bytes());
        block[12..16].copy_from_slice(&nonce.to_le_bytes());
        block[16] = 0x80;
        block[62..64].copy_from_slice(&640u16.to_be_bytes());
        compress256(&mut state, &[block]);
        let mut inner = [0u8; 32];
        for (i, w) in state.iter().enumerate() {
            inner[4 * i..4 * i + 4].copy_from_slice(&w.to_be_bytes());
        }
        Some(sha2::Sha256::digest(inner).into())
    }
}

/// The ticket mask register value for `difficulty`: the chips report nonces whose hash
/// meets difficulty `mask + 1`, with `mask = 2^floor(log2(difficulty)) - 1`; each byte
/// is sent bit-reversed.
pub fn ticket_mask_value(difficulty: f64) -> [u8; 4] {
    let d = if difficulty.is_finite() && difficulty >= 1.0 {
        difficulty.min(f64::from(u32::MAX)) as u64
    } else {
        1
    };
    let mask = ((1u64 << (63 - d.leading_zeros())) - 1) as u32;
    mask.to_be_bytes().map(u8::reverse_bits)
}

/// Decodes a ticket mask register value to the difficulty it asks for.
pub fn ticket_difficulty(value: [u8; 4]) -> u64 {
    u64::from(u32::from_be_bytes(value.map(u8::reverse_bits))) + 1
}

/// The version mask register value for a rolling mask (bits 13..28 are rollable).
pub fn version_mask_value(mask: u32) -> [u8; 4] {
    let field = ((mask >> 13) & 0xffff) as u16;
    let [hi, lo] = field.to_be_bytes();
    [0x90, 0x00, hi, lo]
}

/// Decodes a version mask register value.
pub fn version_mask_from_value(value: [u8; 4]) -> u32 {
    u32::from(u16::from_be_bytes([value[2], value[3]])) << 13
}
