//! Ethereum Classic, solo: the node serves Etchash miners from its core-geth node's work
//! API and hands every sealed block back to it. There is no sharechain and no split.
//!
//! An Ethereum Classic block has one beneficiary (the header's `coinbase`) and 32 bytes
//! of extra data, so a coinbase cannot pay the last N shares' miners the way a Bitcoin-
//! family or Monero block does, and no peer could check a promise to. What the node
//! offers is what holds: every block pays the etherbase of the operator's own core-geth
//! (`eth_coinbase`), the miners' shares are counted for their hashrate and nothing else,
//! and the API, dashboard and config check say so.
//!
//! Tasks, each owning what it writes:
//! - the follower polls `eth_getWork` and publishes [`DagWork`] for the Stratum server
//!   (a new block number makes the older jobs stale);
//! - the submitter takes every share the server verified, counts it for its worker, and
//!   sends those meeting the block's boundary to `eth_submitWork`, recording each block
//!   in the block log (`blocks.jsonl`);
//! - the prover reads each recent block's height back with `eth_getBlockByNumber` and
//!   tells confirmed (the chain holds our seal) from orphaned (another block holds the
//!   height, [`crate::proof::ORPHAN_DEPTH`] blocks deep).

mod tasks;

use crate::parent::geth::{GethClient, GethWork, normalize_address};
use crate::tracker::{Blocks, Workers};
use otedama_stratum::StratumConfig;
use otedama_stratum::dag::{
    DagAlgorithm, DagConfig, DagServer, DagTemplate, DagWorkError, DagWorkSource,
};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

const TARGET: &str = "otedama::etc";
/// How often the node asks core-geth for work.
const POLL: Duration = Duration::from_millis(500);
/// Verified shares waiting for the submitter at most.
const SUBMISSION_QUEUE: usize = 1024;
/// Wei in one ETC.
pub const WEI_PER_ETC: u64 = 1_000_000_000_000_000_000;
/// Confirmations after which a found block is no longer read back.
pub const FINAL_DEPTH: u32 = 120;

/// An Ethereum Classic network the node mines solo.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EtcChain {
    /// The name used in `chains[].spec`.
    pub name: &'static str,
    /// The chain id core-geth must report (`eth_chainId`); `None` takes any but the
    /// main network's.
    pub chain_id: Option<u64>,
    /// The first Stratum difficulty of each session.
    pub start_difficulty: f64,
    /// The usual time between blocks, seconds.
    pub block_time: u64,
}

/// The main network's chain id.
pub const MAINNET_CHAIN_ID: u64 = 61;

const CHAINS: [EtcChain; 2] = [
    EtcChain {
        name: "etc-main",
        chain_id: Some(MAINNET_CHAIN_ID),
        // About 4.3 G hashes a share: a share every few seconds for a GPU.
        start_difficulty: 1.0,
        block_time: 13,
    },
    // A private core-geth network on Ethereum Classic's rules, for tests and laptops:
    // shares of about 64 hashes, so the light-cache CPU miner finds them.
    EtcChain {
        name: "etc-regtest",
        chain_id: None,
        start_difficulty: 1.0 / 67_108_864.0,
        block_time: 13,
    },
];

impl EtcChain {
    /// Every Ethereum Classic network the node knows.
    pub fn all() -> &'static [EtcChain] {
        &CHAINS
    }

    /// The network called `name`.
    pub fn by_name(name: &str) -> Option<&'static EtcChain> {
        CHAINS.iter().find(|c| c.name == name)
    }

    /// Checks core-geth's `eth_chainId` against this network.
    ///
    /// # Errors
    /// A text naming both ids when they differ.
    pub fn check_chain_id(&self, reported: u64) -> Result<(), String> {
        match self.chain_id {
            Some(want) if want != reported => Err(format!(
                "core-geth reports chain id {reported}; {} is chain id {want}",
                self.name
            )),
            None if reported == MAINNET_CHAIN_ID => Err(format!(
                "core-geth reports the main network (chain id {MAINNET_CHAIN_ID}); use etc-main, not {}",
                self.name
            )),
            _ => Ok(()),
        }
    }
}

/// The block reward of height `height` in wei (ECIP-1017: 5 ETC, four fifths of it
/// again every 5 000 000 blocks), without fees and uncle rewards.
pub fn block_reward(height: u64) -> u64 {
    let era = height.saturating_sub(1) / 5_000_000;
    let mut reward = 5 * WEI_PER_ETC;
    for _ in 0..era.min(256) {
        reward = reward / 5 * 4;
    }
    reward
}

/// What a node runs.
#[derive(Clone, Debug)]
pub struct EtcSettings {
    /// The network.
    pub chain: &'static EtcChain,
    /// core-geth RPC URLs, in failover order.
    pub daemons: Vec<String>,
    /// The Stratum server's address and limits.
    pub stratum: StratumConfig,
    /// Where the block log and the history live (`None`: memory only).
    pub data_dir: Option<PathBuf>,
}

