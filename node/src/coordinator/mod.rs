//! The coordinator: the one task that owns the [`ShareChain`], the share [`Store`] and
//! the current parent template. It turns submissions into shares (handing blocks to
//! `block::BlockSubmitter` first), publishes an immutable work generation for
//! Stratum, validates what the mesh sends, answers queries on bounded channels, and
//! swaps in a new [`ChainSnapshot`] after every change for readers that need no round
//! trip (API status, metrics, readiness, the syncer).
//!
//! - `snapshot`: what it publishes ([`ChainSnapshot`], counters, query answers);
//! - `handle`: the messages it answers and the mesh's `handle::ChainHandle`;
//! - `block`: found blocks sent to every daemon at once, off the loop;
//! - `work`: the per-generation Stratum work source.

pub(crate) mod block;
pub(crate) mod handle;
mod snapshot;
mod work;

pub use snapshot::{
    ChainSnapshot, ExpectedPayouts, MinerData, NodeCounters, SharePageData, ShareRow, TipSummary,
    pool_hashrate,
};

use crate::p2p::P2pHandle;
use crate::service::NodeEvent;
use crate::tracker::BlockOutcome;
use crate::unix_now;
use block::{BlockReport, BlockSubmitter, FoundBlock};
use handle::{AnnounceOutcome, ChainInput, Query};
use otedama_sharechain::coinbase::BlockTemplate;
use otedama_sharechain::pplns::miner_window;
use otedama_sharechain::{
    Amount, BaseClaim, BlockHash, PayoutScript, Share, ShareChain, ShareError, ShareMeta, Store,
    Target, TipChange, ValidationContext, WorkTemplate, parent_work, validate_base, validate_share,
};
use otedama_stratum::{Submission, Work};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;
use tokio::sync::{broadcast, mpsc, watch};
use tracing::{debug, info, warn};
use work::NodeWork;

/// Parent blocks remembered as recent: a live share must build on one of them.
const RECENT_PARENTS: usize = 16;
/// The store is pruned every this many share heights.
const PRUNE_EVERY: u64 = 64;

/// Which checks apply to a share, by where it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    /// Found by this node's miners, or announced live: its parent block must be one of
    /// the recent blocks of this node's daemon.
    Live,
    /// Fetched by sync: history, whose parent blocks may be long past.
    History,
}

/// The receiving ends of every channel into the coordinator.
pub(crate) struct Inputs {
    pub templates: mpsc::Receiver<crate::parent::TemplateUpdate>,
    pub submissions: mpsc::Receiver<Submission>,
    pub queries: mpsc::Receiver<Query>,
    pub network: mpsc::Receiver<ChainInput>,
    pub blocks: mpsc::Receiver<BlockReport>,
    pub shutdown: watch::Receiver<bool>,
}

/// Owns the share chain, the store and the current parent template.
pub(crate) struct Coordinator {
    chain: ShareChain,
    store: Store,
    blocks: BlockSubmitter,
    events: broadcast::Sender<NodeEvent>,
    work_tx: watch::Sender<Option<Work>>,
    snapshot: watch::Sender<ChainSnapshot>,
    counters: Arc<NodeCounters>,
    /// Who a block found now would credit when the window is empty.
    local_payout: Option<PayoutScript>,
    generation: u64,
    block: Option<BlockTemplate>,
    /// The current work generation (tip, uncles, window), shared with Stratum.
    work: Option<Arc<WorkTemplate>>,
    recent_parents: VecDeque<BlockHash>,
    /// Announces shares found here to the mesh.
    p2p: Option<P2pHandle>,
}

/// What the coordinator is built from.
pub(crate) struct Parts {
    pub chain: ShareChain,
    pub store: Store,
    pub blocks: BlockSubmitter,
    pub events: broadcast::Sender<NodeEvent>,
    pub work_tx: watch::Sender<Option<Work>>,
    pub snapshot: watch::Sender<ChainSnapshot>,
    pub counters: Arc<NodeCounters>,
    pub local_payout: Option<PayoutScript>,
    pub p2p: Option<P2pHandle>,
}

