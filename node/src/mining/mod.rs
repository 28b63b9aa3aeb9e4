//! The built-in miner, owned by the node so the API can start and stop it.
//!
//! One "rig" per device, each a [`Miner`](otedama_miner::Miner) with its own Stratum
//! session: the CPU threads, every configured GPU (OpenCL or CUDA, under a thermal governor
//! where a sensor is found) and every ASIC chain (USB bridges, or emulated chains for
//! devnets). Network miners in `mining.asic.devices` are not driven, only watched through
//! their cgminer API.
//!
//! - `control`: [`MinerControl`], starting and stopping the rigs as one set.
//! - `pool`: [`PoolMiner`], the one-client miner of a Monero or DAG node.
//! - `plan`: what the `mining` section asks for.
//! - `rigs`: building a rig per device, with its thermal governor.
//! - `report`: the API's view of each rig and network miner.

mod control;
mod plan;
mod pool;
mod report;
mod rigs;

pub use control::MinerControl;
pub use pool::{MinerState, PoolClient, PoolMiner};

use otedama_miner::MinerError;

const LOG: &str = "otedama::node";

/// The miner's state as the API reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MiningStatus {
    /// Whether it runs.
    pub running: bool,
    /// Whether it can run.
    pub configured: bool,
    /// The address it mines to.
    pub payout_address: Option<String>,
    /// Why it cannot run.
    pub detail: Option<String>,
}

/// Why the miner could not start.
#[derive(Debug, thiserror::Error)]
pub enum MiningError {
    /// The config does not allow a built-in miner.
    #[error("{0}")]
    NotConfigured(String),
    /// The miner failed to start.
    #[error("starting the built-in miner: {0}")]
    Start(#[from] MinerError),
}
