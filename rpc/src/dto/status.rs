//! `GET /api/status` and `/readyz`: the node at a glance, the parts of it that other
//! answers reuse (hashrates, mining state, sync progress), and the mining actions' answer.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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
    /// The coin the parent chain pays: every `_sat` amount is in its base units.
    #[serde(default)]
    pub coin: Coin,
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
    /// This node on the sharechain network.
    pub p2p: P2pStatus,
    /// Sharechain sync progress.
    pub sync: SyncState,
    /// Set when the node mines solo (a chain whose blocks cannot pay a split): who
    /// every block pays, and why there is no sharechain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub solo: Option<Solo>,
}

/// A solo node's statement, in [`Status`]: there is no sharechain, no PPLNS split and
/// no mesh; every block pays one beneficiary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Solo {
    /// The address every block pays, once the parent node has told it.
    pub beneficiary: Option<String>,
    /// Why this chain is mined solo, in a sentence for people.
    pub reason: String,
}

/// The coin a chain pays, in [`Status`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Coin {
    /// Its ticker: `BTC`, `LTC`, `XMR`.
    pub ticker: String,
    /// Decimal places of one coin in base units (8 for satoshis, 12 for piconero).
    pub decimals: u32,
}

impl Default for Coin {
    fn default() -> Self {
        Self {
            ticker: String::new(),
            decimals: 8,
        }
    }
}

/// This node on the sharechain network, in [`Status`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
pub struct P2pStatus {
    /// This node's peer id.
    pub peer_id: String,
    /// The multiaddrs it listens on, each ending in `/p2p/<peer id>`: give one to another
    /// node's `p2p.bootstrap` or `otedama-node peers dial`.
    pub listen: Vec<String>,
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StratumStatus {
    /// The listen address.
    pub address: String,
    /// Miner connections open now.
    pub connections: u64,
    /// The operator's fee on other miners' work (`pool.fee_percentage`); `null` when
    /// none is taken.
    #[serde(default)]
    pub fee: Option<PoolFee>,
}

/// The operator's fee on the work of miners other than the operator's own: that
/// fraction of their jobs pays `address`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PoolFee {
    /// The fee, percent (0 to 10).
    pub percentage: f64,
    /// The parent-chain address it is paid to.
    pub address: String,
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

/// The answer of `POST /api/mining/start` and `/api/mining/stop`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MiningAction {
    /// The miner's state after the action.
    pub mining: MiningState,
    /// Whether the action changed anything (false: it was already in that state).
    pub changed: bool,
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
