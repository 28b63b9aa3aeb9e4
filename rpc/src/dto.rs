//! The API's data: what every endpoint and WebSocket message carries, as JSON.
//!
//! Hashes are lowercase hex in display byte order (as block explorers show them), amounts
//! are integer base units (satoshis or litoshis) in fields ending in `_sat`, times are Unix
//! seconds, and hashrates are hashes per second of the chain's proof of work.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// `GET /api/status`: the node at a glance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Status {
    /// The node's name (`app.name`).
    pub name: String,
    /// The software version.
    pub version: String,
    /// The chain spec, e.g. `ltc-main`.
    pub chain: String,
    /// The chain spec's consensus id (hex): nodes with another id never talk to this one.
    pub consensus_id: String,
    /// Seconds since the node started.
    pub uptime_secs: u64,
    /// The local sharechain.
    pub sharechain: SharechainStatus,
    /// The parent chain as the node's daemons report it.
    pub parent: ParentStatus,
    /// The Stratum server.
    pub stratum: StratumStatus,
    /// Hashrate estimates.
    pub hashrate: Hashrate,
    /// The built-in miner.
    pub mining: MiningState,
    /// Connected sharechain peers.
    pub peers: u64,
    /// Sharechain sync progress.
    pub sync: SyncState,
}

/// The local sharechain in [`Status`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SharechainStatus {
    /// Height of the best tip; `null` while the chain is empty.
    pub height: Option<u64>,
    /// Hash of the best tip.
    pub tip: Option<String>,
    /// Shares held in memory (main chain, side branches and uncles, after pruning).
    pub shares: u64,
}

/// The parent chain in [`Status`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ParentStatus {
    /// Height of the parent chain's tip (the current template builds on it).
    pub height: Option<u32>,
    /// Whether the last call to the parent daemons succeeded.
    pub reachable: bool,
    /// Seconds since the last block template arrived.
    pub template_age_secs: Option<u64>,
}

/// The Stratum server in [`Status`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StratumStatus {
    /// The listen address.
    pub address: String,
    /// Miner connections open now.
    pub connections: u64,
}

/// Hashrate estimates, in hashes per second.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Hashrate {
    /// The whole pool: work of the sharechain's recent main-chain shares over time.
    pub pool: f64,
    /// This node's Stratum workers: work of their recent accepted shares over time.
    pub local: f64,
    /// The built-in miner, as it measures itself (0 when it is stopped).
    pub miner: f64,
}

/// The built-in miner's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MiningState {
    /// Whether it is running now.
    pub running: bool,
    /// Whether it can run: a payout address is set and the algorithm has a CPU backend.
    pub configured: bool,
    /// The address it mines to, when configured.
    pub payout_address: Option<String>,
    /// Why it cannot run, when it is not configured.
    pub detail: Option<String>,
}

/// Sharechain sync progress from peers: `synced` with progress 1 when no sync runs
/// (docs/protocol.md).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SyncState {
    /// 0 to 1.
    pub progress: f64,
    /// Whether the node holds the best chain it knows of.
    pub synced: bool,
    /// Local best height.
    pub height: Option<u64>,
    /// Best height announced by peers (the local height without peers).
    pub target_height: Option<u64>,
}

/// `GET /api/stats`: counters since the node started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Stats {
    /// Seconds since the node started.
    pub uptime_secs: u64,
    /// Stratum submissions, checked against each session's difficulty.
    pub stratum: StratumCounters,
    /// Shares (submissions meeting the share target) checked by sharechain validation.
    pub shares: ShareCounters,
    /// Parent blocks found by this node's miners.
    pub blocks: BlockCounters,
    /// Hashrate estimates.
    pub hashrate: Hashrate,
    /// The built-in miner's own counters while it runs.
    pub miner: Option<MinerInfo>,
}

