//! The sharechain network: a libp2p swarm (TCP + Noise + Yamux and QUIC; identify,
//! ping, Kademlia, gossipsub share announcements, a request-response sync protocol)
//! owned by one task. Everyone else talks to it through a [`P2pHandle`] over bounded
//! channels, and receives [`NetEvent`]s from it.
//!
//! - [`protocol`]: names, messages and the bounded codec (docs/protocol.md);
//! - `behaviour`: the transports and behaviours the swarm is built from;
//! - `handle`: [`P2pHandle`], the commands it sends to the swarm task;
//! - `peers`: the peer table (token buckets, scores, bans, the saved peer list);
//! - `swarm`: the task that owns the swarm (the event loop);
//! - `serving`: the task that answers peers' sync requests from the chain and store;
//! - [`sync`]: the syncer, which turns announcements and peer tips into validated shares;
//! - [`key`]: the node key persisted in the data dir.

mod behaviour;
mod handle;
pub mod key;
mod peers;
pub mod protocol;
mod serving;
pub mod swarm;
pub mod sync;

pub use behaviour::{BehaviourError, P2pError, REQUEST_TIMEOUT};
pub(crate) use handle::Command;
pub use handle::{DialError, P2pHandle};
pub use protocol::MeshChain;
pub use serving::{BlobSource, ServeSource};
pub use swarm::start;
pub use swarm::{P2pSettings, P2pStarted};

use libp2p::{PeerId, gossipsub::MessageId};
use serde::Serialize;
use std::time::Duration;

/// A connected peer, as `otedama-node peers` shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PeerInfo {
    /// The peer id.
    pub id: String,
    /// The connection's remote address.
    pub address: String,
    /// `outbound` if this node dialed, `inbound` if the peer did.
    pub direction: &'static str,
    /// Last ping round trip, in milliseconds.
    pub latency_ms: Option<f64>,
    /// The peer's agent version (identify).
    pub agent: Option<String>,
    /// The height of the peer's best share, as it last reported.
    pub tip_height: Option<u64>,
    /// Application score: up with valid shares, down with invalid ones; at
    /// [`BAN_SCORE`] or below the peer is disconnected and banned.
    pub score: i32,
    /// Gossipsub's own score of the peer.
    pub gossip_score: Option<f64>,
    /// Unix time the connection opened.
    pub connected_since: u64,
}

/// Score at or below which a peer is disconnected and banned.
pub const BAN_SCORE: i32 = -100;
/// How long a ban lasts.
pub const BAN_DURATION: Duration = Duration::from_secs(600);

/// What the node tells the swarm about an announced share.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Valid: relay it, and credit the peer.
    Accept,
    /// Not relayed, no penalty (already known, parent missing, unknown parent block).
    Ignore,
    /// Invalid: not relayed, the peer loses `penalty` points.
    Reject {
        /// Score points taken.
        penalty: i32,
    },
}

/// What the swarm reports.
#[derive(Debug)]
pub enum NetEvent {
    /// A peer connected and speaks this chain's protocols.
    Connected(PeerId),
    /// A peer's last connection closed.
    Disconnected(PeerId),
    /// A share announcement to validate; answer with [`P2pHandle::report`].
    Share {
        /// Who relayed it.
        from: PeerId,
        /// Gossipsub's id of the message.
        id: MessageId,
        /// The payload (version byte and share).
        data: Vec<u8>,
    },
}

/// A change in the set of connected peers, for whoever watches (the API's
/// `peer_joined` and `peer_left` events).
#[derive(Clone, Debug, PartialEq)]
pub enum PeerEvent {
    /// A peer connected and speaks this chain's protocols.
    Joined(PeerInfo),
    /// A peer's last connection closed.
    Left(String),
}

/// Peer events buffered per watcher; a slower watcher misses the oldest.
const PEER_EVENT_QUEUE: usize = 64;

/// Why a request to a peer failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The swarm task is gone or its queue is full.
    #[error("the network task is not available")]
    Unavailable,
    /// The peer did not answer in time, closed the stream, or refused.
    #[error("request to {peer} failed: {reason}")]
    Failed {
        /// The peer.
        peer: PeerId,
        /// Why.
        reason: String,
    },
}
