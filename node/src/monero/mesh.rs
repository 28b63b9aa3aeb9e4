//! Monero shares on the mesh: the sidechain's share blobs move by id over the same libp2p
//! swarm, protocols and wire messages as the Bitcoin family's (docs/protocol.md), on the
//! sidechain's own consensus id.
//!
//! - gossip: a share is announced as the wire version byte followed by its blob; the owner
//!   judges it, and only a valid share is relayed;
//! - serving: [`Served`] answers `Tip` from the owner's last tip, and `Shares` and
//!   `Chain` from the store (headers are not served: a Monero share has no compact
//!   header);
//! - sync: on connecting, and whenever an announced share lacks ancestors, the task asks
//!   the peer for the missing share and what it refers to (`Chain`: parents and uncles,
//!   breadth first, 64 shares an answer), goes on from the deepest share it still lacks
//!   until it reaches shares it holds or a bound of three windows, and hands the blobs to
//!   the owner oldest first.

use super::owner::{Cmd, PeerVerdict};
use crate::p2p::protocol::{
    MAX_SHARES_PER_REQUEST, Request, Response, TipInfo, WIRE_VERSION, WireHash,
};
use crate::p2p::sync::INVALID_SHARE_PENALTY;
use crate::p2p::{BlobSource, NetEvent, P2pHandle, Verdict};
use libp2p::PeerId;
use otedama_sharechain::monero::share::MAX_SHARE_SIZE;
use otedama_sharechain::monero::{Hash, PoolShare, SidechainParams};
use std::collections::HashSet;
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

    fn blob(&self, id: &WireHash) -> Option<Vec<u8>> {
        self.tree.get(id).ok().flatten().map(|blob| blob.to_vec())
    }

    fn links(&self, blob: &[u8]) -> Vec<WireHash> {
        share_links(blob)
    }
}

/// The sidechain ids a share blob refers to: its parent, then its uncles (none when it
/// does not parse, or for the genesis share's zero parent).
pub fn share_links(blob: &[u8]) -> Vec<WireHash> {
    PoolShare::parse(blob).map_or_else(
        |_| Vec::new(),
        |share| links_of(&share).map(|id| *id.as_bytes()).collect(),
    )
}

fn links_of(share: &PoolShare) -> impl Iterator<Item = Hash> + '_ {
    std::iter::once(share.parent)
        .chain(share.uncles.iter().copied())
        .filter(|id| *id != Hash::ZERO)
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
        consensus_id: params.consensus_id,
        limit,
    };
    // One sync at a time; what is wanted meanwhile waits (the latest peer's wants, merged),
    // and every `TIP_CHECK` a connected peer's tip is compared with what is held, so
    // that a lost announcement is made up for.
    let mut syncing: JoinSet<()> = JoinSet::new();
    let mut deferred: Option<(PeerId, Want)> = None;
    let mut peers: Vec<PeerId> = Vec::new();
    let mut turn = 0usize;
    let mut check = tokio::time::interval(TIP_CHECK);
    check.reset();
    loop {
        let wanted = tokio::select! {
            biased;
            _ = shutdown.changed() => break,
            Some(_) = syncing.join_next(), if !syncing.is_empty() => deferred.take(),
            _ = check.tick() => {
                turn = turn.wrapping_add(1);
                peers.get(turn % peers.len().max(1)).map(|&peer| (peer, Want::Tip))
            }
            event = events.recv() => {
                let Some(event) = event else { break };
                match event {
                    NetEvent::Connected(peer) => {
                        if !peers.contains(&peer) {
                            peers.push(peer);
                        }
                        Some((peer, Want::Tip))
                    }
                    NetEvent::Disconnected(peer) => {
                        peers.retain(|p| *p != peer);
                        None
                    }
                    NetEvent::Share { from, id, data } => {
                        let Some((report, missing)) = judge(&owner, &data).await else {
                            break;
                        };
                        p2p.report(id, from, report);
                        missing.map(|ids| (from, Want::Ids(ids)))
                    }
                }
            }
        };
        let Some((peer, want)) = wanted else { continue };
        if syncing.is_empty() {
            let fetcher = fetcher.clone();
            syncing.spawn(async move { fetcher.sync(peer, want).await });
        } else {
            deferred = Some(match deferred.take() {
                Some((p, Want::Ids(mut ids))) if p == peer => {
                    if let Want::Ids(more) = want {
                        ids.extend(more);
                        ids.dedup();
                        ids.truncate(MAX_SHARES_PER_REQUEST);
                    }
                    (peer, Want::Ids(ids))
                }
                _ => (peer, want),
            });
        }
    }
    syncing.abort_all();
}

