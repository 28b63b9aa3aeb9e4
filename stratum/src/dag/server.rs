//! [`DagServer`]: the accept loop of a DAG chain's Stratum port, on the shared
//! [`accept_loop`] with the v1 server's caps, bans and counters.

use super::session::{self, DagContext};
use super::verify::EpochCaches;
use super::{DagConfig, DagSubmission, DagWork};
use crate::SubmitObserver;
use crate::ban::Guard;
use crate::config::StratumConfig;
use crate::extranonce::Extranonces;
use crate::job::JobIds;
use crate::server::{ConnTable, listen, serve_one};
use crate::session::TARGET;
use crate::stats::StratumStats;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tracing::info;

/// The Stratum server of a DAG chain (Ethash, Etchash or KawPow): the dialects its
/// [`DagConfig::algorithm`] calls for, on `StratumConfig::listen`.
pub struct DagServer {
    listener: TcpListener,
    local_addr: SocketAddr,
    ctx: Arc<DagContext>,
    conns: Arc<ConnTable>,
    work: watch::Receiver<Option<DagWork>>,
}

impl DagServer {
    /// Binds `config.listen`. Sessions take work from `work`; shares meeting their
    /// template's share target go to `submissions`.
    ///
    /// # Errors
    /// `InvalidInput` for difficulty bounds that are not positive numbers; the socket's
    /// errors when the address cannot be bound.
    pub fn bind(
        config: StratumConfig,
        dag: DagConfig,
        work: watch::Receiver<Option<DagWork>>,
        submissions: mpsc::Sender<DagSubmission>,
    ) -> io::Result<Self> {
        let positive = |d: f64| d.is_finite() && d > 0.0;
        if !positive(dag.start_difficulty)
            || !positive(dag.min_difficulty)
            || dag.max_difficulty.is_some_and(|d| !positive(d))
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "DAG difficulties must be positive finite numbers",
            ));
        }
        let listener = listen(config.listen)?;
        let local_addr = listener.local_addr()?;
        let stats = Arc::new(StratumStats::default());
        let conns = Arc::new(ConnTable::new(&config, stats.clone()));
        let ctx = Arc::new(DagContext {
            guard: Arc::new(Guard::new(config.bans.clone(), stats.clone())),
            caches: Arc::new(EpochCaches::new(dag.algorithm)),
            stratum: config,
            dag,
            submissions,
            stats,
            job_ids: JobIds::default(),
            extranonces: Extranonces::new(),
            observer: None,
        });
        Ok(Self {
            listener,
            local_addr,
            ctx,
            conns,
            work,
        })
    }

    /// Returns the bound address (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Tells `observer` of every share judged from now on. Call before [`run`].
    ///
    /// [`run`]: DagServer::run
    #[must_use]
    pub fn with_observer(mut self, observer: Arc<dyn SubmitObserver>) -> Self {
        if let Some(ctx) = Arc::get_mut(&mut self.ctx) {
            ctx.observer = Some(observer);
        }
        self
    }

    /// Returns the server's counters; they stay readable after `run` returns.
    pub fn stats(&self) -> Arc<StratumStats> {
        self.ctx.stats.clone()
    }

    /// Accepts miners until `shutdown` becomes true (or its sender is dropped), then
    /// closes the listener and every session, and returns.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        let Self {
            listener,
            local_addr,
            ctx,
            conns,
            work,
        } = self;
        let algorithm = ctx.dag.algorithm.name();
        info!(target: TARGET, listen = %local_addr, algorithm, "stratum DAG dialects listening");
        let guard = Arc::clone(&ctx.guard);
        serve_one(
            listener,
            guard,
            &conns,
            shutdown,
            |stream, peer, shutdown| {
                let (ctx, work) = (ctx.clone(), work.clone());
                async move {
                    let lease = Extranonces::take(&ctx.extranonces);
                    session::run(ctx, stream, peer, lease, work, shutdown).await
                }
            },
        )
        .await;
    }
}
