//! The task that owns the libp2p swarm: listens, dials, relays announcements to the
//! syncer for validation, hands peers' sync requests to the serving task, and keeps the
//! peer table. Its loop only ever touches the swarm and memory it owns.
//!
//! This file builds the swarm, runs the loop and carries out commands; `events` turns
//! what the swarm reports into peer-table changes, syncer events and served requests.

mod events;

use super::behaviour::{Behaviour, Limits, P2pError, build_swarm};
use super::handle::COMMAND_QUEUE;
use super::peers::{PeerTable, load_peers, peer_of};
use super::protocol::{MeshChain, ProtocolNames, Response};
use super::serving::{self, Inbound, SERVE_QUEUE, ServeSource};
use super::{BAN_DURATION, Command, NetEvent, P2pHandle, PeerEvent, PeerInfo, Verdict};
use libp2p::futures::StreamExt;
use libp2p::identity::Keypair;
use libp2p::request_response::OutboundRequestId;
use libp2p::{Multiaddr, PeerId, Swarm, gossipsub, kad};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, info, warn};

/// Events queued for the syncer at most; beyond it announcements are ignored (peers
/// re-announce nothing, but the syncer catches up from tips).
const EVENT_QUEUE: usize = 1024;
/// Saved peers dialed at start at most.
const DIAL_SAVED: usize = 16;
/// How often the peer list is saved and Kademlia refreshed.
const SAVE_INTERVAL: Duration = Duration::from_secs(60);
const KAD_BOOTSTRAP_INTERVAL: Duration = Duration::from_secs(300);
/// How often unreachable bootstrap peers are dialed again.
const REDIAL_INTERVAL: Duration = Duration::from_secs(5);

/// What the swarm needs from the node's configuration.
#[derive(Clone, Debug)]
pub struct P2pSettings {
    /// Multiaddrs to listen on.
    pub listen: Vec<Multiaddr>,
    /// Addresses to announce besides the observed ones.
    pub external: Vec<Multiaddr>,
    /// Peers to dial at start.
    pub bootstrap: Vec<Multiaddr>,
    /// Most established connections.
    pub max_peers: u32,
    /// mDNS discovery (leaves loopback; off by default).
    pub mdns: bool,
    /// UPnP port mapping (leaves loopback; off by default).
    pub upnp: bool,
    /// AutoNAT probes.
    pub autonat: bool,
    /// Relay client and hole punching (DCUtR).
    pub relay: bool,
    /// Where the peer list is saved (`None`: not saved).
    pub peers_file: Option<PathBuf>,
    /// The agent version announced by identify.
    pub agent: String,
}

impl P2pSettings {
    /// A peer on an ephemeral loopback TCP port that dials `bootstrap`, with no discovery,
    /// NAT traversal or saved peer list: test peers, benches and tools.
    pub fn loopback(bootstrap: Vec<Multiaddr>, agent: &str) -> Self {
        Self {
            listen: vec![
                Multiaddr::empty()
                    .with(libp2p::multiaddr::Protocol::Ip4(
                        std::net::Ipv4Addr::LOCALHOST,
                    ))
                    .with(libp2p::multiaddr::Protocol::Tcp(0)),
            ],
            external: Vec::new(),
            bootstrap,
            max_peers: 8,
            mdns: false,
            upnp: false,
            autonat: false,
            relay: false,
            peers_file: None,
            agent: agent.to_owned(),
        }
    }
}