/// How often a connected peer's tip is compared with what is held.
const TIP_CHECK: std::time::Duration = std::time::Duration::from_secs(20);

/// What a sync starts from.
#[derive(Debug)]
enum Want {
    /// The peer's tip.
    Tip,
    /// These shares.
    Ids(Vec<Hash>),
}

/// The owner's verdict on an announcement, as a gossip verdict and the shares it lacks;
/// `None` when the owner is gone.
async fn judge(owner: &mpsc::Sender<Cmd>, data: &[u8]) -> Option<(Verdict, Option<Vec<Hash>>)> {
    let reject = Verdict::Reject {
        penalty: INVALID_SHARE_PENALTY,
    };
    let Some(blob) = announced_blob(data) else {
        return Some((reject, None));
    };
    let (reply, verdict) = oneshot::channel();
    let cmd = Cmd::Peer {
        blob: blob.to_vec(),
        reply,
    };
    owner.send(cmd).await.ok()?;
    Some(match verdict.await.ok()? {
        PeerVerdict::Valid => (Verdict::Accept, None),
        PeerVerdict::Known => (Verdict::Ignore, None),
        PeerVerdict::Pending(missing) => (Verdict::Ignore, Some(missing)),
        PeerVerdict::Invalid(rule) => {
            debug!(target: TARGET, %rule, "invalid share announced");
            (reject, None)
        }
    })
}

/// Fetches missing shares from one peer.
#[derive(Clone)]
struct Fetcher {
    p2p: P2pHandle,
    owner: mpsc::Sender<Cmd>,
    tree: sled::Tree,
    consensus_id: Hash,
    /// Most shares fetched in one sync.
    limit: usize,
}

impl Fetcher {
    fn held(&self, id: &Hash) -> bool {
        *id == Hash::ZERO || self.tree.contains_key(id.as_bytes()).unwrap_or(false)
    }

    /// Fetches what `want` names and every ancestor and uncle not held, 64 shares per
    /// `Chain` request, then hands them to the owner, oldest first.
    async fn sync(self, peer: PeerId, want: Want) {
        let wanted = match want {
            Want::Ids(ids) => ids,
            Want::Tip => match self.p2p.request(peer, Request::Tip).await {
                Ok(Response::Tip(Some(tip))) => vec![Hash::from_bytes(tip.hash)],
                _ => return,
            },
        };
        // Lookups only; the order of fetching comes from `pending`.
        let mut received: HashSet<Hash> = HashSet::new();
        let mut pending: Vec<Hash> = wanted.into_iter().filter(|id| !self.held(id)).collect();
        let mut blobs = Vec::new();
        while blobs.len() < self.limit {
            // The newest link found last is the deepest: the chain goes on from there.
            let Some(from) = pending.pop() else { break };
            if received.contains(&from) || self.held(&from) {
                continue;
            }
            let request = Request::Chain {
                from: *from.as_bytes(),
                max: MAX_SHARES_PER_REQUEST as u32,
            };
            let shares = match self.p2p.request(peer, request).await {
                Ok(Response::Shares(shares)) => shares,
                Ok(_) => break,
                Err(e) => {
                    debug!(target: TARGET, %peer, error = %e, "sync request failed");
                    break;
                }
            };
            let mut links = Vec::new();
            for synced in shares {
                let Ok(share) = PoolShare::parse(&synced.share) else {
                    self.p2p
                        .penalize(peer, BAD_ANSWER_PENALTY, "an undecodable Monero share");
                    return;
                };
                if !received.insert(share.sidechain_id(&self.consensus_id)) {
                    continue;
                }
                links.extend(links_of(&share));
                blobs.push(synced.share);
            }
            for id in links {
                if !received.contains(&id) && !self.held(&id) && !pending.contains(&id) {
                    pending.push(id);
                }
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
