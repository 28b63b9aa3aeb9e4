//! BM13xx frames: host commands and jobs out, register and nonce replies in.
//!
//! Host → chip: `55 AA | HDR | LEN | DATA | CRC`. HDR = type (0x40 command, 0x20 job) |
//! group (0x10 all chips) | command (0 set address, 1 write, 2 read, 3 chain inactive).
//! LEN counts HDR through CRC. Commands end in a CRC5 byte, jobs in a big-endian CRC16.
//!
//! Chip → host: `AA 55 | VALUE or NONCE (4) | B6 | B7 | [version (2), BM1366 and later] |
//! LAST`. Bit 7 of LAST marks a nonce reply; bits 0-4 hold the CRC5 of the bits before.
//! [`ReplyReader`] finds replies in a byte stream and resynchronises after noise.

use super::chip::ChipFamily;
use super::crc::{crc5, crc5_bits, crc16};
use sha2::Digest;
use sha2::block_api::compress256;

/// Preamble of host frames.
pub const PREAMBLE: [u8; 2] = [0x55, 0xaa];
/// Preamble of chip replies.
pub const REPLY_PREAMBLE: [u8; 2] = [0xaa, 0x55];

/// Register addresses.
pub mod reg {
    /// Chip id, core count and address (read-only identity).
    pub const CHIP_ADDRESS: u8 = 0x00;
    /// PLL0: the hashing clock.
    pub const PLL0: u8 = 0x08;
    /// Hash counting number: the nonce range of each core.
    pub const HASH_COUNTING: u8 = 0x10;
    /// Ticket mask: the difficulty a nonce must meet to be reported.
    pub const TICKET_MASK: u8 = 0x14;
    /// Misc control (BM1397 UART divisor).
    pub const MISC_CONTROL: u8 = 0x18;
    /// Fast UART configuration (BM1366 and later).
    pub const FAST_UART: u8 = 0x28;
    /// Indirect core register writes.
    pub const CORE_REGISTER: u8 = 0x3c;
    /// Error counter.
    pub const ERROR_COUNT: u8 = 0x4c;
    /// IO driver strength.
    pub const IO_DRIVER: u8 = 0x58;
    /// Version rolling mask: `90 00 HI LO` with `HI:LO = mask >> 13`.
    pub const VERSION_MASK: u8 = 0xa4;
}

/// A host command (everything but jobs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Gives the first chip without an address the address `address`.
    SetAddress {
        /// The new address.
        address: u8,
    },
    /// Writes a register of every chip.
    WriteAll {
        /// Register.
        reg: u8,
        /// Value, most significant byte first.
        value: [u8; 4],
    },
    /// Writes a register of the chip at `chip`.
    Write {
        /// Chip address.
        chip: u8,
        /// Register.
        reg: u8,
        /// Value, most significant byte first.
        value: [u8; 4],
    },
    /// Asks every chip for a register.
    ReadAll {
        /// Register.
        reg: u8,
    },
    /// Asks the chip at `chip` for a register.
    Read {
        /// Chip address.
        chip: u8,
        /// Register.
        reg: u8,
    },
    /// Stops chips from passing commands on until they have an address.
    ChainInactive,
}

const TYPE_COMMAND: u8 = 0x40;
const TYPE_JOB: u8 = 0x20;
const GROUP_ALL: u8 = 0x10;

impl Command {
    /// Returns the frame, preamble and CRC5 included.
    pub fn encode(&self) -> Vec<u8> {
        let (hdr, data): (u8, Vec<u8>) = match *self {
            Command::SetAddress { address } => (TYPE_COMMAND, vec![address, 0]),
            Command::WriteAll { reg, value } => (
                TYPE_COMMAND | GROUP_ALL | 1,
                vec![0, reg, value[0], value[1], value[2], value[3]],
            ),
            Command::Write { chip, reg, value } => (
                TYPE_COMMAND | 1,
                vec![chip, reg, value[0], value[1], value[2], value[3]],
            ),
            Command::ReadAll { reg } => (TYPE_COMMAND | GROUP_ALL | 2, vec![0, reg]),
            Command::Read { chip, reg } => (TYPE_COMMAND | 2, vec![chip, reg]),
            Command::ChainInactive => (TYPE_COMMAND | GROUP_ALL | 3, vec![0, 0]),
        };
        let mut frame = Vec::with_capacity(data.len() + 5);
        frame.extend_from_slice(&PREAMBLE);
        frame.push(hdr);
        frame.push(data.len() as u8 + 3);
        frame.extend_from_slice(&data);
        let crc = crc5(&frame[2..]);
        frame.push(crc);
        frame
    }
}

