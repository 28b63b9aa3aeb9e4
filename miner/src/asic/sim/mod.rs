//! An in-process chain of emulated BM13xx chips behind [`Transport`], with fault
//! injection. No USB chip is needed to test the driver: the emulator speaks the same
//! frames, keeps a register file per chip, answers enumeration and register reads,
//! takes addresses, PLL, ticket-mask, version-mask and baud settings, and searches real
//! nonces with real double SHA-256 over the jobs it gets.
//!
//! Real chips report a nonce per 2^32 hashes at difficulty 1; [`SimConfig::easy_bits`]
//! makes difficulty 1 that many bits easier so a CPU finds shares in milliseconds. The
//! host must be told the same through [`crate::asic::ChainConfig::difficulty_one_hashes`].
//!
//! The emulated hashrate follows the clock set through PLL0, and [`SimSensor`] gives the
//! chain a die temperature that follows the clock too (a first-order thermal model), so
//! the thermal governor can be tested in a closed loop.
//!
//! - this module: the configuration, the controls tests see, and [`ChainSim`], the host's
//!   side of the wire;
//! - `emulator`: the chips, on their own thread;
//! - `sensor`: [`SimSensor`], the chain's die temperature.

mod emulator;
mod sensor;

pub use sensor::SimSensor;

use crate::asic::chip::ChipFamily;
use crate::asic::transport::Transport;
use crate::thermal::TemperatureSource;
use emulator::Emulator;
use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Frames queued towards the emulator, and reply batches queued towards the host.
const QUEUE: usize = 1024;
/// Nonces hashed per window before the emulator looks at its input again.
const WINDOW: u32 = 256;
/// Versions a chip rolls through per nonce window.
const ROLLS_PER_WINDOW: u32 = 16;
/// Longest host frame (a BM1397 job is 152 bytes).
const MAX_FRAME: usize = 260;

/// Faults to inject; 0 turns a periodic fault off.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Every n-th nonce reply has a corrupted byte (its CRC fails).
    pub crc_error_every: u32,
    /// Every n-th nonce reply is preceded by noise bytes, including a false `AA 55`.
    pub garbage_every: u32,
    /// Every n-th nonce reply is sent twice.
    pub duplicate_every: u32,
    /// Every n-th nonce reply is followed by a copy carrying the previous job's id.
    pub stale_every: u32,
    /// Every n-th nonce reply carries a nonce whose hash misses the ticket.
    pub bad_nonce_every: u32,
    /// Chips (by position) that are dead: they neither answer nor hash.
    pub missing_chips: Vec<usize>,
}

/// The emulated chain.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The chip family.
    pub family: ChipFamily,
    /// Chips on the chain.
    pub chips: usize,
    /// Difficulty 1 costs 2^(32 - easy_bits) hashes instead of 2^32.
    pub easy_bits: u32,
    /// Hashes per second the whole chain computes at the family's default clock; it
    /// scales with the clock set through PLL0 (the emulator sleeps off the rest).
    pub hashrate: f64,
    /// Faults to inject.
    pub faults: Faults,
}

impl SimConfig {
    /// A chain of `chips` chips of `family` hashing at 500 kH/s, difficulty 1 costing 2^8
    /// hashes, without faults.
    pub fn new(family: ChipFamily, chips: usize) -> Self {
        SimConfig {
            family,
            chips,
            easy_bits: 24,
            hashrate: 5e5,
            faults: Faults::default(),
        }
    }

    /// The hashes one difficulty-1 nonce costs on this chain.
    pub fn difficulty_one_hashes(&self) -> f64 {
        2f64.powi(32 - self.easy_bits.min(32) as i32)
    }
}

/// What a test can see of, and do to, a running emulator.
#[derive(Debug, Default)]
pub struct SimShared {
    silent: AtomicBool,
    jobs: AtomicU64,
    bad_frames: AtomicU64,
    hashes: AtomicU64,
    nonces: AtomicU64,
    state: Mutex<SimView>,
}

