//! The command line: every flag and subcommand of `otedama-node`, as clap parses them.
//! The doc comments on these types are the `--help` text.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

/// The Otedama node: P2P sharechain, Stratum server, built-in miner and dashboard.
#[derive(Debug, Parser)]
#[command(name = "otedama-node", version, about)]
pub struct Cli {
    /// Log filter (off, error, warn, info, debug, trace, or target=level directives);
    /// overrides the config's app.log_level.
    #[arg(long, global = true, env = "OTEDAMA_LOG_LEVEL", value_name = "FILTER")]
    pub log_level: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Works with config files.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Lists the built-in chain specs.
    Chains(JsonFlag),
    /// Runs the node.
    Serve {
        /// The config file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Runs a local development network: litecoind on regtest, a node and two CPU miners.
    Devnet(DevnetArgs),
    /// Measures the built-in miner's CPU hash rate per algorithm and kernel.
    Bench(BenchArgs),
    /// Lists the mining hardware here: CPU kernels, OpenCL and CUDA devices (the indices
    /// mining.gpu.devices takes, PCI addresses, temperature sensors) and USB miners.
    Devices(JsonFlag),
    /// Shows a running node at a glance, over its API. Exits 3 if no node answers.
    Status(RemoteArgs),
    /// Lists a running node's Stratum workers.
    Workers(RemoteArgs),
    /// Lists a running node's main-chain shares, newest first.
    Shares(SharesArgs),
    /// Shows a running node's expected PPLNS payout and the blocks it found.
    Payouts(RemoteArgs),
    /// Lists a running node's sharechain peers (id, address, direction, latency, agent,
    /// tip, score), or dials, bans or unbans one.
    Peers(PeersArgs),
    /// Creates the node key (the P2P identity in the data directory) if there is none,
    /// and prints the peer id.
    Keygen(KeygenArgs),
    /// Creates, lists and revokes API tokens (stored hashed in the data directory).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Works with Monero P2Pool sidechain data offline.
    #[command(subcommand)]
    Sidechain(SidechainCommand),
    /// Asks a node's health listener whether it is alive (for container health checks).
    /// Exits 0 when it is, 1 when it answers otherwise, 3 when nothing answers.
    #[command(hide = true)]
    Healthcheck(HealthcheckArgs),
}

/// Options of `healthcheck`.
#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// Base URL of the node's health listener (its `monitoring.health.address`).
    #[arg(long, default_value = "http://127.0.0.1:8081", value_name = "URL")]
    pub url: String,
    /// Asks `/readyz` (synced, parent daemon reachable) instead of `/healthz` (alive).
    #[arg(long)]
    pub ready: bool,
    /// Prints nothing on success.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `otedama-gen`: the packaging helper that renders `otedama-node`'s man pages and shell
/// completions (`make install`, `make dist`). A separate binary, so that the generators
/// stay out of the node.
#[derive(Debug, Parser)]
#[command(name = "otedama-gen", version)]
pub struct GenCli {
    /// What to render.
    #[command(subcommand)]
    pub what: GenerateCommand,
}

/// What `otedama-gen` renders.
#[derive(Debug, Subcommand)]
pub enum GenerateCommand {
    /// The man page of `otedama-node` on stdout, or every page into a directory.
    Man {
        /// Writes `otedama-node.1` and one page per subcommand here.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
    /// A completion script on stdout.
    Completions {
        /// bash, elvish, fish, powershell or zsh.
        shell: clap_complete::Shell,
    },
}

/// The `sidechain` subcommands.
#[derive(Debug, Subcommand)]
pub enum SidechainCommand {
    /// Verifies a dump of shares (records of u32 LE length + full share blob, as P2Pool's
    /// `sidechain_dump.dat`, plain or xz-compressed) and prints the tip, the valid,
    /// invalid and unverified counts, the first errors and the next block's payees.
    /// Exits 1 if any share is invalid, 2 if the file cannot be read. Proof of work is not
    /// checked.
    Verify(SidechainVerifyArgs),
}

/// Options of `sidechain verify`.
#[derive(Debug, Args)]
pub struct SidechainVerifyArgs {
    /// The sidechain: xmr-main, xmr-mini, xmr-nano or xmr-regtest.
    #[arg(long, default_value = "xmr-main", value_name = "CHAIN")]
    pub chain: String,
    /// Feeds the shares in an order drawn from this seed instead of file order.
    #[arg(long, value_name = "SEED")]
    pub shuffle: Option<u64>,
    /// Monero difficulty at the shares' RandomX seed height; the PPLNS cap is twice this.
    /// Without it, shares inside the PPLNS window stay unverified.
    #[arg(long, value_name = "N")]
    pub monero_difficulty: Option<u64>,
    /// The wallet that mines the next block (the tip's miner when omitted).
    #[arg(long, value_name = "ADDRESS")]
    pub wallet: Option<String>,
    /// Prints one JSON object: tip, valid, invalid, unverified, pow_unchecked, errors,
    /// next_payees.
    #[arg(long)]
    pub json: bool,
    /// The dump file.
    pub file: PathBuf,
}

/// The `config` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Loads and validates a config file. Exits 0 if it is valid, 1 on any issue, 2 if it cannot be read.
    Check {
        /// The config file.
        file: PathBuf,
        /// Prints `{"ok":bool,"issues":[{"path":..,"message":..}]}` on stdout.
        #[command(flatten)]
        json: JsonFlag,
    },
}

/// The `--json` output switch.
#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Prints JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Options of `bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The algorithm to measure: sha256d or scrypt (both when omitted); randomx (Monero's
    /// proof of work; builds its dataset first and reports how long that took); or ethash,
    /// etchash, kawpow (backends cpu, opencl[:N], cuda[:N]).
    #[arg(long, value_name = "ALGO", value_parser = parse_algorithm)]
    pub algo: Option<BenchAlgorithm>,
    /// The backend: cpu (the fastest kernel of this CPU), cpu-portable, cpu-avx2,
    /// cpu-avx512vl, cpu-avx512, cpu-sha-ni, reference (the hashing crates used
    /// directly, as a baseline), all (the baseline and every kernel this CPU runs),
    /// opencl / opencl:N (OpenCL device N, default 0), or cuda / cuda:N (CUDA device N,
    /// default 0). RandomX runs on the CPU only.
    #[arg(long, default_value = "cpu", value_name = "BACKEND")]
    pub backend: String,
    /// Hashing threads; 0 means one per logical CPU.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub threads: usize,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 10.0, value_name = "S")]
    pub seconds: f64,
    /// RandomX only: fast (the 2 GiB dataset), light (the 256 MiB cache), or auto (fast
    /// when the memory is there).
    #[arg(long, default_value = "auto", value_name = "MODE")]
    pub randomx_mode: otedama_miner::randomx::RandomxMode,
    /// RandomX only: huge pages to try: auto (reserved 1 GiB pages for the dataset, then
    /// reserved 2 MiB pages, then transparent ones, then normal pages), thp (transparent
    /// only) or off.
    #[arg(long, default_value = "auto", value_name = "PAGES", value_parser = parse_huge_pages)]
    pub huge_pages: otedama_miner::randomx::HugePages,
    /// RandomX only: threads that build the dataset; 0 means one per logical CPU.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub init_threads: usize,
    /// RandomX only: the VM that hashes in fast mode: auto (Otedama's compiled VM where
    /// it runs and agrees with the library, else the library's; two hashes at once a
    /// thread where each core runs one hardware thread), single (the compiled VM, one
    /// hash at a time), pair (the compiled VM, two at once) or library.
    #[arg(long, default_value = "auto", value_name = "VM")]
    pub randomx_vm: otedama_miner::randomx::VmEngine,
    /// RandomX only: while hashing, also print the count every S seconds, with the wall
    /// clock's time (a JSON object a line with --json), so that a window of the run can be
    /// compared with another program's reports over the same window.
    #[arg(long, value_name = "S")]
    pub report_seconds: Option<f64>,
    /// Prints one JSON object per measurement.
    #[arg(long)]
    pub json: bool,
    /// DAG algorithms: the epoch measured.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub epoch: u32,
    /// DAG algorithms: a 1 MiB cache and a dataset of this many MiB instead of the
    /// epoch's (a figure from a CPU OpenCL device in seconds; not a miner's figure).
    #[arg(long, value_name = "MIB")]
    pub dataset_mib: Option<u64>,
}

