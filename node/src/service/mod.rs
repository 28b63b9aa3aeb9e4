//! The running node: parent-template polling, Stratum work publication, the coordinator
//! (share validation, storage, block submission), the mesh, the built-in miner, and
//! events. [`Node::start`] wires the tasks and their channels (docs/architecture.md).
//!
//! - `handle`: [`NodeHandle`], the cheap view everyone outside holds;
//! - `event`: [`NodeEvent`], what the node reports;
//! - `templates`: the task that polls the parent daemons for templates;
//! - `kawpow`: a KawPow chain's Stratum, the coordinator's work in the KawPow dialect.

pub mod descriptors;
mod event;
mod handle;
mod kawpow;
mod templates;

pub use event::NodeEvent;
pub(crate) use handle::ask_owner;
pub use handle::{NodeHandle, QueryError};

use crate::config::{ChainConfig, Config};
use crate::coordinator::block::{BlockSubmitter, REPORT_QUEUE};
use crate::coordinator::handle::{CHAIN_QUEUE, ChainHandle, ChainInput, Query};
use crate::coordinator::{ChainSnapshot, Coordinator, Inputs, NodeCounters, Parts};
use crate::history::HistoryHandle;
use crate::mining::MinerControl;
use crate::p2p::P2pSettings;
use crate::p2p::sync::{SyncProgress, Syncer};
use crate::parent::{ParentClient, ParentError, TemplateUpdate};
use crate::tracker::{Blocks, Workers};
use libp2p::Multiaddr;
use otedama_rpc::ParentRpcMetrics;
use otedama_sharechain::{ChainSpec, Seal, Store, StoreError, parse_address, sha256d};
use otedama_stratum::dag::{DagAlgorithm, DagConfig, DagServer};
use otedama_stratum::{
    StratumConfig, StratumServer, StratumStats, Submission, Work as StratumWork,
};
use prometheus_client::registry::Registry;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;
use tracing::info;

/// Queries waiting for the coordinator at most; beyond it callers are told it is busy.
const QUERY_QUEUE: usize = 64;
/// Node events buffered per watcher (tracker, API); a slower watcher misses the oldest.
const EVENT_QUEUE: usize = 1024;
/// Solved shares from Stratum waiting for the coordinator at most.
const SUBMISSION_QUEUE: usize = 1024;
/// Parent templates waiting for the coordinator at most (the poller waits for room).
const TEMPLATE_QUEUE: usize = 16;