/// A frame the chips could not take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Shorter than its header says, or than any frame.
    #[error("frame of {0} bytes is truncated")]
    Truncated(usize),
    /// Not `55 AA`.
    #[error("frame does not start with 55 AA")]
    Preamble,
    /// The LEN byte disagrees with the frame.
    #[error("LEN byte {len} for a frame of {frame} bytes")]
    Length {
        /// LEN.
        len: u8,
        /// Bytes after the preamble.
        frame: usize,
    },
    /// A checksum mismatch.
    #[error("checksum mismatch")]
    Checksum,
    /// A header byte no chip knows.
    #[error("unknown frame header {0:#04x}")]
    Header(u8),
}

/// A decoded host frame, as a chip sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostFrame {
    /// A command.
    Command(Command),
    /// A job's payload (its layout depends on the family).
    Job(Vec<u8>),
}

/// Decodes one complete host frame (the emulator's side of the wire).
pub fn decode_host_frame(frame: &[u8]) -> Result<HostFrame, FrameError> {
    if frame.len() < 5 {
        return Err(FrameError::Truncated(frame.len()));
    }
    if frame[..2] != PREAMBLE {
        return Err(FrameError::Preamble);
    }
    let (hdr, len) = (frame[2], frame[3]);
    if usize::from(len) != frame.len() - 2 {
        return Err(FrameError::Length {
            len,
            frame: frame.len() - 2,
        });
    }
    if hdr == TYPE_JOB | 1 {
        let (body, crc) = frame[2..].split_at(frame.len() - 4);
        if crc16(body).to_be_bytes() != crc {
            return Err(FrameError::Checksum);
        }
        return Ok(HostFrame::Job(body[2..].to_vec()));
    }
    if crc5(&frame[2..frame.len() - 1]) != frame[frame.len() - 1] {
        return Err(FrameError::Checksum);
    }
    let data = &frame[4..frame.len() - 1];
    let value = |d: &[u8]| -> Result<[u8; 4], FrameError> {
        d.get(2..6)
            .and_then(|v| v.try_into().ok())
            .ok_or(FrameError::Truncated(frame.len()))
    };
    let first = |i: usize| {
        data.get(i)
            .copied()
            .ok_or(FrameError::Truncated(frame.len()))
    };
    let command = match hdr {
        0x40 => Command::SetAddress { address: first(0)? },
        0x51 => Command::WriteAll {
            reg: first(1)?,
            value: value(data)?,
        },
        0x41 => Command::Write {
            chip: first(0)?,
            reg: first(1)?,
            value: value(data)?,
        },
        0x52 => Command::ReadAll { reg: first(1)? },
        0x42 => Command::Read {
            chip: first(0)?,
            reg: first(1)?,
        },
        0x53 => Command::ChainInactive,
        other => return Err(FrameError::Header(other)),
    };
    Ok(HostFrame::Command(command))
}

/// Returns the frame of a job payload: `55 AA 21 LEN payload CRC16`.
pub fn encode_job(payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(payload.len() + 6);
    frame.extend_from_slice(&PREAMBLE);
    frame.push(TYPE_JOB | 1);
    frame.push((payload.len() + 4).min(255) as u8);
    frame.extend_from_slice(payload);
    let crc = crc16(&frame[2..]);
    frame.extend_from_slice(&crc.to_be_bytes());
    frame
}

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
    /// midstate × 4`; each midstate written h7..h0, words big-endian. Unused slots are
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

