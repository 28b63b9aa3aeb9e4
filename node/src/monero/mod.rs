//! A Monero sidechain node: P2Pool's consensus (`otedama_sharechain::monero`) on a
//! monerod parent, mined through the xmrig Stratum dialect.
//!
//! Three tasks, one owner:
//! - `follow`: reads monerod (`get_miner_data`, then `get_block_template` for the reward
//!   and the transactions), woken by ZMQ `json-full-miner_data` when configured and by
//!   polling otherwise, and submits blocks to every daemon;
//! - `owner`: a thread that owns the [`SideChain`](otedama_sharechain::monero::SideChain)
//!   and its sled store. It builds each wallet's next share, takes solved shares from
//!   Stratum, persists them, and hands the ones that meet Monero's difficulty to `follow`
//!   as blocks. Nothing else touches the chain; the rest hold a [`MoneroStatus`] snapshot;
//! - the [`XmrigServer`](otedama_stratum::xmrig::XmrigServer), whose sessions check each
//!   result with the RandomX light-mode verifier before the owner sees a share.
//!
//! Shares and blocks are checked with RandomX in light mode (a 256 MiB cache per seed).

mod follow;
mod mesh;
mod owner;
mod proof;
pub(crate) mod query;

pub use mesh::share_links;
pub use proof::MONERO_MATURITY;

use otedama_sharechain::monero::randomx::{DEFAULT_CACHES, RandomxError, RandomxVerifier};
use otedama_sharechain::monero::{Hash, MoneroAddress, MoneroNetwork, SidechainParams, Wallet};
use otedama_stratum::StratumConfig;
use otedama_stratum::xmrig::{RandomxHash, XmrigServer};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Solved shares and template requests waiting for the owner at most.
const REQUEST_QUEUE: usize = 1024;
/// Parent updates waiting for the owner at most.
const PARENT_QUEUE: usize = 16;
/// Blocks waiting for submission at most.
const BLOCK_QUEUE: usize = 64;

/// What a Monero sidechain node needs.
#[derive(Clone, Debug)]
pub struct MoneroSettings {
    /// The sidechain (`xmr-main`, `xmr-mini`, `xmr-nano`, `xmr-regtest`).
    pub params: SidechainParams,
    /// monerod RPC URLs, in failover order.
    pub daemons: Vec<String>,
    /// monerod's ZMQ publisher (`tcp://127.0.0.1:18083`), if any; polling is the fallback.
    pub zmq: Option<String>,
    /// How often monerod is polled.
    pub poll_interval: Duration,
    /// Where the sidechain is stored (a sled database).
    pub store: PathBuf,
    /// The node's own wallet: templates for the work published are built for it.
    pub wallet: Wallet,
    /// The xmrig Stratum listener.
    pub stratum: StratumConfig,
    /// The mesh (`None`: the node runs alone).
    pub p2p: Option<MoneroP2p>,
    /// The built-in miner's fast-mode dataset, which the verifier hashes with while it
    /// holds the share's seed (`None`: light mode only).
    pub dataset: Option<Arc<dyn otedama_sharechain::monero::randomx::SharedDataset>>,
}

/// The built-in miner's dataset slot, as the verifier sees it.
#[derive(Debug)]
pub struct MinerDataset(pub Arc<otedama_miner::randomx::DatasetSlot>);

impl otedama_sharechain::monero::randomx::SharedDataset for MinerDataset {
    fn hash(&self, key: &[u8], input: &[u8]) -> Option<[u8; 32]> {
        self.0.hash(key, input)
    }
}

/// How a Monero sidechain node joins the mesh.
#[derive(Clone, Debug)]
pub struct MoneroP2p {
    /// Listen addresses, bootstrap peers and the swarm's options.
    pub settings: crate::p2p::P2pSettings,
    /// The node key.
    pub key: libp2p::identity::Keypair,
}