/// The mesh's running parts: the handle, the syncer's event stream, and the tasks
/// (swarm and serving) to await at shutdown.
pub struct P2pStarted {
    /// The handle on the swarm task.
    pub handle: P2pHandle,
    /// Events for the syncer.
    pub events: mpsc::Receiver<NetEvent>,
    /// The swarm and serving tasks.
    pub tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Builds the swarm, starts listening and dialing, and spawns the swarm task and the
/// task that serves peers' sync requests from `source`.
///
/// # Errors
/// [`P2pError`].
pub fn start(
    settings: P2pSettings,
    key: Keypair,
    chain: &MeshChain,
    source: ServeSource,
    registry: &mut prometheus_client::registry::Registry,
    shutdown: watch::Receiver<bool>,
) -> Result<P2pStarted, P2pError> {
    let names = ProtocolNames::new(&chain.id);
    let local_peer_id = key.public().to_peer_id();
    let limits = Limits {
        max_response: chain.max_response_bytes(),
        max_gossip: chain.max_gossip_bytes(),
    };
    let mut swarm = build_swarm(key, &settings, &names, &limits, registry)?;

    let topic = gossipsub::IdentTopic::new(names.shares_topic.clone());
    swarm
        .behaviour_mut()
        .gossipsub
        .subscribe(&topic)
        .map_err(|source| P2pError::Subscribe {
            topic: names.shares_topic.clone(),
            source,
        })?;
    swarm.behaviour_mut().kad.set_mode(Some(kad::Mode::Server));
    for addr in &settings.listen {
        swarm
            .listen_on(addr.clone())
            .map_err(|source| P2pError::Listen {
                addr: addr.clone(),
                source,
            })?;
    }
    for addr in &settings.external {
        swarm.add_external_address(addr.clone());
    }
    let mut dial: Vec<Multiaddr> = settings.bootstrap.clone();
    if let Some(file) = &settings.peers_file {
        dial.extend(load_peers(file).into_iter().take(DIAL_SAVED));
    }
    for addr in dial {
        if let Some(peer) = peer_of(&addr) {
            if peer == local_peer_id {
                continue;
            }
            swarm.behaviour_mut().kad.add_address(&peer, addr.clone());
        }
        if let Err(e) = swarm.dial(addr.clone()) {
            warn!(target: "otedama::p2p", %addr, error = %e, "cannot dial");
        }
    }

    let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_QUEUE);
    let (ev_tx, ev_rx) = mpsc::channel(EVENT_QUEUE);
    let (serve_tx, serve_rx) = mpsc::channel(SERVE_QUEUE);
    let (listen_tx, listen_rx) = watch::channel(Vec::new());
    let connected = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (peer_events, _) = tokio::sync::broadcast::channel(super::PEER_EVENT_QUEUE);
    let handle = P2pHandle {
        commands: cmd_tx,
        local_peer_id,
        listen: listen_rx,
        connected: Arc::clone(&connected),
        peer_events: peer_events.clone(),
    };
    info!(target: "otedama::p2p", peer_id = %local_peer_id, topic = %names.shares_topic, "p2p started");
    let task = Task {
        swarm,
        topic,
        names,
        serving: serve_tx,
        events: ev_tx,
        table: PeerTable::default(),
        pending: HashMap::new(),
        listen: listen_tx,
        connected,
        peer_events,
        metrics: libp2p::metrics::Metrics::new(registry),
        bootstrap: settings.bootstrap.clone(),
        peers_file: settings.peers_file.clone(),
        local_peer_id,
    };
    let tasks = vec![
        tokio::spawn(task.run(cmd_rx, shutdown.clone())),
        tokio::spawn(serving::run(serve_rx, source, handle.clone(), shutdown)),
    ];
    Ok(P2pStarted {
        handle,
        events: ev_rx,
        tasks,
    })
}

/// A reply awaited from a peer for one of our sync requests.
type PendingReply = (
    PeerId,
    oneshot::Sender<Result<Response, super::RequestError>>,
);

/// The swarm task: sole owner of the [`Swarm`] and the peer table.
struct Task {
    swarm: Swarm<Behaviour>,
    topic: gossipsub::IdentTopic,
    names: ProtocolNames,
    serving: mpsc::Sender<Inbound>,
    events: mpsc::Sender<NetEvent>,
    table: PeerTable,
    pending: HashMap<OutboundRequestId, PendingReply>,
    listen: watch::Sender<Vec<Multiaddr>>,
    connected: Arc<std::sync::atomic::AtomicUsize>,
    peer_events: tokio::sync::broadcast::Sender<PeerEvent>,
    metrics: libp2p::metrics::Metrics,
    bootstrap: Vec<Multiaddr>,
    peers_file: Option<PathBuf>,
    local_peer_id: PeerId,
}