/// A reply from a chip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// A register's value.
    Register {
        /// Value, most significant byte first.
        value: [u8; 4],
        /// Address of the chip that answered.
        chip: u8,
        /// Register.
        reg: u8,
    },
    /// A nonce whose hash meets the ticket mask.
    Nonce {
        /// The nonce as it goes into the header.
        nonce: u32,
        /// Byte 6: the midstate count field.
        midstate_num: u8,
        /// Byte 7: job id and sub id (see [`ChipFamily::split_reply_id`]).
        id: u8,
        /// Rolled version bits (`version | bits << 13`); BM1366 and later.
        version_bits: Option<u16>,
    },
}

impl Reply {
    /// Returns the reply bytes a chip of `family` sends, CRC included.
    pub fn encode(&self, family: ChipFamily) -> Vec<u8> {
        let len = family.reply_len();
        let mut r = vec![0u8; len];
        r[..2].copy_from_slice(&REPLY_PREAMBLE);
        let last = match *self {
            Reply::Register { value, chip, reg } => {
                r[2..6].copy_from_slice(&value);
                r[6] = chip;
                r[7] = reg;
                0x00
            }
            Reply::Nonce {
                nonce,
                midstate_num,
                id,
                version_bits,
            } => {
                r[2..6].copy_from_slice(&nonce.to_le_bytes());
                r[6] = midstate_num;
                r[7] = id;
                if len == 11 {
                    r[8..10].copy_from_slice(&version_bits.unwrap_or(0).to_be_bytes());
                }
                0x80
            }
        };
        r[len - 1] = last;
        let crc = crc5_bits(&r[2..], (len - 2) * 8 - 5);
        r[len - 1] |= crc;
        r
    }

    /// Decodes one reply of `family`'s length; `None` on a bad preamble or CRC.
    pub fn decode(family: ChipFamily, r: &[u8]) -> Option<Reply> {
        let len = family.reply_len();
        if r.len() != len || r[..2] != REPLY_PREAMBLE || crc5(&r[2..]) != 0 {
            return None;
        }
        let last = r[len - 1];
        let value = [r[2], r[3], r[4], r[5]];
        Some(if last & 0x80 != 0 {
            Reply::Nonce {
                nonce: u32::from_le_bytes(value),
                midstate_num: r[6],
                id: r[7],
                version_bits: (len == 11).then(|| u16::from_be_bytes([r[8], r[9]])),
            }
        } else {
            Reply::Register {
                value,
                chip: r[6],
                reg: r[7],
            }
        })
    }
}

/// Most bytes [`ReplyReader`] holds before dropping the oldest: a few hundred replies.
const READER_CAPACITY: usize = 4096;

/// Finds replies in the bytes a chain sends, skipping noise: it looks for `AA 55`, takes
/// a reply when the CRC holds, and otherwise moves one byte on.
#[derive(Debug)]
pub struct ReplyReader {
    family: ChipFamily,
    buf: Vec<u8>,
    /// Bytes skipped while resynchronising (noise, truncated or corrupt replies).
    pub skipped: u64,
    /// Candidate replies whose CRC failed.
    pub crc_errors: u64,
}

impl ReplyReader {
    /// Returns an empty reader for replies of `family`.
    pub fn new(family: ChipFamily) -> Self {
        ReplyReader {
            family,
            buf: Vec::new(),
            skipped: 0,
            crc_errors: 0,
        }
    }

