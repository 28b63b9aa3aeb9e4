//! Otedama's Stratum servers: v1 (line codec, sessions, jobs, difficulty and submissions)
//! and V2 (the `sv2` module).
//! A session emits typed [`Submission`]s and never touches the sharechain; the node
//! turns them into shares and blocks.
//!
//! - `framing` / `codec`: bounded newline framing; typed JSON-RPC requests, responses
//!   and notifications.
//! - `job`: job ids, the shared `mining.notify` encoding, each session's recent jobs.
//! - `session`: one connection's task and I/O; `handlers` answer requests, `notify`
//!   sends jobs and difficulty, `submit` checks shares.
//! - `vardiff`: difficulty bounds and variable difficulty; `extranonce`: extranonce1
//!   allocation and session resume; `ban`: bans and connection-rate limits.
//! - `fee`: the operator's fee on other miners' jobs ([`OperatorFee`]).
//! - [`StratumServer`]: the accept loop and connection caps.
//! - [`StratumStats`]: server-wide counters.
//! - [`xmrig`]: xmrig's JSON-RPC dialect for RandomX miners of a Monero sidechain.
//! - [`dag`]: the Ethash, Etchash and KawPow dialects (EthereumStratum/1.0.0, ETHPROXY,
//!   KawPow) on a server of their own ([`dag::DagServer`]), every share
//!   verified with the epoch's light cache.
//! - [`sv2`]: Stratum V2 (Noise, binary frames, standard and extended channels) on a
//!   second port, sharing the work, the share path, the caps, bans and counters.
//!
//! The node publishes [`Work`] on a `watch` channel and receives [`Submission`]s on a
//! bounded `mpsc` channel; see `work.rs` for that boundary.
//!
//! Client compatibility (cgminer, bfgminer, cpuminer, Bitaxe, Antminer, NiceHash),
//! difficulty, limits and bans are described in the crate's `README.md`, and replayed
//! message by message in the integration tests (`tests/it/conversations.rs`).

mod ban;
mod codec;
mod config;
pub mod dag;
mod error;
mod extranonce;
mod fee;
mod framing;
mod handlers;
mod job;
mod notify;
mod observer;
mod server;
mod session;
mod stats;
mod submit;
pub mod sv2;
mod vardiff;
mod work;
pub mod xmrig;

#[cfg(feature = "fuzzing")]
pub mod fuzzing;
// The fuzz invariants also run in the normal test suite, on past crashes.
#[cfg(all(test, not(feature = "fuzzing")))]
mod fuzzing;

pub use config::{BanConfig, StratumConfig, VardiffConfig};
pub use error::ConfigError;
pub use fee::{FeeError, MAX_FEE_PERCENT, OperatorFee};
pub use observer::SubmitObserver;
pub use server::StratumServer;
pub use stats::{StatsSnapshot, StratumStats};
pub use work::{Submission, Work, WorkError, WorkSource};
