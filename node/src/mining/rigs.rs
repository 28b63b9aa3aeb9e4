//! Building the rigs of a plan: one [`Miner`] per device, each with its own Stratum
//! session, GPUs and ASIC chains under a thermal governor where a sensor is found.

use super::plan::{AsicPlan, GpuPlan, Plan};
use super::{LOG, MiningError};
use crate::config::GpuBackendKind;
use otedama_miner::asic::{AsicBackend, open_chains};
use otedama_miner::fleet::{ApiOptions, FleetMonitor};
use otedama_miner::gpu_sensor::{GpuSensor, PciAddress, gpu_sensor};
use otedama_miner::thermal::{
    Governed, HwmonSensor, TemperatureSource, ThermalConfig, ThermalGovernor,
};
use otedama_miner::{HashBackend, Miner, MinerError, PowAlgorithm};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};

/// How long an ASIC job runs before the chain gets the next one.
const ASIC_JOB_INTERVAL: Duration = Duration::from_secs(1);

/// One device mining through its own pool session.
#[derive(Debug)]
pub(super) struct Rig {
    pub(super) name: String,
    pub(super) kind: &'static str,
    pub(super) miner: Miner,
    pub(super) asic: Option<Arc<AsicBackend>>,
    pub(super) governed: Option<Arc<Governed>>,
}

/// The rigs started together, and the monitor of the network miners.
#[derive(Debug, Default)]
pub(super) struct Running {
    pub(super) rigs: Vec<Rig>,
    pub(super) fleet: Option<FleetMonitor>,
}

pub(super) fn start_rigs(plan: &Plan) -> Result<Running, MiningError> {
    let mut running = Running::default();
    let mut failures = Vec::new();
    let runtime_rig = |name: String,
                       backend: Arc<dyn HashBackend>,
                       threads: usize|
     -> Result<Miner, MinerError> {
        let mut config = plan.base.clone();
        config.threads = threads;
        config.user = format!("{}.{}", plan.base.user, worker_name(&name));
        config.max_hashrate = None;
        Miner::start_with_backend(config, backend)
    };
    if plan.cpu {
        match Miner::start(plan.base.clone()) {
            Ok(miner) => running.rigs.push(Rig {
                name: "cpu".into(),
                kind: "cpu",
                miner,
                asic: None,
                governed: None,
            }),
            Err(e) => failures.push(format!("cpu: {e}")),
        }
    }
    if let Some(gpu) = &plan.gpu {
        for (pci, backend) in gpu_backends(plan.base.algorithm, gpu, &mut failures) {
            let name = backend.name().to_owned();
            let (backend, governed) = govern(backend, pci, gpu.temperature_limit);
            match runtime_rig(name.clone(), backend, 1) {
                Ok(miner) => running.rigs.push(Rig {
                    name,
                    kind: "gpu",
                    miner,
                    asic: None,
                    governed,
                }),
                Err(e) => failures.push(format!("{name}: {e}")),
            }
        }
    }
    if let Some(asic) = &plan.asic {
        if !asic.chains.is_empty() && plan.base.algorithm != PowAlgorithm::Sha256d {
            failures.push(format!(
                "ASIC chains hash sha256d only; mining.algorithm is {}",
                plan.base.algorithm
            ));
        } else {
            let mut index = 0usize;
            for spec in &asic.chains {
                for chain in open_chains(spec, &asic.chain) {
                    let chain = match chain {
                        Ok(c) => c,
                        Err(e) => {
                            failures.push(format!("{spec}: {e}"));
                            continue;
                        }
                    };
                    let sensor = chain.sensor();
                    let backend = AsicBackend::new(chain, ASIC_JOB_INTERVAL);
                    let backend = Arc::new(govern_chain(backend, sensor, asic));
                    // "asic0:usb:1-4", "asic1:sim": unique even for two emulated chains.
                    let name = format!("asic{index}:{}", backend.stats().device);
                    index += 1;
                    match runtime_rig(name.clone(), backend.clone(), 1) {
                        Ok(miner) => running.rigs.push(Rig {
                            name,
                            kind: "asic",
                            miner,
                            asic: Some(backend),
                            governed: None,
                        }),
                        Err(e) => failures.push(format!("{name}: {e}")),
                    }
                }
            }
        }
        let addresses: Vec<SocketAddr> = asic
            .network
            .iter()
            .filter_map(|a| match a.to_socket_addrs().map(|mut i| i.next()) {
                Ok(Some(addr)) => Some(addr),
                Ok(None) | Err(_) => {
                    failures.push(format!("{a}: address does not resolve"));
                    None
                }
            })
            .collect();
        if !addresses.is_empty() {
            match FleetMonitor::start(&addresses, ApiOptions::default(), asic.poll_interval) {
                Ok(m) => running.fleet = Some(m),
                Err(e) => failures.push(format!("fleet monitor: {e}")),
            }
        }
    }
    for f in &failures {
        warn!(target: LOG, failure = %f, "a mining device did not start");
    }
    if running.rigs.is_empty() && running.fleet.is_none() {
        return Err(MiningError::NotConfigured(if failures.is_empty() {
            "no mining backend is enabled".to_owned()
        } else {
            format!("no mining device started: {}", failures.join("; "))
        }));
    }
    Ok(running)
}

