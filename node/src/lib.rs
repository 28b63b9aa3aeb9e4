//! The Otedama node: composes the sharechain, Stratum server, built-in miner and API.
//!
//! - [`api`]: the node's side of the REST API ([`otedama_rpc::NodeApi`]) and its listeners.
//! - [`cli`]: the `otedama-node` command line: its arguments and every command's work.
//! - [`config`]: the node's YAML configuration, its loading and its semantic checks.
//! - [`coordinator`]: the task that owns the share chain and store and answers queries.
//! - [`devices`]: the mining hardware of this machine (`otedama-node devices`).
//! - [`devnet`]: the one-command local network (litecoind regtest + node + miners).
//! - [`etc`]: Ethereum Classic, solo: Etchash Stratum over core-geth's work API.
//! - [`history`]: the node's time series, kept across restarts for `/api/history`.
//! - [`logfile`]: the log file, rotated by size or day.
//! - [`mining`]: the built-in miner the API can start and stop.
//! - [`p2p`]: the sharechain network (libp2p swarm, share gossip and sync).
//! - [`parent`]: the parent-chain daemon client (getblocktemplate, submitblock, failover).
//! - [`proof`]: found blocks read back from the parent chain: pending, confirmed, orphaned.
//! - [`service`]: the running node and its [`NodeHandle`].
//! - [`tracker`]: worker and block statistics followed from the node's events.

pub mod api;
pub mod cli;
pub mod config;
pub mod coordinator;
pub mod devices;
pub mod devnet;
pub mod etc;
pub mod history;
pub mod logfile;
pub mod mining;
pub mod monero;
pub mod p2p;
pub mod parent;
pub mod proof;
pub mod service;
pub mod tracker;

pub use service::{Node, NodeError, NodeEvent, NodeHandle, QueryError};

/// Returns the wall-clock time in Unix seconds (0 if the clock is before 1970).
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
