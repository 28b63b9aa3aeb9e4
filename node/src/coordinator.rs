//! The coordinator: the one task that owns the share store and the current parent
//! template. It turns submissions into shares and blocks, publishes work, answers
//! queries on a bounded channel, and publishes a cheap [`ChainSnapshot`] after every
//! change for the readers that need no round trip (API status, metrics, readiness).

use crate::p2p::P2pHandle;
use crate::parent::ParentClient;
use crate::service::NodeEvent;
use crate::tracker::BlockOutcome;
use crate::unix_now;
use crate::work::NodeWork;
use otedama_sharechain::coinbase::BlockTemplate;
use otedama_sharechain::pplns::Payout;
use otedama_sharechain::{
    Amount, BaseClaim, BlockHash, CompactTarget, PayoutScript, Share, ShareChain, ShareError,
    ShareHash, ShareMeta, ShareSource, ShareTemplate, Store, Target, TipChange, ValidationContext,
    required_target, validate_base, validate_share,
};
use otedama_stratum::{Submission, Work};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tracing::{debug, info, warn};

/// Main-chain shares kept in [`ChainSnapshot::recent_work`] for the pool hashrate.
const RECENT_SHARES: usize = 256;
/// The pool hashrate averages over this many seconds.
const HASHRATE_WINDOW_SECS: u64 = 600;

/// The best share tip.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TipSummary {
    /// Its hash.
    pub hash: ShareHash,
    /// Its height.
    pub height: u64,
    /// Its header time.
    pub time: u32,
    /// Cumulative work of the chain ending at it.
    pub chain_work: u128,
}

/// What the coordinator last published; reading it takes no lock on the chain.
#[derive(Clone, Debug)]
pub struct ChainSnapshot {
    /// The best tip, if any share is known.
    pub tip: Option<TipSummary>,
    /// Shares held in memory.
    pub shares: usize,
    /// Height of the parent chain's tip (the current template's height minus one).
    pub parent_height: Option<u32>,
    /// When the last template arrived.
    pub template_at: Option<Instant>,
    /// The target the next share must meet.
    pub next_share_target: CompactTarget,
    /// `(time, work)` of the newest main-chain shares, newest first.
    pub recent_work: Arc<[(u32, u128)]>,
    /// Whether the last store write succeeded.
    pub store_ok: bool,
    /// Whether the coordinator (and so the store) is running.
    pub running: bool,
}

impl ChainSnapshot {
    /// The snapshot before anything happened.
    pub fn initial(chain: &ShareChain) -> Self {
        let mut s = Self {
            tip: None,
            shares: 0,
            parent_height: None,
            template_at: None,
            next_share_target: required_target(chain.spec(), None),
            recent_work: Arc::from(Vec::new()),
            store_ok: true,
            running: true,
        };
        s.refresh(chain);
        s
    }

    fn refresh(&mut self, chain: &ShareChain) {
        let tip = chain.tip();
        self.tip = tip.map(|t| TipSummary {
            hash: t.hash,
            height: t.height,
            time: t.time,
            chain_work: t.chain_work.to_u128(),
        });
        self.shares = chain.len();
        self.next_share_target = required_target(chain.spec(), tip);
        let mut recent = Vec::with_capacity(RECENT_SHARES);
        let mut cur = tip;
        while let Some(m) = cur {
            if recent.len() >= RECENT_SHARES {
                break;
            }
            recent.push((m.time, m.work.to_u128()));
            cur = chain.share(&m.prev);
        }
        self.recent_work = Arc::from(recent);
    }

    /// Returns the pool hashrate at `now`: the work of the main-chain shares of the last
    /// ten minutes (or since the chain's oldest known share) per second. The oldest share
    /// counted as the start is not counted itself: its work was done before its time.
    pub fn pool_hashrate(&self, now: u64) -> f64 {
        let Some(&(oldest, _)) = self.recent_work.last() else {
            return 0.0;
        };
        let start = now
            .saturating_sub(HASHRATE_WINDOW_SECS)
            .max(u64::from(oldest));
        let work: u128 = self
            .recent_work
            .iter()
            .filter(|(t, _)| u64::from(*t) > start)
            .map(|(_, w)| *w)
            .fold(0, u128::saturating_add);
        work as f64 / now.saturating_sub(start).max(1) as f64
    }
}

