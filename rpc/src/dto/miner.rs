//! `GET /api/miner/{address}`: one miner's view of the pool: its shares in the PPLNS
//! window, what a block found now would pay it, what past blocks paid it, its workers,
//! and the luck to expect.

use super::{BlockStatus, OnChain, Worker};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `GET /api/miner/{address}`: everything the node knows about one payout address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MinerView {
    /// The address, as the chain writes it.
    pub address: String,
    /// The chain spec.
    pub chain: String,
    /// Its part of the PPLNS window ending at the tip.
    pub window: MinerWindowView,
    /// What a block found now would pay it.
    pub expected: MinerExpected,
    /// Its hashrate, as the sharechain and as its workers on this node see it.
    pub hashrate: MinerHashrate,
    /// Its Stratum workers on this node (names `ADDRESS` or `ADDRESS.rig`), most recent first.
    pub workers: Vec<Worker>,
    /// What the blocks this node found paid it, newest first.
    pub payouts: Vec<MinerPayout>,
    /// The sum of `payouts` of blocks confirmed on the parent chain.
    pub paid_sat: u64,
    /// The sum of `payouts` of blocks not yet read back from the chain (orphaned blocks
    /// pay nothing and count in neither).
    pub pending_sat: u64,
    /// What to expect at the current hashrates.
    pub variance: MinerVariance,
}

/// A miner's part of the PPLNS window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MinerWindowView {
    /// Its main-chain shares in the window.
    pub shares: u32,
    /// Its shares credited as uncles.
    pub uncles: u32,
    /// Its PPLNS weight (share work, uncle credits included), decimal.
    pub weight: String,
    /// Its fraction of the window's weight, 0 to 1: what its output is proportional to.
    pub fraction: f64,
    /// Main-chain shares in the window.
    pub window_shares: u32,
    /// Distinct payout addresses in the window.
    pub window_miners: u32,
    /// Unix time of the window's oldest share (`null` for an empty window).
    pub oldest_time: Option<u64>,
    /// Unix time of the window's newest share.
    pub newest_time: Option<u64>,
}

/// A miner's output in a block found now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MinerExpected {
    /// The share tip the split is computed at.
    pub tip: Option<String>,
    /// Height of the parent block the current template would be.
    pub block_height: Option<u32>,
    /// The template's coinbase value.
    pub reward_sat: u64,
    /// The miner's output; 0 when it has no weight or its part is below the dust
    /// threshold (then its weight still counts, and is paid once it grows).
    pub amount_sat: u64,
}

/// A miner's hashrate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MinerHashrate {
    /// The work of its shares in the window over the window's span, per second: what
    /// every node sees, whichever node it mines on.
    pub sharechain: f64,
    /// The sum of its workers' hashrates on this node (last 10 minutes).
    pub workers: f64,
    /// Its window shares' work in equal time buckets, oldest first: the sharechain's view
    /// over time (the window's span, at most 24 buckets).
    pub series: Vec<HashratePoint>,
}

/// One point of a hashrate series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HashratePoint {
    /// Unix time of the bucket's start.
    pub time: u64,
    /// Hashes per second over the bucket.
    pub hashrate: f64,
}

/// What one found block paid a miner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MinerPayout {
    /// Parent-chain height.
    pub height: u32,
    /// Block hash.
    pub hash: String,
    /// Unix time it was found.
    pub time: u64,
    /// What the daemons said at submission.
    pub status: BlockStatus,
    /// What the parent chain says now: confirmed (with confirmations), orphaned or pending.
    pub chain: OnChain,
    /// The miner's coinbase output.
    pub amount_sat: u64,
}

/// What a miner should expect at the current hashrates: luck, in numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MinerVariance {
    /// The pool's hashrate (the sharechain's last 10 minutes).
    pub pool_hashrate: f64,
    /// The hashrate these figures use: the sharechain's estimate, or its workers' when
    /// the chain has not seen it yet.
    pub miner_hashrate: f64,
    /// Mean seconds until the pool finds a block (parent work over pool hashrate);
    /// `null` while the pool hashrate is unknown.
    pub expected_block_secs: Option<f64>,
    /// Mean seconds between this miner's shares; `null` at zero hashrate.
    pub expected_share_secs: Option<f64>,
    /// Mean number of its shares in a full window: its fraction of the pool's hashrate
    /// times the window's shares.
    pub expected_window_shares: f64,
    /// The standard deviation of that number (shares arrive as a Poisson process, so
    /// it is the square root of the mean): a window with a few shares swings widely.
    pub window_shares_stddev: f64,
}
