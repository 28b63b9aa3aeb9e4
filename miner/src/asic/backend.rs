//! A chain of chips as a [`HashBackend`], optionally under a thermal governor that
//! works the clock: chips keep hashing their last job whether or not the host sends
//! another, so the only lever on their heat is the PLL.

use super::chain::{Chain, ChainCounters, ChainError};
use crate::backend::{HashBackend, ScanResult};
use crate::thermal::{Decision, TemperatureSource, ThermalGovernor};
use otedama_sharechain::{PowAlgorithm, Target};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};
use tracing::{error, warn};

const LOG: &str = "otedama::miner::asic";

/// How often a scan looks at its stop flag while waiting for nonces.
const POLL: Duration = Duration::from_millis(20);
/// The share of the configured clock a paused or cut-off chain idles at.
pub const THERMAL_FLOOR: f64 = 0.25;
/// The frequency step of clock ramps, MHz.
const RAMP_STEP_MHZ: f64 = 6.25;
/// The most the thermal governor moves the clock per job, MHz (four ramp steps).
const MAX_MOVE_MHZ: f64 = 4.0 * RAMP_STEP_MHZ;

/// A snapshot of an ASIC chain for stats and the API.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct AsicStats {
    /// The device name.
    pub device: String,
    /// The chip family.
    pub family: String,
    /// Chips on the chain.
    pub chips: usize,
    /// Clock, MHz.
    pub frequency_mhz: f64,
    /// The nominal hashrate at that clock (what the chips would do if every core hashed).
    pub nominal_hashrate: f64,
    /// Nonces that met the ticket difficulty.
    pub nonces: u64,
    /// Hardware errors: nonces missing the ticket, bad version bits.
    pub hardware_errors: u64,
    /// Repeated nonces dropped.
    pub duplicates: u64,
    /// Nonces of retired jobs dropped.
    pub stale: u64,
    /// Replies with a bad CRC.
    pub crc_errors: u64,
    /// Scans that got no nonce although several were due.
    pub timeouts: u64,
    /// Nonces per chip.
    pub per_chip: Vec<u64>,
    /// The last temperature reading, C.
    pub temperature: Option<f32>,
    /// The thermal governor's last decision (`None`: the chain has no governor).
    pub thermal: Option<Decision>,
}

/// A chain's temperature control: the governor's intensity is the percentage of the
/// configured clock to run at.
struct Thermal {
    sensor: Box<dyn TemperatureSource>,
    governor: ThermalGovernor,
    /// The configured clock, MHz: intensity 100.
    full_mhz: f64,
}

struct State {
    chain: Chain,
    timeouts: u64,
    temperature: Option<f32>,
    thermal: Option<Thermal>,
}

/// A BM13xx chain driven as a hash backend. One job per [`HashBackend::scan`]: the chips
/// search the whole nonce space (and roll the version where the family does) while the
/// scan collects their nonces for `job_interval`.
pub struct AsicBackend {
    name: String,
    state: Mutex<State>,
    job_interval: Duration,
}

impl std::fmt::Debug for AsicBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsicBackend")
            .field("name", &self.name)
            .field("job_interval", &self.job_interval)
            .finish_non_exhaustive()
    }
}

impl AsicBackend {
    /// Wraps an opened chain; each job runs `job_interval` before the next.
    pub fn new(chain: Chain, job_interval: Duration) -> Self {
        AsicBackend {
            name: format!("asic:{}", chain.name()),
            state: Mutex::new(State {
                chain,
                timeouts: 0,
                temperature: None,
                thermal: None,
            }),
            job_interval: job_interval.max(POLL),
        }
    }

    /// Puts the chain under `governor`, reading `sensor` before every job. Intensity is
    /// a percentage of the clock the chain runs at now; below 100 the clock is lowered
    /// (in 6.25 MHz ramp steps, at most 25 MHz per job), and a paused or cut-off chain is
    /// clocked down to [`THERMAL_FLOOR`] of it and sent no jobs until it may run again.
    #[must_use]
    pub fn with_thermal(
        self,
        sensor: Box<dyn TemperatureSource>,
        governor: ThermalGovernor,
    ) -> Self {
        {
            let mut s = self.lock();
            let full_mhz = s.chain.frequency();
            s.thermal = Some(Thermal {
                sensor,
                governor,
                full_mhz,
            });
        }
        self
    }

