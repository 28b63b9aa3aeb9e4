//! The emulated chips: a thread that reads host frames, keeps each chip's registers and
//! searches nonces over the jobs it gets.

use super::{MAX_FRAME, Msg, ROLLS_PER_WINDOW, SimConfig, SimShared, SimView, WINDOW};
use crate::asic::chain::{chip_of, hash_meets_ticket};
use crate::asic::chip::ChipFamily;
use crate::asic::pll::Pll;
use crate::asic::protocol::{
    Command, HeaderJob, HostFrame, MidstateJob, PREAMBLE, Reply, decode_host_frame, reg,
    ticket_difficulty, version_mask_from_value,
};
use crate::backend::next_rolled_version;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

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

pub(super) struct Emulator {
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
    pub(super) fn new(config: SimConfig, shared: Arc<SimShared>, out: SyncSender<Vec<u8>>) -> Self {
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
            chip_baud: crate::asic::chain::BOOT_BAUD,
            host_baud: crate::asic::chain::BOOT_BAUD,
            job: None,
            previous_job: None,
            replies: 0,
            noise: 0x9e37_79b9_7f4a_7c15,
            started: Instant::now(),
            due: Duration::ZERO,
        }
    }

    pub(super) fn run(&mut self, input: &Receiver<Msg>) {
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
