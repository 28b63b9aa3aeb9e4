//! The boundary between the API and the node: [`NodeApi`]. The node implements it
//! (`otedama-node`'s `api` module); this crate never sees the node's internals, and tests
//! implement it with fixed data.

use crate::dto::{
    ChainInfo, Event, Hashrate, History, HistoryRequest, MetricsSnapshot, MinerView, MiningState,
    PageRequest, Payouts, Peer, Readiness, SharePage, Stats, Status, SyncState, Worker,
};
use crate::error::ApiError;
use std::future::Future;
use std::pin::Pin;
use tokio::sync::broadcast;

/// The future an async [`NodeApi`] query returns (boxed, so the trait stays object safe).
pub type ApiFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, ApiError>> + Send + 'a>>;

/// What the API asks of the node. Async methods may queue on the node's coordinator and
/// fail with 503 `node_busy` when it is overloaded; the synchronous ones read cheap
/// snapshots and are called at every WebSocket tick, metrics scrape or health probe.
pub trait NodeApi: Send + Sync + 'static {
    /// Returns the node at a glance.
    fn status(&self) -> ApiFuture<'_, Status>;
    /// Returns counters since start.
    fn stats(&self) -> ApiFuture<'_, Stats>;
    /// Returns the Stratum workers that sent shares, most recent first.
    fn workers(&self) -> ApiFuture<'_, Vec<Worker>>;
    /// Returns the connected sharechain peers.
    fn peers(&self) -> ApiFuture<'_, Vec<Peer>>;
    /// Returns one page of main-chain shares, newest first.
    fn shares(&self, page: PageRequest) -> ApiFuture<'_, SharePage>;
    /// Returns the expected PPLNS split at the current tip and template, and past blocks.
    fn payouts(&self, finder: Option<String>) -> ApiFuture<'_, Payouts>;
    /// Returns the sharechain's state.
    fn chain(&self) -> ApiFuture<'_, ChainInfo>;
    /// Returns one payout address's view: its window, expected and past payouts,
    /// hashrate, workers and variance. Fails with 400 `invalid_address` when `address` is
    /// not an address of the chain.
    fn miner(&self, address: String) -> ApiFuture<'_, MinerView>;
    /// Returns the recorded points of the series `request` names over its range; a
    /// `miner:` series the node does not track has none.
    fn history(&self, request: HistoryRequest) -> ApiFuture<'_, History>;
    /// Starts the built-in miner (no change if it runs).
    fn start_mining(&self) -> ApiFuture<'_, (MiningState, bool)>;
    /// Stops the built-in miner (no change if it is stopped).
    fn stop_mining(&self) -> ApiFuture<'_, (MiningState, bool)>;
    /// Dials a peer at `address` (a multiaddr). Fails with 400 `invalid_address` when it
    /// does not parse and 409 `dial_failed` when the dial cannot start.
    fn dial_peer(&self, address: String) -> ApiFuture<'_, ()>;
    /// Disconnects and bans `peer` (a peer id) for `duration`; 400 `invalid_peer_id`.
    fn ban_peer(&self, peer: String, duration: std::time::Duration) -> ApiFuture<'_, ()>;
    /// Lifts a ban; 400 `invalid_peer_id`.
    fn unban_peer(&self, peer: String) -> ApiFuture<'_, ()>;
    /// Subscribes to live events (everything but `hello`, `hashrate` and `sync`, which the
    /// API produces itself).
    fn subscribe(&self) -> broadcast::Receiver<Event>;
    /// Returns the node's name, version and chain spec for `hello`.
    fn identity(&self) -> (String, String, String);
    /// Returns the current hashrate estimates.
    fn hashrate(&self) -> Hashrate;
    /// Returns the sync progress.
    fn sync_state(&self) -> SyncState;
    /// Returns the values Prometheus scrapes.
    fn metrics(&self) -> MetricsSnapshot;
    /// Returns whether the node can serve miners, and why not.
    fn readiness(&self) -> Readiness;
}
