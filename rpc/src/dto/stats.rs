//! `GET /api/stats` and the Prometheus scrape: counters since the node started and the
//! built-in miner's devices.

use super::Hashrate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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
    /// Hottest temperature reading, degrees Celsius.
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
