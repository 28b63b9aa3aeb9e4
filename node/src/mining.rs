//! The built-in miner, owned by the node so the API can start and stop it.
//!
//! One "rig" per device, each a [`Miner`] with its own Stratum session: the CPU threads,
//! every configured GPU (OpenCL or CUDA, under a thermal governor where a sensor is found)
//! and every ASIC chain (USB bridges, or emulated chains for devnets). Network miners in
//! `mining.asic.devices` are not driven, only watched through their cgminer API.

use crate::config::{Config, GpuBackendKind};
use otedama_miner::asic::{AsicBackend, ChainConfig, ChipFamily, DeviceSpec, open_chains};
use otedama_miner::fleet::{ApiOptions, FleetMonitor};
use otedama_miner::gpu_sensor::{GpuSensor, PciAddress, gpu_sensor};
use otedama_miner::thermal::{
    Decision, Governed, HwmonSensor, TemperatureSource, ThermalConfig, ThermalGovernor,
};
use otedama_miner::{HashBackend, Miner, MinerConfig, MinerError, MinerStats, PowAlgorithm};
use otedama_rpc::MiningDevice;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::{info, warn};

const LOG: &str = "otedama::node";
/// How long an ASIC job runs before the chain gets the next one.
const ASIC_JOB_INTERVAL: Duration = Duration::from_secs(1);

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

/// What the `mining` section asks for.
#[derive(Debug, Clone)]
struct Plan {
    /// Pools, user, algorithm, CPU threads and cap.
    base: MinerConfig,
    cpu: bool,
    gpu: Option<GpuPlan>,
    asic: Option<AsicPlan>,
}

#[derive(Debug, Clone)]
struct GpuPlan {
    backend: GpuBackendKind,
    devices: Vec<u32>,
    intensity: u32,
    temperature_limit: u32,
}

#[derive(Debug, Clone)]
struct AsicPlan {
    chains: Vec<DeviceSpec>,
    network: Vec<String>,
    chain: ChainConfig,
    poll_interval: Duration,
    temperature_limit: u32,
    temperature_sensor: Option<std::path::PathBuf>,
}

/// One device mining through its own pool session.
#[derive(Debug)]
struct Rig {
    name: String,
    kind: &'static str,
    miner: Miner,
    asic: Option<Arc<AsicBackend>>,
    governed: Option<Arc<Governed>>,
}

#[derive(Debug, Default)]
struct Running {
    rigs: Vec<Rig>,
    fleet: Option<FleetMonitor>,
}

/// Starts and stops the built-in miner's rigs; at most one set runs.
#[derive(Debug)]
pub struct MinerControl {
    plan: Result<Plan, String>,
    payout_address: Option<String>,
    running: Mutex<Option<Running>>,
    // Serialises start and stop, which await outside the `running` lock.
    op: tokio::sync::Mutex<()>,
}

impl MinerControl {
    /// Reads the `mining` section: the miner can run when a payout address is set and a
    /// backend is enabled for an algorithm it can hash. An empty `mining.pool_urls` mines
    /// on `own_pool`, the address this node's Stratum server listens on.
    pub fn new(config: &Config, own_pool: SocketAddr) -> Self {
        let m = &config.mining;
        let pools = if m.pool_urls.is_empty() {
            vec![own_pool_url(own_pool)]
        } else {
            m.pool_urls.clone()
        };
        let address = m.payout_address.trim();
        let payout_address = (!address.is_empty()).then(|| address.to_owned());
        let plan = match (payout_address.as_ref(), m.algorithm.pow_algorithm()) {
            (None, _) => Err("mining.payout_address is empty".to_owned()),
            (Some(_), None) => Err(format!(
                "mining.algorithm {} has no built-in backend yet",
                m.algorithm
            )),
            (Some(user), Some(algorithm)) => Ok(Plan {
                base: MinerConfig {
                    pools,
                    user: user.clone(),
                    password: "x".into(),
                    threads: m.cpu.threads as usize,
                    algorithm,
                    max_hashrate: (m.cpu.max_hashrate > 0).then_some(m.cpu.max_hashrate as f64),
                },
                cpu: m.enable_cpu,
                gpu: m.enable_gpu.then(|| GpuPlan {
                    backend: m.gpu.backend,
                    devices: m.gpu.devices.clone(),
                    intensity: m.gpu.intensity,
                    temperature_limit: m.gpu.temperature_limit,
                }),
                asic: m.enable_asic.then(|| asic_plan(m)),
            }),
        };
        Self {
            plan,
            payout_address,
            running: Mutex::new(None),
            op: tokio::sync::Mutex::new(()),
        }
    }

