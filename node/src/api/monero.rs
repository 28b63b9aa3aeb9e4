//! [`MoneroApiAdapter`]: [`NodeApi`] over a Monero sidechain node, so that the same API,
//! dashboard, metrics and CLI serve both parent families. Amounts are atomic units
//! (the `_sat` fields hold base units of whichever coin the chain pays).

use super::adapter::{ban, dial, history, query_error, stratum_counters, unban};
use super::events::{on_chain_with, peer_dto};
use crate::mining::PoolMiner;
use crate::monero::query::{self, Query};
use crate::monero::{BlockRecord, MoneroHandle, MoneroStatus};
use crate::unix_now;
use otedama_rpc::{
    ApiError, ApiFuture, BlockCounters, BlockStatus, ChainInfo, Coin, Event, FoundBlock, Hashrate,
    History, HistoryRequest, MetricsSnapshot, MinerView, MiningState, NodeApi, OnChain, P2pStatus,
    PageRequest, ParentStatus, PayoutEntry, Payouts, Peer, Readiness, ShareCounters, ShareEntry,
    SharePage, SharechainStatus, Stats, Status, StratumStatus, SyncState, Worker,
};
use otedama_sharechain::monero::Wallet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// The algorithm's name in the API.
const ALGORITHM: &str = "randomx";

/// [`NodeApi`] over a running Monero sidechain node.
#[derive(Clone)]
pub struct MoneroApiAdapter {
    node: MoneroHandle,
    name: String,
    miner: Option<Arc<PoolMiner>>,
}

impl MoneroApiAdapter {
    /// Wraps `node`, named `name`; `miner` is the built-in miner the API may start and
    /// stop (`None`: no miner is configured).
    pub fn new(node: MoneroHandle, name: String, miner: Option<Arc<PoolMiner>>) -> Arc<Self> {
        Arc::new(Self { node, name, miner })
    }

    fn parse_wallet(address: &str) -> Result<Wallet, ApiError> {
        crate::monero::parse_wallet(address)
            .map_err(|e| ApiError::bad_request("invalid_address", format!("{address:?}: {e}")))
    }

    fn miner_hashrate(&self) -> f64 {
        self.miner.as_ref().map_or(0.0, |m| m.state().hashrate)
    }

    fn hashrate_now(&self) -> Hashrate {
        Hashrate {
            pool: self.node.pool_hashrate(unix_now()),
            local: self.node.workers.total_hashrate(Instant::now()),
            miner: self.miner_hashrate(),
        }
    }

    fn mining_state(&self) -> MiningState {
        super::pool_mining_state(self.miner.as_ref())
    }

    fn sync(status: &MoneroStatus) -> SyncState {
        SyncState {
            progress: 1.0,
            synced: true,
            height: status.tip_height,
            target_height: status.tip_height,
        }
    }

    fn counters(status: &MoneroStatus) -> (ShareCounters, BlockCounters) {
        let accepted = status.blocks.iter().filter(|b| b.accepted).count() as u64;
        let found = status.blocks.len() as u64;
        (
            ShareCounters {
                accepted: status.accepted,
                rejected: status.rejected,
                from_peers: status.from_peers,
                synced: status.synced,
            },
            BlockCounters {
                found,
                accepted,
                stale: 0,
                rejected: found - accepted,
            },
        )
    }

    fn peers_connected(&self) -> u64 {
        self.node.mesh.as_ref().map_or(0, |m| m.connected() as u64)
    }

    fn no_mesh() -> ApiError {
        ApiError::conflict("dial_failed", "this node runs without the mesh")
    }
}

/// The API's form of a block a Monero node found.
pub(crate) fn monero_found_block(r: &BlockRecord) -> FoundBlock {
    FoundBlock {
        height: u32::try_from(r.height).unwrap_or(u32::MAX),
        hash: r.id.clone(),
        share: r.share.clone(),
        time: r.time,
        status: if r.accepted {
            BlockStatus::Accepted
        } else {
            BlockStatus::Rejected
        },
        payouts: r
            .payouts
            .iter()
            .zip(&r.outputs)
            .map(|((address, amount), (key, _))| PayoutEntry {
                address: Some(address.clone()),
                script: key.clone(),
                amount_sat: *amount,
            })
            .collect(),
        chain: on_chain(r),
    }
}

/// Where a Monero block stands; its miner transaction unlocks after 60 blocks. Its
/// outputs are one-time keys: no address is read from them.
fn on_chain(r: &BlockRecord) -> OnChain {
    on_chain_with(r.chain.as_ref(), crate::monero::MONERO_MATURITY, |_| None)
}