impl MoneroSettings {
    /// The settings of `config`'s Monero chain `params` (its first chain): the daemons and
    /// ZMQ publisher of that chain, `mining.payout_address` as the node's wallet, the store
    /// in `<data_dir>/<chain>/sidechain`, and Stratum on `pool.address` (loopback only when
    /// `pool.enable` is off).
    ///
    /// # Errors
    /// A text when the payout address is not a primary mainnet address.
    pub fn from_config(
        config: &crate::config::Config,
        params: SidechainParams,
    ) -> Result<Self, String> {
        let chain = config.chains.first();
        let daemons = chain.map_or_else(Vec::new, |c| {
            c.daemons.iter().map(|d| d.url.clone()).collect()
        });
        let zmq = chain.and_then(|c| c.daemons.iter().find_map(|d| d.zmq.clone()));
        let wallet = parse_wallet(&config.mining.payout_address)
            .map_err(|e| format!("mining.payout_address: {e}"))?;
        let mut listen = config.pool.address;
        if !config.pool.enable {
            listen.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        Ok(Self {
            store: config.app.data_dir.join(&params.name).join("sidechain"),
            params,
            daemons,
            zmq,
            poll_interval: Duration::from_secs(1),
            wallet,
            stratum: StratumConfig {
                listen,
                max_connections: config.pool.max_connections as usize,
                max_connections_per_ip: config.pool.max_connections_per_ip as usize,
                ..StratumConfig::default()
            },
            p2p: None,
            dataset: None,
        })
    }
}

/// Why the node could not start.
#[derive(Debug, thiserror::Error)]
pub enum MoneroError {
    /// The store could not be opened.
    #[error("sidechain store {}: {source}", path.display())]
    Store {
        /// Its path.
        path: PathBuf,
        /// Why.
        source: sled::Error,
    },
    /// The RandomX verifier could not start.
    #[error(transparent)]
    Randomx(#[from] RandomxError),
    /// The Stratum listener could not bind.
    #[error("stratum listener {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The ZMQ endpoint is malformed.
    #[error(transparent)]
    Zmq(#[from] crate::parent::monero_zmq::ZmqError),
    /// The mesh could not start.
    #[error(transparent)]
    P2p(#[from] crate::p2p::P2pError),
    /// The sidechain's thread could not be spawned.
    #[error("spawning the sidechain thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// Parses a payout address for a Monero sidechain: a primary mainnet address (regtest
/// uses mainnet prefixes).
///
/// # Errors
/// A text saying why it cannot be paid.
pub fn parse_wallet(address: &str) -> Result<Wallet, String> {
    let a = MoneroAddress::from_str(address.trim()).map_err(|e| e.to_string())?;
    if a.network != MoneroNetwork::Mainnet {
        return Err("not a mainnet address (regtest uses mainnet addresses)".into());
    }
    if a.subaddress {
        return Err("a subaddress cannot receive P2Pool outputs; use a primary address".into());
    }
    Ok(a.keys)
}

/// What the node knows of Monero, shared by the owner (which writes it) and the RandomX
/// verifier (which reads seed ids). Bounded: only recent heights are kept.
#[derive(Debug, Default)]
pub(crate) struct MoneroFacts {
    /// Block difficulty by height.
    pub difficulty: BTreeMap<u64, u128>,
    /// Block id by height (seed blocks among them).
    pub ids: BTreeMap<u64, Hash>,
    /// Height and timestamp by block id.
    pub headers: BTreeMap<Hash, otedama_sharechain::monero::MoneroHeader>,
    /// Height of the block being mined.
    pub current_height: Option<u64>,
}

/// Heights kept in [`MoneroFacts`] below the current one (a seed epoch and some).
const FACTS_KEPT: u64 = 4096;

impl MoneroFacts {
    /// Forgets heights far below `height`.
    pub(crate) fn prune(&mut self, height: u64) {
        let low = height.saturating_sub(FACTS_KEPT);
        // Seed blocks are at multiples of 2048 and stay while in use.
        self.difficulty = self.difficulty.split_off(&low);
        let seeds_low =
            otedama_sharechain::monero::params::seed_height(height).saturating_sub(2048);
        self.ids = self.ids.split_off(&seeds_low.min(low));
        self.headers.retain(|_, h| h.height >= low);
    }
}

/// The sidechain as the owner last reported it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MoneroStatus {
    /// Shares held.
    pub shares: usize,
    /// Sidechain height of the tip.
    pub tip_height: Option<u64>,
    /// Sidechain id of the tip, hex.
    pub tip: Option<String>,
    /// The tip's timestamp.
    pub tip_timestamp: Option<u64>,
    /// Cumulative difficulty of the chain ending at the tip.
    pub chain_work: Option<u128>,
    /// Monero height being mined.
    pub monero_height: Option<u64>,
    /// When the last Monero job arrived.
    pub job_at: Option<std::time::Instant>,
    /// The next share's difficulty.
    pub share_difficulty: Option<u64>,
    /// Shares accepted from this node's Stratum.
    pub accepted: u64,
    /// Shares refused by the sidechain rules.
    pub rejected: u64,
    /// Shares peers announced that were valid.
    pub from_peers: u64,
    /// Shares fetched by sync that were added.
    pub synced: u64,
    /// `(timestamp, difficulty)` of the newest main-chain shares, newest first: the pool
    /// hashrate.
    pub recent_work: Arc<[(u32, u128)]>,
    /// Blocks submitted to monerod, oldest first, with each daemon's answer.
    pub blocks: Vec<BlockRecord>,
}

/// A block this node submitted, kept in the store.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BlockRecord {
    /// Monero height.
    pub height: u64,
    /// Monero block id, hex.
    pub id: String,
    /// The share's sidechain id, hex.
    pub share: String,
    /// Whether a daemon accepted it.
    pub accepted: bool,
    /// Unix time it was found.
    #[serde(default)]
    pub time: u64,
    /// What its miner transaction pays, in output order: each payee's address and amount.
    #[serde(default)]
    pub payouts: Vec<(String, u64)>,
    /// Its outputs as the share holds them: one-time key (hex) and amount.
    #[serde(default)]
    pub outputs: Vec<(String, u64)>,
    /// What monerod holds of it, once read back.
    #[serde(default)]
    pub chain: Option<crate::proof::ChainProof>,
}

/// RandomX hashing for Stratum result checks, through the shared light-mode verifier.
struct Hasher(Arc<RandomxVerifier>);

impl RandomxHash for Hasher {
    fn hash(&self, seed: &Hash, blob: &[u8]) -> Result<Hash, String> {
        self.0
            .hash(seed.as_bytes(), blob)
            .map_err(|e| e.to_string())
    }
}

/// Live events buffered for the API.
const EVENT_QUEUE: usize = 1024;
/// Longest an API query waits for the owner (it may be verifying a sync's shares).
const QUERY_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the owner could not answer a query.
pub use crate::service::QueryError;

/// A running Monero sidechain node.
pub struct MoneroNode {
    handle: MoneroHandle,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    owner: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// A cheap, cloneable view of a running Monero node: its snapshots, counters and a
/// queue to its owner. What the API and the history read.
#[derive(Clone)]
pub struct MoneroHandle {
    pub(crate) params: SidechainParams,
    pub(crate) started: std::time::Instant,
    pub(crate) stratum_addr: SocketAddr,
    pub(crate) stratum: Arc<otedama_stratum::StratumStats>,
    pub(crate) workers: Arc<crate::tracker::Workers>,
    pub(crate) status: watch::Receiver<MoneroStatus>,
    pub(crate) mesh: Option<crate::p2p::P2pHandle>,
    pub(crate) reachable: Arc<std::sync::atomic::AtomicBool>,
    pub(crate) events: tokio::sync::broadcast::Sender<otedama_rpc::Event>,
    pub(crate) parent_metrics: otedama_rpc::ParentRpcMetrics,
    pub(crate) registry: Arc<Mutex<Option<prometheus_client::registry::Registry>>>,
    pub(crate) history: crate::history::HistoryHandle,
    cmds: mpsc::Sender<owner::Cmd>,
}

impl MoneroHandle {
    /// Asks the owner `make`'s question; busy when its queue is full or it takes too long.
    pub(crate) async fn ask<T>(
        &self,
        make: impl FnOnce(tokio::sync::oneshot::Sender<T>) -> query::Query,
    ) -> Result<T, QueryError> {
        crate::service::ask_owner(
            &self.cmds,
            |reply| owner::Cmd::Query(make(reply)),
            QUERY_TIMEOUT,
        )
        .await
    }

    /// Returns the owner's last status.
    pub fn status(&self) -> MoneroStatus {
        self.status.borrow().clone()
    }

    /// Returns the sidechain's parameters.
    pub fn params(&self) -> &SidechainParams {
        &self.params
    }

    /// Returns the parent daemons' RPC latency and errors.
    pub fn parent_metrics(&self) -> &otedama_rpc::ParentRpcMetrics {
        &self.parent_metrics
    }

    /// Takes the registry holding the mesh's metrics (once), for the metrics listener.
    pub fn take_metrics_registry(&self) -> Option<prometheus_client::registry::Registry> {
        self.registry
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// Returns the pool hashrate at `now`: the work of the main-chain shares of the last
    /// ten minutes per second.
    pub fn pool_hashrate(&self, now: u64) -> f64 {
        crate::coordinator::pool_hashrate(&self.status.borrow().recent_work, now)
    }
}

impl crate::history::Source for MoneroHandle {
    fn stratum(&self) -> otedama_stratum::StatsSnapshot {
        self.stratum.snapshot()
    }

    fn pool_hashrate(&self, now: u64) -> f64 {
        MoneroHandle::pool_hashrate(self, now)
    }

    fn workers(&self) -> &crate::tracker::Workers {
        &self.workers
    }

    fn peers(&self) -> u64 {
        self.mesh.as_ref().map_or(0, |m| m.connected() as u64)
    }

    fn share_page(&self, index: u64, per_page: u64) -> crate::history::PageFuture<'_> {
        Box::pin(async move {
            let page = self
                .ask(|reply| query::Query::Shares {
                    index,
                    per_page,
                    reply,
                })
                .await
                .ok()?;
            Some(
                page.rows
                    .iter()
                    .map(|r| crate::history::MinedShare {
                        address: Some(query::address(&r.wallet)),
                        time: r.timestamp,
                        work: r.difficulty,
                    })
                    .collect(),
            )
        })
    }
}

impl MoneroNode {
    /// Opens the store, binds Stratum and starts following monerod. Must be called
    /// inside a tokio runtime.
    ///
    /// # Errors
    /// [`MoneroError`] when the store, the verifier, the listener or ZMQ cannot start.
    pub async fn start(settings: MoneroSettings) -> Result<Self, MoneroError> {
        let db = sled::open(&settings.store).map_err(|source| MoneroError::Store {
            path: settings.store.clone(),
            source,
        })?;
        let open = |name: &str| {
            db.open_tree(name).map_err(|source| MoneroError::Store {
                path: settings.store.clone(),
                source,
            })
        };
        let (tree, blocks_tree) = (open("shares")?, open("blocks")?);
        let facts = Arc::new(RwLock::new(MoneroFacts::default()));
        let seeds = {
            let facts = Arc::clone(&facts);
            move |h: u64| {
                let f = facts.read().unwrap_or_else(PoisonError::into_inner);
                f.ids.get(&h).copied()
            }
        };
        let verifier = Arc::new(match settings.dataset.clone() {
            Some(dataset) => RandomxVerifier::with_dataset(seeds, DEFAULT_CACHES, dataset)?,
            None => RandomxVerifier::new(seeds, DEFAULT_CACHES)?,
        });
        let (shutdown, shutdown_rx) = watch::channel(false);
        let (work_tx, work_rx) = watch::channel(None);
        let (req_tx, mut req_rx) = mpsc::channel(REQUEST_QUEUE);
        let (cmd_tx, cmd_rx) = mpsc::channel(REQUEST_QUEUE + PARENT_QUEUE);
        let (block_tx, block_rx) = mpsc::channel(BLOCK_QUEUE);
        let (status_tx, status_rx) = watch::channel(MoneroStatus::default());
        let (tip_tx, tip_rx) = watch::channel(None);
        let listen = settings.stratum.listen;
        let workers = Arc::new(crate::tracker::Workers::default());
        let server = XmrigServer::bind(
            settings.stratum.clone(),
            work_rx,
            req_tx,
            Arc::new(Hasher(Arc::clone(&verifier))),
        )
        .map_err(|source| MoneroError::Bind {
            addr: listen,
            source,
        })?
        .with_observer(workers.clone());
        let stratum_addr = server.local_addr();
        let stratum = server.stats();
        let (events, _) = tokio::sync::broadcast::channel(EVENT_QUEUE);
        let mut registry = prometheus_client::registry::Registry::with_prefix("otedama");
        let zmq = match &settings.zmq {
            Some(endpoint) => Some(crate::parent::monero_zmq::subscribe(endpoint)?),
            None => None,
        };
        let mut tasks = Vec::new();
        let mesh = match settings.p2p.clone() {
            Some(p2p) => {
                let served = mesh::Served {
                    tree: tree.clone(),
                    tip: tip_rx,
                };
                let started = crate::p2p::start(
                    p2p.settings,
                    p2p.key,
                    &mesh::mesh_chain(&settings.params),
                    crate::p2p::ServeSource::blobs(Arc::new(served)),
                    &mut registry,
                    shutdown_rx.clone(),
                )?;
                tasks.extend(started.tasks);
                tasks.push(tokio::spawn(mesh::run(
                    started.handle.clone(),
                    started.events,
                    cmd_tx.clone(),
                    tree.clone(),
                    settings.params.clone(),
                    shutdown_rx.clone(),
                )));
                Some(started.handle)
            }
            None => None,
        };
        let outputs = owner::Outputs {
            work: work_tx,
            blocks: block_tx,
            status: status_tx,
            tip: tip_tx,
            mesh: mesh.clone(),
            events: events.clone(),
        };
        let trees = owner::Trees {
            shares: tree,
            blocks: blocks_tree,
        };
        let (params, wallet) = (settings.params.clone(), settings.wallet);
        let owner_facts = Arc::clone(&facts);
        // The sidechain is built on its thread: its views are not `Send`.
        let owner = std::thread::Builder::new()
            .name("xmr-sidechain".into())
            .spawn(move || {
                owner::Owner::new(params, wallet, trees, owner_facts, verifier, outputs)
                    .run(cmd_rx);
            })
            .map_err(MoneroError::Thread)?;
        let parent_metrics = otedama_rpc::ParentRpcMetrics::default();
        let client = crate::parent::monero::MonerodClient::new(settings.daemons.clone())
            .with_metrics(parent_metrics.clone());
        let reachable = Arc::new(std::sync::atomic::AtomicBool::new(true));
        tasks.push(tokio::spawn(server.run(shutdown_rx.clone())));
        tasks.push(tokio::spawn(proof::run(
            client.clone(),
            status_rx.clone(),
            cmd_tx.clone(),
            shutdown_rx.clone(),
        )));
        // Stratum's requests join the owner's one queue.
        let forward = cmd_tx.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(r) = req_rx.recv().await {
                if forward.send(owner::Cmd::Xmr(r)).await.is_err() {
                    break;
                }
            }
        }));
        tasks.push(tokio::spawn(follow::run(
            follow::Follower {
                client,
                wallet: settings.wallet,
                poll: settings.poll_interval,
                reachable: Arc::clone(&reachable),
            },
            zmq,
            cmd_tx.clone(),
            block_rx,
            shutdown_rx.clone(),
        )));
        let (history_tx, history_rx) = mpsc::channel(crate::history::HISTORY_QUEUE);
        let handle = MoneroHandle {
            history: crate::history::HistoryHandle::new(history_tx),
            params: settings.params.clone(),
            started: std::time::Instant::now(),
            stratum_addr,
            stratum,
            workers,
            status: status_rx,
            mesh,
            reachable,
            events,
            parent_metrics,
            registry: Arc::new(Mutex::new(Some(registry))),
            cmds: cmd_tx,
        };
        // The history lives beside the store (`<data_dir>/<chain>/history.bin`).
        tasks.push(crate::history::spawn_in(
            settings.store.parent(),
            handle.clone(),
            history_rx,
            shutdown_rx,
        ));
        Ok(Self {
            handle,
            shutdown,
            tasks,
            owner: Mutex::new(Some(owner)),
        })
    }

    /// Returns a handle on the node, for the API.
    pub fn handle(&self) -> &MoneroHandle {
        &self.handle
    }

    /// Returns the xmrig Stratum address.
    pub fn stratum_addr(&self) -> SocketAddr {
        self.handle.stratum_addr
    }

    /// Returns the handle on the mesh, when the node joined one.
    pub fn p2p(&self) -> Option<&crate::p2p::P2pHandle> {
        self.handle.mesh.as_ref()
    }

    /// Returns a receiver of the owner's status snapshots.
    pub fn status(&self) -> watch::Receiver<MoneroStatus> {
        self.handle.status.clone()
    }

    /// Stops every task and waits for them; the owner flushes the store.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        // Handles (the API's among them) may outlive the node: the owner is told to end.
        let _ = self.handle.cmds.send(owner::Cmd::Stop).await;
        let owner = self
            .owner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(owner) = owner {
            let _ = tokio::task::spawn_blocking(move || owner.join()).await;
        }
    }
}
