//! The steps of a sync: start from a peer whose tip has more work, check and link its
//! headers, fetch share batches from every peer that has them, deliver them in order,
//! fetch missing uncles, and finish or abort; once on a peer's tip, fetch its side shares.

use super::headers::{HeaderError, check_headers};
use super::job::{Job, Plan};
use super::{
    Delivery, INVALID_SHARE_PENALTY, Linkable, MAX_UNCLE_FETCHES, PROGRESS_LOG, Reply, Syncer, Tag,
    penalty_for,
};
use crate::p2p::P2pHandle;
use crate::p2p::protocol::{MAX_HEADERS, Request, SyncedShare, TipInfo};
use libp2p::PeerId;
use otedama_sharechain::retarget::Anchor;
use otedama_sharechain::{BaseClaim, Share, ShareError, ShareHash, Work};
use std::time::Instant;
use tracing::{debug, info, warn};

impl Syncer {
    pub(super) fn maybe_start(&mut self, peer: PeerId, tip: TipInfo) {
        if self.job.is_some() {
            return;
        }
        let (work, ours) = self.our_tip();
        // A tip with more work than ours is one we do not hold: fork choice would have
        // made it ours.
        if tip.chain_work <= work || ours == Some(ShareHash::from_bytes(tip.hash)) {
            return;
        }
        self.jobs += 1;
        info!(target: "otedama::p2p", %peer, height = tip.height, "syncing from peer");
        self.job = Some(Job::new(self.jobs, peer, tip));
        self.ask_headers_from_locator(peer, self.jobs);
        self.publish_progress();
    }

    /// Checks a page of headers off the loop: proof of work on the blocking pool, then
    /// which of them (and their parents) the coordinator holds.
    pub(super) fn check(&mut self, peer: PeerId, job: u64, headers: Vec<Vec<u8>>) {
        let (spec, chain) = (self.spec, self.chain.clone());
        self.pending.push(Box::pin(async move {
            let checked = tokio::task::spawn_blocking(move || check_headers(spec, &headers))
                .await
                .unwrap_or(Err(HeaderError::Aborted));
            let result = match checked {
                Ok(pairs) => {
                    let mut asked: Vec<ShareHash> = pairs.iter().map(|(h, _)| *h).collect();
                    asked.extend(pairs.iter().map(|(_, p)| *p));
                    match chain.known(asked).await {
                        Ok(known) if known.len() == 2 * pairs.len() => {
                            let (have, have_prev) = known.split_at(pairs.len());
                            let held = have.iter().copied().zip(have_prev.iter().copied());
                            Ok((pairs, held.collect()))
                        }
                        _ => Err(HeaderError::Aborted),
                    }
                }
                Err(e) => Err(e),
            };
            Reply::Headers { peer, job, result }
        }));
    }

    pub(super) fn on_headers(&mut self, peer: PeerId, result: Result<Linkable, HeaderError>) {
        let (headers, held) = match result {
            Ok(r) => r,
            Err(HeaderError::Aborted) => {
                self.abort("the header check did not finish");
                return;
            }
            Err(e) => {
                warn!(target: "otedama::p2p", %peer, error = %e, "bad headers");
                self.p2p
                    .penalize(peer, INVALID_SHARE_PENALTY, "bad headers");
                self.abort("bad headers");
                return;
            }
        };
        let Some(job) = self.job.as_mut() else {
            return;
        };
        if job.link_headers(&headers, &held).is_err() {
            self.p2p
                .penalize(peer, INVALID_SHARE_PENALTY, "headers do not link");
            self.abort("headers do not link");
            return;
        }
        let last = headers.last().map(|(h, _)| *h);
        let reached = last.is_none_or(|h| h == ShareHash::from_bytes(job.target.hash));
        if reached {
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
    pub(super) fn dispatch(&mut self) {
        let Some(job) = self.job.as_mut() else {
            return;
        };
        let candidates: Vec<PeerId> = self
            .tips
            .iter()
            .filter(|(p, t)| **p == job.source || t.chain_work >= job.target.chain_work)
            .map(|(p, _)| *p)
            .collect();
        let id = job.id;
        match job.plan(candidates) {
            Plan::Stuck => self.abort("no peer can serve the missing shares"),
            Plan::Ask(asks) => {
                for (peer, batch, hashes) in asks {
                    let request = Request::Shares {
                        hashes: hashes.iter().map(|h| *h.as_bytes()).collect(),
                    };
                    self.ask(peer, request, Tag::Shares(peer, id, batch));
                }
            }
        }
    }

    /// Hands the next arrived batch to the coordinator, one at a time, in order.
    pub(super) fn deliver(&mut self) {
        let Some(job) = self.job.as_mut() else {
            return;
        };
        let Some((peer, shares)) = job.next_delivery() else {
            return;
        };
        let first_batch = job.base && job.next_deliver == 0;
        let mut batch = Vec::with_capacity(shares.len());
        for (i, s) in shares.into_iter().enumerate() {
            let Some(share) = decode(&self.p2p, peer, &s, "share in sync") else {
                self.abort("undecodable share");
                return;
            };
            let claim = (first_batch && i == 0).then_some(BaseClaim {
                chain_work: Work::from_u128(s.chain_work),
                anchor: Anchor {
                    time: s.anchor_time,
                },
            });
            batch.push((share, s.share.len(), claim));
        }
        let (id, n, chain) = (job.id, batch.len() as u64, self.chain.clone());
        self.pending.push(Box::pin(async move {
            let outcome = chain.deliver(batch).await;
            Reply::Delivered {
                peer,
                job: id,
                n,
                outcome,
            }
        }));
    }

    pub(super) fn on_delivered(&mut self, peer: PeerId, id: u64, n: u64, outcome: Delivery) {
        let Some(job) = self.job.as_mut().filter(|j| j.id == id) else {
            return;
        };
        job.delivering = false;
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
            }
            Ok(Err((hash, e))) => {
                warn!(target: "otedama::p2p", %peer, share = %hash, error = %e, "invalid share in sync");
                self.p2p
                    .penalize(peer, penalty_for(&e), "invalid share in sync");
                self.abort("invalid share");
            }
            Err(e) => self.abort(&e.to_string()),
        }
    }

