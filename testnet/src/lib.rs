//! Otedama's test harness: real parent-chain daemons, a deterministic parent stand-in,
//! and several nodes as separate processes on loopback, for multi-node scenario tests.
//!
//! - [`LitecoinRegtest`]: a two-node litecoind regtest pair (getblocktemplate needs a peer);
//!   the same launcher `otedama-node devnet` uses.
//! - [`RpcClient`]: a minimal blocking JSON-RPC client for the daemons.
//! - [`standin::ParentStandIn`]: a deterministic in-process parent-chain stand-in for
//!   large, fast runs (not a parent chain; see its docs).
//! - [`adversary::Adversary`]: a dishonest peer that announces forged shares.
//! - [`cluster::TestNode`]: an `otedama-node serve` process with its own ports, data dir,
//!   node key and built-in miner.

pub mod adversary;
pub mod cluster;
pub mod standin;

pub use otedama_node::devnet::{LitecoinRegtest, RpcClient, RpcError, litecoind_path};
