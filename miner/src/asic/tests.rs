//! The driver against the emulator: enumeration, settings, nonces, faults.

use super::chain::{DEFAULT_VERSION_MASK, meets_ticket};
use super::sim::{ChainSim, Faults, SimConfig, SimShared};
use super::*;
use crate::HashBackend;
use otedama_sharechain::{PowAlgorithm, Target, Work};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

fn open(sim: SimConfig, chain: impl FnOnce(&mut ChainConfig)) -> (Chain, Arc<SimShared>) {
    let mut config = ChainConfig::new(sim.family);
    config.ramp_delay = Duration::ZERO;
    config.enumerate_timeout = Duration::from_millis(300);
    config.difficulty_one_hashes = sim.difficulty_one_hashes();
    chain(&mut config);
    let transport = ChainSim::start(sim).expect("emulator starts");
    let shared = transport.shared();
    let chain = Chain::open(Box::new(transport), config).expect("chain opens");
    (chain, shared)
}

/// A header with a fixed, arbitrary body.
fn header(seed: u8) -> [u8; 80] {
    let mut h = [0u8; 80];
    for (i, b) in h.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(31).wrapping_add(seed);
    }
    h[0..4].copy_from_slice(&0x2000_0000u32.to_le_bytes());
    h
}

/// Waits until the emulator's view satisfies `cond` (it publishes after each frame).
fn wait_view(
    shared: &SimShared,
    cond: impl Fn(&super::sim::SimView) -> bool,
) -> super::sim::SimView {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let v = shared.view();
        if cond(&v) || Instant::now() > deadline {
            return v;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn collect(chain: &mut Chain, want: usize, limit: Duration) -> Vec<Found> {
    let deadline = Instant::now() + limit;
    let mut out = Vec::new();
    while out.len() < want && Instant::now() < deadline {
        out.extend(chain.poll(Duration::from_millis(20)).expect("poll"));
    }
    out
}

#[test]
fn enumeration_addresses_chips_and_applies_settings() {
    for family in ChipFamily::ALL {
        let (chain, shared) = open(SimConfig::new(family, 4), |c| c.frequency = Some(400.0));
        assert_eq!(chain.chips(), 4, "{family}");
        // The ramp ends at the target; the emulator publishes each step.
        let view = wait_view(&shared, |v| {
            v.frequencies
                .iter()
                .all(|f| f.is_some_and(|f| (f - 400.0).abs() < 1.0))
        });
        assert_eq!(
            view.addresses,
            vec![Some(0), Some(64), Some(128), Some(192)],
            "{family}"
        );
        for f in &view.frequencies {
            let f = f.expect("PLL written");
            assert!((f - 400.0).abs() < 1.0, "{family}: {f} MHz");
        }
        assert!((chain.frequency() - 400.0).abs() < 1.0);
        let (_, _, fast) = family.fast_baud();
        assert_eq!((view.chip_baud, view.host_baud), (fast, fast), "{family}");
        assert_eq!(view.ticket, 256);
        if family.rolls_version() {
            assert_eq!(view.version_mask, DEFAULT_VERSION_MASK);
        }
    }
}

#[test]
fn a_dead_chip_is_left_out_and_a_silent_chain_is_an_error() {
    let mut sim = SimConfig::new(ChipFamily::Bm1370, 4);
    sim.faults.missing_chips = vec![2];
    let (chain, shared) = open(sim, |c| c.expected_chips = Some(4));
    assert_eq!(chain.chips(), 3);
    let view = wait_view(&shared, |v| v.addresses.iter().flatten().count() == 3);
    assert_eq!(view.addresses, vec![Some(0), Some(85), None, Some(170)]);

    let transport = ChainSim::start(SimConfig::new(ChipFamily::Bm1366, 2)).expect("start");
    transport.shared().set_silent(true);
    let mut config = ChainConfig::new(ChipFamily::Bm1366);
    config.enumerate_timeout = Duration::from_millis(100);
    let err = Chain::open(Box::new(transport), config).expect_err("nobody answers");
    assert!(matches!(err, ChainError::NoChips(..)), "{err}");
}

#[test]
fn registers_read_back() {
    let (mut chain, _) = open(SimConfig::new(ChipFamily::Bm1368, 2), |_| {});
    let id = chain
        .read_register(1, protocol::reg::CHIP_ADDRESS, Duration::from_secs(1))
        .expect("io")
        .expect("chip 1 answers");
    assert_eq!(id, [0x13, 0x68, 0x00, 128]);
    let mask = chain
        .read_register(0, protocol::reg::TICKET_MASK, Duration::from_secs(1))
        .expect("io")
        .expect("chip 0 answers");
    assert_eq!(protocol::ticket_difficulty(mask), 256);
}

/// Chips that roll the version report nonces under several versions, only in the
/// mask's bits, from several chips; each nonce meets the ticket on the host's re-hash.
#[test]
fn rolling_chips_find_nonces_with_rolled_versions() {
    let mut sim = SimConfig::new(ChipFamily::Bm1366, 4);
    sim.hashrate = 4e6;
    let d1 = sim.difficulty_one_hashes();
    let (mut chain, _) = open(sim, |_| {});
    chain.set_ticket_difficulty(1).expect("io");
    chain.set_version_mask(0x0001_e000).expect("io");
    let h = header(1);
    let id = chain.send_job(&h, 0).expect("io");
    let found = collect(&mut chain, 60, Duration::from_secs(10));
    assert!(found.len() >= 60, "only {} nonces", found.len());
    let mut versions = std::collections::BTreeSet::new();
    let mut chips = std::collections::BTreeSet::new();
    for f in &found {
        assert_eq!(f.job_id, id);
        assert_eq!(f.version & !0x0001_e000, 0x2000_0000);
        let mut full = h;
        full[0..4].copy_from_slice(&f.version.to_le_bytes());
        full[76..80].copy_from_slice(&f.nonce.to_le_bytes());
        assert!(meets_ticket(&full, 1, d1));
        versions.insert(f.version);
        chips.insert(f.chip);
    }
    assert!(versions.len() >= 4, "{versions:x?}");
    assert!(chips.len() >= 2, "{chips:?}");
    assert_eq!(chain.counters().hardware_errors, 0);
}

/// BM1397 gets four midstates: nonces come back for each slot's version.
#[test]
fn midstate_chips_report_the_slot_of_each_nonce() {
    let mut sim = SimConfig::new(ChipFamily::Bm1397, 2);
    sim.hashrate = 4e6;
    let d1 = sim.difficulty_one_hashes();
    let (mut chain, _) = open(sim, |_| {});
    chain.set_ticket_difficulty(1).expect("io");
    let h = header(2);
    chain.send_job(&h, 1000).expect("io");
    let found = collect(&mut chain, 40, Duration::from_secs(10));
    assert!(found.len() >= 40);
    let versions: std::collections::BTreeSet<u32> = found.iter().map(|f| f.version).collect();
    assert_eq!(
        versions.into_iter().collect::<Vec<_>>(),
        vec![0x2000_0000, 0x2000_2000, 0x2000_4000, 0x2000_6000]
    );
    for f in &found {
        let mut full = h;
        full[0..4].copy_from_slice(&f.version.to_le_bytes());
        full[76..80].copy_from_slice(&f.nonce.to_le_bytes());
        assert!(meets_ticket(&full, 1, d1));
    }
}

/// Bitcoin's genesis block on emulated chips with real difficulty 1: a job that starts
/// just below its nonce gets that nonce back, on both job layouts.
#[test]
fn real_difficulty_finds_the_genesis_nonce() {
    let genesis: [u8; 80] = hex::decode(concat!(
        "01000000",
        "0000000000000000000000000000000000000000000000000000000000000000",
        "3ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a",
        "29ab5f49ffff001d1dac2b7c"
    ))
    .expect("hex")
    .try_into()
    .expect("80 bytes");
    for family in [ChipFamily::Bm1397, ChipFamily::Bm1370] {
        let mut sim = SimConfig::new(family, 1);
        sim.easy_bits = 0;
        let (mut chain, _) = open(sim, |_| {});
        chain.set_ticket_difficulty(1).expect("io");
        chain.set_version_mask(0).expect("io");
        chain.send_job(&genesis, 0x7c2b_ac1d - 100).expect("io");
        let found = collect(&mut chain, 1, Duration::from_secs(5));
        assert_eq!(
            found
                .iter()
                .map(|f| (f.version, f.nonce))
                .collect::<Vec<_>>(),
            vec![(1, 0x7c2b_ac1d)],
            "{family}"
        );
    }
}

/// Noise, corrupt replies, repeats, replies to retired jobs and wrong nonces: the
/// driver counts each and passes on only nonces that verify.
#[test]
fn faults_are_counted_and_filtered() {
    let mut sim = SimConfig::new(ChipFamily::Bm1368, 4);
    sim.hashrate = 4e6;
    sim.faults = Faults {
        crc_error_every: 7,
        garbage_every: 5,
        duplicate_every: 3,
        stale_every: 4,
        bad_nonce_every: 11,
        missing_chips: Vec::new(),
    };
    let d1 = sim.difficulty_one_hashes();
    let (mut chain, _) = open(sim, |_| {});
    chain.set_ticket_difficulty(1).expect("io");
    let mut all = Vec::new();
    for seed in 0..3u8 {
        chain.retire_jobs();
        let h = header(10 + seed);
        let id = chain.send_job(&h, 0).expect("io");
        for f in collect(&mut chain, 40, Duration::from_secs(10)) {
            assert_eq!(f.job_id, id);
            all.push((h, f));
        }
    }
    for (h, f) in &all {
        let mut full = *h;
        full[0..4].copy_from_slice(&f.version.to_le_bytes());
        full[76..80].copy_from_slice(&f.nonce.to_le_bytes());
        assert!(meets_ticket(&full, 1, d1), "a bad nonce got through");
    }
    let mut keys: Vec<_> = all
        .iter()
        .map(|(_, f)| (f.job_id, f.version, f.nonce))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), all.len(), "a duplicate got through");
    let c = chain.counters();
    assert!(c.crc_errors > 0, "{c:?}");
    assert!(c.duplicates > 0, "{c:?}");
    assert!(c.stale > 0, "{c:?}");
    assert!(c.hardware_errors > 0, "{c:?}");
    assert!(c.skipped_bytes > 0, "{c:?}");
}

