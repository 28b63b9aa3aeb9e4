//! Monero shares on the mesh: the sidechain's share blobs move by id over the same libp2p
//! swarm, protocols and wire messages as the Bitcoin family's (docs/protocol.md), on the
//! sidechain's own consensus id.
//!
//! - gossip: a share is announced as the wire version byte followed by its blob; the owner
//!   judges it, and only a valid share is relayed;
//! - serving: [`Served`] answers `Tip` from the owner's last tip and `Shares` from the
//!   store (headers are not served: a Monero share has no compact header);
//! - sync: on connecting, and whenever an announced share lacks ancestors, the task asks
//!   the peer for the missing shares by id, then for their parents and uncles, breadth
//!   first, until it reaches shares it holds or a bound of three windows, and hands the
//!   blobs to the owner oldest first.

use super::owner::{Cmd, PeerVerdict};
use crate::p2p::protocol::{
    MAX_SHARES_PER_REQUEST, Request, Response, TipInfo, WIRE_VERSION, WireHash,
};
use crate::p2p::sync::INVALID_SHARE_PENALTY;
use crate::p2p::{BlobSource, NetEvent, P2pHandle, Verdict};
use libp2p::PeerId;
use otedama_sharechain::monero::share::MAX_SHARE_SIZE;
use otedama_sharechain::monero::{Hash, PoolShare, SidechainParams};
use std::collections::{HashSet, VecDeque};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

const TARGET: &str = "otedama::monero::p2p";
/// Points taken from a peer whose sync answer does not parse.
const BAD_ANSWER_PENALTY: i32 = 20;

/// The mesh's view of a Monero sidechain: the consensus id and the largest share.
pub(crate) fn mesh_chain(params: &SidechainParams) -> crate::p2p::MeshChain {
    crate::p2p::MeshChain::new(params.consensus_id, MAX_SHARE_SIZE)
}

/// The gossip payload of a share blob.
pub(crate) fn announcement(blob: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(blob.len() + 1);
    out.push(WIRE_VERSION);
    out.extend_from_slice(blob);
    out
}

/// The blob of a gossip payload, if it has the wire version and fits a share.
fn announced_blob(data: &[u8]) -> Option<&[u8]> {
    match data.split_first() {
        Some((&WIRE_VERSION, blob)) if !blob.is_empty() && blob.len() <= MAX_SHARE_SIZE => {
            Some(blob)
        }
        _ => None,
    }
}

/// What peers' sync requests are answered from: the owner's tip and the share store.
#[derive(Debug)]
pub(crate) struct Served {
    /// The store of share blobs by sidechain id (the owner writes it).
    pub tree: sled::Tree,
    /// The tip as the owner last published it.
    pub tip: watch::Receiver<Option<TipInfo>>,
}

impl BlobSource for Served {
    fn tip(&self) -> Option<TipInfo> {
        *self.tip.borrow()
    }

    fn blobs(&self, ids: &[WireHash]) -> Vec<Vec<u8>> {
        ids.iter()
            .filter_map(|id| self.tree.get(id).ok().flatten())
            .map(|blob| blob.to_vec())
            .collect()
    }
}

