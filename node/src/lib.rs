//! The Otedama node: composes the sharechain, Stratum server, built-in miner and API.
//!
//! - [`config`]: the node's YAML configuration, its loading and its semantic checks.
//! - [`parent`]: the parent-chain daemon client (getblocktemplate, submitblock, failover).
//! - [`service`]: the running node and its [`NodeHandle`]; `coordinator` owns the share
//!   store and answers queries; `tracker` follows events into worker and block statistics;
//!   [`mining`]: the built-in miner the API can start and stop.
//! - [`api`]: the node's side of the REST API ([`otedama_rpc::NodeApi`]) and the API,
//!   metrics and health listeners.
//! - [`cli`]: the commands that query a running node over the API, and `token`.
//! - [`devnet`]: the one-command local network (litecoind regtest + node + miners).
//! - [`devices`]: the mining hardware of this machine (`otedama-node devices`).

pub mod api;
pub mod cli;
pub mod config;
pub mod coordinator;
pub mod devices;
pub mod devnet;
pub mod mining;
pub mod p2p;
pub mod parent;
pub mod service;
pub mod tracker;

pub use service::{Node, NodeError, NodeEvent, NodeHandle, QueryError};

/// Returns the wall-clock time in Unix seconds (0 if the clock is before 1970).
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
