//! `otedama-node`: the command-line front end of the Otedama node.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use otedama_node::config::{Config, ConfigError, Issue, LogFormat, check_log_filter};
use otedama_sharechain::ChainSpec;
use serde::Serialize;

/// The Otedama node: P2P sharechain, Stratum server, built-in miner and dashboard.
#[derive(Debug, Parser)]
#[command(name = "otedama-node", version, about)]
struct Cli {
    /// Log filter (off, error, warn, info, debug, trace, or target=level directives);
    /// overrides the config's app.log_level.
    #[arg(long, global = true, env = "OTEDAMA_LOG_LEVEL", value_name = "FILTER")]
    log_level: Option<String>,
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Command {
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
    Status(otedama_node::cli::RemoteArgs),
    /// Lists a running node's Stratum workers.
    Workers(otedama_node::cli::RemoteArgs),
    /// Lists a running node's main-chain shares, newest first.
    Shares(otedama_node::cli::SharesArgs),
    /// Shows a running node's expected PPLNS payout and the blocks it found.
    Payouts(otedama_node::cli::RemoteArgs),
    /// Lists a running node's sharechain peers (id, address, direction, latency, agent,
    /// tip, score), or dials, bans or unbans one.
    Peers(otedama_node::cli::PeersArgs),
    /// Creates the node key (the P2P identity in the data directory) if there is none,
    /// and prints the peer id.
    Keygen(otedama_node::cli::KeygenArgs),
    /// Creates, lists and revokes API tokens (stored hashed in the data directory).
    #[command(subcommand)]
    Token(otedama_node::cli::TokenCommand),
}

/// Options of `bench`.
#[derive(Debug, Args)]
struct BenchArgs {
    /// The algorithm to measure: sha256d or scrypt (both when omitted).
    #[arg(long, value_name = "ALGO", value_parser = parse_algorithm)]
    algo: Option<otedama_sharechain::PowAlgorithm>,
    /// The backend: cpu (the fastest kernel of this CPU), cpu-portable, cpu-avx2,
    /// cpu-avx512vl, cpu-avx512, cpu-sha-ni, reference (the hashing crates used
    /// directly, as a baseline), all (the baseline and every kernel this CPU runs),
    /// opencl / opencl:N (OpenCL device N, default 0), or cuda / cuda:N (CUDA device N,
    /// default 0).
    #[arg(long, default_value = "cpu", value_name = "BACKEND")]
    backend: String,
    /// Hashing threads; 0 means one per logical CPU.
    #[arg(long, default_value_t = 1, value_name = "N")]
    threads: usize,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 10.0, value_name = "S")]
    seconds: f64,
    /// Prints one JSON object per measurement.
    #[arg(long)]
    json: bool,
}

fn parse_algorithm(s: &str) -> Result<otedama_sharechain::PowAlgorithm, String> {
    use otedama_sharechain::PowAlgorithm;
    [PowAlgorithm::Sha256d, PowAlgorithm::Scrypt]
        .into_iter()
        .find(|a| a.to_string() == s)
        .ok_or_else(|| format!("unknown algorithm {s:?} (expected sha256d or scrypt)"))
}

/// Options of `devnet`.
#[derive(Debug, Args)]
struct DevnetArgs {
    /// Stop after this many blocks found by the pool, then print a summary.
    #[arg(long, value_name = "N")]
    blocks: Option<u64>,
    /// Keep the daemon's chain and the share store here (a temporary directory otherwise).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Stratum listen address (point external miners here too).
    #[arg(long, default_value = "127.0.0.1:3333", value_name = "ADDR")]
    stratum: std::net::SocketAddr,
    /// Hashing threads per miner.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Prints one JSON object per block and a JSON summary.
    #[arg(long)]
    json: bool,
    /// Serve the REST API and the live dashboard on this address.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    api: std::net::SocketAddr,
    /// Do not serve the API and dashboard.
    #[arg(long)]
    no_api: bool,
}