/// Counters the coordinator keeps since start.
#[derive(Debug, Default)]
pub struct NodeCounters {
    /// Shares accepted into the chain.
    pub shares_accepted: AtomicU64,
    /// Shares rejected by validation.
    pub shares_rejected: AtomicU64,
    /// Blocks accepted by a daemon.
    pub blocks_accepted: AtomicU64,
    /// Valid blocks that lost the race at their height.
    pub blocks_stale: AtomicU64,
    /// Blocks every daemon rejected.
    pub blocks_rejected: AtomicU64,
    /// Shares announced by peers and accepted.
    pub shares_from_peers: AtomicU64,
    /// Shares fetched by sync and accepted.
    pub shares_synced: AtomicU64,
}

/// One main-chain share, as listed by the API.
#[derive(Clone, Debug)]
pub struct ShareRow {
    /// Hash.
    pub hash: ShareHash,
    /// Height.
    pub height: u64,
    /// Header time.
    pub time: u32,
    /// Finder's payout script.
    pub payout: PayoutScript,
    /// Share target.
    pub share_target: CompactTarget,
    /// Uncles included.
    pub uncles: usize,
    /// Parent block it builds on.
    pub parent_block: BlockHash,
}

/// A page of main-chain shares, newest first.
#[derive(Clone, Debug, Default)]
pub struct SharePageData {
    /// Main-chain shares held.
    pub total: u64,
    /// The page.
    pub rows: Vec<ShareRow>,
}

/// The split of a block found now.
#[derive(Clone, Debug, Default)]
pub struct ExpectedPayouts {
    /// The tip it is computed at.
    pub tip: Option<ShareHash>,
    /// The height the block would have.
    pub block_height: Option<u32>,
    /// The template's coinbase value.
    pub reward: Amount,
    /// The coinbase outputs, by script order.
    pub payouts: Vec<Payout>,
    /// The coinbase (without witness) with a zero extranonce.
    pub coinbase: Option<Vec<u8>>,
}

/// A question for the coordinator.
pub(crate) enum Query {
    /// Page `index` (from 0) of `per_page` main-chain shares, newest first.
    Shares {
        index: u64,
        per_page: u64,
        reply: oneshot::Sender<SharePageData>,
    },
    /// The expected split at the current tip and template, for `finder` (default: the
    /// local payout address).
    Payouts {
        finder: Option<PayoutScript>,
        reply: oneshot::Sender<ExpectedPayouts>,
    },
}

/// Shares from the network for the coordinator to validate.
pub(crate) enum ChainInput {
    /// A share announced by a peer.
    Announced {
        share: Box<Share>,
        len: usize,
        reply: oneshot::Sender<AnnounceOutcome>,
    },
    /// Shares fetched by the syncer, in height order; the first may carry a base claim.
    Synced {
        shares: Vec<(Share, usize, Option<BaseClaim>)>,
        reply: oneshot::Sender<Result<(), (ShareHash, ShareError)>>,
    },
}

/// What became of an announced share.
#[derive(Debug)]
pub(crate) enum AnnounceOutcome {
    Accepted,
    Known,
    MissingParent,
    UnknownParentBlock,
    Invalid(ShareError),
}

/// Which checks apply to a share, by where it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    /// Found by this node's miners, or announced live: its parent block must be one of
    /// the recent blocks of this node's daemon.
    Live,
    /// Fetched by sync: history, whose parent blocks may be long past.
    History,
}

/// Owns the share store and the current parent template.
pub(crate) struct Coordinator {
    pub chain: Arc<Mutex<ShareChain>>,
    pub store: Store,
    pub parent: ParentClient,
    pub events: broadcast::Sender<NodeEvent>,
    pub work_tx: watch::Sender<Option<Work>>,
    pub snapshot: watch::Sender<ChainSnapshot>,
    pub counters: Arc<NodeCounters>,
    /// Who a block found now would credit when the window is empty.
    pub local_payout: Option<PayoutScript>,
    pub generation: u64,
    pub block: Option<BlockTemplate>,
    pub recent_parents: VecDeque<BlockHash>,
    /// Announces shares found here to the mesh.
    pub p2p: Option<P2pHandle>,
}

