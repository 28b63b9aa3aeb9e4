//! The chain driver: enumeration, initialisation, frequency, jobs and nonces.

mod setup;
mod work;

use crate::asic::chip::ChipFamily;
use crate::asic::protocol::{Command, Reply, ReplyReader};
use crate::asic::transport::Transport;
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

const LOG: &str = "otedama::miner::asic";

/// The baud rate chips boot with.
pub const BOOT_BAUD: u32 = 115_200;
/// The version mask chips are set up with before the pool says otherwise (BIP320).
pub const DEFAULT_VERSION_MASK: u32 = 0x1fff_e000;
/// Hashes per difficulty-1 nonce on real chips.
pub const DIFFICULTY_ONE_HASHES: f64 = 4_294_967_296.0;
/// Jobs whose replies are still accepted.
const LIVE_JOBS: usize = 4;
/// (job, nonce, version) triples remembered against chips that repeat nonces.
const SEEN_NONCES: usize = 4096;
/// Most chips on one chain.
const MAX_CHIPS: usize = 256;

/// How a chain is set up.
#[derive(Debug, Clone)]
pub struct ChainConfig {
    /// The chip family.
    pub family: ChipFamily,
    /// Hashing clock, MHz; `None` keeps the family's default.
    pub frequency: Option<f64>,
    /// The chip count to expect; fewer answering is logged (a chip is dead or missing).
    pub expected_chips: Option<usize>,
    /// Pause between the 6.25 MHz frequency steps.
    pub ramp_delay: Duration,
    /// How long enumeration waits for chip-id replies.
    pub enumerate_timeout: Duration,
    /// Whether to raise the UART to the family's fast rate after enumeration.
    pub fast_baud: bool,
    /// Hashes a chip spends per difficulty-1 nonce: 2^32 on real chips. Emulated chips
    /// can be made easier so tests find shares quickly.
    pub difficulty_one_hashes: f64,
}

impl ChainConfig {
    /// The defaults for `family`: factory frequency, 100 ms ramp steps, fast UART.
    pub fn new(family: ChipFamily) -> Self {
        ChainConfig {
            family,
            frequency: None,
            expected_chips: None,
            ramp_delay: Duration::from_millis(100),
            enumerate_timeout: Duration::from_secs(1),
            fast_baud: true,
            difficulty_one_hashes: DIFFICULTY_ONE_HASHES,
        }
    }
}

/// Why a chain could not be driven.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The link failed.
    #[error("{device}: {source}")]
    Io {
        /// The transport's name.
        device: String,
        /// The error.
        source: std::io::Error,
    },
    /// No chip answered the chip-id read.
    #[error("{0}: no {1} chip answered")]
    NoChips(String, ChipFamily),
    /// A frequency no PLL setting reaches.
    #[error("{0} MHz is out of range for {1}")]
    Frequency(f64, ChipFamily),
}

/// A nonce a chip found for a live job, checked against the ticket difficulty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    /// The job id it answers.
    pub job_id: u8,
    /// The header version it was found with (rolled by the chip or a midstate's).
    pub version: u32,
    /// The nonce.
    pub nonce: u32,
    /// The chip that found it, by position in the chain.
    pub chip: usize,
}

/// Counters of a chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainCounters {
    /// Nonces that met the ticket difficulty.
    pub nonces: u64,
    /// Nonces whose hash did not meet the ticket difficulty (hardware errors).
    pub hardware_errors: u64,
    /// Repeated nonces, dropped.
    pub duplicates: u64,
    /// Nonces of jobs no longer live, dropped.
    pub stale: u64,
    /// Replies with a bad CRC.
    pub crc_errors: u64,
    /// Bytes skipped while resynchronising.
    pub skipped_bytes: u64,
    /// Nonces per chip, by position.
    pub per_chip: Vec<u64>,
}

struct LiveJob {
    id: u8,
    header: [u8; 80],
    /// The versions of a midstate job's slots; empty for chips that roll themselves.
    slots: Vec<u32>,
    mask: u32,
}

/// A chain of chips on one transport, enumerated and initialised.
pub struct Chain {
    transport: Box<dyn Transport>,
    config: ChainConfig,
    reader: ReplyReader,
    chips: usize,
    interval: u8,
    frequency: f64,
    version_mask: u32,
    ticket: u64,
    next_job_id: u8,
    jobs: VecDeque<LiveJob>,
    seen: BTreeSet<(u8, u32, u32)>,
    seen_order: VecDeque<(u8, u32, u32)>,
    counters: ChainCounters,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("transport", &self.transport.name())
            .field("family", &self.config.family)
            .field("chips", &self.chips)
            .field("frequency", &self.frequency)
            .finish_non_exhaustive()
    }
}