    fn running(&self) -> bool {
        self.running.lock().map(|m| m.is_some()).unwrap_or(false)
    }

    /// Returns the state.
    pub fn status(&self) -> MiningStatus {
        MiningStatus {
            running: self.running(),
            configured: self.plan.is_ok(),
            payout_address: self.payout_address.clone(),
            detail: self.plan.as_ref().err().cloned(),
        }
    }

    /// Returns the counters of all rigs together (hashrates and shares summed; pool and
    /// difficulty of the first rig).
    pub fn stats(&self) -> Option<MinerStats> {
        let running = self.running.lock().ok()?;
        let rigs = &running.as_ref()?.rigs;
        let mut stats = rigs.first().map(|r| r.miner.stats()).unwrap_or_default();
        for rig in rigs.iter().skip(1) {
            let s = rig.miner.stats();
            stats.hashrate += s.hashrate;
            stats.hashes += s.hashes;
            stats.accepted += s.accepted;
            stats.rejected += s.rejected;
            stats.stale += s.stale;
            stats.hardware_errors += s.hardware_errors;
            stats.connected |= s.connected;
        }
        Some(stats)
    }

    /// Returns one entry per rig and per watched network miner.
    pub fn devices(&self) -> Vec<MiningDevice> {
        let Ok(running) = self.running.lock() else {
            return Vec::new();
        };
        let Some(running) = running.as_ref() else {
            return Vec::new();
        };
        let mut out: Vec<MiningDevice> = running.rigs.iter().map(rig_device).collect();
        if let Some(fleet) = &running.fleet {
            out.extend(fleet.snapshot().into_iter().map(fleet_device));
        }
        out
    }

    /// Starts every configured rig; returns whether it was stopped before. Devices that
    /// fail to start are logged and left out; it fails only when none starts. Must run
    /// in a runtime.
    ///
    /// # Errors
    /// Not configured, or no rig could start.
    pub async fn start(&self) -> Result<bool, MiningError> {
        let _op = self.op.lock().await;
        let plan = self.plan.clone().map_err(MiningError::NotConfigured)?;
        if self.running() {
            return Ok(false);
        }
        // Opening devices blocks (USB, enumeration waits for replies).
        let started = tokio::task::spawn_blocking(move || start_rigs(&plan))
            .await
            .map_err(|e| MiningError::NotConfigured(format!("starting rigs: {e}")))??;
        if let Ok(mut slot) = self.running.lock() {
            *slot = Some(started);
        }
        info!(target: LOG, "built-in miner started");
        Ok(true)
    }

    /// Stops every rig and waits for them; returns whether any was running.
    pub async fn stop(&self) -> bool {
        let _op = self.op.lock().await;
        let running = self.running.lock().ok().and_then(|mut m| m.take());
        match running {
            Some(r) => {
                for rig in r.rigs {
                    rig.miner.stop().await;
                }
                if let Some(fleet) = r.fleet {
                    fleet.stop().await;
                }
                info!(target: LOG, "built-in miner stopped");
                true
            }
            None => false,
        }
    }
}

/// The URL the built-in miner dials for this node's own pool: a server listening on every
/// interface is reached over loopback.
fn own_pool_url(listen: SocketAddr) -> String {
    let mut addr = listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    format!("stratum+tcp://{addr}")
}

