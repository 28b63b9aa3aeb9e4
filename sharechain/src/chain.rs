//! The in-memory share tree: metadata of every known share, fork choice by most
//! cumulative work (ties: the smaller share hash), the main chain by height, and reorgs.

use crate::pplns::WindowTracker;
use crate::retarget::Anchor;
use crate::{
    BlockHash, ChainSpec, CompactTarget, KawpowVerifier, PayoutScript, Share, ShareHash, Target,
    Work,
};
use std::collections::{BTreeMap, HashMap};

/// What validation and PPLNS need to know about an accepted share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShareMeta {
    /// The share's hash.
    pub hash: ShareHash,
    /// Previous share.
    pub prev: ShareHash,
    /// Sharechain height.
    pub height: u64,
    /// Share timestamp (the parent header's time).
    pub time: u32,
    /// Share target.
    pub share_target: CompactTarget,
    /// Work of the share target: its PPLNS weight.
    pub work: Work,
    /// Cumulative work of the chain ending here.
    pub chain_work: Work,
    /// Finder's payout script.
    pub payout_script: PayoutScript,
    /// Included uncles.
    pub uncles: Vec<ShareHash>,
    /// Each uncle's payout script and work, resolved at acceptance.
    pub uncle_credits: Vec<(PayoutScript, Work)>,
    /// The chain's ASERT anchor.
    pub anchor: Anchor,
    /// The parent-chain block this share builds on.
    pub parent_block: BlockHash,
}

impl ShareMeta {
    /// Assembles the metadata of `share` from the fields that need its ancestors
    /// (cumulative work, ASERT anchor, uncle credits). `None` if its target is invalid.
    pub fn new(
        share: &Share,
        chain_work: Work,
        anchor: Anchor,
        uncle_credits: Vec<(PayoutScript, Work)>,
    ) -> Option<Self> {
        let info = &share.header.info;
        Some(Self {
            hash: share.hash(),
            prev: info.prev_share,
            height: info.height,
            time: share.header.block.time,
            share_target: info.share_target,
            work: Target::from_compact(info.share_target).ok()?.to_work(),
            chain_work,
            payout_script: info.payout_script.clone(),
            uncles: info.uncles.clone(),
            uncle_credits,
            anchor,
            parent_block: share.header.block.prev_block,
        })
    }
}

/// Read access to share metadata by hash.
pub trait ShareSource {
    /// Returns the metadata of `hash`, if known.
    fn share(&self, hash: &ShareHash) -> Option<&ShareMeta>;
}

/// How an insertion changed the best chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TipChange {
    /// The best tip did not change (a side-chain share).
    Unchanged,
    /// The new share extends the best tip.
    Extended(ShareHash),
    /// The best chain switched branches.
    Reorg {
        /// Shares leaving the main chain, tip first.
        disconnected: Vec<ShareHash>,
        /// Shares joining it, lowest first.
        connected: Vec<ShareHash>,
    },
}

/// The share tree.
#[derive(Debug)]
pub struct ShareChain {
    spec: ChainSpec,
    // Lookup only; nothing iterates this map, so its order never reaches consensus.
    shares: HashMap<ShareHash, ShareMeta>,
    main: BTreeMap<u64, ShareHash>,
    by_height: BTreeMap<u64, Vec<ShareHash>>,
    tip: Option<ShareHash>,
    tracker: Option<WindowTracker>,
    /// Proves KawPow seals (its light caches are built on a KawPow chain's first share).
    kawpow: KawpowVerifier,
}

impl ShareSource for ShareChain {
    fn share(&self, hash: &ShareHash) -> Option<&ShareMeta> {
        self.shares.get(hash)
    }
}

impl ShareChain {
    /// An empty chain for `spec`.
    pub fn new(spec: ChainSpec) -> Self {
        Self {
            spec,
            shares: HashMap::new(),
            main: BTreeMap::new(),
            by_height: BTreeMap::new(),
            tip: None,
            tracker: None,
            kawpow: KawpowVerifier::new(),
        }
    }

    /// Returns the verifier of the chain's KawPow seals.
    pub fn kawpow(&self) -> &KawpowVerifier {
        &self.kawpow
    }

    /// Returns the chain spec.
    pub fn spec(&self) -> &ChainSpec {
        &self.spec
    }

    /// Returns the best tip.
    pub fn tip(&self) -> Option<&ShareMeta> {
        self.tip.and_then(|h| self.shares.get(&h))
    }

    /// Returns the metadata of `hash` (cloned).
    pub fn tip_or(&self, hash: ShareHash) -> Option<ShareMeta> {
        self.shares.get(&hash).cloned()
    }

