//! One sync from a peer: the headers received, the share batches queued, in flight and
//! arrived, and the order they are delivered in. Pure bookkeeping; the syncer does the
//! asking.

use super::super::protocol::{MAX_SHARES_PER_REQUEST, SyncedShare, TipInfo};
use libp2p::PeerId;
use otedama_sharechain::ShareHash;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Instant;

/// Share batches in flight at most, in all and per peer.
const MAX_INFLIGHT: usize = 8;
const MAX_INFLIGHT_PER_PEER: usize = 4;

/// A sync in progress.
#[derive(Debug)]
pub(super) struct Job {
    pub id: u64,
    pub source: PeerId,
    pub target: TipInfo,
    pub headers_done: bool,
    /// Hashes of every header received in this sync.
    seen: BTreeSet<ShareHash>,
    queue: VecDeque<ShareHash>,
    next_batch: u64,
    retry: VecDeque<(u64, Vec<ShareHash>)>,
    inflight: BTreeMap<u64, (PeerId, Vec<ShareHash>)>,
    arrived: BTreeMap<u64, (PeerId, Vec<SyncedShare>)>,
    /// The next batch to hand to the coordinator.
    pub next_deliver: u64,
    /// A batch is with the coordinator now.
    pub delivering: bool,
    /// The first share fetched has no parent here: it goes in as the base.
    pub base: bool,
    pub excluded: BTreeSet<PeerId>,
    pub total: u64,
    pub done: u64,
    pub started: Instant,
    pub logged: Instant,
}

/// Headers that do not link to what we hold or were sent before.
#[derive(Debug)]
pub(super) struct Unlinked;

/// What [`Job::plan`] decided.
pub(super) enum Plan {
    /// Send these batches: `(peer, batch, hashes)`.
    Ask(Vec<(PeerId, u64, Vec<ShareHash>)>),
    /// Batches wait for a retry but no peer can serve them.
    Stuck,
}

impl Job {
    pub(super) fn new(id: u64, source: PeerId, target: TipInfo) -> Self {
        let now = Instant::now();
        Self {
            id,
            source,
            target,
            headers_done: false,
            seen: BTreeSet::new(),
            queue: VecDeque::new(),
            next_batch: 0,
            retry: VecDeque::new(),
            inflight: BTreeMap::new(),
            arrived: BTreeMap::new(),
            next_deliver: 0,
            delivering: false,
            base: false,
            excluded: BTreeSet::new(),
            total: 0,
            done: 0,
            started: now,
            logged: now,
        }
    }

    /// Takes checked `(hash, prev)` headers and, per header, whether we hold the share
    /// and its parent. Each header must build on a share we hold, one sent before in
    /// this sync, or (the very first one only) nothing we hold: then it is the base of
    /// our chain. Shares we lack are queued.
    pub(super) fn link_headers(
        &mut self,
        headers: &[(ShareHash, ShareHash)],
        held: &[(bool, bool)],
    ) -> Result<(), Unlinked> {
        for (i, ((hash, prev), (have, have_prev))) in headers.iter().zip(held).enumerate() {
            let first = self.seen.is_empty() && i == 0;
            let links = prev.is_zero() || *have_prev || self.seen.contains(prev);
            if !links && !first {
                return Err(Unlinked);
            }
            if !links {
                self.base = true;
            }
            self.seen.insert(*hash);
            if !have {
                self.queue.push_back(*hash);
                self.total += 1;
            }
        }
        Ok(())
    }

    /// Takes batches for free slots, spread over `candidates` (peers whose tip has the
    /// work), retries first.
    pub(super) fn plan(&mut self, mut candidates: Vec<PeerId>) -> Plan {
        candidates.retain(|p| !self.excluded.contains(p));
        if candidates.is_empty() && !self.excluded.contains(&self.source) {
            candidates.push(self.source);
        }
        let mut asks = Vec::new();
        while self.inflight.len() < MAX_INFLIGHT {
            let load = |p: &PeerId| self.inflight.values().filter(|(q, _)| q == p).count();
            let Some(peer) = candidates
                .iter()
                .filter(|p| load(p) < MAX_INFLIGHT_PER_PEER)
                .min_by_key(|p| load(p))
                .copied()
            else {
                break;
            };
            let (batch, hashes) = if let Some(r) = self.retry.pop_front() {
                r
            } else if !self.queue.is_empty() {
                let n = self.queue.len().min(MAX_SHARES_PER_REQUEST);
                let hashes: Vec<ShareHash> = self.queue.drain(..n).collect();
                self.next_batch += 1;
                (self.next_batch - 1, hashes)
            } else {
                break;
            };
            self.inflight.insert(batch, (peer, hashes.clone()));
            asks.push((peer, batch, hashes));
        }
        if candidates.is_empty() && self.inflight.is_empty() && !self.retry.is_empty() {
            return Plan::Stuck;
        }
        Plan::Ask(asks)
    }

    /// A batch request failed: it goes back for a retry, the peer is left out if asked.
    pub(super) fn failed(&mut self, peer: PeerId, batch: u64, exclude: bool) {
        if exclude {
            self.excluded.insert(peer);
        }
        if let Some((_, hashes)) = self.inflight.remove(&batch) {
            self.retry.push_back((batch, hashes));
        }
    }

    /// A batch arrived. Every share asked for must be there, in order (hashes are
    /// checked when decoded); an incomplete batch is retried elsewhere.
    pub(super) fn arrived(&mut self, peer: PeerId, batch: u64, shares: Vec<SyncedShare>) -> bool {
        let Some((_, hashes)) = self.inflight.remove(&batch) else {
            return true;
        };
        if shares.len() != hashes.len() {
            self.excluded.insert(peer);
            self.retry.push_back((batch, hashes));
            return false;
        }
        self.arrived.insert(batch, (peer, shares));
        true
    }

    /// Takes the next batch to deliver, if it arrived and none is with the coordinator.
    pub(super) fn next_delivery(&mut self) -> Option<(PeerId, Vec<SyncedShare>)> {
        if self.delivering {
            return None;
        }
        let next = self.arrived.remove(&self.next_deliver)?;
        self.delivering = true;
        Some(next)
    }

    /// Whether every share has been fetched and delivered.
    pub(super) fn is_done(&self) -> bool {
        self.headers_done
            && !self.delivering
            && self.queue.is_empty()
            && self.retry.is_empty()
            && self.inflight.is_empty()
            && self.arrived.is_empty()
    }
}
