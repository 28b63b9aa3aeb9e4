//! Otedama's test harness: starts real parent-chain daemons on loopback (and, as the
//! mesh lands, several nodes and miners) for end-to-end scenario tests.
//!
//! - [`LitecoinRegtest`]: a two-node litecoind regtest pair (getblocktemplate needs a peer).
//! - [`RpcClient`]: a minimal blocking JSON-RPC client for the daemons.

mod litecoind;
mod rpc;

pub use litecoind::{LitecoinRegtest, litecoind_path};
pub use rpc::{RpcClient, RpcError};
