//! The peer table the swarm task keeps: per-peer state and token buckets, application
//! scores and bans, and the peer list saved across restarts.

use super::protocol::{REQUEST_BURST, REQUEST_RATE};
use super::{BAN_SCORE, PeerInfo};
use libp2p::{Multiaddr, PeerId, multiaddr::Protocol};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};
use tracing::{debug, warn};

/// Peers saved across restarts at most.
const MAX_SAVED_PEERS: usize = 256;
/// Highest score a peer can earn.
const MAX_SCORE: i32 = 100;
/// Announcements a peer may relay per second on average, and in a burst.
const GOSSIP_RATE: f64 = 50.0;
const GOSSIP_BURST: f64 = 200.0;

/// A token bucket: `rate` tokens a second, at most `burst` held.
#[derive(Debug, Clone)]
pub(super) struct Bucket {
    tokens: f64,
    at: Instant,
    rate: f64,
    burst: f64,
}

impl Bucket {
    fn new(rate: f64, burst: f64) -> Self {
        Self {
            tokens: burst,
            at: Instant::now(),
            rate,
            burst,
        }
    }

    /// Takes a token if one is left.
    pub(super) fn take(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.at).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + refill).min(self.burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// What the swarm knows of a connected peer.
#[derive(Debug)]
pub(super) struct PeerState {
    pub address: Multiaddr,
    pub outbound: bool,
    pub latency: Option<Duration>,
    pub agent: Option<String>,
    pub listen: Vec<Multiaddr>,
    pub tip_height: Option<u64>,
    pub score: i32,
    pub since: u64,
    /// Sync requests the peer may send.
    pub requests: Bucket,
    /// Announcements the peer may relay.
    pub gossip: Bucket,
    /// Whether the node was told it joined (after identify showed our protocol).
    pub announced: bool,
}

impl PeerState {
    /// A peer just connected at `address`.
    pub(super) fn new(address: Multiaddr, outbound: bool, since: u64) -> Self {
        Self {
            address,
            outbound,
            latency: None,
            agent: None,
            listen: Vec::new(),
            tip_height: None,
            score: 0,
            since,
            requests: Bucket::new(REQUEST_RATE, REQUEST_BURST),
            gossip: Bucket::new(GOSSIP_RATE, GOSSIP_BURST),
            announced: false,
        }
    }
}

/// Connected peers and bans.
#[derive(Debug, Default)]
pub(super) struct PeerTable {
    pub peers: BTreeMap<PeerId, PeerState>,
    bans: BTreeMap<PeerId, Instant>,
}

impl PeerTable {
    /// Adds `delta` to a connected peer's score. Returns whether it fell to the ban
    /// score (the caller bans it).
    pub(super) fn adjust(&mut self, peer: PeerId, delta: i32, reason: &str) -> bool {
        let Some(state) = self.peers.get_mut(&peer) else {
            return false;
        };
        state.score = (state.score + delta).min(MAX_SCORE);
        if delta < 0 {
            debug!(target: "otedama::p2p", %peer, delta, score = state.score, reason, "peer penalized");
        }
        state.score <= BAN_SCORE
    }

    /// Records a ban until `now + duration`.
    pub(super) fn ban(&mut self, peer: PeerId, duration: Duration) {
        self.bans.insert(peer, Instant::now() + duration);
    }

    /// Lifts a ban.
    pub(super) fn unban(&mut self, peer: &PeerId) {
        self.bans.remove(peer);
    }

    /// Returns whether `peer` is banned.
    pub(super) fn is_banned(&self, peer: &PeerId) -> bool {
        self.bans.contains_key(peer)
    }

    /// Removes and returns the bans that have run out.
    pub(super) fn expire_bans(&mut self) -> Vec<PeerId> {
        let now = Instant::now();
        let expired: Vec<PeerId> = self
            .bans
            .iter()
            .filter(|(_, until)| **until <= now)
            .map(|(p, _)| *p)
            .collect();
        for p in &expired {
            self.bans.remove(p);
        }
        expired
    }

    /// Returns a peer as `otedama-node peers` shows it.
    pub(super) fn info(&self, id: &PeerId, gossip_score: Option<f64>) -> Option<PeerInfo> {
        let s = self.peers.get(id)?;
        Some(PeerInfo {
            id: id.to_string(),
            address: s.address.to_string(),
            direction: if s.outbound { "outbound" } else { "inbound" },
            latency_ms: s.latency.map(|d| d.as_secs_f64() * 1000.0),
            agent: s.agent.clone(),
            tip_height: s.tip_height,
            score: s.score,
            gossip_score,
            connected_since: s.since,
        })
    }

    /// Returns the connected, unbanned peers' addresses as saved across restarts.
    pub(super) fn saved(&self) -> Vec<SavedPeer> {
        self.peers
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
            .collect()
    }
}

/// Writes the saved peer list to `file` (atomically: a temporary file, then a rename).
pub(super) fn write_saved(file: &Path, saved: &[SavedPeer]) {
    let Ok(json) = serde_json::to_vec_pretty(saved) else {
        return;
    };
    let tmp = file.with_extension("json.tmp");
    if let Err(e) = std::fs::write(&tmp, json).and_then(|()| std::fs::rename(&tmp, file)) {
        warn!(target: "otedama::p2p", file = %file.display(), error = %e, "saving the peer list");
    }
}

/// A saved peer.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct SavedPeer {
    id: String,
    addrs: Vec<String>,
}

/// Reads the saved peer list; an unreadable one is ignored with a warning.
pub(super) fn load_peers(file: &Path) -> Vec<Multiaddr> {
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

/// The peer id an address ends with, if any.
pub(super) fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        Protocol::P2p(id) => Some(id),
        _ => None,
    })
}

/// Addresses worth remembering: not unspecified, not relay circuits.
pub(super) fn is_dialable(addr: &Multiaddr) -> bool {
    !addr.iter().any(|p| match p {
        Protocol::Ip4(ip) => ip.is_unspecified(),
        Protocol::Ip6(ip) => ip.is_unspecified(),
        Protocol::P2pCircuit => true,
        _ => false,
    })
}
