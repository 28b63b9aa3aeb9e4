//! The running node: parent-template polling, Stratum work publication, submission
//! handling (share validation, storage, block submission) and events.

use crate::config::{ChainConfig, Config};
use crate::parent::{ParentClient, ParentError, TemplateUpdate};
use crate::work::NodeWork;
use otedama_sharechain::coinbase::BlockTemplate;
use otedama_sharechain::{
    Amount, BlockHash, ChainSpec, PayoutScript, ShareChain, ShareHash, Store, StoreError, Target,
    TipChange, ValidationContext, validate_share,
};
use otedama_stratum::{StratumConfig, StratumServer, Submission, Work};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

/// What the node reports to whoever watches it (CLI, devnet, later the API).
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
}

/// A running node.
pub struct Node {
    stratum_addr: SocketAddr,
    events: broadcast::Sender<NodeEvent>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Node {
    /// Opens the share store, binds Stratum and starts polling the parent daemons.
    /// Must be called inside a tokio runtime.
    ///
    /// # Errors
    /// A missing or unknown chain, a store that fails to open, a listener that fails to bind.
    pub async fn start(config: &Config, home: Option<&Path>) -> Result<Node, NodeError> {
        let chain_cfg: &ChainConfig = config.chains.first().ok_or(NodeError::NoChain)?;
        let spec: &'static ChainSpec = ChainSpec::by_name(&chain_cfg.spec)
            .ok_or_else(|| NodeError::UnknownSpec(chain_cfg.spec.clone()))?;
        let store_path = config.app.data_dir.join(spec.name).join("shares");
        let (store, chain) = Store::open(&store_path, spec).map_err(|source| NodeError::Store {
            path: store_path.clone(),
            source,
        })?;
        info!(target: "otedama::node", chain = spec.name, shares = chain.len(),
              tip = ?chain.tip().map(|t| t.height), "share store opened");
        let chain = Arc::new(Mutex::new(chain));
        let parent = ParentClient::new(chain_cfg, home)?;

        let (events, _) = broadcast::channel(1024);
        let (shutdown, shutdown_rx) = watch::channel(false);
        let (work_tx, work_rx) = watch::channel::<Option<Work>>(None);
        let (sub_tx, sub_rx) = mpsc::channel::<Submission>(1024);
        let (tpl_tx, tpl_rx) = mpsc::channel::<TemplateUpdate>(16);

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
        info!(target: "otedama::node", %stratum_addr, "stratum listening");

        let mut tasks = Vec::new();
        tasks.push(tokio::spawn(server.run(shutdown_rx.clone())));
        tasks.push(tokio::spawn(poll_templates(
            parent.clone(),
            tpl_tx,
            events.clone(),
            shutdown_rx.clone(),
        )));
        let coordinator = Coordinator {
            chain,
            store,
            parent,
            events: events.clone(),
            work_tx,
            generation: 0,
            block: None,
            recent_parents: VecDeque::new(),
        };
        tasks.push(tokio::spawn(coordinator.run(tpl_rx, sub_rx, shutdown_rx)));
        Ok(Node {
            stratum_addr,
            events,
            shutdown,
            tasks,
        })
    }

    /// Returns the address Stratum listens on.
    pub fn stratum_addr(&self) -> SocketAddr {
        self.stratum_addr
    }

    /// Subscribes to node events.
    pub fn events(&self) -> broadcast::Receiver<NodeEvent> {
        self.events.subscribe()
    }

    /// Stops every task and flushes the store.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Fetches templates: immediately, then by longpoll; retries with backoff when the
/// daemons are down, in initial sync or without peers.
async fn poll_templates(
    parent: ParentClient,
    out: mpsc::Sender<TemplateUpdate>,
    events: broadcast::Sender<NodeEvent>,
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
                backoff = Duration::from_millis(250);
                longpoll = update.longpoll_id.clone();
                if out.send(update).await.is_err() {
                    return;
                }
            }
            Err(e) => {
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

/// Owns the share store and the current parent template; turns submissions into
/// shares and blocks, and publishes work.
struct Coordinator {
    chain: Arc<Mutex<ShareChain>>,
    store: Store,
    parent: ParentClient,
    events: broadcast::Sender<NodeEvent>,
    work_tx: watch::Sender<Option<Work>>,
    generation: u64,
    block: Option<BlockTemplate>,
    recent_parents: VecDeque<BlockHash>,
}

impl Coordinator {
    async fn run(
        mut self,
        mut templates: mpsc::Receiver<TemplateUpdate>,
        mut submissions: mpsc::Receiver<Submission>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                Some(update) = templates.recv() => self.on_template(update.template),
                Some(sub) = submissions.recv() => self.on_submission(sub).await,
                else => break,
            }
        }
        if let Err(e) = self.store.flush() {
            warn!(target: "otedama::node", error = %e, "flushing the share store");
        }
    }

    fn publish(&mut self, clean: bool) {
        let Some(block) = self.block.clone() else {
            return;
        };
        self.generation += 1;
        let source = Arc::new(NodeWork::new(Arc::clone(&self.chain), block));
        let _ = self.work_tx.send(Some(Work {
            generation: self.generation,
            source,
            clean,
        }));
    }

    fn on_template(&mut self, template: BlockTemplate) {
        let new_block = self
            .block
            .as_ref()
            .is_none_or(|b| b.prev_block != template.prev_block);
        if new_block {
            info!(target: "otedama::parent", height = template.height, prev = %template.prev_block, "new parent block");
            self.recent_parents.push_back(template.prev_block);
            if self.recent_parents.len() > 16 {
                self.recent_parents.pop_front();
            }
        }
        self.block = Some(template);
        self.publish(new_block);
    }

    async fn on_submission(&mut self, sub: Submission) {
        let share = sub
            .template
            .share(sub.header, &sub.extranonce, &sub.coinbase);
        let encoded = share.to_bytes().len();
        let result = {
            let recent = &self.recent_parents;
            let ctx = ValidationContext {
                now: unix_now(),
                parent_block_known: &|h| recent.contains(h),
            };
            let Ok(mut chain) = self.chain.lock() else {
                return;
            };
            match validate_share(&mut chain, &share, encoded, &ctx) {
                Ok(meta) => {
                    let change = chain.insert(meta.clone());
                    let stored = self.store.accept(&share, &meta, &change, &chain);
                    if let Err(e) = &stored {
                        warn!(target: "otedama::node", error = %e, "storing share");
                    }
                    if meta.height.is_multiple_of(64)
                        && let Err(e) = self.store.prune(&mut chain)
                    {
                        warn!(target: "otedama::node", error = %e, "pruning");
                    }
                    Ok((meta, change))
                }
                Err(e) => Err(e),
            }
        };
        match result {
            Err(e) => {
                debug!(target: "otedama::node", worker = %sub.worker, error = %e, "share rejected");
                let _ = self.events.send(NodeEvent::ShareRejected {
                    worker: sub.worker,
                    reason: e.to_string(),
                });
                return;
            }
            Ok((meta, change)) => {
                debug!(target: "otedama::node", hash = %meta.hash, height = meta.height, worker = %sub.worker, "share accepted");
                let _ = self.events.send(NodeEvent::ShareAccepted {
                    hash: meta.hash,
                    height: meta.height,
                    worker: sub.worker.clone(),
                });
                if change != TipChange::Unchanged {
                    self.publish(false);
                }
            }
        }
        let parent_target = Target::from_compact(sub.header.bits);
        if parent_target.is_ok_and(|t| t.is_met_by(&sub.pow)) {
            let block = sub.template.block_bytes(&sub.header, &sub.coinbase);
            let results = self.parent.submit_block(&block).await;
            let mut errors = Vec::new();
            let mut accepted = false;
            let mut stale = false;
            for (endpoint, r) in results {
                match r {
                    Ok(None) => accepted = true,
                    Ok(Some(reason)) if reason.ends_with("inconclusive") => stale = true,
                    Ok(Some(reason)) => errors.push(format!("{endpoint}: {reason}")),
                    Err(e) => errors.push(e.to_string()),
                }
            }
            let hash = sub.header.block_hash();
            let height = sub.template.block.height;
            if accepted {
                info!(target: "otedama::node", height, %hash, "block found and accepted");
            } else if stale && errors.is_empty() {
                info!(target: "otedama::node", height, %hash, "block valid but another one at this height came first");
            } else {
                warn!(target: "otedama::node", %hash, errors = ?errors, "block rejected");
            }
            let _ = self.events.send(NodeEvent::BlockFound {
                height: sub.template.block.height,
                hash,
                share: share.hash(),
                payouts: sub.template.payouts.clone(),
                accepted,
                stale: stale && !accepted,
                errors,
            });
        }
    }
}
