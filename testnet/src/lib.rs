//! Otedama's test harness: starts real parent-chain daemons on loopback (and, as the
//! mesh lands, several nodes and miners) for end-to-end scenario tests.
//!
//! - [`LitecoinRegtest`]: a two-node litecoind regtest pair (getblocktemplate needs a peer);
//!   the same launcher `otedama-node devnet` uses.
//! - [`RpcClient`]: a minimal blocking JSON-RPC client for the daemons.

pub use otedama_node::devnet::{LitecoinRegtest, RpcClient, RpcError, litecoind_path};
