//! Otedama's test harness: real parent-chain daemons, a deterministic parent stand-in,
//! and several nodes as separate processes on loopback, for multi-node scenario tests.
//!
//! - [`LitecoinRegtest`]: a two-node litecoind regtest pair (getblocktemplate needs a peer);
//!   the same launcher `otedama-node devnet` uses.
//! - [`RpcClient`]: a minimal blocking JSON-RPC client for the daemons.
//! - [`standin::ParentStandIn`]: a deterministic in-process parent-chain stand-in for
//!   large, fast runs (not a parent chain; see its docs).
//! - [`geth::GethStandIn`]: core-geth's work API for solo Ethereum Classic mining, with
//!   Etchash verified for real (no Ethereum Classic daemon is packaged here).
//! - [`ravend::RavendStandIn`]: ravend's regtest JSON-RPC with KawPow blocks, their proof
//!   of work verified for real (no Ravencoin daemon is packaged here).
//! - [`adversary::Adversary`]: a dishonest peer that announces forged shares.
//! - [`cluster::TestNode`]: an `otedama-node serve` process with its own ports, data dir,
//!   node key and built-in miner.
//! - [`client`]: clients from chosen loopback addresses (Stratum, plain TCP) for abuse
//!   tests.
//! - [`browser`]: headless Chromium over the dashboard's browser suite.
//! - [`skip`]: opt-in skips (a variable set to `1`) for tests that need litecoind, an
//!   OpenCL device or a browser; without the tool and the opt-in, such a test fails.

pub mod adversary;
pub mod browser;
pub mod client;
pub mod cluster;
pub mod geth;
pub mod ravend;
pub mod skip;
pub mod standin;

pub use otedama_node::devnet::{LitecoinRegtest, RpcClient, RpcError, litecoind_path};

/// The value-carrying outputs of a block's coinbase in a `getblock <hash> 2` answer:
/// script (hex) to amount in base units. `None` if the answer is not shaped like one.
pub fn coinbase_outputs(
    block: &serde_json::Value,
) -> Option<std::collections::BTreeMap<String, u64>> {
    let mut out = std::collections::BTreeMap::new();
    for o in block.get("tx")?.get(0)?.get("vout")?.as_array()? {
        let value = o.get("value")?.as_f64()?;
        if value > 0.0 {
            let script = o.get("scriptPubKey")?.get("hex")?.as_str()?.to_owned();
            out.insert(script, (value * 1e8).round() as u64);
        }
    }
    Some(out)
}

/// The coinbase split a block found by `share` must pay, recomputed from `chain` (the
/// PPLNS window below the share, its parent work and committed reward): script (hex) to
/// amount in base units, as [`coinbase_outputs`] reads a block.
///
/// # Errors
/// The share's parent bits or window cannot be read from `chain`.
pub fn predicted_split(
    chain: &otedama_sharechain::ShareChain,
    share: &otedama_sharechain::Share,
) -> Result<std::collections::BTreeMap<String, u64>, otedama_sharechain::ShareError> {
    use otedama_sharechain::pplns::{split_reward, window_weights};
    let info = &share.header.info;
    let spec = chain.spec();
    let parent = otedama_sharechain::parent_work(share.header.block.bits)?;
    let weights = window_weights(chain, info.prev_share, parent, spec)?;
    Ok(
        split_reward(&weights, info.coinbase_value, &info.payout_script, spec)
            .iter()
            .map(|(s, a)| (hex::encode(s.as_bytes()), a.to_sat()))
            .collect(),
    )
}
