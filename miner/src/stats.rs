//! Counters shared by the client task and the hashing threads, and the hashrate meter.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A snapshot of the miner's counters.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct MinerStats {
    /// Hashes per second over the last ~10 s.
    pub hashrate: f64,
    /// Hashes computed since start.
    pub hashes: u64,
    /// Shares the pool accepted.
    pub accepted: u64,
    /// Shares the pool rejected, stale ones excepted.
    pub rejected: u64,
    /// Shares the pool rejected as stale (Stratum error 21).
    pub stale: u64,
    /// Device candidates that failed the CPU re-check (hardware errors).
    pub hardware_errors: u64,
    /// URL of the pool in use (connected or being tried).
    pub pool: Option<String>,
    /// Whether a pool session is subscribed and authorized.
    pub connected: bool,
    /// The pool's current Stratum difficulty (1 until it sets one).
    pub difficulty: f64,
}

/// The live counters behind [`MinerStats`].
#[derive(Debug)]
pub(crate) struct Shared {
    pub hashes: AtomicU64,
    pub accepted: AtomicU64,
    pub rejected: AtomicU64,
    pub stale: AtomicU64,
    pub hardware_errors: AtomicU64,
    hashrate_bits: AtomicU64,
    difficulty_bits: AtomicU64,
    connected: AtomicBool,
    pool: Mutex<Option<String>>,
}

impl Default for Shared {
    fn default() -> Self {
        Self {
            hashes: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            stale: AtomicU64::new(0),
            hardware_errors: AtomicU64::new(0),
            hashrate_bits: AtomicU64::new(0f64.to_bits()),
            difficulty_bits: AtomicU64::new(1f64.to_bits()),
            connected: AtomicBool::new(false),
            pool: Mutex::new(None),
        }
    }
}

impl Shared {
    /// Returns a snapshot.
    pub fn snapshot(&self) -> MinerStats {
        MinerStats {
            hashrate: f64::from_bits(self.hashrate_bits.load(Ordering::Relaxed)),
            hashes: self.hashes.load(Ordering::Relaxed),
            accepted: self.accepted.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            stale: self.stale.load(Ordering::Relaxed),
            hardware_errors: self.hardware_errors.load(Ordering::Relaxed),
            pool: self.pool.lock().map(|p| p.clone()).unwrap_or_default(),
            connected: self.connected.load(Ordering::Relaxed),
            difficulty: f64::from_bits(self.difficulty_bits.load(Ordering::Relaxed)),
        }
    }

    pub fn set_pool(&self, url: Option<&str>) {
        if let Ok(mut p) = self.pool.lock() {
            *p = url.map(str::to_owned);
        }
    }

    pub fn set_connected(&self, connected: bool) {
        self.connected.store(connected, Ordering::Relaxed);
    }

    pub fn set_difficulty(&self, difficulty: f64) {
        self.difficulty_bits
            .store(difficulty.to_bits(), Ordering::Relaxed);
    }

    pub fn set_hashrate(&self, hashrate: f64) {
        self.hashrate_bits
            .store(hashrate.to_bits(), Ordering::Relaxed);
    }
}

/// Hashes per second over a sliding window of samples of the total hash count.
#[derive(Debug)]
pub(crate) struct HashrateMeter {
    window: Duration,
    samples: VecDeque<(Instant, u64)>,
}

impl HashrateMeter {
    /// Returns a meter averaging over `window`.
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            samples: VecDeque::new(),
        }
    }

    /// Records the total hash count at `now` and returns the rate over the window.
    pub fn record(&mut self, now: Instant, total: u64) -> f64 {
        self.samples.push_back((now, total));
        // Keep one sample at or before the window start, so the rate spans the window.
        while self.samples.len() > 2
            && self
                .samples
                .get(1)
                .is_some_and(|(t, _)| now.duration_since(*t) >= self.window)
        {
            self.samples.pop_front();
        }
        match (self.samples.front(), self.samples.back()) {
            (Some(&(t0, h0)), Some(&(t1, h1))) if t1 > t0 => {
                h1.saturating_sub(h0) as f64 / t1.duration_since(t0).as_secs_f64()
            }
            _ => 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashrate_over_sliding_window() {
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        let mut m = HashrateMeter::new(Duration::from_secs(10));
        assert_eq!(m.record(at(0), 0), 0.0);
        // 100 H/s for 20 s.
        for s in 1..=20 {
            let r = m.record(at(s), s * 100);
            assert!((r - 100.0).abs() < 1e-9, "{s}: {r}");
        }
        // Then idle: the rate decays over the window and reaches zero.
        let r = m.record(at(25), 2000);
        assert!((r - 50.0).abs() < 1e-9, "{r}");
        let r = m.record(at(30), 2000);
        assert_eq!(r, 0.0);
        assert!(m.samples.len() <= 12);
    }

    #[test]
    fn snapshot_reflects_updates() {
        let s = Shared::default();
        assert_eq!(s.snapshot().difficulty, 1.0);
        s.set_pool(Some("stratum+tcp://a:1"));
        s.set_connected(true);
        s.set_difficulty(0.5);
        s.accepted.fetch_add(2, Ordering::Relaxed);
        let snap = s.snapshot();
        assert_eq!(snap.pool.as_deref(), Some("stratum+tcp://a:1"));
        assert!(snap.connected);
        assert_eq!(snap.difficulty, 0.5);
        assert_eq!(snap.accepted, 2);
    }
}
