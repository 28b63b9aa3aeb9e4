//! The task that owns the proof schedule: on every new parent tip (and on a slow tick,
//! for retries), it reads the found blocks that are due back from the daemon, within a
//! budget of calls and time, and writes each verdict to the block records, which
//! everyone else reads as snapshots.

use super::{
    ChainProof, ChainState, DaemonView, MAX_KEPT_OUTPUTS, ProofError, coinbase_matches,
    coinbase_tx, coinbase_txid, decide, paying_outputs, refused_arguments, view_of,
};
use crate::parent::{ParentClient, ParentTip};
use crate::tracker::{BlockRecord, Blocks};
use crate::unix_now;
use otedama_sharechain::BlockHash;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tracing::{debug, info, warn};

/// Daemon calls per pass at most (a block costs one, one more the first time for its
/// coinbase), so a tip never turns into a burst of a hundred calls. Calls are made one
/// at a time: beside the longpoll and at most two submissions, the proofs hold at most
/// one of the daemon's four RPC threads.
pub(crate) const MAX_CALLS_PER_PASS: usize = 24;
/// A pass stops starting calls after this long (each call has the client's timeout).
const PASS_TIME: Duration = Duration::from_secs(30);
/// Wakes this often without a new tip, for blocks never checked or whose check failed.
const TICK: Duration = Duration::from_secs(10);
/// A failed check is retried after this.
pub(crate) const RETRY_AFTER: Duration = Duration::from_secs(10);
/// A block not yet mature is checked again after this even without a new tip.
pub(crate) const IDLE_RECHECK: Duration = Duration::from_secs(600);
/// A mature block is checked again after this: a hundred blocks deep, it will not move.
pub(crate) const MATURE_RECHECK: Duration = Duration::from_secs(3600);

/// When a block was last checked in this run, at which tip, and whether it worked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Seen {
    /// When.
    pub at: Instant,
    /// The parent tip then.
    pub tip: Option<BlockHash>,
    /// Whether the daemon answered.
    pub ok: bool,
}

/// Returns whether a block is due for a check at `now` with the parent at `tip`: never
/// checked in this run, a failed check older than [`RETRY_AFTER`], a mature block not
/// checked for [`MATURE_RECHECK`], else a new tip or [`IDLE_RECHECK`] without one.
pub(crate) fn due(seen: Option<Seen>, mature: bool, tip: Option<BlockHash>, now: Instant) -> bool {
    let Some(seen) = seen else {
        return true;
    };
    let age = now.saturating_duration_since(seen.at);
    if !seen.ok {
        age >= RETRY_AFTER
    } else if mature {
        age >= MATURE_RECHECK
    } else {
        seen.tip != tip || age >= IDLE_RECHECK
    }
}

/// Follows parent tips and proves found blocks until shutdown.
pub(crate) async fn run(
    parent: ParentClient,
    blocks: Arc<Blocks>,
    mut tips: watch::Receiver<Option<ParentTip>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut prover = Prover::new(parent, blocks);
    loop {
        let tip = *tips.borrow_and_update();
        tokio::select! {
            biased;
            _ = shutdown.changed() => return,
            () = prover.pass(tip) => {}
        }
        tokio::select! {
            biased;
            _ = shutdown.changed() => return,
            r = tips.changed() => if r.is_err() { return },
            () = tokio::time::sleep(TICK) => {}
        }
    }
}

/// The schedule and the IO of the proofs.
pub(super) struct Prover {
    parent: ParentClient,
    blocks: Arc<Blocks>,
    /// Keyed by block hash; only blocks still kept in the records.
    seen: HashMap<String, Seen>,
}

impl Prover {
    pub(super) fn new(parent: ParentClient, blocks: Arc<Blocks>) -> Self {
        Self {
            parent,
            blocks,
            seen: HashMap::new(),
        }
    }

    /// Returns when each block was last checked in this run.
    #[cfg(test)]
    pub(super) fn seen(&self, hash: &str) -> Option<Seen> {
        self.seen.get(hash).copied()
    }

