//! [`SideChain`]: an in-memory P2Pool sidechain that takes shares in any order and verifies
//! each one against its ancestors exactly as P2Pool does.
//!
//! Shares whose parent, uncles or window are not all known stay *unverified* and are
//! retried when the missing shares arrive. A share buried deeper than `2 (W - 1) + 3` is
//! accepted without checks (the network verified it while it was in the window; this is
//! what lets nodes prune), and from depth `W` on the difficulty and payouts are no longer
//! checked. Depths count the shares built on top, through parents and uncles.

use std::collections::{BTreeMap, HashMap};

use super::difficulty::{RetargetError, next_difficulty};
use super::error::RuleViolation;
use super::hash::Hash;
use super::keys::{OutputKey, check_key, deterministic_tx_keys, output_key};
use super::merkle::{aux_slot, root_from_proof};
use super::params::{SidechainParams, UNCLE_DEPTH, seed_height};
use super::pplns::{PplnsShare, ShareLookup, WindowTip, shuffle, split_reward, window_weights};
use super::share::PoolShare;
use super::wallet::Wallet;

/// The verification state of a stored share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShareState {
    /// Waiting for a parent, an uncle or an ancestor in the window.
    Unverified,
    /// Verified and valid.
    Valid,
    /// Verified and invalid, with the rule it breaks.
    Invalid(RuleViolation),
}

/// Why a share was not added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddError {
    /// The share breaks a rule that needs no other share.
    #[error("share rejected: {0}")]
    Rejected(RuleViolation),
    /// The share is already stored.
    #[error("share {0} already known")]
    Duplicate(Hash),
}

struct Entry {
    share: PoolShare,
    id: Hash,
    tx_sec: Hash,
    depth: u64,
    state: ShareState,
    pow: PowVerdict,
    next_difficulty: Option<u128>,
}

/// A P2Pool sidechain held in memory.
pub struct SideChain {
    params: SidechainParams,
    monero: Box<dyn MoneroView>,
    pow: Box<dyn PowCheck>,
    entries: Vec<Entry>,
    // Lookups only; never iterated, so its order cannot leak into results.
    index: HashMap<Hash, usize>,
    by_height: BTreeMap<u64, Vec<usize>>,
    tip: Option<usize>,
    // Memo of output keys: shares on the same Monero block share their tx key and mostly
    // their payees and order, so most outputs repeat. Lookups only; cleared when full.
    output_keys: HashMap<(Hash, Wallet, u64), Option<OutputKey>>,
}

/// Most memoised output keys.
const OUTPUT_KEY_MEMO: usize = 1 << 16;

impl ShareLookup for SideChain {
    fn share(&self, id: &Hash) -> Option<&PoolShare> {
        self.index.get(id).map(|&i| &self.entries[i].share)
    }
}

/// Checks the rules a share must meet on its own and returns its sidechain id and secret
/// transaction key.
///
/// # Errors
/// The [`RuleViolation`] for the major version, the deterministic tx key or the
/// merge-mining proof.
pub fn check_standalone(
    share: &PoolShare,
    params: &SidechainParams,
) -> Result<(Hash, Hash), RuleViolation> {
    let expected = params.major_version_at(share.height);
    if share.major_version != expected || share.major_version > super::params::MAX_MAJOR_VERSION {
        return Err(RuleViolation::MajorVersion {
            got: share.major_version,
            expected,
            height: share.height,
        });
    }
    let (sec, public) = deterministic_tx_keys(&share.tx_key_seed, &share.prev_id);
    // A reduced scalar is always canonical; the public key must match.
    if public != share.tx_pub || !check_key(&public) {
        return Err(RuleViolation::TxKey {
            got: share.tx_pub,
            expected: public,
        });
    }
    let id = share.sidechain_id(&params.consensus_id);
    let (count, nonce) = share.merge_mining_params();
    let slot = aux_slot(&params.consensus_id, nonce, count);
    if root_from_proof(id, &share.merkle_proof, slot, count) != Some(share.merkle_root) {
        return Err(RuleViolation::MerkleProof {
            root: share.merkle_root,
        });
    }
    Ok((id, sec))
}

