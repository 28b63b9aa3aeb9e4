//! Chip replies, and [`ReplyReader`], which finds them in a byte stream.

use super::*;
use crate::asic::chip::ChipFamily;
use crate::asic::crc::{crc5, crc5_bits};

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