    /// Returns the number of known shares.
    pub fn len(&self) -> usize {
        self.shares.len()
    }

    /// Returns whether no share is known.
    pub fn is_empty(&self) -> bool {
        self.shares.is_empty()
    }

    /// Returns whether `hash` is known.
    pub fn contains(&self, hash: &ShareHash) -> bool {
        self.shares.contains_key(hash)
    }

    /// Returns the main-chain share at `height`.
    pub fn main_at(&self, height: u64) -> Option<ShareHash> {
        self.main.get(&height).copied()
    }

    /// Returns whether `hash` is on the best chain.
    pub fn is_main(&self, hash: &ShareHash) -> bool {
        self.shares
            .get(hash)
            .is_some_and(|m| self.main.get(&m.height) == Some(hash))
    }

    /// Returns the ancestor of `from` (inclusive) at `height`, walking back.
    pub fn ancestor_at(&self, from: ShareHash, height: u64) -> Option<&ShareMeta> {
        let mut cur = self.shares.get(&from)?;
        while cur.height > height {
            cur = self.shares.get(&cur.prev)?;
        }
        (cur.height == height).then_some(cur)
    }

    /// Builds the metadata of a share whose parent (if any) and uncles are known.
    /// Does not validate; see [`crate::validate_share`].
    pub fn derive_meta(&self, share: &Share) -> Option<ShareMeta> {
        let info = &share.header.info;
        let work = Target::from_compact(info.share_target).ok()?.to_work();
        let (mut chain_work, anchor) = if info.prev_share.is_zero() {
            (
                work,
                Anchor {
                    time: share.header.block.time,
                },
            )
        } else {
            let prev = self.shares.get(&info.prev_share)?;
            (prev.chain_work.saturating_add(work), prev.anchor)
        };
        let mut uncle_credits = Vec::with_capacity(info.uncles.len());
        for u in &info.uncles {
            // An uncle below the oldest share held earns nothing here; validation only
            // lets such uncles through where the history to check them is missing.
            let Some(m) = self.shares.get(u) else {
                continue;
            };
            uncle_credits.push((m.payout_script.clone(), m.work));
            // Uncles add their work to the chain that includes them.
            chain_work = chain_work.saturating_add(m.work);
        }
        ShareMeta::new(share, chain_work, anchor, uncle_credits)
    }

    /// Returns whether `a` beats `b` in fork choice.
    fn better(a: &ShareMeta, b: &ShareMeta) -> bool {
        a.chain_work > b.chain_work || (a.chain_work == b.chain_work && a.hash < b.hash)
    }

    /// Inserts validated metadata and applies fork choice.
    pub fn insert(&mut self, meta: ShareMeta) -> TipChange {
        let hash = meta.hash;
        if self.shares.contains_key(&hash) {
            return TipChange::Unchanged;
        }
        let becomes_tip = match self.tip() {
            None => true,
            Some(tip) => Self::better(&meta, tip),
        };
        let extends = self.tip.is_none() || self.tip == Some(meta.prev);
        self.by_height.entry(meta.height).or_default().push(hash);
        self.shares.insert(hash, meta);
        if !becomes_tip {
            return TipChange::Unchanged;
        }
        let new = &self.shares[&hash];
        if extends {
            if let Some(t) = self.tracker.as_mut()
                && !t.advance(new, &self.spec)
            {
                self.tracker = None;
            }
            self.main.insert(new.height, hash);
            // A new chain start (or a shorter best chain) leaves stale heights above.
            let above: Vec<u64> = self.main.range(new.height + 1..).map(|(h, _)| *h).collect();
            for h in above {
                self.main.remove(&h);
            }
            self.tip = Some(hash);
            return TipChange::Extended(hash);
        }
        // Reorg: walk the new branch back until it meets the main chain.
        let mut connected = Vec::new();
        let mut cur = Some(new.clone());
        while let Some(m) = cur {
            if self.main.get(&m.height) == Some(&m.hash) {
                break;
            }
            connected.push(m.hash);
            cur = self.shares.get(&m.prev).cloned();
        }
        connected.reverse();
        let fork_height = connected
            .first()
            .and_then(|h| self.shares.get(h))
            .map_or(0, |m| m.height);
        let disconnected: Vec<ShareHash> = self
            .main
            .range(fork_height..)
            .rev()
            .map(|(_, h)| *h)
            .collect();
        let stale: Vec<u64> = self.main.range(fork_height..).map(|(h, _)| *h).collect();
        for h in stale {
            self.main.remove(&h);
        }
        for h in &connected {
            let m = &self.shares[h];
            self.main.insert(m.height, *h);
        }
        self.tip = Some(hash);
        self.tracker = None;
        TipChange::Reorg {
            disconnected,
            connected,
        }
    }

