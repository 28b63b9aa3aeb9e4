//! The syncer: between the swarm and the coordinator. It validates announcements
//! through the coordinator and reports verdicts, asks every new peer for its tip, and
//! when a peer holds more work it syncs headers first (locator requests of up to 2 000
//! headers, each checked for proof of work and linkage), then bodies in batches from
//! every peer that has them, several in flight, delivered to the coordinator in height
//! order. Progress goes to a watch channel and the log.
//!
//! Its loop never waits: every request to a peer, header check and answer from the
//! coordinator is a future in one bounded set, and its result comes back as a
//! `Reply` handled like any other event.
//!
//! This file holds the loop, announcements and replies; `fetch` a sync's steps (headers,
//! share batches, delivery, missing uncles, side shares); `job` its bookkeeping; `headers` the
//! header checks.

mod fetch;
mod headers;
mod job;

use super::protocol::{MAX_HEADERS, Request, Response, TipInfo, WIRE_VERSION};
use super::{NetEvent, P2pHandle, RequestError, Verdict};
use crate::coordinator::ChainSnapshot;
use crate::coordinator::handle::{AnnounceOutcome, ChainHandle, ChainUnavailable};
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use headers::HeaderError;
use job::Job;
use libp2p::PeerId;
use libp2p::gossipsub::MessageId;
use otedama_sharechain::{ChainSpec, Share, ShareError, ShareHash};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tracing::{debug, warn};

/// Requests go to one peer no more often than this: 80 % of the rate a peer accepts
/// (`REQUEST_RATE`), so an honest sync is never refused or penalised.
const REQUEST_SPACING: Duration =
    Duration::from_micros((1_000_000.0 / (super::protocol::REQUEST_RATE * 0.8)) as u64);
/// How often progress is logged while syncing.
const PROGRESS_LOG: Duration = Duration::from_secs(2);
/// Score taken for a share that breaks a consensus rule (two of them ban the peer).
pub(crate) const INVALID_SHARE_PENALTY: i32 = 50;
/// Missing uncles fetched one by one before a peer counts as unable to serve its chain.
const MAX_UNCLE_FETCHES: u32 = 32;
/// Announcements with the coordinator at once at most; beyond it they are ignored
/// (the sender's tip brings them in by sync).
const MAX_VERDICTS: usize = 256;

/// Sync progress, as the API and `otedama-node status` show it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncProgress {
    /// Whether a sync is running.
    pub active: bool,
    /// Height of the best tip peers reported.
    pub best_peer_height: Option<u64>,
    /// Shares fetched and validated in the running (or last) sync.
    pub done: u64,
    /// Shares it has to fetch, as far as headers are known.
    pub total: u64,
}

/// What a request to a peer was for.
#[derive(Debug, Clone, Copy)]
enum Tag {
    Tip(PeerId),
    Headers(PeerId, u64),
    Shares(PeerId, u64, u64),
    /// An uncle a synced share names that we do not hold (a share lost in a crash, or
    /// below the fork point): fetched on its own, then the sync starts again.
    Uncle(PeerId),
    /// The side shares a peer on our tip would include as uncles.
    SideShares(PeerId),
}

impl Tag {
    fn peer(self) -> PeerId {
        match self {
            Tag::Tip(p)
            | Tag::Headers(p, _)
            | Tag::Shares(p, _, _)
            | Tag::Uncle(p)
            | Tag::SideShares(p) => p,
        }
    }
}

/// Checked headers with, per header, whether we hold it and its parent.
type Linkable = (Vec<(ShareHash, ShareHash)>, Vec<(bool, bool)>);
/// The coordinator's answer to a delivery.
type Delivery = Result<Result<(), (ShareHash, ShareError)>, ChainUnavailable>;

/// A finished future of the syncer.
enum Reply {
    /// A peer answered (or failed to).
    Response(Tag, Result<Response, RequestError>),
    /// A page of headers was checked and looked up.
    Headers {
        peer: PeerId,
        job: u64,
        result: Result<Linkable, HeaderError>,
    },
    /// The coordinator judged an announcement.
    Verdict {
        from: PeerId,
        id: MessageId,
        outcome: Result<AnnounceOutcome, ChainUnavailable>,
    },
    /// The coordinator took (or refused) a batch of synced shares.
    Delivered {
        peer: PeerId,
        job: u64,
        n: u64,
        outcome: Delivery,
    },
    /// The coordinator took (or refused) a fetched uncle.
    Uncle { peer: PeerId, outcome: Delivery },
    /// The coordinator took (or refused) a peer's side shares.
    SideShares { peer: PeerId, outcome: Delivery },
}

