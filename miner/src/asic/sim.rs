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

use super::chain::{chip_of, hash_meets_ticket};
use super::chip::ChipFamily;
use super::pll::Pll;
use super::protocol::{
    Command, HeaderJob, HostFrame, MidstateJob, PREAMBLE, Reply, decode_host_frame, reg,
    ticket_difficulty, version_mask_from_value,
};
use super::transport::Transport;
use crate::backend::next_rolled_version;
use crate::thermal::TemperatureSource;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

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

#[derive(Debug, Clone, Default)]
struct Chip {
    dead: bool,
    address: Option<u8>,
    registers: BTreeMap<u8, [u8; 4]>,
}

enum Job {
    Header(HeaderJob),
    Midstate(MidstateJob),
}

impl Job {
    fn id(&self) -> u8 {
        match self {
            Job::Header(j) => j.job_id,
            Job::Midstate(j) => j.job_id,
        }
    }
}

struct Emulator {
    config: SimConfig,
    shared: Arc<SimShared>,
    out: SyncSender<Vec<u8>>,
    chips: Vec<Chip>,
    input: Vec<u8>,
    chip_baud: u32,
    host_baud: u32,
    job: Option<(Job, u64)>,
    previous_job: Option<u8>,
    replies: u64,
    noise: u64,
    started: Instant,
    /// Time the hashing done so far should have taken at the clocks in force.
    due: Duration,
}

impl Emulator {
    fn new(config: SimConfig, shared: Arc<SimShared>, out: SyncSender<Vec<u8>>) -> Self {
        let chips = (0..config.chips)
            .map(|i| {
                let mut chip = Chip {
                    dead: config.faults.missing_chips.contains(&i),
                    ..Chip::default()
                };
                chip.registers.insert(reg::TICKET_MASK, [0, 0, 0, 0xff]);
                chip
            })
            .collect();
        Emulator {
            config,
            shared,
            out,
            chips,
            input: Vec::new(),
            chip_baud: super::chain::BOOT_BAUD,
            host_baud: super::chain::BOOT_BAUD,
            job: None,
            previous_job: None,
            replies: 0,
            noise: 0x9e37_79b9_7f4a_7c15,
            started: Instant::now(),
            due: Duration::ZERO,
        }
    }