    /// Appends received bytes. Beyond its capacity the reader drops the oldest bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() > READER_CAPACITY {
            let excess = self.buf.len() - READER_CAPACITY;
            self.buf.drain(..excess);
            self.skipped += excess as u64;
        }
    }

    /// Returns the next whole reply, or `None` until more bytes arrive.
    pub fn next_reply(&mut self) -> Option<Reply> {
        let len = self.family.reply_len();
        loop {
            let start = self
                .buf
                .windows(2)
                .position(|w| w == REPLY_PREAMBLE)
                .unwrap_or(self.buf.len().saturating_sub(1));
            if start > 0 {
                self.buf.drain(..start);
                self.skipped += start as u64;
            }
            if self.buf.len() < len {
                return None;
            }
            if let Some(reply) = Reply::decode(self.family, &self.buf[..len]) {
                self.buf.drain(..len);
                return Some(reply);
            }
            self.crc_errors += 1;
            self.buf.drain(..1);
            self.skipped += 1;
        }
    }

    /// Drops everything buffered.
    pub fn clear(&mut self) {
        self.skipped += self.buf.len() as u64;
        self.buf.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_encode_to_captured_frames() {
        assert_eq!(
            Command::ReadAll { reg: 0 }.encode(),
            [0x55, 0xaa, 0x52, 0x05, 0x00, 0x00, 0x0a]
        );
        assert_eq!(
            Command::ChainInactive.encode(),
            [0x55, 0xaa, 0x53, 0x05, 0x00, 0x00, 0x03]
        );
        assert_eq!(
            Command::SetAddress { address: 0 }.encode(),
            [0x55, 0xaa, 0x40, 0x05, 0x00, 0x00, 0x1c]
        );
        assert_eq!(
            Command::WriteAll {
                reg: reg::VERSION_MASK,
                value: [0x90, 0x00, 0xff, 0xff]
            }
            .encode(),
            [
                0x55, 0xaa, 0x51, 0x09, 0x00, 0xa4, 0x90, 0x00, 0xff, 0xff, 0x1c
            ]
        );
        assert_eq!(
            Command::WriteAll {
                reg: reg::CORE_REGISTER,
                value: [0x80, 0x00, 0x85, 0x40]
            }
            .encode(),
            [
                0x55, 0xaa, 0x51, 0x09, 0x00, 0x3c, 0x80, 0x00, 0x85, 0x40, 0x0c
            ]
        );
    }

    #[test]
    fn commands_round_trip() {
        let commands = [
            Command::SetAddress { address: 0x20 },
            Command::WriteAll {
                reg: 0x14,
                value: [0, 0, 0, 0xff],
            },
            Command::Write {
                chip: 4,
                reg: 0x08,
                value: [0x40, 0xa0, 2, 0x41],
            },
            Command::ReadAll { reg: 0 },
            Command::Read { chip: 8, reg: 0x4c },
            Command::ChainInactive,
        ];
        for c in commands {
            assert_eq!(decode_host_frame(&c.encode()), Ok(HostFrame::Command(c)));
            let mut bad = c.encode();
            let last = bad.len() - 1;
            bad[last] ^= 1;
            assert_eq!(decode_host_frame(&bad), Err(FrameError::Checksum));
        }
        assert_eq!(decode_host_frame(&[0x55]), Err(FrameError::Truncated(1)));
        assert_eq!(
            decode_host_frame(&[0xaa, 0x55, 0x52, 0x05, 0, 0, 0x0a]),
            Err(FrameError::Preamble)
        );
    }

    #[test]
    fn captured_replies_decode() {
        let id = Reply::decode(
            ChipFamily::Bm1397,
            &[0xaa, 0x55, 0x13, 0x97, 0x18, 0x00, 0x00, 0x00, 0x06],
        );
        assert_eq!(
            id,
            Some(Reply::Register {
                value: [0x13, 0x97, 0x18, 0x00],
                chip: 0,
                reg: 0
            })
        );
        let nonce = Reply::decode(
            ChipFamily::Bm1397,
            &[0xaa, 0x55, 0x00, 0x03, 0xea, 0x0f, 0x02, 0x20, 0x9c],
        );
        assert_eq!(
            nonce,
            Some(Reply::Nonce {
                nonce: 0x0fea_0300,
                midstate_num: 2,
                id: 0x20,
                version_bits: None
            })
        );
        // Re-encoding gives the captured bytes back.
        let Some(n) = nonce else { unreachable!() };
        assert_eq!(
            n.encode(ChipFamily::Bm1397),
            [0xaa, 0x55, 0x00, 0x03, 0xea, 0x0f, 0x02, 0x20, 0x9c]
        );
    }

    #[test]
    fn long_replies_carry_version_bits() {
        let r = Reply::Nonce {
            nonce: 0xdead_beef,
            midstate_num: 0,
            id: 0x58,
            version_bits: Some(0x0a5a),
        };
        let bytes = r.encode(ChipFamily::Bm1370);
        assert_eq!(bytes.len(), 11);
        assert_eq!(Reply::decode(ChipFamily::Bm1370, &bytes), Some(r));
    }

    #[test]
    fn the_reader_resynchronises_after_noise() {
        let family = ChipFamily::Bm1366;
        let a = Reply::Register {
            value: [0x13, 0x66, 0, 0],
            chip: 0,
            reg: 0,
        };
        let b = Reply::Nonce {
            nonce: 7,
            midstate_num: 0,
            id: 8,
            version_bits: Some(3),
        };
        let mut corrupt = b.encode(family);
        corrupt[5] ^= 0x10;
        let mut stream = vec![0x00, 0xaa, 0x13];
        stream.extend(a.encode(family));
        stream.extend(&corrupt);
        stream.extend([0xaa, 0x55, 0xaa]);
        stream.extend(b.encode(family));
        let mut reader = ReplyReader::new(family);
        let mut got = Vec::new();
        // Byte by byte: replies split across reads are reassembled.
        for byte in stream {
            reader.push(&[byte]);
            while let Some(r) = reader.next_reply() {
                got.push(r);
            }
        }
        assert_eq!(got, vec![a, b]);
        assert!(reader.crc_errors >= 1);
    }

    #[test]
    fn ticket_masks() {
        assert_eq!(ticket_mask_value(256.0), [0, 0, 0, 0xff]);
        assert_eq!(ticket_mask_value(511.0), [0, 0, 0, 0xff]);
        assert_eq!(ticket_mask_value(512.0), [0, 0, 0x80, 0xff]);
        assert_eq!(ticket_mask_value(0.001), [0, 0, 0, 0]);
        assert_eq!(ticket_difficulty(ticket_mask_value(1024.0)), 1024);
        assert_eq!(ticket_difficulty(ticket_mask_value(1.0)), 1);
        assert_eq!(version_mask_value(0x1fff_e000), [0x90, 0, 0xff, 0xff]);
        assert_eq!(version_mask_from_value([0x90, 0, 0xff, 0xff]), 0x1fff_e000);
    }

    /// Bitcoin's genesis header: both job layouts carry it, and the chip's view of a
    /// midstate job hashes to the genesis block hash.
    #[test]
    fn jobs_round_trip_and_hash_the_genesis_block() {
        let header: [u8; 80] = hex::decode(GENESIS).expect("hex").try_into().expect("80");
        let j = HeaderJob::from_header(0x18, &header, 0);
        let p = j.payload();
        assert_eq!(p.len(), HEADER_JOB_LEN);
        assert_eq!(HeaderJob::parse(&p), Some(j.clone()));
        assert_eq!(j.header(1, 0x7c2b_ac1d), header);
        // The merkle root goes out with its words in reverse order.
        assert_eq!(&p[14..18], &header[64..68]);

        let m = MidstateJob::from_header(4, &header, &[1, 2], 0);
        let p = m.payload();
        assert_eq!(p.len(), MIDSTATE_JOB_LEN);
        assert_eq!(MidstateJob::parse(&p), Some(m.clone()));
        let hash = m.hash(0, 0x7c2b_ac1d).expect("slot 0");
        let mut expected = hex::decode(GENESIS_HASH).expect("hex");
        expected.reverse();
        assert_eq!(hash.to_vec(), expected);
        assert_ne!(m.hash(1, 0x7c2b_ac1d), Some(hash));
        assert_eq!(m.hash(2, 0), None);

        let frame = encode_job(&p);
        assert_eq!(frame.len(), 152);
        assert_eq!(&frame[..4], &[0x55, 0xaa, 0x21, 0x96]);
        assert_eq!(decode_host_frame(&frame), Ok(HostFrame::Job(p)));
    }

    const GENESIS: &str = concat!(
        "01000000",
        "0000000000000000000000000000000000000000000000000000000000000000",
        "3ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a",
        "29ab5f49",
        "ffff001d",
        "1dac2b7c"
    );
    const GENESIS_HASH: &str = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f";
}
