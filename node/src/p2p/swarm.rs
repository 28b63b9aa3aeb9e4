//! The task that owns the libp2p swarm: builds the transport and behaviours, listens,
//! dials, serves sync requests from the share store, relays announcements for
//! validation, keeps the peer table and scores, and persists known peers.

use super::protocol::{
    self, MAX_HEADERS, MAX_LOCATOR, MAX_SHARES_PER_REQUEST, ProtocolNames, REQUEST_BURST,
    REQUEST_RATE, Request, Response, SyncCodec, SyncedShare, TipInfo,
};
use super::{
    BAN_DURATION, BAN_SCORE, COMMAND_QUEUE, Command, NetEvent, P2pHandle, PeerEvent, PeerInfo,
    Verdict,
};
use crate::unix_now;
use libp2p::core::ConnectedPoint;
use libp2p::futures::StreamExt;
use libp2p::identity::Keypair;
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{
    Multiaddr, PeerId, Swarm, SwarmBuilder, allow_block_list, autonat, connection_limits, dcutr,
    gossipsub, identify, kad, mdns, multiaddr::Protocol, noise, ping, relay, tcp, upnp, yamux,
};
use otedama_sharechain::{ChainSpec, ShareChain, ShareHash, Store};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, info, warn};

/// Events queued for the syncer at most; beyond it announcements are ignored (peers
/// re-announce nothing, but the syncer catches up from tips).
const EVENT_QUEUE: usize = 1024;
/// Announcements a peer may relay per second on average, and in a burst.
const GOSSIP_RATE: f64 = 50.0;
const GOSSIP_BURST: f64 = 200.0;
/// Peers saved across restarts at most.
const MAX_SAVED_PEERS: usize = 256;
/// Saved peers dialed at start at most.
const DIAL_SAVED: usize = 16;
/// How often the peer list is saved and Kademlia refreshed.
const SAVE_INTERVAL: Duration = Duration::from_secs(60);
const KAD_BOOTSTRAP_INTERVAL: Duration = Duration::from_secs(300);
/// How often unreachable bootstrap peers are dialed again.
const REDIAL_INTERVAL: Duration = Duration::from_secs(5);
/// A sync request gets this long to be answered.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

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

/// The behaviours, in the order their events are polled.
#[derive(NetworkBehaviour)]
struct Behaviour {
    limits: connection_limits::Behaviour,
    blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    kad: kad::Behaviour<kad::store::MemoryStore>,
    gossipsub: gossipsub::Behaviour,
    sync: request_response::Behaviour<SyncCodec>,
    autonat: Toggle<autonat::Behaviour>,
    relay: Toggle<relay::client::Behaviour>,
    dcutr: Toggle<dcutr::Behaviour>,
    mdns: Toggle<mdns::tokio::Behaviour>,
    upnp: Toggle<upnp::tokio::Behaviour>,
}