/// The backend: one job per scan, candidates (rolled ones included) meet the share
/// target, the ticket follows the target, a silent chain counts a timeout.
#[test]
fn the_backend_scans_jobs_and_notices_a_silent_chain() {
    let mut sim = SimConfig::new(ChipFamily::Bm1366, 2);
    sim.hashrate = 4e6;
    let (chain, shared) = open(sim, |_| {});
    let backend = AsicBackend::new(chain, Duration::from_millis(400));
    assert!(backend.rolls_version());
    assert_eq!(backend.chunk(), u32::MAX);
    // One share per 3*2^12 hashes: the ticket is the power of two below (16 nonces of
    // 2^8 hashes), so about two in three reported nonces miss the share target.
    let target = Target::from_work(Work::from_u128(3 << 12));
    let stop = AtomicBool::new(false);
    let h = header(7);
    let r = backend.scan_rolling(&h, 0..u32::MAX, 0x1fff_e000, &target, &stop);
    assert!(!r.found.is_empty() || !r.rolled.is_empty());
    assert!(r.hashes > 0);
    for (version, nonce) in r
        .found
        .iter()
        .map(|n| (0x2000_0000, *n))
        .chain(r.rolled.iter().copied())
    {
        let mut full = h;
        full[0..4].copy_from_slice(&u32::to_le_bytes(version));
        full[76..80].copy_from_slice(&nonce.to_le_bytes());
        // Chips report at the ticket; only candidates meeting the share target remain.
        assert!(meets_ticket(&full, 32, 256.0));
        assert!(target.is_met_by(&PowAlgorithm::Sha256d.hash(&full)));
    }
    assert_eq!(shared.view().ticket, 32);
    let stats = backend.stats();
    assert_eq!((stats.chips, stats.family.as_str()), (2, "bm1366"));
    assert_eq!(stats.timeouts, 0);

    shared.set_silent(true);
    let r = backend.scan_rolling(&h, 0..u32::MAX, 0x1fff_e000, &target, &stop);
    assert!(r.found.is_empty() && r.rolled.is_empty());
    assert_eq!(backend.stats().timeouts, 1);
}

