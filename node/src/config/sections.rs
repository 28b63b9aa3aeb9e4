//! The config sections other than `chains`. Every `Default` equals `config.example.yaml`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use otedama_rpc::ConnLimits;
use otedama_sharechain::PowAlgorithm;
use serde::{Deserialize, Serialize};

const fn localhost(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)
}

pub(super) const fn any_ipv4(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)
}

/// The `app` section: identity, mode, storage and logging.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AppConfig {
    /// Name of this node, shown in logs and the API.
    pub name: String,
    /// Production or development: sets the logging defaults and how strict the checks are.
    pub mode: AppMode,
    /// Directory for the share store and other state; created if missing.
    pub data_dir: PathBuf,
    /// A `tracing` filter: a level (`info`) or directives (`info,otedama::p2p=debug`).
    pub log_level: String,
    /// How log lines are written; `None` takes the mode's (JSON in production, text in
    /// development).
    pub log_format: Option<LogFormat>,
    /// The log file; `None` takes the mode's (`logs/otedama.log` in production, none in
    /// development), and an empty path writes no file.
    pub log_file: Option<PathBuf>,
    /// When the log file is rotated, and how many old files are kept.
    pub log_rotation: LogRotationConfig,
}

impl Default for AppConfig {
    fn default() -> Self {
        Self {
            name: "otedama".into(),
            mode: AppMode::Development,
            data_dir: PathBuf::from("./otedama-data"),
            log_level: "info".into(),
            log_format: None,
            log_file: None,
            log_rotation: LogRotationConfig::default(),
        }
    }
}

/// The log file of production mode, relative to the working directory.
pub const PRODUCTION_LOG_FILE: &str = "logs/otedama.log";

impl AppConfig {
    /// Returns the log format in effect: the configured one, else the mode's.
    pub fn effective_log_format(&self) -> LogFormat {
        self.log_format.unwrap_or(match self.mode {
            AppMode::Production => LogFormat::Json,
            AppMode::Development => LogFormat::Text,
        })
    }

    /// Returns the log file in effect, if any: the configured one (none when empty),
    /// else [`PRODUCTION_LOG_FILE`] in production mode.
    pub fn effective_log_file(&self) -> Option<PathBuf> {
        match (&self.log_file, self.mode) {
            (Some(path), _) if path.as_os_str().is_empty() => None,
            (Some(path), _) => Some(path.clone()),
            (None, AppMode::Production) => Some(PathBuf::from(PRODUCTION_LOG_FILE)),
            (None, AppMode::Development) => None,
        }
    }
}

/// How the node is run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AppMode {
    /// JSON logs to the log file and stderr; an API reachable beyond loopback must
    /// require tokens.
    Production,
    /// Text logs to stderr only.
    #[default]
    Development,
}

impl fmt::Display for AppMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AppMode::Production => "production",
            AppMode::Development => "development",
        })
    }
}

/// The `app.log_rotation` section.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogRotationConfig {
    /// Rotates when the file reaches `max_size_mb`, or at each UTC midnight.
    pub rotate: LogRotation,
    /// Size a file may reach before it is rotated, MiB (with `rotate: size`).
    pub max_size_mb: u32,
    /// Rotated files kept besides the current one; older ones are deleted.
    pub keep: u32,
}

impl Default for LogRotationConfig {
    fn default() -> Self {
        Self {
            rotate: LogRotation::Size,
            max_size_mb: 64,
            keep: 7,
        }
    }
}

/// When a log file is rotated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogRotation {
    /// When it reaches a size.
    #[default]
    Size,
    /// At each UTC midnight.
    Daily,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// The `mining` section: the built-in miner.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MiningConfig {
    /// Proof-of-work algorithm the miner runs; must match every configured chain when `enable_cpu` is set.
    pub algorithm: MiningAlgorithm,
    /// Mines on CPU threads.
    pub enable_cpu: bool,
    /// Mines on GPUs.
    pub enable_gpu: bool,
    /// Drives ASIC devices.
    pub enable_asic: bool,
    /// Parent-chain address the built-in miner mines to; empty disables the miner.
    pub payout_address: String,
    /// Stratum URLs of the pools the miner connects to, in failover order; empty mines on
    /// this node's own Stratum server, wherever `pool.address` puts it.
    pub pool_urls: Vec<String>,
    /// CPU backend settings.
    pub cpu: CpuConfig,
    /// GPU backend settings.
    pub gpu: GpuConfig,
    /// ASIC backend settings.
    pub asic: AsicConfig,
}