impl Coordinator {
    pub(crate) async fn run(
        mut self,
        mut templates: mpsc::Receiver<crate::parent::TemplateUpdate>,
        mut submissions: mpsc::Receiver<Submission>,
        mut queries: mpsc::Receiver<Query>,
        mut network: mpsc::Receiver<ChainInput>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                Some(update) = templates.recv() => self.on_template(update.template),
                Some(sub) = submissions.recv() => self.on_submission(sub).await,
                Some(query) = queries.recv() => self.on_query(query),
                Some(input) = network.recv() => self.on_network(input),
                else => break,
            }
        }
        if let Err(e) = self.store.flush() {
            warn!(target: "otedama::node", error = %e, "flushing the share store");
        }
        self.snapshot.send_modify(|s| s.running = false);
    }

    fn publish(&mut self, clean: bool) {
        let Some(block) = self.block.clone() else {
            return;
        };
        self.generation += 1;
        let source = Arc::new(NodeWork::new(Arc::clone(&self.chain), block));
        let _ = self.work_tx.send(Some(Work {
            generation: self.generation,
            source,
            clean,
        }));
    }

    /// Republishes the snapshot from the chain.
    fn refresh_snapshot(&self, store_ok: Option<bool>) {
        let Ok(chain) = self.chain.lock() else {
            return;
        };
        self.snapshot.send_modify(|s| {
            s.refresh(&chain);
            if let Some(ok) = store_ok {
                s.store_ok = ok;
            }
        });
    }

    fn on_template(&mut self, template: BlockTemplate) {
        let new_block = self
            .block
            .as_ref()
            .is_none_or(|b| b.prev_block != template.prev_block);
        if new_block {
            info!(target: "otedama::parent", height = template.height, prev = %template.prev_block, "new parent block");
            self.recent_parents.push_back(template.prev_block);
            if self.recent_parents.len() > 16 {
                self.recent_parents.pop_front();
            }
        }
        let parent_height = template.height.checked_sub(1);
        self.snapshot.send_modify(|s| {
            s.parent_height = parent_height;
            s.template_at = Some(Instant::now());
        });
        self.block = Some(template);
        self.publish(new_block);
    }

    fn on_query(&mut self, query: Query) {
        match query {
            Query::Shares {
                index,
                per_page,
                reply,
            } => {
                let _ = reply.send(self.share_page(index, per_page));
            }
            Query::Payouts { finder, reply } => {
                let _ = reply.send(self.expected_payouts(finder));
            }
        }
    }

    fn share_page(&self, index: u64, per_page: u64) -> SharePageData {
        let per_page = per_page.max(1);
        let Ok(chain) = self.chain.lock() else {
            return SharePageData::default();
        };
        let Some(tip) = chain.tip() else {
            return SharePageData::default();
        };
        // The main chain is contiguous from the lowest height kept after pruning.
        let (mut lo, mut hi) = (0u64, tip.height);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if chain.main_at(mid).is_some() {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        let total = tip.height - lo + 1;
        let skip = index.saturating_mul(per_page);
        let mut rows = Vec::new();
        if skip < total {
            let top = tip.height - skip;
            let bottom = top.saturating_sub(per_page - 1).max(lo);
            for h in (bottom..=top).rev() {
                let Some(meta) = chain.main_at(h).and_then(|hash| chain.share(&hash)) else {
                    continue;
                };
                rows.push(ShareRow {
                    hash: meta.hash,
                    height: meta.height,
                    time: meta.time,
                    payout: meta.payout_script.clone(),
                    share_target: meta.share_target,
                    uncles: meta.uncles.len(),
                    parent_block: meta.parent_block,
                });
            }
        }
        SharePageData { total, rows }
    }

    /// The coinbase split of a share found on the current tip with the current template:
    /// the PPLNS window ending at the tip, split by `split_reward`, exactly as
    /// `ShareTemplate` builds it for miners (the window is the chain's cached one).
    fn expected_payouts(&self, finder: Option<PayoutScript>) -> ExpectedPayouts {
        let Some(block) = &self.block else {
            return ExpectedPayouts::default();
        };
        let mut out = ExpectedPayouts {
            block_height: Some(block.height),
            reward: block.coinbase_value,
            ..ExpectedPayouts::default()
        };
        let Ok(mut chain) = self.chain.lock() else {
            return out;
        };
        let Some(tip) = chain.tip().cloned() else {
            return out;
        };
        out.tip = Some(tip.hash);
        let finder = finder
            .or_else(|| self.local_payout.clone())
            .unwrap_or_else(|| tip.payout_script.clone());
        // Exactly what a miner on this tip would be handed: the same template code.
        let extranonce = vec![0u8; usize::from(chain.spec().extranonce_size)];
        let uncles = chain.uncle_candidates(tip.hash);
        match ShareTemplate::on(&mut chain, block.clone(), finder, tip.hash, uncles) {
            Ok(t) => {
                out.coinbase = t.coinbase(&extranonce).ok().map(|c| c.stripped);
                out.payouts = t.payouts;
            }
            Err(e) => warn!(target: "otedama::node", error = %e, "cannot walk the PPLNS window"),
        }
        out
    }

    /// Validates `share`, and if valid inserts, stores and (every 64 heights) prunes.
    fn accept(
        &mut self,
        share: &Share,
        encoded: usize,
        origin: Origin,
        base: Option<BaseClaim>,
    ) -> Result<(ShareMeta, TipChange, bool), ShareError> {
        let recent = &self.recent_parents;
        let ctx = ValidationContext {
            now: unix_now(),
            parent_block_known: &|h| origin == Origin::History || recent.contains(h),
        };
        let Ok(mut chain) = self.chain.lock() else {
            return Err(ShareError::Malformed("the share chain lock is poisoned"));
        };
        let meta = match base {
            Some(claim) if !chain.contains(&share.header.info.prev_share) => {
                validate_base(&chain, share, encoded, claim)?
            }
            _ => validate_share(&mut chain, share, encoded, &ctx)?,
        };
        let change = chain.insert(meta.clone());
        let stored = self.store.accept(share, &meta, &change, &chain);
        if let Err(e) = &stored {
            warn!(target: "otedama::node", error = %e, "storing share");
        }
        if meta.height.is_multiple_of(64)
            && let Err(e) = self.store.prune(&mut chain)
        {
            warn!(target: "otedama::node", error = %e, "pruning");
        }
        Ok((meta, change, stored.is_ok()))
    }

    fn on_network(&mut self, input: ChainInput) {
        match input {
            ChainInput::Announced { share, len, reply } => {
                let share = *share;
                let hash = share.hash();
                let known = self.chain.lock().is_ok_and(|c| c.contains(&hash));
                let outcome = if known {
                    AnnounceOutcome::Known
                } else {
                    match self.accept(&share, len, Origin::Live, None) {
                        Ok((meta, change, stored)) => {
                            self.after_peer_share(&meta, change != TipChange::Unchanged, stored);
                            AnnounceOutcome::Accepted
                        }
                        Err(ShareError::MissingParent(_) | ShareError::MissingUncle(_)) => {
                            AnnounceOutcome::MissingParent
                        }
                        Err(ShareError::UnknownParentBlock(_)) => {
                            AnnounceOutcome::UnknownParentBlock
                        }
                        Err(e) => AnnounceOutcome::Invalid(e),
                    }
                };
                let _ = reply.send(outcome);
            }
            ChainInput::Synced { shares, reply } => {
                let mut moved = false;
                let mut result = Ok(());
                let mut last_stored = true;
                for (share, len, base) in shares {
                    let hash = share.hash();
                    if self.chain.lock().is_ok_and(|c| c.contains(&hash)) {
                        continue;
                    }
                    match self.accept(&share, len, Origin::History, base) {
                        Ok((meta, change, stored)) => {
                            moved |= change != TipChange::Unchanged;
                            last_stored = stored;
                            self.counters.shares_synced.fetch_add(1, Ordering::Relaxed);
                            let _ = meta;
                        }
                        Err(e) => {
                            result = Err((hash, e));
                            break;
                        }
                    }
                }
                self.refresh_snapshot(Some(last_stored));
                if moved {
                    self.publish(true);
                }
                let _ = reply.send(result);
            }
        }
    }

    /// Bookkeeping after a peer's share joined the chain.
    fn after_peer_share(&mut self, meta: &ShareMeta, moved: bool, stored: bool) {
        self.counters
            .shares_from_peers
            .fetch_add(1, Ordering::Relaxed);
        debug!(target: "otedama::node", hash = %meta.hash, height = meta.height, "peer share accepted");
        self.refresh_snapshot(Some(stored));
        let _ = self.events.send(NodeEvent::PeerShareAccepted {
            hash: meta.hash,
            height: meta.height,
        });
        if moved {
            // A new tip from the mesh: miners must switch to it at once.
            self.publish(true);
        }
    }

    async fn on_submission(&mut self, sub: Submission) {
        let share = sub
            .template
            .share(sub.header, &sub.extranonce, &sub.coinbase);
        let encoded = share.to_bytes().len();
        let result = self.accept(&share, encoded, Origin::Live, None);
        if let (Ok(_), Some(p2p)) = (&result, &self.p2p) {
            let mut payload = Vec::with_capacity(encoded + 1);
            payload.push(crate::p2p::protocol::WIRE_VERSION);
            payload.extend_from_slice(&share.to_bytes());
            p2p.publish(payload);
        }
        match result {
            Err(e) => {
                self.counters
                    .shares_rejected
                    .fetch_add(1, Ordering::Relaxed);
                debug!(target: "otedama::node", worker = %sub.worker, error = %e, "share rejected");
                let _ = self.events.send(NodeEvent::ShareRejected {
                    worker: sub.worker,
                    reason: e.to_string(),
                });
                return;
            }
            Ok((meta, change, stored)) => {
                self.counters
                    .shares_accepted
                    .fetch_add(1, Ordering::Relaxed);
                debug!(target: "otedama::node", hash = %meta.hash, height = meta.height, worker = %sub.worker, "share accepted");
                self.refresh_snapshot(Some(stored));
                let _ = self.events.send(NodeEvent::ShareAccepted {
                    hash: meta.hash,
                    height: meta.height,
                    worker: sub.worker.clone(),
                    work: meta.work,
                });
                if change != TipChange::Unchanged {
                    self.publish(false);
                }
            }
        }
        let parent_target = Target::from_compact(sub.header.bits);
        if parent_target.is_ok_and(|t| t.is_met_by(&sub.pow)) {
            let block = sub.template.block_bytes(&sub.header, &sub.coinbase);
            let results = self.parent.submit_block(&block).await;
            let mut errors = Vec::new();
            let mut accepted = false;
            let mut stale = false;
            for (endpoint, r) in results {
                match r {
                    Ok(None) => accepted = true,
                    Ok(Some(reason)) if reason.ends_with("inconclusive") => stale = true,
                    Ok(Some(reason)) => errors.push(format!("{endpoint}: {reason}")),
                    Err(e) => errors.push(e.to_string()),
                }
            }
            let hash = sub.header.block_hash();
            let height = sub.template.block.height;
            let outcome = BlockOutcome::of(accepted, stale);
            match outcome {
                BlockOutcome::Accepted => {
                    info!(target: "otedama::node", height, %hash, "block found and accepted");
                }
                BlockOutcome::Stale if errors.is_empty() => {
                    info!(target: "otedama::node", height, %hash, "block valid but another one at this height came first");
                }
                _ => warn!(target: "otedama::node", %hash, errors = ?errors, "block rejected"),
            }
            let counter = match outcome {
                BlockOutcome::Accepted => &self.counters.blocks_accepted,
                BlockOutcome::Stale => &self.counters.blocks_stale,
                BlockOutcome::Rejected => &self.counters.blocks_rejected,
            };
            counter.fetch_add(1, Ordering::Relaxed);
            let _ = self.events.send(NodeEvent::BlockFound {
                height: sub.template.block.height,
                hash,
                share: share.hash(),
                payouts: sub.template.payouts.clone(),
                accepted,
                stale: stale && !accepted,
                errors,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(recent: Vec<(u32, u128)>) -> ChainSnapshot {
        ChainSnapshot {
            tip: None,
            shares: recent.len(),
            parent_height: None,
            template_at: None,
            next_share_target: CompactTarget::from_consensus(0x207f_ffff),
            recent_work: Arc::from(recent),
            store_ok: true,
            running: true,
        }
    }

    #[test]
    fn pool_hashrate_is_work_over_time() {
        assert_eq!(snapshot(vec![]).pool_hashrate(1000), 0.0);
        // Three shares of 100 work in the last 100 s after the first (which only starts
        // the clock): 300 work over 200 s.
        let s = snapshot(vec![(1000, 100), (950, 100), (900, 100), (800, 100)]);
        assert_eq!(s.pool_hashrate(1000), 300.0 / 200.0);
        // Ten minutes later only the window counts.
        let old: Vec<(u32, u128)> = (0..100).map(|i| (10_000 - i * 10, 60)).collect();
        let s = snapshot(old);
        let rate = s.pool_hashrate(10_000);
        // 60 shares in the last 600 s (the one exactly at the start excluded): 6 per second.
        assert!((rate - 60.0 * 60.0 / 600.0).abs() < 1e-9, "{rate}");
    }
}
