//! Share validation, in order of cost (see docs/sharechain.md): size and encoding bounds,
//! PoW against the share target, parent and height, the retarget rule, timestamps,
//! uncles, the coinbase re-derived byte for byte from the PPLNS window, the merkle
//! branch, and finally that the parent block is one the node's daemon knows.

use crate::chain::{ShareChain, ShareMeta, ShareSource};
use crate::coinbase::{CoinbaseParts, build_coinbase, merkle_root_from_branch};
use crate::pplns::{Payout, Weights, split_reward};
use crate::retarget::{Anchor, next_share_target};
use crate::{
    BlockHash, ChainSpec, CompactTarget, KawpowVerifier, PowHash, Seal, Share, ShareError,
    ShareInfo, Target, Txid, Work, sha256d,
};

/// What validation needs from outside the chain: the clock and the parent daemon.
pub struct ValidationContext<'a> {
    /// The validator's current Unix time, passed in so validation is pure.
    pub now: u64,
    /// Whether the parent daemon knows `hash` as a recent block.
    pub parent_block_known: &'a dyn Fn(&BlockHash) -> bool,
}

/// Returns the share target a child of `prev` must carry (`None`: a chain's first share).
pub fn required_target(spec: &ChainSpec, prev: Option<&ShareMeta>) -> CompactTarget {
    match prev {
        None => next_share_target(spec, Anchor { time: 0 }, None),
        Some(p) => next_share_target(spec, p.anchor, Some((p.height, p.time))),
    }
}

/// Returns the coinbase payouts of a share with `info` whose window is `weights`.
pub fn payouts_for(spec: &ChainSpec, weights: &Weights, info: &ShareInfo) -> Vec<Payout> {
    split_reward(weights, info.coinbase_value, &info.payout_script, spec)
}

/// Returns the parent work of a header's `bits`.
///
/// # Errors
/// [`ShareError::BadTarget`] for invalid compact targets.
pub fn parent_work(bits: CompactTarget) -> Result<Work, ShareError> {
    Ok(Target::from_compact(bits)?.to_work())
}

/// Validates `share` (whose encoding is `encoded_len` bytes) against `chain` and returns
/// its metadata, ready for [`ShareChain::insert`]. `chain` is mutable only to cache the
/// PPLNS window; its contents are not changed.
///
/// # Errors
/// The first rule the share breaks, as a [`ShareError`].
pub fn validate_share(
    chain: &mut ShareChain,
    share: &Share,
    encoded_len: usize,
    ctx: &ValidationContext<'_>,
) -> Result<ShareMeta, ShareError> {
    let spec = chain.spec().clone();
    let info = &share.header.info;
    let block = &share.header.block;

    // 1. Bounds; 2. proof of work against the claimed share target.
    check_bounds_and_pow(&spec, chain.kawpow(), share, encoded_len)?;

    // 3. Parent share and height.
    let prev = if info.prev_share.is_zero() {
        None
    } else {
        Some(
            chain
                .share(&info.prev_share)
                .ok_or(ShareError::MissingParent(info.prev_share))?
                .clone(),
        )
    };
    let expected_height = prev.as_ref().map_or(0, |p| p.height + 1);
    if info.height != expected_height {
        return Err(ShareError::Height {
            got: info.height,
            expected: expected_height,
        });
    }

    // 4. Retarget rule.
    let expected = required_target(&spec, prev.as_ref());
    if info.share_target != expected {
        return Err(ShareError::WrongTarget {
            got: info.share_target,
            expected,
        });
    }

    // 5. Timestamps: above the median of the last 11, at most max_future ahead.
    if let Some(mtp) = chain.median_time_past(info.prev_share)
        && block.time <= mtp
    {
        return Err(ShareError::TimeTooOld {
            time: block.time,
            mtp,
        });
    }
    if u64::from(block.time) > ctx.now.saturating_add(spec.max_future_secs) {
        return Err(ShareError::TimeTooNew {
            time: block.time,
            now: ctx.now,
            max_future: spec.max_future_secs,
        });
    }

    // 6. Uncles: strictly ascending (so unique), each acceptable.
    if info.uncles.windows(2).any(|w| w[0] >= w[1]) {
        return Err(ShareError::Malformed("uncles not strictly ascending"));
    }
    // Near the oldest share held (a pruned or freshly synced chain) an uncle may lie
    // below it: it cannot be checked, and is credited nothing (see `derive_meta`).
    let uncle_history = chain.history_within(info.prev_share, u64::from(spec.uncle_depth));
    for u in &info.uncles {
        if !chain.contains(u) {
            if !uncle_history {
                continue;
            }
            return Err(ShareError::MissingUncle(*u));
        }
        chain
            .check_uncle(info.prev_share, info.height, u)
            .map_err(|reason| ShareError::BadUncle { uncle: *u, reason })?;
    }

    // 7. Coinbase re-derived from the window ending at the previous share. A window
    // reaching below the oldest share held cannot be re-derived; such shares lie at
    // least one full window below any tip that can be mined on, so nothing is paid
    // from them without a check.
    let weights = if info.prev_share.is_zero() {
        Some(Weights::default())
    } else {
        match chain.window_for(info.prev_share, parent_work(block.bits)?) {
            Ok(window) => Some(window.weights().clone()),
            Err(ShareError::PartialHistory(_)) => None,
            Err(e) => return Err(e),
        }
    };
    if let Some(weights) = weights {
        check_coinbase(&spec, share, &payouts_for(&spec, &weights, info))?;
    }

    // 8. Merkle branch from the coinbase to the header.
    check_merkle(share)?;

    // 9. The parent block must be one our daemon knows.
    if !(ctx.parent_block_known)(&block.prev_block) {
        return Err(ShareError::UnknownParentBlock(block.prev_block));
    }

    chain
        .derive_meta(share)
        .ok_or(ShareError::MissingParent(info.prev_share))
}

