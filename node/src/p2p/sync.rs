//! The syncer: between the swarm and the coordinator. It validates announcements
//! through the coordinator and reports verdicts, asks every new peer for its tip, and
//! when a peer holds more work it syncs headers first (locator requests of up to 2 000
//! headers, each checked for proof of work and linkage), then bodies in batches from
//! every peer that has them, several in flight, delivered to the coordinator in height
//! order. Progress goes to a watch channel and the log.

use super::protocol::{
    MAX_HEADER_BYTES, MAX_HEADERS, MAX_LOCATOR, MAX_SHARES_PER_REQUEST, Request, Response,
    SyncedShare, TipInfo, WIRE_VERSION,
};
use super::{NetEvent, P2pHandle, RequestError, Verdict};
use crate::coordinator::{AnnounceOutcome, ChainInput};
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use libp2p::PeerId;
use otedama_sharechain::retarget::Anchor;
use otedama_sharechain::{
    BaseClaim, ChainSpec, Reader, Share, ShareChain, ShareError, ShareHash, ShareHeader, Target,
    Work,
};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, info, warn};

/// Share batches in flight at most, in all and per peer.
const MAX_INFLIGHT: usize = 8;
const MAX_INFLIGHT_PER_PEER: usize = 4;
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

type Pending = BoxFuture<'static, (Tag, Result<Response, RequestError>)>;

#[derive(Debug, Clone)]
enum Tag {
    Tip(PeerId),
    Headers(PeerId, u64),
    Shares(PeerId, u64, u64),
    /// An uncle a synced share names that we do not hold (a share lost in a crash, or
    /// below the fork point): fetched on its own, then the sync starts again.
    Uncle(PeerId),
}

#[derive(Debug)]
struct Job {
    id: u64,
    source: PeerId,
    target: TipInfo,
    headers_done: bool,
    /// Hashes of every header received in this sync.
    seen: BTreeSet<ShareHash>,
    queue: VecDeque<ShareHash>,
    next_batch: u64,
    retry: VecDeque<(u64, Vec<ShareHash>)>,
    inflight: BTreeMap<u64, (PeerId, Vec<ShareHash>)>,
    arrived: BTreeMap<u64, (PeerId, Vec<SyncedShare>)>,
    next_deliver: u64,
    /// The first share fetched has no parent here: it goes in as the base.
    base: bool,
    excluded: BTreeSet<PeerId>,
    total: u64,
    done: u64,
    started: Instant,
    logged: Instant,
}

/// The syncer task.
pub(crate) struct Syncer {
    pub p2p: P2pHandle,
    pub chain: Arc<Mutex<ShareChain>>,
    pub input: mpsc::Sender<ChainInput>,
    pub spec: &'static ChainSpec,
    pub progress: watch::Sender<SyncProgress>,
    tips: BTreeMap<PeerId, TipInfo>,
    job: Option<Job>,
    jobs: u64,
    pending: FuturesUnordered<Pending>,
    /// When each peer may be sent the next request.
    next_slot: BTreeMap<PeerId, tokio::time::Instant>,
    /// Uncles fetched since the last completed sync.
    uncle_fetches: u32,
}

impl Syncer {
    pub(crate) fn new(
        p2p: P2pHandle,
        chain: Arc<Mutex<ShareChain>>,
        input: mpsc::Sender<ChainInput>,
        spec: &'static ChainSpec,
        progress: watch::Sender<SyncProgress>,
    ) -> Self {
        Self {
            p2p,
            chain,
            input,
            spec,
            progress,
            tips: BTreeMap::new(),
            job: None,
            jobs: 0,
            pending: FuturesUnordered::new(),
            next_slot: BTreeMap::new(),
            uncle_fetches: 0,
        }
    }

