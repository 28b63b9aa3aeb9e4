//! PPLNS: the difficulty-weighted window and the integer reward split.
//!
//! Weight is share work. The window walks back from the previous share until its
//! weight reaches `window_work_multiplier` x the parent block's work, or it holds
//! `window_max_shares` shares. An uncle credits `uncle_credit_percent` of its work to
//! its own miner and the rest to the includer. The split is integer arithmetic with
//! cumulative floors, so outputs sum to the reward exactly; outputs are ordered by
//! script bytes; recipients whose share would fall below the dust threshold are
//! dropped and the rest re-split.

use crate::chain::{ShareMeta, ShareSource};
use crate::{Amount, ChainSpec, PayoutScript, ShareError, ShareHash, Work};
use ruint::aliases::U256;
use std::collections::{BTreeMap, VecDeque};

/// Accumulated PPLNS weight per payout script (ordered by script bytes).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Weights {
    by_script: BTreeMap<PayoutScript, u128>,
    total: u128,
}

impl Weights {
    /// Adds `w` to `script`.
    pub fn add(&mut self, script: &PayoutScript, w: u128) {
        if w == 0 {
            return;
        }
        match self.by_script.get_mut(script) {
            Some(v) => *v = v.saturating_add(w),
            None => {
                self.by_script.insert(script.clone(), w);
            }
        }
        self.total = self.total.saturating_add(w);
    }

    fn sub(&mut self, script: &PayoutScript, w: u128) {
        if let Some(v) = self.by_script.get_mut(script) {
            *v = v.saturating_sub(w);
            if *v == 0 {
                self.by_script.remove(script);
            }
        }
        self.total = self.total.saturating_sub(w);
    }

    /// Returns the total weight.
    pub fn total(&self) -> u128 {
        self.total
    }

    /// Returns the number of distinct scripts.
    pub fn len(&self) -> usize {
        self.by_script.len()
    }

    /// Returns whether no weight has been added.
    pub fn is_empty(&self) -> bool {
        self.by_script.is_empty()
    }

    /// Iterates `(script, weight)` in script order.
    pub fn iter(&self) -> impl Iterator<Item = (&PayoutScript, u128)> {
        self.by_script.iter().map(|(s, w)| (s, *w))
    }
}

/// One coinbase output of the split.
pub type Payout = (PayoutScript, Amount);

/// The weight a share contributes: `(script, weight)` pairs for itself and its uncles.
pub fn share_credits(meta: &ShareMeta, spec: &ChainSpec) -> Vec<(PayoutScript, u128)> {
    let mut credits = Vec::with_capacity(1 + 2 * meta.uncle_credits.len());
    credits.push((meta.payout_script.clone(), meta.work.to_u128()));
    for (script, work) in &meta.uncle_credits {
        let w = work.to_u128();
        let to_uncle = w / 100 * u128::from(spec.uncle_credit_percent)
            + (w % 100) * u128::from(spec.uncle_credit_percent) / 100;
        credits.push((script.clone(), to_uncle));
        credits.push((meta.payout_script.clone(), w - to_uncle));
    }
    credits
}

/// Returns the weight the window must reach for a parent block of `parent_work`.
pub fn window_target(parent_work: Work, spec: &ChainSpec) -> u128 {
    parent_work
        .saturating_mul(spec.window_work_multiplier)
        .to_u128()
}

/// Returns the metadata of `hash` for a window walk: a share whose own parent is not held
/// (the oldest of a pruned or synced chain) may miss uncle credits, so a window that
/// needs it is [`ShareError::PartialHistory`].
fn held(source: &impl ShareSource, hash: ShareHash) -> Result<&ShareMeta, ShareError> {
    let meta = source.share(&hash).ok_or(ShareError::MissingParent(hash))?;
    if !meta.prev.is_zero() && source.share(&meta.prev).is_none() {
        return Err(ShareError::PartialHistory(hash));
    }
    Ok(meta)
}

/// Walks the window ending at `prev` (inclusive) and returns its weights.
///
/// # Errors
/// [`ShareError::MissingParent`] if the walk reaches a share the source does not hold
/// before the window is complete; [`ShareError::PartialHistory`] if it reaches the
/// oldest share held.
pub fn window_weights(
    source: &impl ShareSource,
    prev: ShareHash,
    parent_work: Work,
    spec: &ChainSpec,
) -> Result<Weights, ShareError> {
    let target = window_target(parent_work, spec);
    let mut weights = Weights::default();
    let mut cur = prev;
    let mut count = 0u32;
    while !cur.is_zero() && count < spec.window_max_shares && weights.total < target {
        let meta = held(source, cur)?;
        for (script, w) in share_credits(meta, spec) {
            weights.add(&script, w);
        }
        count += 1;
        cur = meta.prev;
    }
    Ok(weights)
}