/// A token bucket.
#[derive(Debug, Clone)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new(burst: f64) -> Self {
        Self {
            tokens: burst,
            at: Instant::now(),
        }
    }

    fn take(&mut self, rate: f64, burst: f64) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * rate).min(burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[derive(Debug)]
struct PeerState {
    address: Multiaddr,
    outbound: bool,
    latency: Option<Duration>,
    agent: Option<String>,
    listen: Vec<Multiaddr>,
    tip_height: Option<u64>,
    score: i32,
    since: u64,
    requests: Bucket,
    gossip: Bucket,
    announced: bool,
}

/// A saved peer.
#[derive(Debug, Serialize, Deserialize)]
struct SavedPeer {
    id: String,
    addrs: Vec<String>,
}

/// Reads the store for sync requests.
#[derive(Clone, Debug)]
pub struct ChainReader {
    /// The in-memory chain.
    pub chain: Arc<Mutex<ShareChain>>,
    /// The store the shares are read from.
    pub store: Store,
}

impl ChainReader {
    fn tip(&self) -> Option<TipInfo> {
        let chain = self.chain.lock().ok()?;
        chain.tip().map(|t| TipInfo {
            hash: *t.hash.as_bytes(),
            height: t.height,
            chain_work: t.chain_work.to_u128(),
        })
    }

    /// Main-chain headers after the locator, each preceded by the side shares it
    /// includes as uncles (and theirs), all ascending by height, at most `max` in all.
    fn headers(&self, locator: &[[u8; 32]], max: u32) -> Vec<Vec<u8>> {
        let max = max.min(MAX_HEADERS) as usize;
        let hashes: Vec<ShareHash> = {
            let Ok(chain) = self.chain.lock() else {
                return Vec::new();
            };
            let Some(tip) = chain.tip() else {
                return Vec::new();
            };
            let start = locator
                .iter()
                .map(|h| ShareHash::from_bytes(*h))
                .find(|h| chain.is_main(h))
                .and_then(|h| chain.share(&h).map(|m| m.height + 1))
                .unwrap_or_else(|| lowest_main(&chain, tip.height));
            let mut picked: BTreeMap<(u64, ShareHash), ()> = BTreeMap::new();
            for height in start..=tip.height {
                let Some(main) = chain.main_at(height) else {
                    break;
                };
                // The share and the closure of its uncles, as one group.
                let mut group = Vec::new();
                let mut todo = vec![main];
                while let Some(h) = todo.pop() {
                    let Some(m) = chain.share(&h) else {
                        continue;
                    };
                    if m.height < start
                        || picked.contains_key(&(m.height, h))
                        || group.contains(&(m.height, h))
                    {
                        continue;
                    }
                    group.push((m.height, h));
                    todo.extend(m.uncles.iter().copied());
                }
                if picked.len() + group.len() > max {
                    break;
                }
                picked.extend(group.into_iter().map(|k| (k, ())));
            }
            picked.into_keys().map(|(_, h)| h).collect()
        };
        let mut out = Vec::with_capacity(hashes.len());
        for h in hashes {
            match self.store.get(&h) {
                Ok(Some(share)) => {
                    let mut b = Vec::with_capacity(256);
                    share.header.encode(&mut b);
                    out.push(b);
                }
                // Pruned or not yet flushed: the peer asks again from there.
                _ => break,
            }
        }
        out
    }

    fn shares(&self, hashes: &[[u8; 32]]) -> Vec<SyncedShare> {
        let metas: Vec<(ShareHash, u128, u32)> = {
            let Ok(chain) = self.chain.lock() else {
                return Vec::new();
            };
            hashes
                .iter()
                .map(|h| ShareHash::from_bytes(*h))
                .filter_map(|h| {
                    chain
                        .share(&h)
                        .map(|m| (h, m.chain_work.to_u128(), m.anchor.time))
                })
                .collect()
        };
        metas
            .into_iter()
            .filter_map(|(h, chain_work, anchor_time)| {
                let share = self.store.get(&h).ok()??;
                Some(SyncedShare {
                    share: share.to_bytes(),
                    chain_work,
                    anchor_time,
                })
            })
            .collect()
    }
}

use otedama_sharechain::ShareSource;

/// The lowest height of the main chain held (it is contiguous up to the tip).
pub(crate) fn lowest_main(chain: &ShareChain, tip_height: u64) -> u64 {
    let (mut lo, mut hi) = (0u64, tip_height);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if chain.main_at(mid).is_some() {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

/// Why the swarm could not start.
#[derive(Debug, thiserror::Error)]
pub enum P2pError {
    /// Building the transport or a behaviour failed.
    #[error("p2p setup: {0}")]
    Setup(String),
    /// A listen address could not be bound.
    #[error("p2p listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: Multiaddr,
        /// Why.
        reason: String,
    },
}

fn setup<E: std::fmt::Display>(e: E) -> P2pError {
    P2pError::Setup(e.to_string())
}

/// Builds the swarm, starts listening and dialing, and spawns the task. Returns the
/// handle and the event stream for the syncer.
///
/// # Errors
/// [`P2pError`].
pub fn start(
    settings: P2pSettings,
    key: Keypair,
    spec: &'static ChainSpec,
    reader: ChainReader,
    registry: &mut prometheus_client::registry::Registry,
    shutdown: watch::Receiver<bool>,
) -> Result<
    (
        P2pHandle,
        mpsc::Receiver<NetEvent>,
        tokio::task::JoinHandle<()>,
    ),
    P2pError,
> {
    let names = ProtocolNames::new(&spec.consensus_id());
    let local_peer_id = key.public().to_peer_id();
    let prologue = names.noise_prologue.clone();
    let prologue2 = names.noise_prologue.clone();
    let max_response = protocol::max_response_bytes(spec);
    let max_gossip = protocol::max_gossip_bytes(spec);

    let mut swarm = SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            move |k: &Keypair| noise::Config::new(k).map(|c| c.with_prologue(prologue)),
            yamux::Config::default,
        )
        .map_err(setup)?
        .with_quic()
        .with_relay_client(
            move |k: &Keypair| noise::Config::new(k).map(|c| c.with_prologue(prologue2)),
            yamux::Config::default,
        )
        .map_err(setup)?
        .with_bandwidth_metrics(registry)
        .with_behaviour(|key, relay_client| {
            build_behaviour(
                key,
                relay_client,
                &settings,
                &names,
                max_response,
                max_gossip,
            )
            .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { e.into() })
        })
        .map_err(setup)?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(120)))
        .build();

    let topic = gossipsub::IdentTopic::new(names.shares_topic.clone());
    swarm
        .behaviour_mut()
        .gossipsub
        .subscribe(&topic)
        .map_err(setup)?;
    swarm.behaviour_mut().kad.set_mode(Some(kad::Mode::Server));
    for addr in &settings.listen {
        swarm
            .listen_on(addr.clone())
            .map_err(|e| P2pError::Listen {
                addr: addr.clone(),
                reason: e.to_string(),
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
    let listen = Arc::new(Mutex::new(Vec::new()));
    let connected = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (peer_events, _) = tokio::sync::broadcast::channel(super::PEER_EVENT_QUEUE);
    let handle = P2pHandle {
        commands: cmd_tx,
        local_peer_id,
        listen: Arc::clone(&listen),
        connected: Arc::clone(&connected),
        peer_events: peer_events.clone(),
    };
    info!(target: "otedama::p2p", peer_id = %local_peer_id, topic = %names.shares_topic, "p2p started");
    let task = Task {
        swarm,
        topic,
        names,
        reader,
        events: ev_tx,
        peers: BTreeMap::new(),
        pending: HashMap::new(),
        bans: BTreeMap::new(),
        listen,
        connected,
        peer_events,
        metrics: libp2p::metrics::Metrics::new(registry),
        bootstrap: settings.bootstrap.clone(),
        peers_file: settings.peers_file.clone(),
        local_peer_id,
    };
    let join = tokio::spawn(task.run(cmd_rx, shutdown));
    Ok((handle, ev_rx, join))
}

fn build_behaviour(
    key: &Keypair,
    relay_client: relay::client::Behaviour,
    settings: &P2pSettings,
    names: &ProtocolNames,
    max_response: usize,
    max_gossip: usize,
) -> Result<Behaviour, String> {
    let peer_id = key.public().to_peer_id();
    let limits = connection_limits::ConnectionLimits::default()
        .with_max_established(Some(settings.max_peers))
        .with_max_established_per_peer(Some(2))
        .with_max_pending_incoming(Some(settings.max_peers.max(8)))
        .with_max_pending_outgoing(Some(settings.max_peers.max(8)));
    let gossip_config = gossipsub::ConfigBuilder::default()
        .protocol_id_prefix(names.gossipsub_prefix.clone())
        .validation_mode(gossipsub::ValidationMode::Strict)
        .validate_messages()
        // Content-addressed: the same share relayed by two peers is one message.
        .message_id_fn(|m: &gossipsub::Message| {
            gossipsub::MessageId::from(otedama_sharechain::sha256d(&m.data).to_vec())
        })
        .max_transmit_size(max_gossip + 1024)
        .heartbeat_interval(Duration::from_millis(700))
        .build()
        .map_err(|e| e.to_string())?;
    let mut gossipsub = gossipsub::Behaviour::new(
        gossipsub::MessageAuthenticity::Signed(key.clone()),
        gossip_config,
    )?;
    let mut score = gossipsub::PeerScoreParams::default();
    let topic_params = gossipsub::TopicScoreParams {
        topic_weight: 1.0,
        first_message_deliveries_weight: 1.0,
        first_message_deliveries_cap: 50.0,
        // Quiet meshes are normal between shares: no penalty for few deliveries.
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        invalid_message_deliveries_weight: -50.0,
        invalid_message_deliveries_decay: 0.5,
        ..gossipsub::TopicScoreParams::default()
    };
    score.topics.insert(
        gossipsub::IdentTopic::new(names.shares_topic.clone()).hash(),
        topic_params,
    );
    gossipsub
        .with_peer_score(score, gossipsub::PeerScoreThresholds::default())
        .map_err(|e| e.to_string())?;
    let mut kad_config = kad::Config::new(names.kad.clone());
    kad_config.set_query_timeout(Duration::from_secs(30));
    let kad =
        kad::Behaviour::with_config(peer_id, kad::store::MemoryStore::new(peer_id), kad_config);
    let identify = identify::Behaviour::new(
        identify::Config::new(names.identify_version.clone(), key.public())
            .with_agent_version(settings.agent.clone())
            .with_push_listen_addr_updates(true),
    );
    let sync = request_response::Behaviour::with_codec(
        SyncCodec { max_response },
        [(names.sync.clone(), ProtocolSupport::Full)],
        request_response::Config::default()
            .with_request_timeout(REQUEST_TIMEOUT)
            .with_max_concurrent_streams(64),
    );
    let mdns = if settings.mdns {
        Some(
            mdns::tokio::Behaviour::new(mdns::Config::default(), peer_id)
                .map_err(|e| e.to_string())?,
        )
    } else {
        None
    };
    Ok(Behaviour {
        limits: connection_limits::Behaviour::new(limits),
        blocked: allow_block_list::Behaviour::default(),
        identify,
        ping: ping::Behaviour::new(ping::Config::new().with_interval(Duration::from_secs(15))),
        kad,
        gossipsub,
        sync,
        autonat: Toggle::from(
            settings
                .autonat
                .then(|| autonat::Behaviour::new(peer_id, autonat::Config::default())),
        ),
        relay: Toggle::from(settings.relay.then_some(relay_client)),
        dcutr: Toggle::from(settings.relay.then(|| dcutr::Behaviour::new(peer_id))),
        mdns: Toggle::from(mdns),
        upnp: Toggle::from(settings.upnp.then(upnp::tokio::Behaviour::default)),
    })
}

fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        Protocol::P2p(id) => Some(id),
        _ => None,
    })
}

