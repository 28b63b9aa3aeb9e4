//! The task that answers peers' sync requests, so the swarm task never waits on the
//! chain or the disk: the swarm hands it each admitted request over a bounded queue
//! (or refuses the request as busy when the queue is full); it asks the coordinator
//! which shares to send, reads them from the store on the blocking pool, and hands the
//! response back to the swarm.

use super::P2pHandle;
use super::protocol::{MAX_HEADERS, Request, Response, SyncedShare, TipInfo, WireHash};
use crate::coordinator::ChainSnapshot;
use crate::coordinator::handle::ChainHandle;
use libp2p::PeerId;
use libp2p::request_response::ResponseChannel;
use otedama_sharechain::{ChainSpec, ShareChain, ShareHash, StoreReader};
use std::sync::Arc;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tracing::debug;

/// Requests waiting to be served at most; beyond it the swarm refuses them as busy.
pub(super) const SERVE_QUEUE: usize = 64;
/// Requests answered at once at most.
const MAX_CONCURRENT: usize = 4;

/// A peer's admitted sync request.
pub(super) struct Inbound {
    pub peer: PeerId,
    pub request: Request,
    pub channel: ResponseChannel<Response>,
}

/// A chain whose shares the mesh moves as opaque blobs by id (a Monero sidechain): it
/// reports its tip, hands out stored shares and names the shares each one refers to.
/// Headers are not served for it; `Chain` requests are.
pub trait BlobSource: std::fmt::Debug + Send + Sync + 'static {
    /// The best tip, if any.
    fn tip(&self) -> Option<TipInfo>;
    /// The stored share `id`. It may read the disk: it is called on the blocking pool.
    fn blob(&self, id: &WireHash) -> Option<Vec<u8>>;
    /// The ids `blob` refers to: its parent, then its uncles (none if it does not parse).
    fn links(&self, blob: &[u8]) -> Vec<WireHash>;
}

/// The stored shares among `ids`, in the order asked.
fn blobs_by_id(source: &dyn BlobSource, ids: &[WireHash]) -> Vec<Vec<u8>> {
    ids.iter().filter_map(|id| source.blob(id)).collect()
}

/// Share `from` and what it refers to, breadth first, at most `max` of them.
fn chain_from(source: &dyn BlobSource, from: WireHash, max: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut queue = std::collections::VecDeque::from([from]);
    // Lookups only; nothing is iterated.
    let mut seen = std::collections::HashSet::new();
    while out.len() < max {
        let Some(id) = queue.pop_front() else { break };
        if !seen.insert(id) {
            continue;
        }
        if let Some(blob) = source.blob(&id) {
            queue.extend(source.links(&blob));
            out.push(blob);
        }
    }
    out
}

/// What serving reads from.
#[derive(Clone, Debug)]
pub struct ServeSource(Backend);

#[derive(Clone, Debug)]
enum Backend {
    /// A Bitcoin-family chain: the coordinator and its share store.
    Chain {
        /// Which shares to send (the coordinator answers from memory).
        chain: ChainHandle,
        /// The shares' bytes (`None`: a peer that holds no chain).
        store: Option<StoreReader>,
        /// The tip, without a round trip.
        snapshot: watch::Receiver<ChainSnapshot>,
    },
    /// A chain served as blobs by id.
    Blobs(Arc<dyn BlobSource>),
}

impl ServeSource {
    /// Serving from the node's coordinator and store.
    pub(crate) fn new(
        chain: ChainHandle,
        store: StoreReader,
        snapshot: watch::Receiver<ChainSnapshot>,
    ) -> Self {
        Self(Backend::Chain {
            chain,
            store: Some(store),
            snapshot,
        })
    }

    /// Serving a chain that moves shares as blobs by id.
    pub fn blobs(source: Arc<dyn BlobSource>) -> Self {
        Self(Backend::Blobs(source))
    }

    /// Serving for a mesh member that holds no chain (test peers, tools): its tip is
    /// none and it refuses every other request as busy.
    pub fn empty(spec: &ChainSpec) -> Self {
        let (tx, _) = mpsc::channel(1);
        let (_, snapshot) = watch::channel(ChainSnapshot::initial(&ShareChain::new(spec.clone())));
        Self(Backend::Chain {
            chain: ChainHandle::new(tx),
            store: None,
            snapshot,
        })
    }
}

