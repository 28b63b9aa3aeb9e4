//! [`NodeApiAdapter`]: [`NodeApi`] over a [`NodeHandle`], turning node types into the
//! API's JSON types.

use super::READY_TEMPLATE_AGE;
use super::events::{block_status, forward, on_chain, payout_entry, peer_dto};
use crate::coordinator::ChainSnapshot;
use crate::history::{HistoryError, UnknownSeries};
use crate::mining::{MiningError, MiningStatus};
use crate::service::{NodeHandle, QueryError};
use crate::tracker::{BlockRecord, WorkerRow};
use crate::unix_now;
use otedama_rpc::{
    ApiError, ApiFuture, BlockCounters, ChainInfo, Coin, Event, FoundBlock, Hashrate, History,
    HistoryRequest, MetricsSnapshot, MinerInfo, MinerPayout, MinerView, MiningState, NodeApi,
    P2pStatus, PageRequest, ParentStatus, PayoutEntry, Payouts, Peer, PoolFee, Readiness,
    ShareCounters, ShareEntry, SharePage, SharechainStatus, Stats, Status, StratumCounters,
    StratumStatus, SyncState, Worker, unknown_series_message,
};
use otedama_sharechain::{
    Amount, CompactTarget, Difficulty, PayoutScript, Target, parse_address, script_to_address,
};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

/// Live events buffered for the API's event hub.
const EVENT_QUEUE: usize = 1024;

/// [`NodeApi`] over a running node.
#[derive(Debug)]
pub struct NodeApiAdapter {
    handle: NodeHandle,
    events: broadcast::Sender<Event>,
    forwarder: JoinHandle<()>,
}

impl Drop for NodeApiAdapter {
    fn drop(&mut self) {
        self.forwarder.abort();
    }
}

pub(super) fn worker_dto(r: WorkerRow) -> Worker {
    Worker {
        address: r.name.split('.').next().unwrap_or_default().to_owned(),
        name: r.name,
        accepted: r.accepted,
        rejected: r.rejected,
        last_share_time: r.last_share_time,
        hashrate: r.hashrate,
    }
}

/// Every Stratum worker of `workers`, in the API's form.
pub(super) fn worker_list(workers: &crate::tracker::Workers) -> Vec<Worker> {
    workers
        .rows(std::time::Instant::now())
        .into_iter()
        .map(worker_dto)
        .collect()
}

/// The API's form of a Stratum server's counters.
pub(super) fn stratum_counters(s: otedama_stratum::StatsSnapshot) -> StratumCounters {
    StratumCounters {
        connections: s.connections,
        total_connections: s.total_connections,
        refused_connections: s.refused_connections,
        accepted: s.accepted,
        rejected_stale: s.rejected_stale,
        rejected_duplicate: s.rejected_duplicate,
        rejected_low_difficulty: s.rejected_low_difficulty,
        rejected_other: s.rejected_other,
        shares_forwarded: s.shares_forwarded,
        shares_dropped: s.shares_dropped,
    }
}

pub(super) fn query_error(e: QueryError) -> ApiError {
    match e {
        QueryError::Busy => ApiError::unavailable("node_busy", e.to_string()),
        QueryError::Stopped => ApiError::unavailable("node_stopping", e.to_string()),
    }
}

impl NodeApiAdapter {
    /// Wraps `handle` and starts turning node events into API events. Must be called
    /// inside a tokio runtime.
    pub fn new(handle: NodeHandle) -> Arc<Self> {
        let (events, _) = broadcast::channel(EVENT_QUEUE);
        let forwarder = tokio::spawn(forward(handle.clone(), events.clone()));
        Arc::new(Self {
            handle,
            events,
            forwarder,
        })
    }

    fn payout(&self, script: &PayoutScript, amount: Amount) -> PayoutEntry {
        payout_entry(self.handle.spec(), script, amount)
    }

    fn difficulty(&self, target: CompactTarget) -> f64 {
        Target::from_compact(target)
            .map(|t| Difficulty::from_stratum_target(t, self.handle.spec().algorithm).get())
            .unwrap_or(0.0)
    }

