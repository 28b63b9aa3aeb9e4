//! The `otedama-node` command line: `main.rs` parses [`Cli`] and dispatches; the modules
//! here do the work.
//!
//! - `args`: every clap type, [`Cli`] down to each subcommand's options.
//! - `remote`: the commands that query a running node over its REST API (`status`,
//!   `workers`, `shares`, `payouts`, `peers` and its actions).
//! - `format`: the human-readable tables of those commands.
//! - `token`: the `token` commands, API tokens in the data directory.
//! - `keygen`: the node key (the P2P identity) in the data directory.
//! - `check`: `config check`, which `serve` runs first too.
//! - `listing`: `chains` and `devices`.
//! - `bench`: the built-in miner's hash rate.
//! - `serve`: `serve` and `devnet`.
//! - `sidechain`: `sidechain verify`, offline verification of Monero share dumps.
//! - `generate`: the man pages and shell completions (the `otedama-gen` binary).
//! - `health`: `healthcheck`, the container health probe (a hidden subcommand).

mod args;
mod bench;
mod bench_dag;
mod check;
mod format;
mod generate;
mod health;
mod keygen;
mod listing;
mod remote;
mod serve;
mod sidechain;
mod token;

pub use args::{
    BenchAlgorithm, BenchArgs, Cli, Command, ConfigCommand, DevnetArgs, GenCli, GenerateCommand,
    HealthcheckArgs, JsonFlag, KeygenArgs, PeerCommand, PeersArgs, RemoteArgs, SharesArgs,
    SidechainCommand, SidechainVerifyArgs, StoreArgs, TokenCommand,
};
pub use bench::bench;
pub use check::config_check;
pub use format::{fmt_hashrate, payouts_text, peers_text, shares_text, status_text, workers_text};
pub use generate::generate;
pub use health::healthcheck;
pub use keygen::keygen;
pub use listing::{chains, devices};
pub use remote::{Query, peers, query};
pub use serve::{devnet, load_for_serve, serve};
pub use sidechain::sidechain_verify;
pub use token::token;

/// Exit code for any config issue (`config check`, `serve`).
pub const EXIT_ISSUES: u8 = 1;
/// Exit code when the node answered with an error.
pub const EXIT_API_ERROR: u8 = 1;
/// Exit code for an unreadable file, a usage or local error, or a command this version
/// lacks.
pub const EXIT_FAILURE: u8 = 2;
/// Exit code when no node answers at the API URL.
pub const EXIT_NOT_RUNNING: u8 = 3;

/// A single-threaded runtime for a command that talks to a node, or the message and
/// `code` to exit with when none can start.
pub(crate) fn client_runtime(code: u8) -> Result<tokio::runtime::Runtime, std::process::ExitCode> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::ExitCode::from(code)
        })
}