impl NodeApi for MoneroApiAdapter {
    fn status(&self) -> ApiFuture<'_, Status> {
        Box::pin(async move {
            let s = self.node.status();
            let params = self.node.params();
            Ok(Status {
                name: self.name.clone(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
                chain: params.name.clone(),
                consensus_id: params.consensus_id.to_string(),
                uptime_secs: self.node.started.elapsed().as_secs(),
                coin: Coin {
                    ticker: "XMR".to_owned(),
                    decimals: 12,
                },
                sharechain: SharechainStatus {
                    height: s.tip_height,
                    tip: s.tip.clone(),
                    shares: s.shares as u64,
                },
                parent: ParentStatus {
                    height: s
                        .monero_height
                        .map(|h| u32::try_from(h.saturating_sub(1)).unwrap_or(u32::MAX)),
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
                peers: self.peers_connected(),
                p2p: self
                    .node
                    .mesh
                    .as_ref()
                    .map(|m| P2pStatus {
                        peer_id: m.local_peer_id().to_string(),
                        listen: m.listen_addrs().iter().map(ToString::to_string).collect(),
                    })
                    .unwrap_or_default(),
                sync: Self::sync(&s),
                solo: None,
            })
        })
    }

    fn stats(&self) -> ApiFuture<'_, Stats> {
        Box::pin(async move {
            let s = self.node.status();
            let (shares, blocks) = Self::counters(&s);
            Ok(Stats {
                uptime_secs: self.node.started.elapsed().as_secs(),
                stratum: stratum_counters(self.node.stratum.snapshot()),
                shares,
                blocks,
                hashrate: self.hashrate_now(),
                miner: self
                    .miner
                    .as_ref()
                    .map(|m| m.state().miner_info(s.share_difficulty.unwrap_or(0) as f64)),
            })
        })
    }