impl SideChain {
    /// Starts an empty sidechain.
    pub fn new(
        params: SidechainParams,
        monero: Box<dyn MoneroView>,
        pow: Box<dyn PowCheck>,
    ) -> Self {
        Self {
            params,
            monero,
            pow,
            entries: Vec::new(),
            index: HashMap::new(),
            by_height: BTreeMap::new(),
            tip: None,
            output_keys: HashMap::new(),
        }
    }

    /// Returns the sidechain parameters.
    pub fn params(&self) -> &SidechainParams {
        &self.params
    }

    /// Parses, checks and stores a share blob, then verifies whatever became verifiable.
    /// Returns the share's sidechain id.
    ///
    /// # Errors
    /// [`AddError::Rejected`] for a share that does not decode, breaks a standalone rule or
    /// fails its PoW check; [`AddError::Duplicate`] for a known one.
    pub fn add_blob(&mut self, blob: &[u8]) -> Result<Hash, AddError> {
        let share = PoolShare::parse(blob).map_err(|e| AddError::Rejected(e.into()))?;
        self.insert(share)
    }

    /// Checks and stores a share given as fields (a template, a test); see
    /// [`SideChain::add_blob`]. The share must be exactly what its serialisation parses
    /// back to, so that ids are computed over canonical bytes.
    ///
    /// # Errors
    /// As [`SideChain::add_blob`].
    pub fn add(&mut self, share: PoolShare) -> Result<Hash, AddError> {
        let parsed =
            PoolShare::parse(&share.serialize()).map_err(|e| AddError::Rejected(e.into()))?;
        if parsed != share {
            return Err(AddError::Rejected(RuleViolation::Decode(
                crate::error::DecodeError::Invalid {
                    what: "share fields",
                },
            )));
        }
        self.insert(share)
    }

    fn insert(&mut self, share: PoolShare) -> Result<Hash, AddError> {
        let (id, tx_sec) = check_standalone(&share, &self.params).map_err(AddError::Rejected)?;
        if self.index.contains_key(&id) {
            return Err(AddError::Duplicate(id));
        }
        // Local policy: a share on a Monero block the node knows must be at the next height.
        if let Some(prev) = self.monero.header(&share.prev_id)
            && prev.height.checked_add(1) != Some(share.height)
        {
            return Err(AddError::Rejected(RuleViolation::MoneroHeight {
                got: share.height,
                expected: prev.height.saturating_add(1),
            }));
        }
        let pow = self
            .pow
            .check(&share, &share.hashing_blob(), seed_height(share.height));
        if pow == PowVerdict::Invalid {
            return Err(AddError::Rejected(RuleViolation::Pow {
                difficulty: share.difficulty,
            }));
        }
        let i = self.entries.len();
        self.by_height
            .entry(share.sidechain_height)
            .or_default()
            .push(i);
        self.entries.push(Entry {
            share,
            id,
            tx_sec,
            depth: 0,
            state: ShareState::Unverified,
            pow,
            next_difficulty: None,
        });
        self.index.insert(id, i);
        self.update_depths(i);
        if self.entries[i].state == ShareState::Unverified {
            self.verify_loop(i);
        }
        Ok(id)
    }

    /// Returns the state of share `id`.
    pub fn state(&self, id: &Hash) -> Option<&ShareState> {
        self.index.get(id).map(|&i| &self.entries[i].state)
    }

    /// Returns the PoW verdict recorded for share `id`.
    pub fn pow_verdict(&self, id: &Hash) -> Option<PowVerdict> {
        self.index.get(id).map(|&i| self.entries[i].pow)
    }

    /// Returns the depth of share `id` (shares built on top of it).
    pub fn depth(&self, id: &Hash) -> Option<u64> {
        self.index.get(id).map(|&i| self.entries[i].depth)
    }

    /// Returns every stored share id with its state, in the order they were added.
    pub fn states(&self) -> impl Iterator<Item = (&Hash, &ShareState)> {
        self.entries.iter().map(|e| (&e.id, &e.state))
    }