impl Coordinator {
    pub(crate) fn new(p: Parts) -> Self {
        Self {
            chain: p.chain,
            store: p.store,
            blocks: p.blocks,
            events: p.events,
            work_tx: p.work_tx,
            snapshot: p.snapshot,
            counters: p.counters,
            local_payout: p.local_payout,
            generation: 0,
            block: None,
            work: None,
            recent_parents: VecDeque::new(),
            p2p: p.p2p,
        }
    }

    /// Runs until shutdown. Every arm works on memory it owns, or on the store it owns
    /// (one sled transaction per share); nothing here waits on the network.
    pub(crate) async fn run(mut self, mut inputs: Inputs) {
        loop {
            tokio::select! {
                biased;
                _ = inputs.shutdown.changed() => break,
                Some(report) = inputs.blocks.recv() => self.on_block_report(report),
                Some(sub) = inputs.submissions.recv() => self.on_submission(sub),
                Some(update) = inputs.templates.recv() => self.on_template(update.template),
                Some(input) = inputs.network.recv() => self.on_network(input),
                Some(query) = inputs.queries.recv() => self.on_query(query),
                else => break,
            }
        }
        if let Err(e) = self.store.flush() {
            warn!(target: "otedama::node", error = %e, "flushing the share store");
        }
        self.snapshot.send_modify(|s| s.running = false);
    }

    /// Builds the work generation for the current tip and template and hands it to
    /// Stratum.
    fn publish(&mut self, clean: bool) {
        let Some(block) = self.block.clone() else {
            return;
        };
        let generation = match WorkTemplate::new(&mut self.chain, block) {
            Ok(g) => Arc::new(g),
            Err(e) => {
                warn!(target: "otedama::node", error = %e, "cannot build work on the current tip");
                return;
            }
        };
        self.generation += 1;
        self.work = Some(Arc::clone(&generation));
        let _ = self.work_tx.send(Some(Work {
            generation: self.generation,
            source: Arc::new(NodeWork::new(generation)),
            clean,
        }));
    }

    /// Republishes the snapshot from the chain.
    fn refresh_snapshot(&self, store_ok: Option<bool>) {
        self.snapshot.send_modify(|s| {
            s.refresh(&self.chain);
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
            if self.recent_parents.len() > RECENT_PARENTS {
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
                let (total, rows) = self.chain.main_page(index, per_page);
                let rows = rows
                    .into_iter()
                    .map(|meta| ShareRow {
                        hash: meta.hash,
                        height: meta.height,
                        time: meta.time,
                        payout: meta.payout_script.clone(),
                        share_target: meta.share_target,
                        uncles: meta.uncles.len(),
                        parent_block: meta.parent_block,
                    })
                    .collect();
                let _ = reply.send(SharePageData { total, rows });
            }
            Query::Payouts { finder, reply } => {
                let _ = reply.send(self.expected_payouts(finder));
            }
            Query::Miner { script, reply } => {
                let _ = reply.send(self.miner(&script));
            }
        }
    }

    /// The coinbase split of a share found on the current work generation: exactly what
    /// a miner paying `finder` is handed (the same template code).
    fn expected_payouts(&self, finder: Option<PayoutScript>) -> ExpectedPayouts {
        let (Some(block), Some(work)) = (&self.block, &self.work) else {
            return ExpectedPayouts::default();
        };
        let mut out = ExpectedPayouts {
            block_height: Some(block.height),
            reward: block.coinbase_value,
            ..ExpectedPayouts::default()
        };
        let Some(tip) = self.chain.tip() else {
            return out;
        };
        out.tip = Some(tip.hash);
        let finder = finder
            .or_else(|| self.local_payout.clone())
            .unwrap_or_else(|| tip.payout_script.clone());
        let extranonce = vec![0u8; usize::from(self.chain.spec().extranonce_size)];
        let t = work.for_payout(finder);
        out.coinbase = t.coinbase(&extranonce).ok().map(|c| c.stripped);
        out.payouts = t.payouts;
        out
    }

    /// `script`'s part of the window ending at the tip, and its output in a block found
    /// now (as `/api/payouts` computes it, for the default finder).
    fn miner(&mut self, script: &PayoutScript) -> MinerData {
        let expected = self.expected_payouts(None);
        let mut out = MinerData {
            tip: expected.tip,
            block_height: expected.block_height,
            reward: expected.reward,
            amount: expected
                .payouts
                .iter()
                .find(|(s, _)| s == script)
                .map_or(Amount::ZERO, |p| p.1),
            ..MinerData::default()
        };
        let (Some(block), Some(tip)) = (&self.block, self.chain.tip()) else {
            return out;
        };
        let Ok(parent) = parent_work(block.bits) else {
            return out;
        };
        out.parent_work = parent.to_u128();
        match miner_window(&self.chain, tip.hash, parent, script, self.chain.spec()) {
            Ok(window) => out.window = window,
            // A chain still syncing may not hold the whole window yet.
            Err(e) => debug!(error = %e, "miner window incomplete"),
        }
        out
    }

    /// Validates `share`, and if valid inserts, stores and (every [`PRUNE_EVERY`]
    /// heights) prunes.
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
        let meta = match base {
            Some(claim) if !self.chain.contains(&share.header.info.prev_share) => {
                validate_base(&self.chain, share, encoded, claim)?
            }
            _ => validate_share(&mut self.chain, share, encoded, &ctx)?,
        };
        let change = self.chain.insert(meta.clone());
        let stored = self.store.accept(share, &meta, &change, &self.chain);
        if let Err(e) = &stored {
            warn!(target: "otedama::node", error = %e, "storing share");
        }
        if meta.height.is_multiple_of(PRUNE_EVERY)
            && let Err(e) = self.store.prune(&mut self.chain)
        {
            warn!(target: "otedama::node", error = %e, "pruning");
        }
        Ok((meta, change, stored.is_ok()))
    }