    pub(crate) async fn run(
        mut self,
        mut events: mpsc::Receiver<NetEvent>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                ev = events.recv() => match ev {
                    None => break,
                    Some(ev) => self.on_event(ev).await,
                },
                Some((tag, result)) = self.pending.next(), if !self.pending.is_empty() => {
                    self.on_response(tag, result).await;
                }
            }
        }
    }

    /// Sends `request` to `peer` in its next free slot (see [`REQUEST_SPACING`]).
    fn ask(&mut self, peer: PeerId, request: Request, tag: Tag) {
        let p2p = self.p2p.clone();
        let now = tokio::time::Instant::now();
        let slot = self.next_slot.get(&peer).map_or(now, |s| (*s).max(now));
        self.next_slot.insert(peer, slot + REQUEST_SPACING);
        self.pending.push(Box::pin(async move {
            tokio::time::sleep_until(slot).await;
            let r = p2p.request(peer, request).await;
            (tag, r)
        }));
    }

    fn our_work(&self) -> (Work, Option<ShareHash>) {
        self.chain
            .lock()
            .ok()
            .and_then(|c| c.tip().map(|t| (t.chain_work, Some(t.hash))))
            .unwrap_or((Work::ZERO, None))
    }

    fn knows(&self, hash: &ShareHash) -> bool {
        self.chain.lock().is_ok_and(|c| c.contains(hash))
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

    async fn on_event(&mut self, ev: NetEvent) {
        match ev {
            NetEvent::Connected(peer) => self.ask(peer, Request::Tip, Tag::Tip(peer)),
            NetEvent::Disconnected(peer) => {
                self.tips.remove(&peer);
                self.next_slot.remove(&peer);
                if self
                    .job
                    .as_ref()
                    .is_some_and(|j| j.source == peer && !j.headers_done)
                {
                    self.abort("the source peer left");
                }
                self.publish_progress();
            }
            NetEvent::Share { from, id, data } => {
                let verdict = self.on_announcement(from, &data).await;
                self.p2p.report(id, from, verdict);
            }
        }
    }

    async fn on_announcement(&mut self, from: PeerId, data: &[u8]) -> Verdict {
        let share = match data.split_first() {
            Some((&WIRE_VERSION, body)) => match Share::from_bytes(body) {
                Ok(s) => s,
                Err(e) => {
                    debug!(target: "otedama::p2p", peer = %from, error = %e, "undecodable announcement");
                    return Verdict::Reject {
                        penalty: INVALID_SHARE_PENALTY,
                    };
                }
            },
            _ => {
                return Verdict::Reject {
                    penalty: INVALID_SHARE_PENALTY,
                };
            }
        };
        let len = data.len() - 1;
        let (reply, rx) = oneshot::channel();
        if self
            .input
            .send(ChainInput::Announced {
                share: Box::new(share),
                len,
                reply,
            })
            .await
            .is_err()
        {
            return Verdict::Ignore;
        }
        match rx.await {
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
        }
    }

    async fn on_response(&mut self, tag: Tag, result: Result<Response, RequestError>) {
        match (tag, result) {
            (Tag::Tip(peer), Ok(Response::Tip(tip))) => {
                if let Some(tip) = tip {
                    self.tips.insert(peer, tip);
                    self.maybe_start(peer, tip);
                }
                self.publish_progress();
            }
            (Tag::Headers(peer, job), Ok(Response::Headers(headers))) => {
                if self.job.as_ref().is_some_and(|j| j.id == job) {
                    self.on_headers(peer, headers).await;
                }
            }
            (Tag::Uncle(peer), Ok(Response::Shares(shares))) => {
                self.on_uncle(peer, shares).await;
            }
            (Tag::Shares(peer, job, batch), Ok(Response::Shares(shares))) => {
                if self.job.as_ref().is_some_and(|j| j.id == job) {
                    self.on_shares(peer, batch, shares).await;
                }
            }
            (tag, Ok(Response::Refused(reason))) => {
                debug!(target: "otedama::p2p", ?tag, %reason, "request refused");
                self.on_failure(tag, false);
            }
            (tag, Ok(_)) => {
                let peer = tag_peer(&tag);
                self.p2p.penalize(peer, 20, "response of the wrong kind");
                self.on_failure(tag, true);
            }
            (tag, Err(e)) => {
                debug!(target: "otedama::p2p", error = %e, "sync request failed");
                let peer = tag_peer(&tag);
                self.p2p.penalize(peer, 5, "sync request failed");
                self.on_failure(tag, true);
            }
        }
        self.dispatch();
        self.deliver().await;
        self.finish_if_done();
    }

    fn on_failure(&mut self, tag: Tag, exclude: bool) {
        let Some(job) = self.job.as_mut() else {
            return;
        };
        match tag {
            Tag::Tip(_) | Tag::Uncle(_) => {}
            Tag::Headers(_, id) if id == job.id => self.abort("headers request failed"),
            Tag::Shares(peer, id, batch) if id == job.id => {
                if exclude {
                    job.excluded.insert(peer);
                }
                if let Some((_, hashes)) = job.inflight.remove(&batch) {
                    job.retry.push_back((batch, hashes));
                }
            }
            _ => {}
        }
    }

    fn maybe_start(&mut self, peer: PeerId, tip: TipInfo) {
        if self.job.is_some() {
            return;
        }
        let (work, _) = self.our_work();
        let hash = ShareHash::from_bytes(tip.hash);
        if tip.chain_work <= work.to_u128() || self.knows(&hash) {
            return;
        }
        self.jobs += 1;
        let now = Instant::now();
        let job = Job {
            id: self.jobs,
            source: peer,
            target: tip,
            headers_done: false,
            seen: BTreeSet::new(),
            queue: VecDeque::new(),
            next_batch: 0,
            retry: VecDeque::new(),
            inflight: BTreeMap::new(),
            arrived: BTreeMap::new(),
            next_deliver: 0,
            base: false,
            excluded: BTreeSet::new(),
            total: 0,
            done: 0,
            started: now,
            logged: now,
        };
        info!(target: "otedama::p2p", %peer, height = tip.height, "syncing from peer");
        let id = job.id;
        self.job = Some(job);
        let locator = self.locator();
        self.ask(
            peer,
            Request::Headers {
                locator,
                max: MAX_HEADERS,
            },
            Tag::Headers(peer, id),
        );
        self.publish_progress();
    }

    /// Main-chain hashes, newest first: the tip, then 1, 2, 4, ... below, and the lowest held.
    fn locator(&self) -> Vec<[u8; 32]> {
        let Ok(chain) = self.chain.lock() else {
            return Vec::new();
        };
        let Some(tip) = chain.tip() else {
            return Vec::new();
        };
        let lowest = super::swarm::lowest_main(&chain, tip.height);
        let mut out = Vec::new();
        let mut h = tip.height;
        let mut step = 1u64;
        while out.len() < MAX_LOCATOR - 1 {
            if let Some(hash) = chain.main_at(h) {
                out.push(*hash.as_bytes());
            }
            if h <= lowest {
                break;
            }
            h = h.saturating_sub(step).max(lowest);
            if out.len() > 8 {
                step *= 2;
            }
        }
        if let Some(hash) = chain.main_at(lowest)
            && out.last() != Some(hash.as_bytes())
        {
            out.push(*hash.as_bytes());
        }
        out
    }

    async fn on_headers(&mut self, peer: PeerId, headers: Vec<Vec<u8>>) {
        let spec = self.spec;
        let count = headers.len();
        // Proof of work of up to 2 000 headers (Scrypt: ~0.2 ms each) off the runtime.
        let checked = tokio::task::spawn_blocking(move || check_headers(spec, &headers))
            .await
            .unwrap_or_else(|_| Err("header check panicked".into()));
        let headers = match checked {
            Ok(h) => h,
            Err(reason) => {
                warn!(target: "otedama::p2p", %peer, %reason, "bad headers");
                self.p2p
                    .penalize(peer, INVALID_SHARE_PENALTY, "bad headers");
                self.abort("bad headers");
                return;
            }
        };
        let Ok(chain) = self.chain.lock() else {
            return;
        };
        let Some(job) = self.job.as_mut() else {
            return;
        };
        // Each header builds on a share we hold, one sent before in this sync, or (the
        // very first one only) nothing we hold: then it is the base of our chain.
        for (i, (hash, prev)) in headers.iter().enumerate() {
            let first = job.seen.is_empty() && i == 0;
            let links = prev.is_zero() || chain.contains(prev) || job.seen.contains(prev);
            if !links && !first {
                drop(chain);
                self.p2p
                    .penalize(peer, INVALID_SHARE_PENALTY, "headers do not link");
                self.abort("headers do not link");
                return;
            }
            if !links && first {
                job.base = true;
            }
            job.seen.insert(*hash);
            if !chain.contains(hash) {
                job.queue.push_back(*hash);
                job.total += 1;
            }
        }
        drop(chain);
        let last = headers.last().map(|(h, _)| *h);
        let reached = last.is_none_or(|h| h == ShareHash::from_bytes(job.target.hash));
        if reached || count == 0 {
            job.headers_done = true;
        } else if let Some(last) = last {
            let id = job.id;
            self.ask(
                peer,
                Request::Headers {
                    locator: vec![*last.as_bytes()],
                    max: MAX_HEADERS,
                },
                Tag::Headers(peer, id),
            );
        }
        self.publish_progress();
    }

    /// Sends share requests while there is room, to peers whose tip has the work.
    fn dispatch(&mut self) {
        let Some(job) = self.job.as_mut() else {
            return;
        };
        let mut candidates: Vec<PeerId> = self
            .tips
            .iter()
            .filter(|(p, t)| {
                !job.excluded.contains(p)
                    && (**p == job.source || t.chain_work >= job.target.chain_work)
            })
            .map(|(p, _)| *p)
            .collect();
        if candidates.is_empty() && !job.excluded.contains(&job.source) {
            candidates.push(job.source);
        }
        let mut asks = Vec::new();
        while job.inflight.len() < MAX_INFLIGHT {
            let load = |p: &PeerId| job.inflight.values().filter(|(q, _)| q == p).count();
            let Some(peer) = candidates
                .iter()
                .filter(|p| load(p) < MAX_INFLIGHT_PER_PEER)
                .min_by_key(|p| load(p))
                .copied()
            else {
                break;
            };
            let (batch, hashes) = if let Some(r) = job.retry.pop_front() {
                r
            } else if !job.queue.is_empty() {
                let n = job.queue.len().min(MAX_SHARES_PER_REQUEST);
                let hashes: Vec<ShareHash> = job.queue.drain(..n).collect();
                job.next_batch += 1;
                (job.next_batch - 1, hashes)
            } else {
                break;
            };
            job.inflight.insert(batch, (peer, hashes.clone()));
            asks.push((peer, batch, hashes));
        }
        let id = job.id;
        if candidates.is_empty() && job.inflight.is_empty() && !job.retry.is_empty() {
            self.abort("no peer can serve the missing shares");
            return;
        }
        for (peer, batch, hashes) in asks {
            let request = Request::Shares {
                hashes: hashes.iter().map(|h| *h.as_bytes()).collect(),
            };
            self.ask(peer, request, Tag::Shares(peer, id, batch));
        }
    }

    async fn on_shares(&mut self, peer: PeerId, batch: u64, shares: Vec<SyncedShare>) {
        let Some(job) = self.job.as_mut() else {
            return;
        };
        let Some((_, hashes)) = job.inflight.remove(&batch) else {
            return;
        };
        // Every share asked for, in order; hashes are checked when decoded.
        if shares.len() != hashes.len() {
            debug!(target: "otedama::p2p", %peer, got = shares.len(), asked = hashes.len(), "incomplete share batch");
            job.excluded.insert(peer);
            job.retry.push_back((batch, hashes));
            return;
        }
        job.arrived.insert(batch, (peer, shares));
    }

    /// Hands arrived batches to the coordinator in order.
    async fn deliver(&mut self) {
        loop {
            let Some(job) = self.job.as_mut() else {
                return;
            };
            let Some((peer, shares)) = job.arrived.remove(&job.next_deliver) else {
                return;
            };
            let mut batch = Vec::with_capacity(shares.len());
            for (i, s) in shares.into_iter().enumerate() {
                let share = match Share::from_bytes(&s.share) {
                    Ok(share) => share,
                    Err(e) => {
                        warn!(target: "otedama::p2p", %peer, error = %e, "undecodable share in sync");
                        self.p2p
                            .penalize(peer, INVALID_SHARE_PENALTY, "undecodable share");
                        self.abort("undecodable share");
                        return;
                    }
                };
                let claim = (job.base && job.next_deliver == 0 && i == 0).then_some(BaseClaim {
                    chain_work: Work::from_u128(s.chain_work),
                    anchor: Anchor {
                        time: s.anchor_time,
                    },
                });
                batch.push((share, s.share.len(), claim));
            }
            let n = batch.len() as u64;
            let (reply, rx) = oneshot::channel();
            if self
                .input
                .send(ChainInput::Synced {
                    shares: batch,
                    reply,
                })
                .await
                .is_err()
            {
                return;
            }
            let outcome = rx.await;
            let Some(job) = self.job.as_mut() else {
                return;
            };
            match outcome {
                Ok(Ok(())) => {
                    job.next_deliver += 1;
                    job.done += n;
                    if job.logged.elapsed() >= PROGRESS_LOG {
                        job.logged = Instant::now();
                        info!(target: "otedama::p2p", done = job.done, total = job.total,
                              percent = job.done * 100 / job.total.max(1), "sync progress");
                    }
                    self.publish_progress();
                }
                Ok(Err((hash, ShareError::MissingUncle(uncle)))) => {
                    info!(target: "otedama::p2p", %peer, share = %hash, %uncle, "fetching an uncle the sync needs");
                    self.job = None;
                    self.fetch_uncle(peer, uncle);
                    return;
                }
                Ok(Err((hash, e))) => {
                    warn!(target: "otedama::p2p", %peer, share = %hash, error = %e, "invalid share in sync");
                    self.p2p
                        .penalize(peer, penalty_for(&e), "invalid share in sync");
                    self.abort("invalid share");
                    return;
                }
                Err(_) => return,
            }
        }
    }

    fn finish_if_done(&mut self) {
        let Some(job) = self.job.as_ref() else {
            return;
        };
        if !(job.headers_done
            && job.queue.is_empty()
            && job.retry.is_empty()
            && job.inflight.is_empty()
            && job.arrived.is_empty())
        {
            return;
        }
        info!(target: "otedama::p2p", shares = job.done, secs = job.started.elapsed().as_secs_f64(),
              "sync finished");
        let source = job.source;
        self.job = None;
        self.uncle_fetches = 0;
        self.publish_progress();
        // More may have arrived meanwhile; a new tip starts another round.
        self.ask(source, Request::Tip, Tag::Tip(source));
    }

    /// Asks `peer` for one missing uncle (bounded per sync attempt).
    fn fetch_uncle(&mut self, peer: PeerId, uncle: ShareHash) {
        self.uncle_fetches += 1;
        if self.uncle_fetches > MAX_UNCLE_FETCHES {
            self.p2p
                .penalize(peer, INVALID_SHARE_PENALTY, "uncles it cannot serve");
            self.uncle_fetches = 0;
            self.publish_progress();
            return;
        }
        self.ask(
            peer,
            Request::Shares {
                hashes: vec![*uncle.as_bytes()],
            },
            Tag::Uncle(peer),
        );
        self.publish_progress();
    }

    /// Stores a fetched uncle, then asks the peer's tip, which starts the sync again.
    async fn on_uncle(&mut self, peer: PeerId, shares: Vec<SyncedShare>) {
        let mut batch = Vec::with_capacity(shares.len());
        for s in shares.into_iter().take(1) {
            match Share::from_bytes(&s.share) {
                Ok(share) => batch.push((share, s.share.len(), None)),
                Err(e) => {
                    warn!(target: "otedama::p2p", %peer, error = %e, "undecodable uncle");
                    self.p2p
                        .penalize(peer, INVALID_SHARE_PENALTY, "undecodable share");
                    return;
                }
            }
        }
        if batch.is_empty() {
            debug!(target: "otedama::p2p", %peer, "peer does not have the uncle");
            return;
        }
        let (reply, rx) = oneshot::channel();
        if self
            .input
            .send(ChainInput::Synced {
                shares: batch,
                reply,
            })
            .await
            .is_err()
        {
            return;
        }
        match rx.await {
            Ok(Ok(())) => self.ask(peer, Request::Tip, Tag::Tip(peer)),
            Ok(Err((_, ShareError::MissingUncle(uncle)))) => self.fetch_uncle(peer, uncle),
            Ok(Err((hash, e))) => {
                warn!(target: "otedama::p2p", %peer, share = %hash, error = %e, "invalid uncle");
                self.p2p
                    .penalize(peer, penalty_for(&e), "invalid share in sync");
            }
            Err(_) => {}
        }
    }

    fn abort(&mut self, reason: &str) {
        if let Some(job) = self.job.take() {
            warn!(target: "otedama::p2p", peer = %job.source, reason, "sync aborted");
            // Try again from the best other peer.
            let next = self
                .tips
                .iter()
                .filter(|(p, _)| **p != job.source)
                .max_by_key(|(_, t)| t.chain_work)
                .map(|(p, t)| (*p, *t));
            self.tips.remove(&job.source);
            if let Some((peer, tip)) = next {
                self.maybe_start(peer, tip);
            }
        }
        self.publish_progress();
    }
}

