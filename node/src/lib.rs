//! The Otedama node: composes the sharechain, Stratum server, built-in miner and API.
//!
//! - [`config`]: the node's YAML configuration, its loading and its semantic checks.
//! - [`parent`]: the parent-chain daemon client (getblocktemplate, submitblock, failover).
//! - [`service`]: the running node: template polling, work publication, submissions.
//! - [`devnet`]: the one-command local network (litecoind regtest + node + miners).

pub mod config;
pub mod devnet;
pub mod parent;
pub mod service;
mod work;

pub use service::{Node, NodeError, NodeEvent};
