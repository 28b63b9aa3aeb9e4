//! What the coordinator publishes for readers that need no round trip: the
//! [`ChainSnapshot`] (swapped whole on every change), its counters, and the answers to
//! queries (pages of shares, expected payouts).

use otedama_sharechain::ShareSource;
use otedama_sharechain::pplns::{MinerWindow, Payout};
use otedama_sharechain::{
    Amount, BlockHash, CompactTarget, PayoutScript, ShareChain, ShareHash, required_target,
};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

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

    pub(super) fn refresh(&mut self, chain: &ShareChain) {
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

    /// Returns the pool hashrate at `now` (see [`pool_hashrate`]).
    pub fn pool_hashrate(&self, now: u64) -> f64 {
        pool_hashrate(&self.recent_work, now)
    }
}

/// Returns the pool hashrate at `now` from `(time, work)` of the newest main-chain shares,
/// newest first: the work of the shares of the last ten minutes (or since the oldest one
/// listed) per second. The oldest share counted as the start is not counted itself: its
/// work was done before its time.
pub fn pool_hashrate(recent_work: &[(u32, u128)], now: u64) -> f64 {
    let Some(&(oldest, _)) = recent_work.last() else {
        return 0.0;
    };
    let start = now
        .saturating_sub(HASHRATE_WINDOW_SECS)
        .max(u64::from(oldest));
    let work: u128 = recent_work
        .iter()
        .filter(|(t, _)| u64::from(*t) > start)
        .map(|(_, w)| *w)
        .fold(0, u128::saturating_add);
    work as f64 / now.saturating_sub(start).max(1) as f64
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

/// One miner's part of the chain at the current tip and template.
#[derive(Clone, Debug, Default)]
pub struct MinerData {
    /// The tip it is computed at.
    pub tip: Option<ShareHash>,
    /// The miner's part of the PPLNS window ending at the tip.
    pub window: MinerWindow,
    /// The height a block found now would have.
    pub block_height: Option<u32>,
    /// The template's coinbase value.
    pub reward: Amount,
    /// The miner's output in a block found now (zero when it has none).
    pub amount: Amount,
    /// Work of the parent block the template builds (0 without a template).
    pub parent_work: u128,
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