/// Stratum server counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StratumCounters {
    /// Connections open now.
    pub connections: u64,
    /// Connections accepted since start.
    pub total_connections: u64,
    /// Connections refused by a connection cap.
    pub refused_connections: u64,
    /// Submissions accepted.
    pub accepted: u64,
    /// Submissions for unknown or outdated jobs.
    pub rejected_stale: u64,
    /// Repeated submissions.
    pub rejected_duplicate: u64,
    /// Submissions above the session target.
    pub rejected_low_difficulty: u64,
    /// Submissions rejected for another reason.
    pub rejected_other: u64,
    /// Accepted submissions that met the share target and went to the sharechain.
    pub shares_forwarded: u64,
    /// Such shares that were dropped because the node was overloaded.
    pub shares_dropped: u64,
}

/// Sharechain validation counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ShareCounters {
    /// Shares accepted into the sharechain.
    pub accepted: u64,
    /// Shares rejected by validation.
    pub rejected: u64,
    /// Peers' shares accepted as they were announced.
    #[serde(default)]
    pub from_peers: u64,
    /// Peers' shares accepted by sync (catching up, or filling a gap).
    #[serde(default)]
    pub synced: u64,
}

/// Blocks found, by what the parent daemons said.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BlockCounters {
    /// Blocks submitted.
    pub found: u64,
    /// Accepted onto a daemon's best chain.
    pub accepted: u64,
    /// Valid, but another block at the same height came first.
    pub stale: u64,
    /// Rejected by every daemon.
    pub rejected: u64,
}

/// The built-in miner's counters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MinerInfo {
    /// Hashes per second over the last ~10 s.
    pub hashrate: f64,
    /// Hashes computed since it started.
    pub hashes: u64,
    /// Submissions its pool accepted.
    pub accepted: u64,
    /// Submissions its pool rejected, stale ones excepted.
    pub rejected: u64,
    /// Submissions its pool rejected as stale.
    pub stale: u64,
    /// The pool URL in use.
    pub pool: Option<String>,
    /// Whether it is subscribed and authorized.
    pub connected: bool,
    /// Its current Stratum difficulty.
    pub difficulty: f64,
    /// Device candidates that failed the CPU re-check.
    #[serde(default)]
    pub hardware_errors: u64,
    /// Each mining device: local CPU, GPU and ASIC rigs, and network miners watched
    /// through their cgminer API.
    #[serde(default)]
    pub devices: Vec<MiningDevice>,
}

/// One mining device of this node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MiningDevice {
    /// Its name: "cpu", "opencl:0", "cuda:0", "asic:usb:1-4", or the network miner's address.
    pub name: String,
    /// cpu, gpu, asic or network.
    pub kind: String,
    /// Hashes per second (the device's own figure for network miners).
    pub hashrate: f64,
    /// Shares the pool accepted.
    pub accepted: u64,
    /// Shares the pool rejected.
    pub rejected: u64,
    /// Hardware errors.
    pub hardware_errors: u64,
    /// Hottest temperature reading, °C.
    pub temperature: Option<f32>,
    /// Fan speeds, RPM.
    pub fans: Vec<u32>,
    /// ASIC chips (chain devices and network miners that report them).
    pub chips: Option<u32>,
    /// Chip clock, MHz.
    pub frequency_mhz: Option<f64>,
    /// ok, throttled, paused, cutoff, unreachable or error.
    pub status: String,
    /// The last error, when there is one.
    pub error: Option<String>,
}

/// `GET /api/workers`: one Stratum worker (user name) that sent shares since the node
/// started. Counts are of shares (submissions meeting the share target); Stratum-level
/// totals are in [`Stats`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Worker {
    /// The Stratum user name, `ADDRESS[.worker]`.
    pub name: String,
    /// The payout address part of the name.
    pub address: String,
    /// Shares accepted into the sharechain.
    pub accepted: u64,
    /// Shares rejected by validation.
    pub rejected: u64,
    /// Unix time of the last share, accepted or rejected.
    pub last_share_time: Option<u64>,
    /// Work of its accepted shares over the last 10 minutes, per second.
    pub hashrate: f64,
}