/// The syncer task.
pub(crate) struct Syncer {
    p2p: P2pHandle,
    chain: ChainHandle,
    snapshot: watch::Receiver<ChainSnapshot>,
    spec: &'static ChainSpec,
    progress: watch::Sender<SyncProgress>,
    tips: BTreeMap<PeerId, TipInfo>,
    job: Option<Job>,
    jobs: u64,
    pending: FuturesUnordered<BoxFuture<'static, Reply>>,
    /// Announcements with the coordinator now.
    verdicts: usize,
    /// When each peer may be sent the next request.
    next_slot: BTreeMap<PeerId, tokio::time::Instant>,
    /// Uncles fetched since the last completed sync.
    uncle_fetches: u32,
    /// Per peer, the tip we last asked it the side shares of.
    side_shares_asked: BTreeMap<PeerId, ShareHash>,
}

impl Syncer {
    pub(crate) fn new(
        p2p: P2pHandle,
        chain: ChainHandle,
        snapshot: watch::Receiver<ChainSnapshot>,
        spec: &'static ChainSpec,
        progress: watch::Sender<SyncProgress>,
    ) -> Self {
        Self {
            p2p,
            chain,
            snapshot,
            spec,
            progress,
            tips: BTreeMap::new(),
            job: None,
            jobs: 0,
            pending: FuturesUnordered::new(),
            verdicts: 0,
            next_slot: BTreeMap::new(),
            uncle_fetches: 0,
            side_shares_asked: BTreeMap::new(),
        }
    }