impl Default for MiningConfig {
    fn default() -> Self {
        Self {
            algorithm: MiningAlgorithm::Scrypt,
            enable_cpu: true,
            enable_gpu: false,
            enable_asic: false,
            payout_address: String::new(),
            pool_urls: Vec::new(),
            cpu: CpuConfig::default(),
            gpu: GpuConfig::default(),
            asic: AsicConfig::default(),
        }
    }
}

impl MiningConfig {
    /// Returns whether the built-in miner runs: a payout address is set and a backend is enabled.
    pub fn miner_enabled(&self) -> bool {
        !self.payout_address.trim().is_empty()
            && (self.enable_cpu || self.enable_gpu || self.enable_asic)
    }
}

/// A proof-of-work algorithm the miner can be asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MiningAlgorithm {
    /// Double SHA-256 (Bitcoin).
    Sha256d,
    /// Scrypt N=1024, r=1, p=1 (Litecoin).
    #[default]
    Scrypt,
    /// RandomX (Monero).
    Randomx,
    /// Ethash.
    Ethash,
    /// Etchash (Ethereum Classic, ECIP-1099).
    Etchash,
    /// KawPoW (Ravencoin).
    Kawpow,
}

impl MiningAlgorithm {
    /// Returns the sharechain's algorithm of the same name, if the sharechain has one.
    pub fn pow_algorithm(self) -> Option<PowAlgorithm> {
        match self {
            MiningAlgorithm::Sha256d => Some(PowAlgorithm::Sha256d),
            MiningAlgorithm::Scrypt => Some(PowAlgorithm::Scrypt),
            MiningAlgorithm::Randomx
            | MiningAlgorithm::Ethash
            | MiningAlgorithm::Etchash
            | MiningAlgorithm::Kawpow => None,
        }
    }
}

impl fmt::Display for MiningAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MiningAlgorithm::Sha256d => "sha256d",
            MiningAlgorithm::Scrypt => "scrypt",
            MiningAlgorithm::Randomx => "randomx",
            MiningAlgorithm::Ethash => "ethash",
            MiningAlgorithm::Etchash => "etchash",
            MiningAlgorithm::Kawpow => "kawpow",
        })
    }
}

/// The `mining.cpu` section.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CpuConfig {
    /// Mining threads; 0 runs one per core.
    pub threads: u32,
    /// Caps the hashrate over all threads, hashes per second; 0 runs flat out.
    pub max_hashrate: u64,
    /// Scheduling priority of the mining threads.
    pub priority: CpuPriority,
    /// Logical CPUs the mining threads are pinned to, in thread order (thread i on
    /// entry i modulo the length); empty leaves them to the OS.
    pub affinity: Vec<u32>,
    /// The VM that hashes RandomX in fast mode.
    pub randomx_vm: RandomxVm,
}

impl CpuConfig {
    /// The pinning the miner applies.
    pub fn cpu_affinity(&self) -> otedama_miner::CpuAffinity {
        otedama_miner::CpuAffinity::new(self.affinity.iter().map(|c| *c as usize).collect())
    }
}

/// The VM that hashes RandomX in fast mode (`otedama-node bench --randomx-vm` takes the
/// same names).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RandomxVm {
    /// The compiled VM, two hashes at once a thread where each core runs one hardware
    /// thread, one where it runs two; the library's VM where the compiled one cannot run.
    #[default]
    Auto,
    /// The compiled VM, one hash at a time.
    Single,
    /// The compiled VM, two hashes at once a thread (a second 2 MiB scratchpad each).
    Pair,
    /// The library's VM.
    Library,
}

impl RandomxVm {
    /// The miner's engine for this setting.
    pub fn engine(self) -> otedama_miner::randomx::VmEngine {
        use otedama_miner::randomx::VmEngine;
        match self {
            RandomxVm::Auto => VmEngine::Auto,
            RandomxVm::Single => VmEngine::Single,
            RandomxVm::Pair => VmEngine::Pair,
            RandomxVm::Library => VmEngine::Library,
        }
    }
}