/// A simulated sensor the test keeps a handle on.
struct Probe(Arc<crate::thermal::SimulatedTemperature>);

impl crate::thermal::TemperatureSource for Probe {
    fn temperature(&self) -> Option<f32> {
        self.0.temperature()
    }
}

/// A governor as the node sets one up for a chain: intensity is a percentage of the
/// clock, down to the thermal floor.
fn chain_governor(limit: f32, step: u32) -> crate::thermal::ThermalGovernor {
    crate::thermal::ThermalGovernor::new(crate::thermal::ThermalConfig {
        limit,
        min_intensity: 25,
        step,
        ..crate::thermal::ThermalConfig::default()
    })
    .expect("valid")
}

/// Asserts the emulated chips' mean clock is `mhz`, within the PLL's rounding.
fn assert_clock(shared: &SimShared, mhz: f64) {
    let clock = mean_clock(shared);
    assert!(
        (clock - mhz).abs() < 1.0,
        "clock {clock} MHz, expected {mhz}"
    );
}

fn mean_clock(shared: &SimShared) -> f64 {
    let clocks: Vec<f64> = shared.view().frequencies.into_iter().flatten().collect();
    clocks.iter().sum::<f64>() / clocks.len().max(1) as f64
}

#[test]
fn the_thermal_floor_is_a_reachable_clock_on_every_family() {
    for family in ChipFamily::ALL {
        let floor = family.default_frequency() * THERMAL_FLOOR;
        let pll = Pll::for_frequency(family, floor).expect("reachable");
        assert!((pll.frequency() - floor).abs() < 1.0, "{family}: {pll:?}");
    }
}

