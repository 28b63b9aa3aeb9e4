//! `GET /api/shares`, `GET /api/payouts` and `GET /api/chain`: the sharechain, its pages
//! and what it pays.

use super::SyncState;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// The query of `GET /api/shares`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SharesQuery {
    /// Page number, from 1 (default 1).
    pub page: Option<u64>,
    /// Shares per page, 1 to 100 (default 20).
    pub per_page: Option<u64>,
}

/// A validated page request: `page` from 0, `per_page` within bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// Page index from 0.
    pub index: u64,
    /// Items per page, 1 to [`PageRequest::MAX_PER_PAGE`].
    pub per_page: u64,
}

impl PageRequest {
    /// The largest page.
    pub const MAX_PER_PAGE: u64 = 100;
    /// The page size when none is asked for.
    pub const DEFAULT_PER_PAGE: u64 = 20;
    /// The highest page number accepted (far beyond any chain; keeps arithmetic small).
    pub const MAX_PAGE: u64 = 1_000_000;

    /// Checks a query.
    ///
    /// # Errors
    /// A message naming the parameter out of range.
    pub fn from_query(q: SharesQuery) -> Result<Self, String> {
        let page = q.page.unwrap_or(1);
        if !(1..=Self::MAX_PAGE).contains(&page) {
            return Err(format!("page must be 1 to {}, got {page}", Self::MAX_PAGE));
        }
        let per_page = q.per_page.unwrap_or(Self::DEFAULT_PER_PAGE);
        if !(1..=Self::MAX_PER_PAGE).contains(&per_page) {
            return Err(format!(
                "per_page must be 1 to {}, got {per_page}",
                Self::MAX_PER_PAGE
            ));
        }
        Ok(Self {
            index: page - 1,
            per_page,
        })
    }
}

/// `GET /api/shares`: main-chain shares, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SharePage {
    /// This page's number, from 1.
    pub page: u64,
    /// Page size.
    pub per_page: u64,
    /// Main-chain shares held (after pruning).
    pub total: u64,
    /// The shares, highest first.
    pub shares: Vec<ShareEntry>,
}

/// One sharechain share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ShareEntry {
    /// Share hash.
    pub hash: String,
    /// Sharechain height.
    pub height: u64,
    /// Share time (the header's time).
    pub time: u64,
    /// The finder's payout address (`null` for a script without an address form).
    pub address: Option<String>,
    /// The finder's payout script, hex.
    pub script: String,
    /// Share difficulty (pool units of the chain's algorithm).
    pub difficulty: f64,
    /// Uncles it includes.
    pub uncles: u64,
    /// The parent block it builds on.
    pub parent_block: String,
}

/// One payout: an address (or bare script) and an amount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PayoutEntry {
    /// The address (`null` for a script without an address form).
    pub address: Option<String>,
    /// The output script, hex.
    pub script: String,
    /// The amount in base units.
    pub amount_sat: u64,
}

/// What the parent daemons said about a found block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BlockStatus {
    /// On a daemon's best chain.
    Accepted,
    /// Valid, but another block at this height came first.
    Stale,
    /// Rejected by every daemon.
    Rejected,
}

/// Where a found block stands on the parent chain, as the node's own daemon holds it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnChainState {
    /// Not (yet) on the daemon's best chain: just submitted, not yet read back, or not
    /// known to the daemon while its best chain is fewer than 6 blocks past the height.
    #[default]
    Pending,
    /// On the daemon's best chain, with `confirmations` of at least 1.
    Confirmed,
    /// Off the best chain: the daemon holds it on a side branch (`confirmations` -1), or
    /// does not know it while another block has held its height for 6 blocks. Its
    /// coinbase pays nobody. A reorganisation back can still confirm it.
    Orphaned,
}

