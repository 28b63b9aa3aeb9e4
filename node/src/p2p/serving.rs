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

/// What serving reads from.
#[derive(Clone, Debug)]
pub struct ServeSource {
    /// Which shares to send (the coordinator answers from memory).
    chain: ChainHandle,
    /// The shares' bytes (`None`: a peer that holds no chain).
    store: Option<StoreReader>,
    /// The tip, without a round trip.
    snapshot: watch::Receiver<ChainSnapshot>,
}

impl ServeSource {
    /// Serving from the node's coordinator and store.
    pub(crate) fn new(
        chain: ChainHandle,
        store: StoreReader,
        snapshot: watch::Receiver<ChainSnapshot>,
    ) -> Self {
        Self {
            chain,
            store: Some(store),
            snapshot,
        }
    }

    /// Serving for a mesh member that holds no chain (test peers, tools): its tip is
    /// none and it refuses every other request as busy.
    pub fn empty(spec: &ChainSpec) -> Self {
        let (tx, _) = mpsc::channel(1);
        let (_, snapshot) = watch::channel(ChainSnapshot::initial(&ShareChain::new(spec.clone())));
        Self {
            chain: ChainHandle::new(tx),
            store: None,
            snapshot,
        }
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
    match request {
        Request::Tip => Response::Tip(source.snapshot.borrow().tip.as_ref().map(|t| TipInfo {
            hash: *t.hash.as_bytes(),
            height: t.height,
            chain_work: t.chain_work,
        })),
        Request::Headers { locator, max } => {
            let max = max.min(MAX_HEADERS) as usize;
            let Ok(wanted) = source.chain.headers_after(hashes(&locator), max).await else {
                return busy();
            };
            let Some(store) = source.store.clone() else {
                return busy();
            };
            match tokio::task::spawn_blocking(move || store.encoded_headers(&wanted)).await {
                Ok(Ok(headers)) => Response::Headers(headers),
                _ => busy(),
            }
        }
        Request::Shares { hashes: wire } => {
            let Ok(metas) = source.chain.sync_metas(hashes(&wire)).await else {
                return busy();
            };
            let Some(store) = source.store.clone() else {
                return busy();
            };
            let held: Vec<ShareHash> = metas.iter().map(|m| m.hash).collect();
            let Ok(Ok(bytes)) =
                tokio::task::spawn_blocking(move || store.encoded_shares(&held)).await
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
    }
}
