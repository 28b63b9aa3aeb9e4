//! [`EtcApiAdapter`]: [`NodeApi`] over a solo Ethereum Classic node. It has no
//! sharechain, no split and no mesh, and says so: `status.solo` names the one
//! beneficiary, the share and peer lists are empty, and peer actions are refused.
//! Amounts are wei (the `_sat` fields hold base units of whichever coin the chain pays).

use super::adapter::{history, stratum_counters};
use super::events::{block_status, on_chain_with};
use crate::etc::{EtcHandle, block_reward};
use crate::mining::PoolMiner;
use crate::tracker::BlockRecord;
use otedama_rpc::{
    ApiError, ApiFuture, BlockCounters, ChainInfo, Coin, Event, FoundBlock, Hashrate, History,
    HistoryRequest, MetricsSnapshot, MinerView, MiningState, NodeApi, PageRequest, ParentStatus,
    PayoutEntry, Payouts, Peer, Readiness, ShareCounters, SharePage, SharechainStatus, Solo, Stats,
    Status, StratumStatus, SyncState, Worker,
};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// Why the chain is mined solo, as `status.solo.reason` says it.
pub const SOLO_REASON: &str = "An Ethereum Classic block has one beneficiary and 32 bytes of \
    extra data, so no coinbase can pay a PPLNS split: every block this node seals pays core-geth's \
    etherbase. Shares only measure the miners' hashrate.";

/// [`NodeApi`] over a running solo Ethereum Classic node.
#[derive(Clone)]
pub struct EtcApiAdapter {
    node: EtcHandle,
    name: String,
    miner: Option<Arc<PoolMiner>>,
}

/// The API's form of a block a solo node sealed. Its `hash` is the sealing hash
/// `eth_getWork` named, its `share` the seal (nonce, then mix digest).
pub(crate) fn etc_found_block(r: &BlockRecord) -> FoundBlock {
    FoundBlock {
        height: r.height,
        hash: r.hash.clone(),
        share: r.share.clone(),
        time: r.time,
        status: block_status(r.outcome),
        payouts: r
            .payouts
            .iter()
            .map(|(address, wei)| PayoutEntry {
                address: Some(address.clone()),
                script: address.clone(),
                amount_sat: *wei,
            })
            .collect(),
        // No coinbase lock: a confirmed block's reward can be spent at once.
        chain: on_chain_with(r.chain.as_ref(), 1, |a| Some(a.to_owned())),
    }
}

impl EtcApiAdapter {
    /// Wraps `node`, named `name`; `miner` is the built-in miner the API may start and
    /// stop (`None`: no miner is configured).
    pub fn new(node: EtcHandle, name: String, miner: Option<Arc<PoolMiner>>) -> Arc<Self> {
        Arc::new(Self { node, name, miner })
    }

    fn hashrate_now(&self) -> Hashrate {
        let local = self.node.workers.total_hashrate(Instant::now());
        Hashrate {
            // Solo: the pool is this node's miners.
            pool: local,
            local,
            miner: self.miner.as_ref().map_or(0.0, |m| m.state().hashrate),
        }
    }

    fn mining_state(&self) -> MiningState {
        super::pool_mining_state(self.miner.as_ref())
    }

    fn sync(&self) -> SyncState {
        let height = self.node.status.borrow().tip_height();
        SyncState {
            progress: 1.0,
            synced: true,
            height,
            target_height: height,
        }
    }

    fn counters(&self) -> (ShareCounters, BlockCounters) {
        let stratum = self.node.stratum.snapshot();
        let blocks = self.node.blocks();
        let accepted = blocks
            .iter()
            .filter(|b| b.outcome == crate::tracker::BlockOutcome::Accepted)
            .count() as u64;
        let found = blocks.len() as u64;
        (
            ShareCounters {
                accepted: stratum.accepted,
                rejected: stratum.rejected_stale
                    + stratum.rejected_duplicate
                    + stratum.rejected_low_difficulty
                    + stratum.rejected_other,
                from_peers: 0,
                synced: 0,
            },
            BlockCounters {
                found,
                accepted,
                stale: 0,
                rejected: found - accepted,
            },
        )
    }

