//! Blocks first: a submission that meets the parent target is assembled and sent to
//! every configured daemon at once from its own task, before the share is validated,
//! stored or announced. The outcome comes back to the coordinator as a [`BlockReport`]
//! as soon as one daemon accepts the block (or all have answered), so a hung daemon
//! stalls neither the other daemons, nor the coordinator's loop, nor the news.

use crate::parent::{ParentClient, ParentError};
use crate::tracker::BlockOutcome;
use futures::stream::{FuturesUnordered, StreamExt};
use otedama_sharechain::{Amount, BlockHash, PayoutScript, ShareHash};
use std::sync::Arc;
use tokio::sync::{Semaphore, mpsc};
use tracing::debug;

/// Submissions waiting for one daemon's answer at most. Each ends within the parent
/// client's call timeout; past the cap (a hung daemon on a chain whose every share is a
/// block, like regtest) that daemon is skipped and the others still get the block.
const MAX_IN_FLIGHT_PER_DAEMON: usize = 64;
/// Of those, requests sent to one daemon at once at most. Bitcoin Core-family daemons
/// serve RPC with 4 threads and a work queue of 16, answering HTTP 500 beyond it; the
/// node's long-poll holds one thread already.
const MAX_CALLS_PER_DAEMON: usize = 2;
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
    /// Daemons that had not answered when the report was made (an acceptance is
    /// reported at once).
    pub unanswered: usize,
}

impl BlockReport {
    fn new(found: FoundBlock) -> Self {
        Self {
            found,
            accepted: false,
            stale: false,
            errors: Vec::new(),
            unanswered: 0,
        }
    }

    /// Adds one daemon's answer (see [`ParentClient::submit_block_to`]).
    pub(crate) fn record(&mut self, endpoint: &str, answer: Result<Option<String>, ParentError>) {
        match answer {
            Ok(None) => self.accepted = true,
            Ok(Some(reason)) if reason.ends_with("inconclusive") => self.stale = true,
            Ok(Some(reason)) => self.errors.push(format!("{endpoint}: {reason}")),
            Err(e) => self.errors.push(e.to_string()),
        }
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
    daemons: Arc<[Daemon]>,
    reports: mpsc::Sender<BlockReport>,
}

/// One daemon's bounds on submissions.
#[derive(Debug)]
struct Daemon {
    url: String,
    /// Submissions unanswered ([`MAX_IN_FLIGHT_PER_DAEMON`]).
    waiting: Arc<Semaphore>,
    /// Requests on the wire ([`MAX_CALLS_PER_DAEMON`]).
    calling: Arc<Semaphore>,
}

impl BlockSubmitter {
    pub(crate) fn new(parent: ParentClient, reports: mpsc::Sender<BlockReport>) -> Self {
        let daemons = parent
            .endpoint_urls()
            .into_iter()
            .map(|url| Daemon {
                url,
                waiting: Arc::new(Semaphore::new(MAX_IN_FLIGHT_PER_DAEMON)),
                calling: Arc::new(Semaphore::new(MAX_CALLS_PER_DAEMON)),
            })
            .collect();
        Self {
            parent,
            daemons,
            reports,
        }
    }

    /// Starts submitting `block` to every daemon at once and returns at once.
    pub(crate) fn submit(&self, found: FoundBlock, block: &[u8]) {
        let hex_block: Arc<str> = hex::encode(block).into();
        let mut report = BlockReport::new(found);
        let calls = FuturesUnordered::new();
        for (i, daemon) in self.daemons.iter().enumerate() {
            let Ok(waiting) = Arc::clone(&daemon.waiting).try_acquire_owned() else {
                report.record(
                    &daemon.url,
                    Err(ParentError::Saturated {
                        endpoint: daemon.url.clone(),
                        waiting: MAX_IN_FLIGHT_PER_DAEMON,
                    }),
                );
                continue;
            };
            let (parent, hex_block, endpoint, calling) = (
                self.parent.clone(),
                Arc::clone(&hex_block),
                daemon.url.clone(),
                Arc::clone(&daemon.calling),
            );
            calls.push(async move {
                // Never closed: the semaphore lives as long as the submitter.
                let call = calling.acquire_owned().await;
                let answer = parent.submit_block_to(i, &hex_block).await;
                drop((call, waiting));
                (endpoint, answer)
            });
        }
        let reports = self.reports.clone();
        tokio::spawn(collect(report, calls, reports));
    }
}

/// Gathers the daemons' answers; reports at the first acceptance, or once all answered.
async fn collect<F>(
    mut report: BlockReport,
    mut calls: FuturesUnordered<F>,
    reports: mpsc::Sender<BlockReport>,
) where
    F: Future<Output = (String, Result<Option<String>, ParentError>)>,
{
    while let Some((endpoint, answer)) = calls.next().await {
        report.record(&endpoint, answer);
        if report.accepted && !calls.is_empty() {
            report.unanswered = calls.len();
            let hash = report.found.hash;
            // The coordinator is gone only when the node stops.
            let _ = reports.send(report).await;
            // The rest still get the block; their answers only go to the log.
            while let Some((endpoint, answer)) = calls.next().await {
                debug!(target: "otedama::node", %hash, %endpoint, ?answer, "late submitblock answer");
            }
            return;
        }
    }
    let _ = reports.send(report).await;
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
        let mut r = BlockReport::new(found());
        r.record(
            "a",
            Err(ParentError::Unreachable {
                endpoint: "a".into(),
                reason: "timed out".into(),
            }),
        );
        r.record("b", Ok(None));
        assert_eq!(r.outcome(), BlockOutcome::Accepted);
        assert_eq!(r.errors.len(), 1);
    }

    #[test]
    fn inconclusive_is_stale_and_other_reasons_reject() {
        let mut r = BlockReport::new(found());
        r.record("a", Ok(Some("inconclusive".into())));
        assert_eq!(r.outcome(), BlockOutcome::Stale);
        let mut r = BlockReport::new(found());
        r.record("a", Ok(Some("bad-txns".into())));
        assert_eq!(r.outcome(), BlockOutcome::Rejected);
        assert_eq!(r.errors, vec!["a: bad-txns".to_string()]);
    }

    #[tokio::test]
    async fn an_acceptance_is_reported_before_a_hung_daemon_answers() {
        let (tx, mut rx) = mpsc::channel(1);
        let calls = FuturesUnordered::new();
        let hung: std::pin::Pin<Box<dyn Future<Output = _> + Send>> = Box::pin(async {
            std::future::pending::<()>().await;
            ("hung".to_string(), Ok(None))
        });
        let live: std::pin::Pin<Box<dyn Future<Output = _> + Send>> =
            Box::pin(async { ("live".to_string(), Ok(None)) });
        calls.push(hung);
        calls.push(live);
        tokio::spawn(collect(BlockReport::new(found()), calls, tx));
        let report = tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv())
            .await
            .expect("reported without waiting for the hung daemon")
            .expect("a report");
        assert!(report.accepted);
        assert_eq!(report.unanswered, 1);
    }
}