/// The `config` subcommands.
#[derive(Debug, Subcommand)]
enum ConfigCommand {
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
struct JsonFlag {
    /// Prints JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Exit code for any config issue.
const EXIT_ISSUES: u8 = 1;
/// Exit code for an unreadable file, a usage error, or a command this version lacks.
const EXIT_FAILURE: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Config(ConfigCommand::Check { file, json }) => {
            init_tracing(cli.log_level.as_deref().unwrap_or("warn"), LogFormat::Text)?;
            Ok(config_check(&file, json.json))
        }
        Command::Chains(json) => {
            init_tracing(cli.log_level.as_deref().unwrap_or("warn"), LogFormat::Text)?;
            print_chains(json.json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve { config } => serve(&config, cli.log_level.as_deref()),
        Command::Status(args) => Ok(remote(otedama_node::cli::Query::Status, &args)),
        Command::Workers(args) => Ok(remote(otedama_node::cli::Query::Workers, &args)),
        Command::Shares(args) => Ok(remote(
            otedama_node::cli::Query::Shares {
                page: args.page,
                per_page: args.per_page,
            },
            &args.remote,
        )),
        Command::Payouts(args) => Ok(remote(otedama_node::cli::Query::Payouts, &args)),
        Command::Peers(args) => Ok(otedama_node::cli::peers(&args)),
        Command::Keygen(args) => Ok(otedama_node::cli::keygen(&args)),
        Command::Token(cmd) => {
            init_tracing(cli.log_level.as_deref().unwrap_or("warn"), LogFormat::Text)?;
            Ok(otedama_node::cli::token(cmd))
        }
        Command::Devnet(args) => {
            init_tracing(cli.log_level.as_deref().unwrap_or("warn"), LogFormat::Text)?;
            devnet(args)
        }
        Command::Bench(args) => {
            init_tracing(cli.log_level.as_deref().unwrap_or("warn"), LogFormat::Text)?;
            bench(&args)
        }
        Command::Devices(json) => {
            init_tracing(cli.log_level.as_deref().unwrap_or("warn"), LogFormat::Text)?;
            let report = otedama_node::devices::report();
            if json.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", otedama_node::devices::render(&report));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Installs the global subscriber, writing to stderr so that stdout stays for command output.
fn init_tracing(filter: &str, format: LogFormat) -> anyhow::Result<()> {
    check_log_filter(filter).context("log filter")?;
    let filter = tracing_subscriber::EnvFilter::builder()
        .parse(filter)
        .with_context(|| format!("invalid log filter {filter:?}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    installed.map_err(|err| anyhow::anyhow!("cannot install the log subscriber: {err}"))
}

/// The outcome of loading and validating one config file.
enum Checked {
    /// It loaded; these are its issues (none if it is valid).
    Loaded(Box<Config>, Vec<Issue>),
    /// It loaded with an error that is an issue of the file (syntax, unknown key, type, empty).
    Invalid(Issue),
    /// It could not be read.
    Unreadable(Issue),
}

fn check_file(file: &Path) -> Checked {
    match Config::load(file) {
        Ok(config) => {
            let issues = config.validate();
            Checked::Loaded(Box::new(config), issues)
        }
        Err(err @ ConfigError::Read { .. }) => Checked::Unreadable(err.to_issue()),
        Err(err) => Checked::Invalid(err.to_issue()),
    }
}

/// The `--json` report of `config check`.
#[derive(Serialize)]
struct CheckReport<'a> {
    ok: bool,
    issues: &'a [Issue],
}

fn config_check(file: &Path, json: bool) -> ExitCode {
    let (issues, code) = match check_file(file) {
        Checked::Loaded(_, issues) if issues.is_empty() => (issues, ExitCode::SUCCESS),
        Checked::Loaded(_, issues) => (issues, ExitCode::from(EXIT_ISSUES)),
        Checked::Invalid(issue) => (vec![issue], ExitCode::from(EXIT_ISSUES)),
        Checked::Unreadable(issue) => (vec![issue], ExitCode::from(EXIT_FAILURE)),
    };
    if json {
        let report = CheckReport {
            ok: issues.is_empty(),
            issues: &issues,
        };
        match serde_json::to_string(&report) {
            Ok(line) => println!("{line}"),
            Err(err) => {
                eprintln!("error: cannot encode the report: {err}");
                return ExitCode::from(EXIT_FAILURE);
            }
        }
    } else if issues.is_empty() {
        println!("ok: {}", file.display());
    } else {
        for issue in &issues {
            eprintln!("{issue}");
        }
    }
    code
}

/// One row of `chains --json`.
#[derive(Serialize)]
struct ChainRow {
    name: &'static str,
    algorithm: String,
    share_period_secs: u64,
    window_max_shares: u32,
    consensus_id: String,
}

fn print_chains(json: bool) -> anyhow::Result<()> {
    let rows: Vec<ChainRow> = ChainSpec::all()
        .iter()
        .map(|spec| ChainRow {
            name: spec.name,
            algorithm: spec.algorithm.to_string(),
            share_period_secs: spec.share_period_secs,
            window_max_shares: spec.window_max_shares,
            consensus_id: spec.consensus_id().to_string(),
        })
        .collect();
    if json {
        println!(
            "{}",
            serde_json::to_string(&rows).context("cannot encode the chain list")?
        );
        return Ok(());
    }
    println!(
        "{:<12} {:<9} {:>12} {:>10}  CONSENSUS ID",
        "NAME", "ALGORITHM", "SHARE PERIOD", "WINDOW CAP"
    );
    for row in &rows {
        println!(
            "{:<12} {:<9} {:>12} {:>10}  {}",
            row.name,
            row.algorithm,
            format!("{}s", row.share_period_secs),
            row.window_max_shares,
            row.consensus_id
        );
    }
    Ok(())
}

fn serve(file: &Path, log_level: Option<&str>) -> anyhow::Result<ExitCode> {
    // The config is checked first so that an operator trying `serve` learns about its problems now.
    let config = match check_file(file) {
        Checked::Loaded(config, issues) if issues.is_empty() => config,
        Checked::Loaded(_, issues) => {
            issues.iter().for_each(|issue| eprintln!("{issue}"));
            return Ok(ExitCode::from(EXIT_ISSUES));
        }
        Checked::Invalid(issue) => {
            eprintln!("{issue}");
            return Ok(ExitCode::from(EXIT_ISSUES));
        }
        Checked::Unreadable(issue) => {
            eprintln!("{issue}");
            return Ok(ExitCode::from(EXIT_FAILURE));
        }
    };
    init_tracing(
        log_level.unwrap_or(&config.app.log_level),
        config.app.log_format,
    )?;
    tracing::info!(target: "otedama::node", name = %config.app.name, chains = config.chains.len(), "config loaded");
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        // The node starts the built-in miner itself when `mining` enables it.
        let node = otedama_node::Node::start(&config, home.as_deref()).await?;
        let services = otedama_node::api::Services::start(
            &node,
            &config,
            &otedama_node::api::ServiceSet::from_config(&config),
        )
        .await?;
        tracing::info!(target: "otedama::node", stratum = %node.stratum_addr(), api = ?services.api_addr(),
            metrics = ?services.metrics_addr(), health = ?services.health_addr(), "serving");
        wait_for_signal().await;
        tracing::info!(target: "otedama::node", "shutting down");
        services.stop().await;
        node.stop().await;
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

/// Runs a query command; it builds its own small runtime and never logs.
fn remote(what: otedama_node::cli::Query, args: &otedama_node::cli::RemoteArgs) -> ExitCode {
    otedama_node::cli::query(what, args)
}

/// Waits for Ctrl-C or SIGTERM.
async fn wait_for_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match term.as_mut() {
                Some(t) => { t.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}

fn devnet(args: DevnetArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let json = args.json;
    let options = otedama_node::devnet::DevnetOptions {
        blocks: args.blocks,
        data_dir: args.data_dir,
        stratum: args.stratum,
        threads: args.threads.max(1),
        json,
        api: (!args.no_api).then_some(args.api),
    };
    match runtime.block_on(otedama_node::devnet::run(options)) {
        Ok(summary) => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string(&summary).context("encoding the summary")?
                );
            } else {
                println!(
                    "summary: {} blocks, {} shares",
                    summary.blocks.len(),
                    summary.shares
                );
                for (address, sat) in &summary.totals {
                    println!(
                        "  {address}: {}",
                        otedama_sharechain::Amount::from_sat(*sat)
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("otedama-node devnet: {e}");
            Ok(ExitCode::from(EXIT_FAILURE))
        }
    }
}

/// One row of `bench --json`.
#[derive(Serialize)]
struct BenchRow {
    algorithm: String,
    backend: String,
    kernel: &'static str,
    lanes: usize,
    threads: usize,
    seconds: f64,
    hashes: u64,
    hashes_per_second: f64,
    per_thread: f64,
}

/// Formats a rate with an SI prefix: "36.12 MH/s".
fn si_rate(rate: f64) -> String {
    let (scaled, prefix) = match rate {
        r if r >= 1e9 => (r / 1e9, "G"),
        r if r >= 1e6 => (r / 1e6, "M"),
        r if r >= 1e3 => (r / 1e3, "k"),
        r => (r, ""),
    };
    format!("{scaled:.2} {prefix}H/s")
}

fn bench(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    use otedama_miner::{CpuBackend, CpuKernel, ReferenceBackend};
    use otedama_sharechain::PowAlgorithm;
    if !(args.seconds > 0.0 && args.seconds.is_finite()) {
        anyhow::bail!("--seconds must be a positive number");
    }
    let algorithms = match args.algo {
        Some(a) => vec![a],
        None => vec![PowAlgorithm::Sha256d, PowAlgorithm::Scrypt],
    };
    let mut runs: Vec<Box<dyn otedama_miner::HashBackend>> = Vec::new();
    for &algorithm in &algorithms {
        match args.backend.as_str() {
            "cpu" => runs.push(Box::new(CpuBackend::new(algorithm))),
            "reference" => runs.push(Box::new(ReferenceBackend::new(algorithm))),
            name if name == "opencl" || name.starts_with("opencl:") => {
                let device = match name.strip_prefix("opencl:") {
                    Some(i) => i.parse().context("--backend opencl:<device index>")?,
                    None => 0,
                };
                runs.push(Box::new(
                    otedama_miner::OpenClBackend::new(
                        algorithm,
                        device,
                        otedama_miner::opencl::DEFAULT_INTENSITY,
                    )
                    .context("--backend")?,
                ));
            }
            name if name == "cuda" || name.starts_with("cuda:") => {
                let device = match name.strip_prefix("cuda:") {
                    Some(i) => i.parse().context("--backend cuda:<device index>")?,
                    None => 0,
                };
                runs.push(Box::new(
                    otedama_miner::CudaBackend::new(
                        algorithm,
                        device,
                        otedama_miner::cuda::DEFAULT_INTENSITY,
                    )
                    .context("--backend")?,
                ));
            }
            "all" => {
                runs.push(Box::new(ReferenceBackend::new(algorithm)));
                for kernel in CpuKernel::supported(algorithm) {
                    runs.push(Box::new(
                        CpuBackend::with_kernel(algorithm, kernel).context("--backend")?,
                    ));
                }
            }
            name => {
                let kernel: CpuKernel = name.parse().context("--backend")?;
                runs.push(Box::new(
                    CpuBackend::with_kernel(algorithm, kernel).context("--backend")?,
                ));
            }
        }
    }
    let duration = std::time::Duration::from_secs_f64(args.seconds);
    if !args.json {
        println!(
            "{:<9} {:<13} {:>5} {:>7} {:>14} {:>14}",
            "ALGORITHM", "BACKEND", "LANES", "THREADS", "HASHRATE", "PER THREAD"
        );
    }
    for backend in runs {
        let algorithm = backend.algorithm();
        let r = otedama_miner::measure_hashrate(backend.as_ref(), args.threads, duration)
            .context("running the benchmark")?;
        let kernel = backend.name().parse::<CpuKernel>().ok();
        let row = BenchRow {
            algorithm: algorithm.to_string(),
            backend: backend.name().to_owned(),
            kernel: kernel.map_or("-", CpuKernel::name),
            lanes: kernel.map_or(1, |k| k.lanes(algorithm)),
            threads: r.threads,
            seconds: r.elapsed.as_secs_f64(),
            hashes: r.hashes,
            hashes_per_second: r.hashrate(),
            per_thread: r.per_thread(),
        };
        if args.json {
            println!(
                "{}",
                serde_json::to_string(&row).context("encoding the result")?
            );
        } else {
            println!(
                "{:<9} {:<13} {:>5} {:>7} {:>14} {:>14}",
                row.algorithm,
                row.backend,
                row.lanes,
                row.threads,
                si_rate(row.hashes_per_second),
                si_rate(row.per_thread)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
