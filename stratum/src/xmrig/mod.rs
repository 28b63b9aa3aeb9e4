//! Stratum for RandomX miners: xmrig's JSON-RPC dialect (`login`, `job`, `submit`,
//! `keepalived`, `getjob`), as xmrig, xmrig-proxy and P2Pool's own server speak it.
//!
//! The node owns the sidechain; this module never touches it. The node publishes
//! [`XmrWork`] on a `watch` channel whenever the sidechain tip or the Monero template
//! changes, answers [`XmrRequest::Template`] with the share a wallet would mine next, and
//! takes solved shares as [`XmrRequest::Share`]. Each connection mines its own copy of
//! that share with a unique extra nonce (in the coinbase and in the sidechain extra, as
//! P2Pool does), so no two miners hash the same blob.
//!
//! Every `submit` is hashed again with RandomX (through [`RandomxHash`]) before it is
//! counted: a result that differs from the miner's is refused, and only a hash that meets
//! the share difficulty reaches the node.

mod login;
mod session;

pub use login::{Login, LoginError, parse_login, target_for, target_hex};

use crate::ban::Guard;
use crate::config::StratumConfig;
use crate::server::{ConnTable, listen, serve_one};
use crate::stats::StratumStats;
use otedama_sharechain::monero::{Hash, PoolShare, Wallet};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::info;

/// The algorithm name of Monero's RandomX in xmrig's `algo` fields.
pub const ALGO: &str = "rx/0";
const TARGET: &str = "otedama::stratum::xmrig";

/// What miners mine on now; a new value sends every session a new job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XmrWork {
    /// Changes with every new template (tip or Monero block).
    pub generation: u64,
    /// Height of the Monero block being mined.
    pub height: u64,
    /// The RandomX seed of that block (the id of the block at its seed height).
    pub seed_hash: Hash,
    /// The next epoch's seed, once known (sent as `next_seed_hash`, so that miners build
    /// its dataset before the switch).
    pub next_seed_hash: Option<Hash>,
    /// The sidechain's share difficulty.
    pub share_difficulty: u64,
}

/// A share template for one wallet, built on the current tip.
#[derive(Clone, Debug)]
pub struct XmrTemplate {
    /// The generation of [`XmrWork`] it was built for.
    pub generation: u64,
    /// The share with nonce and extra nonce 0.
    pub share: PoolShare,
    /// The sidechain's consensus id (the merge-mining root is derived with it).
    pub consensus_id: Hash,
    /// The RandomX seed.
    pub seed_hash: Hash,
}

/// How the node took a solved share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShareOutcome {
    /// Added to the sidechain.
    Accepted {
        /// Its sidechain id.
        id: Hash,
        /// Whether it also met Monero's difficulty and was submitted as a block.
        block: bool,
    },
    /// The sidechain already holds this template's share (ids leave the nonce out, so a
    /// second solution of one job is the same share). The work still counts for the miner.
    Known,
    /// Refused; the text is what the miner sees (`"Stale share"`, a rule).
    Rejected(String),
}

/// What sessions ask the node.
#[derive(Debug)]
pub enum XmrRequest {
    /// The share `wallet` would mine next, or `None` when there is no work.
    Template {
        /// The payee.
        wallet: Wallet,
        /// Where the answer goes.
        reply: oneshot::Sender<Option<Arc<XmrTemplate>>>,
    },
    /// A share whose PoW meets the share difficulty.
    Share {
        /// The solved share (nonce and extra nonce set).
        share: Box<PoolShare>,
        /// Its RandomX hash.
        pow: Hash,
        /// The worker that found it (`ADDRESS.worker`).
        worker: String,
        /// Where the outcome goes.
        reply: oneshot::Sender<ShareOutcome>,
    },
}

pub use crate::SubmitObserver;

/// RandomX hashing for result checks: `hash(seed, blob)`. Blocking; sessions call it on
/// the blocking pool.
pub trait RandomxHash: Send + Sync + 'static {
    /// Returns the RandomX hash of `blob` under the key `seed`.
    ///
    /// # Errors
    /// A text when the library fails.
    fn hash(&self, seed: &Hash, blob: &[u8]) -> Result<Hash, String>;
}

/// What every session shares.
pub(crate) struct Shared {
    pub config: StratumConfig,
    pub stats: Arc<StratumStats>,
    pub guard: Arc<Guard>,
    pub requests: mpsc::Sender<XmrRequest>,
    pub hasher: Arc<dyn RandomxHash>,
    /// Extra nonces handed out so far; each connection takes the next.
    pub extra_nonces: AtomicU32,
    /// Told of each judged submission, if set.
    pub observer: Option<Arc<dyn SubmitObserver>>,
}

/// The xmrig-dialect server of a Monero sidechain.
pub struct XmrigServer {
    listener: TcpListener,
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    conns: Arc<ConnTable>,
    work: watch::Receiver<Option<XmrWork>>,
}

impl XmrigServer {
    /// Binds `config.listen`. Sessions read work from `work`, ask the node through
    /// `requests`, and check results with `hasher`.
    ///
    /// # Errors
    /// The socket's errors when the address cannot be bound.
    pub fn bind(
        config: StratumConfig,
        work: watch::Receiver<Option<XmrWork>>,
        requests: mpsc::Sender<XmrRequest>,
        hasher: Arc<dyn RandomxHash>,
    ) -> io::Result<Self> {
        let listener = listen(config.listen)?;
        let local_addr = listener.local_addr()?;
        let stats = Arc::new(StratumStats::default());
        let conns = Arc::new(ConnTable::new(&config, stats.clone()));
        let shared = Arc::new(Shared {
            guard: Arc::new(Guard::new(config.bans.clone(), stats.clone())),
            config,
            stats,
            requests,
            hasher,
            extra_nonces: AtomicU32::new(0),
            observer: None,
        });
        Ok(Self {
            listener,
            local_addr,
            shared,
            conns,
            work,
        })
    }

    /// Returns the bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Tells `observer` of every submission judged from now on. Call before [`run`].
    ///
    /// [`run`]: XmrigServer::run
    #[must_use]
    pub fn with_observer(mut self, observer: Arc<dyn SubmitObserver>) -> Self {
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.observer = Some(observer);
        }
        self
    }

    /// Returns the server's counters.
    pub fn stats(&self) -> Arc<StratumStats> {
        self.shared.stats.clone()
    }

    /// Accepts miners until `shutdown` becomes true, then closes every session.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        let Self {
            listener,
            local_addr,
            shared,
            conns,
            work,
        } = self;
        info!(target: TARGET, listen = %local_addr, "xmrig stratum listening");
        let guard = Arc::clone(&shared.guard);
        serve_one(
            listener,
            guard,
            &conns,
            shutdown,
            |stream, peer, shutdown| {
                let (shared, work) = (shared.clone(), work.clone());
                async move { session::run(&shared, stream, peer, work, shutdown).await }
            },
        )
        .await;
    }
}
