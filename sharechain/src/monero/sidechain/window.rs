//! The next share's PPLNS window: the payees a share built on the current tip must pay.

use super::super::hash::Hash;
use super::super::params::UNCLE_DEPTH;
use super::super::pplns::{Credit, PplnsShare, WindowTip, walk_window};
use super::super::wallet::Wallet;
use super::{PayeeFailure, ShareState, SideChain};

/// The sidechain part of the next share on the tip, as a template would fill it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NextBlock {
    /// Its sidechain height.
    pub height: u64,
    /// Its difficulty.
    pub difficulty: u128,
    /// The uncles it includes.
    pub uncles: Vec<Hash>,
    /// Its payees, shuffled into output order for a share on a new Monero block.
    pub payees: Vec<PplnsShare>,
}

impl SideChain {
    /// Returns the next share on the tip, mined by `miner` on Monero height `monero_height`
    /// (the PPLNS cap reads the Monero difficulty at its seed height), or `None` without a
    /// tip or when a share or the Monero difficulty is missing.
    ///
    /// Uncles are the valid shares of the three heights up to the tip that the chain has not
    /// mined yet and that sit on the same chain, sorted, at most five.
    pub fn next_block(&mut self, miner: Wallet, monero_height: u64) -> Option<NextBlock> {
        let t = self.tip?;
        let difficulty = self.difficulty_after(t).ok()?;
        let tip = &self.entries[t].share;
        let height = tip.sidechain_height + 1;
        let mut mined = Vec::new();
        let mut x = Some(t);
        for _ in 0..UNCLE_DEPTH.min(tip.sidechain_height + 1) {
            let Some(i) = x else { break };
            mined.push(self.entries[i].id);
            mined.extend_from_slice(&self.entries[i].share.uncles);
            x = self.parent_of(i);
        }
        let mut uncles = Vec::new();
        for d in 0..UNCLE_DEPTH.min(tip.sidechain_height + 1) {
            let Some(ids) = self.by_height.get(&(tip.sidechain_height - d)) else {
                continue;
            };
            for &u in ids {
                let ue = &self.entries[u];
                if ue.state != ShareState::Valid || mined.contains(&ue.id) {
                    continue;
                }
                if self.same_chain(t, u, height) {
                    uncles.push(ue.id);
                }
            }
        }
        uncles.sort_unstable();
        uncles.dedup();
        uncles.truncate(super::super::share::MAX_UNCLES);
        let window_tip = WindowTip {
            height,
            difficulty,
            wallet: miner,
            uncles: uncles.clone(),
            parent: self.entries[t].id,
            timestamp: self.entries[t].share.timestamp,
        };
        let seed = self.entries[t].share.child_tx_key_seed();
        match self.payees(&window_tip, monero_height, &seed) {
            Ok(payees) => Some(NextBlock {
                height,
                difficulty,
                uncles,
                payees,
            }),
            Err(PayeeFailure::Missing(_) | PayeeFailure::MoneroDifficulty(_)) => None,
        }
    }

    /// Returns the PPLNS window ending at the tip (the window its block pays), credit by
    /// credit in walk order, or `None` without a tip or when a share or the Monero
    /// difficulty is missing.
    pub fn tip_window(&self) -> Option<Vec<Credit>> {
        let (_, tip) = self.tip()?;
        let window_tip = WindowTip::of(tip);
        let max_weight = self.max_weight(&window_tip, tip.height).ok()?;
        let mut credits = Vec::new();
        walk_window(
            self,
            &window_tip,
            max_weight,
            self.params.window,
            self.params.uncle_penalty,
            |c| credits.push(*c),
        )
        .ok()?;
        Some(credits)
    }

    /// Returns what the valid share `id` pays, in output order: each payee with its
    /// output's amount. `None` for a share that is not held or not valid.
    pub fn payouts_of(&self, id: &Hash) -> Option<Vec<(Wallet, u64)>> {
        let i = self.get(id)?;
        if !self.valid(i) {
            return None;
        }
        let s = &self.entries[i].share;
        let payees = self
            .payees(&WindowTip::of(s), s.height, &s.tx_key_seed)
            .ok()?;
        Some(
            payees
                .iter()
                .zip(&s.outputs)
                .map(|(p, o)| (p.wallet, o.amount))
                .collect(),
        )
    }

    /// Returns true when `uncle` can be an uncle of a share at `height` built on `tip`.
    fn same_chain(&self, tip: usize, uncle: usize, height: u64) -> bool {
        let uh = self.entries[uncle].share.sidechain_height;
        let mut t = Some(tip);
        while let Some(x) = t {
            if self.entries[x].share.sidechain_height <= uh {
                break;
            }
            t = self.parent_of(x);
        }
        let Some(x) = t else { return false };
        if self.entries[x].share.sidechain_height < uh {
            return false;
        }
        let (mut t, mut t2) = (Some(x), Some(uncle));
        for _ in 0..UNCLE_DEPTH {
            let (Some(a), Some(b)) = (t, t2) else {
                return false;
            };
            if self.entries[a].share.sidechain_height + UNCLE_DEPTH < height {
                return false;
            }
            if self.entries[a].share.parent == self.entries[b].share.parent {
                return true;
            }
            (t, t2) = (self.parent_of(a), self.parent_of(b));
        }
        false
    }
}