    /// Returns the number of stored shares.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Returns true when no share is stored.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Forgets every share more than `keep` sidechain heights below the tip, so memory
    /// stays bounded on a long-running node (P2Pool prunes the same way; `keep` should be
    /// at least two windows: deeper shares are no longer needed to verify new ones).
    /// Returns the ids forgotten, in the order they were added, for the caller's store.
    pub fn prune(&mut self, keep: u64) -> Vec<Hash> {
        let Some(tip) = self.tip else {
            return Vec::new();
        };
        let floor = self.entries[tip]
            .share
            .sidechain_height
            .saturating_sub(keep);
        if self
            .by_height
            .first_key_value()
            .is_none_or(|(&lowest, _)| lowest >= floor)
        {
            return Vec::new();
        }
        let tip_id = self.entries[tip].id;
        let mut dropped = Vec::new();
        self.index.clear();
        self.by_height.clear();
        for entry in std::mem::take(&mut self.entries) {
            let height = entry.share.sidechain_height;
            if height < floor {
                dropped.push(entry.id);
                continue;
            }
            let i = self.entries.len();
            self.by_height.entry(height).or_default().push(i);
            self.index.insert(entry.id, i);
            self.entries.push(entry);
        }
        self.tip = self.index.get(&tip_id).copied();
        dropped
    }

    /// Returns the tip's id and share.
    pub fn tip(&self) -> Option<(&Hash, &PoolShare)> {
        self.tip
            .map(|i| (&self.entries[i].id, &self.entries[i].share))
    }

    /// Returns the main chain from the tip back to the oldest share held on it, newest
    /// first.
    pub fn main_chain(&self) -> impl Iterator<Item = (&Hash, &PoolShare)> + '_ {
        std::iter::successors(self.tip, |&i| self.parent_of(i))
            .map(|i| (&self.entries[i].id, &self.entries[i].share))
    }

    fn get(&self, id: &Hash) -> Option<usize> {
        self.index.get(id).copied()
    }

    fn parent_of(&self, i: usize) -> Option<usize> {
        self.get(&self.entries[i].share.parent)
    }

    fn at_heights(&self, height: u64) -> impl Iterator<Item = (u64, usize)> + '_ {
        (1..=UNCLE_DEPTH).flat_map(move |d| {
            self.by_height
                .get(&(height + d))
                .into_iter()
                .flatten()
                .map(move |&c| (d, c))
        })
    }

    fn raise_depth(&mut self, i: usize, depth: u64) -> bool {
        if self.entries[i].depth < depth {
            self.entries[i].depth = depth;
            true
        } else {
            false
        }
    }
}

mod broadcast;
mod depth;
mod fork;
mod inputs;
mod template;
mod verify;
mod window;

pub use broadcast::ExpandError;
pub use fork::{ChainSummary, alternative_wins};
pub use inputs::{
    FixedDifficulty, MoneroHeader, MoneroView, NoPowCheck, PowCheck, PowVerdict, check_pow,
};
pub use template::{MoneroJob, SOFTWARE_ID, TemplateError};

pub use window::NextBlock;

impl SideChain {
    fn valid(&self, i: usize) -> bool {
        self.entries[i].state == ShareState::Valid
    }

    /// P2Pool's fork choice: when both tips share an ancestor within the window, more
    /// cumulative difficulty wins; otherwise the alternative-chain rule decides (more work
    /// over W shares, checked against the node's Monero view).
    fn is_longer_chain(&self, current: Option<usize>, candidate: usize) -> bool {
        if !self.valid(candidate) {
            return false;
        }
        let Some(cur) = current else { return true };
        self.same_chain_longer(cur, candidate)
            .unwrap_or_else(|| self.alternative_is_longer(cur, candidate))
    }

    /// Compares cumulative difficulty when `cur` and `candidate` have a common ancestor
    /// within the window of both; `None` when they do not.
    fn same_chain_longer(&self, cur: usize, candidate: usize) -> Option<bool> {
        let height = |i: usize| self.entries[i].share.sidechain_height;
        let mut a = cur;
        while height(a) > height(candidate) {
            a = self.parent_of(a)?;
        }
        let mut c = candidate;
        while height(c) > height(a) {
            c = self.parent_of(c)?;
        }
        let w = self.params.window;
        loop {
            if self.entries[a].share.parent == self.entries[c].share.parent {
                if height(cur) - height(a) >= w || height(candidate) - height(c) >= w {
                    return None;
                }
                return Some(
                    self.entries[cur].share.cumulative_difficulty
                        < self.entries[candidate].share.cumulative_difficulty,
                );
            }
            (a, c) = (self.parent_of(a)?, self.parent_of(c)?);
        }
    }