/// The proof of a found block by the parent chain: the node reads it back from its own
/// daemon on every new parent tip (blocks 100 deep about once an hour).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OnChain {
    /// Where it stands.
    pub state: OnChainState,
    /// The daemon's confirmations while on its best chain (1 = it is the tip), else 0.
    pub confirmations: u32,
    /// Whether its coinbase can be spent: confirmed with at least 100 confirmations
    /// (the coinbase maturity of Bitcoin-family chains).
    pub mature: bool,
    /// Unix time of the daemon's answer shown; `null` until the daemon was asked.
    pub checked_at: Option<u64>,
    /// Whether the coinbase on chain pays exactly the `payouts` the node recorded (same
    /// scripts, same amounts); `null` until it was read. `false` is a fault to
    /// investigate: `coinbase_onchain` then says what the chain pays.
    pub coinbase_matches: Option<bool>,
    /// When the coinbase differs: its paying outputs as the chain holds them (at most
    /// 256). Empty otherwise.
    #[serde(default)]
    pub coinbase_onchain: Vec<PayoutEntry>,
}

/// A parent block found by this node's miners.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FoundBlock {
    /// Parent-chain height.
    pub height: u32,
    /// Block hash.
    pub hash: String,
    /// The share it is.
    pub share: String,
    /// Unix time it was found.
    pub time: u64,
    /// What the daemons said when it was submitted.
    pub status: BlockStatus,
    /// Its coinbase outputs: what each address got.
    pub payouts: Vec<PayoutEntry>,
    /// What the parent chain holds of it now.
    #[serde(default)]
    pub chain: OnChain,
}

/// `GET /api/payouts`: the PPLNS split if a block were found now, and past blocks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Payouts {
    /// The share tip the expected split is computed at.
    pub tip: Option<String>,
    /// Height of the parent block the current template would be.
    pub block_height: Option<u32>,
    /// The template's coinbase value (subsidy and fees).
    pub reward_sat: u64,
    /// The coinbase outputs of a block found now, by script order; empty without a
    /// template or shares.
    pub expected: Vec<PayoutEntry>,
    /// The coinbase transaction of that block (hex, without witness, extranonce zero):
    /// every node on the same tip and template builds the same bytes for the same finder.
    pub coinbase: Option<String>,
    /// Blocks found by this node, newest first (the last 100).
    pub blocks: Vec<FoundBlock>,
}

/// The query of `GET /api/payouts`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PayoutsQuery {
    /// The finder's payout address (default: this node's `mining.payout_address`).
    pub finder: Option<String>,
}

/// `GET /api/chain`: the sharechain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChainInfo {
    /// The chain spec.
    pub spec: String,
    /// Its consensus id.
    pub consensus_id: String,
    /// Proof-of-work algorithm.
    pub algorithm: String,
    /// Best height.
    pub height: Option<u64>,
    /// Best tip hash.
    pub tip: Option<String>,
    /// Best tip time.
    pub tip_time: Option<u64>,
    /// Cumulative work of the chain ending at the tip, 32 hex digits (fork choice
    /// follows the most work).
    pub chain_work: Option<String>,
    /// Difficulty the next share must meet (pool units of the algorithm).
    pub share_difficulty: f64,
    /// Its compact target, hex (`nBits` form).
    pub share_target: String,
    /// Target seconds between shares.
    pub share_period_secs: u64,
    /// PPLNS window cap in shares.
    pub window_max_shares: u32,
    /// Shares held.
    pub shares: u64,
    /// Sync progress.
    pub sync: SyncState,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_requests_are_bounded() {
        let q = |page, per_page| SharesQuery { page, per_page };
        assert_eq!(
            PageRequest::from_query(q(None, None)),
            Ok(PageRequest {
                index: 0,
                per_page: 20
            })
        );
        assert_eq!(
            PageRequest::from_query(q(Some(3), Some(100))),
            Ok(PageRequest {
                index: 2,
                per_page: 100
            })
        );
        assert!(PageRequest::from_query(q(Some(0), None)).is_err());
        assert!(PageRequest::from_query(q(None, Some(0))).is_err());
        assert!(PageRequest::from_query(q(None, Some(101))).is_err());
        assert!(PageRequest::from_query(q(Some(u64::MAX), None)).is_err());
    }
}
