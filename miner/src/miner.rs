//! [`Miner`]: a running miner, one pool connection (the `client` task), one OS thread
//! per hashing thread (`worker`) and a hashrate ticker.

use crate::backend::{self, HashBackend};
use crate::client::{Client, shutdown_signal};
use crate::config::{MinerConfig, PoolUrl};
use crate::cpu::CpuBackend;
use crate::error::MinerError;
use crate::stats::{HashrateMeter, MinerStats, Shared};
use crate::worker::{WorkBoard, Worker};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tracing::{error, info};

const LOG: &str = "otedama::miner";

/// Most hashing threads: each owns one value of the top extranonce2 byte.
pub const MAX_THREADS: usize = 256;
/// Found shares waiting for the client task.
const SHARE_QUEUE: usize = 256;
/// Window of the hashrate average.
const HASHRATE_WINDOW: Duration = Duration::from_secs(10);

/// A running miner: a pool connection and hashing threads.
///
/// Dropping it signals every part to stop without waiting; [`Miner::stop`] also waits.
#[derive(Debug)]
pub struct Miner {
    shared: Arc<Shared>,
    board: Arc<WorkBoard>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Miner {
    /// Starts mining with the [`CpuBackend`] for `config.algorithm`. Must be called inside
    /// a tokio runtime; spawns the client task and the hashing threads.
    ///
    /// # Errors
    /// [`MinerError`] for no pools, an invalid pool URL, too many threads, no runtime,
    /// or a hashing thread the OS refused to start.
    pub fn start(config: MinerConfig) -> Result<Miner, MinerError> {
        let backend = Arc::new(CpuBackend::new(config.algorithm));
        Self::start_with_backend(config, backend)
    }

    /// Starts mining with `backend`, which is shared by every hashing thread.
    ///
    /// # Errors
    /// As [`Miner::start`], and [`MinerError::AlgorithmMismatch`] when the backend
    /// hashes another algorithm than `config.algorithm`.
    pub fn start_with_backend(
        config: MinerConfig,
        backend: Arc<dyn HashBackend>,
    ) -> Result<Miner, MinerError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| MinerError::NoRuntime)?;
        if config.pools.is_empty() {
            return Err(MinerError::NoPools);
        }
        let pools = config
            .pools
            .iter()
            .map(|url| {
                PoolUrl::parse(url).map_err(|reason| MinerError::InvalidUrl {
                    url: url.clone(),
                    reason,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if backend.algorithm() != config.algorithm {
            return Err(MinerError::AlgorithmMismatch {
                backend: backend.name().to_owned(),
                expected: config.algorithm,
                got: backend.algorithm(),
            });
        }
        let threads = match config.threads {
            0 => std::thread::available_parallelism()
                .map_or(1, usize::from)
                .min(MAX_THREADS),
            n if n > MAX_THREADS => {
                return Err(MinerError::TooManyThreads {
                    requested: n,
                    max: MAX_THREADS,
                });
            }
            n => n,
        };

        let backend: Arc<dyn HashBackend> = match config.max_hashrate {
            Some(rate) => Arc::new(backend::Throttled::new(backend, rate / threads as f64)),
            None => backend,
        };
        let shared = Arc::new(Shared::default());
        let board = Arc::new(WorkBoard::new(threads));
        let (share_tx, share_rx) = mpsc::channel(SHARE_QUEUE);
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let mut handles = Vec::with_capacity(threads);
        for index in 0..threads {
            let worker = Worker {
                // `threads <= MAX_THREADS`, so every index fits in a byte.
                index: u8::try_from(index).unwrap_or(u8::MAX),
                backend: Arc::clone(&backend),
                algorithm: config.algorithm,
                board: Arc::clone(&board),
                shared: Arc::clone(&shared),
                shares: share_tx.clone(),
            };
            let (priority, affinity) = (config.priority, config.affinity.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("otedama-miner-{index}"))
                .spawn(move || {
                    crate::priority::place_current_thread(
                        priority,
                        &affinity,
                        index,
                        "mining threads",
                    );
                    worker.run()
                });
            match spawned {
                Ok(handle) => handles.push(handle),
                Err(e) => {
                    board.shutdown();
                    for handle in handles {
                        let _ = handle.join();
                    }
                    return Err(MinerError::Spawn(e));
                }
            }
        }
        drop(share_tx);

        let client = Client {
            pools,
            user: config.user.clone(),
            password: config.password.clone(),
            algorithm: config.algorithm,
            shared: Arc::clone(&shared),
            board: Arc::clone(&board),
            shares: share_rx,
            shutdown: shutdown_rx.clone(),
            sessions: 0,
        };
        let tasks = vec![
            runtime.spawn(client.run()),
            runtime.spawn(run_meter(Arc::clone(&shared), shutdown_rx)),
        ];
        info!(target: LOG, threads, algorithm = %config.algorithm, backend = backend.name(), pools = config.pools.len(), "miner started");
        Ok(Miner {
            shared,
            board,
            shutdown: shutdown_tx,
            tasks,
            threads: handles,
        })
    }

    /// Returns a snapshot of the counters.
    pub fn stats(&self) -> MinerStats {
        self.shared.snapshot()
    }

    /// Stops the hashing threads and the pool connection, and returns once they are gone.
    pub async fn stop(mut self) {
        self.signal_stop();
        for task in self.tasks.drain(..) {
            if let Err(e) = task.await {
                error!(target: LOG, error = %e, "miner task failed");
            }
        }
        let threads = std::mem::take(&mut self.threads);
        let joined = tokio::task::spawn_blocking(move || {
            threads.into_iter().filter_map(|t| t.join().err()).count()
        })
        .await;
        match joined {
            Ok(0) => {}
            Ok(panicked) => error!(target: LOG, panicked, "hashing threads panicked"),
            Err(e) => error!(target: LOG, error = %e, "joining hashing threads failed"),
        }
        self.shared.set_connected(false);
        info!(target: LOG, "miner stopped");
    }

    fn signal_stop(&self) {
        self.board.shutdown();
        self.shutdown.send_replace(true);
    }
}

impl Drop for Miner {
    fn drop(&mut self) {
        self.signal_stop();
    }
}

/// Samples the hash counter every second into the hashrate average.
async fn run_meter(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let mut meter = HashrateMeter::new(HASHRATE_WINDOW);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = shutdown_signal(&mut shutdown) => break,
            _ = tick.tick() => {
                let total = shared.hashes.load(std::sync::atomic::Ordering::Relaxed);
                shared.set_hashrate(meter.record(std::time::Instant::now(), total));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::UrlError;
    use otedama_sharechain::PowAlgorithm;

    fn config(pools: &[&str]) -> MinerConfig {
        MinerConfig {
            pools: pools.iter().map(|p| (*p).to_owned()).collect(),
            user: "u".into(),
            password: "p".into(),
            threads: 1,
            algorithm: PowAlgorithm::Sha256d,
            max_hashrate: None,
            priority: crate::ThreadPriority::default(),
            affinity: crate::CpuAffinity::default(),
        }
    }

    #[test]
    fn start_needs_a_runtime() {
        assert!(matches!(
            Miner::start(config(&["127.0.0.1:1"])),
            Err(MinerError::NoRuntime)
        ));
    }

    #[tokio::test]
    async fn start_rejects_bad_configs() {
        assert!(matches!(
            Miner::start(config(&[])),
            Err(MinerError::NoPools)
        ));
        assert!(matches!(
            Miner::start(config(&["127.0.0.1:1", "http://x:1"])),
            Err(MinerError::InvalidUrl {
                reason: UrlError::UnsupportedScheme(_),
                ..
            })
        ));
        let mut c = config(&["127.0.0.1:1"]);
        c.threads = MAX_THREADS + 1;
        assert!(matches!(
            Miner::start(c),
            Err(MinerError::TooManyThreads { .. })
        ));
        let c = config(&["127.0.0.1:1"]);
        let scrypt = Arc::new(CpuBackend::new(PowAlgorithm::Scrypt));
        assert!(matches!(
            Miner::start_with_backend(c, scrypt),
            Err(MinerError::AlgorithmMismatch { .. })
        ));
    }

    /// The CPUs each hashing thread may run on, read back from the kernel by thread name.
    #[cfg(target_os = "linux")]
    fn allowed_cpus_of(thread: &str) -> Option<String> {
        for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            if comm.trim() == thread {
                let status = std::fs::read_to_string(task.path().join("status")).ok()?;
                return status
                    .lines()
                    .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                    .map(|v| v.trim().to_owned());
            }
        }
        None
    }

    /// Two threads on a list of one CPU both run on it; the kernel says so.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_threads_are_pinned_to_their_cpus() {
        let mut c = config(&["127.0.0.1:1"]);
        c.threads = 2;
        c.affinity = crate::CpuAffinity::new(vec![0]);
        let miner = Miner::start(c).expect("starts");
        let mut seen = Vec::new();
        for _ in 0..100 {
            seen = ["otedama-miner-0", "otedama-miner-1"]
                .map(allowed_cpus_of)
                .to_vec();
            if seen.iter().all(|s| s.as_deref() == Some("0")) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(seen, vec![Some("0".to_owned()); 2]);
        miner.stop().await;
    }
}