    fn on_network(&mut self, input: ChainInput) {
        match input {
            ChainInput::Announced { share, len, reply } => {
                let _ = reply.send(self.on_announced(&share, len));
            }
            ChainInput::Synced { shares, reply } => {
                let _ = reply.send(self.on_synced(shares));
            }
            ChainInput::Locator { reply } => {
                let _ = reply.send(self.chain.locator(crate::p2p::protocol::MAX_LOCATOR));
            }
            ChainInput::Known { hashes, reply } => {
                let _ = reply.send(hashes.iter().map(|h| self.chain.contains(h)).collect());
            }
            ChainInput::HeadersAfter {
                locator,
                max,
                reply,
            } => {
                let _ = reply.send(self.chain.headers_after(&locator, max));
            }
            ChainInput::SyncMetas { hashes, reply } => {
                let _ = reply.send(self.chain.sync_metas(&hashes));
            }
            ChainInput::UncleCandidates { prev, reply } => {
                let _ = reply.send(self.chain.uncle_candidates(prev));
            }
        }
    }

    fn on_announced(&mut self, share: &Share, len: usize) -> AnnounceOutcome {
        if self.chain.contains(&share.hash()) {
            return AnnounceOutcome::Known;
        }
        match self.accept(share, len, Origin::Live, None) {
            Ok((meta, change, stored)) => {
                self.after_peer_share(&meta, change != TipChange::Unchanged, stored);
                AnnounceOutcome::Accepted
            }
            Err(ShareError::MissingParent(_) | ShareError::MissingUncle(_)) => {
                AnnounceOutcome::MissingParent
            }
            Err(ShareError::UnknownParentBlock(_)) => AnnounceOutcome::UnknownParentBlock,
            Err(e) => AnnounceOutcome::Invalid(e),
        }
    }