/// `GET /api/peers`: a connected sharechain peer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Peer {
    /// The peer id.
    pub id: String,
    /// The connection's remote address.
    pub address: String,
    /// `outbound` (this node dialed) or `inbound`.
    pub direction: String,
    /// Last ping round trip, milliseconds.
    pub latency_ms: Option<f64>,
    /// The peer's agent version.
    pub agent: Option<String>,
    /// The height of the peer's best share, as it last reported.
    pub tip_height: Option<u64>,
    /// Application score: up with valid shares, down with invalid ones; at -100 the
    /// peer is banned for 10 minutes.
    pub score: i32,
    /// Unix time it connected.
    pub connected_since: u64,
}

/// The query of `GET /api/shares`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SharesQuery {
    /// Page number, from 1 (default 1).
    pub page: Option<u64>,
    /// Shares per page, 1 to 100 (default 20).
    pub per_page: Option<u64>,
}

/// A validated page request: `page` from 0, `per_page` within bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// Page index from 0.
    pub index: u64,
    /// Items per page, 1 to [`PageRequest::MAX_PER_PAGE`].
    pub per_page: u64,
}

impl PageRequest {
    /// The largest page.
    pub const MAX_PER_PAGE: u64 = 100;
    /// The page size when none is asked for.
    pub const DEFAULT_PER_PAGE: u64 = 20;
    /// The highest page number accepted (far beyond any chain; keeps arithmetic small).
    pub const MAX_PAGE: u64 = 1_000_000;

    /// Checks a query.
    ///
    /// # Errors
    /// A message naming the parameter out of range.
    pub fn from_query(q: SharesQuery) -> Result<Self, String> {
        let page = q.page.unwrap_or(1);
        if !(1..=Self::MAX_PAGE).contains(&page) {
            return Err(format!("page must be 1 to {}, got {page}", Self::MAX_PAGE));
        }
        let per_page = q.per_page.unwrap_or(Self::DEFAULT_PER_PAGE);
        if !(1..=Self::MAX_PER_PAGE).contains(&per_page) {
            return Err(format!(
                "per_page must be 1 to {}, got {per_page}",
                Self::MAX_PER_PAGE
            ));
        }
        Ok(Self {
            index: page - 1,
            per_page,
        })
    }
}

/// `GET /api/shares`: main-chain shares, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SharePage {
    /// This page's number, from 1.
    pub page: u64,
    /// Page size.
    pub per_page: u64,
    /// Main-chain shares held (after pruning).
    pub total: u64,
    /// The shares, highest first.
    pub shares: Vec<ShareEntry>,
}

/// One sharechain share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ShareEntry {
    /// Share hash.
    pub hash: String,
    /// Sharechain height.
    pub height: u64,
    /// Share time (the header's time).
    pub time: u64,
    /// The finder's payout address (`null` for a script without an address form).
    pub address: Option<String>,
    /// The finder's payout script, hex.
    pub script: String,
    /// Share difficulty (pool units of the chain's algorithm).
    pub difficulty: f64,
    /// Uncles it includes.
    pub uncles: u64,
    /// The parent block it builds on.
    pub parent_block: String,
}

/// One payout: an address (or bare script) and an amount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PayoutEntry {
    /// The address (`null` for a script without an address form).
    pub address: Option<String>,
    /// The output script, hex.
    pub script: String,
    /// The amount in base units.
    pub amount_sat: u64,
}

/// What the parent daemons said about a found block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BlockStatus {
    /// On a daemon's best chain.
    Accepted,
    /// Valid, but another block at this height came first.
    Stale,
    /// Rejected by every daemon.
    Rejected,
}

/// A parent block found by this node's miners.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FoundBlock {
    /// Parent-chain height.
    pub height: u32,
    /// Block hash.
    pub hash: String,
    /// The share it is.
    pub share: String,
    /// Unix time it was found.
    pub time: u64,
    /// What the daemons said.
    pub status: BlockStatus,
    /// Its coinbase outputs: what each address got.
    pub payouts: Vec<PayoutEntry>,
}