/// Turns what the swarm reports into owner commands and peer syncs, until shutdown.
pub(crate) async fn run(
    p2p: P2pHandle,
    mut events: mpsc::Receiver<NetEvent>,
    owner: mpsc::Sender<Cmd>,
    tree: sled::Tree,
    params: SidechainParams,
    mut shutdown: watch::Receiver<bool>,
) {
    let limit = usize::try_from(params.window)
        .unwrap_or(usize::MAX)
        .saturating_mul(3)
        .saturating_add(16);
    let fetcher = Fetcher {
        p2p: p2p.clone(),
        owner: owner.clone(),
        tree,
        limit,
    };
    // One sync at a time: a request that comes while one runs is dropped, and the next
    // announcement or connection asks again.
    let mut syncing: JoinSet<()> = JoinSet::new();
    loop {
        let event = tokio::select! {
            biased;
            _ = shutdown.changed() => break,
            Some(_) = syncing.join_next(), if !syncing.is_empty() => continue,
            event = events.recv() => event,
        };
        let Some(event) = event else { break };
        let wanted = match event {
            NetEvent::Connected(peer) => match p2p.request(peer, Request::Tip).await {
                Ok(Response::Tip(Some(tip))) => Some((peer, vec![Hash::from_bytes(tip.hash)])),
                _ => None,
            },
            NetEvent::Disconnected(_) => None,
            NetEvent::Share { from, id, data } => {
                let Some(blob) = announced_blob(&data) else {
                    p2p.report(
                        id,
                        from,
                        Verdict::Reject {
                            penalty: INVALID_SHARE_PENALTY,
                        },
                    );
                    continue;
                };
                let (reply, verdict) = oneshot::channel();
                let cmd = Cmd::Peer {
                    blob: blob.to_vec(),
                    reply,
                };
                if owner.send(cmd).await.is_err() {
                    break;
                }
                let Ok(verdict) = verdict.await else { break };
                let (report, missing) = match verdict {
                    PeerVerdict::Valid => (Verdict::Accept, None),
                    PeerVerdict::Known => (Verdict::Ignore, None),
                    PeerVerdict::Pending(missing) => (Verdict::Ignore, Some((from, missing))),
                    PeerVerdict::Invalid(rule) => {
                        debug!(target: TARGET, peer = %from, %rule, "invalid share announced");
                        (
                            Verdict::Reject {
                                penalty: INVALID_SHARE_PENALTY,
                            },
                            None,
                        )
                    }
                };
                p2p.report(id, from, report);
                missing
            }
        };
        if let Some((peer, wanted)) = wanted
            && syncing.is_empty()
        {
            let fetcher = fetcher.clone();
            syncing.spawn(async move { fetcher.sync(peer, wanted).await });
        }
    }
    syncing.abort_all();
}

/// Fetches missing shares from one peer.
#[derive(Clone)]
struct Fetcher {
    p2p: P2pHandle,
    owner: mpsc::Sender<Cmd>,
    tree: sled::Tree,
    /// Most shares fetched in one sync.
    limit: usize,
}

impl Fetcher {
    fn held(&self, id: &Hash) -> bool {
        *id == Hash::ZERO || self.tree.contains_key(id.as_bytes()).unwrap_or(false)
    }

    /// Fetches `wanted` and every ancestor and uncle not held, then hands them to the
    /// owner, oldest first.
    async fn sync(self, peer: PeerId, wanted: Vec<Hash>) {
        let mut seen: HashSet<Hash> = HashSet::new();
        let mut queue: VecDeque<Hash> = wanted
            .into_iter()
            .filter(|id| !self.held(id) && seen.insert(*id))
            .collect();
        if queue.is_empty() {
            return;
        }
        let mut blobs = Vec::new();
        while !queue.is_empty() && blobs.len() < self.limit {
            let batch: Vec<WireHash> = queue
                .drain(..queue.len().min(MAX_SHARES_PER_REQUEST))
                .map(|id| *id.as_bytes())
                .collect();
            let shares = match self
                .p2p
                .request(peer, Request::Shares { hashes: batch })
                .await
            {
                Ok(Response::Shares(shares)) if !shares.is_empty() => shares,
                Ok(_) => break,
                Err(e) => {
                    debug!(target: TARGET, %peer, error = %e, "sync request failed");
                    break;
                }
            };
            for synced in shares {
                let Ok(share) = PoolShare::parse(&synced.share) else {
                    self.p2p
                        .penalize(peer, BAD_ANSWER_PENALTY, "an undecodable Monero share");
                    return;
                };
                for next in std::iter::once(share.parent).chain(share.uncles.iter().copied()) {
                    if !self.held(&next) && seen.insert(next) {
                        queue.push_back(next);
                    }
                }
                blobs.push(synced.share);
            }
            info!(target: TARGET, %peer, fetched = blobs.len(), limit = self.limit, "syncing shares");
        }
        if blobs.is_empty() {
            return;
        }
        // Fetched newest first; the chain takes any order, but verifies fewer times
        // oldest first.
        blobs.reverse();
        if self.owner.send(Cmd::Synced(blobs)).await.is_err() {
            warn!(target: TARGET, "the sidechain owner is gone");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcements_carry_the_version_and_a_bounded_blob() {
        let blob = vec![7u8; 100];
        let payload = announcement(&blob);
        assert_eq!(payload[0], WIRE_VERSION);
        assert_eq!(announced_blob(&payload), Some(&blob[..]));
        assert_eq!(announced_blob(&[]), None);
        assert_eq!(announced_blob(&[WIRE_VERSION]), None);
        assert_eq!(announced_blob(&[WIRE_VERSION + 1, 1, 2]), None);
        let mut huge = vec![WIRE_VERSION];
        huge.resize(MAX_SHARE_SIZE + 2, 0);
        assert_eq!(announced_blob(&huge), None);
    }
}