/// One miner's part of the PPLNS window, as [`miner_window`] finds it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MinerWindow {
    /// Main-chain shares in the window.
    pub window_shares: u32,
    /// The window's total weight.
    pub window_weight: u128,
    /// Distinct payout scripts credited in the window.
    pub window_miners: u32,
    /// Time of the window's oldest and newest share (0 for an empty window).
    pub oldest_time: u32,
    /// See `oldest_time`.
    pub newest_time: u32,
    /// The miner's main-chain shares in the window.
    pub shares: u32,
    /// The miner's shares credited as uncles of window shares.
    pub uncles: u32,
    /// The miner's weight: what its coinbase output is proportional to.
    pub weight: u128,
    /// `(time, work)` of each share the miner found in the window (main chain or uncle),
    /// newest first: its hashrate as the sharechain sees it. An uncle carries the time of
    /// the share that included it.
    pub found: Vec<(u32, u128)>,
}

/// Walks the window ending at `prev` (inclusive), exactly as [`window_weights`] does,
/// and returns `script`'s part of it.
///
/// # Errors
/// As [`window_weights`].
pub fn miner_window(
    source: &impl ShareSource,
    prev: ShareHash,
    parent_work: Work,
    script: &PayoutScript,
    spec: &ChainSpec,
) -> Result<MinerWindow, ShareError> {
    let target = window_target(parent_work, spec);
    let mut out = MinerWindow::default();
    let mut miners = std::collections::BTreeSet::new();
    let mut cur = prev;
    while !cur.is_zero() && out.window_shares < spec.window_max_shares && out.window_weight < target
    {
        let meta = held(source, cur)?;
        for (i, (s, w)) in share_credits(meta, spec).into_iter().enumerate() {
            if w == 0 {
                continue;
            }
            out.window_weight = out.window_weight.saturating_add(w);
            if s == *script {
                out.weight = out.weight.saturating_add(w);
                // Credits are the share itself, then per uncle: the uncle's miner, the includer.
                if i == 0 {
                    out.shares += 1;
                    out.found.push((meta.time, w));
                } else if i % 2 == 1 {
                    out.uncles += 1;
                    let work = meta.uncle_credits[i / 2].1.to_u128();
                    out.found.push((meta.time, work));
                }
            }
            miners.insert(s);
        }
        if out.window_shares == 0 {
            out.newest_time = meta.time;
        }
        out.oldest_time = meta.time;
        out.window_shares += 1;
        cur = meta.prev;
    }
    out.window_miners = u32::try_from(miners.len()).unwrap_or(u32::MAX);
    Ok(out)
}