/// `GET /api/payouts`: the PPLNS split if a block were found now, and past blocks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Payouts {
    /// The share tip the expected split is computed at.
    pub tip: Option<String>,
    /// Height of the parent block the current template would be.
    pub block_height: Option<u32>,
    /// The template's coinbase value (subsidy and fees).
    pub reward_sat: u64,
    /// The coinbase outputs of a block found now, by script order; empty without a
    /// template or shares.
    pub expected: Vec<PayoutEntry>,
    /// The coinbase transaction of that block (hex, without witness, extranonce zero):
    /// every node on the same tip and template builds the same bytes for the same finder.
    pub coinbase: Option<String>,
    /// Blocks found by this node, newest first (the last 100).
    pub blocks: Vec<FoundBlock>,
}

/// The query of `GET /api/payouts`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PayoutsQuery {
    /// The finder's payout address (default: this node's `mining.payout_address`).
    pub finder: Option<String>,
}

/// `GET /api/chain`: the sharechain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChainInfo {
    /// The chain spec.
    pub spec: String,
    /// Its consensus id.
    pub consensus_id: String,
    /// Proof-of-work algorithm.
    pub algorithm: String,
    /// Best height.
    pub height: Option<u64>,
    /// Best tip hash.
    pub tip: Option<String>,
    /// Best tip time.
    pub tip_time: Option<u64>,
    /// Cumulative work of the chain ending at the tip, 32 hex digits (fork choice
    /// follows the most work).
    pub chain_work: Option<String>,
    /// Difficulty the next share must meet (pool units of the algorithm).
    pub share_difficulty: f64,
    /// Its compact target, hex (`nBits` form).
    pub share_target: String,
    /// Target seconds between shares.
    pub share_period_secs: u64,
    /// PPLNS window cap in shares.
    pub window_max_shares: u32,
    /// Shares held.
    pub shares: u64,
    /// Sync progress.
    pub sync: SyncState,
}

/// A message on `/api/ws`, as `{"type": "...", "data": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum Event {
    /// Sent once when a client connects.
    Hello(Hello),
    /// A share was accepted into the sharechain.
    ShareAccepted(ShareAccepted),
    /// A share announced by a peer was accepted into the sharechain.
    PeerShareAccepted(PeerShareAccepted),
    /// A share failed sharechain validation.
    ShareRejected(ShareRejected),
    /// A share met the parent target and was submitted as a block.
    BlockFound(FoundBlock),
    /// A sharechain peer connected and speaks this chain's protocols.
    PeerJoined(Peer),
    /// A sharechain peer's last connection closed.
    PeerLeft(PeerLeft),
    /// Hashrate estimates, every 5 seconds.
    Hashrate(HashrateTick),
    /// Sync progress, at connect and whenever it changes.
    Sync(SyncState),
    /// The parent daemons could not be reached; the node keeps retrying.
    ParentUnavailable(ParentUnavailable),
}

/// The `hello` message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Hello {
    /// The node's name.
    pub name: String,
    /// The software version.
    pub version: String,
    /// The chain spec.
    pub chain: String,
}

/// The `share_accepted` message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ShareAccepted {
    /// Share hash.
    pub hash: String,
    /// Sharechain height.
    pub height: u64,
    /// The Stratum worker that found it.
    pub worker: String,
    /// Unix time.
    pub time: u64,
}

/// The `peer_share_accepted` message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PeerShareAccepted {
    /// Share hash.
    pub hash: String,
    /// Sharechain height.
    pub height: u64,
    /// Unix time.
    pub time: u64,
}

/// The `share_rejected` message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ShareRejected {
    /// The Stratum worker that sent it.
    pub worker: String,
    /// The validation rule it broke.
    pub reason: String,
    /// Unix time.
    pub time: u64,
}

/// The `peer_left` message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PeerLeft {
    /// The peer id.
    pub id: String,
}

/// The `hashrate` message.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HashrateTick {
    /// Unix time.
    pub time: u64,
    /// The estimates.
    #[serde(flatten)]
    pub hashrate: Hashrate,
}