    fn found_block(&self, r: &BlockRecord) -> FoundBlock {
        FoundBlock {
            height: r.height,
            hash: r.hash.clone(),
            share: r.share.clone(),
            time: r.time,
            status: block_status(r.outcome),
            payouts: r
                .scripts()
                .iter()
                .map(|(s, a)| self.payout(s, *a))
                .collect(),
            chain: on_chain(self.handle.spec(), r.chain.as_ref()),
        }
    }

    fn mining_state(status: MiningStatus) -> MiningState {
        MiningState {
            running: status.running,
            configured: status.configured,
            payout_address: status.payout_address,
            detail: status.detail,
        }
    }

    fn hashrate_now(&self, snapshot: &ChainSnapshot) -> Hashrate {
        Hashrate {
            pool: snapshot.pool_hashrate(unix_now()),
            local: self.handle.workers().total_hashrate(Instant::now()),
            miner: self.handle.miner().stats().map_or(0.0, |s| s.hashrate),
        }
    }

    fn sync(&self, snapshot: &ChainSnapshot) -> SyncState {
        let height = snapshot.tip.as_ref().map(|t| t.height);
        let p = self.handle.sync_progress();
        let progress = if p.active && p.total > 0 {
            p.done as f64 / p.total as f64
        } else {
            1.0
        };
        SyncState {
            progress,
            synced: !p.active,
            height,
            // Without peers the local chain is the best one known.
            target_height: height.max(p.best_peer_height),
        }
    }

    fn stratum_counters(&self) -> StratumCounters {
        stratum_counters(self.handle.stratum().snapshot())
    }

    fn counters(&self) -> (ShareCounters, BlockCounters) {
        use std::sync::atomic::Ordering::Relaxed;
        let c = self.handle.counters();
        let (accepted, stale, rejected) = (
            c.blocks_accepted.load(Relaxed),
            c.blocks_stale.load(Relaxed),
            c.blocks_rejected.load(Relaxed),
        );
        (
            ShareCounters {
                accepted: c.shares_accepted.load(Relaxed),
                rejected: c.shares_rejected.load(Relaxed),
                from_peers: c.shares_from_peers.load(Relaxed),
                synced: c.shares_synced.load(Relaxed),
            },
            BlockCounters {
                found: accepted + stale + rejected,
                accepted,
                stale,
                rejected,
            },
        )
    }

    fn status_now(&self) -> Status {
        let snapshot = self.handle.snapshot();
        let spec = self.handle.spec();
        Status {
            name: self.handle.name().to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            chain: spec.name.to_owned(),
            consensus_id: spec.consensus_id().to_string(),
            uptime_secs: self.handle.uptime().as_secs(),
            coin: Coin {
                ticker: match spec.parent {
                    otedama_sharechain::ParentCoin::Bitcoin => "BTC",
                    otedama_sharechain::ParentCoin::Litecoin => "LTC",
                    otedama_sharechain::ParentCoin::Ravencoin => "RVN",
                }
                .to_owned(),
                decimals: 8,
            },
            sharechain: SharechainStatus {
                height: snapshot.tip.as_ref().map(|t| t.height),
                tip: snapshot.tip.as_ref().map(|t| t.hash.to_string()),
                shares: snapshot.shares as u64,
            },
            parent: ParentStatus {
                height: snapshot.parent_height,
                reachable: self.handle.parent_reachable(),
                template_age_secs: snapshot.template_at.map(|t| t.elapsed().as_secs()),
            },
            stratum: StratumStatus {
                address: self.handle.stratum_addr().to_string(),
                connections: self.handle.stratum().snapshot().connections,
                fee: self.handle.fee().map(|fee| PoolFee {
                    percentage: fee.percent(),
                    address: fee.address().to_owned(),
                }),
            },
            hashrate: self.hashrate_now(&snapshot),
            mining: Self::mining_state(self.handle.miner().status()),
            peers: self.handle.p2p().connected() as u64,
            p2p: P2pStatus {
                peer_id: self.handle.p2p().local_peer_id().to_string(),
                listen: self
                    .handle
                    .p2p()
                    .listen_addrs()
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
            },
            sync: self.sync(&snapshot),
            solo: None,
        }
    }
}