impl Chain {
    /// Enumerates the chips on `transport`, gives them addresses and sets them up:
    /// version mask, cores, ticket mask, baud rate, then a frequency ramp.
    ///
    /// # Errors
    /// [`ChainError::NoChips`] when none answers; I/O errors of the transport.
    pub fn open(transport: Box<dyn Transport>, config: ChainConfig) -> Result<Chain, ChainError> {
        let family = config.family;
        let mut chain = Chain {
            transport,
            reader: ReplyReader::new(family),
            chips: 0,
            interval: 0,
            frequency: family.default_frequency(),
            version_mask: DEFAULT_VERSION_MASK,
            ticket: 256,
            next_job_id: 0,
            jobs: VecDeque::new(),
            seen: BTreeSet::new(),
            seen_order: VecDeque::new(),
            counters: ChainCounters::default(),
            config,
        };
        chain.enumerate()?;
        chain.initialise()?;
        Ok(chain)
    }

    fn io(&self, source: std::io::Error) -> ChainError {
        ChainError::Io {
            device: self.transport.name(),
            source,
        }
    }

    fn send(&mut self, command: Command) -> Result<(), ChainError> {
        let frame = command.encode();
        self.transport.write(&frame).map_err(|e| self.io(e))
    }

    /// Reads replies for up to `timeout`, returning as soon as some arrived.
    fn read_replies(&mut self, timeout: Duration) -> Result<Vec<Reply>, ChainError> {
        let mut buf = [0u8; 512];
        let n = self
            .transport
            .read(&mut buf, timeout)
            .map_err(|e| self.io(e))?;
        self.reader.push(&buf[..n]);
        let mut replies = Vec::new();
        while let Some(r) = self.reader.next_reply() {
            replies.push(r);
        }
        self.counters.crc_errors = self.reader.crc_errors;
        self.counters.skipped_bytes = self.reader.skipped;
        Ok(replies)
    }

    /// Reads a register of the chip at position `chip`; `None` when it does not answer
    /// within `timeout`.
    ///
    /// # Errors
    /// I/O errors.
    pub fn read_register(
        &mut self,
        chip: usize,
        register: u8,
        timeout: Duration,
    ) -> Result<Option<[u8; 4]>, ChainError> {
        let address = (chip * usize::from(self.interval)) as u8;
        self.send(Command::Read {
            chip: address,
            reg: register,
        })?;
        let deadline = Instant::now() + timeout;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            for r in self.read_replies(left.min(Duration::from_millis(20)))? {
                if let Reply::Register {
                    value,
                    chip: c,
                    reg: rg,
                } = r
                    && c == address
                    && rg == register
                {
                    return Ok(Some(value));
                }
            }
        }
        Ok(None)
    }

    /// The chip family.
    pub fn family(&self) -> ChipFamily {
        self.config.family
    }

    /// Chips that answered enumeration.
    pub fn chips(&self) -> usize {
        self.chips
    }

    /// The clock, MHz.
    pub fn frequency(&self) -> f64 {
        self.frequency
    }

    /// The ticket difficulty in force.
    pub fn ticket_difficulty(&self) -> u64 {
        self.ticket
    }

    /// Hashes a difficulty-1 nonce costs on these chips.
    pub fn difficulty_one_hashes(&self) -> f64 {
        self.config.difficulty_one_hashes
    }

    /// Hashes one reported nonce stands for: ticket difficulty x difficulty-1 hashes.
    pub fn hashes_per_nonce(&self) -> f64 {
        self.ticket as f64 * self.config.difficulty_one_hashes
    }

    /// The chain's nominal hashrate at its clock.
    pub fn nominal_hashrate(&self) -> f64 {
        self.config.family.hashrate(self.frequency) * self.chips as f64
    }

    /// The transport's name.
    pub fn name(&self) -> String {
        self.transport.name()
    }

    /// The temperature sensor its link provides, if any.
    pub fn sensor(&self) -> Option<Box<dyn crate::thermal::TemperatureSource>> {
        self.transport.sensor()
    }

    /// The counters.
    pub fn counters(&self) -> &ChainCounters {
        &self.counters
    }
}

/// The chip position a nonce comes from: chips split the nonce space by the address
/// bits `(bswap(nonce) >> 17) & 0xFF`.
pub fn chip_of(nonce: u32, interval: u8) -> usize {
    let bits = (nonce.swap_bytes() >> 17) & 0xff;
    (bits / u32::from(interval.max(1))) as usize
}

/// Whether the header's double SHA-256 meets `ticket` difficulty, where difficulty 1
/// costs `difficulty_one_hashes` hashes: its top 64 bits are below
/// `2^64 / difficulty_one_hashes / ticket`.
pub fn meets_ticket(header: &[u8; 80], ticket: u64, difficulty_one_hashes: f64) -> bool {
    let hash: [u8; 32] = Sha256::digest(Sha256::digest(header)).into();
    hash_meets_ticket(&hash, ticket, difficulty_one_hashes)
}

/// [`meets_ticket`] for a hash already computed.
pub fn hash_meets_ticket(hash: &[u8; 32], ticket: u64, difficulty_one_hashes: f64) -> bool {
    let top = u64::from_le_bytes([
        hash[24], hash[25], hash[26], hash[27], hash[28], hash[29], hash[30], hash[31],
    ]);
    let limit =
        18_446_744_073_709_551_616.0 / difficulty_one_hashes.max(1.0) / ticket.max(1) as f64;
    (top as f64) < limit
}