/// What `bench --algo` measures: a Bitcoin-family proof of work, RandomX, or a DAG
/// algorithm (a bench-level choice; the sharechain's `PowAlgorithm` stays as consensus
/// has it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchAlgorithm {
    /// SHA256d or Scrypt through the miner's backends.
    Pow(otedama_sharechain::PowAlgorithm),
    /// RandomX on the CPU.
    RandomX,
    /// Ethash, Etchash or KawPow.
    Dag(otedama_stratum::dag::DagAlgorithm),
}

fn parse_algorithm(s: &str) -> Result<BenchAlgorithm, String> {
    use otedama_sharechain::PowAlgorithm;
    if s == "randomx" {
        return Ok(BenchAlgorithm::RandomX);
    }
    if let Some(dag) = super::bench_dag::parse_dag(s) {
        return Ok(BenchAlgorithm::Dag(dag));
    }
    [PowAlgorithm::Sha256d, PowAlgorithm::Scrypt]
        .into_iter()
        .find(|a| a.to_string() == s)
        .map(BenchAlgorithm::Pow)
        .ok_or_else(|| {
            format!(
                "unknown algorithm {s:?} (expected sha256d, scrypt, randomx, ethash, etchash or kawpow)"
            )
        })
}

fn parse_huge_pages(s: &str) -> Result<otedama_miner::randomx::HugePages, String> {
    use otedama_miner::randomx::HugePages;
    match s {
        "auto" => Ok(HugePages::Auto),
        "thp" => Ok(HugePages::Transparent),
        "off" => Ok(HugePages::Off),
        _ => Err(format!(
            "unknown huge-page setting {s:?} (expected auto, thp or off)"
        )),
    }
}