    pub(crate) async fn run(
        mut self,
        mut events: mpsc::Receiver<NetEvent>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            tokio::select! {
                biased;
                _ = shutdown.changed() => break,
                Some(reply) = self.pending.next(), if !self.pending.is_empty() => {
                    self.on_reply(reply);
                }
                ev = events.recv() => match ev {
                    None => break,
                    Some(ev) => self.on_event(ev),
                },
            }
        }
    }

    /// Sends `request` to `peer` in its next free slot (see [`REQUEST_SPACING`]).
    fn ask(&mut self, peer: PeerId, request: Request, tag: Tag) {
        let slot = self.slot(peer);
        let p2p = self.p2p.clone();
        self.pending.push(Box::pin(async move {
            tokio::time::sleep_until(slot).await;
            Reply::Response(tag, p2p.request(peer, request).await)
        }));
    }

    /// Asks `peer` for the headers after our locator (taken from the coordinator).
    fn ask_headers_from_locator(&mut self, peer: PeerId, job: u64) {
        let slot = self.slot(peer);
        let (p2p, chain) = (self.p2p.clone(), self.chain.clone());
        self.pending.push(Box::pin(async move {
            // Without an answer the peer sends from its lowest share: slower, still right.
            let locator = chain.locator().await.unwrap_or_default();
            tokio::time::sleep_until(slot).await;
            let request = Request::Headers {
                locator: locator.iter().map(|h| *h.as_bytes()).collect(),
                max: MAX_HEADERS,
            };
            Reply::Response(Tag::Headers(peer, job), p2p.request(peer, request).await)
        }));
    }

    fn slot(&mut self, peer: PeerId) -> tokio::time::Instant {
        let now = tokio::time::Instant::now();
        let slot = self.next_slot.get(&peer).map_or(now, |s| (*s).max(now));
        self.next_slot.insert(peer, slot + REQUEST_SPACING);
        slot
    }

    /// Our best chain's work and tip, from the coordinator's snapshot.
    fn our_tip(&self) -> (u128, Option<ShareHash>) {
        self.snapshot
            .borrow()
            .tip
            .as_ref()
            .map_or((0, None), |t| (t.chain_work, Some(t.hash)))
    }

    fn publish_progress(&self) {
        let best = self.tips.values().map(|t| t.height).max();
        let (active, done, total) = match &self.job {
            Some(j) => (true, j.done, j.total),
            None => {
                let p = self.progress.borrow();
                (false, p.done, p.total)
            }
        };
        self.progress.send_if_modified(|p| {
            let new = SyncProgress {
                active,
                best_peer_height: best,
                done,
                total,
            };
            let changed = *p != new;
            *p = new;
            changed
        });
    }

    fn on_event(&mut self, ev: NetEvent) {
        match ev {
            NetEvent::Connected(peer) => self.ask(peer, Request::Tip, Tag::Tip(peer)),
            NetEvent::Disconnected(peer) => {
                self.tips.remove(&peer);
                self.next_slot.remove(&peer);
                self.side_shares_asked.remove(&peer);
                if self
                    .job
                    .as_ref()
                    .is_some_and(|j| j.source == peer && !j.headers_done)
                {
                    self.abort("the source peer left");
                }
                self.publish_progress();
            }
            NetEvent::Share { from, id, data } => self.on_announcement(from, id, &data),
        }
    }

    /// Decodes an announcement and hands it to the coordinator; the verdict comes back
    /// as a [`Reply::Verdict`].
    fn on_announcement(&mut self, from: PeerId, id: MessageId, data: &[u8]) {
        let share = match data.split_first() {
            Some((&WIRE_VERSION, body)) => Share::from_bytes(body).map_err(|e| e.to_string()),
            Some((version, _)) => Err(format!("unknown wire version {version}")),
            None => Err("empty announcement".to_string()),
        };
        let share = match share {
            Ok(s) => s,
            Err(reason) => {
                debug!(target: "otedama::p2p", peer = %from, %reason, "undecodable announcement");
                let reject = Verdict::Reject {
                    penalty: INVALID_SHARE_PENALTY,
                };
                self.p2p.report(id, from, reject);
                return;
            }
        };
        if self.verdicts >= MAX_VERDICTS {
            self.p2p.report(id, from, Verdict::Ignore);
            return;
        }
        self.verdicts += 1;
        let len = data.len() - 1;
        let chain = self.chain.clone();
        self.pending.push(Box::pin(async move {
            let outcome = chain.announce(share, len).await;
            Reply::Verdict { from, id, outcome }
        }));
    }

    fn on_verdict(
        &mut self,
        from: PeerId,
        id: MessageId,
        outcome: Result<AnnounceOutcome, ChainUnavailable>,
    ) {
        self.verdicts = self.verdicts.saturating_sub(1);
        let verdict = match outcome {
            Ok(AnnounceOutcome::Accepted) => Verdict::Accept,
            Ok(AnnounceOutcome::Known | AnnounceOutcome::UnknownParentBlock) | Err(_) => {
                Verdict::Ignore
            }
            Ok(AnnounceOutcome::MissingParent) => {
                // The peer has shares we lack: ask for its tip, which starts a sync.
                if self.job.is_none() {
                    self.ask(from, Request::Tip, Tag::Tip(from));
                }
                Verdict::Ignore
            }
            Ok(AnnounceOutcome::Invalid(e)) => {
                warn!(target: "otedama::p2p", peer = %from, error = %e, "invalid share announced");
                Verdict::Reject {
                    penalty: penalty_for(&e),
                }
            }
        };
        self.p2p.report(id, from, verdict);
    }

    fn on_reply(&mut self, reply: Reply) {
        match reply {
            Reply::Response(tag, result) => self.on_response(tag, result),
            Reply::Headers { peer, job, result } => {
                if self.job.as_ref().is_some_and(|j| j.id == job) {
                    self.on_headers(peer, result);
                }
            }
            Reply::Verdict { from, id, outcome } => self.on_verdict(from, id, outcome),
            Reply::Delivered {
                peer,
                job,
                n,
                outcome,
            } => self.on_delivered(peer, job, n, outcome),
            Reply::Uncle { peer, outcome } => self.on_uncle_stored(peer, outcome),
            Reply::SideShares { peer, outcome } => self.on_side_shares_stored(peer, outcome),
        }
        self.dispatch();
        self.deliver();
        self.finish_if_done();
    }

    fn on_response(&mut self, tag: Tag, result: Result<Response, RequestError>) {
        match (tag, result) {
            (Tag::Tip(peer), Ok(Response::Tip(tip))) => {
                if let Some(tip) = tip {
                    self.tips.insert(peer, tip);
                    self.maybe_start(peer, tip);
                    self.maybe_ask_side_shares(peer, tip);
                }
                self.publish_progress();
            }
            (Tag::Headers(peer, job), Ok(Response::Headers(headers))) => {
                if self.job.as_ref().is_some_and(|j| j.id == job) {
                    self.check(peer, job, headers);
                }
            }
            (Tag::Uncle(peer), Ok(Response::Shares(shares))) => self.on_uncle(peer, shares),
            (Tag::SideShares(peer), Ok(Response::Shares(shares))) => {
                self.on_side_shares(peer, shares);
            }
            (Tag::Shares(peer, job, batch), Ok(Response::Shares(shares))) => {
                if let Some(j) = self.job.as_mut().filter(|j| j.id == job)
                    && !j.arrived(peer, batch, shares)
                {
                    debug!(target: "otedama::p2p", %peer, "incomplete share batch");
                }
            }
            (tag, Ok(Response::Refused(reason))) => {
                debug!(target: "otedama::p2p", ?tag, %reason, "request refused");
                self.on_failure(tag, false);
            }
            (tag, Ok(_)) => {
                self.p2p
                    .penalize(tag.peer(), 20, "response of the wrong kind");
                self.on_failure(tag, true);
            }
            (tag, Err(e)) => {
                debug!(target: "otedama::p2p", error = %e, "sync request failed");
                self.p2p.penalize(tag.peer(), 5, "sync request failed");
                self.on_failure(tag, true);
            }
        }
    }

    fn on_failure(&mut self, tag: Tag, exclude: bool) {
        let Some(job) = self.job.as_mut() else {
            return;
        };
        match tag {
            Tag::Tip(_) | Tag::Uncle(_) | Tag::SideShares(_) => {}
            Tag::Headers(_, id) if id == job.id => self.abort("headers request failed"),
            Tag::Shares(peer, id, batch) if id == job.id => job.failed(peer, batch, exclude),
            _ => {}
        }
    }
}

/// How much a rule break costs the peer: clock-dependent rules little (its clock may
/// differ), everything else enough that two such shares ban it.
pub(crate) fn penalty_for(e: &ShareError) -> i32 {
    match e {
        ShareError::TimeTooNew { .. } => 5,
        _ => INVALID_SHARE_PENALTY,
    }
}
