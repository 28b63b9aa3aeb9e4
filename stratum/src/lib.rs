//! Otedama's Stratum v1 server: line codec, sessions, jobs and submissions. A session
//! emits typed [`Submission`]s and never touches the sharechain; the node turns them
//! into shares and blocks.
//!
//! - `codec`: bounded newline framing and typed JSON-RPC requests and responses.
//! - `job`: job ids, the `mining.notify` encoding, each session's recent jobs.
//! - `session` / `submit`: one connection's protocol state and the share checks.
//! - [`StratumServer`]: the accept loop, connection caps and extranonce1 allocation.
//! - [`StratumStats`]: server-wide counters.
//!
//! The node publishes [`Work`] on a `watch` channel and receives [`Submission`]s on a
//! bounded `mpsc` channel; see `work.rs` for that boundary.

mod codec;
mod config;
mod error;
mod job;
mod server;
mod session;
mod stats;
mod submit;
mod work;

pub use config::StratumConfig;
pub use error::ConfigError;
pub use server::StratumServer;
pub use stats::{StatsSnapshot, StratumStats};
pub use work::{Submission, Work, WorkError, WorkSource};
