//! P2Pool's PPLNS: the window walk with uncle penalty and the Monero-difficulty cap, the
//! deterministic shuffle of payees, and the integer reward split.
//!
//! All arithmetic follows P2Pool's 128-bit `difficulty_type`: products wrap mod 2^128.

use std::collections::BTreeMap;

use super::hash::{Hash, keccak256};
use super::share::{MAX_OUTPUT_AMOUNT, PoolShare};
use super::wallet::Wallet;

/// Read access to the shares a walk visits.
pub trait ShareLookup {
    /// Returns the share with sidechain id `id`, if known.
    fn share(&self, id: &Hash) -> Option<&PoolShare>;
}

/// The share a window ends at: a stored share, or the share being built.
#[derive(Clone, Debug)]
pub struct WindowTip {
    /// Sidechain height.
    pub height: u64,
    /// Share difficulty.
    pub difficulty: u128,
    /// Miner wallet.
    pub wallet: Wallet,
    /// Uncle ids.
    pub uncles: Vec<Hash>,
    /// Parent id.
    pub parent: Hash,
    /// Timestamp (reported to walk visitors; the weights do not depend on it).
    pub timestamp: u64,
}

impl WindowTip {
    /// Returns the window tip of a stored share.
    pub fn of(share: &PoolShare) -> Self {
        Self {
            height: share.sidechain_height,
            difficulty: share.difficulty,
            wallet: share.wallet,
            uncles: share.uncles.clone(),
            parent: share.parent,
            timestamp: share.timestamp,
        }
    }
}

/// One payee's weight in the window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PplnsShare {
    /// The payee.
    pub wallet: Wallet,
    /// Its summed weight.
    pub weight: u128,
}

/// One credit of a PPLNS window walk: a share of the window, or an uncle it includes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Credit {
    /// The wallet credited.
    pub wallet: Wallet,
    /// The weight credited: a share's difficulty plus the penalties of the uncles it
    /// includes, an uncle's difficulty less its penalty.
    pub weight: u128,
    /// The share's own difficulty (its work).
    pub difficulty: u128,
    /// Whether it is an uncle (credited through the share that includes it).
    pub uncle: bool,
    /// The timestamp of the window share (for an uncle, of the share including it).
    pub timestamp: u64,
}

/// Walks the PPLNS window back from `tip` and returns the payees sorted by wallet.
///
/// Each share counts its difficulty; an uncle within `window` heights of the tip counts its
/// difficulty less `penalty` percent, which goes to the share that includes it, unless that
/// would lift the total above `max_weight` (then the uncle is skipped). The walk stops after
/// the share that lifts the total above `max_weight` (one share may overshoot), after
/// `window` shares, or at height 0.
///
/// # Errors
/// The id of a parent or uncle that `chain` does not hold.
pub fn window_weights(
    chain: &impl ShareLookup,
    tip: &WindowTip,
    max_weight: u128,
    window: u64,
    penalty: u64,
) -> Result<Vec<PplnsShare>, Hash> {
    let mut weights: BTreeMap<Wallet, u128> = BTreeMap::new();
    walk_window(chain, tip, max_weight, window, penalty, |c| {
        let w = weights.entry(c.wallet).or_default();
        *w = w.wrapping_add(c.weight);
    })?;
    Ok(weights
        .into_iter()
        .map(|(wallet, weight)| PplnsShare { wallet, weight })
        .collect())
}

