//! [`P2pHandle`]: the cheap, cloneable handle everyone else holds on the swarm task,
//! and the commands it sends over one bounded channel.

use super::protocol::{Request, Response};
use super::{PeerEvent, PeerInfo, RequestError, Verdict};
use libp2p::request_response::ResponseChannel;
use libp2p::{Multiaddr, PeerId, gossipsub::MessageId};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Commands queued for the swarm task at most.
pub(super) const COMMAND_QUEUE: usize = 256;

/// Why a dial did not start.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    /// The swarm task is gone or its queue is full.
    #[error("the network task is not available")]
    Unavailable,
    /// The swarm refused to dial the address.
    #[error(transparent)]
    Refused(#[from] libp2p::swarm::DialError),
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
    /// The answer to a peer's sync request, from the serving task.
    Respond {
        channel: ResponseChannel<Response>,
        response: Response,
    },
    Peers(oneshot::Sender<Vec<PeerInfo>>),
    Dial(Multiaddr, oneshot::Sender<Result<(), DialError>>),
    Ban(PeerId, Duration),
    Unban(PeerId),
    Shutdown,
}

/// A cheap, cloneable handle on the swarm task.
#[derive(Clone, Debug)]
pub struct P2pHandle {
    pub(super) commands: mpsc::Sender<Command>,
    pub(super) local_peer_id: PeerId,
    /// The listen addresses, swapped whole by the swarm task when one is added.
    pub(super) listen: tokio::sync::watch::Receiver<Vec<Multiaddr>>,
    pub(super) connected: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    pub(super) peer_events: tokio::sync::broadcast::Sender<PeerEvent>,
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
        self.listen.borrow().clone()
    }

    /// Returns the listen addresses once the swarm has bound at least one, or what it has
    /// after `within`.
    pub async fn wait_listening(&self, within: std::time::Duration) -> Vec<Multiaddr> {
        let mut rx = self.listen.clone();
        let _ = tokio::time::timeout(within, rx.wait_for(|l| !l.is_empty())).await;
        self.listen_addrs()
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
    pub async fn dial(&self, addr: Multiaddr) -> Result<(), DialError> {
        let (tx, rx) = oneshot::channel();
        if !self.send(Command::Dial(addr, tx)) {
            return Err(DialError::Unavailable);
        }
        rx.await.unwrap_or(Err(DialError::Unavailable))
    }

    /// Hands the answer to a peer's sync request to the swarm, waiting for room in its
    /// queue (the serving task may wait; the swarm never does).
    pub(super) async fn respond(&self, channel: ResponseChannel<Response>, response: Response) {
        let _ = self
            .commands
            .send(Command::Respond { channel, response })
            .await;
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
