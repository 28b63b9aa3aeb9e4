//! The messages the coordinator answers, and [`ChainHandle`], through which the mesh
//! (syncer, the task serving peers) asks it. Every channel is bounded; every question
//! carries a oneshot for its answer.

use super::snapshot::{ExpectedPayouts, MinerData, SharePageData};
use otedama_sharechain::{BaseClaim, PayoutScript, Share, ShareError, ShareHash, SyncMeta};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Questions queued for the coordinator from the mesh at most.
pub(crate) const CHAIN_QUEUE: usize = 256;
/// Longest the mesh waits for an answer about the chain.
const CHAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// A question from the operator surface (API, CLI).
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
    /// One miner's part of the window and of a block found now.
    Miner {
        script: PayoutScript,
        reply: oneshot::Sender<MinerData>,
    },
}

/// From the mesh: shares to validate, and questions about the chain.
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
    /// A locator of our main chain (see `ShareChain::locator`).
    Locator {
        reply: oneshot::Sender<Vec<ShareHash>>,
    },
    /// Which of these shares we hold.
    Known {
        hashes: Vec<ShareHash>,
        reply: oneshot::Sender<Vec<bool>>,
    },
    /// The shares a peer with this locator lacks (see `ShareChain::headers_after`).
    HeadersAfter {
        locator: Vec<ShareHash>,
        max: usize,
        reply: oneshot::Sender<Vec<ShareHash>>,
    },
    /// Sync metadata of the held shares among these.
    SyncMetas {
        hashes: Vec<ShareHash>,
        reply: oneshot::Sender<Vec<SyncMeta>>,
    },
    /// The shares a child of `prev` may include as uncles (see
    /// `ShareChain::uncle_candidates`).
    UncleCandidates {
        prev: ShareHash,
        reply: oneshot::Sender<Vec<ShareHash>>,
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

/// Why the coordinator gave no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ChainUnavailable {
    /// It is stopping.
    #[error("the coordinator stopped")]
    Stopped,
    /// It did not answer in time.
    #[error("the coordinator did not answer in time")]
    Timeout,
}

/// A cloneable handle on the coordinator for the mesh's tasks.
#[derive(Clone, Debug)]
pub(crate) struct ChainHandle {
    tx: mpsc::Sender<ChainInput>,
}

impl ChainHandle {
    pub(crate) fn new(tx: mpsc::Sender<ChainInput>) -> Self {
        Self { tx }
    }

    /// Sends a question and waits for the answer, both bounded by [`CHAIN_TIMEOUT`].
    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> ChainInput,
    ) -> Result<T, ChainUnavailable> {
        let (reply, rx) = oneshot::channel();
        let exchange = async {
            self.tx
                .send(make(reply))
                .await
                .map_err(|_| ChainUnavailable::Stopped)?;
            rx.await.map_err(|_| ChainUnavailable::Stopped)
        };
        tokio::time::timeout(CHAIN_TIMEOUT, exchange)
            .await
            .map_err(|_| ChainUnavailable::Timeout)?
    }

    /// Hands an announced share to the coordinator for validation.
    pub(crate) async fn announce(
        &self,
        share: Share,
        len: usize,
    ) -> Result<AnnounceOutcome, ChainUnavailable> {
        self.ask(|reply| ChainInput::Announced {
            share: Box::new(share),
            len,
            reply,
        })
        .await
    }

    /// Hands synced shares (height order) to the coordinator.
    pub(crate) async fn deliver(
        &self,
        shares: Vec<(Share, usize, Option<BaseClaim>)>,
    ) -> Result<Result<(), (ShareHash, ShareError)>, ChainUnavailable> {
        self.ask(|reply| ChainInput::Synced { shares, reply }).await
    }

    /// Returns a locator of our main chain.
    pub(crate) async fn locator(&self) -> Result<Vec<ShareHash>, ChainUnavailable> {
        self.ask(|reply| ChainInput::Locator { reply }).await
    }

    /// Returns, for each hash, whether we hold that share.
    pub(crate) async fn known(
        &self,
        hashes: Vec<ShareHash>,
    ) -> Result<Vec<bool>, ChainUnavailable> {
        self.ask(|reply| ChainInput::Known { hashes, reply }).await
    }

    /// Returns the shares a peer with `locator` lacks, at most `max`.
    pub(crate) async fn headers_after(
        &self,
        locator: Vec<ShareHash>,
        max: usize,
    ) -> Result<Vec<ShareHash>, ChainUnavailable> {
        self.ask(|reply| ChainInput::HeadersAfter {
            locator,
            max,
            reply,
        })
        .await
    }

    /// Returns the sync metadata of the held shares among `hashes`.
    pub(crate) async fn sync_metas(
        &self,
        hashes: Vec<ShareHash>,
    ) -> Result<Vec<SyncMeta>, ChainUnavailable> {
        self.ask(|reply| ChainInput::SyncMetas { hashes, reply })
            .await
    }

    /// Returns the shares a child of `prev` may include as uncles.
    pub(crate) async fn uncle_candidates(
        &self,
        prev: ShareHash,
    ) -> Result<Vec<ShareHash>, ChainUnavailable> {
        self.ask(|reply| ChainInput::UncleCandidates { prev, reply })
            .await
    }
}
