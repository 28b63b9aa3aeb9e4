//! What the `mining` section asks for, read once when the node starts.

use super::LOG;
use crate::config::GpuBackendKind;
use otedama_miner::MinerConfig;
use otedama_miner::asic::{ChainConfig, ChipFamily, DeviceSpec};
use std::time::Duration;
use tracing::warn;

/// What the `mining` section asks for.
#[derive(Debug, Clone)]
pub(super) struct Plan {
    /// Pools, user, algorithm, CPU threads and cap.
    pub(super) base: MinerConfig,
    pub(super) cpu: bool,
    pub(super) gpu: Option<GpuPlan>,
    pub(super) asic: Option<AsicPlan>,
}

/// `mining.gpu`: which cards, through which API, how hard and how hot.
#[derive(Debug, Clone)]
pub(super) struct GpuPlan {
    pub(super) backend: GpuBackendKind,
    pub(super) devices: Vec<u32>,
    pub(super) intensity: u32,
    pub(super) temperature_limit: u32,
}

/// `mining.asic`: the chains to drive, the network miners to watch, and their limits.
#[derive(Debug, Clone)]
pub(super) struct AsicPlan {
    pub(super) chains: Vec<DeviceSpec>,
    pub(super) network: Vec<String>,
    pub(super) chain: ChainConfig,
    pub(super) poll_interval: Duration,
    pub(super) temperature_limit: u32,
    pub(super) temperature_sensor: Option<std::path::PathBuf>,
}

pub(super) fn asic_plan(m: &crate::config::MiningConfig) -> AsicPlan {
    let mut chains = Vec::new();
    let mut network = Vec::new();
    for entry in &m.asic.devices {
        // Validated with the config; anything unparsable was reported there.
        match DeviceSpec::parse(entry) {
            Ok(DeviceSpec::Network(address)) => network.push(address),
            Ok(spec) => chains.push(spec),
            Err(e) => warn!(target: LOG, error = %e, "ignoring an ASIC device entry"),
        }
    }
    if m.asic.devices.is_empty() {
        chains.push(DeviceSpec::AllUsb);
    }
    let family = m.asic.family.parse().unwrap_or(ChipFamily::Bm1366);
    let mut chain = ChainConfig::new(family);
    chain.frequency = (m.asic.frequency > 0).then_some(f64::from(m.asic.frequency));
    let sensor = m.asic.temperature_sensor.trim();
    AsicPlan {
        chains,
        network,
        chain,
        poll_interval: m.asic.poll_interval,
        temperature_limit: m.asic.temperature_limit,
        temperature_sensor: (!sensor.is_empty()).then(|| sensor.into()),
    }
}
