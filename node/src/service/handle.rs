//! [`NodeHandle`]: the cheap, cloneable view of a running node that the API, CLI and
//! devnet hold: snapshots to read without a round trip, and queries to the coordinator
//! on a bounded channel.

use super::NodeEvent;
use crate::coordinator::handle::Query;
use crate::coordinator::{ChainSnapshot, ExpectedPayouts, MinerData, NodeCounters, SharePageData};
use crate::history::HistoryHandle;
use crate::mining::MinerControl;
use crate::p2p::P2pHandle;
use crate::p2p::sync::SyncProgress;
use crate::tracker::{Blocks, Workers};
use otedama_rpc::ParentRpcMetrics;
use otedama_sharechain::{ChainSpec, PayoutScript};
use otedama_stratum::OperatorFee;
use otedama_stratum::StratumStats;
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

/// Longest a query waits for its answer.
const QUERY_TIMEOUT: Duration = Duration::from_secs(5);

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

/// Queues `make`'s question for a state owner on `queue` and waits up to `timeout` for
/// the answer: busy when the queue is full or the answer is late, stopped when the owner
/// is gone.
pub(crate) async fn ask_owner<C, T>(
    queue: &mpsc::Sender<C>,
    make: impl FnOnce(oneshot::Sender<T>) -> C,
    timeout: Duration,
) -> Result<T, QueryError> {
    let (tx, rx) = oneshot::channel();
    queue.try_send(make(tx)).map_err(|e| match e {
        mpsc::error::TrySendError::Full(_) => QueryError::Busy,
        mpsc::error::TrySendError::Closed(_) => QueryError::Stopped,
    })?;
    match tokio::time::timeout(timeout, rx).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(_)) => Err(QueryError::Stopped),
        Err(_) => Err(QueryError::Busy),
    }
}

/// A cheap, cloneable view of a running node.
#[derive(Clone, Debug)]
pub struct NodeHandle {
    pub(super) spec: &'static ChainSpec,
    pub(super) name: String,
    pub(super) started: Instant,
    pub(super) stratum_addr: SocketAddr,
    pub(super) fee: Option<OperatorFee>,
    pub(super) events: broadcast::Sender<NodeEvent>,
    pub(super) queries: mpsc::Sender<Query>,
    pub(super) snapshot: watch::Receiver<ChainSnapshot>,
    pub(super) stratum: Arc<StratumStats>,
    pub(super) counters: Arc<NodeCounters>,
    pub(super) workers: Arc<Workers>,
    pub(super) blocks: Arc<Blocks>,
    pub(super) miner: Arc<MinerControl>,
    pub(super) parent_reachable: Arc<AtomicBool>,
    pub(super) parent_metrics: ParentRpcMetrics,
    pub(super) p2p: P2pHandle,
    pub(super) sync: watch::Receiver<SyncProgress>,
    pub(super) registry: Arc<Mutex<Option<Registry>>>,
    pub(super) history: HistoryHandle,
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

    /// Returns the operator's fee on other miners' work, if one is taken.
    pub fn fee(&self) -> Option<&OperatorFee> {
        self.fee.as_ref()
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

    /// Returns the handle on the history task.
    pub fn history(&self) -> &HistoryHandle {
        &self.history
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
        ask_owner(&self.queries, make, QUERY_TIMEOUT).await
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

    /// Returns `script`'s part of the window and of a block found now.
    ///
    /// # Errors
    /// The coordinator is overloaded or stopped.
    pub async fn miner_view(&self, script: PayoutScript) -> Result<MinerData, QueryError> {
        self.ask(|reply| Query::Miner { script, reply }).await
    }
}