    fn workers(&self) -> ApiFuture<'_, Vec<Worker>> {
        Box::pin(async move { Ok(super::adapter::worker_list(&self.node.workers)) })
    }

    fn peers(&self) -> ApiFuture<'_, Vec<Peer>> {
        Box::pin(async move {
            Ok(match &self.node.mesh {
                Some(m) => m.peers().await.into_iter().map(peer_dto).collect(),
                None => Vec::new(),
            })
        })
    }

    fn shares(&self, page: PageRequest) -> ApiFuture<'_, SharePage> {
        Box::pin(async move {
            let data = self
                .node
                .ask(|reply| Query::Shares {
                    index: page.index,
                    per_page: page.per_page,
                    reply,
                })
                .await
                .map_err(query_error)?;
            Ok(SharePage {
                page: page.index + 1,
                per_page: page.per_page,
                total: data.total,
                shares: data
                    .rows
                    .iter()
                    .map(|r| ShareEntry {
                        hash: r.id.to_string(),
                        height: r.height,
                        time: r.timestamp,
                        address: Some(query::address(&r.wallet)),
                        script: format!("{}{}", r.wallet.spend(), r.wallet.view()),
                        difficulty: r.difficulty as f64,
                        uncles: r.uncles as u64,
                        parent_block: r.prev_id.to_string(),
                    })
                    .collect(),
            })
        })
    }

    fn payouts(&self, finder: Option<String>) -> ApiFuture<'_, Payouts> {
        Box::pin(async move {
            let finder = match finder {
                Some(a) => Some(Self::parse_wallet(&a)?),
                None => None,
            };
            let expected = self
                .node
                .ask(|reply| Query::Expected { finder, reply })
                .await
                .map_err(query_error)?;
            let s = self.node.status();
            Ok(Payouts {
                tip: expected.tip.map(|t| t.to_string()),
                block_height: expected
                    .monero_height
                    .map(|h| u32::try_from(h).unwrap_or(u32::MAX)),
                reward_sat: expected.reward,
                expected: expected
                    .payouts
                    .iter()
                    .map(|(w, amount)| PayoutEntry {
                        address: Some(query::address(w)),
                        script: format!("{}{}", w.spend(), w.view()),
                        amount_sat: *amount,
                    })
                    .collect(),
                coinbase: None,
                blocks: s.blocks.iter().rev().map(monero_found_block).collect(),
            })
        })
    }

    fn chain(&self) -> ApiFuture<'_, ChainInfo> {
        Box::pin(async move {
            let s = self.node.status();
            let params = self.node.params();
            let difficulty = s.share_difficulty.unwrap_or(0);
            Ok(ChainInfo {
                spec: params.name.clone(),
                consensus_id: params.consensus_id.to_string(),
                algorithm: ALGORITHM.to_owned(),
                height: s.tip_height,
                tip: s.tip.clone(),
                tip_time: s.tip_timestamp,
                chain_work: s.chain_work.map(|w| format!("{w:032x}")),
                share_difficulty: difficulty as f64,
                share_target: otedama_stratum::xmrig::target_hex(difficulty.max(1)),
                share_period_secs: params.block_time,
                window_max_shares: u32::try_from(params.window).unwrap_or(u32::MAX),
                shares: s.shares as u64,
                sync: Self::sync(&s),
            })
        })
    }

    fn miner(&self, address: String) -> ApiFuture<'_, MinerView> {
        Box::pin(async move {
            let wallet = Self::parse_wallet(&address)?;
            let facts = self
                .node
                .ask(|reply| Query::Miner { wallet, reply })
                .await
                .map_err(query_error)?;
            let address = query::address(&wallet);
            let workers = super::miner::workers_of(&self.node.workers, &address);
            let status = self.node.status();
            let payouts = status
                .blocks
                .iter()
                .rev()
                .filter_map(|b| super::miner::paid_to(monero_found_block(b), &address))
                .collect();
            let params = self.node.params();
            Ok(super::miner::view(super::miner::Inputs {
                shape: super::miner::ChainShape {
                    name: params.name.clone(),
                    share_period_secs: params.block_time,
                    window_max_shares: u32::try_from(params.window).unwrap_or(u32::MAX),
                },
                address,
                data: super::miner::MinerData {
                    tip: facts.expected.tip.map(|t| t.to_string()),
                    window: facts.window,
                    block_height: facts
                        .expected
                        .monero_height
                        .map(|h| u32::try_from(h).unwrap_or(u32::MAX)),
                    reward: facts.expected.reward,
                    amount: facts.amount,
                    parent_work: facts.monero_difficulty,
                },
                workers,
                payouts,
                pool_hashrate: self.node.pool_hashrate(unix_now()),
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

    fn dial_peer(&self, address: String) -> ApiFuture<'_, ()> {
        Box::pin(async move {
            match &self.node.mesh {
                Some(m) => dial(m, address).await,
                None => Err(Self::no_mesh()),
            }
        })
    }

    fn ban_peer(&self, peer: String, duration: Duration) -> ApiFuture<'_, ()> {
        Box::pin(async move {
            match &self.node.mesh {
                Some(m) => ban(m, &peer, duration),
                None => Err(Self::no_mesh()),
            }
        })
    }

    fn unban_peer(&self, peer: String) -> ApiFuture<'_, ()> {
        Box::pin(async move {
            match &self.node.mesh {
                Some(m) => unban(m, &peer),
                None => Err(Self::no_mesh()),
            }
        })
    }

    fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.node.events.subscribe()
    }

    fn identity(&self) -> (String, String, String) {
        (
            self.name.clone(),
            env!("CARGO_PKG_VERSION").to_owned(),
            self.node.params().name.clone(),
        )
    }

    fn hashrate(&self) -> Hashrate {
        self.hashrate_now()
    }

    fn sync_state(&self) -> SyncState {
        Self::sync(&self.node.status())
    }

    fn metrics(&self) -> MetricsSnapshot {
        let s = self.node.status();
        let (shares, blocks) = Self::counters(&s);
        MetricsSnapshot {
            hashrate: self.hashrate_now(),
            stratum: stratum_counters(self.node.stratum.snapshot()),
            shares,
            blocks,
            peers: self.peers_connected(),
            sharechain_height: s.tip_height,
            mining: self.mining_state().running,
            uptime_secs: self.node.started.elapsed().as_secs(),
            devices: Vec::new(),
        }
    }

    fn readiness(&self) -> Readiness {
        let s = self.node.status();
        let mut reasons = Vec::new();
        match s.job_at {
            None => reasons.push("no block template from monerod yet".to_owned()),
            Some(at) if at.elapsed() > super::READY_TEMPLATE_AGE => reasons.push(format!(
                "the last block template is {} s old",
                at.elapsed().as_secs()
            )),
            Some(_) => {}
        }
        if s.job_at.is_some() && s.share_difficulty.is_none() {
            reasons.push("no share template: the sidechain window is incomplete".to_owned());
        }
        if !self.node.reachable.load(Ordering::Relaxed) && s.job_at.is_some() {
            reasons.push("monerod does not answer".to_owned());
        }
        Readiness::from_reasons(reasons)
    }
}