/// The accept loop of the node's Stratum server, whichever dialects it speaks.
type StratumTask = Pin<Box<dyn Future<Output = ()> + Send>>;

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
    /// The descriptor limit is too low for the listeners.
    #[error(transparent)]
    Descriptors(#[from] descriptors::BudgetError),
    /// The built-in miner failed to start.
    #[error(transparent)]
    Miner(#[from] crate::mining::MiningError),
    /// The node key could not be loaded or created.
    #[error(transparent)]
    Key(#[from] crate::p2p::key::KeyError),
    /// The P2P layer could not start.
    #[error(transparent)]
    P2p(#[from] crate::p2p::P2pError),
    /// `pool.fee_address` is not an address of the chain.
    #[error("pool.fee_address: {source}")]
    FeeAddress {
        /// The address.
        address: String,
        /// Why.
        source: otedama_sharechain::AddressError,
    },
    /// `pool.fee_percentage` is out of range.
    #[error("pool.fee_percentage: {0}")]
    Fee(#[from] otedama_stratum::FeeError),
    /// A P2P address in the config is not a multiaddr.
    #[error("p2p address {addr:?}: {reason}")]
    Multiaddr {
        /// The address.
        addr: String,
        /// Why.
        reason: String,
    },
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

        let (events, _) = broadcast::channel(EVENT_QUEUE);
        let (shutdown, shutdown_rx) = watch::channel(false);
        let (work_tx, work_rx) = watch::channel::<Option<StratumWork>>(None);
        let (sub_tx, sub_rx) = mpsc::channel::<Submission>(SUBMISSION_QUEUE);
        let (tpl_tx, tpl_rx) = mpsc::channel::<TemplateUpdate>(TEMPLATE_QUEUE);
        let (query_tx, query_rx) = mpsc::channel::<Query>(QUERY_QUEUE);
        let (net_tx, net_rx) = mpsc::channel::<ChainInput>(CHAIN_QUEUE);
        let (block_tx, block_rx) = mpsc::channel(REPORT_QUEUE);
        let (sync_tx, sync_rx) = watch::channel(SyncProgress::default());
        let (tip_tx, tip_rx) = watch::channel(None);
        let (history_tx, history_rx) = mpsc::channel(crate::history::HISTORY_QUEUE);

        let stratum_cap = descriptors::apply(config)?;
        // With the pool off no miner can connect from outside; the built-in miner still
        // mines through a private loopback port.
        let listen = if config.pool.enable {
            config.pool.address
        } else {
            SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, 0))
        };
        let fee = operator_fee(config, spec)?;
        if let Some(fee) = &fee {
            info!(target: "otedama::node", percent = fee.percent(), address = fee.address(), "operator fee on other miners' work");
        }
        let sv2 = if config.pool.enable && config.pool.sv2.enable {
            let (authority, created) = crate::p2p::key::load_or_create_sv2(&config.app.data_dir)?;
            if created {
                info!(target: "otedama::node", "created a stratum v2 authority key");
            }
            info!(target: "otedama::node", address = %config.pool.sv2.address, authority = %authority.public_base58(), "stratum v2 enabled");
            Some(otedama_stratum::sv2::Sv2Config {
                listen: config.pool.sv2.address,
                authority,
                cert_validity: config.pool.sv2.cert_validity,
            })
        } else {
            None
        };
        let stratum_config = StratumConfig {
            listen,
            sv2,
            fee: fee.clone(),
            max_connections: stratum_cap as usize,
            max_connections_per_ip: config.pool.max_connections_per_ip as usize,
            ..StratumConfig::default()
        };
        let bind_error = |source| NodeError::Bind {
            addr: listen,
            source,
        };
        // A KawPow chain's miners speak the KawPow dialect; its shares come back through
        // the bridge, spawned once the node key (which picks its extranonce) is loaded.
        let mut dag_bridge = None;
        let (stratum_addr, stratum, run_stratum): (SocketAddr, Arc<StratumStats>, StratumTask) =
            match spec.seal {
                Seal::Kawpow => {
                    let (dag_tx, dag_rx) = watch::channel(None);
                    let (share_tx, share_rx) = mpsc::channel(SUBMISSION_QUEUE);
                    let dag = DagConfig::new(DagAlgorithm::Kawpow);
                    let server = DagServer::bind(stratum_config, dag, dag_rx, share_tx)
                        .map_err(bind_error)?;
                    dag_bridge = Some((dag_tx, share_rx));
                    let (addr, stats) = (server.local_addr(), server.stats());
                    (addr, stats, Box::pin(server.run(shutdown_rx.clone())))
                }
                Seal::Nonce => {
                    let server =
                        StratumServer::bind(stratum_config, spec, work_rx.clone(), sub_tx.clone())
                            .await
                            .map_err(bind_error)?;
                    let (addr, stats) = (server.local_addr(), server.stats());
                    (addr, stats, Box::pin(server.run(shutdown_rx.clone())))
                }
            };
        if config.pool.enable {
            info!(target: "otedama::node", %stratum_addr, "stratum listening");
        } else {
            info!(target: "otedama::node", %stratum_addr, "pool disabled: stratum on loopback for the built-in miner only");
        }

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
        tasks.push(tokio::spawn(run_stratum));
        tasks.push(tokio::spawn(templates::poll_templates(
            parent.clone(),
            tpl_tx,
            tip_tx,
            events.clone(),
            Arc::clone(&parent_reachable),
            shutdown_rx.clone(),
        )));
        let (key, created) = crate::p2p::key::load_or_create(&config.app.data_dir)?;
        if created {
            info!(target: "otedama::p2p", peer_id = %key.public().to_peer_id(), "created a node key");
        }
        if let Some((dag_work, shares)) = dag_bridge {
            let id = sha256d(&key.public().to_peer_id().to_bytes());
            let bridge = kawpow::Bridge {
                spec,
                extranonce: id[..usize::from(spec.extranonce_size)].to_vec(),
                work: work_rx,
                dag_work,
                shares,
                submissions: sub_tx,
            };
            tasks.push(tokio::spawn(bridge.run(shutdown_rx.clone())));
        }
        let settings = p2p_settings(config, &chain_dir)?;
        let chain_handle = ChainHandle::new(net_tx);
        let serve =
            crate::p2p::ServeSource::new(chain_handle.clone(), store.reader(), snapshot_rx.clone());
        let mut registry = Registry::with_prefix("otedama");
        let mesh = crate::p2p::start(
            settings,
            key,
            &spec.into(),
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
        // Found blocks are read back from the daemon on every new parent tip.
        tasks.push(tokio::spawn(crate::proof::run(
            parent.clone(),
            Arc::clone(&blocks),
            tip_rx,
            shutdown_rx.clone(),
        )));
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
            shutdown: shutdown_rx.clone(),
        })));
        let handle = NodeHandle {
            spec,
            name: config.app.name.clone(),
            started,
            stratum_addr,
            fee,
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
            history: HistoryHandle::new(history_tx),
        };
        let history_path = chain_dir.join(crate::history::HISTORY_FILE);
        let history = crate::history::load(&history_path, crate::unix_now());
        tasks.push(tokio::spawn(crate::history::run(
            history,
            Some(history_path),
            handle.clone(),
            history_rx,
            shutdown_rx,
        )));
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

    /// Records and saves the history, stops the built-in miner and every task, and
    /// flushes the store.
    pub async fn stop(mut self) {
        self.handle.history.close().await;
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
pub(crate) fn p2p_settings(config: &Config, chain_dir: &Path) -> Result<P2pSettings, NodeError> {
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

/// The operator's fee of `config`, paid to `pool.fee_address` (else the built-in
/// miner's payout address); the built-in miner's address is the operator's own.
fn operator_fee(
    config: &Config,
    spec: &'static ChainSpec,
) -> Result<Option<otedama_stratum::OperatorFee>, NodeError> {
    let Some(address) = config.pool.fee_recipient(&config.mining.payout_address) else {
        return Ok(None);
    };
    let script = parse_address(address, spec).map_err(|source| NodeError::FeeAddress {
        address: address.to_owned(),
        source,
    })?;
    let mut fee =
        otedama_stratum::OperatorFee::new(config.pool.fee_percentage, script, address.to_owned())?;
    if let Ok(own) = parse_address(config.mining.payout_address.trim(), spec) {
        fee = fee.exempting(own);
    }
    Ok(Some(fee))
}

#[cfg(test)]
mod fee_tests {
    use super::*;
    use std::net::Ipv4Addr;

    /// A P2WPKH address of ltc-regtest.
    fn own() -> String {
        let spec = ChainSpec::by_name("ltc-regtest").expect("spec");
        let mut script = vec![0x00, 0x14];
        script.extend([7u8; 20]);
        let script = otedama_sharechain::PayoutScript::new(script).expect("script");
        otedama_sharechain::script_to_address(&script, spec).expect("address")
    }

    fn config(percent: f64, fee_address: &str, payout: &str) -> Config {
        let mut c = Config::default();
        c.pool.fee_percentage = percent;
        c.pool.fee_address = fee_address.into();
        c.mining.payout_address = payout.into();
        c
    }

    #[test]
    fn the_fee_goes_to_the_fee_address_else_the_payout_address() {
        let spec = ChainSpec::by_name("ltc-regtest").expect("spec");
        let own_address = own();
        let own_address = own_address.as_str();
        assert_eq!(
            operator_fee(&config(0.0, "", own_address), spec).expect("ok"),
            None
        );
        assert_eq!(operator_fee(&config(1.0, "", ""), spec).expect("ok"), None);
        let fee = operator_fee(&config(1.0, "", own_address), spec)
            .expect("ok")
            .expect("a fee");
        assert_eq!((fee.percent(), fee.address()), (1.0, own_address));
        let outside = Ipv4Addr::new(203, 0, 113, 7).into();
        let own = parse_address(own_address, spec).expect("address");
        assert!(!fee.charges(outside, &own));
        assert!(matches!(
            operator_fee(&config(1.0, "nonsense", own_address), spec),
            Err(NodeError::FeeAddress { .. })
        ));
    }

    #[tokio::test]
    async fn with_the_pool_off_stratum_listens_on_loopback_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut c = Config::default();
        c.app.data_dir = dir.path().to_path_buf();
        c.p2p.listen = vec!["/ip4/127.0.0.1/tcp/0".into()];
        c.pool.enable = false;
        c.pool.address = "0.0.0.0:0".parse().expect("address");
        c.chains = vec![ChainConfig {
            spec: "ltc-regtest".into(),
            daemons: vec![crate::config::DaemonConfig {
                url: "http://127.0.0.1:1".into(),
                cookie_file: None,
                user: Some("u".into()),
                password: Some(crate::config::Secret::new("p")),
                zmq: None,
            }],
        }];
        let node = Node::start(&c, None).await.expect("starts");
        assert!(
            node.stratum_addr().ip().is_loopback(),
            "{}",
            node.stratum_addr()
        );
        node.stop().await;
    }
}
