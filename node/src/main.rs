//! `otedama-node`: the command-line front end of the Otedama node. It parses the command
//! line, installs logging and hands each command to `otedama_node::cli`.

use std::io::IsTerminal as _;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use otedama_node::cli::{self, Cli, Command, ConfigCommand, EXIT_FAILURE, Query, SidechainCommand};
use otedama_node::config::{Config, LogFormat, check_log_filter};
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

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
    // Local commands log warnings only unless asked; `serve` takes its level from the
    // config, and the query commands never log, so that their output stays clean.
    let local_logging =
        || init_tracing(cli.log_level.as_deref().unwrap_or("warn"), LogFormat::Text);
    match cli.command {
        Command::Config(ConfigCommand::Check { file, json }) => {
            local_logging()?;
            Ok(cli::config_check(&file, json.json))
        }
        Command::Chains(json) => {
            local_logging()?;
            cli::chains(json.json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve { config } => {
            let config = match cli::load_for_serve(&config) {
                Ok(config) => config,
                Err(code) => return Ok(code),
            };
            // Kept to the end: dropping it flushes the log file.
            let _log_file = init_serve_tracing(cli.log_level.as_deref(), &config)?;
            cli::serve(&config)
        }
        Command::Status(args) => Ok(cli::query(Query::Status, &args)),
        Command::Workers(args) => Ok(cli::query(Query::Workers, &args)),
        Command::Shares(args) => Ok(cli::query(
            Query::Shares {
                page: args.page,
                per_page: args.per_page,
            },
            &args.remote,
        )),
        Command::Payouts(args) => Ok(cli::query(Query::Payouts, &args)),
        Command::Peers(args) => Ok(cli::peers(&args)),
        Command::Keygen(args) => Ok(cli::keygen(&args)),
        Command::Token(cmd) => {
            local_logging()?;
            Ok(cli::token(cmd))
        }
        Command::Devnet(args) => {
            local_logging()?;
            cli::devnet(args)
        }
        Command::Bench(args) => {
            local_logging()?;
            cli::bench(&args)
        }
        Command::Sidechain(SidechainCommand::Verify(args)) => {
            local_logging()?;
            cli::sidechain_verify(&args)
        }
        Command::Healthcheck(args) => Ok(cli::healthcheck(&args)),
        Command::Devices(json) => {
            local_logging()?;
            cli::devices(json.json)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Installs the global subscriber of `serve`: stderr, and the log file where the config
/// has one, both in the config's format. Returns the guard that flushes the file.
fn init_serve_tracing(
    level: Option<&str>,
    config: &Config,
) -> anyhow::Result<Option<tracing_appender::non_blocking::WorkerGuard>> {
    let app = &config.app;
    let filter = level.unwrap_or(&app.log_level);
    check_log_filter(filter).context("log filter")?;
    let env_filter = || parse_filter(filter);
    let json = app.effective_log_format() == LogFormat::Json;
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let stderr = if json {
        stderr.json().with_filter(env_filter()?).boxed()
    } else {
        stderr.with_filter(env_filter()?).boxed()
    };
    let (file, guard) = match app.effective_log_file() {
        None => (None, None),
        Some(path) => {
            let file = otedama_node::logfile::RotatingFile::from_config(&path, &app.log_rotation)
                .with_context(|| format!("opening the log file {}", path.display()))?;
            let (writer, guard) = tracing_appender::non_blocking(file);
            let layer = tracing_subscriber::fmt::layer()
                .with_writer(writer)
                .with_ansi(false);
            let layer = if json {
                layer.json().with_filter(env_filter()?).boxed()
            } else {
                layer.with_filter(env_filter()?).boxed()
            };
            (Some(layer), Some(guard))
        }
    };
    tracing_subscriber::registry()
        .with(stderr)
        .with(file)
        .try_init()
        .map_err(|err| anyhow::anyhow!("cannot install the log subscriber: {err}"))?;
    if let Some(path) = app.effective_log_file() {
        tracing::info!(target: "otedama::node", mode = %app.mode, log_file = %path.display(), "logging to file");
    }
    Ok(guard)
}

/// Installs the global subscriber, writing to stderr so that stdout stays for command output.
fn init_tracing(filter: &str, format: LogFormat) -> anyhow::Result<()> {
    check_log_filter(filter).context("log filter")?;
    let filter = parse_filter(filter)?;
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let installed = match format {
        LogFormat::Text => builder.finish().with(filter).try_init(),
        LogFormat::Json => builder.json().finish().with(filter).try_init(),
    };
    installed.map_err(|err| anyhow::anyhow!("cannot install the log subscriber: {err}"))
}

/// A log filter: a level, or comma-separated `target=level` directives (checked first by
/// `check_log_filter`).
fn parse_filter(filter: &str) -> anyhow::Result<tracing_subscriber::filter::Targets> {
    filter
        .parse()
        .with_context(|| format!("invalid log filter {filter:?}"))
}