fn parse_peer(peer: &str) -> Result<libp2p::PeerId, ApiError> {
    peer.parse()
        .map_err(|e| ApiError::bad_request("invalid_peer_id", format!("{peer:?}: {e}")))
}

/// Answers a history query from `history`.
pub(super) async fn history(
    history: &crate::history::HistoryHandle,
    request: HistoryRequest,
) -> Result<History, ApiError> {
    let (series, resolution_secs) = history
        .query(request.series, request.range.secs())
        .await
        .map_err(|e| match e {
            HistoryError::Query(e) => query_error(e),
            HistoryError::Unknown(UnknownSeries(name)) => {
                ApiError::bad_request("invalid_query", unknown_series_message(&name))
            }
        })?;
    Ok(History {
        series,
        resolution_secs,
    })
}

/// Dials `address` (a multiaddr) on `p2p`.
pub(super) async fn dial(p2p: &crate::p2p::P2pHandle, address: String) -> Result<(), ApiError> {
    let addr: libp2p::Multiaddr = address
        .parse()
        .map_err(|e| ApiError::bad_request("invalid_address", format!("{address:?}: {e}")))?;
    p2p.dial(addr).await.map_err(|e| match e {
        crate::p2p::DialError::Unavailable => ApiError::unavailable("node_stopping", e.to_string()),
        crate::p2p::DialError::Refused(_) => ApiError::conflict("dial_failed", e.to_string()),
    })
}

fn network_busy() -> ApiError {
    ApiError::unavailable("node_busy", "the network task is not available")
}

/// Bans `peer` (a peer id) on `p2p` for `duration`.
pub(super) fn ban(
    p2p: &crate::p2p::P2pHandle,
    peer: &str,
    duration: Duration,
) -> Result<(), ApiError> {
    let id = parse_peer(peer)?;
    p2p.ban(id, duration).then_some(()).ok_or_else(network_busy)
}

/// Lifts a ban of `peer` on `p2p`.
pub(super) fn unban(p2p: &crate::p2p::P2pHandle, peer: &str) -> Result<(), ApiError> {
    let id = parse_peer(peer)?;
    p2p.unban(id).then_some(()).ok_or_else(network_busy)
}

