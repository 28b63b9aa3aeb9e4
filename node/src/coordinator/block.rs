//! Blocks first: a submission that meets the parent target is assembled and sent to
//! every configured daemon at once from its own task, before the share is validated,
//! stored or announced. The outcome comes back to the coordinator as a [`BlockReport`],
//! so a hung daemon stalls neither the other daemons nor the coordinator's loop.

use crate::parent::{ParentClient, ParentError};
use crate::tracker::BlockOutcome;
use otedama_sharechain::{Amount, BlockHash, PayoutScript, ShareHash};
use std::sync::Arc;
use tokio::sync::{Semaphore, mpsc};
use tracing::warn;

/// Submissions in flight at most. Each ends within the parent client's call timeout,
/// and blocks are bounded by proof of work: only a regtest chain with a hung daemon
/// comes near it.
const MAX_IN_FLIGHT: usize = 64;
/// Reports queued for the coordinator at most.
pub(crate) const REPORT_QUEUE: usize = 64;

/// A block found by a local miner.
#[derive(Clone, Debug)]
pub(crate) struct FoundBlock {
    /// Parent-chain height.
    pub height: u32,
    /// Block hash.
    pub hash: BlockHash,
    /// The share it is.
    pub share: ShareHash,
    /// Coinbase payouts.
    pub payouts: Vec<(PayoutScript, Amount)>,
}

/// What the daemons said of a found block.
#[derive(Debug)]
pub(crate) struct BlockReport {
    /// The block.
    pub found: FoundBlock,
    /// Accepted onto some daemon's best chain.
    pub accepted: bool,
    /// Valid but not on the best chain: another block at this height came first
    /// (`inconclusive` or `duplicate-inconclusive`).
    pub stale: bool,
    /// Reject reasons or errors per endpoint.
    pub errors: Vec<String>,
}

impl BlockReport {
    /// Judges the daemons' answers (see [`ParentClient::submit_block`]).
    pub(crate) fn judge(
        found: FoundBlock,
        results: Vec<(String, Result<Option<String>, ParentError>)>,
    ) -> Self {
        let mut report = Self {
            found,
            accepted: false,
            stale: false,
            errors: Vec::new(),
        };
        for (endpoint, r) in results {
            match r {
                Ok(None) => report.accepted = true,
                Ok(Some(reason)) if reason.ends_with("inconclusive") => report.stale = true,
                Ok(Some(reason)) => report.errors.push(format!("{endpoint}: {reason}")),
                Err(e) => report.errors.push(e.to_string()),
            }
        }
        report
    }

    /// Returns the outcome for statistics.
    pub(crate) fn outcome(&self) -> BlockOutcome {
        BlockOutcome::of(self.accepted, self.stale)
    }
}

/// Sends found blocks to the daemons, each from its own task.
#[derive(Clone, Debug)]
pub(crate) struct BlockSubmitter {
    parent: ParentClient,
    reports: mpsc::Sender<BlockReport>,
    in_flight: Arc<Semaphore>,
}

impl BlockSubmitter {
    pub(crate) fn new(parent: ParentClient, reports: mpsc::Sender<BlockReport>) -> Self {
        Self {
            parent,
            reports,
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        }
    }

    /// Starts submitting `block` to every daemon and returns at once.
    pub(crate) fn submit(&self, found: FoundBlock, block: Vec<u8>) {
        let Ok(permit) = Arc::clone(&self.in_flight).try_acquire_owned() else {
            warn!(target: "otedama::node", hash = %found.hash, "too many block submissions in flight; block dropped");
            let report = BlockReport {
                found,
                accepted: false,
                stale: false,
                errors: vec!["too many block submissions in flight".into()],
            };
            let _ = self.reports.try_send(report);
            return;
        };
        let parent = self.parent.clone();
        let reports = self.reports.clone();
        tokio::spawn(async move {
            let results = parent.submit_block(&block).await;
            drop(permit);
            // The coordinator is gone only when the node stops.
            let _ = reports.send(BlockReport::judge(found, results)).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found() -> FoundBlock {
        FoundBlock {
            height: 7,
            hash: BlockHash::from_bytes([1; 32]),
            share: ShareHash::from_bytes([2; 32]),
            payouts: Vec::new(),
        }
    }

    #[test]
    fn one_accepting_daemon_makes_the_block_accepted() {
        let r = BlockReport::judge(
            found(),
            vec![
                (
                    "a".into(),
                    Err(ParentError::Unreachable {
                        endpoint: "a".into(),
                        reason: "timed out".into(),
                    }),
                ),
                ("b".into(), Ok(None)),
            ],
        );
        assert_eq!(r.outcome(), BlockOutcome::Accepted);
        assert_eq!(r.errors.len(), 1);
    }

    #[test]
    fn inconclusive_is_stale_and_other_reasons_reject() {
        let r = BlockReport::judge(found(), vec![("a".into(), Ok(Some("inconclusive".into())))]);
        assert_eq!(r.outcome(), BlockOutcome::Stale);
        let r = BlockReport::judge(found(), vec![("a".into(), Ok(Some("bad-txns".into())))]);
        assert_eq!(r.outcome(), BlockOutcome::Rejected);
        assert_eq!(r.errors, vec!["a: bad-txns".to_string()]);
    }
}
