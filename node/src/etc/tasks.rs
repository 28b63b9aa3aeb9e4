//! The solo node's tasks: following core-geth's work, submitting sealed blocks, and
//! reading found blocks back from the chain.

use super::{EtcHandle, EtcStatus, FINAL_DEPTH, SoloWork, TARGET, block_reward};
use crate::parent::geth::{GethClient, GethWork};
use crate::proof::{ChainProof, ChainState, DaemonView, decide};
use crate::tracker::{BlockOutcome, BlockRecord};
use crate::unix_now;
use otedama_rpc::Event;
use otedama_stratum::dag::{DagSubmission, DagTemplate, DagWork};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

/// Returns the block log's `share` field of a sealed block: the nonce's 16 hex digits,
/// then the mix digest's 64 (its seal; a solo block is no share).
pub(crate) fn seal_hex(nonce: u64, mix: &[u8; 32]) -> String {
    format!("{nonce:016x}{}", hex::encode(mix))
}

/// Reads [`seal_hex`] back.
fn parse_seal(s: &str) -> Option<(u64, [u8; 32])> {
    let nonce = u64::from_str_radix(s.get(..16)?, 16).ok()?;
    let mut mix = [0u8; 32];
    hex::decode_to_slice(s.get(16..)?, &mut mix).ok()?;
    Some((nonce, mix))
}

/// The template of `work`: only shares that seal the block reach the node (the workers'
/// counts come from the server's observer).
fn template(work: &GethWork) -> DagTemplate {
    DagTemplate {
        height: work.height,
        header_hash: work.header_hash,
        share_target: work.boundary,
        block_target: work.boundary,
        bits: 0,
    }
}

/// Polls `eth_getWork` until shutdown, publishing each new header as work (a new block
/// number cleans the older jobs), and learns the etherbase and checks the chain id.
pub(super) async fn follow(
    client: GethClient,
    handle: EtcHandle,
    status: watch::Sender<EtcStatus>,
    work: watch::Sender<Option<DagWork>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut generation = 0u64;
    let mut checked = false;
    // Each trouble is logged when it starts, not at every poll.
    let (mut down, mut no_etherbase) = (false, false);
    let mut tick = tokio::time::interval(super::POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tick.tick() => {}
        }
        if !checked {
            match client.chain_id().await {
                Ok(id) => {
                    checked = true;
                    if let Err(why) = handle.chain.check_chain_id(id) {
                        warn!(target: TARGET, "{why}; no work is served");
                        status.send_modify(|s| s.refused = Some(why));
                    }
                }
                Err(e) => {
                    unreachable_now(&handle, &e, &mut down);
                    continue;
                }
            }
        }
        if status.borrow().refused.is_some() {
            continue;
        }
        if status.borrow().etherbase.is_none() {
            match client.etherbase().await {
                Ok(etherbase) => {
                    info!(target: TARGET, %etherbase, "every block this node seals pays core-geth's etherbase");
                    status.send_modify(|s| s.etherbase = Some(etherbase));
                }
                Err(e) if !no_etherbase => {
                    no_etherbase = true;
                    warn!(target: TARGET, error = %e, "core-geth has no etherbase (start it with --miner.etherbase)");
                }
                Err(_) => {}
            }
        }
        let fresh = match client.work().await {
            Ok(w) => w,
            Err(e) => {
                unreachable_now(&handle, &e, &mut down);
                continue;
            }
        };
        down = false;
        if !handle.reachable.swap(true, Ordering::Relaxed) {
            info!(target: TARGET, height = fresh.height, "core-geth serves work");
        }
        let old = status.borrow().work;
        if old.map(|w| w.header_hash) == Some(fresh.header_hash) {
            continue;
        }
        generation += 1;
        let clean = old.is_none_or(|w| w.height != fresh.height);
        work.send_replace(Some(DagWork {
            generation,
            source: Arc::new(SoloWork(Arc::new(template(&fresh)))),
            clean,
        }));
        status.send_modify(|s| {
            s.work = Some(fresh);
            s.job_at = Some(Instant::now());
        });
    }
}

/// Marks core-geth unreachable, logging and announcing the first failure of an outage
/// (`down` tells whether it was announced).
fn unreachable_now(handle: &EtcHandle, error: &crate::parent::ParentError, down: &mut bool) {
    handle.reachable.store(false, Ordering::Relaxed);
    if !std::mem::replace(down, true) {
        warn!(target: TARGET, %error, "core-geth unavailable; retrying");
        let _ = handle
            .events
            .send(Event::ParentUnavailable(otedama_rpc::ParentUnavailable {
                time: unix_now(),
            }));
    }
}