    pub(super) fn finish_if_done(&mut self) {
        let Some(job) = self.job.as_ref().filter(|j| j.is_done()) else {
            return;
        };
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
    pub(super) fn fetch_uncle(&mut self, peer: PeerId, uncle: ShareHash) {
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

    /// Hands a fetched uncle to the coordinator.
    pub(super) fn on_uncle(&mut self, peer: PeerId, shares: Vec<SyncedShare>) {
        let Some(s) = shares.into_iter().next() else {
            debug!(target: "otedama::p2p", %peer, "peer does not have the uncle");
            return;
        };
        let Some(share) = decode(&self.p2p, peer, &s, "uncle") else {
            return;
        };
        let chain = self.chain.clone();
        self.pending.push(Box::pin(async move {
            let outcome = chain.deliver(vec![(share, s.share.len(), None)]).await;
            Reply::Uncle { peer, outcome }
        }));
    }

    /// After an uncle was stored: ask the peer's tip, which starts the sync again.
    pub(super) fn on_uncle_stored(&mut self, peer: PeerId, outcome: Delivery) {
        match outcome {
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

    /// Once a peer reports the tip we hold, asks it (once per tip) for the side shares it
    /// would include as uncles: orphans no share names yet, which a sync of the main
    /// chain does not bring. Without them two nodes on one tip credit different uncles.
    pub(super) fn maybe_ask_side_shares(&mut self, peer: PeerId, tip: TipInfo) {
        let hash = ShareHash::from_bytes(tip.hash);
        if self.job.is_some()
            || self.our_tip().1 != Some(hash)
            || self.side_shares_asked.get(&peer) == Some(&hash)
        {
            return;
        }
        self.side_shares_asked.insert(peer, hash);
        self.ask(
            peer,
            Request::Uncles { prev: tip.hash },
            Tag::SideShares(peer),
        );
    }

    /// Hands a peer's side shares to the coordinator, which validates each in full.
    pub(super) fn on_side_shares(&mut self, peer: PeerId, shares: Vec<SyncedShare>) {
        if shares.len() > usize::from(self.spec.max_uncles) {
            self.p2p
                .penalize(peer, INVALID_SHARE_PENALTY, "more side shares than uncles");
            return;
        }
        let mut batch = Vec::with_capacity(shares.len());
        for s in shares {
            let Some(share) = decode(&self.p2p, peer, &s, "side share") else {
                return;
            };
            batch.push((share, s.share.len(), None));
        }
        if batch.is_empty() {
            return;
        }
        let chain = self.chain.clone();
        self.pending.push(Box::pin(async move {
            let outcome = chain.deliver(batch).await;
            Reply::SideShares { peer, outcome }
        }));
    }

    /// A side share that does not link to what we hold is no fault of the peer (our tip
    /// may have moved); one that breaks a rule is.
    pub(super) fn on_side_shares_stored(&mut self, peer: PeerId, outcome: Delivery) {
        match outcome {
            Ok(Ok(())) | Err(_) => {}
            Ok(Err((hash, ShareError::MissingParent(_) | ShareError::MissingUncle(_)))) => {
                debug!(target: "otedama::p2p", %peer, share = %hash, "side share does not link");
            }
            Ok(Err((hash, e))) => {
                warn!(target: "otedama::p2p", %peer, share = %hash, error = %e, "invalid side share");
                self.p2p
                    .penalize(peer, penalty_for(&e), "invalid share in sync");
            }
        }
    }

    pub(super) fn abort(&mut self, reason: &str) {
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

/// Decodes a share a peer sent (`what` names it in the log); one that does not decode
/// costs the peer as an invalid share does.
fn decode(p2p: &P2pHandle, peer: PeerId, s: &SyncedShare, what: &str) -> Option<Share> {
    match Share::from_bytes(&s.share) {
        Ok(share) => Some(share),
        Err(e) => {
            warn!(target: "otedama::p2p", %peer, error = %e, "undecodable {what}");
            p2p.penalize(peer, INVALID_SHARE_PENALTY, "undecodable share");
            None
        }
    }
}