    /// Clears a thermal cutoff (after the operator looked at the chain).
    pub fn reset_thermal(&self) {
        if let Some(t) = self.lock().thermal.as_mut() {
            t.governor.reset();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Returns the chain's counters and settings.
    pub fn stats(&self) -> AsicStats {
        let s = self.lock();
        let c: &ChainCounters = s.chain.counters();
        AsicStats {
            device: s.chain.name(),
            family: s.chain.family().to_string(),
            chips: s.chain.chips(),
            frequency_mhz: s.chain.frequency(),
            nominal_hashrate: s.chain.nominal_hashrate(),
            nonces: c.nonces,
            hardware_errors: c.hardware_errors,
            duplicates: c.duplicates,
            stale: c.stale,
            crc_errors: c.crc_errors,
            timeouts: s.timeouts,
            per_chip: c.per_chip.clone(),
            temperature: s.temperature,
            thermal: s.thermal.as_ref().map(|t| t.governor.decision()),
        }
    }

    /// Reads the sensor, lets the governor decide and sets the clock to match; returns
    /// whether the chain may get a job now.
    fn thermal(s: &mut State) -> Result<bool, ChainError> {
        let Some(t) = s.thermal.as_mut() else {
            return Ok(true);
        };
        let reading = t.sensor.temperature();
        s.temperature = reading;
        let decision = t.governor.observe(reading);
        let (run, percent) = match decision {
            Decision::Run(i) => (true, f64::from(i.min(100))),
            Decision::Paused | Decision::CutOff => (false, 0.0),
        };
        let floor = t.full_mhz * THERMAL_FLOOR;
        let wanted = (t.full_mhz * percent / 100.0).clamp(floor, t.full_mhz);
        let now = s.chain.frequency();
        // Whole ramp steps only (smaller moves are noise), and at most a few per job so
        // the chain is never held long.
        if (wanted - now).abs() >= RAMP_STEP_MHZ {
            let next = now + (wanted - now).clamp(-MAX_MOVE_MHZ, MAX_MOVE_MHZ);
            if decision != Decision::Run(100) {
                warn!(target: LOG, device = %s.chain.name(), temperature = ?reading, ?decision, mhz = next, "thermal limit: changing the clock");
            }
            s.chain.set_frequency(next)?;
        }
        Ok(run)
    }

    fn scan_job(
        &self,
        header: &[u8; 80],
        start: u32,
        version_mask: u32,
        target: &Target,
        stop: &AtomicBool,
    ) -> Result<ScanResult, ChainError> {
        let mut s = self.lock();
        if !Self::thermal(&mut s)? {
            drop(s);
            sleep_unless_stopped(self.job_interval, stop);
            return Ok(ScanResult::default());
        }
        let chain = &mut s.chain;
        // The ticket: at most the share's difficulty (every share is reported), at least 1.
        let share_hashes = target.to_work().to_u128() as f64;
        let ticket = (share_hashes / chain.difficulty_one_hashes()).clamp(1.0, 1e12) as u64;
        if ticket != chain.ticket_difficulty() {
            chain.set_ticket_difficulty(ticket)?;
        }
        chain.set_version_mask(version_mask)?;
        chain.retire_jobs();
        chain.send_job(header, start)?;
        let base = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let started = Instant::now();
        let mut out = ScanResult::default();
        let mut nonces = 0u64;
        while started.elapsed() < self.job_interval && !stop.load(Ordering::Relaxed) {
            for found in chain.poll(POLL)? {
                nonces += 1;
                // Chips report at the ticket, a power of two at or below the share's
                // difficulty: only nonces that meet the share target go on.
                let mut full = *header;
                full[0..4].copy_from_slice(&found.version.to_le_bytes());
                full[76..80].copy_from_slice(&found.nonce.to_le_bytes());
                if !target.is_met_by(&PowAlgorithm::Sha256d.hash(&full)) {
                    continue;
                }
                if found.version == base {
                    out.found.push(found.nonce);
                } else {
                    out.rolled.push((found.version, found.nonce));
                }
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        out.hashes = (nonces as f64 * chain.hashes_per_nonce()) as u64;
        let due = elapsed * chain.nominal_hashrate().min(f64::MAX) / chain.hashes_per_nonce();
        if nonces == 0 && due >= 5.0 && !stop.load(Ordering::Relaxed) {
            s.timeouts += 1;
            warn!(target: LOG, device = %s.chain.name(), due, "no nonce from the chain in a whole job");
        }
        Ok(out)
    }
}

fn sleep_unless_stopped(d: Duration, stop: &AtomicBool) {
    let until = Instant::now() + d;
    while Instant::now() < until && !stop.load(Ordering::Relaxed) {
        std::thread::sleep(POLL);
    }
}

impl HashBackend for AsicBackend {
    fn name(&self) -> &str {
        &self.name
    }

    fn algorithm(&self) -> PowAlgorithm {
        PowAlgorithm::Sha256d
    }

    fn chunk(&self) -> u32 {
        // The chips search the whole nonce space of every job.
        u32::MAX
    }

    fn rolls_version(&self) -> bool {
        true
    }

    fn scan(
        &self,
        header: &[u8; 80],
        nonces: Range<u32>,
        target: &Target,
        stop: &AtomicBool,
    ) -> ScanResult {
        self.scan_rolling(header, nonces, 0, target, stop)
    }

    fn scan_rolling(
        &self,
        header: &[u8; 80],
        nonces: Range<u32>,
        version_mask: u32,
        target: &Target,
        stop: &AtomicBool,
    ) -> ScanResult {
        match self.scan_job(header, nonces.start, version_mask, target, stop) {
            Ok(r) => r,
            Err(e) => {
                error!(target: LOG, device = %self.name, error = %e, "chain failed");
                sleep_unless_stopped(self.job_interval, stop);
                ScanResult::default()
            }
        }
    }
}
