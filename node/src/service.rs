//! The running node: parent-template polling, Stratum work publication, the coordinator
//! (share validation, storage, block submission), the built-in miner, and events.
//!
//! Everything outside reads the node through a [`NodeHandle`]: cheap snapshots (the
//! coordinator's [`ChainSnapshot`], Stratum's atomic counters, worker statistics) and
//! queries on a bounded channel to the coordinator for what needs the chain.

use crate::config::{ChainConfig, Config};
use crate::coordinator::block::{BlockSubmitter, REPORT_QUEUE};
use crate::coordinator::handle::{CHAIN_QUEUE, ChainHandle, ChainInput, Query};
use crate::coordinator::{
    ChainSnapshot, Coordinator, ExpectedPayouts, Inputs, NodeCounters, Parts, SharePageData,
};
use crate::mining::MinerControl;
use crate::p2p::sync::{SyncProgress, Syncer};
use crate::p2p::{P2pHandle, P2pSettings};
use crate::parent::{ParentClient, ParentError, TemplateUpdate};
use crate::tracker::{Blocks, Workers};
use libp2p::Multiaddr;
use otedama_rpc::ParentRpcMetrics;
use otedama_sharechain::{
    Amount, BlockHash, ChainSpec, PayoutScript, ShareHash, Store, StoreError, Work, parse_address,
};
use otedama_stratum::{
    StratumConfig, StratumServer, StratumStats, Submission, Work as StratumWork,
};
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

/// Queries waiting for the coordinator at most; beyond it callers are told it is busy.
const QUERY_QUEUE: usize = 64;
/// Longest a query waits for its answer.
const QUERY_TIMEOUT: Duration = Duration::from_secs(5);

/// What the node reports to whoever watches it (CLI, devnet, the API).
#[derive(Clone, Debug)]
pub enum NodeEvent {
    /// A share was accepted into the sharechain.
    ShareAccepted {
        /// Its hash.
        hash: ShareHash,
        /// Sharechain height.
        height: u64,
        /// The miner's Stratum user name.
        worker: String,
        /// Its work (expected hashes), the PPLNS weight.
        work: Work,
    },
    /// A share was rejected by sharechain validation.
    ShareRejected {
        /// The miner's Stratum user name.
        worker: String,
        /// Why.
        reason: String,
    },
    /// A share met the parent target and was submitted as a block.
    BlockFound {
        /// Parent-chain height.
        height: u32,
        /// Block hash.
        hash: BlockHash,
        /// The share it is.
        share: ShareHash,
        /// Coinbase payouts.
        payouts: Vec<(PayoutScript, Amount)>,
        /// Whether at least one daemon accepted it onto its best chain.
        accepted: bool,
        /// Valid but not on the best chain: another block at this height came first
        /// (`submitblock` said `inconclusive` or `duplicate-inconclusive`).
        stale: bool,
        /// Reject reasons or errors per endpoint, if any.
        errors: Vec<String>,
    },
    /// The parent daemons could not be reached; the node keeps retrying.
    ParentUnavailable(String),
    /// A share announced by a peer was accepted into the sharechain.
    PeerShareAccepted {
        /// Its hash.
        hash: ShareHash,
        /// Sharechain height.
        height: u64,
    },
}