/// A snapshot of the emulated chips' settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SimView {
    /// Chip addresses by position (`None`: not addressed or dead).
    pub addresses: Vec<Option<u8>>,
    /// Clock per chip, MHz, from its PLL0 register.
    pub frequencies: Vec<Option<f64>>,
    /// The chips' UART rate.
    pub chip_baud: u32,
    /// The host link's rate.
    pub host_baud: u32,
    /// The ticket difficulty chip 0 is set to.
    pub ticket: u64,
    /// The version-rolling mask chip 0 is set to.
    pub version_mask: u32,
}

impl SimShared {
    /// Stops (or resumes) every reply, as a hung chain or an unplugged cable would.
    pub fn set_silent(&self, silent: bool) {
        self.silent.store(silent, Ordering::SeqCst);
    }

    /// Jobs the chain received with a good CRC.
    pub fn jobs(&self) -> u64 {
        self.jobs.load(Ordering::SeqCst)
    }

    /// Host frames rejected (bad preamble, length or checksum).
    pub fn bad_frames(&self) -> u64 {
        self.bad_frames.load(Ordering::SeqCst)
    }

    /// Hashes computed.
    pub fn hashes(&self) -> u64 {
        self.hashes.load(Ordering::SeqCst)
    }

    /// Nonce replies sent (faults excluded).
    pub fn nonces(&self) -> u64 {
        self.nonces.load(Ordering::SeqCst)
    }

    /// The chips' settings.
    pub fn view(&self) -> SimView {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// The host side of an emulated chain: a [`Transport`].
pub struct ChainSim {
    family: ChipFamily,
    to_sim: SyncSender<Msg>,
    from_sim: Receiver<Vec<u8>>,
    pending: VecDeque<u8>,
    shared: Arc<SimShared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

enum Msg {
    Bytes(Vec<u8>),
    Baud(u32),
}

impl ChainSim {
    /// Starts the emulator thread.
    ///
    /// # Errors
    /// The OS refused the thread.
    pub fn start(config: SimConfig) -> io::Result<ChainSim> {
        let (to_sim, sim_rx) = mpsc::sync_channel(QUEUE);
        let (sim_tx, from_sim) = mpsc::sync_channel(QUEUE);
        let shared = Arc::new(SimShared::default());
        let family = config.family;
        let mut emulator = Emulator::new(config, Arc::clone(&shared), sim_tx);
        let thread = std::thread::Builder::new()
            .name("otedama-asic-sim".into())
            .spawn(move || emulator.run(&sim_rx))?;
        Ok(ChainSim {
            family,
            to_sim,
            from_sim,
            pending: VecDeque::new(),
            shared,
            thread: Some(thread),
        })
    }

    /// The emulator's controls and counters.
    pub fn shared(&self) -> Arc<SimShared> {
        Arc::clone(&self.shared)
    }
}

impl Drop for ChainSim {
    fn drop(&mut self) {
        // Closing the channel ends the emulator's loop.
        let (closed, _) = mpsc::sync_channel(0);
        self.to_sim = closed;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Transport for ChainSim {
    fn name(&self) -> String {
        "sim".into()
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.to_sim
            .send(Msg::Bytes(bytes.to_vec()))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "emulator stopped"))
    }

    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize> {
        if self.pending.is_empty() {
            match self.from_sim.recv_timeout(timeout) {
                Ok(bytes) => self.pending.extend(bytes),
                Err(RecvTimeoutError::Timeout) => return Ok(0),
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(io::Error::new(
                        io::ErrorKind::BrokenPipe,
                        "emulator stopped",
                    ));
                }
            }
        }
        while let Ok(bytes) = self.from_sim.try_recv() {
            if self.pending.len() > 64 * 1024 {
                break;
            }
            self.pending.extend(bytes);
        }
        let n = buf.len().min(self.pending.len());
        for (slot, byte) in buf.iter_mut().zip(self.pending.drain(..n)) {
            *slot = byte;
        }
        Ok(n)
    }

    fn set_baud(&mut self, baud: u32) -> io::Result<()> {
        self.to_sim
            .send(Msg::Baud(baud))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "emulator stopped"))
    }

    fn sensor(&self) -> Option<Box<dyn TemperatureSource>> {
        Some(Box::new(SimSensor::new(self.shared(), self.family)))
    }
}