    /// Returns the window tracker if it matches `(prev, parent_work)`, building it if needed.
    ///
    /// # Errors
    /// As [`crate::pplns::window_weights`].
    pub fn window_for(
        &mut self,
        prev: ShareHash,
        parent_work: Work,
    ) -> Result<&WindowTracker, crate::ShareError> {
        let fresh = match &self.tracker {
            Some(t) => !t.matches(prev, parent_work, &self.spec),
            None => true,
        };
        if fresh {
            self.tracker = Some(WindowTracker::build(self, prev, parent_work, &self.spec)?);
        }
        // Just filled above.
        self.tracker
            .as_ref()
            .ok_or(crate::ShareError::MissingParent(prev))
    }

    /// Removes shares below `min_height` (pruning). Returns how many were removed.
    pub fn prune_below(&mut self, min_height: u64) -> usize {
        let before = self.shares.len();
        self.shares.retain(|_, m| m.height >= min_height);
        self.by_height = self.by_height.split_off(&min_height);
        let low: Vec<u64> = self.main.range(..min_height).map(|(h, _)| *h).collect();
        for h in low {
            self.main.remove(&h);
        }
        before - self.shares.len()
    }

    /// Returns the shares a child of `prev` may include as uncles, ascending by hash:
    /// within `uncle_depth` heights, off the chain of `prev`, with a parent on it, and
    /// not included by an ancestor already.
    pub fn uncle_candidates(&self, prev: ShareHash) -> Vec<ShareHash> {
        let Some(p) = self.shares.get(&prev) else {
            return Vec::new();
        };
        let height = p.height + 1;
        let depth = u64::from(self.spec.uncle_depth);
        let lowest = height.saturating_sub(depth).max(1);
        let mut out: Vec<ShareHash> = Vec::new();
        for hashes in self.by_height.range(lowest..height).map(|(_, v)| v) {
            out.extend(
                hashes
                    .iter()
                    .filter(|u| self.check_uncle(prev, height, u).is_ok()),
            );
        }
        out.sort_unstable();
        out.truncate(usize::from(self.spec.max_uncles));
        out
    }

    /// Checks one uncle of a share at `height` whose previous share is `prev`.
    ///
    /// # Errors
    /// The reason the uncle is not acceptable.
    pub fn check_uncle(
        &self,
        prev: ShareHash,
        height: u64,
        uncle: &ShareHash,
    ) -> Result<(), &'static str> {
        let u = self.shares.get(uncle).ok_or("unknown")?;
        let depth = u64::from(self.spec.uncle_depth);
        if u.height >= height || u.height + depth < height || u.height == 0 {
            return Err("outside the uncle depth");
        }
        let on_chain = self.ancestor_at(prev, u.height).ok_or("chain too short")?;
        if on_chain.hash == *uncle {
            return Err("on the including chain");
        }
        if on_chain.prev != u.prev {
            return Err("parent not on the including chain");
        }
        // Already credited by an ancestor between the uncle and the including share?
        let mut cur = self.shares.get(&prev);
        while let Some(m) = cur {
            if m.height <= u.height {
                break;
            }
            if m.uncles.contains(uncle) {
                return Err("already included");
            }
            cur = self.shares.get(&m.prev);
        }
        Ok(())
    }

    /// Returns whether the chain ending at `from` holds `depth` ancestors of it (or
    /// reaches the chain's first share): `false` near the oldest share of a pruned or
    /// synced chain, whose own parent is not held.
    pub fn history_within(&self, from: ShareHash, depth: u64) -> bool {
        let mut cur = from;
        for _ in 0..=depth {
            if cur.is_zero() {
                return true;
            }
            match self.shares.get(&cur) {
                Some(m) => cur = m.prev,
                None => return false,
            }
        }
        true
    }

    /// Returns the median of the timestamps of `from` and its up to 10 ancestors.
    pub fn median_time_past(&self, from: ShareHash) -> Option<u32> {
        let mut times = Vec::with_capacity(11);
        let mut cur = self.shares.get(&from);
        while let Some(m) = cur {
            times.push(m.time);
            if times.len() == 11 {
                break;
            }
            cur = self.shares.get(&m.prev);
        }
        if times.is_empty() {
            return None;
        }
        times.sort_unstable();
        Some(times[times.len() / 2])
    }
}