    /// Returns output `index` of a transaction with secret key `tx_sec` paying `wallet`.
    fn output_key_cached(
        &mut self,
        tx_sec: &Hash,
        wallet: &Wallet,
        index: u64,
    ) -> Option<OutputKey> {
        let key = (*tx_sec, *wallet, index);
        if let Some(k) = self.output_keys.get(&key) {
            return *k;
        }
        if self.output_keys.len() >= OUTPUT_KEY_MEMO {
            self.output_keys.clear();
        }
        let k = output_key(tx_sec, wallet.spend(), wallet.view(), index);
        self.output_keys.insert(key, k);
        k
    }

    fn update_tip(&mut self, b: usize) {
        if !self.valid(b) || self.entries[b].depth >= self.params.window || self.tip == Some(b) {
            return;
        }
        if self.is_longer_chain(self.tip, b) && self.difficulty_after(b).is_ok() {
            self.tip = Some(b);
        }
    }

    /// Returns the difficulty of a share built on `parent`, cached per parent.
    fn difficulty_after(&mut self, parent: usize) -> Result<u128, DifficultyFailure> {
        if let Some(d) = self.entries[parent].next_difficulty {
            return Ok(d);
        }
        let d = self.compute_difficulty(parent)?;
        self.entries[parent].next_difficulty = Some(d);
        Ok(d)
    }

    fn compute_difficulty(&self, parent: usize) -> Result<u128, DifficultyFailure> {
        let w = self.params.window;
        let tip_height = self.entries[parent].share.sidechain_height;
        let mut data: Vec<(u64, u128)> = Vec::with_capacity(w as usize + 64);
        let mut cur = parent;
        let mut depth = 0;
        loop {
            let s = &self.entries[cur].share;
            data.push((s.timestamp, s.cumulative_difficulty));
            for u in &s.uncles {
                let ui = self.get(u).ok_or(DifficultyFailure::Missing)?;
                let us = &self.entries[ui].share;
                if tip_height.wrapping_sub(us.sidechain_height) < w {
                    data.push((us.timestamp, us.cumulative_difficulty));
                }
            }
            depth += 1;
            if depth >= w || s.sidechain_height == 0 {
                break;
            }
            cur = self.get(&s.parent).ok_or(DifficultyFailure::Missing)?;
        }
        next_difficulty(&data, self.params.block_time, self.params.min_difficulty).map_err(|e| {
            match e {
                RetargetError::TimestampRange => DifficultyFailure::Range,
            }
        })
    }

    /// Returns the PPLNS payees of `tip`, shuffled as its outputs must be ordered.
    fn payees(
        &self,
        tip: &WindowTip,
        monero_height: u64,
        seed: &Hash,
    ) -> Result<Vec<PplnsShare>, PayeeFailure> {
        let mut shares = window_weights(
            self,
            tip,
            self.max_weight(tip, monero_height)?,
            self.params.window,
            self.params.uncle_penalty,
        )
        .map_err(PayeeFailure::Missing)?;
        shuffle(&mut shares, seed);
        Ok(shares)
    }

    /// The PPLNS cap of a window ending at `tip` on Monero height `monero_height`: twice
    /// the Monero difficulty at its seed height, when the chain caps.
    fn max_weight(&self, tip: &WindowTip, monero_height: u64) -> Result<u128, PayeeFailure> {
        if tip.parent.is_zero() && tip.height == 0 {
            Ok(0)
        } else if !self.params.monero_difficulty_cap {
            Ok(u128::MAX)
        } else {
            let h = seed_height(monero_height);
            Ok(self
                .monero
                .difficulty_at(h)
                .ok_or(PayeeFailure::MoneroDifficulty(h))?
                .wrapping_mul(2))
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DifficultyFailure {
    Missing,
    Range,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PayeeFailure {
    Missing(Hash),
    MoneroDifficulty(u64),
}

/// Returns the wallets of `shares` with their amounts of `reward`, or `None` if it cannot be
/// split.
pub fn payouts(shares: &[PplnsShare], reward: u64) -> Option<Vec<(Wallet, u64)>> {
    let amounts = split_reward(reward, shares)?;
    Some(shares.iter().map(|s| s.wallet).zip(amounts).collect())
}