/// Options of `devnet`.
#[derive(Debug, Args)]
pub struct DevnetArgs {
    /// The chain: ltc-regtest (litecoind) or xmr-regtest (monerod, monero-wallet-rpc and
    /// the RandomX miner).
    #[arg(long, default_value = "ltc-regtest", value_parser = ["ltc-regtest", "xmr-regtest"])]
    pub chain: String,
    /// Stop after this many blocks found by the pool, then print a summary.
    #[arg(long, value_name = "N")]
    pub blocks: Option<u64>,
    /// Keep the daemon's chain and the share store here (a temporary directory otherwise).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Stratum listen address (point external miners here too).
    #[arg(long, default_value = "127.0.0.1:3333", value_name = "ADDR")]
    pub stratum: std::net::SocketAddr,
    /// Hashing threads per miner.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Prints one JSON object per block and a JSON summary.
    #[arg(long)]
    pub json: bool,
    /// Serve the REST API and the live dashboard on this address.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub api: std::net::SocketAddr,
    /// Do not serve the API and dashboard.
    #[arg(long)]
    pub no_api: bool,
    /// Serve Prometheus metrics (`/metrics`) on this address; port 0 takes a free port.
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
    pub metrics: std::net::SocketAddr,
    /// Serve the health checks (`/healthz`, `/readyz`) on this address; port 0 takes a
    /// free port.
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
    pub health: std::net::SocketAddr,
    /// Serve neither metrics nor health checks.
    #[arg(long)]
    pub no_monitoring: bool,
}

/// Where the node's API is, and the output format.
#[derive(Debug, Args)]
pub struct RemoteArgs {
    /// Base URL of the node's API (its `api.address`).
    #[arg(
        long,
        global = true,
        env = "OTEDAMA_API",
        default_value = "http://127.0.0.1:8080",
        value_name = "URL"
    )]
    pub api: String,
    /// Prints the API's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

/// Options of `shares`.
#[derive(Debug, Args)]
pub struct SharesArgs {
    /// API and format.
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// Page number, from 1 (newest shares first).
    #[arg(long, default_value_t = 1)]
    pub page: u64,
    /// Shares per page, 1 to 100.
    #[arg(long, default_value_t = 20)]
    pub per_page: u64,
}

/// Options of `peers`: the listing, or an action on one peer.
#[derive(Debug, Args)]
pub struct PeersArgs {
    /// API and format.
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// API token for the actions (`otedama-node token create`); not needed when the
    /// node runs with `api.auth.enabled: false`.
    #[arg(
        long,
        env = "OTEDAMA_TOKEN",
        hide_env_values = true,
        global = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
    /// What to do; lists the connected peers when omitted.
    #[command(subcommand)]
    pub action: Option<PeerCommand>,
}

/// The `peers` actions.
#[derive(Debug, Subcommand)]
pub enum PeerCommand {
    /// Dials a peer at a multiaddr (`/ip4/192.0.2.7/tcp/9333/p2p/12D3Koo...`).
    Dial {
        /// The peer's address.
        address: String,
    },
    /// Disconnects a peer and refuses it for a while.
    Ban {
        /// The peer id.
        peer: String,
        /// How long, e.g. 10m, 24h (default 10m, at most 30d).
        #[arg(long, value_name = "DURATION", value_parser = humantime_serde::re::humantime::parse_duration)]
        duration: Option<Duration>,
    },
    /// Lifts a ban.
    Unban {
        /// The peer id.
        peer: String,
    },
}

/// Where the token store is: the data directory of a config, or one given directly.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// The node's config file (its `app.data_dir` holds the tokens).
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "data_dir",
        conflicts_with = "data_dir"
    )]
    pub config: Option<PathBuf>,
    /// The node's data directory.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// The `token` subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Creates an API token and prints it once; only its SHA-256 is stored.
    Create {
        /// Where the tokens are.
        #[command(flatten)]
        store: StoreArgs,
        /// How long it stays valid, e.g. 24h, 30d (default: the config's
        /// api.auth.token_expiry, or 24h).
        #[arg(long, value_name = "DURATION", value_parser = humantime_serde::re::humantime::parse_duration)]
        expiry: Option<Duration>,
        /// A note to recognise it by in `token list`.
        #[arg(long, value_name = "TEXT")]
        label: Option<String>,
        /// Prints JSON.
        #[arg(long)]
        json: bool,
    },
    /// Lists tokens: id, label, creation, expiry, state.
    List {
        /// Where the tokens are.
        #[command(flatten)]
        store: StoreArgs,
        /// Prints JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revokes a token; the running node refuses it from the next request on.
    Revoke {
        /// Where the tokens are.
        #[command(flatten)]
        store: StoreArgs,
        /// The token's id (from `token list`).
        id: String,
    },
}

/// Options of `keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where the key is kept.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Prints `{"peer_id":..,"path":..,"created":bool}`.
    #[arg(long)]
    pub json: bool,
}