/// The `parent_unavailable` message. Details are in the node's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ParentUnavailable {
    /// Unix time.
    pub time: u64,
}

/// The answer of `POST /api/mining/start` and `/api/mining/stop`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MiningAction {
    /// The miner's state after the action.
    pub mining: MiningState,
    /// Whether the action changed anything (false: it was already in that state).
    pub changed: bool,
}

/// The body of `POST /api/peers/dial`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DialRequest {
    /// A multiaddr, ideally ending in `/p2p/<peer id>`
    /// (`/ip4/192.0.2.7/tcp/9333/p2p/12D3Koo...`).
    pub address: String,
}

/// The body of `POST /api/peers/ban`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BanRequest {
    /// The peer id.
    pub peer: String,
    /// How long the ban lasts, seconds (default 600, at most 30 days).
    #[serde(default)]
    pub duration_secs: Option<u64>,
}

/// The body of `POST /api/peers/unban`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnbanRequest {
    /// The peer id.
    pub peer: String,
}

/// The answer of the `/api/peers/*` actions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PeerAction {
    /// `dial`, `ban` or `unban`.
    pub action: String,
    /// The address dialed or the peer id acted on.
    pub subject: String,
}

/// `/readyz`: whether the node can serve miners.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: String,
    /// Why it is not ready; empty when ready.
    pub reasons: Vec<String>,
}

impl Readiness {
    /// Ready when there is no reason against it.
    pub fn from_reasons(reasons: Vec<String>) -> Self {
        let status = if reasons.is_empty() {
            "ready"
        } else {
            "not_ready"
        };
        Self {
            status: status.to_owned(),
            reasons,
        }
    }

    /// Returns whether the node is ready.
    pub fn is_ready(&self) -> bool {
        self.reasons.is_empty()
    }
}

/// Values the Prometheus endpoint reads at every scrape; cheap to produce.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricsSnapshot {
    /// Hashrate estimates.
    pub hashrate: Hashrate,
    /// Stratum counters.
    pub stratum: StratumCounters,
    /// Sharechain validation counters.
    pub shares: ShareCounters,
    /// Blocks found.
    pub blocks: BlockCounters,
    /// Connected peers.
    pub peers: u64,
    /// Best sharechain height.
    pub sharechain_height: Option<u64>,
    /// Whether the built-in miner runs.
    pub mining: bool,
    /// Seconds since start.
    pub uptime_secs: u64,
    /// Mining devices.
    pub devices: Vec<MiningDevice>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_requests_are_bounded() {
        let q = |page, per_page| SharesQuery { page, per_page };
        assert_eq!(
            PageRequest::from_query(q(None, None)),
            Ok(PageRequest {
                index: 0,
                per_page: 20
            })
        );
        assert_eq!(
            PageRequest::from_query(q(Some(3), Some(100))),
            Ok(PageRequest {
                index: 2,
                per_page: 100
            })
        );
        assert!(PageRequest::from_query(q(Some(0), None)).is_err());
        assert!(PageRequest::from_query(q(None, Some(0))).is_err());
        assert!(PageRequest::from_query(q(None, Some(101))).is_err());
        assert!(PageRequest::from_query(q(Some(u64::MAX), None)).is_err());
    }

    #[test]
    fn events_are_tagged_with_type_and_data() {
        let e = Event::ShareRejected(ShareRejected {
            worker: "w".into(),
            reason: "stale".into(),
            time: 7,
        });
        assert_eq!(
            serde_json::to_value(&e).expect("encodes"),
            serde_json::json!({"type": "share_rejected", "data": {"worker": "w", "reason": "stale", "time": 7}})
        );
        let tick = Event::Hashrate(HashrateTick {
            time: 1,
            hashrate: Hashrate {
                pool: 2.0,
                local: 1.0,
                miner: 0.5,
            },
        });
        assert_eq!(
            serde_json::to_value(&tick).expect("encodes"),
            serde_json::json!({"type": "hashrate", "data": {"time": 1, "pool": 2.0, "local": 1.0, "miner": 0.5}})
        );
    }
}
