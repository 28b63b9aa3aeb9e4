//! BM13xx frames: host commands and jobs out, register and nonce replies in.
//!
//! Host -> chip: `55 AA | HDR | LEN | DATA | CRC`. HDR = type (0x40 command, 0x20 job) |
//! group (0x10 all chips) | command (0 set address, 1 write, 2 read, 3 chain inactive).
//! LEN counts HDR through CRC. Commands end in a CRC5 byte, jobs in a big-endian CRC16.
//!
//! Chip -> host: `AA 55 | VALUE or NONCE (4) | B6 | B7 | [version (2), BM1366 and later] |
//! LAST`. Bit 7 of LAST marks a nonce reply; bits 0-4 hold the CRC5 of the bits before.
//! [`ReplyReader`] finds replies in a byte stream and resynchronises after noise.
//!
//! - this module: the frame constants, registers, commands and host frames;
//! - `job`: the two job layouts, midstates, and the ticket and version mask registers;
//! - `reply`: chip replies and [`ReplyReader`].

mod job;
mod reply;
#[cfg(test)]
mod tests;

pub use job::{
    HEADER_JOB_LEN, HeaderJob, MIDSTATE_JOB_LEN, MidstateJob, midstate, ticket_difficulty,
    ticket_mask_value, version_mask_from_value, version_mask_value,
};
pub use reply::{Reply, ReplyReader};

use crate::asic::crc::{crc5, crc16};

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
