//! What the node reports to whoever watches it.

use otedama_sharechain::{Amount, BlockHash, PayoutScript, ShareHash, Work};

/// What the node reports to whoever watches it (CLI, devnet, the API).
#[derive(Clone, Debug)]
pub enum NodeEvent {
    /// A share was accepted into the sharechain.
    ShareAccepted {
        /// Its hash.
        hash: ShareHash,
        /// Sharechain height.
        height: u64,
        /// The miner's Stratum user name.
        worker: String,
        /// Its work (expected hashes), the PPLNS weight.
        work: Work,
    },
    /// A share was rejected by sharechain validation.
    ShareRejected {
        /// The miner's Stratum user name.
        worker: String,
        /// Why.
        reason: String,
    },
    /// A share met the parent target and was submitted as a block.
    BlockFound {
        /// Parent-chain height.
        height: u32,
        /// Block hash.
        hash: BlockHash,
        /// The share it is.
        share: ShareHash,
        /// Coinbase payouts.
        payouts: Vec<(PayoutScript, Amount)>,
        /// Whether at least one daemon accepted it onto its best chain.
        accepted: bool,
        /// Valid but not on the best chain: another block at this height came first
        /// (`submitblock` said `inconclusive` or `duplicate-inconclusive`).
        stale: bool,
        /// Reject reasons or errors per endpoint, if any.
        errors: Vec<String>,
    },
    /// The parent daemons could not be reached; the node keeps retrying.
    ParentUnavailable(String),
    /// A share announced by a peer was accepted into the sharechain.
    PeerShareAccepted {
        /// Its hash.
        hash: ShareHash,
        /// Sharechain height.
        height: u64,
    },
}
