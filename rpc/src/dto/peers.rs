//! `GET /api/workers`, `GET /api/peers` and the peer actions (dial, ban, unban).

// Only the docs name it; the OpenAPI descriptions keep the plain link text.
#[cfg(doc)]
use super::Stats;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `GET /api/workers`: one Stratum worker (user name) that sent shares since the node
/// started. Counts are of shares (submissions meeting the share target); Stratum-level
/// totals are in [`Stats`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Worker {
    /// The Stratum user name, `ADDRESS[.worker]`.
    pub name: String,
    /// The payout address part of the name.
    pub address: String,
    /// Shares accepted into the sharechain.
    pub accepted: u64,
    /// Shares rejected by validation.
    pub rejected: u64,
    /// Unix time of the last share, accepted or rejected.
    pub last_share_time: Option<u64>,
    /// Work of its accepted shares over the last 10 minutes, per second.
    pub hashrate: f64,
}

/// `GET /api/peers`: a connected sharechain peer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Peer {
    /// The peer id.
    pub id: String,
    /// The connection's remote address.
    pub address: String,
    /// `outbound` (this node dialed) or `inbound`.
    pub direction: String,
    /// Last ping round trip, milliseconds.
    pub latency_ms: Option<f64>,
    /// The peer's agent version.
    pub agent: Option<String>,
    /// The height of the peer's best share, as it last reported.
    pub tip_height: Option<u64>,
    /// Application score: up with valid shares, down with invalid ones; at -100 the
    /// peer is banned for 10 minutes.
    pub score: i32,
    /// Unix time it connected.
    pub connected_since: u64,
}

/// The body of `POST /api/peers/dial`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DialRequest {
    /// A multiaddr, ideally ending in `/p2p/<peer id>`
    /// (`/ip4/192.0.2.7/tcp/9333/p2p/12D3Koo...`).
    pub address: String,
}

/// The body of `POST /api/peers/ban`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BanRequest {
    /// The peer id.
    pub peer: String,
    /// How long the ban lasts, seconds (default 600, at most 30 days).
    #[serde(default)]
    pub duration_secs: Option<u64>,
}

/// The body of `POST /api/peers/unban`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnbanRequest {
    /// The peer id.
    pub peer: String,
}

/// The answer of the `/api/peers/*` actions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PeerAction {
    /// `dial`, `ban` or `unban`.
    pub action: String,
    /// The address dialed or the peer id acted on.
    pub subject: String,
}