    fn no_mesh() -> ApiError {
        ApiError::conflict(
            "no_mesh",
            "a solo Ethereum Classic node has no sharechain mesh",
        )
    }
}

impl NodeApi for EtcApiAdapter {
    fn status(&self) -> ApiFuture<'_, Status> {
        Box::pin(async move {
            let s = self.node.status();
            Ok(Status {
                name: self.name.clone(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
                chain: self.node.chain.name.to_owned(),
                consensus_id: String::new(),
                uptime_secs: self.node.started.elapsed().as_secs(),
                coin: Coin {
                    ticker: "ETC".to_owned(),
                    decimals: 18,
                },
                sharechain: SharechainStatus {
                    height: None,
                    tip: None,
                    shares: 0,
                },
                parent: ParentStatus {
                    height: s.tip_height().map(|h| u32::try_from(h).unwrap_or(u32::MAX)),
                    reachable: self.node.reachable.load(Ordering::Relaxed),
                    template_age_secs: s.job_at.map(|t| t.elapsed().as_secs()),
                },
                stratum: StratumStatus {
                    address: self.node.stratum_addr.to_string(),
                    connections: self.node.stratum.snapshot().connections,
                    fee: None,
                },
                hashrate: self.hashrate_now(),
                mining: self.mining_state(),
                peers: 0,
                p2p: Default::default(),
                sync: self.sync(),
                solo: Some(Solo {
                    beneficiary: s.etherbase,
                    reason: SOLO_REASON.to_owned(),
                }),
            })
        })
    }

