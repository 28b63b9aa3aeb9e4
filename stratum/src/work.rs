//! The boundary between the node and the Stratum server. The node publishes [`Work`];
//! sessions ask it for the [`ShareTemplate`] of their miner's payout script and send
//! back [`Submission`]s whose proof of work meets the share target. The server never
//! touches the sharechain itself.

use otedama_sharechain::coinbase::Coinbase;
use otedama_sharechain::{BlockHeader, KawpowSeal, PayoutScript, PowHash, ShareTemplate};
use std::sync::Arc;

/// Why the node could not produce a template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no work: {0}")]
pub struct WorkError(pub String);

/// Produces share templates for the current (parent template, share tip) generation.
pub trait WorkSource: Send + Sync + 'static {
    /// Returns the template for miners paid to `payout`. The node caches one per payout
    /// script per generation, so many sessions of one miner share it.
    ///
    /// # Errors
    /// When no parent template is available yet.
    fn template_for(&self, payout: &PayoutScript) -> Result<Arc<ShareTemplate>, WorkError>;
}

/// One generation of work, published through a `tokio::sync::watch` channel.
#[derive(Clone)]
pub struct Work {
    /// Increases with every publication.
    pub generation: u64,
    /// Where sessions get their templates.
    pub source: Arc<dyn WorkSource>,
    /// Whether older jobs are now worthless (new parent block or new share tip): sent as
    /// Stratum's `clean_jobs`.
    pub clean: bool,
}

impl std::fmt::Debug for Work {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Work")
            .field("generation", &self.generation)
            .field("clean", &self.clean)
            .finish_non_exhaustive()
    }
}

/// A submission whose proof of work meets the share target: a sharechain share (and,
/// if it also meets the parent target, a parent block).
#[derive(Debug, Clone)]
pub struct Submission {
    /// The Stratum user name as authorized (`ADDRESS[.worker]`).
    pub worker: String,
    /// The payout script of that address.
    pub payout: PayoutScript,
    /// The template the job came from.
    pub template: Arc<ShareTemplate>,
    /// extranonce1 || extranonce2, as placed in the coinbase.
    pub extranonce: Vec<u8>,
    /// The coinbase built with that extranonce.
    pub coinbase: Coinbase,
    /// The solved header.
    pub header: BlockHeader,
    /// The rest of a KawPow header (a DAG share); `None` for Stratum v1 shares.
    pub seal: Option<KawpowSeal>,
    /// Its proof-of-work hash.
    pub pow: PowHash,
}