impl NodeApi for NodeApiAdapter {
    fn status(&self) -> ApiFuture<'_, Status> {
        Box::pin(async move { Ok(self.status_now()) })
    }

    fn stats(&self) -> ApiFuture<'_, Stats> {
        Box::pin(async move {
            let snapshot = self.handle.snapshot();
            let (shares, blocks) = self.counters();
            Ok(Stats {
                uptime_secs: self.handle.uptime().as_secs(),
                stratum: self.stratum_counters(),
                shares,
                blocks,
                hashrate: self.hashrate_now(&snapshot),
                miner: self.handle.miner().stats().map(|m| MinerInfo {
                    hashrate: m.hashrate,
                    hashes: m.hashes,
                    accepted: m.accepted,
                    rejected: m.rejected,
                    stale: m.stale,
                    pool: m.pool,
                    connected: m.connected,
                    difficulty: m.difficulty,
                    hardware_errors: m.hardware_errors,
                    devices: self.handle.miner().devices(),
                }),
            })
        })
    }

    fn workers(&self) -> ApiFuture<'_, Vec<Worker>> {
        Box::pin(async move {
            Ok(self
                .handle
                .workers()
                .rows(Instant::now())
                .into_iter()
                .map(worker_dto)
                .collect())
        })
    }

    fn peers(&self) -> ApiFuture<'_, Vec<Peer>> {
        Box::pin(async move {
            Ok(self
                .handle
                .p2p()
                .peers()
                .await
                .into_iter()
                .map(peer_dto)
                .collect())
        })
    }

    fn shares(&self, page: PageRequest) -> ApiFuture<'_, SharePage> {
        Box::pin(async move {
            let data = self
                .handle
                .shares(page.index, page.per_page)
                .await
                .map_err(query_error)?;
            let spec = self.handle.spec();
            Ok(SharePage {
                page: page.index + 1,
                per_page: page.per_page,
                total: data.total,
                shares: data
                    .rows
                    .iter()
                    .map(|r| ShareEntry {
                        hash: r.hash.to_string(),
                        height: r.height,
                        time: u64::from(r.time),
                        address: script_to_address(&r.payout, spec),
                        script: hex::encode(r.payout.as_bytes()),
                        difficulty: self.difficulty(r.share_target),
                        uncles: r.uncles as u64,
                        parent_block: r.parent_block.to_string(),
                    })
                    .collect(),
            })
        })
    }

    fn payouts(&self, finder: Option<String>) -> ApiFuture<'_, Payouts> {
        Box::pin(async move {
            let finder = match finder {
                Some(a) => Some(parse_address(a.trim(), self.handle.spec()).map_err(|e| {
                    ApiError::bad_request("invalid_address", format!("finder {a:?}: {e}"))
                })?),
                None => None,
            };
            let expected = self
                .handle
                .expected_payouts(finder)
                .await
                .map_err(query_error)?;
            Ok(Payouts {
                tip: expected.tip.map(|t| t.to_string()),
                block_height: expected.block_height,
                reward_sat: expected.reward.to_sat(),
                expected: expected
                    .payouts
                    .iter()
                    .map(|(s, a)| self.payout(s, *a))
                    .collect(),
                coinbase: expected.coinbase.map(hex::encode),
                blocks: self
                    .handle
                    .blocks()
                    .newest_first()
                    .iter()
                    .map(|r| self.found_block(r))
                    .collect(),
            })
        })
    }

    fn chain(&self) -> ApiFuture<'_, ChainInfo> {
        Box::pin(async move {
            let snapshot = self.handle.snapshot();
            let spec = self.handle.spec();
            Ok(ChainInfo {
                spec: spec.name.to_owned(),
                consensus_id: spec.consensus_id().to_string(),
                algorithm: spec.algorithm.to_string(),
                height: snapshot.tip.as_ref().map(|t| t.height),
                tip: snapshot.tip.as_ref().map(|t| t.hash.to_string()),
                tip_time: snapshot.tip.as_ref().map(|t| u64::from(t.time)),
                chain_work: snapshot
                    .tip
                    .as_ref()
                    .map(|t| format!("{:032x}", t.chain_work)),
                share_difficulty: self.difficulty(snapshot.next_share_target),
                share_target: format!("{:08x}", snapshot.next_share_target.to_consensus()),
                share_period_secs: spec.share_period_secs,
                window_max_shares: spec.window_max_shares,
                shares: snapshot.shares as u64,
                sync: self.sync(&snapshot),
            })
        })
    }

    fn miner(&self, address: String) -> ApiFuture<'_, MinerView> {
        Box::pin(async move {
            let spec = self.handle.spec();
            let script = parse_address(address.trim(), spec).map_err(|e| {
                ApiError::bad_request("invalid_address", format!("{address:?}: {e}"))
            })?;
            let data = self
                .handle
                .miner_view(script.clone())
                .await
                .map_err(query_error)?;
            let address = script_to_address(&script, spec).unwrap_or(address);
            let workers = self
                .handle
                .workers()
                .rows(Instant::now())
                .into_iter()
                .map(worker_dto)
                .filter(|w| w.address == address)
                .collect();
            let payouts = self
                .handle
                .blocks()
                .payouts_to(&script)
                .into_iter()
                .map(|p| MinerPayout {
                    height: p.height,
                    hash: p.hash,
                    time: p.time,
                    status: block_status(p.outcome),
                    chain: on_chain(spec, p.chain.as_ref()),
                    amount_sat: p.amount.to_sat(),
                })
                .collect();
            Ok(super::miner::view(super::miner::Inputs {
                shape: super::miner::ChainShape::of(spec),
                address,
                data: super::miner::MinerData {
                    tip: data.tip.map(|t| t.to_string()),
                    window: data.window,
                    block_height: data.block_height,
                    reward: data.reward.to_sat(),
                    amount: data.amount.to_sat(),
                    parent_work: data.parent_work,
                },
                workers,
                payouts,
                pool_hashrate: self.handle.snapshot().pool_hashrate(unix_now()),
            }))
        })
    }

    fn history(&self, request: HistoryRequest) -> ApiFuture<'_, History> {
        Box::pin(history(self.handle.history(), request))
    }

    fn start_mining(&self) -> ApiFuture<'_, (MiningState, bool)> {
        Box::pin(async move {
            let changed = self.handle.miner().start().await.map_err(|e| match e {
                MiningError::NotConfigured(m) => ApiError::conflict("mining_not_configured", m),
                MiningError::Start(e) => {
                    tracing::error!(target: "otedama::api", error = %e, "cannot start the built-in miner");
                    ApiError::server(
                        "mining_failed",
                        "the built-in miner failed to start; see the node's log",
                    )
                }
            })?;
            Ok((Self::mining_state(self.handle.miner().status()), changed))
        })
    }

    fn stop_mining(&self) -> ApiFuture<'_, (MiningState, bool)> {
        Box::pin(async move {
            let changed = self.handle.miner().stop().await;
            Ok((Self::mining_state(self.handle.miner().status()), changed))
        })
    }

    fn dial_peer(&self, address: String) -> ApiFuture<'_, ()> {
        Box::pin(dial(self.handle.p2p(), address))
    }

    fn ban_peer(&self, peer: String, duration: Duration) -> ApiFuture<'_, ()> {
        Box::pin(async move { ban(self.handle.p2p(), &peer, duration) })
    }

    fn unban_peer(&self, peer: String) -> ApiFuture<'_, ()> {
        Box::pin(async move { unban(self.handle.p2p(), &peer) })
    }

    fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    fn identity(&self) -> (String, String, String) {
        (
            self.handle.name().to_owned(),
            env!("CARGO_PKG_VERSION").to_owned(),
            self.handle.spec().name.to_owned(),
        )
    }

    fn hashrate(&self) -> Hashrate {
        self.hashrate_now(&self.handle.snapshot())
    }

    fn sync_state(&self) -> SyncState {
        self.sync(&self.handle.snapshot())
    }

    fn metrics(&self) -> MetricsSnapshot {
        let snapshot = self.handle.snapshot();
        let (shares, blocks) = self.counters();
        MetricsSnapshot {
            hashrate: self.hashrate_now(&snapshot),
            stratum: self.stratum_counters(),
            shares,
            blocks,
            peers: self.handle.p2p().connected() as u64,
            sharechain_height: snapshot.tip.as_ref().map(|t| t.height),
            mining: self.handle.miner().status().running,
            uptime_secs: self.handle.uptime().as_secs(),
            devices: self.handle.miner().devices(),
        }
    }

    fn readiness(&self) -> Readiness {
        let snapshot = self.handle.snapshot();
        let mut reasons = Vec::new();
        if !snapshot.running {
            reasons.push("the share store is closed (the coordinator stopped)".to_owned());
        } else if !snapshot.store_ok {
            reasons.push("the last write to the share store failed".to_owned());
        }
        match snapshot.template_at {
            None => reasons.push("no block template from the parent daemons yet".to_owned()),
            Some(at) if at.elapsed() > READY_TEMPLATE_AGE => reasons.push(format!(
                "the last block template is {} s old",
                at.elapsed().as_secs()
            )),
            Some(_) => {}
        }
        if !self.handle.parent_reachable() && snapshot.template_at.is_some() {
            reasons.push("the parent daemons do not answer".to_owned());
        }
        Readiness::from_reasons(reasons)
    }
}
