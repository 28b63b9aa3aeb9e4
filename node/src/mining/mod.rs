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

/// Where a built-in DAG miner (Etchash, KawPow) hashes, and how many nonces a search:
/// the first device of `mining.gpu.devices` (or device 0) of `mining.gpu.backend` when
/// `enable_gpu` is set, else the CPU with the epoch's light cache.
pub fn dag_device(mining: &crate::config::MiningConfig) -> (otedama_miner::DagDevice, u64) {
    if !mining.enable_gpu {
        return (otedama_miner::DagDevice::Cpu, 64);
    }
    let intensity = mining.gpu.intensity.clamp(8, 31);
    let index = mining.gpu.devices.first().copied().unwrap_or(0) as usize;
    let device = match mining.gpu.backend {
        crate::config::GpuBackendKind::Opencl => {
            otedama_miner::DagDevice::OpenCl { index, intensity }
        }
        crate::config::GpuBackendKind::Cuda => otedama_miner::DagDevice::Cuda { index, intensity },
    };
    // Four enqueues a search: a new job waits a fraction of a second at most.
    (device, 4 << intensity)
}

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