impl EtcSettings {
    /// Settings from a config whose first chain is `chain`.
    pub fn from_config(config: &crate::config::Config, chain: &'static EtcChain) -> Self {
        let daemons = config.chains.first().map_or_else(Vec::new, |c| {
            c.daemons.iter().map(|d| d.url.clone()).collect()
        });
        let mut listen = config.pool.address;
        if !config.pool.enable {
            listen.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        Self {
            chain,
            daemons,
            stratum: StratumConfig {
                listen,
                max_connections: config.pool.max_connections as usize,
                max_connections_per_ip: config.pool.max_connections_per_ip as usize,
                ..StratumConfig::default()
            },
            data_dir: Some(config.app.data_dir.join(chain.name)),
        }
    }
}

/// What the follower last learned from core-geth.
#[derive(Clone, Debug, Default)]
pub struct EtcStatus {
    /// The block being sealed now.
    pub work: Option<GethWork>,
    /// When that work was read.
    pub job_at: Option<Instant>,
    /// The etherbase every block pays, once core-geth told it.
    pub etherbase: Option<String>,
    /// Why the node is not serving work, if it is not (a wrong chain id).
    pub refused: Option<String>,
}

impl EtcStatus {
    /// The height of core-geth's best block (the one below the work).
    pub fn tip_height(&self) -> Option<u64> {
        self.work.map(|w| w.height.saturating_sub(1))
    }
}

/// Why the node could not start.
#[derive(Debug, thiserror::Error)]
pub enum EtcError {
    /// No core-geth URL is configured.
    #[error("chains[0].daemons: no core-geth RPC URL")]
    NoDaemon,
    /// The Stratum listener could not bind.
    #[error("stratum listener {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// A cheap, cloneable view of a running node: what the API and the history read.
#[derive(Clone)]
pub struct EtcHandle {
    pub(crate) chain: &'static EtcChain,
    pub(crate) started: Instant,
    pub(crate) stratum_addr: SocketAddr,
    pub(crate) stratum: Arc<otedama_stratum::StratumStats>,
    pub(crate) workers: Arc<Workers>,
    pub(crate) blocks: Arc<Blocks>,
    pub(crate) status: watch::Receiver<EtcStatus>,
    pub(crate) reachable: Arc<AtomicBool>,
    pub(crate) events: broadcast::Sender<otedama_rpc::Event>,
    pub(crate) parent_metrics: otedama_rpc::ParentRpcMetrics,
    pub(crate) history: crate::history::HistoryHandle,
}

impl EtcHandle {
    /// Returns the follower's last status.
    pub fn status(&self) -> EtcStatus {
        self.status.borrow().clone()
    }

    /// Returns core-geth's RPC latency and errors.
    pub fn parent_metrics(&self) -> &otedama_rpc::ParentRpcMetrics {
        &self.parent_metrics
    }

    /// Returns the blocks found, newest first.
    pub fn blocks(&self) -> Vec<crate::tracker::BlockRecord> {
        self.blocks.newest_first()
    }
}

impl crate::history::Source for EtcHandle {
    fn stratum(&self) -> otedama_stratum::StatsSnapshot {
        self.stratum.snapshot()
    }

    fn pool_hashrate(&self, _now: u64) -> f64 {
        // Solo: the pool is this node's miners.
        self.workers.total_hashrate(Instant::now())
    }

    fn workers(&self) -> &Workers {
        &self.workers
    }

    fn peers(&self) -> u64 {
        0
    }

    fn share_page(&self, _index: u64, _per_page: u64) -> crate::history::PageFuture<'_> {
        // No sharechain: per-miner series come from the workers alone.
        Box::pin(async { Some(Vec::new()) })
    }
}

/// The work source the Stratum sessions read: one template, the same for every miner
/// (the block pays the etherbase whoever seals it).
struct SoloWork(Arc<DagTemplate>);

impl DagWorkSource for SoloWork {
    fn payout(&self, address: &str) -> Result<String, DagWorkError> {
        normalize_address(address).ok_or_else(|| {
            DagWorkError::BadAddress(format!(
                "{address:?} is not an Ethereum Classic address (0x and 40 hex digits)"
            ))
        })
    }