    fn on_synced(
        &mut self,
        shares: Vec<(Share, usize, Option<BaseClaim>)>,
    ) -> Result<(), (otedama_sharechain::ShareHash, ShareError)> {
        let mut moved = false;
        let mut result = Ok(());
        let mut last_stored = true;
        for (share, len, base) in shares {
            let hash = share.hash();
            if self.chain.contains(&hash) {
                continue;
            }
            match self.accept(&share, len, Origin::History, base) {
                Ok((_, change, stored)) => {
                    moved |= change != TipChange::Unchanged;
                    last_stored = stored;
                    self.counters.shares_synced.fetch_add(1, Ordering::Relaxed);
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
        } else {
            self.publish_new_uncles();
        }
        result
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
        } else {
            self.publish_new_uncles();
        }
    }

    /// Republishes the work, without cleaning the miners' jobs, when a share that left
    /// the tip alone changed the uncles the next share takes in. Otherwise the share
    /// would be credited only after the next tip or template, and nodes on the same tip
    /// would hand out different coinbases until then.
    fn publish_new_uncles(&mut self) {
        let Some(work) = &self.work else {
            return;
        };
        let prev = work.prev();
        if prev.is_zero() || self.chain.tip().map(|t| t.hash) != Some(prev) {
            return;
        }
        if self.chain.uncle_candidates(prev) != work.uncles() {
            debug!(target: "otedama::node", tip = %prev, "new uncle candidates: work republished");
            self.publish(false);
        }
    }

    /// A solved share from Stratum. A block goes to the daemons first, whatever the
    /// sharechain then makes of the share (a block on a stale tip still pays the window
    /// its coinbase commits to).
    fn on_submission(&mut self, sub: Submission) {
        let mut share = sub
            .template
            .share(sub.header, &sub.extranonce, &sub.coinbase);
        share.header.seal = sub.seal;
        let parent_target = Target::from_compact(sub.header.bits);
        if parent_target.is_ok_and(|t| t.is_met_by(&sub.pow)) {
            let found = FoundBlock {
                height: sub.template.block.height,
                hash: share.header.block_hash(),
                share: share.hash(),
                payouts: sub.template.payouts.clone(),
            };
            self.blocks.submit(
                found,
                &sub.template.block_bytes(&share.header, &sub.coinbase),
            );
        }
        let bytes = share.to_bytes();
        match self.accept(&share, bytes.len(), Origin::Live, None) {
            Err(e) => {
                self.counters
                    .shares_rejected
                    .fetch_add(1, Ordering::Relaxed);
                debug!(target: "otedama::node", worker = %sub.worker, error = %e, "share rejected");
                let _ = self.events.send(NodeEvent::ShareRejected {
                    worker: sub.worker,
                    reason: e.to_string(),
                });
            }
            Ok((meta, change, stored)) => {
                if let Some(p2p) = &self.p2p {
                    let mut payload = Vec::with_capacity(bytes.len() + 1);
                    payload.push(crate::p2p::protocol::WIRE_VERSION);
                    payload.extend_from_slice(&bytes);
                    p2p.publish(payload);
                }
                self.counters
                    .shares_accepted
                    .fetch_add(1, Ordering::Relaxed);
                debug!(target: "otedama::node", hash = %meta.hash, height = meta.height, worker = %sub.worker, "share accepted");
                self.refresh_snapshot(Some(stored));
                let _ = self.events.send(NodeEvent::ShareAccepted {
                    hash: meta.hash,
                    height: meta.height,
                    worker: sub.worker,
                    work: meta.work,
                });
                if change == TipChange::Unchanged {
                    self.publish_new_uncles();
                } else {
                    self.publish(false);
                }
            }
        }
    }

    /// What the daemons said of a block found here.
    fn on_block_report(&mut self, report: BlockReport) {
        let outcome = report.outcome();
        let BlockReport {
            found,
            accepted,
            stale,
            errors,
            unanswered,
        } = report;
        match outcome {
            BlockOutcome::Accepted => {
                info!(target: "otedama::node", height = found.height, hash = %found.hash, unanswered, "block found and accepted");
            }
            BlockOutcome::Stale if errors.is_empty() => {
                info!(target: "otedama::node", height = found.height, hash = %found.hash, "block valid but another one at this height came first");
            }
            _ => {
                warn!(target: "otedama::node", hash = %found.hash, errors = ?errors, "block rejected");
            }
        }
        let counter = match outcome {
            BlockOutcome::Accepted => &self.counters.blocks_accepted,
            BlockOutcome::Stale => &self.counters.blocks_stale,
            BlockOutcome::Rejected => &self.counters.blocks_rejected,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let _ = self.events.send(NodeEvent::BlockFound {
            height: found.height,
            hash: found.hash,
            share: found.share,
            payouts: found.payouts,
            accepted,
            stale: stale && !accepted,
            errors,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ChainConfig;
    use crate::parent::ParentClient;
    use otedama_sharechain::test_utils::{mine_on_tip, regtest_template, script, solve};
    use otedama_sharechain::{ChainSpec, ShareTemplate};
    use std::path::Path;

    fn coordinator(dir: &Path) -> (Coordinator, watch::Receiver<Option<Work>>) {
        let spec = ChainSpec::by_name("ltc-regtest").expect("spec");
        let (store, chain) = Store::open(dir, spec).expect("store");
        let config = ChainConfig {
            spec: spec.name.to_owned(),
            daemons: Vec::new(),
        };
        let parent = ParentClient::new(&config, None).expect("client");
        let (reports, _) = mpsc::channel(1);
        let (work_tx, work_rx) = watch::channel(None);
        let (snapshot, _) = watch::channel(ChainSnapshot::initial(&chain));
        let coordinator = Coordinator::new(Parts {
            chain,
            store,
            blocks: BlockSubmitter::new(parent, reports),
            events: broadcast::channel(16).0,
            work_tx,
            snapshot,
            counters: Arc::new(NodeCounters::default()),
            local_payout: Some(script(1)),
            p2p: None,
        });
        (coordinator, work_rx)
    }

    fn announce(c: &mut Coordinator, share: &Share) -> AnnounceOutcome {
        c.on_announced(share, share.to_bytes().len())
    }

    /// A sibling of the tip that loses the tie-break is an uncle of the next share: the
    /// work is republished at once (jobs kept), so every node on that tip hands out the
    /// same coinbase, committing to it.
    #[test]
    fn a_new_uncle_candidate_republishes_the_work() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut c, work_rx) = coordinator(dir.path());
        c.on_template(regtest_template(200, 2));
        let s1 = mine_on_tip(&mut c.chain, script(1), &[1; 8]);
        assert!(matches!(announce(&mut c, &s1), AnnounceOutcome::Accepted));
        let s2 = mine_on_tip(&mut c.chain, script(2), &[2; 8]);
        assert!(matches!(announce(&mut c, &s2), AnnounceOutcome::Accepted));
        let before = work_rx.borrow().as_ref().expect("work").generation;
        assert_eq!(c.work.as_ref().expect("work").prev(), s2.hash());
        assert!(c.work.as_ref().expect("work").uncles().is_empty());
        let coinbase = c.expected_payouts(None).coinbase;

        // Equal work, larger hash: the sibling stays off the chain.
        let t = ShareTemplate::on(
            &mut c.chain,
            regtest_template(200, 2),
            script(9),
            s1.hash(),
            vec![],
        )
        .expect("template");
        let sibling = (0u8..64)
            .map(|e| solve(&t, c.chain.spec().algorithm, s2.header.block.time, &[e; 8]))
            .find(|s| s.hash() > s2.hash())
            .expect("a sibling losing the tie-break");
        assert!(matches!(
            announce(&mut c, &sibling),
            AnnounceOutcome::Accepted
        ));

        let work = c.work.as_ref().expect("work");
        assert_eq!(work.prev(), s2.hash(), "the tip stays");
        assert_eq!(work.uncles(), [sibling.hash()]);
        let published = work_rx.borrow();
        let published = published.as_ref().expect("work");
        assert_eq!(published.generation, before + 1);
        assert!(!published.clean, "miners keep their jobs");
        assert_ne!(
            c.expected_payouts(None).coinbase,
            coinbase,
            "the coinbase commits to the uncle"
        );

        // The same share again changes nothing.
        assert!(matches!(announce(&mut c, &sibling), AnnounceOutcome::Known));
        assert_eq!(
            work_rx.borrow().as_ref().expect("work").generation,
            before + 1
        );
    }
}