/// Scheduling priority of the built-in miner's threads, so that mining never starves
/// the node that feeds it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CpuPriority {
    /// Runs only when a core would otherwise be idle (Linux `SCHED_IDLE`).
    Idle,
    /// Nice 10: the node and other programs go first.
    #[default]
    Low,
    /// Nice 0, as any other program.
    Normal,
    /// Nice -5; needs `CAP_SYS_NICE` (else it runs at normal priority, with a warning).
    High,
}

impl CpuPriority {
    /// The miner's thread priority for this setting.
    pub fn thread_priority(self) -> otedama_miner::ThreadPriority {
        use otedama_miner::ThreadPriority;
        match self {
            CpuPriority::Idle => ThreadPriority::Idle,
            CpuPriority::Low => ThreadPriority::Low,
            CpuPriority::Normal => ThreadPriority::Normal,
            CpuPriority::High => ThreadPriority::High,
        }
    }
}

/// The GPU API the miner drives GPUs through.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GpuBackendKind {
    /// OpenCL (AMD, Intel, NVIDIA, PoCL).
    #[default]
    Opencl,
    /// CUDA (NVIDIA), kernels compiled at start with NVRTC.
    Cuda,
}

/// The `mining.gpu` section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GpuConfig {
    /// opencl or cuda.
    pub backend: GpuBackendKind,
    /// Device indices to use; empty uses every GPU.
    pub devices: Vec<u32>,
    /// Work size exponent, 1 to 31; higher keeps the GPU busier at the cost of latency.
    pub intensity: u32,
    /// Throttles a GPU above this temperature, degrees Celsius, 40 to 105.
    pub temperature_limit: u32,
}

impl Default for GpuConfig {
    fn default() -> Self {
        Self {
            backend: GpuBackendKind::Opencl,
            devices: Vec::new(),
            intensity: 20,
            temperature_limit: 85,
        }
    }
}

/// The `mining.asic` section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AsicConfig {
    /// Devices: `usb` (every USB miner found), `usb:BUS-ADDRESS`, `sim:FAMILYxCHIPS`
    /// (an emulated chain) or `HOST:PORT` (a network miner watched through its cgminer
    /// API); empty uses every USB miner found.
    pub devices: Vec<String>,
    /// The chip family of USB chains: bm1397, bm1366, bm1368 or bm1370.
    pub family: String,
    /// Chip clock, MHz; 0 keeps the family's default.
    pub frequency: u32,
    /// How often devices are asked for results and health.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Clock a chain down above this temperature, degrees Celsius (40 to 105).
    pub temperature_limit: u32,
    /// A hwmon temperature file (`.../temp1_input`, millidegrees) read for USB chains,
    /// whose bridges carry no sensor; empty runs them without a limit. Emulated chains
    /// use their modelled die temperature.
    pub temperature_sensor: String,
}

impl Default for AsicConfig {
    fn default() -> Self {
        Self {
            devices: Vec::new(),
            family: "bm1366".into(),
            frequency: 0,
            poll_interval: Duration::from_secs(5),
            temperature_limit: 75,
            temperature_sensor: String::new(),
        }
    }
}

/// The `api` section: the HTTP API and dashboard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Serves the API and dashboard.
    pub enable: bool,
    /// Listen address; keep it on loopback unless a proxy or firewall guards it.
    pub address: SocketAddr,
    /// Authentication settings.
    pub auth: AuthConfig,
    /// Browser origins (`https://host[:port]`) allowed to call the API from other pages;
    /// empty turns CORS off, so only the node's own dashboard can.
    pub cors_origins: Vec<String>,
    /// Connection caps and timeouts of the listener.
    pub limits: ListenerLimits,
    /// Live event (`/api/ws`) clients at once from one IP address, of 256 in all.
    pub websocket_clients_per_ip: u32,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            enable: true,
            address: localhost(8080),
            auth: AuthConfig::default(),
            cors_origins: Vec::new(),
            limits: ListenerLimits::API,
            websocket_clients_per_ip: 4,
        }
    }
}