    fn stats(&self) -> ApiFuture<'_, Stats> {
        Box::pin(async move {
            let (shares, blocks) = self.counters();
            Ok(Stats {
                uptime_secs: self.node.started.elapsed().as_secs(),
                stratum: stratum_counters(self.node.stratum.snapshot()),
                shares,
                blocks,
                hashrate: self.hashrate_now(),
                miner: self.miner.as_ref().map(|m| {
                    let work = self.node.status().work;
                    m.state().miner_info(work.map_or(0.0, |w| {
                        otedama_stratum::dag::boundary_to_difficulty(&w.boundary)
                    }))
                }),
            })
        })
    }

    fn workers(&self) -> ApiFuture<'_, Vec<Worker>> {
        Box::pin(async move { Ok(super::adapter::worker_list(&self.node.workers)) })
    }

    fn peers(&self) -> ApiFuture<'_, Vec<Peer>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    fn shares(&self, page: PageRequest) -> ApiFuture<'_, SharePage> {
        Box::pin(async move {
            Ok(SharePage {
                page: page.index + 1,
                per_page: page.per_page,
                total: 0,
                shares: Vec::new(),
            })
        })
    }

    fn payouts(&self, _finder: Option<String>) -> ApiFuture<'_, Payouts> {
        Box::pin(async move {
            let s = self.node.status();
            let height = s.work.map(|w| w.height);
            let reward = height.map_or(0, block_reward);
            Ok(Payouts {
                tip: None,
                block_height: height.map(|h| u32::try_from(h).unwrap_or(u32::MAX)),
                reward_sat: reward,
                // Whoever seals it, the next block pays the etherbase alone.
                expected: s
                    .etherbase
                    .map(|a| PayoutEntry {
                        address: Some(a.clone()),
                        script: a,
                        amount_sat: reward,
                    })
                    .into_iter()
                    .collect(),
                coinbase: None,
                blocks: self.node.blocks().iter().map(etc_found_block).collect(),
            })
        })
    }

    fn chain(&self) -> ApiFuture<'_, ChainInfo> {
        Box::pin(async move {
            let s = self.node.status();
            Ok(ChainInfo {
                spec: self.node.chain.name.to_owned(),
                consensus_id: String::new(),
                algorithm: "etchash".to_owned(),
                height: None,
                tip: None,
                tip_time: None,
                chain_work: None,
                share_difficulty: 0.0,
                share_target: s.work.map(|w| hex::encode(w.boundary)).unwrap_or_default(),
                share_period_secs: self.node.chain.block_time,
                window_max_shares: 0,
                shares: 0,
                sync: self.sync(),
            })
        })
    }

    fn miner(&self, address: String) -> ApiFuture<'_, MinerView> {
        Box::pin(async move {
            let address = crate::parent::geth::normalize_address(&address).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_address",
                    format!("{address:?} is not an Ethereum Classic address"),
                )
            })?;
            let workers = super::miner::workers_of(&self.node.workers, &address);
            let payouts = self
                .node
                .blocks()
                .iter()
                .filter_map(|b| super::miner::paid_to(etc_found_block(b), &address))
                .collect();
            let s = self.node.status();
            let height = s.work.map(|w| w.height);
            let reward = height.map_or(0, block_reward);
            Ok(super::miner::view(super::miner::Inputs {
                shape: super::miner::ChainShape {
                    name: self.node.chain.name.to_owned(),
                    share_period_secs: self.node.chain.block_time,
                    window_max_shares: 0,
                },
                data: super::miner::MinerData {
                    block_height: height.map(|h| u32::try_from(h).unwrap_or(u32::MAX)),
                    reward,
                    amount: if s.etherbase.as_deref() == Some(address.as_str()) {
                        reward
                    } else {
                        0
                    },
                    ..Default::default()
                },
                address,
                workers,
                payouts,
                pool_hashrate: self.hashrate_now().pool,
            }))
        })
    }

    fn history(&self, request: HistoryRequest) -> ApiFuture<'_, History> {
        Box::pin(history(&self.node.history, request))
    }

    fn start_mining(&self) -> ApiFuture<'_, (MiningState, bool)> {
        Box::pin(async move { super::start_pool_miner(self.miner.as_ref()) })
    }

    fn stop_mining(&self) -> ApiFuture<'_, (MiningState, bool)> {
        Box::pin(async move { Ok(super::stop_pool_miner(self.miner.as_ref()).await) })
    }

    fn dial_peer(&self, _address: String) -> ApiFuture<'_, ()> {
        Box::pin(async { Err(Self::no_mesh()) })
    }

    fn ban_peer(&self, _peer: String, _duration: Duration) -> ApiFuture<'_, ()> {
        Box::pin(async { Err(Self::no_mesh()) })
    }

    fn unban_peer(&self, _peer: String) -> ApiFuture<'_, ()> {
        Box::pin(async { Err(Self::no_mesh()) })
    }

    fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.node.events.subscribe()
    }

    fn identity(&self) -> (String, String, String) {
        (
            self.name.clone(),
            env!("CARGO_PKG_VERSION").to_owned(),
            self.node.chain.name.to_owned(),
        )
    }

    fn hashrate(&self) -> Hashrate {
        self.hashrate_now()
    }

    fn sync_state(&self) -> SyncState {
        self.sync()
    }

    fn metrics(&self) -> MetricsSnapshot {
        let (shares, blocks) = self.counters();
        MetricsSnapshot {
            hashrate: self.hashrate_now(),
            stratum: stratum_counters(self.node.stratum.snapshot()),
            shares,
            blocks,
            peers: 0,
            sharechain_height: None,
            mining: self.mining_state().running,
            uptime_secs: self.node.started.elapsed().as_secs(),
            devices: Vec::new(),
        }
    }

    fn readiness(&self) -> Readiness {
        let s = self.node.status();
        let mut reasons = Vec::new();
        if let Some(why) = &s.refused {
            reasons.push(why.clone());
        }
        // Work changes only with new blocks and transactions: its age says nothing, the
        // follower's last poll does (it clears `reachable` when a poll fails).
        if s.job_at.is_none() {
            reasons.push("no work from core-geth yet".to_owned());
        } else if !self.node.reachable.load(Ordering::Relaxed) {
            reasons.push("core-geth does not answer".to_owned());
        }
        if s.etherbase.is_none() {
            reasons.push("core-geth has no etherbase".to_owned());
        }
        Readiness::from_reasons(reasons)
    }
}