/// Serves requests until shutdown.
pub(super) async fn run(
    mut inbound: mpsc::Receiver<Inbound>,
    source: ServeSource,
    p2p: P2pHandle,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut answering: JoinSet<()> = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            _ = shutdown.changed() => break,
            Some(_) = answering.join_next(), if !answering.is_empty() => {}
            next = inbound.recv(), if answering.len() < MAX_CONCURRENT => {
                let Some(Inbound { peer, request, channel }) = next else {
                    break;
                };
                let source = source.clone();
                let p2p = p2p.clone();
                answering.spawn(async move {
                    let response = answer(&source, request).await;
                    debug!(target: "otedama::p2p", %peer, "sync request answered");
                    p2p.respond(channel, response).await;
                });
            }
        }
    }
    answering.abort_all();
}

fn hashes(wire: &[WireHash]) -> Vec<ShareHash> {
    wire.iter().map(|h| ShareHash::from_bytes(*h)).collect()
}

fn busy() -> Response {
    Response::Refused("busy".into())
}

/// The response to one request. Disk reads run on the blocking pool.
async fn answer(source: &ServeSource, request: Request) -> Response {
    match &source.0 {
        Backend::Chain {
            chain,
            store,
            snapshot,
        } => answer_chain(chain, store.as_ref(), snapshot, request).await,
        Backend::Blobs(blobs) => answer_blobs(blobs, request).await,
    }
}

/// A request to a blob chain: its tip, shares by id, and chains of shares.
async fn answer_blobs(source: &Arc<dyn BlobSource>, request: Request) -> Response {
    let source = Arc::clone(source);
    let read = match request {
        Request::Tip => return Response::Tip(source.tip()),
        Request::Headers { .. } => return Response::Refused("no headers on this chain".into()),
        Request::Uncles { .. } => {
            return Response::Refused("no uncle requests on this chain".into());
        }
        Request::Shares { hashes } => {
            tokio::task::spawn_blocking(move || blobs_by_id(source.as_ref(), &hashes)).await
        }
        Request::Chain { from, max } => {
            let max = (max as usize).min(super::protocol::MAX_SHARES_PER_REQUEST);
            tokio::task::spawn_blocking(move || chain_from(source.as_ref(), from, max)).await
        }
    };
    match read {
        Ok(blobs) => Response::Shares(
            blobs
                .into_iter()
                .map(|share| SyncedShare {
                    share,
                    chain_work: 0,
                    anchor_time: 0,
                })
                .collect(),
        ),
        Err(_) => busy(),
    }
}

async fn answer_chain(
    chain: &ChainHandle,
    store: Option<&StoreReader>,
    snapshot: &watch::Receiver<ChainSnapshot>,
    request: Request,
) -> Response {
    match request {
        Request::Chain { .. } => Response::Refused("no chain requests on this chain".into()),
        Request::Tip => Response::Tip(snapshot.borrow().tip.as_ref().map(|t| TipInfo {
            hash: *t.hash.as_bytes(),
            height: t.height,
            chain_work: t.chain_work,
        })),
        Request::Headers { locator, max } => {
            let max = max.min(MAX_HEADERS) as usize;
            let Ok(wanted) = chain.headers_after(hashes(&locator), max).await else {
                return busy();
            };
            let Some(store) = store.cloned() else {
                return busy();
            };
            match tokio::task::spawn_blocking(move || store.encoded_headers(&wanted)).await {
                Ok(Ok(headers)) => Response::Headers(headers),
                _ => busy(),
            }
        }
        Request::Shares { hashes: wire } => held_shares(chain, store, hashes(&wire)).await,
        Request::Uncles { prev } => {
            match chain.uncle_candidates(ShareHash::from_bytes(prev)).await {
                Ok(uncles) => held_shares(chain, store, uncles).await,
                Err(_) => busy(),
            }
        }
    }
}

/// The shares among `wanted` that this node holds, in that order, with their sync fields.
async fn held_shares(
    chain: &ChainHandle,
    store: Option<&StoreReader>,
    wanted: Vec<ShareHash>,
) -> Response {
    let Ok(metas) = chain.sync_metas(wanted).await else {
        return busy();
    };
    let Some(store) = store.cloned() else {
        return busy();
    };
    let held: Vec<ShareHash> = metas.iter().map(|m| m.hash).collect();
    let Ok(Ok(bytes)) = tokio::task::spawn_blocking(move || store.encoded_shares(&held)).await
    else {
        return busy();
    };
    // Both lists follow the request's order; a share pruned in between is left out.
    let mut bytes = bytes.into_iter().peekable();
    let mut out = Vec::with_capacity(metas.len());
    for m in metas {
        if let Some((_, share)) = bytes.next_if(|(h, _)| *h == m.hash) {
            out.push(SyncedShare {
                share,
                chain_work: m.chain_work.to_u128(),
                anchor_time: m.anchor_time,
            });
        }
    }
    Response::Shares(out)
}
