//! The built-in RandomX miner of a Monero node, started and stopped on demand: it mines
//! through the node's own xmrig Stratum port, for the node's wallet.

use otedama_miner::xmrig::{XmrigMinerConfig, XmrigMinerStats};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The hashrate is measured over at least this long.
const RATE_INTERVAL_SECS: f64 = 5.0;

/// What the miner's state looks like from outside.
#[derive(Clone, Debug, PartialEq)]
pub struct MinerState {
    /// Whether it runs now.
    pub running: bool,
    /// The address it mines to.
    pub payout_address: String,
    /// Hashes per second (0 when stopped).
    pub hashrate: f64,
    /// Hashes computed since it started.
    pub hashes: u64,
    /// Results the node accepted.
    pub accepted: u64,
    /// Results the node refused.
    pub rejected: u64,
    /// The pool it mines on.
    pub pool: String,
}

struct Running {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    stats: Arc<XmrigMinerStats>,
    /// The last hashrate reading: when, the hash count then, and the rate.
    rate: (Instant, u64, f64),
}

/// A built-in RandomX miner that may run or not.
pub struct MoneroMiner {
    config: XmrigMinerConfig,
    running: Mutex<Option<Running>>,
}

impl std::fmt::Debug for MoneroMiner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MoneroMiner")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl MoneroMiner {
    /// A stopped miner with `config`.
    pub fn new(config: XmrigMinerConfig) -> Self {
        Self {
            config,
            running: Mutex::new(None),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Running>> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts it; false when it already runs. Must be called inside a tokio runtime.
    pub fn start(&self) -> bool {
        let mut running = self.lock();
        if running.as_ref().is_some_and(|r| !r.task.is_finished()) {
            return false;
        }
        let (stop, stopped) = watch::channel(false);
        let stats = Arc::new(XmrigMinerStats::default());
        let task = tokio::spawn(otedama_miner::xmrig::run(
            self.config.clone(),
            Arc::clone(&stats),
            stopped,
        ));
        *running = Some(Running {
            stop,
            task,
            stats,
            rate: (Instant::now(), 0, 0.0),
        });
        true
    }

    /// Stops it and waits for its threads; false when it was not running.
    pub async fn stop(&self) -> bool {
        let running = self.lock().take();
        match running {
            Some(r) => {
                let _ = r.stop.send(true);
                let _ = r.task.await;
                true
            }
            None => false,
        }
    }

    /// Returns its state now; the hashrate is the rate since the previous reading at
    /// least five seconds ago.
    pub fn state(&self) -> MinerState {
        let mut running = self.lock();
        let mut state = MinerState {
            running: false,
            payout_address: self.config.login.clone(),
            hashrate: 0.0,
            hashes: 0,
            accepted: 0,
            rejected: 0,
            pool: self.config.pool.clone(),
        };
        if let Some(r) = running.as_mut().filter(|r| !r.task.is_finished()) {
            let hashes = r.stats.hashes.load(Ordering::Relaxed);
            let (at, before, _) = r.rate;
            let elapsed = at.elapsed().as_secs_f64();
            if elapsed >= RATE_INTERVAL_SECS {
                let rate = hashes.saturating_sub(before) as f64 / elapsed;
                r.rate = (Instant::now(), hashes, rate);
            }
            state.running = true;
            state.hashrate = r.rate.2;
            state.hashes = hashes;
            state.accepted = r.stats.accepted.load(Ordering::Relaxed);
            state.rejected = r.stats.rejected.load(Ordering::Relaxed);
        }
        state
    }
}