/// Splits `reward` by `weights` (see the module docs). With no weight at all the
/// finder gets everything. Returns outputs ordered by script bytes, summing to `reward`.
pub fn split_reward(
    weights: &Weights,
    reward: Amount,
    finder: &PayoutScript,
    spec: &ChainSpec,
) -> Vec<Payout> {
    let reward_u = u128::from(reward.to_sat());
    let donation = reward_u * u128::from(spec.donation_basis_points) / 10_000;
    let donation_script = if donation > 0 {
        PayoutScript::new(spec.donation_script.to_vec()).ok()
    } else {
        None
    };
    let rest = if donation_script.is_some() {
        reward_u - donation
    } else {
        reward_u
    };

    let mut recipients: Vec<(&PayoutScript, u128)> = weights.iter().collect();
    if recipients.is_empty() {
        recipients.push((finder, 1));
    }
    if recipients.len() > usize::from(spec.max_payouts) {
        // Keep the heaviest; ties go to the smaller script. Then back to script order.
        recipients.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        recipients.truncate(usize::from(spec.max_payouts.max(1)));
        recipients.sort_by(|a, b| a.0.cmp(b.0));
    }
    // Dust: keep a recipient only if rest * w >= dust * W over the kept set. Removing
    // recipients only lowers W, so kept ones stay kept; this reaches a fixpoint.
    let dust = U256::from(spec.dust_threshold.to_sat());
    let rest_u = U256::from(rest);
    loop {
        let total = U256::from(
            recipients
                .iter()
                .map(|r| r.1)
                .fold(0u128, u128::saturating_add),
        );
        let before = recipients.len();
        let kept: Vec<_> = recipients
            .iter()
            .copied()
            .filter(|r| rest_u * U256::from(r.1) >= dust * total)
            .collect();
        if kept.is_empty() {
            // Not even the heaviest reaches dust: it takes the whole reward.
            let heaviest = recipients
                .iter()
                .copied()
                .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(a.0)))
                .unwrap_or((finder, 1));
            recipients = vec![heaviest];
            break;
        }
        recipients = kept;
        if recipients.len() == before {
            break;
        }
    }

    let total = U256::from(
        recipients
            .iter()
            .map(|r| r.1)
            .fold(0u128, u128::saturating_add),
    );
    let mut out: Vec<Payout> = Vec::with_capacity(recipients.len() + 1);
    let mut cumulative = U256::ZERO;
    let mut paid_so_far = 0u128;
    for (script, w) in recipients {
        cumulative += U256::from(w);
        // rest * cumulative / total <= rest, so it fits in u128.
        let upto = u128::try_from(rest_u * cumulative / total).unwrap_or(rest);
        let amount = upto - paid_so_far;
        paid_so_far = upto;
        out.push((script.clone(), Amount::from_sat(amount as u64)));
    }
    if let Some(script) = donation_script {
        match out.iter_mut().find(|(s, _)| *s == script) {
            Some((_, a)) => *a = Amount::from_sat(a.to_sat() + donation as u64),
            None => {
                let pos = out.partition_point(|(s, _)| *s < script);
                out.insert(pos, (script, Amount::from_sat(donation as u64)));
            }
        }
    }
    out.retain(|(_, a)| a.to_sat() > 0);
    out
}

/// An incrementally maintained window for the current tip: extending the tip by one
/// share costs the credits of that share plus those that fall out of the tail.
#[derive(Clone, Debug)]
pub struct WindowTracker {
    tip: ShareHash,
    target: u128,
    entries: VecDeque<(ShareHash, Vec<(PayoutScript, u128)>)>,
    weights: Weights,
}

impl WindowTracker {
    /// Builds the window ending at `tip` by a full walk.
    ///
    /// # Errors
    /// As [`window_weights`].
    pub fn build(
        source: &impl ShareSource,
        tip: ShareHash,
        parent_work: Work,
        spec: &ChainSpec,
    ) -> Result<Self, ShareError> {
        let target = window_target(parent_work, spec);
        let mut t = Self {
            tip,
            target,
            entries: VecDeque::new(),
            weights: Weights::default(),
        };
        let mut cur = tip;
        while !cur.is_zero()
            && t.entries.len() < spec.window_max_shares as usize
            && t.weights.total < target
        {
            let meta = held(source, cur)?;
            let credits = share_credits(meta, spec);
            for (s, w) in &credits {
                t.weights.add(s, *w);
            }
            t.entries.push_back((cur, credits));
            cur = meta.prev;
        }
        Ok(t)
    }

    /// Returns the tip the window ends at.
    pub fn tip(&self) -> ShareHash {
        self.tip
    }

    /// Returns whether this window is the one [`window_weights`] gives for `(tip, parent_work)`.
    pub fn matches(&self, tip: ShareHash, parent_work: Work, spec: &ChainSpec) -> bool {
        self.tip == tip && self.target == window_target(parent_work, spec)
    }

    /// Returns the window's weights.
    pub fn weights(&self) -> &Weights {
        &self.weights
    }