/// Why the node could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The config names no chain.
    #[error("no chain configured")]
    NoChain,
    /// The chain spec is unknown.
    #[error("unknown chain spec {0:?}")]
    UnknownSpec(String),
    /// The share store failed to open.
    #[error("share store at {}: {source}", path.display())]
    Store {
        /// Its path.
        path: PathBuf,
        /// Why.
        source: StoreError,
    },
    /// The parent client could not be built.
    #[error(transparent)]
    Parent(#[from] ParentError),
    /// The Stratum listener could not bind.
    #[error("stratum listener {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The built-in miner failed to start.
    #[error(transparent)]
    Miner(#[from] crate::mining::MiningError),
    /// The node key could not be loaded or created.
    #[error(transparent)]
    Key(#[from] crate::p2p::key::KeyError),
    /// The P2P layer could not start.
    #[error(transparent)]
    P2p(#[from] crate::p2p::P2pError),
    /// A P2P address in the config is not a multiaddr.
    #[error("p2p address {addr:?}: {reason}")]
    Multiaddr {
        /// The address.
        addr: String,
        /// Why.
        reason: String,
    },
}

/// Why a query to the node got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// Too many queries are waiting.
    #[error("the node is busy; try again")]
    Busy,
    /// The node is stopping.
    #[error("the node is stopping")]
    Stopped,
}

/// A cheap, cloneable view of a running node.
#[derive(Clone, Debug)]
pub struct NodeHandle {
    spec: &'static ChainSpec,
    name: String,
    started: Instant,
    stratum_addr: SocketAddr,
    events: broadcast::Sender<NodeEvent>,
    queries: mpsc::Sender<Query>,
    snapshot: watch::Receiver<ChainSnapshot>,
    stratum: Arc<StratumStats>,
    counters: Arc<NodeCounters>,
    workers: Arc<Workers>,
    blocks: Arc<Blocks>,
    miner: Arc<MinerControl>,
    parent_reachable: Arc<AtomicBool>,
    parent_metrics: ParentRpcMetrics,
    p2p: P2pHandle,
    sync: watch::Receiver<SyncProgress>,
    registry: Arc<Mutex<Option<Registry>>>,
}

impl NodeHandle {
    /// Takes the metrics registry the P2P layer records into (prefix `otedama_`), for
    /// the metrics listener to add the node's own metrics to and serve. `None` once taken.
    pub fn take_metrics_registry(&self) -> Option<Registry> {
        self.registry.lock().ok().and_then(|mut r| r.take())
    }

    /// Returns the handle on the P2P layer.
    pub fn p2p(&self) -> &P2pHandle {
        &self.p2p
    }

    /// Returns the sync progress.
    pub fn sync_progress(&self) -> SyncProgress {
        self.sync.borrow().clone()
    }

    /// Returns the chain spec.
    pub fn spec(&self) -> &'static ChainSpec {
        self.spec
    }

    /// Returns the node's name (`app.name`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Returns how long the node has run.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Returns the Stratum listen address.
    pub fn stratum_addr(&self) -> SocketAddr {
        self.stratum_addr
    }

    /// Subscribes to node events.
    pub fn events(&self) -> broadcast::Receiver<NodeEvent> {
        self.events.subscribe()
    }

    /// Returns the coordinator's last snapshot.
    pub fn snapshot(&self) -> ChainSnapshot {
        self.snapshot.borrow().clone()
    }

    /// Returns the Stratum server's counters.
    pub fn stratum(&self) -> &StratumStats {
        &self.stratum
    }

    /// Returns the coordinator's counters.
    pub fn counters(&self) -> &NodeCounters {
        &self.counters
    }

    /// Returns per-worker statistics.
    pub fn workers(&self) -> &Workers {
        &self.workers
    }

    /// Returns the blocks found.
    pub fn blocks(&self) -> &Blocks {
        &self.blocks
    }

    /// Returns the built-in miner's control.
    pub fn miner(&self) -> &MinerControl {
        &self.miner
    }

    /// Returns whether the last call to the parent daemons succeeded.
    pub fn parent_reachable(&self) -> bool {
        self.parent_reachable.load(Ordering::Relaxed)
    }

    /// Returns the parent RPC metrics.
    pub fn parent_metrics(&self) -> &ParentRpcMetrics {
        &self.parent_metrics
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Query,
    ) -> Result<T, QueryError> {
        let (tx, rx) = oneshot::channel();
        self.queries.try_send(make(tx)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => QueryError::Busy,
            mpsc::error::TrySendError::Closed(_) => QueryError::Stopped,
        })?;
        match tokio::time::timeout(QUERY_TIMEOUT, rx).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(_)) => Err(QueryError::Stopped),
            Err(_) => Err(QueryError::Busy),
        }
    }

    /// Returns page `index` (from 0) of main-chain shares, newest first.
    ///
    /// # Errors
    /// The coordinator is overloaded or stopped.
    pub async fn shares(&self, index: u64, per_page: u64) -> Result<SharePageData, QueryError> {
        self.ask(|reply| Query::Shares {
            index,
            per_page,
            reply,
        })
        .await
    }

    /// Returns the coinbase split of a block found now.
    ///
    /// # Errors
    /// The coordinator is overloaded or stopped.
    pub async fn expected_payouts(
        &self,
        finder: Option<PayoutScript>,
    ) -> Result<ExpectedPayouts, QueryError> {
        self.ask(|reply| Query::Payouts { finder, reply }).await
    }
}

