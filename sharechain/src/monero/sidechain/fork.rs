//! Fork choice between unrelated chains (P2Pool's alternative-chain checks).
//!
//! When two tips share no ancestor within the window, cumulative difficulties cannot be
//! compared. The candidate then wins only if it has more work over the last W shares and
//! looks like it was really mined on Monero as the node sees it: built on recent Monero
//! blocks, on at least half as many known Monero blocks as the current chain, with share
//! timestamps close to those blocks' and spread like Monero's own block times. This is
//! local policy: it reads the node's Monero view.

use std::collections::BTreeSet;

use super::super::hash::Hash;
use super::SideChain;

/// Monero's target block time, seconds.
const MONERO_BLOCK_TIME: u64 = 120;
/// Largest allowed |share timestamp - Monero block timestamp| on a candidate chain.
const MAX_TIMESTAMP_DEVIATION: u64 = 10_800;

/// What the walk over one chain collects.
#[derive(Default, Debug, Clone, PartialEq, Eq)]
pub struct ChainSummary {
    /// Summed difficulty of W shares and their uncles within W.
    pub total_difficulty: u128,
    /// Known Monero blocks the shares were built on.
    pub monero_blocks: usize,
    /// Highest known Monero height referenced (candidate only).
    pub max_monero_height: u64,
    /// Lowest Monero height of the shares (candidate only).
    pub min_monero_height: u64,
    /// Share timestamps (candidate only).
    pub timestamps: Vec<u64>,
    /// Largest |share timestamp - Monero block timestamp| (candidate only).
    pub timestamp_deviation: u64,
}

/// Returns the 90th minus the 10th percentile of `v` (0 when degenerate).
fn span80(v: &mut [u64]) -> u64 {
    if v.is_empty() {
        return 0;
    }
    v.sort_unstable();
    let cut = v.len().div_ceil(10);
    let (p1, p2) = (cut - 1, v.len() - cut);
    if p1 >= p2 { 0 } else { v[p2] - v[p1] }
}

/// Decides whether an unrelated `candidate` chain replaces `current`, given the Monero
/// height the node is mining on, the window and the share block time.
pub fn alternative_wins(
    current: &ChainSummary,
    candidate: &mut ChainSummary,
    monero_height: u64,
    window: u64,
    block_time: u64,
) -> bool {
    if current.total_difficulty >= candidate.total_difficulty {
        return false;
    }
    if candidate.max_monero_height.saturating_add(10) < monero_height {
        return false;
    }
    let headers = window * 4 * block_time / MONERO_BLOCK_TIME;
    if candidate.min_monero_height.saturating_add(headers) < monero_height {
        return false;
    }
    if candidate.monero_blocks * 2 < current.monero_blocks
        || candidate.max_monero_height < candidate.min_monero_height
    {
        return false;
    }
    if candidate.timestamp_deviation > MAX_TIMESTAMP_DEVIATION {
        return false;
    }
    let span = span80(&mut candidate.timestamps);
    let monero_span =
        (candidate.max_monero_height + 1 - candidate.min_monero_height) * MONERO_BLOCK_TIME * 8
            / 10;
    span <= u64::MAX / 3 && span * 3 >= monero_span * 2 && span * 3 <= monero_span * 4
}

impl SideChain {
    /// Walks W shares down from `top` and summarises them; `candidate` also collects the
    /// Monero heights and timestamps the alternative-chain checks read.
    pub(super) fn summarise(&self, top: usize, candidate: bool) -> ChainSummary {
        let w = self.params.window;
        let top_height = self.entries[top].share.sidechain_height;
        let mut sum = ChainSummary::default();
        let mut seen: BTreeSet<Hash> = BTreeSet::new();
        let mut visit = |sum: &mut ChainSummary, prev_id: &Hash, timestamp: u64| {
            let Some(h) = self.monero.header(prev_id) else {
                return;
            };
            if candidate && h.timestamp != 0 {
                sum.timestamp_deviation =
                    sum.timestamp_deviation.max(timestamp.abs_diff(h.timestamp));
            }
            if seen.insert(*prev_id) {
                sum.monero_blocks += 1;
                if candidate {
                    sum.max_monero_height = sum.max_monero_height.max(h.height);
                }
            }
        };
        let mut cur = Some(top);
        for _ in 0..w {
            let Some(i) = cur else { break };
            let s = &self.entries[i].share;
            if candidate {
                sum.min_monero_height = if sum.min_monero_height == 0 {
                    s.height
                } else {
                    sum.min_monero_height.min(s.height)
                };
                sum.timestamps.push(s.timestamp);
            }
            sum.total_difficulty = sum.total_difficulty.wrapping_add(s.difficulty);
            for u in &s.uncles {
                let Some(ui) = self.get(u) else { continue };
                let us = &self.entries[ui].share;
                if top_height.wrapping_sub(us.sidechain_height) >= w {
                    continue;
                }
                sum.total_difficulty = sum.total_difficulty.wrapping_add(us.difficulty);
                if candidate {
                    sum.min_monero_height = sum.min_monero_height.min(us.height);
                    sum.timestamps.push(us.timestamp);
                }
                visit(&mut sum, &us.prev_id, us.timestamp);
            }
            visit(&mut sum, &s.prev_id, s.timestamp);
            cur = self.parent_of(i);
        }
        sum
    }

    /// P2Pool's alternative-chain rule for tips `current` and `candidate`.
    pub(super) fn alternative_is_longer(&self, current: usize, candidate: usize) -> bool {
        let Some(monero_height) = self.monero.current_height() else {
            return false;
        };
        let cur = self.summarise(current, false);
        let mut cand = self.summarise(candidate, true);
        alternative_wins(
            &cur,
            &mut cand,
            monero_height,
            self.params.window,
            self.params.block_time,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A candidate mined honestly: 2160 shares 10 s apart on 180 Monero blocks.
    fn honest() -> ChainSummary {
        ChainSummary {
            total_difficulty: 2000,
            monero_blocks: 180,
            max_monero_height: 1180,
            min_monero_height: 1000,
            timestamps: (0..2160).map(|i| 1_000_000 + 10 * i).collect(),
            timestamp_deviation: 30,
        }
    }

    fn current() -> ChainSummary {
        ChainSummary {
            total_difficulty: 1000,
            monero_blocks: 180,
            ..ChainSummary::default()
        }
    }

    #[test]
    fn honest_heavier_candidate_wins() {
        assert!(alternative_wins(&current(), &mut honest(), 1181, 2160, 10));
    }

    #[test]
    fn each_check_can_refuse() {
        let mut c = honest();
        c.total_difficulty = 1000;
        assert!(
            !alternative_wins(&current(), &mut c, 1181, 2160, 10),
            "no more work"
        );
        assert!(
            !alternative_wins(&current(), &mut honest(), 1191, 2160, 10),
            "stale tip"
        );
        let mut c = honest();
        c.min_monero_height = 100;
        assert!(
            !alternative_wins(&current(), &mut c, 1181, 2160, 10),
            "too old"
        );
        let mut c = honest();
        c.monero_blocks = 89;
        assert!(
            !alternative_wins(&current(), &mut c, 1181, 2160, 10),
            "few known blocks"
        );
        let mut c = honest();
        c.timestamp_deviation = 10_801;
        assert!(
            !alternative_wins(&current(), &mut c, 1181, 2160, 10),
            "timestamps off"
        );
        let mut c = honest();
        c.timestamps = (0..2160).map(|i| 1_000_000 + i).collect();
        assert!(
            !alternative_wins(&current(), &mut c, 1181, 2160, 10),
            "span too short"
        );
    }
}
