//! The built-in miner, owned by the node so the API can start and stop it.

use crate::config::Config;
use otedama_miner::{Miner, MinerConfig, MinerError, MinerStats};
use std::sync::Mutex;
use tracing::info;

/// The miner's state as the API reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MiningStatus {
    /// Whether it runs.
    pub running: bool,
    /// Whether it can run.
    pub configured: bool,
    /// The address it mines to.
    pub payout_address: Option<String>,
    /// Why it cannot run.
    pub detail: Option<String>,
}

/// Why the miner could not start.
#[derive(Debug, thiserror::Error)]
pub enum MiningError {
    /// The config does not allow a built-in miner.
    #[error("{0}")]
    NotConfigured(String),
    /// The miner failed to start.
    #[error("starting the built-in miner: {0}")]
    Start(#[from] MinerError),
}

/// Starts and stops the built-in miner; at most one runs.
#[derive(Debug)]
pub struct MinerControl {
    config: Result<MinerConfig, String>,
    payout_address: Option<String>,
    miner: Mutex<Option<Miner>>,
    // Serialises start and stop, which await outside the `miner` lock.
    op: tokio::sync::Mutex<()>,
}

impl MinerControl {
    /// Reads the `mining` section: the miner can run when a payout address is set and
    /// the algorithm has a CPU backend.
    pub fn new(config: &Config) -> Self {
        let m = &config.mining;
        let address = m.payout_address.trim();
        let payout_address = (!address.is_empty()).then(|| address.to_owned());
        let miner_config = match (payout_address.as_ref(), m.algorithm.pow_algorithm()) {
            (None, _) => Err("mining.payout_address is empty".to_owned()),
            (Some(_), None) => Err(format!(
                "mining.algorithm {} has no CPU backend yet",
                m.algorithm
            )),
            (Some(user), Some(algorithm)) => Ok(MinerConfig {
                pools: m.pool_urls.clone(),
                user: user.clone(),
                password: "x".into(),
                threads: m.cpu.threads as usize,
                algorithm,
                max_hashrate: (m.cpu.max_hashrate > 0).then_some(m.cpu.max_hashrate as f64),
            }),
        };
        Self {
            config: miner_config,
            payout_address,
            miner: Mutex::new(None),
            op: tokio::sync::Mutex::new(()),
        }
    }

    fn running(&self) -> bool {
        self.miner.lock().map(|m| m.is_some()).unwrap_or(false)
    }

    /// Returns the state.
    pub fn status(&self) -> MiningStatus {
        MiningStatus {
            running: self.running(),
            configured: self.config.is_ok(),
            payout_address: self.payout_address.clone(),
            detail: self.config.as_ref().err().cloned(),
        }
    }

    /// Returns the running miner's counters.
    pub fn stats(&self) -> Option<MinerStats> {
        self.miner
            .lock()
            .ok()
            .and_then(|m| m.as_ref().map(Miner::stats))
    }

    /// Starts the miner; returns whether it was stopped before. Must run in a runtime.
    ///
    /// # Errors
    /// Not configured, or the miner refused to start.
    pub async fn start(&self) -> Result<bool, MiningError> {
        let _op = self.op.lock().await;
        let config = self.config.clone().map_err(MiningError::NotConfigured)?;
        if self.running() {
            return Ok(false);
        }
        let miner = Miner::start(config)?;
        if let Ok(mut slot) = self.miner.lock() {
            *slot = Some(miner);
        }
        info!(target: "otedama::node", "built-in miner started");
        Ok(true)
    }

    /// Stops the miner and waits for it; returns whether it was running.
    pub async fn stop(&self) -> bool {
        let _op = self.op.lock().await;
        let miner = self.miner.lock().ok().and_then(|mut m| m.take());
        match miner {
            Some(m) => {
                m.stop().await;
                info!(target: "otedama::node", "built-in miner stopped");
                true
            }
            None => false,
        }
    }
}