/// A running node.
pub struct Node {
    handle: NodeHandle,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Node {
    /// Opens the share store, binds Stratum, starts polling the parent daemons, and
    /// starts the built-in miner when `mining` enables it. Must be called inside a
    /// tokio runtime.
    ///
    /// # Errors
    /// A missing or unknown chain, a store that fails to open, a listener that fails to
    /// bind, a miner that fails to start.
    pub async fn start(config: &Config, home: Option<&Path>) -> Result<Node, NodeError> {
        let started = Instant::now();
        let chain_cfg: &ChainConfig = config.chains.first().ok_or(NodeError::NoChain)?;
        let spec: &'static ChainSpec = ChainSpec::by_name(&chain_cfg.spec)
            .ok_or_else(|| NodeError::UnknownSpec(chain_cfg.spec.clone()))?;
        let chain_dir = config.app.data_dir.join(spec.name);
        let store_path = chain_dir.join("shares");
        let (store, chain) = Store::open(&store_path, spec).map_err(|source| NodeError::Store {
            path: store_path.clone(),
            source,
        })?;
        info!(target: "otedama::node", chain = spec.name, shares = chain.len(),
              tip = ?chain.tip().map(|t| t.height), "share store opened");
        let (snapshot_tx, snapshot_rx) = watch::channel(ChainSnapshot::initial(&chain));
        let parent_metrics = ParentRpcMetrics::default();
        let parent = ParentClient::new(chain_cfg, home)?.with_metrics(parent_metrics.clone());

        let (events, _) = broadcast::channel(1024);
        let (shutdown, shutdown_rx) = watch::channel(false);
        let (work_tx, work_rx) = watch::channel::<Option<StratumWork>>(None);
        let (sub_tx, sub_rx) = mpsc::channel::<Submission>(1024);
        let (tpl_tx, tpl_rx) = mpsc::channel::<TemplateUpdate>(16);
        let (query_tx, query_rx) = mpsc::channel::<Query>(QUERY_QUEUE);
        let (net_tx, net_rx) = mpsc::channel::<ChainInput>(CHAIN_QUEUE);
        let (block_tx, block_rx) = mpsc::channel(REPORT_QUEUE);
        let (sync_tx, sync_rx) = watch::channel(SyncProgress::default());

        let stratum_config = StratumConfig {
            listen: config.pool.address,
            max_connections: config.pool.max_connections as usize,
            max_connections_per_ip: config.pool.max_connections_per_ip as usize,
            ..StratumConfig::default()
        };
        let server = StratumServer::bind(stratum_config, spec, work_rx, sub_tx)
            .await
            .map_err(|source| NodeError::Bind {
                addr: config.pool.address,
                source,
            })?;
        let stratum_addr = server.local_addr();
        let stratum = server.stats();
        info!(target: "otedama::node", %stratum_addr, "stratum listening");

        let workers = Arc::new(Workers::default());
        let blocks = Arc::new(Blocks::load(Some(chain_dir.join("blocks.jsonl"))));
        let counters = Arc::new(NodeCounters::default());
        let parent_reachable = Arc::new(AtomicBool::new(false));
        let miner = Arc::new(MinerControl::new(config, stratum_addr));
        let local_payout = parse_address(config.mining.payout_address.trim(), spec).ok();

        let mut tasks = Vec::new();
        // Subscribed before anything can emit, so the statistics miss nothing.
        tasks.push(tokio::spawn(crate::tracker::run(
            events.subscribe(),
            Arc::clone(&workers),
            Arc::clone(&blocks),
            shutdown_rx.clone(),
        )));
        tasks.push(tokio::spawn(server.run(shutdown_rx.clone())));
        tasks.push(tokio::spawn(poll_templates(
            parent.clone(),
            tpl_tx,
            events.clone(),
            Arc::clone(&parent_reachable),
            shutdown_rx.clone(),
        )));
        let (key, created) = crate::p2p::key::load_or_create(&config.app.data_dir)?;
        if created {
            info!(target: "otedama::p2p", peer_id = %key.public().to_peer_id(), "created a node key");
        }
        let settings = p2p_settings(config, &chain_dir)?;
        let chain_handle = ChainHandle::new(net_tx);
        let serve =
            crate::p2p::ServeSource::new(chain_handle.clone(), store.reader(), snapshot_rx.clone());
        let mut registry = Registry::with_prefix("otedama");
        let mesh = crate::p2p::start(
            settings,
            key,
            spec,
            serve,
            &mut registry,
            shutdown_rx.clone(),
        )?;
        tasks.extend(mesh.tasks);
        let p2p = mesh.handle;
        let syncer = Syncer::new(
            p2p.clone(),
            chain_handle,
            snapshot_rx.clone(),
            spec,
            sync_tx,
        );
        tasks.push(tokio::spawn(syncer.run(mesh.events, shutdown_rx.clone())));
        let coordinator = Coordinator::new(Parts {
            chain,
            store,
            blocks: BlockSubmitter::new(parent, block_tx),
            events: events.clone(),
            work_tx,
            snapshot: snapshot_tx,
            counters: Arc::clone(&counters),
            local_payout,
            p2p: Some(p2p.clone()),
        });
        tasks.push(tokio::spawn(coordinator.run(Inputs {
            templates: tpl_rx,
            submissions: sub_rx,
            queries: query_rx,
            network: net_rx,
            blocks: block_rx,
            shutdown: shutdown_rx,
        })));
        let handle = NodeHandle {
            spec,
            name: config.app.name.clone(),
            started,
            stratum_addr,
            events,
            queries: query_tx,
            snapshot: snapshot_rx,
            stratum,
            counters,
            workers,
            blocks,
            miner,
            parent_reachable,
            parent_metrics,
            p2p,
            sync: sync_rx,
            registry: Arc::new(Mutex::new(Some(registry))),
        };
        let node = Node {
            handle,
            shutdown,
            tasks,
        };
        if config.mining.miner_enabled() {
            // On failure the node's tasks stop as `node` is dropped.
            node.handle.miner.start().await?;
        }
        Ok(node)
    }

    /// Returns the address Stratum listens on.
    pub fn stratum_addr(&self) -> SocketAddr {
        self.handle.stratum_addr
    }

    /// Subscribes to node events.
    pub fn events(&self) -> broadcast::Receiver<NodeEvent> {
        self.handle.events()
    }

    /// Returns a handle for queries and control.
    pub fn handle(&self) -> NodeHandle {
        self.handle.clone()
    }

    /// Stops the built-in miner and every task, and flushes the store.
    pub async fn stop(mut self) {
        self.handle.miner.stop().await;
        let _ = self.shutdown.send(true);
        for t in std::mem::take(&mut self.tasks) {
            let _ = t.await;
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// The swarm's settings from the config: addresses parsed, the peer list kept beside
/// the share store.
fn p2p_settings(config: &Config, chain_dir: &Path) -> Result<P2pSettings, NodeError> {
    let parse = |list: &[String]| -> Result<Vec<Multiaddr>, NodeError> {
        list.iter()
            .map(|a| {
                a.parse()
                    .map_err(|e: libp2p::multiaddr::Error| NodeError::Multiaddr {
                        addr: a.clone(),
                        reason: e.to_string(),
                    })
            })
            .collect()
    };
    let p = &config.p2p;
    Ok(P2pSettings {
        listen: parse(&p.listen)?,
        external: parse(&p.external_addresses)?,
        bootstrap: parse(&p.bootstrap)?,
        max_peers: p.max_peers.max(1),
        mdns: p.enable_mdns,
        upnp: p.enable_upnp,
        autonat: p.enable_autonat,
        relay: p.enable_relay,
        peers_file: Some(chain_dir.join("peers.json")),
        agent: format!("otedama/{}", env!("CARGO_PKG_VERSION")),
    })
}

/// Fetches templates: immediately, then by longpoll; retries with backoff when the
/// daemons are down, in initial sync or without peers.
async fn poll_templates(
    parent: ParentClient,
    out: mpsc::Sender<TemplateUpdate>,
    events: broadcast::Sender<NodeEvent>,
    reachable: Arc<AtomicBool>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut longpoll: Option<String> = None;
    let mut backoff = Duration::from_millis(250);
    loop {
        let fetch = parent.block_template(longpoll.as_deref());
        let result = tokio::select! {
            _ = shutdown.changed() => return,
            r = fetch => r,
        };
        match result {
            Ok(update) => {
                reachable.store(true, Ordering::Relaxed);
                backoff = Duration::from_millis(250);
                longpoll = update.longpoll_id.clone();
                if out.send(update).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                reachable.store(false, Ordering::Relaxed);
                warn!(target: "otedama::parent", error = %e, "no block template; retrying");
                let _ = events.send(NodeEvent::ParentUnavailable(e.to_string()));
                longpoll = None;
                tokio::select! {
                    _ = shutdown.changed() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}
