//! The task that owns the [`HistoryStore`]: it samples the node every minute, saves the
//! file every minute and at shutdown, and answers queries from [`HistoryHandle`]s over a
//! bounded channel.

use super::file;
use super::store::{HistoryStore, MINUTE_SECS, MinerSample, Points, Sample, UnknownSeries};
use crate::coordinator::ShareRow;
use crate::service::{NodeHandle, QueryError};
use crate::tracker::Workers;
use crate::unix_now;
use otedama_sharechain::{ChainSpec, Target, script_to_address};
use otedama_stratum::StatsSnapshot;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::warn;

/// Queries waiting for the history task at most; beyond it callers are told it is busy.
pub(crate) const HISTORY_QUEUE: usize = 32;
/// Longest a query waits for its answer (a sample in progress may hold the task).
const QUERY_TIMEOUT: Duration = Duration::from_secs(10);
/// A miner's hashrate is the work of its shares over this window, as for the pool.
const MINER_WINDOW_SECS: u64 = 600;
/// Shares read per page when scanning the window.
const SCAN_PAGE: u64 = 100;
/// Pages read at most per sample: 2000 shares in ten minutes, far above any share rate
/// a spec allows.
const SCAN_PAGES: u64 = 20;

/// Why a history query failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HistoryError {
    /// The task cannot answer now.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// A series is not held.
    #[error(transparent)]
    Unknown(#[from] UnknownSeries),
}

pub(crate) enum Command {
    Query {
        names: Vec<String>,
        range_secs: u64,
        reply: oneshot::Sender<Result<Points, UnknownSeries>>,
    },
    /// Takes a last sample, saves, answers and stops.
    Close { reply: oneshot::Sender<()> },
}

/// A cheap handle on the history task.
#[derive(Clone, Debug)]
pub struct HistoryHandle {
    tx: mpsc::Sender<Command>,
}

impl HistoryHandle {
    pub(crate) fn new(tx: mpsc::Sender<Command>) -> Self {
        Self { tx }
    }

    /// Returns the points of `names` over the last `range_secs`.
    ///
    /// # Errors
    /// The task is busy or stopped, or a name is not held.
    pub async fn query(&self, names: Vec<String>, range_secs: u64) -> Result<Points, HistoryError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .try_send(Command::Query {
                names,
                range_secs,
                reply,
            })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => QueryError::Busy,
                mpsc::error::TrySendError::Closed(_) => QueryError::Stopped,
            })?;
        match tokio::time::timeout(QUERY_TIMEOUT, rx).await {
            Ok(Ok(answer)) => Ok(answer?),
            Ok(Err(_)) => Err(QueryError::Stopped.into()),
            Err(_) => Err(QueryError::Busy.into()),
        }
    }

    /// Takes a last sample and saves the file, then stops the task. Returns at once if
    /// it already stopped.
    pub(crate) async fn close(&self) {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Command::Close { reply }).await.is_ok() {
            let _ = rx.await;
        }
    }
}

/// One main-chain share as the sampler counts it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MinedShare {
    /// The finder's payout address; `None` for a script without one.
    pub address: Option<String>,
    /// The share's time.
    pub time: u64,
    /// Its work (hashes).
    pub work: u128,
}

/// The future of [`Source::share_page`].
pub(crate) type PageFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Option<Vec<MinedShare>>> + Send + 'a>>;

/// What the history task samples: a node of either parent family.
pub(crate) trait Source: Send + Sync + 'static {
    /// The Stratum server's counters.
    fn stratum(&self) -> StatsSnapshot;
    /// The sharechain's hashrate estimate at `now`.
    fn pool_hashrate(&self, now: u64) -> f64;
    /// This node's Stratum workers.
    fn workers(&self) -> &Workers;
    /// Sharechain peers connected.
    fn peers(&self) -> u64;
    /// Page `index` of the main chain, newest first; `None` when the chain cannot be
    /// read now.
    fn share_page(&self, index: u64, per_page: u64) -> PageFuture<'_>;
}

impl Source for NodeHandle {
    fn stratum(&self) -> StatsSnapshot {
        NodeHandle::stratum(self).snapshot()
    }

    fn pool_hashrate(&self, now: u64) -> f64 {
        self.snapshot().pool_hashrate(now)
    }

    fn workers(&self) -> &Workers {
        NodeHandle::workers(self)
    }

    fn peers(&self) -> u64 {
        self.p2p().connected() as u64
    }

    fn share_page(&self, index: u64, per_page: u64) -> PageFuture<'_> {
        Box::pin(async move {
            let page = self.shares(index, per_page).await.ok()?;
            Some(page.rows.iter().map(|r| mined(r, self.spec())).collect())
        })
    }
}

/// A Bitcoin-family share row as the sampler counts it.
pub(super) fn mined(row: &ShareRow, spec: &ChainSpec) -> MinedShare {
    MinedShare {
        address: script_to_address(&row.payout, spec),
        time: u64::from(row.time),
        work: Target::from_compact(row.share_target).map_or(0, |t| t.to_work().to_u128()),
    }
}

/// Counters read at the previous sample, to turn totals into counts per minute.
#[derive(Default)]
struct Totals {
    accepted: u64,
    rejected: u64,
    stale: u64,
}

struct Sampler<S> {
    node: S,
    last: Totals,
}

impl<S: Source> Sampler<S> {
    fn totals(&self) -> Totals {
        let s = self.node.stratum();
        Totals {
            accepted: s.accepted,
            rejected: s
                .rejected_duplicate
                .saturating_add(s.rejected_low_difficulty)
                .saturating_add(s.rejected_other),
            stale: s.rejected_stale,
        }
    }