    fn run(&mut self, input: &Receiver<Msg>) {
        loop {
            // Drain the host's frames; wait for them while idle.
            let wait = if self.job.is_some() {
                Duration::ZERO
            } else {
                Duration::from_millis(20)
            };
            match input.recv_timeout(wait) {
                Ok(msg) => {
                    self.take(msg);
                    while let Ok(msg) = input.try_recv() {
                        self.take(msg);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            if self.job.is_some() {
                self.hash_window();
                self.pace();
            }
            self.publish_view();
        }
    }

    fn take(&mut self, msg: Msg) {
        match msg {
            Msg::Baud(baud) => self.host_baud = baud,
            Msg::Bytes(bytes) => {
                self.input.extend(bytes);
                self.parse_frames();
            }
        }
    }

    fn parse_frames(&mut self) {
        loop {
            let Some(start) = self.input.windows(2).position(|w| w == PREAMBLE) else {
                self.input.drain(..self.input.len().saturating_sub(1));
                return;
            };
            self.input.drain(..start);
            if self.input.len() < 4 {
                return;
            }
            let len = usize::from(self.input[3]) + 2;
            if !(7..=MAX_FRAME).contains(&len) {
                self.shared.bad_frames.fetch_add(1, Ordering::SeqCst);
                self.input.drain(..1);
                continue;
            }
            if self.input.len() < len {
                return;
            }
            let frame: Vec<u8> = self.input.drain(..len).collect();
            match decode_host_frame(&frame) {
                Ok(HostFrame::Command(c)) => self.command(c),
                Ok(HostFrame::Job(payload)) => self.new_job(&payload),
                Err(_) => {
                    self.shared.bad_frames.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
    }

    fn live(&self) -> impl Iterator<Item = (usize, &Chip)> {
        self.chips.iter().enumerate().filter(|(_, c)| !c.dead)
    }

    fn command(&mut self, c: Command) {
        match c {
            Command::SetAddress { address } => {
                if let Some(chip) = self
                    .chips
                    .iter_mut()
                    .find(|c| !c.dead && c.address.is_none())
                {
                    chip.address = Some(address);
                }
            }
            Command::ChainInactive => {}
            Command::WriteAll { reg, value } => {
                for chip in self.chips.iter_mut().filter(|c| !c.dead) {
                    chip.registers.insert(reg, value);
                }
                self.after_write(reg, value);
            }
            Command::Write { chip, reg, value } => {
                if let Some(c) = self
                    .chips
                    .iter_mut()
                    .find(|c| !c.dead && c.address == Some(chip))
                {
                    c.registers.insert(reg, value);
                }
            }
            Command::ReadAll { reg } => {
                let replies: Vec<Reply> = self
                    .live()
                    .map(|(_, c)| self.register_reply(c, reg))
                    .collect();
                for r in replies {
                    self.send(r.encode(self.config.family));
                }
            }
            Command::Read { chip, reg } => {
                let reply = self
                    .live()
                    .find(|(_, c)| c.address == Some(chip))
                    .map(|(_, c)| self.register_reply(c, reg));
                if let Some(r) = reply {
                    self.send(r.encode(self.config.family));
                }
            }
        }
    }

    fn after_write(&mut self, register: u8, value: [u8; 4]) {
        let (baud_reg, baud_value, fast) = self.config.family.fast_baud();
        if register == baud_reg && value == baud_value {
            self.chip_baud = fast;
        }
    }

    fn register_reply(&self, chip: &Chip, register: u8) -> Reply {
        let address = chip.address.unwrap_or(0);
        let value = if register == reg::CHIP_ADDRESS {
            let [hi, lo] = self.config.family.chip_id().to_be_bytes();
            let cores = if self.config.family == ChipFamily::Bm1397 {
                0x18
            } else {
                0
            };
            [hi, lo, cores, address]
        } else {
            chip.registers.get(&register).copied().unwrap_or_default()
        };
        Reply::Register {
            value,
            chip: address,
            reg: register,
        }
    }

    fn new_job(&mut self, payload: &[u8]) {
        let job = if self.config.family.rolls_version() {
            HeaderJob::parse(payload).map(Job::Header)
        } else {
            MidstateJob::parse(payload).map(Job::Midstate)
        };
        match job {
            Some(job) => {
                self.shared.jobs.fetch_add(1, Ordering::SeqCst);
                self.previous_job = self.job.as_ref().map(|(j, _)| j.id());
                self.job = Some((job, 0));
            }
            None => {
                self.shared.bad_frames.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    fn ticket(&self) -> u64 {
        let value = self
            .live()
            .next()
            .and_then(|(_, c)| c.registers.get(&reg::TICKET_MASK).copied())
            .unwrap_or([0, 0, 0, 0xff]);
        ticket_difficulty(value)
    }

    fn version_mask(&self) -> u32 {
        self.live()
            .next()
            .and_then(|(_, c)| c.registers.get(&reg::VERSION_MASK).copied())
            .map_or(0, version_mask_from_value)
    }

    fn interval(&self) -> u8 {
        let addressed = self.chips.iter().filter(|c| c.address.is_some()).count();
        (256 / addressed.max(1)).clamp(1, 255) as u8
    }

    /// Whether the chip owning `nonce` is alive and addressed.
    fn owner_alive(&self, nonce: u32) -> bool {
        let position = chip_of(nonce, self.interval());
        self.chips
            .iter()
            .filter(|c| c.address.is_some())
            .nth(position)
            .is_some_and(|c| !c.dead)
    }

    /// Hashes the next window of nonces of the current job.
    fn hash_window(&mut self) {
        let Some((job, cursor)) = self.job.take() else {
            return;
        };
        let ticket = self.ticket();
        let d1 = self.config.difficulty_one_hashes();
        let family = self.config.family;
        let mut found = Vec::new();
        let mut hashes = 0u64;
        match &job {
            Job::Header(j) => {
                let mask = self.version_mask();
                let rolls = if mask == 0 { 1 } else { ROLLS_PER_WINDOW };
                let mut field = j.version & !mask;
                for _ in 0..rolls {
                    let version = j.version | (field & mask);
                    for i in 0..WINDOW {
                        let nonce = j
                            .starting_nonce
                            .wrapping_add((cursor as u32).wrapping_add(i));
                        let hash: [u8; 32] =
                            Sha256::digest(Sha256::digest(j.header(version, nonce))).into();
                        hashes += 1;
                        if hash_meets_ticket(&hash, ticket, d1) {
                            let bits = ((version & mask) >> 13) as u16;
                            found.push((nonce, 0u8, Some(bits)));
                        }
                    }
                    field = next_rolled_version(field, mask);
                }
            }
            Job::Midstate(j) => {
                for slot in 0..j.midstates.len() {
                    for i in 0..WINDOW {
                        let nonce = j
                            .starting_nonce
                            .wrapping_add((cursor as u32).wrapping_add(i));
                        let Some(hash) = j.hash(slot, nonce) else {
                            continue;
                        };
                        hashes += 1;
                        if hash_meets_ticket(&hash, ticket, d1) {
                            found.push((nonce, slot as u8, None));
                        }
                    }
                }
            }
        }
        let job_id = job.id();
        self.job = Some((job, cursor + u64::from(WINDOW)));
        self.due += Duration::from_secs_f64(hashes as f64 / self.hashrate());
        self.shared.hashes.fetch_add(hashes, Ordering::SeqCst);
        for (nonce, sub, version_bits) in found {
            if !self.owner_alive(nonce) {
                continue;
            }
            let reply = Reply::Nonce {
                nonce,
                midstate_num: if family == ChipFamily::Bm1397 { sub } else { 0 },
                id: family.reply_id(job_id, sub),
                version_bits,
            };
            self.emit_nonce(reply);
        }
    }

    fn emit_nonce(&mut self, reply: Reply) {
        let f = self.config.faults.clone();
        let family = self.config.family;
        self.replies += 1;
        let k = self.replies;
        let every = |n: u32| n != 0 && k.is_multiple_of(u64::from(n));
        self.shared.nonces.fetch_add(1, Ordering::SeqCst);
        if every(f.garbage_every) {
            let r = self.next_noise();
            self.send(vec![0xaa, 0x55, (r >> 8) as u8, 0xaa, r as u8]);
        }
        let mut bytes = reply.encode(family);
        if every(f.bad_nonce_every)
            && let Reply::Nonce {
                nonce,
                midstate_num,
                id,
                version_bits,
            } = reply
        {
            // A plausible reply (good CRC) for a nonce the chip never verified.
            let wrong = Reply::Nonce {
                nonce: nonce ^ 0x0100_0000,
                midstate_num,
                id,
                version_bits,
            };
            bytes = wrong.encode(family);
        }
        if every(f.crc_error_every) {
            bytes[4] ^= 0x40;
        }
        self.send(bytes.clone());
        if every(f.duplicate_every) {
            self.send(bytes);
        }
        if every(f.stale_every)
            && let (
                Some(previous),
                Reply::Nonce {
                    nonce,
                    midstate_num,
                    id,
                    version_bits,
                },
            ) = (self.previous_job, reply)
        {
            let (_, sub) = family.split_reply_id(id);
            let stale = Reply::Nonce {
                nonce,
                midstate_num,
                id: family.reply_id(previous, sub),
                version_bits,
            };
            self.send(stale.encode(family));
        }
    }

    fn next_noise(&mut self) -> u64 {
        // xorshift64: noise bytes only.
        self.noise ^= self.noise << 13;
        self.noise ^= self.noise >> 7;
        self.noise ^= self.noise << 17;
        self.noise
    }

    /// Sends reply bytes unless the chain is silent or the rates disagree (the host
    /// would read garbage). A full queue drops them, like a UART overrun.
    fn send(&self, bytes: Vec<u8>) {
        if self.shared.silent.load(Ordering::SeqCst) || self.chip_baud != self.host_baud {
            return;
        }
        if let Err(TrySendError::Full(_)) = self.out.try_send(bytes) {
            // Dropped, as a UART overrun would.
        }
    }

    /// The chain's hashrate now: the configured one scaled by the mean clock of the live
    /// chips over the family's default (chips whose PLL was never written run at it).
    fn hashrate(&self) -> f64 {
        let family = self.config.family;
        let clocks: Vec<f64> = self
            .live()
            .map(|(_, c)| {
                c.registers
                    .get(&reg::PLL0)
                    .and_then(|v| Pll::from_register(family, *v))
                    .map_or(family.default_frequency(), |p| p.frequency())
            })
            .collect();
        let scale = if clocks.is_empty() {
            1.0
        } else {
            clocks.iter().sum::<f64>() / clocks.len() as f64 / family.default_frequency()
        };
        (self.config.hashrate * scale).max(1.0)
    }

    /// Sleeps off whatever is ahead of the hashrate. Time spent idle (no job yet, or the
    /// host slow to send one) is not made up for with a burst.
    fn pace(&mut self) {
        let elapsed = self.started.elapsed();
        match self.due.checked_sub(elapsed) {
            Some(ahead) => std::thread::sleep(ahead.min(Duration::from_millis(50))),
            None if elapsed - self.due > Duration::from_millis(100) => {
                self.started = Instant::now().checked_sub(self.due).unwrap_or(self.started);
            }
            None => {}
        }
    }

    fn publish_view(&self) {
        let family = self.config.family;
        let view = SimView {
            addresses: self
                .chips
                .iter()
                .map(|c| if c.dead { None } else { c.address })
                .collect(),
            frequencies: self
                .chips
                .iter()
                .map(|c| {
                    c.registers
                        .get(&reg::PLL0)
                        .and_then(|v| Pll::from_register(family, *v))
                        .map(|p| p.frequency())
                })
                .collect(),
            chip_baud: self.chip_baud,
            host_baud: self.host_baud,
            ticket: self.ticket(),
            version_mask: self.version_mask(),
        };
        *self
            .shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = view;
    }
}

/// The die temperature of an emulated chain, as a [`TemperatureSource`]: it relaxes
/// towards `ambient + rise × clock / default clock` with time constant `tau`, reading
/// the chips' clock from their PLL0 registers at every read.
#[derive(Debug)]
pub struct SimSensor {
    shared: Arc<SimShared>,
    family: ChipFamily,
    /// Degrees Celsius with the chips idle.
    pub ambient: f32,
    /// Degrees Celsius above ambient at the family's default clock.
    pub rise: f32,
    /// How fast the die follows the clock.
    pub tau: Duration,
    state: Mutex<Option<(Instant, f32)>>,
}

impl SimSensor {
    /// A sensor on the chain behind `shared`: 25 °C ambient, 70 °C at the default clock,
    /// a 2 s time constant.
    pub fn new(shared: Arc<SimShared>, family: ChipFamily) -> SimSensor {
        SimSensor {
            shared,
            family,
            ambient: 25.0,
            rise: 45.0,
            tau: Duration::from_secs(2),
            state: Mutex::new(None),
        }
    }

    /// Where the temperature settles at the chips' current clock.
    fn settles_at(&self) -> f32 {
        let clocks: Vec<f64> = self
            .shared
            .view()
            .frequencies
            .into_iter()
            .flatten()
            .collect();
        let clock = if clocks.is_empty() {
            self.family.default_frequency()
        } else {
            clocks.iter().sum::<f64>() / clocks.len() as f64
        };
        self.ambient + self.rise * (clock / self.family.default_frequency()) as f32
    }
}

impl TemperatureSource for SimSensor {
    fn temperature(&self) -> Option<f32> {
        let now = Instant::now();
        let target = self.settles_at();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let t = match *state {
            // The chain starts cool.
            None => self.ambient,
            Some((then, t)) => {
                let k = 1.0
                    - (-now.saturating_duration_since(then).as_secs_f32()
                        / self.tau.as_secs_f32().max(1e-3))
                    .exp();
                t + (target - t) * k
            }
        };
        *state = Some((now, t));
        Some(t)
    }
}