#[test]
fn the_emulated_hashrate_follows_the_clock() {
    let mut sim = SimConfig::new(ChipFamily::Bm1366, 2);
    sim.hashrate = 4e5;
    let (mut chain, shared) = open(sim, |_| {});
    let rate = |chain: &mut Chain| {
        chain.send_job(&header(3), 0).expect("job");
        std::thread::sleep(Duration::from_millis(200));
        let (h0, t0) = (shared.hashes(), Instant::now());
        std::thread::sleep(Duration::from_millis(800));
        let _ = chain.poll(Duration::ZERO);
        (shared.hashes() - h0) as f64 / t0.elapsed().as_secs_f64()
    };
    let full = rate(&mut chain);
    chain.set_frequency(485.0 / 2.0).expect("clock");
    let half = rate(&mut chain);
    assert!(
        (2e5..6e5).contains(&full),
        "{full} H/s at the default clock"
    );
    assert!((0.3..0.7).contains(&(half / full)), "{half} vs {full} H/s");
}

#[test]
fn a_hot_chain_is_clocked_down_paused_and_cut_off() {
    let sim = SimConfig::new(ChipFamily::Bm1366, 2);
    let (chain, shared) = open(sim, |_| {});
    let reading = Arc::new(crate::thermal::SimulatedTemperature::new(Some(50.0)));
    let governor = chain_governor(60.0, 25);
    let backend = AsicBackend::new(chain, Duration::from_millis(60))
        .with_thermal(Box::new(Probe(Arc::clone(&reading))), governor);
    let target = Target::from_work(Work::from_u128(1 << 10));
    let stop = AtomicBool::new(false);
    let scan = || backend.scan_rolling(&header(9), 0..u32::MAX, 0x1fff_e000, &target, &stop);
    use crate::thermal::Decision;

    // Cool: full clock, jobs go out.
    assert!(scan().hashes > 0);
    assert_eq!(backend.stats().thermal, Some(Decision::Run(100)));
    assert_eq!(backend.stats().temperature, Some(50.0));
    assert_clock(&shared, 485.0);

    // Hot: 75 %, 50 %, 25 %, then paused; the clock follows 25 MHz per job.
    reading.set(Some(65.0));
    scan();
    assert_eq!(backend.stats().thermal, Some(Decision::Run(75)));
    assert_clock(&shared, 460.0);
    for _ in 0..3 {
        scan();
    }
    assert_eq!(backend.stats().thermal, Some(Decision::Paused));
    let jobs = shared.jobs();
    let r = scan();
    assert_eq!(
        (r.hashes, shared.jobs()),
        (0, jobs),
        "a paused chain gets no job"
    );
    for _ in 0..20 {
        scan();
    }
    let floor = 485.0 * THERMAL_FLOOR;
    assert_clock(&shared, floor);

    // Cooled below limit - hysteresis: it resumes at 25 % and climbs back.
    reading.set(Some(50.0));
    assert!(scan().hashes > 0);
    for _ in 0..20 {
        scan();
    }
    assert_eq!(backend.stats().thermal, Some(Decision::Run(100)));
    assert_clock(&shared, 485.0);

    // At the cutoff it stops until reset, however cool it gets.
    reading.set(Some(70.0));
    scan();
    reading.set(Some(30.0));
    assert_eq!(scan().hashes, 0);
    assert_eq!(backend.stats().thermal, Some(Decision::CutOff));
    backend.reset_thermal();
    assert!(scan().hashes > 0);
    assert_eq!(backend.stats().thermal, Some(Decision::Run(100)));
}

