//! The node's side of the API.
//!
//! - `adapter`: [`NodeApiAdapter`] implements [`otedama_rpc::NodeApi`] over a
//!   [`NodeHandle`](crate::NodeHandle), turning node types into the API's JSON types.
//! - `events`: node events forwarded to the API's live event hub.
//! - `monero`: [`MoneroApiAdapter`], the same API over a Monero sidechain node.
//! - `etc`: [`EtcApiAdapter`], the same API over a solo Ethereum Classic node.
//! - `listeners`: [`Services`] starts the API, metrics and health listeners a config asks
//!   for ([`ServiceSet`]) and stops them.

mod adapter;
mod etc;
mod events;
mod listeners;
mod miner;
mod monero;

pub use adapter::NodeApiAdapter;
pub(crate) use etc::etc_found_block;
pub use etc::{EtcApiAdapter, SOLO_REASON};
pub use listeners::{MetricSources, ServiceError, ServiceSet, Services};
pub use monero::MoneroApiAdapter;
pub(crate) use monero::monero_found_block;

use std::time::Duration;

/// A template older than this makes the node not ready: longpolls return at least this
/// often (they time out after 90 s and are retried at once).
pub const READY_TEMPLATE_AGE: Duration = Duration::from_secs(180);

/// The mining state of a node with the one-client miner `miner` (`None`: none is
/// configured).
pub(crate) fn pool_mining_state(
    miner: Option<&std::sync::Arc<crate::mining::PoolMiner>>,
) -> otedama_rpc::MiningState {
    match miner {
        Some(m) => m.state().mining_state(),
        None => otedama_rpc::MiningState {
            running: false,
            configured: false,
            payout_address: None,
            detail: Some("no built-in miner is configured for this node".to_owned()),
        },
    }
}

/// `POST /api/mining/start` on a node with the one-client miner `miner`: whether it
/// started, with the state after.
///
/// # Errors
/// 409 `mining_not_configured` without a miner.
pub(crate) fn start_pool_miner(
    miner: Option<&std::sync::Arc<crate::mining::PoolMiner>>,
) -> Result<(otedama_rpc::MiningState, bool), otedama_rpc::ApiError> {
    let Some(m) = miner else {
        return Err(otedama_rpc::ApiError::conflict(
            "mining_not_configured",
            "no built-in miner is configured for this node",
        ));
    };
    let changed = m.start();
    Ok((pool_mining_state(miner), changed))
}

/// `POST /api/mining/stop` on a node with the one-client miner `miner`: whether it
/// stopped, with the state after.
pub(crate) async fn stop_pool_miner(
    miner: Option<&std::sync::Arc<crate::mining::PoolMiner>>,
) -> (otedama_rpc::MiningState, bool) {
    let changed = match miner {
        Some(m) => m.stop().await,
        None => false,
    };
    (pool_mining_state(miner), changed)
}