/// Size, version and shape bounds, then the proof of work against the claimed target.
fn check_bounds_and_pow(
    spec: &ChainSpec,
    kawpow: &KawpowVerifier,
    share: &Share,
    encoded_len: usize,
) -> Result<(), ShareError> {
    let info = &share.header.info;
    if encoded_len > spec.max_share_size as usize {
        return Err(ShareError::TooLarge {
            size: encoded_len,
            max: spec.max_share_size as usize,
        });
    }
    if info.version != spec.share_version {
        return Err(ShareError::Version {
            got: info.version,
            expected: spec.share_version,
        });
    }
    if info.uncles.len() > usize::from(spec.max_uncles) {
        return Err(ShareError::Malformed("too many uncles"));
    }
    if share.body.extranonce.len() != usize::from(spec.extranonce_size) {
        return Err(ShareError::Malformed(
            "extranonce length differs from the chain spec",
        ));
    }

    let target = Target::from_compact(info.share_target)?;
    let pow = pow_hash(spec, kawpow, share)?;
    if !target.is_met_by(&pow) {
        return Err(ShareError::AboveTarget { pow, target });
    }
    Ok(())
}

/// The share's proof of work: the header's hash, or a KawPow seal's proven final hash.
/// A KawPow header carries the block height where the nonce was: it must be the
/// height the share commits to.
fn pow_hash(
    spec: &ChainSpec,
    kawpow: &KawpowVerifier,
    share: &Share,
) -> Result<PowHash, ShareError> {
    let block = &share.header.block;
    match (spec.seal, &share.header.seal) {
        (Seal::Nonce, None) => Ok(spec.algorithm.hash(&block.to_bytes())),
        (Seal::Kawpow, Some(seal)) => {
            if block.nonce != share.header.info.parent_height {
                return Err(ShareError::Malformed(
                    "the KawPow header's height is not the committed parent height",
                ));
            }
            kawpow.pow(block, seal).map_err(ShareError::Seal)
        }
        (Seal::Nonce, Some(_)) => Err(ShareError::Malformed("a seal on a chain without one")),
        (Seal::Kawpow, None) => Err(ShareError::Malformed("no KawPow seal")),
    }
}

/// The coinbase must equal, byte for byte, the one built from `payouts`.
fn check_coinbase(spec: &ChainSpec, share: &Share, payouts: &[Payout]) -> Result<(), ShareError> {
    let info = &share.header.info;
    let parts = CoinbaseParts {
        height: info.parent_height,
        payouts,
        share_commitment: info.commitment(&spec.consensus_id()),
        witness_commitment: info.witness_commitment,
    };
    let expected_cb = build_coinbase(&parts, &share.body.extranonce)?;
    if expected_cb.stripped != share.body.coinbase {
        let offset = expected_cb
            .stripped
            .iter()
            .zip(&share.body.coinbase)
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| expected_cb.stripped.len().min(share.body.coinbase.len()));
        return Err(ShareError::CoinbaseMismatch { offset });
    }
    Ok(())
}

/// The merkle branch must lead from the coinbase to the header's root.
fn check_merkle(share: &Share) -> Result<(), ShareError> {
    let txid = Txid::from_bytes(sha256d(&share.body.coinbase));
    if merkle_root_from_branch(txid, &share.body.merkle_branch) != share.header.block.merkle_root {
        return Err(ShareError::MerkleMismatch);
    }
    Ok(())
}

/// What a peer claims about a share it sends without its ancestors: the oldest share
/// of a synced range. These are the fields that need the ancestors to derive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BaseClaim {
    /// Cumulative work of the chain ending at the share.
    pub chain_work: Work,
    /// The chain's ASERT anchor.
    pub anchor: Anchor,
}

/// Validates the oldest share of a synced range, whose parent is not held: everything
/// that does not need ancestors (bounds, proof of work, a target no easier than the
/// spec allows, the merkle branch). Its cumulative work and anchor are taken from
/// `claim`; the retarget rule of its children checks the anchor, and the shares above
/// it are validated in full.
///
/// # Errors
/// The first rule it breaks; [`ShareError::Malformed`] for a chain's first share (it
/// has no ancestors to leave out and goes through [`validate_share`]).
pub fn validate_base(
    chain: &ShareChain,
    share: &Share,
    encoded_len: usize,
    claim: BaseClaim,
) -> Result<ShareMeta, ShareError> {
    let spec = chain.spec();
    let info = &share.header.info;
    if info.prev_share.is_zero() {
        return Err(ShareError::Malformed("a chain's first share is not a base"));
    }
    check_bounds_and_pow(spec, chain.kawpow(), share, encoded_len)?;
    let target = Target::from_compact(info.share_target)?;
    let easiest = Target::from_compact(spec.max_share_target)?;
    if target > easiest {
        return Err(ShareError::TargetTooEasy {
            got: info.share_target,
            max: spec.max_share_target,
        });
    }
    if claim.chain_work < target.to_work() {
        return Err(ShareError::Malformed(
            "claimed chain work below the share's own",
        ));
    }
    check_merkle(share)?;
    ShareMeta::new(share, claim.chain_work, claim.anchor, Vec::new())
        .ok_or(ShareError::Malformed("share target"))
}