/// Submits every share that seals the block, until the Stratum server (the only
/// sender) is gone.
pub(super) async fn submit(
    client: GethClient,
    handle: EtcHandle,
    mut shares: mpsc::Receiver<DagSubmission>,
) {
    // The header core-geth last took a seal of: another seal of it is a second solution
    // of a block already sealed, and worth nothing.
    let mut sealed = None;
    while let Some(s) = shares.recv().await {
        if !s.is_block || sealed == Some(s.template.header_hash) {
            continue;
        }
        let height = s.template.height;
        let accepted = match client
            .submit_work(s.nonce, &s.template.header_hash, &s.mix)
            .await
        {
            Ok(taken) => taken,
            Err(e) => {
                warn!(target: TARGET, height, error = %e, "eth_submitWork failed");
                false
            }
        };
        let etherbase = handle.status.borrow().etherbase.clone().unwrap_or_default();
        let record = BlockRecord {
            height: u32::try_from(height).unwrap_or(u32::MAX),
            hash: format!("0x{}", hex::encode(s.template.header_hash)),
            share: seal_hex(s.nonce, &s.mix),
            time: unix_now(),
            outcome: if accepted {
                BlockOutcome::Accepted
            } else {
                BlockOutcome::Rejected
            },
            payouts: vec![(etherbase, block_reward(height))],
            chain: None,
        };
        if accepted {
            sealed = Some(s.template.header_hash);
            info!(target: TARGET, height, worker = %s.worker, nonce = %format!("{:016x}", s.nonce), "block sealed and taken by core-geth");
        } else {
            warn!(target: TARGET, height, worker = %s.worker, "core-geth refused a sealed block (stale work, or another node's block came first)");
        }
        let _ = handle
            .events
            .send(Event::BlockFound(crate::api::etc_found_block(&record)));
        handle.blocks.push(record);
    }
}

/// Reads every recent found block back from core-geth whenever its best block moves.
pub(super) async fn prove(
    client: GethClient,
    handle: EtcHandle,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut status = handle.status.clone();
    let mut seen_tip = None;
    let mut seen_blocks = 0usize;
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            changed = status.changed() => if changed.is_err() { return },
        }
        let tip = status.borrow_and_update().tip_height();
        let blocks = handle.blocks.newest_first();
        if tip == seen_tip && blocks.len() == seen_blocks {
            continue;
        }
        (seen_tip, seen_blocks) = (tip, blocks.len());
        let Some(tip) = tip else { continue };
        for b in blocks
            .iter()
            .filter(|b| b.outcome == BlockOutcome::Accepted)
        {
            if b.chain.as_ref().is_some_and(|p| {
                p.state == ChainState::Orphaned
                    || (p.state == ChainState::Confirmed && p.confirmations >= FINAL_DEPTH)
            }) {
                continue;
            }
            match check(&client, b, tip).await {
                Ok(proof) => handle.blocks.set_chain(&b.hash, proof),
                Err(e) => {
                    warn!(target: TARGET, height = b.height, error = %e, "cannot read a found block back")
                }
            }
        }
    }
}

/// Where block `b` stands with core-geth's best block at `tip`.
async fn check(
    client: &GethClient,
    b: &BlockRecord,
    tip: u64,
) -> Result<ChainProof, crate::parent::ParentError> {
    let seal = parse_seal(&b.share);
    let on_chain = client.block_by_number(u64::from(b.height)).await?;
    let ours = on_chain
        .as_ref()
        .filter(|c| seal.is_some_and(|(nonce, mix)| c.nonce == nonce && c.mix_hash == mix));
    let view = match ours {
        Some(_) => DaemonView::Known {
            confirmations: i64::try_from(tip.saturating_sub(u64::from(b.height)) + 1)
                .unwrap_or(i64::MAX),
        },
        None => DaemonView::Unknown,
    };
    let verdict = decide(view, b.height, Some(u32::try_from(tip).unwrap_or(u32::MAX)));
    let recorded = b.payouts.first().map(|(a, _)| a.as_str());
    Ok(ChainProof {
        state: verdict.state,
        confirmations: verdict.confirmations,
        checked_at: unix_now(),
        coinbase_matches: ours.map(|c| Some(c.miner.as_str()) == recorded),
        coinbase_onchain: match ours {
            Some(c) if Some(c.miner.as_str()) != recorded => {
                vec![(c.miner.clone(), block_reward(u64::from(b.height)))]
            }
            _ => Vec::new(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_read_back() {
        let mix = [7u8; 32];
        let s = seal_hex(0x0123_4567_89ab_cdef, &mix);
        assert_eq!(s.len(), 80);
        assert_eq!(parse_seal(&s), Some((0x0123_4567_89ab_cdef, mix)));
        assert_eq!(parse_seal("12"), None);
        assert_eq!(parse_seal(&s[..79]), None);
    }
}