/// The walk behind [`window_weights`]: calls `visit` with every credit in walk order
/// (each share's uncles before the share, newest share first).
///
/// # Errors
/// As [`window_weights`].
pub fn walk_window(
    chain: &impl ShareLookup,
    tip: &WindowTip,
    max_weight: u128,
    window: u64,
    penalty: u64,
    mut visit: impl FnMut(&Credit),
) -> Result<(), Hash> {
    let mut total: u128 = 0;
    let mut depth: u64 = 0;
    let (mut height, mut difficulty, mut wallet, mut parent, mut timestamp) = (
        tip.height,
        tip.difficulty,
        tip.wallet,
        tip.parent,
        tip.timestamp,
    );
    let mut uncles: &[Hash] = &tip.uncles;
    loop {
        let mut cur_weight = difficulty;
        for uncle_id in uncles {
            let uncle = chain.share(uncle_id).ok_or(*uncle_id)?;
            if tip.height.wrapping_sub(uncle.sidechain_height) >= window {
                continue;
            }
            let cut = uncle.difficulty.wrapping_mul(u128::from(penalty)) / 100;
            let uncle_weight = uncle.difficulty.wrapping_sub(cut);
            let new_total = total.wrapping_add(uncle_weight);
            if new_total > max_weight {
                continue;
            }
            cur_weight = cur_weight.wrapping_add(cut);
            visit(&Credit {
                wallet: uncle.wallet,
                weight: uncle_weight,
                difficulty: uncle.difficulty,
                uncle: true,
                timestamp,
            });
            total = new_total;
        }
        visit(&Credit {
            wallet,
            weight: cur_weight,
            difficulty,
            uncle: false,
            timestamp,
        });
        total = total.wrapping_add(cur_weight);
        if total > max_weight {
            break;
        }
        depth += 1;
        if depth >= window || height == 0 {
            break;
        }
        let p = chain.share(&parent).ok_or(parent)?;
        (height, difficulty, wallet, parent, timestamp) = (
            p.sidechain_height,
            p.difficulty,
            p.wallet,
            p.parent,
            p.timestamp,
        );
        uncles = &p.uncles;
    }
    Ok(())
}

fn xorshift64star(mut x: u64) -> u64 {
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    x.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

/// Shuffles payees (sorted by wallet) deterministically from the tip's txkeySecSeed, so that
/// the output order does not reveal the wallet order.
pub fn shuffle<T>(items: &mut [T], tx_key_seed: &Hash) {
    let n = items.len() as u64;
    if n < 2 {
        return;
    }
    let h = keccak256(tx_key_seed.as_bytes());
    let mut seed = u64::from_le_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]]);
    if seed == 0 {
        seed = 1;
    }
    for i in 0..n - 1 {
        seed = xorshift64star(seed);
        let k = ((u128::from(seed) * u128::from(n - i)) >> 64) as u64;
        items.swap(i as usize, (i + k) as usize);
    }
}

/// Splits `reward` in proportion to the weights: payee `i` gets
/// `floor(C_i * reward / T) - floor(C_(i-1) * reward / T)` with `C` the running weight and
/// `T` the total, so the amounts add up to `reward` exactly.
///
/// Returns `None` if the total weight is zero or an amount exceeds 2^56 - 1.
pub fn split_reward(reward: u64, shares: &[PplnsShare]) -> Option<Vec<u64>> {
    let total = shares
        .iter()
        .fold(0u128, |acc, s| acc.wrapping_add(s.weight));
    if total == 0 {
        return None;
    }
    let mut running: u128 = 0;
    let mut given: u64 = 0;
    let mut out = Vec::with_capacity(shares.len());
    for s in shares {
        running = running.wrapping_add(s.weight);
        let next = (running.wrapping_mul(u128::from(reward)) / total) as u64;
        let r = next.wrapping_sub(given);
        given = next;
        if r > MAX_OUTPUT_AMOUNT {
            return None;
        }
        out.push(r);
    }
    let sum = out.iter().fold(0u64, |a, r| a.wrapping_add(*r));
    (sum == reward).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wallet(i: u8) -> Wallet {
        // Multiples of the base point are valid keys.
        let k = super::super::keys::public_key(&Hash::from_bytes([i + 1; 32]));
        Wallet::new(k, k).expect("points")
    }

    #[test]
    fn split_is_exact_and_proportional() {
        let shares: Vec<PplnsShare> = (0..3)
            .map(|i| PplnsShare {
                wallet: wallet(i),
                weight: u128::from(i) + 1,
            })
            .collect();
        let r = split_reward(600, &shares).expect("splits");
        assert_eq!(r, vec![100, 200, 300]);
        let r = split_reward(1001, &shares).expect("splits");
        assert_eq!(r.iter().sum::<u64>(), 1001);
        assert_eq!(r, vec![166, 334, 501]);
        assert_eq!(split_reward(5, &[]), None);
    }

    #[test]
    fn shuffle_is_a_deterministic_permutation() {
        let mut a: Vec<u32> = (0..50).collect();
        let mut b = a.clone();
        shuffle(&mut a, &Hash::ZERO);
        shuffle(&mut b, &Hash::ZERO);
        assert_eq!(a, b);
        assert_ne!(a, (0..50).collect::<Vec<_>>());
        a.sort_unstable();
        assert_eq!(a, (0..50).collect::<Vec<_>>());
    }
}
