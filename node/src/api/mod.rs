//! The node's side of the API.
//!
//! - `adapter`: [`NodeApiAdapter`] implements [`otedama_rpc::NodeApi`] over a
//!   [`NodeHandle`](crate::NodeHandle), turning node types into the API's JSON types.
//! - `events`: node events forwarded to the API's live event hub.
//! - `listeners`: [`Services`] starts the API, metrics and health listeners a config asks
//!   for ([`ServiceSet`]) and stops them.

mod adapter;
mod events;
mod listeners;
mod miner;

pub use adapter::NodeApiAdapter;
pub use listeners::{ServiceError, ServiceSet, Services};

use std::time::Duration;

/// A template older than this makes the node not ready: longpolls return at least this
/// often (they time out after 90 s and are retried at once).
pub const READY_TEMPLATE_AGE: Duration = Duration::from_secs(180);