/// The `limits` of an HTTP listener (`api`, `monitoring.metrics`, `monitoring.health`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ListenerLimits {
    /// Open connections at once; over it a client gets a 503 and the connection closes.
    pub max_connections: u32,
    /// Open connections at once from one IP address.
    pub max_connections_per_ip: u32,
    /// Longest a client may take to send a request's headers.
    #[serde(with = "humantime_serde")]
    pub header_timeout: Duration,
    /// Longest a connection may stay with no byte read or written.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
}

impl ListenerLimits {
    /// The API's: 256 connections, 32 per IP (a browser opens about 6 per host).
    pub const API: ListenerLimits = Self::of(ConnLimits::API);

    /// The metrics and health listeners': scrapers and probes are few.
    pub const MONITORING: ListenerLimits = Self::of(ConnLimits::MONITORING);

    /// The same bounds in the server's terms.
    pub const fn to_conn_limits(&self) -> ConnLimits {
        ConnLimits {
            max_connections: self.max_connections as usize,
            max_connections_per_ip: self.max_connections_per_ip as usize,
            header_timeout: self.header_timeout,
            idle_timeout: self.idle_timeout,
        }
    }

    // The server's defaults are a few hundred connections, far within u32.
    #[allow(clippy::cast_possible_truncation)]
    const fn of(c: ConnLimits) -> Self {
        ListenerLimits {
            max_connections: c.max_connections as u32,
            max_connections_per_ip: c.max_connections_per_ip as u32,
            header_timeout: c.header_timeout,
            idle_timeout: c.idle_timeout,
        }
    }
}

impl Default for ListenerLimits {
    fn default() -> Self {
        Self::API
    }
}

/// The `api.auth` section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Requires a bearer token (`otedama-node token create`) for operator actions
    /// (starting and stopping mining). Reads and the dashboard stay open.
    pub enabled: bool,
    /// How long an issued token stays valid.
    #[serde(with = "humantime_serde")]
    pub token_expiry: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            token_expiry: Duration::from_secs(24 * 60 * 60),
        }
    }
}

/// The `monitoring` section.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MonitoringConfig {
    /// Prometheus metrics endpoint.
    pub metrics: MetricsConfig,
    /// Health check endpoint.
    pub health: HealthConfig,
}

// Metrics and health are separate types, not one `Endpoint`, so that a section that sets
// only `address` still gets its own default `enabled`, and each its own default address.

/// The `monitoring.metrics` section: the Prometheus endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Serves the endpoint.
    pub enabled: bool,
    /// Listen address.
    pub address: SocketAddr,
    /// Connection caps and timeouts.
    pub limits: ListenerLimits,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            address: localhost(9090),
            limits: ListenerLimits::MONITORING,
        }
    }
}

/// The `monitoring.health` section: the health check endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthConfig {
    /// Serves the endpoint.
    pub enabled: bool,
    /// Listen address.
    pub address: SocketAddr,
    /// Connection caps and timeouts.
    pub limits: ListenerLimits,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            address: localhost(8081),
            limits: ListenerLimits::MONITORING,
        }
    }
}

/// The `p2p` section: the sharechain network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct P2pConfig {
    /// Multiaddrs to listen on.
    pub listen: Vec<String>,
    /// Multiaddrs to announce to peers in addition to observed ones.
    pub external_addresses: Vec<String>,
    /// Peers to dial at start-up; multiaddrs ending in `/p2p/<peer id>`.
    pub bootstrap: Vec<String>,
    /// Most connected peers.
    pub max_peers: u32,
    /// Finds peers on the local network by mDNS.
    pub enable_mdns: bool,
    /// Asks the router for a port mapping by UPnP.
    pub enable_upnp: bool,
    /// Asks peers whether this node is reachable.
    pub enable_autonat: bool,
    /// Accepts connections through relays when not directly reachable.
    pub enable_relay: bool,
}

impl Default for P2pConfig {
    fn default() -> Self {
        Self {
            listen: vec![
                "/ip4/0.0.0.0/tcp/9333".into(),
                "/ip4/0.0.0.0/udp/9333/quic-v1".into(),
            ],
            external_addresses: Vec::new(),
            bootstrap: Vec::new(),
            max_peers: 50,
            enable_mdns: false,
            enable_upnp: false,
            enable_autonat: false,
            enable_relay: false,
        }
    }
}
