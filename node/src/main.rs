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
        Command::Devnet(args) => {
            init_tracing(cli.log_level.as_deref().unwrap_or("warn"), LogFormat::Text)?;
            devnet(args)
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
        let node = otedama_node::Node::start(&config, home.as_deref()).await?;
        let miner = if config.mining.miner_enabled() {
            let algorithm = config
                .mining
                .algorithm
                .pow_algorithm()
                .context("mining.algorithm has no CPU backend yet")?;
            Some(
                otedama_miner::Miner::start(otedama_miner::MinerConfig {
                    pools: config.mining.pool_urls.clone(),
                    user: config.mining.payout_address.clone(),
                    password: "x".into(),
                    threads: config.mining.cpu.threads as usize,
                    algorithm,
                })
                .context("starting the built-in miner")?,
            )
        } else {
            None
        };
        wait_for_signal().await;
        tracing::info!(target: "otedama::node", "shutting down");
        if let Some(m) = miner {
            m.stop().await;
        }
        node.stop().await;
        anyhow::Ok(ExitCode::SUCCESS)
    })
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