    /// Checks the blocks due at `tip`, within [`MAX_CALLS_PER_PASS`] and [`PASS_TIME`].
    pub(super) async fn pass(&mut self, tip: Option<ParentTip>) {
        let started = Instant::now();
        let records = self.blocks.newest_first();
        self.seen
            .retain(|hash, _| records.iter().any(|r| &r.hash == hash));
        let tip_hash = tip.map(|t| t.hash);
        let mut due: Vec<&BlockRecord> = records
            .iter()
            .filter(|r| {
                let mature = r.chain.as_ref().is_some_and(ChainProof::mature);
                due(self.seen.get(&r.hash).copied(), mature, tip_hash, started)
            })
            .collect();
        // Least recently checked first (never checked before all), so a budget that
        // runs out leaves the freshest checks for later.
        due.sort_by_key(|r| self.seen.get(&r.hash).map(|s| s.at));
        let mut calls = 0;
        for record in due {
            if calls >= MAX_CALLS_PER_PASS || started.elapsed() > PASS_TIME {
                debug!(target: "otedama::node", calls, "block proof budget spent; the rest wait for the next tip");
                break;
            }
            let result = self.check(record, tip, &mut calls).await;
            let ok = result.is_ok();
            self.seen.insert(
                record.hash.clone(),
                Seen {
                    at: Instant::now(),
                    tip: tip_hash,
                    ok,
                },
            );
            match result {
                Ok(proof) => self.store(record, proof).await,
                Err(e) => {
                    let unreachable = e.unreachable();
                    debug!(target: "otedama::node", hash = %record.hash, error = %e, "cannot check a found block on the parent chain");
                    if unreachable {
                        break;
                    }
                }
            }
        }
    }

    /// Asks the daemon about one block: `getblock` (with its coinbase by
    /// `getrawtransaction`) until the coinbase was read once, `getblockheader` after.
    async fn check(
        &self,
        record: &BlockRecord,
        tip: Option<ParentTip>,
        calls: &mut usize,
    ) -> Result<ChainProof, ProofError> {
        if record.hash.len() != 64 || !record.hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ProofError::Malformed {
                method: "block log",
                reason: format!("{:?} is not a block hash", record.hash),
            });
        }
        let old = record.chain.as_ref();
        let (mut matches, mut onchain) = match old {
            Some(o) => (o.coinbase_matches, o.coinbase_onchain.clone()),
            None => (None, Vec::new()),
        };
        let view = if matches.is_none() {
            *calls += 1;
            let answer = self.parent.call("getblock", json!([record.hash, 1])).await;
            let block = answer.as_ref().ok().cloned();
            let view = view_of("getblock", answer)?;
            if let (DaemonView::Known { .. }, Some(block)) = (view, block) {
                *calls += 1;
                match self.coinbase(&block, &record.hash).await {
                    Ok(outputs) => {
                        let same = coinbase_matches(&record.payouts, &outputs);
                        if !same {
                            warn!(target: "otedama::node", hash = %record.hash, height = record.height,
                                  recorded = ?record.payouts, onchain = ?outputs,
                                  "the coinbase on the parent chain differs from the payouts recorded for this block");
                            onchain = outputs.into_iter().take(MAX_KEPT_OUTPUTS).collect();
                        } else {
                            onchain.clear();
                        }
                        matches = Some(same);
                    }
                    Err(e) => {
                        debug!(target: "otedama::node", hash = %record.hash, error = %e, "cannot read a found block's coinbase; trying again later");
                    }
                }
            }
            view
        } else {
            *calls += 1;
            let answer = self
                .parent
                .call("getblockheader", json!([record.hash, true]))
                .await;
            view_of("getblockheader", answer)?
        };
        let verdict = decide(view, record.height, tip.map(|t| t.height));
        Ok(ChainProof {
            state: verdict.state,
            confirmations: verdict.confirmations,
            checked_at: unix_now(),
            coinbase_matches: matches,
            coinbase_onchain: onchain,
        })
    }

    async fn coinbase(
        &self,
        block: &serde_json::Value,
        hash: &str,
    ) -> Result<Vec<(String, u64)>, ProofError> {
        let txid = coinbase_txid(block)?;
        // With the block hash the daemon finds the transaction without a txindex. A
        // daemon without that argument (Ravencoin) decodes it within the whole block.
        match self
            .parent
            .call("getrawtransaction", json!([txid, true, hash]))
            .await
        {
            Ok(tx) => paying_outputs(&tx),
            Err(e) if refused_arguments(&e) => {
                let block = self.parent.call("getblock", json!([hash, 2])).await?;
                paying_outputs(coinbase_tx(&block)?)
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn store(&self, record: &BlockRecord, proof: ChainProof) {
        let old = record.chain.as_ref();
        if old.map(|o| o.state) != Some(proof.state) {
            let (hash, height, confirmations) = (&record.hash, record.height, proof.confirmations);
            match proof.state {
                ChainState::Orphaned => {
                    warn!(target: "otedama::node", %hash, height, "found block orphaned: it is not on the parent's best chain");
                }
                ChainState::Confirmed => {
                    info!(target: "otedama::node", %hash, height, confirmations, "found block confirmed on the parent chain");
                }
                ChainState::Pending => {
                    info!(target: "otedama::node", %hash, height, "found block pending on the parent chain");
                }
            }
        }
        let blocks = Arc::clone(&self.blocks);
        let hash = record.hash.clone();
        // A changed verdict is appended to the block log, which fsyncs.
        let _ = tokio::task::spawn_blocking(move || blocks.set_chain(&hash, proof)).await;
    }
}
