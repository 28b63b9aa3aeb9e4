//! The built-in miner of a node whose Stratum speaks a dialect of its own (a Monero
//! sidechain's xmrig dialect, a DAG chain's), started and stopped on demand: one client
//! of the node's own Stratum port, for the node's payout address.

use otedama_miner::xmrig::{XmrigMinerConfig, XmrigMinerStats};
use otedama_miner::{DagClient, DagClientConfig, DagClientStats};
use std::sync::atomic::{AtomicUsize, Ordering};
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
    /// Whether it is logged in to the pool now.
    pub connected: bool,
}

/// The client a [`PoolMiner`] runs.
#[derive(Clone, Debug)]
pub enum PoolClient {
    /// RandomX through the xmrig dialect.
    Xmrig(XmrigMinerConfig),
    /// Ethash, Etchash or KawPow through their dialects, hashing with the light cache:
    /// on `config`'s pool, then on each `failover` pool (host, port) in turn while the
    /// one before sends no work.
    Dag {
        /// The client, on the first pool.
        config: DagClientConfig,
        /// The pools after it, as (host, port).
        failover: Vec<(String, u16)>,
    },
}

impl PoolClient {
    fn login(&self) -> String {
        match self {
            PoolClient::Xmrig(c) => c.login.clone(),
            PoolClient::Dag { config, .. } => config.user.clone(),
        }
    }

    /// The pool mined on while the client's `index`th pool is in use.
    fn pool(&self, index: usize) -> String {
        match self {
            PoolClient::Xmrig(c) => c.pool.clone(),
            PoolClient::Dag { config, failover } => {
                let (host, port) = nth_pool(config, failover, index);
                endpoint(host, port)
            }
        }
    }
}

/// The running client's counters.
enum Counters {
    Xmrig(Arc<XmrigMinerStats>),
    Dag(Arc<DagClientStats>),
}

impl Counters {
    /// Hashes, accepted and rejected results.
    fn read(&self) -> (u64, u64, u64) {
        let r = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        match self {
            Counters::Xmrig(s) => (r(&s.hashes), r(&s.accepted), r(&s.rejected)),
            Counters::Dag(s) => (r(&s.hashes), r(&s.accepted), r(&s.rejected)),
        }
    }

    /// Whether the session is logged in.
    fn connected(&self) -> bool {
        match self {
            Counters::Xmrig(s) => s.connected.load(Ordering::Relaxed),
            Counters::Dag(s) => s.connected.load(Ordering::Relaxed),
        }
    }
}

impl MinerState {
    /// The API's form of whether it runs and for whom.
    pub fn mining_state(&self) -> otedama_rpc::MiningState {
        otedama_rpc::MiningState {
            running: self.running,
            configured: true,
            payout_address: Some(self.payout_address.clone()),
            detail: None,
        }
    }

    /// The API's form of its counters; `difficulty` is the one it mines at.
    pub fn miner_info(&self, difficulty: f64) -> otedama_rpc::MinerInfo {
        otedama_rpc::MinerInfo {
            hashrate: self.hashrate,
            hashes: self.hashes,
            accepted: self.accepted,
            rejected: self.rejected,
            stale: 0,
            pool: Some(self.pool.clone()),
            connected: self.connected,
            difficulty,
            hardware_errors: 0,
            devices: Vec::new(),
        }
    }
}

struct Running {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    stats: Counters,
    /// Which of the client's pools it mines on (0: the first).
    pool: Arc<AtomicUsize>,
    /// The last hashrate reading: when, the hash count then, and the rate.
    rate: (Instant, u64, f64),
}

/// A built-in miner that may run or not.
pub struct PoolMiner {
    config: PoolClient,
    running: Mutex<Option<Running>>,
}

impl std::fmt::Debug for PoolMiner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolMiner")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl PoolMiner {
    /// A stopped miner with `config`.
    pub fn new(config: PoolClient) -> Self {
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
        let pool = Arc::new(AtomicUsize::new(0));
        let (task, stats) = match &self.config {
            PoolClient::Xmrig(c) => {
                let stats = Arc::new(XmrigMinerStats::default());
                let task = tokio::spawn(otedama_miner::xmrig::run(
                    c.clone(),
                    Arc::clone(&stats),
                    stopped,
                ));
                (task, Counters::Xmrig(stats))
            }
            PoolClient::Dag { config, failover } => {
                let client = DagClient::new(config.clone());
                let stats = client.stats();
                let task = tokio::spawn(run_dag(
                    client,
                    failover.clone(),
                    Arc::clone(&pool),
                    stopped,
                ));
                (task, Counters::Dag(stats))
            }
        };
        *running = Some(Running {
            stop,
            task,
            stats,
            pool,
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
            payout_address: self.config.login(),
            hashrate: 0.0,
            hashes: 0,
            accepted: 0,
            rejected: 0,
            pool: self.config.pool(0),
            connected: false,
        };
        if let Some(r) = running.as_mut().filter(|r| !r.task.is_finished()) {
            let (hashes, accepted, rejected) = r.stats.read();
            let (at, before, _) = r.rate;
            let elapsed = at.elapsed().as_secs_f64();
            if elapsed >= RATE_INTERVAL_SECS {
                let rate = hashes.saturating_sub(before) as f64 / elapsed;
                r.rate = (Instant::now(), hashes, rate);
            }
            state.running = true;
            state.hashrate = r.rate.2;
            state.hashes = hashes;
            state.accepted = accepted;
            state.rejected = rejected;
            state.connected = r.stats.connected();
            state.pool = self.config.pool(r.pool.load(Ordering::Relaxed));
        }
        state
    }
}

/// The `index`th pool of a DAG client's list: `config`'s, then `failover`'s, round and
/// round.
fn nth_pool<'a>(
    config: &'a DagClientConfig,
    failover: &'a [(String, u16)],
    index: usize,
) -> (&'a str, u16) {
    match index % (failover.len() + 1) {
        0 => (&config.host, config.port),
        i => (&failover[i - 1].0, failover[i - 1].1),
    }
}

/// `host:port`, with an IPv6 host in brackets.
fn endpoint(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Runs a DAG client until `stop`, reconnecting after a failed session (the node's own
/// Stratum port restarts with the node, or refuses work until its daemon answers). A
/// session that ended without receiving a job (the client gives a pool 15 s for the
/// first) moves on to the next pool of the list (`client`'s, then `failover`'s, round
/// and round); one that got work reconnects to the same pool. `pool` tells which one is
/// in use.
async fn run_dag(
    client: DagClient,
    failover: Vec<(String, u16)>,
    pool: Arc<AtomicUsize>,
    mut stop: watch::Receiver<bool>,
) {
    const RETRY: std::time::Duration = std::time::Duration::from_secs(2);
    let stats = client.stats();
    let mut index = 0;
    loop {
        pool.store(index, Ordering::Relaxed);
        let (host, port) = nth_pool(client.config(), &failover, index);
        let jobs = stats.jobs.load(Ordering::Relaxed);
        // The next session keeps the counters and the epoch's DAG.
        let session = client.successor_on(host, port);
        match session.run(stop.clone()).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(target: "otedama::mining", pool = %endpoint(host, port), error = %e, "built-in DAG miner: session ended; reconnecting")
            }
        }
        if stats.jobs.load(Ordering::Relaxed) == jobs {
            index = (index + 1) % (failover.len() + 1);
        }
        tokio::select! {
            _ = stop.changed() => return,
            () = tokio::time::sleep(RETRY) => {}
        }
        if *stop.borrow() {
            return;
        }
    }
}