fn load_peers(file: &std::path::Path) -> Vec<Multiaddr> {
    let Ok(bytes) = std::fs::read(file) else {
        return Vec::new();
    };
    let saved: Vec<SavedPeer> = match serde_json::from_slice(&bytes) {
        Ok(s) => s,
        Err(e) => {
            warn!(target: "otedama::p2p", file = %file.display(), error = %e, "ignoring an unreadable peer list");
            return Vec::new();
        }
    };
    saved
        .into_iter()
        .take(MAX_SAVED_PEERS)
        .filter_map(|p| {
            let id: PeerId = p.id.parse().ok()?;
            let addr: Multiaddr = p.addrs.first()?.parse().ok()?;
            let addr = if peer_of(&addr).is_some() {
                addr
            } else {
                addr.with(Protocol::P2p(id))
            };
            Some(addr)
        })
        .collect()
}

struct Task {
    swarm: Swarm<Behaviour>,
    topic: gossipsub::IdentTopic,
    names: ProtocolNames,
    reader: ChainReader,
    events: mpsc::Sender<NetEvent>,
    peers: BTreeMap<PeerId, PeerState>,
    pending: HashMap<
        OutboundRequestId,
        (
            PeerId,
            oneshot::Sender<Result<Response, super::RequestError>>,
        ),
    >,
    bans: BTreeMap<PeerId, Instant>,
    listen: Arc<Mutex<Vec<Multiaddr>>>,
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
                _ = shutdown.changed() => break,
                cmd = commands.recv() => match cmd {
                    None | Some(Command::Shutdown) => break,
                    Some(c) => self.on_command(c),
                },
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                _ = save.tick() => {
                    self.save_peers();
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
                let _ = reply.send(self.swarm.dial(addr).map_err(|e| e.to_string()));
            }
            Command::Ban(peer, duration) => self.ban(peer, duration, "operator"),
            Command::Unban(peer) => {
                self.bans.remove(&peer);
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
                || self.peers.contains_key(&peer)
                || self.bans.contains_key(&peer)
                || self.swarm.is_connected(&peer)
            {
                continue;
            }
            let _ = self.swarm.dial(addr);
        }
    }

    fn adjust(&mut self, peer: PeerId, delta: i32, reason: &str) {
        let Some(state) = self.peers.get_mut(&peer) else {
            return;
        };
        state.score = (state.score + delta).min(100);
        if delta < 0 {
            debug!(target: "otedama::p2p", %peer, delta, score = state.score, reason, "peer penalized");
        }
        if state.score <= BAN_SCORE {
            self.ban(peer, BAN_DURATION, reason);
        }
    }

    fn ban(&mut self, peer: PeerId, duration: Duration, reason: &str) {
        warn!(target: "otedama::p2p", %peer, reason, secs = duration.as_secs(), "peer banned");
        self.bans.insert(peer, Instant::now() + duration);
        self.swarm.behaviour_mut().blocked.block_peer(peer);
        self.swarm.behaviour_mut().kad.remove_peer(&peer);
    }

    fn expire_bans(&mut self) {
        let now = Instant::now();
        let expired: Vec<PeerId> = self
            .bans
            .iter()
            .filter(|(_, until)| **until <= now)
            .map(|(p, _)| *p)
            .collect();
        for p in expired {
            self.bans.remove(&p);
            self.swarm.behaviour_mut().blocked.unblock_peer(p);
        }
    }

    fn peer_infos(&self) -> Vec<PeerInfo> {
        self.peers
            .keys()
            .filter_map(|id| self.peer_info(id))
            .collect()
    }

    fn peer_info(&self, id: &PeerId) -> Option<PeerInfo> {
        let s = self.peers.get(id)?;
        Some(PeerInfo {
            id: id.to_string(),
            address: s.address.to_string(),
            direction: if s.outbound { "outbound" } else { "inbound" },
            latency_ms: s.latency.map(|d| d.as_secs_f64() * 1000.0),
            agent: s.agent.clone(),
            tip_height: s.tip_height,
            score: s.score,
            gossip_score: self.swarm.behaviour().gossipsub.peer_score(id),
            connected_since: s.since,
        })
    }

    fn save_peers(&self) {
        let Some(file) = &self.peers_file else {
            return;
        };
        let saved: Vec<SavedPeer> = self
            .peers
            .iter()
            .filter(|(id, _)| !self.bans.contains_key(id))
            .map(|(id, s)| {
                let mut addrs: Vec<String> = s.listen.iter().map(ToString::to_string).collect();
                if s.outbound {
                    addrs.insert(0, s.address.to_string());
                }
                SavedPeer {
                    id: id.to_string(),
                    addrs,
                }
            })
            .filter(|p| !p.addrs.is_empty())
            .take(MAX_SAVED_PEERS)
            .collect();
        let Ok(json) = serde_json::to_vec_pretty(&saved) else {
            return;
        };
        let tmp = file.with_extension("json.tmp");
        if let Err(e) = std::fs::write(&tmp, json).and_then(|()| std::fs::rename(&tmp, file)) {
            warn!(target: "otedama::p2p", file = %file.display(), error = %e, "saving the peer list");
        }
    }

    fn emit(&self, ev: NetEvent) {
        if self.events.try_send(ev).is_err() {
            debug!(target: "otedama::p2p", "syncer queue full; event dropped");
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        self.record_metrics(&event);
        self.on_swarm_event_inner(event);
        self.connected
            .store(self.peers.len(), std::sync::atomic::Ordering::Relaxed);
    }

    fn record_metrics(&self, event: &SwarmEvent<BehaviourEvent>) {
        use libp2p::metrics::Recorder;
        let m = &self.metrics;
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Identify(e)) => m.record(e),
            SwarmEvent::Behaviour(BehaviourEvent::Ping(e)) => m.record(e),
            SwarmEvent::Behaviour(BehaviourEvent::Kad(e)) => m.record(e),
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(e)) => m.record(e),
            SwarmEvent::Behaviour(BehaviourEvent::Dcutr(e)) => m.record(e),
            other => m.record(other),
        }
    }

    fn on_swarm_event_inner(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                let full = address.clone().with(Protocol::P2p(self.local_peer_id));
                info!(target: "otedama::p2p", address = %full, "listening");
                if let Ok(mut l) = self.listen.lock() {
                    l.push(full);
                }
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                endpoint,
                num_established,
                ..
            } => {
                if num_established.get() > 1 {
                    return;
                }
                let (address, outbound) = match endpoint {
                    ConnectedPoint::Dialer { address, .. } => (address, true),
                    ConnectedPoint::Listener { send_back_addr, .. } => (send_back_addr, false),
                };
                debug!(target: "otedama::p2p", peer = %peer_id, %address, outbound, "connected");
                self.peers.insert(
                    peer_id,
                    PeerState {
                        address,
                        outbound,
                        latency: None,
                        agent: None,
                        listen: Vec::new(),
                        tip_height: None,
                        score: 0,
                        since: unix_now(),
                        requests: Bucket::new(REQUEST_BURST),
                        gossip: Bucket::new(GOSSIP_BURST),
                        announced: false,
                    },
                );
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established,
                ..
            } => {
                if num_established == 0
                    && let Some(state) = self.peers.remove(&peer_id)
                {
                    debug!(target: "otedama::p2p", peer = %peer_id, "disconnected");
                    if state.announced {
                        self.emit(NetEvent::Disconnected(peer_id));
                        let _ = self.peer_events.send(PeerEvent::Left(peer_id.to_string()));
                    }
                }
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                debug!(target: "otedama::p2p", peer = ?peer_id, error = %error, "dial failed");
            }
            SwarmEvent::Behaviour(ev) => self.on_behaviour(ev),
            _ => {}
        }
    }

    fn on_behaviour(&mut self, ev: BehaviourEvent) {
        match ev {
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                if info.protocol_version != self.names.identify_version {
                    warn!(target: "otedama::p2p", peer = %peer_id, theirs = %info.protocol_version,
                          "peer runs another chain spec; disconnecting");
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                    return;
                }
                for addr in &info.listen_addrs {
                    if is_dialable(addr) {
                        self.swarm
                            .behaviour_mut()
                            .kad
                            .add_address(&peer_id, addr.clone());
                    }
                }
                let Some(state) = self.peers.get_mut(&peer_id) else {
                    return;
                };
                state.agent = Some(info.agent_version);
                state.listen = info.listen_addrs.into_iter().filter(is_dialable).collect();
                if !state.announced {
                    state.announced = true;
                    self.emit(NetEvent::Connected(peer_id));
                    if let Some(info) = self.peer_info(&peer_id) {
                        let _ = self.peer_events.send(PeerEvent::Joined(info));
                    }
                }
            }
            BehaviourEvent::Ping(ping::Event {
                peer,
                result: Ok(rtt),
                ..
            }) => {
                if let Some(state) = self.peers.get_mut(&peer) {
                    state.latency = Some(rtt);
                }
            }
            BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            }) => {
                let allowed = self
                    .peers
                    .get_mut(&propagation_source)
                    .is_some_and(|s| s.gossip.take(GOSSIP_RATE, GOSSIP_BURST));
                if !allowed {
                    self.swarm
                        .behaviour_mut()
                        .gossipsub
                        .report_message_validation_result(
                            &message_id,
                            &propagation_source,
                            gossipsub::MessageAcceptance::Ignore,
                        );
                    self.adjust(propagation_source, -5, "announcement rate");
                    return;
                }
                self.emit(NetEvent::Share {
                    from: propagation_source,
                    id: message_id,
                    data: message.data,
                });
            }
            BehaviourEvent::Sync(ev) => self.on_sync(ev),
            BehaviourEvent::Mdns(mdns::Event::Discovered(found)) => {
                for (peer, addr) in found {
                    self.swarm
                        .behaviour_mut()
                        .kad
                        .add_address(&peer, addr.clone());
                    let _ = self.swarm.dial(addr);
                }
            }
            _ => {}
        }
    }

    fn on_sync(&mut self, ev: request_response::Event<Request, Response>) {
        match ev {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            } => self.serve(peer, request, channel),
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                if let Response::Tip(Some(tip)) = &response
                    && let Some(state) = self.peers.get_mut(&peer)
                {
                    state.tip_height = Some(tip.height);
                }
                if let Some((_, reply)) = self.pending.remove(&request_id) {
                    let _ = reply.send(Ok(response));
                }
            }
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                if let Some((_, reply)) = self.pending.remove(&request_id) {
                    let _ = reply.send(Err(super::RequestError::Failed {
                        peer,
                        reason: error.to_string(),
                    }));
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                debug!(target: "otedama::p2p", %peer, error = %error, "inbound sync request failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    fn serve(&mut self, peer: PeerId, request: Request, channel: ResponseChannel<Response>) {
        let allowed = self
            .peers
            .get_mut(&peer)
            .is_some_and(|s| s.requests.take(REQUEST_RATE, REQUEST_BURST));
        let response = if !allowed {
            self.adjust(peer, -5, "request rate");
            Response::Refused("rate limit".into())
        } else {
            match request {
                Request::Tip => Response::Tip(self.reader.tip()),
                Request::Headers { locator, max } if locator.len() <= MAX_LOCATOR => {
                    Response::Headers(self.reader.headers(&locator, max))
                }
                Request::Shares { hashes } if hashes.len() <= MAX_SHARES_PER_REQUEST => {
                    Response::Shares(self.reader.shares(&hashes))
                }
                _ => {
                    self.adjust(peer, -20, "oversized request");
                    Response::Refused("request over the protocol limits".into())
                }
            }
        };
        // Fails only if the peer went away.
        let _ = self
            .swarm
            .behaviour_mut()
            .sync
            .send_response(channel, response);
    }
}

/// Addresses worth remembering: not unspecified, not link-local relay circuits.
fn is_dialable(addr: &Multiaddr) -> bool {
    !addr.iter().any(|p| match p {
        Protocol::Ip4(ip) => ip.is_unspecified(),
        Protocol::Ip6(ip) => ip.is_unspecified(),
        Protocol::P2pCircuit => true,
        _ => false,
    })
}
