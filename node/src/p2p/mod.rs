//! The sharechain network: a libp2p swarm (TCP + Noise + Yamux and QUIC; identify,
//! ping, Kademlia, gossipsub share announcements, a request-response sync protocol)
//! owned by one task. Everyone else talks to it through a [`P2pHandle`] over bounded
//! channels, and receives [`NetEvent`]s from it.
//!
//! - [`protocol`]: names, messages and the bounded codec (docs/protocol.md);
//! - `swarm`: the task that owns the swarm, serves sync requests, scores peers;
//! - `sync`: the syncer, which turns announcements and peer tips into validated shares;
//! - [`key`]: the node key persisted in the data dir.

pub mod key;
pub mod protocol;
pub mod swarm;
pub mod sync;

pub use swarm::{P2pSettings, start};

use libp2p::{Multiaddr, PeerId, gossipsub::MessageId};
use protocol::{Request, Response};
use serde::Serialize;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Commands queued for the swarm task at most.
const COMMAND_QUEUE: usize = 256;

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

pub(crate) enum Command {
    Publish(Vec<u8>),
    Report {
        id: MessageId,
        from: PeerId,
        verdict: Verdict,
    },
    Request {
        peer: PeerId,
        request: Request,
        reply: oneshot::Sender<Result<Response, RequestError>>,
    },
    Penalize {
        peer: PeerId,
        points: i32,
        reason: String,
    },
    Peers(oneshot::Sender<Vec<PeerInfo>>),
    Dial(Multiaddr, oneshot::Sender<Result<(), String>>),
    Ban(PeerId, Duration),
    Unban(PeerId),
    Shutdown,
}

/// A cheap, cloneable handle on the swarm task.
#[derive(Clone, Debug)]
pub struct P2pHandle {
    commands: mpsc::Sender<Command>,
    local_peer_id: PeerId,
    listen: std::sync::Arc<std::sync::Mutex<Vec<Multiaddr>>>,
    connected: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    peer_events: tokio::sync::broadcast::Sender<PeerEvent>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Command")
    }
}

impl P2pHandle {
    /// Returns this node's peer id.
    pub fn local_peer_id(&self) -> PeerId {
        self.local_peer_id
    }

    /// Returns the addresses the swarm listens on now (with `/p2p/<id>`).
    pub fn listen_addrs(&self) -> Vec<Multiaddr> {
        self.listen.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Returns the number of connected peers.
    pub fn connected(&self) -> usize {
        self.connected.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Subscribes to peers joining and leaving.
    pub fn peer_events(&self) -> tokio::sync::broadcast::Receiver<PeerEvent> {
        self.peer_events.subscribe()
    }

    fn send(&self, c: Command) -> bool {
        self.commands.try_send(c).is_ok()
    }

    /// Announces an encoded share to the mesh (dropped if the swarm is overloaded: the
    /// share still reaches peers through their sync).
    pub fn publish(&self, payload: Vec<u8>) {
        self.send(Command::Publish(payload));
    }

    /// Reports the verdict on an announced share.
    pub fn report(&self, id: MessageId, from: PeerId, verdict: Verdict) {
        self.send(Command::Report { id, from, verdict });
    }

    /// Takes score points from a peer (bad sync responses, timeouts).
    pub fn penalize(&self, peer: PeerId, points: i32, reason: impl Into<String>) {
        self.send(Command::Penalize {
            peer,
            points,
            reason: reason.into(),
        });
    }

    /// Sends a sync request and waits for the response (bounded by the protocol's timeout).
    ///
    /// # Errors
    /// [`RequestError`].
    pub async fn request(&self, peer: PeerId, request: Request) -> Result<Response, RequestError> {
        let (reply, rx) = oneshot::channel();
        if !self.send(Command::Request {
            peer,
            request,
            reply,
        }) {
            return Err(RequestError::Unavailable);
        }
        rx.await.map_err(|_| RequestError::Unavailable)?
    }

    /// Returns the connected peers.
    pub async fn peers(&self) -> Vec<PeerInfo> {
        let (tx, rx) = oneshot::channel();
        if !self.send(Command::Peers(tx)) {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// Dials `addr` (a multiaddr, ideally ending in `/p2p/<peer id>`).
    ///
    /// # Errors
    /// The dial could not start.
    pub async fn dial(&self, addr: Multiaddr) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        if !self.send(Command::Dial(addr, tx)) {
            return Err("the network task is not available".into());
        }
        rx.await
            .unwrap_or_else(|_| Err("the network task stopped".into()))
    }

    /// Disconnects and bans a peer for `duration`.
    pub fn ban(&self, peer: PeerId, duration: Duration) -> bool {
        self.send(Command::Ban(peer, duration))
    }

    /// Lifts a ban.
    pub fn unban(&self, peer: PeerId) -> bool {
        self.send(Command::Unban(peer))
    }

    /// Stops the swarm task (it saves the peer list first).
    pub fn shutdown(&self) {
        self.send(Command::Shutdown);
    }
}