    async fn sample(&mut self, now: u64) -> Sample {
        let totals = self.totals();
        let sample = Sample {
            pool_hashrate: self.node.pool_hashrate(now),
            local_hashrate: self.node.workers().total_hashrate(Instant::now()),
            shares_accepted: totals.accepted.saturating_sub(self.last.accepted),
            shares_rejected: totals.rejected.saturating_sub(self.last.rejected),
            shares_stale: totals.stale.saturating_sub(self.last.stale),
            stratum_connections: self.node.stratum().connections,
            peers: self.node.peers(),
            miners: self.miners(now).await,
        };
        self.last = totals;
        sample
    }

    /// The work of each payout address's main-chain shares in the window, per second;
    /// `None` when the chain cannot be read.
    async fn miners(&self, now: u64) -> Option<Vec<MinerSample>> {
        let start = now.saturating_sub(MINER_WINDOW_SECS);
        let mut work: BTreeMap<String, (u128, u64)> = BTreeMap::new();
        for index in 0..SCAN_PAGES {
            let page = self.node.share_page(index, SCAN_PAGE).await?;
            let older = tally(&page, start, &mut work);
            if older || (page.len() as u64) < SCAN_PAGE {
                break;
            }
        }
        let mut miners: BTreeMap<String, MinerSample> = work
            .into_iter()
            .map(|(address, (w, last_share))| {
                let sample = MinerSample {
                    address: address.clone(),
                    hashrate: w as f64 / MINER_WINDOW_SECS as f64,
                    workers: None,
                    last_share,
                };
                (address, sample)
            })
            .collect();
        // What its workers on this node report (user names `ADDRESS[.rig]`).
        for row in self.node.workers().rows(Instant::now()) {
            let address = row.name.split('.').next().unwrap_or_default();
            if address.is_empty() {
                continue;
            }
            let m = miners
                .entry(address.to_owned())
                .or_insert_with(|| MinerSample {
                    address: address.to_owned(),
                    hashrate: 0.0,
                    workers: None,
                    last_share: 0,
                });
            m.workers = Some(m.workers.unwrap_or(0.0) + row.hashrate);
            m.last_share = m.last_share.max(row.last_share_time.unwrap_or(0));
        }
        Some(miners.into_values().collect())
    }
}

/// Adds the work of each share newer than `start` to its payout address's total and
/// newest share time; returns whether a share was at or before `start` (the scan is
/// done). Shares without an address (non-standard scripts) are skipped.
pub(super) fn tally(
    rows: &[MinedShare],
    start: u64,
    work: &mut BTreeMap<String, (u128, u64)>,
) -> bool {
    let mut older = false;
    for row in rows {
        if row.time <= start {
            older = true;
            continue;
        }
        let Some(address) = &row.address else {
            continue;
        };
        let e = work.entry(address.clone()).or_insert((0, 0));
        e.0 = e.0.saturating_add(row.work);
        e.1 = e.1.max(row.time);
    }
    older
}

/// Seconds until the next minute starts, after `now`.
fn until_next_minute(now: u64) -> u64 {
    MINUTE_SECS - now % MINUTE_SECS
}

/// Runs the history task until shutdown or [`HistoryHandle::close`]: a sample at the end
/// of every minute (recorded for the minute that ended) and a save after it.
/// Spawns the history task of `node`, its file in `dir` (`None`: memory only), loading
/// what the file holds.
pub(crate) fn spawn_in(
    dir: Option<&std::path::Path>,
    node: impl Source,
    commands: mpsc::Receiver<Command>,
    shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let path = dir.map(|d| d.join(super::HISTORY_FILE));
    let store = path
        .as_deref()
        .map_or_else(HistoryStore::default, |p| super::load(p, unix_now()));
    tokio::spawn(run(store, path, node, commands, shutdown))
}

pub(crate) async fn run(
    mut store: HistoryStore,
    path: Option<PathBuf>,
    node: impl Source,
    mut commands: mpsc::Receiver<Command>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut sampler = Sampler {
        last: Totals::default(),
        node,
    };
    sampler.last = sampler.totals();
    loop {
        let now = unix_now();
        let wait = until_next_minute(now);
        let minute_end = now + wait;
        tokio::select! {
            biased;
            _ = shutdown.changed() => {
                save(&store, path.as_ref()).await;
                return;
            }
            cmd = commands.recv() => match cmd {
                Some(Command::Query { names, range_secs, reply }) => {
                    let _ = reply.send(store.query(&names, range_secs, unix_now()));
                }
                Some(Command::Close { reply }) => {
                    let now = unix_now();
                    let sample = sampler.sample(now).await;
                    store.record(now, &sample);
                    save(&store, path.as_ref()).await;
                    let _ = reply.send(());
                    return;
                }
                None => {
                    save(&store, path.as_ref()).await;
                    return;
                }
            },
            _ = tokio::time::sleep(Duration::from_secs(wait)) => {
                let sample = sampler.sample(unix_now()).await;
                // The readings close the minute that just ended.
                store.record(minute_end.saturating_sub(1), &sample);
                save(&store, path.as_ref()).await;
            }
        }
    }
}

async fn save(store: &HistoryStore, path: Option<&PathBuf>) {
    let Some(path) = path.cloned() else {
        return;
    };
    let bytes = match file::encode(store) {
        Ok(b) => b,
        Err(e) => {
            warn!(target: "otedama::node", error = %e, "cannot encode the history");
            return;
        }
    };
    let written = tokio::task::spawn_blocking(move || {
        let r = file::write(&path, &bytes);
        (path, r)
    })
    .await;
    if let Ok((path, Err(e))) = written {
        warn!(target: "otedama::node", path = %path.display(), error = %e, "cannot write the history file");
    }
}