#[test]
fn the_governor_holds_an_emulated_chain_under_its_limit() {
    let sim = SimConfig::new(ChipFamily::Bm1366, 2);
    let (chain, shared) = open(sim, |_| {});
    let mut sensor = super::sim::SimSensor::new(Arc::clone(&shared), ChipFamily::Bm1366);
    sensor.tau = Duration::from_millis(150);
    let governor = chain_governor(55.0, 5);
    let backend =
        AsicBackend::new(chain, Duration::from_millis(50)).with_thermal(Box::new(sensor), governor);
    let target = Target::from_work(Work::from_u128(1 << 10));
    let stop = AtomicBool::new(false);
    let mut temperatures = Vec::new();
    for _ in 0..120 {
        backend.scan_rolling(&header(4), 0..u32::MAX, 0x1fff_e000, &target, &stop);
        temperatures.extend(backend.stats().temperature);
    }
    // At the default clock it would settle at 70 C; held at 55 C it settles near
    // (55 - 25) / 45 = 2/3 of the clock.
    let peak_late = temperatures[80..].iter().copied().fold(f32::MIN, f32::max);
    assert!(
        temperatures.iter().any(|t| *t > 55.0),
        "it did get hot: {temperatures:?}"
    );
    assert!(peak_late < 57.0, "held near the limit: {temperatures:?}");
    let share = mean_clock(&shared) / 485.0;
    assert!((0.45..0.75).contains(&share), "clock at {share} of full");
    assert!(matches!(
        backend.stats().thermal,
        Some(crate::thermal::Decision::Run(_))
    ));
}
