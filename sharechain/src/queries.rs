//! Read-only queries over the share tree that serve peers (sync locators, header
//! ranges, share metadata) and operators (pages of the main chain). Pure functions of
//! the chain, so the chain's owner answers them without IO.

use crate::chain::{ShareChain, ShareMeta, ShareSource};
use crate::{ShareHash, Work};
use std::collections::BTreeSet;

/// What a peer needs besides a share's bytes to start its chain from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncMeta {
    /// The share.
    pub hash: ShareHash,
    /// Cumulative work of the chain ending at it.
    pub chain_work: Work,
    /// Time of its retarget anchor.
    pub anchor_time: u32,
}

impl ShareChain {
    /// Returns the lowest height of the main chain held (it is contiguous from there
    /// to the tip after pruning), or `None` for an empty chain.
    pub fn lowest_main(&self) -> Option<u64> {
        let tip = self.tip()?;
        let (mut lo, mut hi) = (0u64, tip.height);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.main_at(mid).is_some() {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        Some(lo)
    }

    /// Returns a locator of at most `max` main-chain hashes, newest first: the tip, the
    /// eight below it, then exponentially sparser, and always the lowest one held.
    pub fn locator(&self, max: usize) -> Vec<ShareHash> {
        let (Some(tip), Some(lowest)) = (self.tip(), self.lowest_main()) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut h = tip.height;
        let mut step = 1u64;
        while out.len() + 1 < max {
            if let Some(hash) = self.main_at(h) {
                out.push(hash);
            }
            if h <= lowest {
                break;
            }
            h = h.saturating_sub(step).max(lowest);
            if out.len() > 8 {
                step = step.saturating_mul(2);
            }
        }
        if let Some(hash) = self.main_at(lowest)
            && out.last() != Some(&hash)
            && max > 0
        {
            out.push(hash);
        }
        out
    }

    /// Returns the shares a peer whose best chain contains the first main-chain share of
    /// `locator` lacks: the main-chain shares above it, each preceded by the side shares
    /// it includes as uncles (and theirs), ascending by height, at most `max` in all and
    /// never a share group cut in half. Without a known locator entry, from the lowest
    /// main-chain share held.
    pub fn headers_after(&self, locator: &[ShareHash], max: usize) -> Vec<ShareHash> {
        let (Some(tip), Some(lowest)) = (self.tip(), self.lowest_main()) else {
            return Vec::new();
        };
        let start = locator
            .iter()
            .find(|h| self.is_main(h))
            .and_then(|h| self.share(h).map(|m| m.height + 1))
            .unwrap_or(lowest);
        let mut picked: BTreeSet<(u64, ShareHash)> = BTreeSet::new();
        for height in start..=tip.height {
            let Some(main) = self.main_at(height) else {
                break;
            };
            // The share and the closure of its uncles, as one group.
            let mut group: Vec<(u64, ShareHash)> = Vec::new();
            let mut todo = vec![main];
            while let Some(h) = todo.pop() {
                let Some(m) = self.share(&h) else {
                    continue;
                };
                let key = (m.height, h);
                if m.height < start || picked.contains(&key) || group.contains(&key) {
                    continue;
                }
                group.push(key);
                todo.extend(m.uncles.iter().copied());
            }
            if picked.len() + group.len() > max {
                break;
            }
            picked.extend(group);
        }
        picked.into_iter().map(|(_, h)| h).collect()
    }

    /// Returns the sync metadata of the held shares among `hashes`, in their order.
    pub fn sync_metas(&self, hashes: &[ShareHash]) -> Vec<SyncMeta> {
        hashes
            .iter()
            .filter_map(|h| self.share(h))
            .map(|m| SyncMeta {
                hash: m.hash,
                chain_work: m.chain_work,
                anchor_time: m.anchor.time,
            })
            .collect()
    }

    /// Returns page `index` (from 0) of `per_page` main-chain shares, newest first, and
    /// how many main-chain shares are held.
    pub fn main_page(&self, index: u64, per_page: u64) -> (u64, Vec<&ShareMeta>) {
        let per_page = per_page.max(1);
        let (Some(tip), Some(lowest)) = (self.tip(), self.lowest_main()) else {
            return (0, Vec::new());
        };
        let total = tip.height - lowest + 1;
        let skip = index.saturating_mul(per_page);
        let mut rows = Vec::new();
        if skip < total {
            let top = tip.height - skip;
            let bottom = top.saturating_sub(per_page - 1).max(lowest);
            rows.extend(
                (bottom..=top)
                    .rev()
                    .filter_map(|h| self.main_at(h).and_then(|hash| self.share(&hash))),
            );
        }
        (total, rows)
    }
}

#[cfg(all(test, feature = "test-utils"))]
mod tests {
    use crate::template::test_utils::{mine_on_tip, script};
    use crate::{ChainSpec, ShareChain, ShareHash};

    fn chain(n: u32) -> ShareChain {
        let spec = ChainSpec::by_name("ltc-regtest").expect("spec").clone();
        let mut chain = ShareChain::new(spec);
        for i in 0..n {
            let share = mine_on_tip(&mut chain, script(i % 3), &[i as u8; 4]);
            let meta = chain.derive_meta(&share).expect("parent known");
            chain.insert(meta);
        }
        chain
    }

    #[test]
    fn headers_after_a_locator_start_above_it_and_respect_max() {
        let c = chain(40);
        assert_eq!(c.lowest_main(), Some(0));
        let all = c.headers_after(&[], 1000);
        assert_eq!(all.len(), 40);
        let at10 = c.main_at(10).expect("main");
        let after = c.headers_after(&[ShareHash::from_bytes([9; 32]), at10], 1000);
        assert_eq!(after.first(), c.main_at(11).as_ref());
        assert_eq!(after.len(), 29);
        assert_eq!(c.headers_after(&[at10], 5).len(), 5);
    }

    #[test]
    fn locator_starts_at_the_tip_and_ends_at_the_lowest() {
        let c = chain(100);
        let loc = c.locator(32);
        assert_eq!(loc.first(), c.main_at(99).as_ref());
        assert_eq!(loc.last(), c.main_at(0).as_ref());
        assert!(loc.len() <= 32);
        assert!(ShareChain::new(c.spec().clone()).locator(32).is_empty());
    }

    #[test]
    fn main_page_is_newest_first() {
        let c = chain(12);
        let (total, rows) = c.main_page(1, 5);
        assert_eq!(total, 12);
        let heights: Vec<u64> = rows.iter().map(|m| m.height).collect();
        assert_eq!(heights, vec![6, 5, 4, 3, 2]);
        assert!(c.main_page(3, 5).1.is_empty());
    }
}