impl Task {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut save = tokio::time::interval(SAVE_INTERVAL);
        save.tick().await;
        let mut kad_tick = tokio::time::interval(KAD_BOOTSTRAP_INTERVAL);
        let mut redial = tokio::time::interval(REDIAL_INTERVAL);
        redial.tick().await;
        loop {
            tokio::select! {
                biased;
                _ = shutdown.changed() => break,
                cmd = commands.recv() => match cmd {
                    None | Some(Command::Shutdown) => break,
                    Some(c) => self.on_command(c),
                },
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                _ = save.tick() => {
                    self.save_peers_in_background();
                    self.expire_bans();
                }
                _ = redial.tick() => self.redial(),
                _ = kad_tick.tick() => {
                    // Fails only without any known peer.
                    let _ = self.swarm.behaviour_mut().kad.bootstrap();
                }
            }
        }
        self.save_peers();
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Publish(data) => {
                if let Err(e) = self
                    .swarm
                    .behaviour_mut()
                    .gossipsub
                    .publish(self.topic.clone(), data)
                {
                    debug!(target: "otedama::p2p", error = %e, "announcement not published");
                }
            }
            Command::Report { id, from, verdict } => {
                let acceptance = match verdict {
                    Verdict::Accept => gossipsub::MessageAcceptance::Accept,
                    Verdict::Ignore => gossipsub::MessageAcceptance::Ignore,
                    Verdict::Reject { .. } => gossipsub::MessageAcceptance::Reject,
                };
                self.swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(&id, &from, acceptance);
                match verdict {
                    Verdict::Accept => self.adjust(from, 1, "valid share"),
                    Verdict::Reject { penalty } => self.adjust(from, -penalty, "invalid share"),
                    Verdict::Ignore => {}
                }
            }
            Command::Request {
                peer,
                request,
                reply,
            } => {
                let id = self.swarm.behaviour_mut().sync.send_request(&peer, request);
                self.pending.insert(id, (peer, reply));
            }
            Command::Penalize {
                peer,
                points,
                reason,
            } => self.adjust(peer, -points, &reason),
            Command::Respond { channel, response } => {
                // Fails only if the peer went away.
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .sync
                    .send_response(channel, response);
            }
            Command::Peers(reply) => {
                let _ = reply.send(self.peer_infos());
            }
            Command::Dial(addr, reply) => {
                if let Some(peer) = peer_of(&addr) {
                    self.swarm
                        .behaviour_mut()
                        .kad
                        .add_address(&peer, addr.clone());
                }
                let _ = reply.send(self.swarm.dial(addr).map_err(super::DialError::from));
            }
            Command::Ban(peer, duration) => self.ban(peer, duration, "operator"),
            Command::Unban(peer) => {
                self.table.unban(&peer);
                self.swarm.behaviour_mut().blocked.unblock_peer(peer);
            }
            Command::Shutdown => {}
        }
    }

    /// Dials bootstrap peers that are neither connected nor banned (they may have
    /// started after this node, or restarted).
    fn redial(&mut self) {
        for addr in self.bootstrap.clone() {
            let Some(peer) = peer_of(&addr) else {
                continue;
            };
            if peer == self.local_peer_id
                || self.table.peers.contains_key(&peer)
                || self.table.is_banned(&peer)
                || self.swarm.is_connected(&peer)
            {
                continue;
            }
            let _ = self.swarm.dial(addr);
        }
    }

    fn adjust(&mut self, peer: PeerId, delta: i32, reason: &str) {
        if self.table.adjust(peer, delta, reason) {
            self.ban(peer, BAN_DURATION, reason);
        }
    }

    fn ban(&mut self, peer: PeerId, duration: Duration, reason: &str) {
        warn!(target: "otedama::p2p", %peer, reason, secs = duration.as_secs(), "peer banned");
        self.table.ban(peer, duration);
        self.swarm.behaviour_mut().blocked.block_peer(peer);
        self.swarm.behaviour_mut().kad.remove_peer(&peer);
    }

    fn expire_bans(&mut self) {
        for p in self.table.expire_bans() {
            self.swarm.behaviour_mut().blocked.unblock_peer(p);
        }
    }

    fn peer_infos(&self) -> Vec<PeerInfo> {
        self.table
            .peers
            .keys()
            .filter_map(|id| self.peer_info(id))
            .collect()
    }

    fn peer_info(&self, id: &PeerId) -> Option<PeerInfo> {
        let gossip_score = self.swarm.behaviour().gossipsub.peer_score(id);
        self.table.info(id, gossip_score)
    }

    /// Saves the peer list at shutdown, after the loop.
    fn save_peers(&self) {
        if let Some(file) = &self.peers_file {
            super::peers::write_saved(file, &self.table.saved());
        }
    }

    /// Saves the peer list from the blocking pool: the loop only takes the snapshot.
    fn save_peers_in_background(&self) {
        if let Some(file) = self.peers_file.clone() {
            let saved = self.table.saved();
            tokio::task::spawn_blocking(move || super::peers::write_saved(&file, &saved));
        }
    }
}