/// A Stratum worker name from a device name: "opencl:0" -> "opencl0".
fn worker_name(device: &str) -> String {
    device.chars().filter(char::is_ascii_alphanumeric).collect()
}

/// The GPU backends of the plan, each after its card's PCI address (where it has one).
fn gpu_backends(
    algorithm: PowAlgorithm,
    gpu: &GpuPlan,
    failures: &mut Vec<String>,
) -> Vec<(Option<PciAddress>, Arc<dyn HashBackend>)> {
    let indices: Vec<usize> = if gpu.devices.is_empty() {
        // Every GPU; an OpenCL CPU device (PoCL's) only when it is listed, as it would
        // compete with the CPU miner for the same cores.
        let found: Result<Vec<usize>, String> = match gpu.backend {
            GpuBackendKind::Opencl => otedama_miner::opencl::list_devices()
                .map(|d| {
                    d.into_iter()
                        .filter(|d| d.kind != "cpu")
                        .map(|d| d.index)
                        .collect()
                })
                .map_err(|e| e.to_string()),
            GpuBackendKind::Cuda => otedama_miner::cuda::devices()
                .map(|d| d.into_iter().map(|d| d.index).collect())
                .map_err(|e| e.to_string()),
        };
        match found {
            Ok(found) if found.is_empty() => {
                failures.push(
                    "gpu: no GPU found (OpenCL CPU devices mine only when mining.gpu.devices lists them)"
                        .to_owned(),
                );
                found
            }
            Ok(found) => found,
            Err(e) => {
                failures.push(format!("gpu: {e}"));
                Vec::new()
            }
        }
    } else {
        gpu.devices.iter().map(|&d| d as usize).collect()
    };
    let mut out = Vec::new();
    for index in indices {
        let backend = match gpu.backend {
            GpuBackendKind::Opencl => {
                otedama_miner::OpenClBackend::new(algorithm, index, gpu.intensity)
                    .map(|b| (b.pci_address(), Arc::new(b) as Arc<dyn HashBackend>))
                    .map_err(|e| e.to_string())
            }
            GpuBackendKind::Cuda => {
                otedama_miner::CudaBackend::new(algorithm, index, gpu.intensity)
                    .map(|b| (b.pci_address(), Arc::new(b) as Arc<dyn HashBackend>))
                    .map_err(|e| e.to_string())
            }
        };
        match backend {
            Ok(b) => out.push(b),
            Err(e) => failures.push(format!("gpu {index}: {e}")),
        }
    }
    out
}

/// Puts an ASIC chain under `asic.temperature_limit` when it has a sensor: its link's
/// own (the emulator's) or the configured hwmon file. The governor's intensity is the
/// percentage of the configured clock, 25 to 100 in steps of 5.
fn govern_chain(
    backend: AsicBackend,
    link_sensor: Option<Box<dyn TemperatureSource>>,
    asic: &AsicPlan,
) -> AsicBackend {
    let sensor = link_sensor.or_else(|| {
        asic.temperature_sensor
            .as_ref()
            .map(|p| Box::new(HwmonSensor::new(p)) as Box<dyn TemperatureSource>)
    });
    let Some(sensor) = sensor else {
        info!(target: LOG, device = backend.name(), "no temperature sensor; mining without a thermal limit");
        return backend;
    };
    let config = ThermalConfig {
        limit: asic.temperature_limit as f32,
        min_intensity: (otedama_miner::asic::THERMAL_FLOOR * 100.0) as u32,
        step: 5,
        ..ThermalConfig::default()
    };
    match ThermalGovernor::new(config) {
        Ok(governor) => backend.with_thermal(sensor, governor),
        Err(e) => {
            warn!(target: LOG, error = %e, "thermal limit rejected; mining without it");
            backend
        }
    }
}

/// Puts a GPU under its temperature limit when its card has a sensor (see
/// [`gpu_sensor`]: hwmon files or NVML, found by the card's PCI address).
fn govern(
    backend: Arc<dyn HashBackend>,
    pci: Option<PciAddress>,
    limit: u32,
) -> (Arc<dyn HashBackend>, Option<Arc<Governed>>) {
    let Some(GpuSensor { source, origin }) = gpu_sensor(pci) else {
        info!(target: LOG, device = backend.name(), pci = ?pci.map(|a| a.to_string()), "no temperature sensor found; mining without a thermal limit");
        return (backend, None);
    };
    info!(target: LOG, device = backend.name(), sensor = %origin, limit, "temperature limit");
    let config = ThermalConfig {
        limit: limit as f32,
        ..ThermalConfig::default()
    };
    match ThermalGovernor::new(config) {
        Ok(governor) => {
            let governed = Arc::new(Governed::new(
                backend,
                source,
                governor,
                Duration::from_secs(5),
            ));
            (governed.clone(), Some(governed))
        }
        Err(e) => {
            warn!(target: LOG, error = %e, "thermal limit rejected; mining without it");
            (backend, None)
        }
    }
}