fn asic_plan(m: &crate::config::MiningConfig) -> AsicPlan {
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

fn start_rigs(plan: &Plan) -> Result<Running, MiningError> {
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

/// A Stratum worker name from a device name: "opencl:0" → "opencl0".
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

fn rig_device(rig: &Rig) -> MiningDevice {
    let s = rig.miner.stats();
    let mut d = MiningDevice {
        name: rig.name.clone(),
        kind: rig.kind.into(),
        hashrate: s.hashrate,
        accepted: s.accepted,
        rejected: s.rejected,
        hardware_errors: s.hardware_errors,
        status: "ok".into(),
        ..MiningDevice::default()
    };
    if let Some(asic) = &rig.asic {
        let a = asic.stats();
        d.chips = u32::try_from(a.chips).ok();
        d.frequency_mhz = Some(a.frequency_mhz);
        d.hardware_errors += a.hardware_errors;
        d.temperature = a.temperature;
        if let Some(decision) = a.thermal {
            d.status = thermal_status(decision).into();
        }
        if a.timeouts > 0 && a.nonces == 0 {
            d.status = "error".into();
            d.error = Some("the chain sends no nonces".into());
        }
    }
    if let Some(g) = &rig.governed {
        d.temperature = g.temperature();
        d.status = thermal_status(g.decision()).into();
    }
    if !s.connected && d.status == "ok" {
        d.status = "connecting".into();
    }
    d
}

fn thermal_status(decision: Decision) -> &'static str {
    match decision {
        Decision::Run(i) if i < 100 => "throttled",
        Decision::Run(_) => "ok",
        Decision::Paused => "paused",
        Decision::CutOff => "cutoff",
    }
}

fn fleet_device(f: otedama_miner::fleet::FleetDevice) -> MiningDevice {
    let mut d = MiningDevice {
        name: f.address.to_string(),
        kind: "network".into(),
        status: if f.last_error.is_some() && f.consecutive_failures > 0 {
            "unreachable".into()
        } else {
            "ok".into()
        },
        error: f.last_error.clone(),
        ..MiningDevice::default()
    };
    if let Some(r) = &f.last_ok {
        d.hashrate = r.summary.hashrate.or(r.summary.hashrate_avg).unwrap_or(0.0);
        d.accepted = r.summary.accepted.unwrap_or(0);
        d.rejected = r.summary.rejected.unwrap_or(0);
        d.hardware_errors = r.summary.hardware_errors.unwrap_or(0);
        d.temperature = r.max_temperature();
        d.fans = r.fans.clone();
        let chips: u32 = r.chains.iter().filter_map(|c| c.chips).sum();
        d.chips = (chips > 0).then_some(chips);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_own_pool_is_dialled_over_loopback_when_stratum_listens_everywhere() {
        let url = |a: &str| own_pool_url(a.parse().expect("address"));
        assert_eq!(url("0.0.0.0:3333"), "stratum+tcp://127.0.0.1:3333");
        assert_eq!(url("[::]:3334"), "stratum+tcp://[::1]:3334");
        assert_eq!(url("127.0.0.1:41000"), "stratum+tcp://127.0.0.1:41000");
        assert_eq!(url("10.1.2.3:3333"), "stratum+tcp://10.1.2.3:3333");
    }

    #[test]
    fn an_empty_pool_list_mines_on_the_own_pool() {
        let mut config = Config::default();
        config.mining.payout_address = "rltc1qexampleonly".into();
        let own: SocketAddr = "127.0.0.1:40001".parse().expect("address");
        let control = MinerControl::new(&config, own);
        let plan = control.plan.as_ref().expect("configured");
        assert_eq!(plan.base.pools, ["stratum+tcp://127.0.0.1:40001"]);

        config.mining.pool_urls = vec!["stratum+tcp://10.0.0.2:3333".into()];
        let control = MinerControl::new(&config, own);
        let plan = control.plan.as_ref().expect("configured");
        assert_eq!(plan.base.pools, ["stratum+tcp://10.0.0.2:3333"]);
    }
}