    fn template_for(&self, _payout: &str) -> Result<Arc<DagTemplate>, DagWorkError> {
        Ok(Arc::clone(&self.0))
    }
}

/// A running solo node.
pub struct EtcNode {
    handle: EtcHandle,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl EtcNode {
    /// Binds the Stratum port and starts the follower, submitter, prover and history.
    ///
    /// # Errors
    /// No daemon is configured, or the Stratum address cannot be bound.
    pub async fn start(settings: EtcSettings) -> Result<Self, EtcError> {
        if settings.daemons.is_empty() {
            return Err(EtcError::NoDaemon);
        }
        if let Some(dir) = &settings.data_dir
            && let Err(e) = std::fs::create_dir_all(dir)
        {
            tracing::warn!(target: TARGET, dir = %dir.display(), error = %e, "cannot create the data directory; blocks and history stay in memory");
        }
        let parent_metrics = otedama_rpc::ParentRpcMetrics::default();
        let client = GethClient::new(settings.daemons.clone()).with_metrics(parent_metrics.clone());
        let (work_tx, work_rx) = watch::channel(None);
        let (sub_tx, sub_rx) = mpsc::channel(SUBMISSION_QUEUE);
        let mut dag = DagConfig::new(DagAlgorithm::Etchash);
        dag.start_difficulty = settings.chain.start_difficulty;
        let addr = settings.stratum.listen;
        let workers = Arc::new(Workers::default());
        let server = DagServer::bind(settings.stratum.clone(), dag, work_rx, sub_tx)
            .map_err(|source| EtcError::Bind { addr, source })?
            .with_observer(Arc::clone(&workers) as Arc<dyn otedama_stratum::SubmitObserver>);
        let stratum_addr = server.local_addr();
        let stratum = server.stats();
        let (shutdown, shutdown_rx) = watch::channel(false);
        let blocks = Arc::new(Blocks::load(
            settings.data_dir.as_ref().map(|d| d.join("blocks.jsonl")),
        ));
        let (status_tx, status_rx) = watch::channel(EtcStatus::default());
        let (events, _) = broadcast::channel(256);
        let (history_tx, history_rx) = mpsc::channel(crate::history::HISTORY_QUEUE);
        let handle = EtcHandle {
            chain: settings.chain,
            started: Instant::now(),
            stratum_addr,
            stratum,
            workers,
            blocks,
            status: status_rx,
            reachable: Arc::new(AtomicBool::new(false)),
            events,
            parent_metrics,
            history: crate::history::HistoryHandle::new(history_tx),
        };
        let mut tasks = vec![tokio::spawn(server.run(shutdown_rx.clone()))];
        tasks.push(tokio::spawn(tasks::follow(
            client.clone(),
            handle.clone(),
            status_tx,
            work_tx,
            shutdown_rx.clone(),
        )));
        tasks.push(tokio::spawn(tasks::submit(
            client.clone(),
            handle.clone(),
            sub_rx,
        )));
        tasks.push(tokio::spawn(tasks::prove(
            client,
            handle.clone(),
            shutdown_rx.clone(),
        )));
        tasks.push(crate::history::spawn_in(
            settings.data_dir.as_deref(),
            handle.clone(),
            history_rx,
            shutdown_rx,
        ));
        Ok(Self {
            handle,
            shutdown,
            tasks,
        })
    }

    /// Returns a handle on the node, for the API.
    pub fn handle(&self) -> &EtcHandle {
        &self.handle
    }

    /// Returns the Stratum address.
    pub fn stratum_addr(&self) -> SocketAddr {
        self.handle.stratum_addr
    }

    /// Stops every task and waits for them.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            // The submitter ends when the server's sender goes with it.
            let _ = t.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewards_follow_ecip_1017() {
        assert_eq!(block_reward(1), 5 * WEI_PER_ETC);
        assert_eq!(block_reward(5_000_000), 5 * WEI_PER_ETC);
        assert_eq!(block_reward(5_000_001), 4 * WEI_PER_ETC);
        assert_eq!(block_reward(15_000_001), 2_560_000_000_000_000_000);
        assert_eq!(block_reward(20_000_001), 2_048_000_000_000_000_000);
        assert_eq!(block_reward(u64::MAX), 0);
    }

    #[test]
    fn chain_ids_are_checked() {
        let main = EtcChain::by_name("etc-main").expect("known");
        assert!(main.check_chain_id(61).is_ok());
        assert!(main.check_chain_id(63).is_err());
        let regtest = EtcChain::by_name("etc-regtest").expect("known");
        assert!(regtest.check_chain_id(1337).is_ok());
        assert!(regtest.check_chain_id(61).is_err());
    }

    #[test]
    fn every_miner_gets_the_one_template() {
        let template = Arc::new(DagTemplate {
            height: 1,
            header_hash: [1; 32],
            share_target: [0xff; 32],
            block_target: [0; 32],
            bits: 0,
        });
        let source = SoloWork(Arc::clone(&template));
        let payout = source
            .payout("0xABCDEF0123456789abcdef0123456789abcdef01")
            .expect("an address");
        assert_eq!(payout, "0xabcdef0123456789abcdef0123456789abcdef01");
        assert!(matches!(
            source.payout("LTC1abc"),
            Err(DagWorkError::BadAddress(_))
        ));
        assert_eq!(source.template_for(&payout), Ok(template));
    }
}