    /// Extends the window by `meta`, a child of the current tip, for the same parent work.
    /// Returns `false` (and changes nothing) if `meta` does not build on the tip.
    pub fn advance(&mut self, meta: &ShareMeta, spec: &ChainSpec) -> bool {
        if meta.prev != self.tip {
            return false;
        }
        let credits = share_credits(meta, spec);
        for (s, w) in &credits {
            self.weights.add(s, *w);
        }
        self.entries.push_front((meta.hash, credits));
        self.tip = meta.hash;
        // Drop from the tail while the window stays complete without it.
        while let Some((_, tail)) = self.entries.back() {
            let tail_weight: u128 = tail.iter().map(|c| c.1).sum();
            let over_cap = self.entries.len() > spec.window_max_shares as usize;
            if !over_cap && self.weights.total.saturating_sub(tail_weight) < self.target {
                break;
            }
            if let Some((_, tail)) = self.entries.pop_back() {
                for (s, w) in &tail {
                    self.weights.sub(s, *w);
                }
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn spec() -> ChainSpec {
        ChainSpec::by_name("ltc-regtest").expect("built in").clone()
    }

    fn script(n: u16) -> PayoutScript {
        let mut h = [0u8; 20];
        h[..2].copy_from_slice(&n.to_be_bytes());
        PayoutScript::p2wpkh(h)
    }

    #[test]
    fn split_is_proportional_and_exact() {
        let mut w = Weights::default();
        w.add(&script(1), 3);
        w.add(&script(2), 2);
        let out = split_reward(&w, Amount::from_sat(1_000_000), &script(9), &spec());
        assert_eq!(
            out,
            vec![
                (script(1), Amount::from_sat(600_000)),
                (script(2), Amount::from_sat(400_000))
            ]
        );
    }

    #[test]
    fn empty_window_pays_finder() {
        let out = split_reward(
            &Weights::default(),
            Amount::from_sat(5000),
            &script(7),
            &spec(),
        );
        assert_eq!(out, vec![(script(7), Amount::from_sat(5000))]);
    }

    #[test]
    fn dust_recipients_are_dropped_and_rest_resplit() {
        let mut w = Weights::default();
        w.add(&script(1), 1_000_000);
        w.add(&script(2), 1);
        let s = spec();
        let out = split_reward(&w, Amount::from_sat(100_000), &script(9), &s);
        assert_eq!(out, vec![(script(1), Amount::from_sat(100_000))]);
    }

    #[test]
    fn donation_is_taken_first() {
        let mut s = spec();
        s.donation_basis_points = 100;
        s.donation_script = &[0x51];
        let mut w = Weights::default();
        w.add(&script(1), 1);
        let out = split_reward(&w, Amount::from_sat(1_000_000), &script(9), &s);
        let donation = PayoutScript::new(vec![0x51]).expect("valid");
        assert!(out.contains(&(donation, Amount::from_sat(10_000))));
        assert!(out.contains(&(script(1), Amount::from_sat(990_000))));
    }

    #[test]
    fn payout_cap_keeps_heaviest() {
        let mut s = spec();
        s.max_payouts = 2;
        s.dust_threshold = Amount::from_sat(1);
        let mut w = Weights::default();
        w.add(&script(1), 5);
        w.add(&script(2), 50);
        w.add(&script(3), 40);
        let out = split_reward(&w, Amount::from_sat(900), &script(9), &s);
        assert_eq!(
            out,
            vec![
                (script(2), Amount::from_sat(500)),
                (script(3), Amount::from_sat(400))
            ]
        );
    }

    proptest! {
        #[test]
        fn split_sums_to_reward_without_dust(
            ws in proptest::collection::vec((0u16..600, 1u128..(1u128 << 90)), 0..600),
            reward in 0u64..(21_000_000u64 * 100_000_000),
            dust in 0u64..100_000,
            bps in 0u16..500,
        ) {
            let mut s = spec();
            s.dust_threshold = Amount::from_sat(dust);
            s.donation_basis_points = bps;
            s.donation_script = &[0x51];
            let mut w = Weights::default();
            for (n, weight) in &ws {
                w.add(&script(*n), *weight);
            }
            let out = split_reward(&w, Amount::from_sat(reward), &script(9999), &s);
            let sum: u64 = out.iter().map(|o| o.1.to_sat()).sum();
            prop_assert_eq!(sum, reward);
            prop_assert!(out.len() <= usize::from(s.max_payouts) + 1);
            // Ordered by script bytes, no duplicates.
            prop_assert!(out.windows(2).all(|p| p[0].0 < p[1].0));
            let donation = PayoutScript::new(vec![0x51]).expect("valid");
            for (script, amount) in &out {
                if *script != donation && out.len() > 1 + usize::from(out.iter().any(|o| o.0 == donation)) {
                    prop_assert!(amount.to_sat() >= dust, "{} below dust {}", amount, dust);
                }
            }
            // Same inputs, same bytes.
            let again = split_reward(&w, Amount::from_sat(reward), &script(9999), &s);
            prop_assert_eq!(again, out);
        }
    }
}