fn tag_peer(tag: &Tag) -> PeerId {
    match tag {
        Tag::Tip(p) | Tag::Headers(p, _) | Tag::Shares(p, _, _) | Tag::Uncle(p) => *p,
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

/// Decodes headers and checks each one's proof of work against its own target (no
/// easier than the spec allows). Returns `(hash, prev)` pairs.
fn check_headers(
    spec: &ChainSpec,
    headers: &[Vec<u8>],
) -> Result<Vec<(ShareHash, ShareHash)>, String> {
    let easiest = Target::from_compact(spec.max_share_target).map_err(|e| e.to_string())?;
    let mut out: Vec<(ShareHash, ShareHash)> = Vec::with_capacity(headers.len());
    for (i, bytes) in headers.iter().enumerate() {
        if bytes.len() > MAX_HEADER_BYTES {
            return Err(format!("header {i} of {} bytes", bytes.len()));
        }
        let mut r = Reader::new(bytes);
        let header = ShareHeader::decode(&mut r).map_err(|e| format!("header {i}: {e}"))?;
        r.finish().map_err(|e| format!("header {i}: {e}"))?;
        let target = Target::from_compact(header.info.share_target).map_err(|e| e.to_string())?;
        if target > easiest {
            return Err(format!("header {i}: target easier than the spec allows"));
        }
        if !target.is_met_by(&spec.algorithm.hash(&header.block.to_bytes())) {
            return Err(format!("header {i}: proof of work above its target"));
        }
        out.push((header.hash(), header.info.prev_share));
    }
    Ok(out)
}
