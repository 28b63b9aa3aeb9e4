//! The swarm's composition: transports (TCP + Noise + Yamux, QUIC, relay client), the
//! behaviours in the order their events are polled, and their configuration from the
//! chain's protocol names. Errors keep their sources.

use super::protocol::{ProtocolNames, SyncCodec};
use super::swarm::P2pSettings;
use libp2p::identity::Keypair;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::NetworkBehaviour;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::{
    Multiaddr, Swarm, SwarmBuilder, allow_block_list, autonat, connection_limits, dcutr, gossipsub,
    identify, kad, mdns, noise, ping, relay, tcp, upnp, yamux,
};
use std::time::Duration;

/// A sync request gets this long to be answered.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Gossipsub heartbeat: short, so announcements reach the whole mesh quickly.
const HEARTBEAT: Duration = Duration::from_millis(700);
/// Connections with nothing to do are closed after this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// Why the swarm could not start.
#[derive(Debug, thiserror::Error)]
pub enum P2pError {
    /// A transport (TCP + Noise, the relay client) could not be built.
    #[error("p2p transport: {0}")]
    Transport(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A behaviour could not be built.
    #[error("p2p behaviour: {0}")]
    Behaviour(#[from] libp2p::BehaviourBuilderError),
    /// The share topic could not be joined.
    #[error("p2p subscribe to {topic}: {source}")]
    Subscribe {
        /// The topic.
        topic: String,
        /// Why.
        source: gossipsub::SubscriptionError,
    },
    /// A listen address could not be bound.
    #[error("p2p listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: Multiaddr,
        /// Why.
        source: libp2p::TransportError<std::io::Error>,
    },
}

/// Why a behaviour could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BehaviourError {
    /// The gossipsub configuration is inconsistent.
    #[error("gossipsub config: {0}")]
    GossipConfig(#[source] gossipsub::ConfigBuilderError),
    /// Gossipsub refused its parameters.
    #[error("gossipsub: {0}")]
    Gossipsub(&'static str),
    /// Gossipsub refused the peer-score parameters.
    #[error("gossipsub peer scoring: {0}")]
    Scoring(String),
    /// mDNS could not open its socket.
    #[error("mdns: {0}")]
    Mdns(#[source] std::io::Error),
}

/// The behaviours, in the order their events are polled.
#[derive(NetworkBehaviour)]
pub(super) struct Behaviour {
    pub limits: connection_limits::Behaviour,
    pub blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    pub identify: identify::Behaviour,
    pub ping: ping::Behaviour,
    pub kad: kad::Behaviour<kad::store::MemoryStore>,
    pub gossipsub: gossipsub::Behaviour,
    pub sync: request_response::Behaviour<SyncCodec>,
    pub autonat: Toggle<autonat::Behaviour>,
    pub relay: Toggle<relay::client::Behaviour>,
    pub dcutr: Toggle<dcutr::Behaviour>,
    pub mdns: Toggle<mdns::tokio::Behaviour>,
    pub upnp: Toggle<upnp::tokio::Behaviour>,
}

/// Bounds of the wire, from the chain spec.
pub(super) struct Limits {
    /// Largest sync response.
    pub max_response: usize,
    /// Largest gossip payload.
    pub max_gossip: usize,
}

fn transport<E: std::error::Error + Send + Sync + 'static>(e: E) -> P2pError {
    P2pError::Transport(Box::new(e))
}

/// Builds the swarm: transports whose Noise handshakes carry the chain's prologue (so
/// nodes of other chains never finish one), with the behaviours below.
pub(super) fn build_swarm(
    key: Keypair,
    settings: &P2pSettings,
    names: &ProtocolNames,
    limits: &Limits,
    registry: &mut prometheus_client::registry::Registry,
) -> Result<Swarm<Behaviour>, P2pError> {
    let prologue = names.noise_prologue.clone();
    let prologue2 = names.noise_prologue.clone();
    Ok(SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            move |k: &Keypair| noise::Config::new(k).map(|c| c.with_prologue(prologue)),
            yamux::Config::default,
        )
        .map_err(transport)?
        .with_quic()
        .with_relay_client(
            move |k: &Keypair| noise::Config::new(k).map(|c| c.with_prologue(prologue2)),
            yamux::Config::default,
        )
        .map_err(transport)?
        .with_bandwidth_metrics(registry)
        .with_behaviour(|key, relay_client| {
            build_behaviour(key, relay_client, settings, names, limits)
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { Box::new(e) })
        })?
        .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_TIMEOUT))
        .build())
}

fn build_behaviour(
    key: &Keypair,
    relay_client: relay::client::Behaviour,
    settings: &P2pSettings,
    names: &ProtocolNames,
    limits: &Limits,
) -> Result<Behaviour, BehaviourError> {
    let peer_id = key.public().to_peer_id();
    let connections = connection_limits::ConnectionLimits::default()
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
        .max_transmit_size(limits.max_gossip + 1024)
        .heartbeat_interval(HEARTBEAT)
        .build()
        .map_err(BehaviourError::GossipConfig)?;
    let mut gossipsub = gossipsub::Behaviour::new(
        gossipsub::MessageAuthenticity::Signed(key.clone()),
        gossip_config,
    )
    .map_err(BehaviourError::Gossipsub)?;
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
        .map_err(BehaviourError::Scoring)?;
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
        SyncCodec {
            max_response: limits.max_response,
        },
        [(names.sync.clone(), ProtocolSupport::Full)],
        request_response::Config::default()
            .with_request_timeout(REQUEST_TIMEOUT)
            .with_max_concurrent_streams(64),
    );
    let mdns = if settings.mdns {
        Some(
            mdns::tokio::Behaviour::new(mdns::Config::default(), peer_id)
                .map_err(BehaviourError::Mdns)?,
        )
    } else {
        None
    };
    Ok(Behaviour {
        limits: connection_limits::Behaviour::new(connections),
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
