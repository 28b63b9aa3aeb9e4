//! The messages of `/api/ws`.

use super::{FoundBlock, Hashrate, Peer, SyncState};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A message on `/api/ws`, as `{"type": "...", "data": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum Event {
    /// Sent once when a client connects.
    Hello(Hello),
    /// A share was accepted into the sharechain.
    ShareAccepted(ShareAccepted),
    /// A share announced by a peer was accepted into the sharechain.
    PeerShareAccepted(PeerShareAccepted),
    /// A share failed sharechain validation.
    ShareRejected(ShareRejected),
    /// A share met the parent target and was submitted as a block.
    BlockFound(FoundBlock),
    /// A sharechain peer connected and speaks this chain's protocols.
    PeerJoined(Peer),
    /// A sharechain peer's last connection closed.
    PeerLeft(PeerLeft),
    /// Hashrate estimates, every 5 seconds.
    Hashrate(HashrateTick),
    /// Sync progress, at connect and whenever it changes.
    Sync(SyncState),
    /// The parent daemons could not be reached; the node keeps retrying.
    ParentUnavailable(ParentUnavailable),
}

/// The `hello` message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Hello {
    /// The node's name.
    pub name: String,
    /// The software version.
    pub version: String,
    /// The chain spec.
    pub chain: String,
}

/// The `share_accepted` message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ShareAccepted {
    /// Share hash.
    pub hash: String,
    /// Sharechain height.
    pub height: u64,
    /// The Stratum worker that found it.
    pub worker: String,
    /// Unix time.
    pub time: u64,
}

/// The `peer_share_accepted` message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PeerShareAccepted {
    /// Share hash.
    pub hash: String,
    /// Sharechain height.
    pub height: u64,
    /// Unix time.
    pub time: u64,
}

/// The `share_rejected` message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ShareRejected {
    /// The Stratum worker that sent it.
    pub worker: String,
    /// The validation rule it broke.
    pub reason: String,
    /// Unix time.
    pub time: u64,
}

/// The `peer_left` message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PeerLeft {
    /// The peer id.
    pub id: String,
}

/// The `hashrate` message.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HashrateTick {
    /// Unix time.
    pub time: u64,
    /// The estimates.
    #[serde(flatten)]
    pub hashrate: Hashrate,
}

/// The `parent_unavailable` message. Details are in the node's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ParentUnavailable {
    /// Unix time.
    pub time: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_tagged_with_type_and_data() {
        let e = Event::ShareRejected(ShareRejected {
            worker: "w".into(),
            reason: "stale".into(),
            time: 7,
        });
        assert_eq!(
            serde_json::to_value(&e).expect("encodes"),
            serde_json::json!({"type": "share_rejected", "data": {"worker": "w", "reason": "stale", "time": 7}})
        );
        let tick = Event::Hashrate(HashrateTick {
            time: 1,
            hashrate: Hashrate {
                pool: 2.0,
                local: 1.0,
                miner: 0.5,
            },
        });
        assert_eq!(
            serde_json::to_value(&tick).expect("encodes"),
            serde_json::json!({"type": "hashrate", "data": {"time": 1, "pool": 2.0, "local": 1.0, "miner": 0.5}})
        );
    }
}
